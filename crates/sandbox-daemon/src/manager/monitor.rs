//! The background monitor ([`Manager::monitor`]): failure detection (a started sandbox whose
//! `processd` is gone becomes `error`), auto-stop of idle sandboxes (unless `processd` is
//! still running something), auto-delete of stopped ones.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use process_proto::wire::control::SandboxState;

use super::{lock, now_ms, Entry, Manager};
use crate::provider::Observed;

impl Manager {
    /// Looks at one sandbox now (the proxy calls this when its `processd` does not answer).
    pub async fn check(&self, id_or_name: &str) {
        if let Ok(entry) = self.find(id_or_name) {
            if let Ok(_op) = entry.op.try_lock() {
                self.check_locked(&entry).await;
            }
        }
    }

    /// Marks a started sandbox whose runtime says it is no longer running as `error`.
    async fn check_locked(&self, entry: &Arc<Entry>) -> bool {
        if entry.state() != SandboxState::Started {
            return true;
        }
        let id = entry.record().id.clone();
        let reason = match self.inner.provider.observe(&id).await {
            Ok(Observed::Running(ep)) => {
                entry.set_endpoint(Some(ep));
                return true;
            }
            Ok(Observed::Failed(reason)) => reason,
            Ok(Observed::Stopped) => "processd exited".to_owned(),
            Ok(Observed::Missing) => "the runtime lost the sandbox".to_owned(),
            Err(err) => {
                tracing::warn!(%id, error = %err, "cannot observe the sandbox");
                return true;
            }
        };
        tracing::warn!(%id, %reason, "sandbox failed");
        if let Err(err) = self.set_error(entry, &reason) {
            tracing::error!(%id, error = %err, "cannot record the failure");
        }
        false
    }

    /// The background loop: failure detection, auto-stop, auto-delete. Runs until the manager
    /// is dropped by everyone else.
    pub async fn monitor(self) {
        let weak = Arc::downgrade(&self.inner);
        drop(self);
        loop {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let manager = Manager { inner };
            let interval = manager.inner.config.monitor_interval;
            manager.tick().await;
            drop(manager);
            tokio::time::sleep(interval).await;
        }
    }

    async fn tick(&self) {
        let entries: Vec<Arc<Entry>> = lock(&self.inner.sandboxes).values().cloned().collect();
        let minute_ms = self.inner.config.minute.as_millis() as i64;
        for entry in entries {
            let Ok(_op) = entry.op.try_lock() else {
                continue;
            };
            if lock(&self.inner.sandboxes)
                .get(&entry.record().id)
                .is_none()
            {
                continue;
            }
            let now = now_ms();
            match entry.state() {
                SandboxState::Started => {
                    if !self.check_locked(&entry).await {
                        continue;
                    }
                    let minutes = entry.record().auto_stop_minutes;
                    let idle_for = now - entry.last_activity.load(Ordering::Relaxed);
                    if minutes > 0
                        && entry.active.load(Ordering::Acquire) == 0
                        && idle_for >= minutes.saturating_mul(minute_ms)
                    {
                        if self.busy(&entry).await {
                            entry.touch();
                            continue;
                        }
                        let id = entry.record().id.clone();
                        tracing::info!(%id, minutes, "auto-stop: idle");
                        if let Err(err) = self.stop_locked(&entry, false).await {
                            tracing::warn!(%id, error = %err, "auto-stop failed");
                        }
                    }
                }
                SandboxState::Stopped => {
                    let (minutes, since) = {
                        let r = entry.record();
                        (r.auto_delete_minutes, r.stopped_ms.unwrap_or(now))
                    };
                    if minutes > 0 && now - since >= minutes.saturating_mul(minute_ms) {
                        let id = entry.record().id.clone();
                        tracing::info!(%id, minutes, "auto-delete: stopped long enough");
                        if let Err(err) = self.delete_locked(&entry).await {
                            tracing::warn!(%id, error = %err, "auto-delete failed");
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Whether `processd` is running something no request is waiting on: a session command
    /// still running, or a live PTY.
    async fn busy(&self, entry: &Entry) -> bool {
        let Some(endpoint) = entry.endpoint() else {
            return false;
        };
        let sessions = crate::proxy::get_json::<Vec<process_proto::wire::Session>>(
            &endpoint,
            process_proto::wire::endpoint::SESSIONS.template(),
        )
        .await;
        let running_command = sessions.as_ref().is_ok_and(|list| {
            list.iter().any(|s| {
                s.session_id != process_proto::wire::ENTRYPOINT_SESSION_ID
                    && s.commands.iter().any(|c| c.exit_code.is_none())
            })
        });
        if running_command {
            return true;
        }
        let ptys = crate::proxy::get_json::<process_proto::wire::PtyListResponse>(
            &endpoint,
            process_proto::wire::endpoint::PTYS.template(),
        )
        .await;
        // When processd cannot tell us, err on the side of not stopping work.
        sessions.is_err()
            || ptys
                .as_ref()
                .map_or(true, |p| p.sessions.iter().any(|s| s.active))
    }
}
