//! [`Manager::create`]: a `POST /sandbox` checked (`request`), recorded, then made from a warm
//! pool member or by the provider, and answered `started` (or recorded as `error`).

use process_proto::wire::control::{CreateSandbox, SandboxDto, SandboxState, LANGUAGE_LABEL};

use super::{lock, now_ms, request, Entry, Manager, ManagerError, DEFAULT_AUTO_ARCHIVE_MINUTES};
use crate::provider::{ProviderError, SandboxSpec};
use crate::store::Record;

impl Manager {
    /// `POST /sandbox`: validates, records, creates and starts; answers `started`.
    pub async fn create(&self, req: CreateSandbox) -> Result<SandboxDto, ManagerError> {
        let cfg = &self.inner.config;
        let image_name = request::image_name(&req)?;
        let image = self
            .inner
            .provider
            .resolve_image(image_name)
            .await
            .map_err(|e| match e {
                ProviderError::UnknownImage(name) if req.snapshot.is_some() => {
                    ManagerError::BadRequest(format!(
                        "Snapshot {name} not found: this sandboxd knows its default image and the images built with `sandboxd image build`"
                    ))
                }
                ProviderError::UnknownImage(_) => ManagerError::BadRequest(e.to_string()),
                other => ManagerError::Provider(other),
            })?;
        let request::Settled {
            cpu,
            memory,
            disk,
            auto_stop,
            user,
        } = request::settle(&req, cfg)?;
        let network_block_all = req.network_block_all.unwrap_or(false);
        let member = self.inner.pool.take(&image, &user, network_block_all);
        let id = member
            .as_ref()
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), |m| m.spec.id.clone());
        let name = req.name.clone().unwrap_or_else(|| id.clone());
        let now = now_ms();
        let mut labels = req.labels.clone();
        labels
            .entry(LANGUAGE_LABEL.to_owned())
            .or_insert_with(|| "python".to_owned());
        let record = Record {
            id: id.clone(),
            name: name.clone(),
            image: image.name.clone(),
            snapshot: req.snapshot.clone().or(image_name.map(str::to_owned)),
            user,
            env: req.env.clone(),
            labels,
            network_block_all,
            cpu,
            memory_gib: memory,
            disk_gib: disk,
            state: SandboxState::Creating.to_string(),
            error_reason: None,
            auto_stop_minutes: auto_stop,
            auto_archive_minutes: req
                .auto_archive_interval
                .unwrap_or(DEFAULT_AUTO_ARCHIVE_MINUTES),
            auto_delete_minutes: req.auto_delete_interval.unwrap_or(-1),
            created_ms: now,
            updated_ms: now,
            activity_ms: now,
            stopped_ms: None,
        };
        let entry = Entry::new(record.clone());
        // Hold the operation lock before the entry is visible: a delete racing the create waits.
        let op = entry.op.lock().await;
        {
            let mut map = lock(&self.inner.sandboxes);
            let refused = if map.values().any(|e| e.record().name == name) {
                Some(ManagerError::NameTaken(name.clone()))
            } else if map.len() >= cfg.max_sandboxes {
                Some(ManagerError::Limit(format!(
                    "Sandbox limit reached: {} sandboxes exist (sandboxd --max-sandboxes {}); delete one first",
                    map.len(),
                    cfg.max_sandboxes
                )))
            } else {
                None
            };
            if let Some(err) = refused {
                drop(map);
                if let Some(member) = member {
                    self.inner.pool.give_back(member);
                }
                return Err(err);
            }
            self.inner.store.put(&record)?;
            map.insert(id.clone(), entry.clone());
        }
        let spec = SandboxSpec {
            id: id.clone(),
            image,
            env: record.env.clone(),
            labels: record.labels.clone(),
            resources: record.resources(),
            os_user: record.user.clone(),
            network_block_all: record.network_block_all,
        };
        let warm = match member {
            Some(member) => match self.take_member(&spec, member).await {
                Ok(endpoint) => Some(endpoint),
                Err(err) => {
                    tracing::warn!(%id, error = %err, "a warm sandbox could not be used: creating one");
                    self.delete_member(&id).await;
                    None
                }
            },
            None => None,
        };
        let was_warm = warm.is_some();
        let started = match warm {
            Some(endpoint) => Ok(endpoint),
            None => {
                async {
                    self.inner.provider.create(&spec).await?;
                    self.inner.provider.start(&spec).await
                }
                .await
            }
        };
        match started {
            Ok(endpoint) => {
                entry.set_endpoint(Some(endpoint));
                entry.touch();
                self.set_state(&entry, &SandboxState::Started)?;
                drop(op);
                tracing::info!(%id, %name, warm = was_warm, "sandbox created");
                Ok(self.dto(&entry))
            }
            Err(err) => {
                let reason = err.to_string();
                tracing::warn!(%id, error = %reason, "sandbox failed to start");
                self.set_error(&entry, &reason)?;
                Err(ManagerError::StartFailed(reason))
            }
        }
    }
}
