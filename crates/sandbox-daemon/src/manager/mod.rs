//! The sandbox manager: the state machine every lifecycle call goes through, per-sandbox
//! serialisation, the durable record, activity tracking and the background monitor (auto-stop,
//! auto-delete, crashed `processd` detection).
//!
//! States (wire names): `creating → started`, `started → stopping → stopped`,
//! `stopped|error → starting → started`, `any → destroying → (gone)`, `error` with a reason when
//! the runtime fails or `processd` dies. Every transition of one sandbox holds that sandbox's
//! operation lock for its whole duration, so concurrent start/stop/delete calls run one after
//! the other and each sees the state the previous one left (never a half state); calls for
//! different sandboxes run in parallel. Create, start, stop and delete answer with the final
//! state, so an SDK never waits on a poll interval.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use process_proto::wire::control::{
    CreateSandbox, ResizeSandbox, SandboxDto, SandboxState, LANGUAGE_LABEL,
};

use crate::provider::{Endpoint, Observed, Provider, ProviderError, Resources, SandboxSpec};
use crate::store::{Record, Store, StoreError};

mod pool;

/// Default auto-stop interval in minutes (the hosted API's).
pub const DEFAULT_AUTO_STOP_MINUTES: i64 = 15;
/// Default auto-archive interval in minutes (7 days).
pub const DEFAULT_AUTO_ARCHIVE_MINUTES: i64 = 10080;

/// Errors of lifecycle operations; the HTTP edge maps each to a status and the envelope.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// No sandbox with this id or name.
    #[error("Sandbox with ID or name {0} not found")]
    NotFound(String),
    /// The name is taken.
    #[error("Sandbox with name {0} already exists")]
    NameTaken(String),
    /// The request is invalid (bad resources, bad state for the call, …).
    #[error("{0}")]
    BadRequest(String),
    /// A limit of this control plane is reached.
    #[error("{0}")]
    Limit(String),
    /// Creating or starting failed; the sandbox is now in `error` with this reason.
    #[error("Sandbox failed to start: {0}")]
    StartFailed(String),
    /// A feature this control plane does not offer.
    #[error("{0}")]
    Unsupported(String),
    /// The runtime failed.
    #[error("{0}")]
    Provider(#[from] ProviderError),
    /// The state database failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Limits and defaults of the manager.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// `toolboxProxyUrl` of every DTO (no trailing slash).
    pub toolbox_url: String,
    /// Most sandboxes that may exist at once.
    pub max_sandboxes: usize,
    /// Resources of a create that names none.
    pub defaults: Resources,
    /// Largest allowed resources (the host's cores, RAM and disk).
    pub host: Resources,
    /// How long one auto-stop/auto-delete "minute" lasts (60 s; tests shorten it).
    pub minute: Duration,
    /// How often the monitor looks at running sandboxes.
    pub monitor_interval: Duration,
    /// Version reported as `daemonVersion`.
    pub daemon_version: String,
    /// Started sandboxes of the default image kept ready for creates (`--warm`; 0 = none).
    pub warm: usize,
    /// Where the warm pool lists its ready members' ids (one a line), if anywhere.
    pub warm_status: Option<std::path::PathBuf>,
}

/// One sandbox in memory.
struct Entry {
    /// Held for the whole of a lifecycle transition.
    op: tokio::sync::Mutex<()>,
    record: Mutex<Record>,
    endpoint: Mutex<Option<Endpoint>>,
    /// Toolbox requests and WebSockets in flight.
    active: AtomicUsize,
    /// Last toolbox activity (ms since the epoch).
    last_activity: AtomicI64,
}

impl Entry {
    fn new(record: Record) -> Arc<Entry> {
        let last = record.activity_ms;
        Arc::new(Entry {
            op: tokio::sync::Mutex::new(()),
            record: Mutex::new(record),
            endpoint: Mutex::new(None),
            active: AtomicUsize::new(0),
            last_activity: AtomicI64::new(last),
        })
    }

    fn record(&self) -> MutexGuard<'_, Record> {
        lock(&self.record)
    }

    fn state(&self) -> SandboxState {
        SandboxState::parse(&self.record().state)
    }

    fn endpoint(&self) -> Option<Endpoint> {
        lock(&self.endpoint).clone()
    }

    fn set_endpoint(&self, endpoint: Option<Endpoint>) {
        *lock(&self.endpoint) = endpoint;
    }

    fn touch(&self) {
        self.last_activity.store(now_ms(), Ordering::Relaxed);
    }
}

/// Marks a toolbox request or WebSocket as in flight; dropping it ends the activity.
pub struct ActivityGuard {
    entry: Arc<Entry>,
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        self.entry.touch();
        self.entry.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for ActivityGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityGuard").finish_non_exhaustive()
    }
}

/// Filters and paging of `GET /sandbox` (spec §5.2).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Offset to start at (the cursor we hand out).
    pub offset: usize,
    /// Page size (1..=200).
    pub limit: usize,
    /// Id prefix.
    pub id: Option<String>,
    /// Name prefix (case-insensitive).
    pub name: Option<String>,
    /// Labels that must all match.
    pub labels: BTreeMap<String, String>,
    /// Accepted states (empty = all).
    pub states: Vec<String>,
    /// Accepted snapshot/image names (empty = all).
    pub snapshots: Vec<String>,
    /// Resource bounds.
    pub min_cpu: Option<u32>,
    /// Resource bounds.
    pub max_cpu: Option<u32>,
    /// Resource bounds.
    pub min_memory: Option<u32>,
    /// Resource bounds.
    pub max_memory: Option<u32>,
    /// Resource bounds.
    pub min_disk: Option<u32>,
    /// Resource bounds.
    pub max_disk: Option<u32>,
    /// Sort key: `name`, `cpu`, `memoryGib`, `diskGib`, `lastActivityAt`, `createdAt`.
    pub sort: Option<String>,
    /// `asc` or `desc` (default `desc`).
    pub descending: bool,
}

/// The manager handle (cheap to clone).
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

struct Inner {
    provider: Arc<dyn Provider>,
    store: Store,
    config: ManagerConfig,
    sandboxes: Mutex<HashMap<String, Arc<Entry>>>,
    events: tokio::sync::broadcast::Sender<StateEvent>,
    pool: Arc<pool::Pool>,
}

/// A sandbox changed state (what the SDKs' `sandbox.state.updated` event carries).
#[derive(Debug, Clone)]
pub struct StateEvent {
    /// The sandbox after the change.
    pub sandbox: SandboxDto,
    /// The state before.
    pub old_state: SandboxState,
    /// The state now.
    pub new_state: SandboxState,
}

/// State events buffered per subscriber before a slow one starts missing them.
const EVENT_BUFFER: usize = 256;

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("provider", &self.inner.provider.name())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2026-12-01T21:08:10.074Z`.
pub(crate) fn iso(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

fn valid_env_key(k: &str) -> bool {
    let mut bytes = k.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn in_range(what: &str, value: i64, max: u32, unit: &str) -> Result<u32, ManagerError> {
    if value < 1 {
        return Err(ManagerError::BadRequest(format!(
            "{what} must not be less than 1"
        )));
    }
    if value > i64::from(max) {
        return Err(ManagerError::BadRequest(format!(
            "{what} {value} is more than this host has ({max}{unit})"
        )));
    }
    Ok(value as u32)
}

impl Manager {
    /// Opens the manager over `store`: loads every record and re-adopts what the runtime still
    /// runs (`Provider::observe`): running sandboxes stay `started`, stopped ones are `stopped`,
    /// ones whose `processd` died are `error`, interrupted deletes are finished.
    pub async fn open(
        provider: Arc<dyn Provider>,
        store: Store,
        config: ManagerConfig,
    ) -> Result<Manager, ManagerError> {
        let records = store.all()?;
        let (warm, status) = (config.warm, config.warm_status.clone());
        let manager = Manager {
            inner: Arc::new(Inner {
                provider,
                store,
                config,
                sandboxes: Mutex::new(HashMap::new()),
                events: tokio::sync::broadcast::channel(EVENT_BUFFER).0,
                pool: Arc::new(pool::Pool::new(warm, status)),
            }),
        };
        for record in records {
            manager.adopt(record).await?;
        }
        manager.remove_unrecorded().await?;
        manager.start_pool();
        Ok(manager)
    }

    /// Deletes what the provider holds without a record: warm pool members of an earlier run
    /// that ended without [`Manager::shutdown`] (a create records its sandbox before the
    /// provider is touched, so nothing else can be unrecorded).
    async fn remove_unrecorded(&self) -> Result<(), ManagerError> {
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

    async fn adopt(&self, mut record: Record) -> Result<(), ManagerError> {
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

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn Provider> {
        &self.inner.provider
    }

    /// The configuration.
    pub fn config(&self) -> &ManagerConfig {
        &self.inner.config
    }

    /// Every state change from now on (a lagging receiver skips what it missed).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<StateEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, sandbox: SandboxDto, old_state: SandboxState) {
        let new_state = sandbox.state.clone().unwrap_or(SandboxState::Unknown);
        if new_state != old_state {
            // No subscriber is not an error.
            let _ = self.inner.events.send(StateEvent {
                sandbox,
                old_state,
                new_state,
            });
        }
    }

    fn find(&self, id_or_name: &str) -> Result<Arc<Entry>, ManagerError> {
        let map = lock(&self.inner.sandboxes);
        if let Some(e) = map.get(id_or_name) {
            return Ok(e.clone());
        }
        map.values()
            .find(|e| e.record().name == id_or_name)
            .cloned()
            .ok_or_else(|| ManagerError::NotFound(id_or_name.to_owned()))
    }

    /// The DTO of a record.
    fn dto(&self, entry: &Entry) -> SandboxDto {
        let r = entry.record().clone();
        let cfg = &self.inner.config;
        let mut sb = SandboxDto::new(r.id.clone(), cfg.toolbox_url.clone());
        sb.name = r.name;
        sb.snapshot = Some(r.snapshot.unwrap_or(r.image));
        sb.user = r.user;
        sb.env = r.env;
        sb.labels = r.labels;
        sb.network_block_all = r.network_block_all;
        sb.cpu = r.cpu;
        sb.memory = r.memory_gib;
        sb.disk = r.disk_gib;
        let state = SandboxState::parse(&r.state);
        sb.desired_state = Some(match state {
            SandboxState::Stopping | SandboxState::Stopped => SandboxState::Stopped,
            SandboxState::Destroying | SandboxState::Destroyed => SandboxState::Destroyed,
            _ => SandboxState::Started,
        });
        sb.recoverable = Some(state == SandboxState::Error);
        sb.state = Some(state);
        sb.error_reason = r.error_reason;
        sb.auto_stop_interval = Some(r.auto_stop_minutes);
        sb.auto_archive_interval = Some(r.auto_archive_minutes);
        sb.auto_delete_interval = Some(r.auto_delete_minutes);
        sb.volumes = Some(Vec::new());
        sb.sandbox_class = Some("container".to_owned());
        sb.daemon_version = Some(cfg.daemon_version.clone());
        sb.created_at = Some(iso(r.created_ms));
        sb.updated_at = Some(iso(r.updated_ms));
        let activity = r
            .activity_ms
            .max(entry.last_activity.load(Ordering::Relaxed));
        sb.last_activity_at = Some(iso(activity));
        sb
    }

    fn save(&self, entry: &Entry, change: impl FnOnce(&mut Record)) -> Result<(), ManagerError> {
        let old_state = {
            let mut record = entry.record();
            let old_state = SandboxState::parse(&record.state);
            change(&mut record);
            record.updated_ms = now_ms();
            record.activity_ms = record
                .activity_ms
                .max(entry.last_activity.load(Ordering::Relaxed));
            self.inner.store.put(&record)?;
            old_state
        };
        if entry.state() != old_state && self.inner.events.receiver_count() > 0 {
            self.emit(self.dto(entry), old_state);
        }
        Ok(())
    }

    fn set_state(&self, entry: &Entry, state: &SandboxState) -> Result<(), ManagerError> {
        self.save(entry, |r| {
            r.state = state.to_string();
            if *state == SandboxState::Stopped {
                r.stopped_ms = Some(now_ms());
            }
            if *state != SandboxState::Error {
                r.error_reason = None;
            }
        })
    }

    fn set_error(&self, entry: &Entry, reason: &str) -> Result<(), ManagerError> {
        entry.set_endpoint(None);
        self.save(entry, |r| {
            r.state = SandboxState::Error.to_string();
            r.error_reason = Some(reason.to_owned());
        })
    }

    async fn spec(&self, entry: &Entry) -> Result<SandboxSpec, ManagerError> {
        let r = entry.record().clone();
        let image = self.inner.provider.resolve_image(Some(&r.image)).await?;
        Ok(SandboxSpec {
            id: r.id.clone(),
            image,
            env: r.env.clone(),
            labels: r.labels.clone(),
            resources: r.resources(),
            os_user: r.user.clone(),
            network_block_all: r.network_block_all,
        })
    }

    /// `POST /sandbox`: validates, records, creates and starts; answers `started`.
    pub async fn create(&self, req: CreateSandbox) -> Result<SandboxDto, ManagerError> {
        let cfg = &self.inner.config;
        if let Some(lang) = req.labels.get(LANGUAGE_LABEL) {
            if !matches!(lang.as_str(), "python" | "typescript" | "javascript") {
                return Err(ManagerError::BadRequest(format!(
                    "Invalid {LANGUAGE_LABEL}: {lang} (use python, typescript or javascript)"
                )));
            }
        }
        if let Some((k, _)) = req
            .env
            .iter()
            .find(|(k, v)| !valid_env_key(k) || v.contains('\0'))
        {
            return Err(ManagerError::BadRequest(format!(
                "invalid environment variable {k:?}: names are letters, digits and '_' (not starting with a digit), values contain no NUL"
            )));
        }
        if req.volumes.as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(ManagerError::Unsupported(
                "Volumes are not supported by this sandboxd yet".to_owned(),
            ));
        }
        if req.gpu.is_some_and(|g| g > 0) {
            return Err(ManagerError::BadRequest(
                "GPUs are not available on this host".to_owned(),
            ));
        }
        let has_resources = req.cpu.is_some() || req.memory.is_some() || req.disk.is_some();
        if req.snapshot.is_some() && req.build_info.is_some() {
            return Err(ManagerError::BadRequest(
                "Cannot specify a snapshot when using a build info entry".to_owned(),
            ));
        }
        if req.snapshot.is_some() && has_resources {
            return Err(ManagerError::BadRequest(
                "Cannot specify Sandbox resources when using a snapshot".to_owned(),
            ));
        }
        let image_name = match &req.build_info {
            Some(info) => Some(info.plain_image().ok_or_else(|| {
                ManagerError::Unsupported(
                    "Building images from a Dockerfile is not supported by this sandboxd yet: \
                     pass a plain image name (image=\"debian:12.9\") or a snapshot name"
                        .to_owned(),
                )
            })?),
            None => req.snapshot.as_deref(),
        };
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
        let cpu = in_range(
            "cpu",
            req.cpu.unwrap_or(i64::from(cfg.defaults.cpu)),
            cfg.host.cpu,
            " cores",
        )?;
        let memory = in_range(
            "memory",
            req.memory.unwrap_or(i64::from(cfg.defaults.memory_gib)),
            cfg.host.memory_gib,
            " GiB",
        )?;
        let disk = in_range(
            "disk",
            req.disk.unwrap_or(i64::from(cfg.defaults.disk_gib)),
            cfg.host.disk_gib,
            " GiB",
        )?;
        let auto_stop = req.auto_stop_interval.unwrap_or(DEFAULT_AUTO_STOP_MINUTES);
        if auto_stop < 0 {
            return Err(ManagerError::BadRequest(
                "autoStopInterval must not be less than 0".to_owned(),
            ));
        }
        let user = req.user.clone().unwrap_or_else(|| "daytona".to_owned());
        if user.is_empty()
            || !user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ManagerError::BadRequest(format!("invalid user {user:?}")));
        }
        if let Some(name) = &req.name {
            if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
                return Err(ManagerError::BadRequest(
                    "name must be 1 to 255 printable characters".to_owned(),
                ));
            }
        }
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

    /// `GET /sandbox/{idOrName}`.
    pub fn get(&self, id_or_name: &str) -> Result<SandboxDto, ManagerError> {
        let entry = self.find(id_or_name)?;
        Ok(self.dto(&entry))
    }

    /// `GET /sandbox`: one page and the cursor of the next.
    pub fn list(&self, q: &ListQuery) -> (Vec<SandboxDto>, Option<String>) {
        let entries: Vec<Arc<Entry>> = lock(&self.inner.sandboxes).values().cloned().collect();
        let mut items: Vec<SandboxDto> = entries
            .iter()
            .map(|e| self.dto(e))
            .filter(|sb| {
                let state = sb.state().to_string();
                q.id.as_ref().is_none_or(|p| sb.id.starts_with(p.as_str()))
                    && q.name
                        .as_ref()
                        .is_none_or(|p| sb.name.to_lowercase().starts_with(&p.to_lowercase()))
                    && q.labels.iter().all(|(k, v)| sb.labels.get(k) == Some(v))
                    && (q.states.is_empty() || q.states.contains(&state))
                    && (q.snapshots.is_empty()
                        || sb
                            .snapshot
                            .as_ref()
                            .is_some_and(|s| q.snapshots.contains(s)))
                    && q.min_cpu.is_none_or(|m| sb.cpu >= m)
                    && q.max_cpu.is_none_or(|m| sb.cpu <= m)
                    && q.min_memory.is_none_or(|m| sb.memory >= m)
                    && q.max_memory.is_none_or(|m| sb.memory <= m)
                    && q.min_disk.is_none_or(|m| sb.disk >= m)
                    && q.max_disk.is_none_or(|m| sb.disk <= m)
            })
            .collect();
        let key = q.sort.as_deref().unwrap_or("createdAt");
        items.sort_by(|a, b| {
            let ord = match key {
                "name" => a.name.cmp(&b.name),
                "cpu" => a.cpu.cmp(&b.cpu),
                "memoryGib" => a.memory.cmp(&b.memory),
                "diskGib" => a.disk.cmp(&b.disk),
                "lastActivityAt" => a.last_activity_at.cmp(&b.last_activity_at),
                _ => a.created_at.cmp(&b.created_at),
            };
            // Ties (same millisecond) broken by id so pages are stable.
            ord.then_with(|| a.id.cmp(&b.id))
        });
        if q.descending {
            items.reverse();
        }
        let total = items.len();
        let page: Vec<SandboxDto> = items.into_iter().skip(q.offset).take(q.limit).collect();
        let next = q.offset + page.len();
        let cursor = (next < total && !page.is_empty()).then(|| next.to_string());
        (page, cursor)
    }

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

    async fn stop_locked(
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

    async fn delete_locked(&self, entry: &Arc<Entry>) -> Result<SandboxDto, ManagerError> {
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

    /// `PUT /sandbox/{id}/labels`: replaces all labels.
    pub fn set_labels(
        &self,
        id_or_name: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<SandboxDto, ManagerError> {
        let entry = self.find(id_or_name)?;
        if let Some(lang) = labels.get(LANGUAGE_LABEL) {
            if !matches!(lang.as_str(), "python" | "typescript" | "javascript") {
                return Err(ManagerError::BadRequest(format!(
                    "Invalid {LANGUAGE_LABEL}: {lang}"
                )));
            }
        }
        self.save(&entry, |r| r.labels = labels)?;
        Ok(self.dto(&entry))
    }

    /// `POST /sandbox/{id}/autostop|autoarchive|autodelete/{minutes}`.
    pub fn set_interval(
        &self,
        id_or_name: &str,
        which: Interval,
        minutes: i64,
    ) -> Result<SandboxDto, ManagerError> {
        let entry = self.find(id_or_name)?;
        if minutes < 0 && which != Interval::AutoDelete {
            return Err(ManagerError::BadRequest(format!(
                "{} must not be negative",
                which.name()
            )));
        }
        entry.touch();
        self.save(&entry, |r| match which {
            Interval::AutoStop => r.auto_stop_minutes = minutes,
            Interval::AutoArchive => r.auto_archive_minutes = minutes,
            Interval::AutoDelete => r.auto_delete_minutes = minutes,
        })?;
        Ok(self.dto(&entry))
    }

    /// `POST /sandbox/{id}/last-activity`: resets the auto-stop clock.
    pub fn touch(&self, id_or_name: &str) -> Result<(), ManagerError> {
        self.find(id_or_name)?.touch();
        Ok(())
    }

    /// Where the toolbox proxy sends a request for this sandbox, and the guard that counts it
    /// as activity while it lasts.
    pub fn toolbox(&self, id_or_name: &str) -> Result<(Endpoint, ActivityGuard), ManagerError> {
        let entry = self.find(id_or_name)?;
        let state = entry.state();
        let endpoint = match (state, entry.endpoint()) {
            (SandboxState::Started, Some(ep)) => ep,
            (state, _) => {
                return Err(ManagerError::BadRequest(format!(
                    "Sandbox {id_or_name} is not started (state: {state}); start it first"
                )))
            }
        };
        entry.active.fetch_add(1, Ordering::AcqRel);
        entry.touch();
        Ok((endpoint, ActivityGuard { entry }))
    }

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

/// The interval a `POST /sandbox/{id}/<interval>/{minutes}` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// `autostop`
    AutoStop,
    /// `autoarchive`
    AutoArchive,
    /// `autodelete`
    AutoDelete,
}

impl Interval {
    fn name(self) -> &'static str {
        match self {
            Interval::AutoStop => "autoStopInterval",
            Interval::AutoArchive => "autoArchiveInterval",
            Interval::AutoDelete => "autoDeleteInterval",
        }
    }
}
