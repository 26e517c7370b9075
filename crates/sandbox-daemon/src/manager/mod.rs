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
//!
//! Code map: here the [`Manager`], its in-memory entries and the small calls; `request` (a
//! create's checks, pure) and `query` (list filters and paging, pure); `create`, `lifecycle`
//! (start, stop, delete, recover, archive, resize); `adopt` (re-adoption at [`Manager::open`]);
//! `monitor` (the background loop); `pool` (the warm pool).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use process_proto::wire::control::{SandboxDto, SandboxState, LANGUAGE_LABEL};

use self::request::in_range;
use crate::provider::{Endpoint, Provider, ProviderError, Resources, SandboxSpec};
use crate::store::{Record, Store, StoreError};

mod adopt;
mod create;
mod lifecycle;
mod monitor;
mod pool;
mod query;
mod request;

pub use self::query::ListQuery;

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

    /// `GET /sandbox/{idOrName}`.
    pub fn get(&self, id_or_name: &str) -> Result<SandboxDto, ManagerError> {
        let entry = self.find(id_or_name)?;
        Ok(self.dto(&entry))
    }

    /// `GET /sandbox`: one page and the cursor of the next.
    pub fn list(&self, q: &ListQuery) -> (Vec<SandboxDto>, Option<String>) {
        let entries: Vec<Arc<Entry>> = lock(&self.inner.sandboxes).values().cloned().collect();
        q.page(entries.iter().map(|e| self.dto(e)).collect())
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
