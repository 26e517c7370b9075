//! The lifecycle calls on an existing sandbox: start, stop, delete, recover, archive, resize.
//! Each holds the sandbox's operation lock for its whole transition.

use std::sync::Arc;

use process_proto::wire::control::{ResizeSandbox, SandboxDto, SandboxState};

use super::{in_range, lock, Entry, Manager, ManagerError};
use crate::provider::Resources;

impl Manager {
    /// `POST /sandbox/{id}/start`: `started` stays as it is; `stopped` and `error` start.
    pub async fn start(&self, id_or_name: &str) -> Result<SandboxDto, ManagerError> {
        let entry = self.find(id_or_name)?;
        let _op = entry.op.lock().await;
        self.ensure_live(&entry, id_or_name)?;
        self.start_locked(&entry).await?;
        Ok(self.dto(&entry))
    }

    async fn start_locked(&self, entry: &Arc<Entry>) -> Result<(), ManagerError> {
        match entry.state() {
            SandboxState::Started => return Ok(()),
            SandboxState::Stopped | SandboxState::Error | SandboxState::Archived => {}
            other => {
                return Err(ManagerError::BadRequest(format!(
                    "Sandbox is not in valid state ({other})"
                )))
            }
        }
        let spec = self.spec(entry).await?;
        self.set_state(entry, &SandboxState::Starting)?;
        // A sandbox in error may still have pieces running: clear them first.
        let started = async {
            if entry.record().error_reason.is_some() {
                self.inner.provider.stop(&spec.id, true).await?;
            }
            self.inner.provider.start(&spec).await
        };
        match started.await {
            Ok(endpoint) => {
                entry.set_endpoint(Some(endpoint));
                entry.touch();
                self.set_state(entry, &SandboxState::Started)
            }
            Err(err) => {
                let reason = err.to_string();
                self.set_error(entry, &reason)?;
                Err(ManagerError::StartFailed(reason))
            }
        }
    }

    fn ensure_live(&self, entry: &Arc<Entry>, id_or_name: &str) -> Result<(), ManagerError> {
        // A delete that ran while this call waited for the lock removed it.
        let id = entry.record().id.clone();
        if lock(&self.inner.sandboxes).contains_key(&id) {
            Ok(())
        } else {
            Err(ManagerError::NotFound(id_or_name.to_owned()))
        }
    }

    /// `POST /sandbox/{id}/stop?force=`: `started` (or `error`) → `stopped`; an ephemeral
    /// sandbox (`autoDeleteInterval == 0`) is deleted instead.
    pub async fn stop(&self, id_or_name: &str, force: bool) -> Result<SandboxDto, ManagerError> {
        let entry = self.find(id_or_name)?;
        let _op = entry.op.lock().await;
        self.ensure_live(&entry, id_or_name)?;
        match entry.state() {
            SandboxState::Started | SandboxState::Error => {}
            _ => {
                return Err(ManagerError::BadRequest(
                    "Sandbox is not in a stoppable state".to_owned(),
                ))
            }
        }
        self.stop_locked(&entry, force).await
    }

    pub(super) async fn stop_locked(
        &self,
        entry: &Arc<Entry>,
        force: bool,
    ) -> Result<SandboxDto, ManagerError> {
        if entry.record().auto_delete_minutes == 0 {
            return self.delete_locked(entry).await;
        }
        let id = entry.record().id.clone();
        self.set_state(entry, &SandboxState::Stopping)?;
        entry.set_endpoint(None);
        if let Err(err) = self.inner.provider.stop(&id, force).await {
            self.set_error(entry, &format!("stop failed: {err}"))?;
            return Err(err.into());
        }
        self.set_state(entry, &SandboxState::Stopped)?;
        tracing::info!(%id, force, "sandbox stopped");
        Ok(self.dto(entry))
    }

    /// `DELETE /sandbox/{id}`: removes everything; the answer carries state `destroyed`.
    pub async fn delete(&self, id_or_name: &str) -> Result<SandboxDto, ManagerError> {
        let entry = self.find(id_or_name)?;
        let _op = entry.op.lock().await;
        self.ensure_live(&entry, id_or_name)?;
        self.delete_locked(&entry).await
    }

    pub(super) async fn delete_locked(
        &self,
        entry: &Arc<Entry>,
    ) -> Result<SandboxDto, ManagerError> {
        let id = entry.record().id.clone();
        self.set_state(entry, &SandboxState::Destroying)?;
        entry.set_endpoint(None);
        if let Err(err) = self.inner.provider.delete(&id).await {
            self.set_error(entry, &format!("delete failed: {err}"))?;
            return Err(err.into());
        }
        self.inner.store.remove(&id)?;
        lock(&self.inner.sandboxes).remove(&id);
        self.inner.pool.wake();
        tracing::info!(%id, "sandbox deleted");
        let mut dto = self.dto(entry);
        dto.state = Some(SandboxState::Destroyed);
        self.emit(dto.clone(), SandboxState::Destroying);
        Ok(dto)
    }

    /// `POST /sandbox/{id}/recover`: an errored sandbox is started again.
    pub async fn recover(&self, id_or_name: &str) -> Result<SandboxDto, ManagerError> {
        let entry = self.find(id_or_name)?;
        let _op = entry.op.lock().await;
        self.ensure_live(&entry, id_or_name)?;
        if entry.state() != SandboxState::Error {
            return Err(ManagerError::BadRequest(
                "Sandbox is not in a recoverable state".to_owned(),
            ));
        }
        self.start_locked(&entry).await?;
        Ok(self.dto(&entry))
    }

    /// `POST /sandbox/{id}/archive`: a stopped sandbox stays stopped (its files are kept as
    /// they are; there is no slower archive tier locally).
    pub async fn archive(&self, id_or_name: &str) -> Result<SandboxDto, ManagerError> {
        let entry = self.find(id_or_name)?;
        let _op = entry.op.lock().await;
        self.ensure_live(&entry, id_or_name)?;
        if entry.state() != SandboxState::Stopped {
            return Err(ManagerError::BadRequest(
                "Sandbox is not stopped".to_owned(),
            ));
        }
        Ok(self.dto(&entry))
    }

    /// `POST /sandbox/{id}/resize`: new limits, live (started) or for the next start (stopped).
    pub async fn resize(
        &self,
        id_or_name: &str,
        req: ResizeSandbox,
    ) -> Result<SandboxDto, ManagerError> {
        let entry = self.find(id_or_name)?;
        let _op = entry.op.lock().await;
        self.ensure_live(&entry, id_or_name)?;
        let host = self.inner.config.host;
        if req.gpu.is_some_and(|g| g > 0) {
            return Err(ManagerError::BadRequest(
                "GPUs are not available on this host".to_owned(),
            ));
        }
        let state = entry.state();
        if !matches!(state, SandboxState::Started | SandboxState::Stopped) {
            return Err(ManagerError::BadRequest(format!(
                "Sandbox must be started or stopped to resize (it is {state})"
            )));
        }
        let old = entry.record().resources();
        let new = Resources {
            cpu: req
                .cpu
                .map_or(Ok(old.cpu), |v| in_range("cpu", v, host.cpu, " cores"))?,
            memory_gib: req.memory.map_or(Ok(old.memory_gib), |v| {
                in_range("memory", v, host.memory_gib, " GiB")
            })?,
            disk_gib: req.disk.map_or(Ok(old.disk_gib), |v| {
                in_range("disk", v, host.disk_gib, " GiB")
            })?,
        };
        if new == old {
            return Err(ManagerError::BadRequest(
                "No resource changes specified - requested resources match current allocation"
                    .to_owned(),
            ));
        }
        if new.disk_gib < old.disk_gib {
            return Err(ManagerError::BadRequest(
                "Disk size can only be increased".to_owned(),
            ));
        }
        if new.disk_gib != old.disk_gib && state == SandboxState::Started {
            return Err(ManagerError::BadRequest(
                "Disk can only be resized while the sandbox is stopped".to_owned(),
            ));
        }
        let id = entry.record().id.clone();
        if state == SandboxState::Started {
            self.inner.provider.resize(&id, new).await?;
        }
        self.save(&entry, |r| {
            r.cpu = new.cpu;
            r.memory_gib = new.memory_gib;
            r.disk_gib = new.disk_gib;
        })?;
        Ok(self.dto(&entry))
    }
}
