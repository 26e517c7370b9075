//! Restart: what the runtime still holds is matched with the records of the last run
//! ([`Manager::open`] calls these): each record is re-adopted in the state the runtime shows,
//! and what has no record is removed.

use process_proto::wire::control::SandboxState;

use super::{lock, now_ms, Entry, Manager, ManagerError};
use crate::provider::Observed;
use crate::store::Record;

impl Manager {
    /// Deletes what the provider holds without a record: warm pool members of an earlier run
    /// that ended without [`Manager::shutdown`] (a create records its sandbox before the
    /// provider is touched, so nothing else can be unrecorded).
    pub(super) async fn remove_unrecorded(&self) -> Result<(), ManagerError> {
        let ids = self.inner.provider.list().await?;
        for id in ids {
            if lock(&self.inner.sandboxes).contains_key(&id) {
                continue;
            }
            tracing::info!(%id, "removing a sandbox without a record (a warm pool sandbox of an earlier run)");
            self.inner.provider.delete(&id).await?;
        }
        Ok(())
    }

    /// Re-adopts one record in the state the runtime shows for it.
    pub(super) async fn adopt(&self, mut record: Record) -> Result<(), ManagerError> {
        let provider = &self.inner.provider;
        let state = SandboxState::parse(&record.state);
        if state == SandboxState::Destroying {
            provider.delete(&record.id).await?;
            self.inner.store.remove(&record.id)?;
            return Ok(());
        }
        let observed = provider.observe(&record.id).await?;
        let mut endpoint = None;
        match observed {
            Observed::Running(ep) if state == SandboxState::Stopping => {
                let _ = ep;
                provider.stop(&record.id, false).await?;
                record.state = SandboxState::Stopped.to_string();
                record.stopped_ms = Some(now_ms());
            }
            Observed::Running(ep) => {
                // A create interrupted while it took a warm sandbox may not have given its
                // processd the environment yet (a cold one has it from its bundle): again.
                let env = process_proto::wire::UpdateEnvRequest {
                    set: Some(record.env.clone()),
                    ..Default::default()
                };
                let configured = if state == SandboxState::Creating && !record.env.is_empty() {
                    crate::proxy::post_json(
                        &ep,
                        process_proto::wire::endpoint::ENV.template(),
                        &env,
                    )
                    .await
                } else {
                    Ok(())
                };
                match configured {
                    Ok(()) => {
                        record.state = SandboxState::Started.to_string();
                        record.error_reason = None;
                        endpoint = Some(ep);
                    }
                    Err(err) => {
                        record.state = SandboxState::Error.to_string();
                        record.error_reason = Some(format!(
                            "interrupted while created; its environment could not be applied: {err}"
                        ));
                    }
                }
            }
            Observed::Stopped => {
                if state != SandboxState::Error {
                    record.state = SandboxState::Stopped.to_string();
                    record.stopped_ms.get_or_insert_with(now_ms);
                }
            }
            Observed::Failed(reason) => {
                record.state = SandboxState::Error.to_string();
                record.error_reason = Some(reason);
            }
            Observed::Missing => {
                record.state = SandboxState::Error.to_string();
                record.error_reason = Some(
                    "the runtime has no trace of this sandbox (its files are gone); delete it"
                        .to_owned(),
                );
            }
        }
        record.updated_ms = now_ms();
        self.inner.store.put(&record)?;
        let entry = Entry::new(record);
        entry.set_endpoint(endpoint);
        lock(&self.inner.sandboxes).insert(entry.record().id.clone(), entry.clone());
        Ok(())
    }
}
