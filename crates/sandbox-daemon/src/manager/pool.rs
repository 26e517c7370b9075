//! The warm pool (`sandboxd --warm N`): up to N sandboxes of the default image, started with
//! the default user, network and resources, waiting for a create that can use one.
//!
//! - A create takes a member only when it asks for what the member already is (the default
//!   image's root filesystem, user `daytona`, networked); anything else takes the cold path.
//!   What a create may set freely is applied to the member when it is taken: the record (id =
//!   the member's id, which is also its hostname; name, labels, intervals) is written as for a
//!   cold create, the provider re-targets it (`Provider::reconfigure`: resources live, the spec
//!   kept for later starts) and the create's environment goes to the running `processd` through
//!   its `/env` overlay, which every command started afterwards gets (exec, sessions, PTYs,
//!   interpreters). That call also proves `processd` still answers; if any step fails the
//!   member is deleted and the create goes the cold way.
//! - Members have no record in the store and are not in the manager's map: they are never
//!   listed, found by id or name, or counted against `--max-sandboxes`. The pool only fills
//!   while fewer than `--max-sandboxes` sandboxes exist (a create that would be refused has no
//!   use for a member).
//! - One background task fills the pool, one member at a time, off the request path; a taken
//!   member wakes it. It never holds more than N (ready + being made). After a failure it backs
//!   off (1 s, doubling to 60 s).
//! - On shutdown the members are deleted ([`Manager::shutdown`]); after a crash, the next start
//!   deletes what the provider holds without a record ([`Manager::open`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::provider::{Endpoint, ImageRef, SandboxSpec};

use super::{lock, Inner, Manager, ManagerError};

/// A started sandbox waiting to be taken.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// What it was made with.
    pub(super) spec: SandboxSpec,
    /// Where its `processd` answers.
    pub(super) endpoint: Endpoint,
}

/// The pool's shared state (the filler task holds it; the manager holds it in `Inner`).
#[derive(Debug, Default)]
pub(super) struct Pool {
    /// How many members to keep ready.
    pub(super) target: usize,
    /// A file listing the ready members' ids, one a line, rewritten at every change (for
    /// operators, benchmarks and tests: members are not in the API).
    status: Option<PathBuf>,
    ready: Mutex<VecDeque<Member>>,
    /// Set by shutdown: no more members are made or handed out.
    closed: AtomicBool,
    /// Wakes the filler (a member was taken, a sandbox was deleted, shutdown).
    wake: tokio::sync::Notify,
    /// The filler task, awaited by shutdown.
    filler: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Pool {
    /// A pool that keeps `target` members (0 = no pool), listing them in `status`.
    pub(super) fn new(target: usize, status: Option<PathBuf>) -> Pool {
        Pool {
            target,
            status,
            ..Pool::default()
        }
    }

    /// Rewrites the status file from `ready` (atomically: a reader sees the old or new list).
    fn publish(&self, ready: &VecDeque<Member>) {
        let Some(path) = &self.status else {
            return;
        };
        let mut text = String::new();
        for m in ready {
            text.push_str(&m.spec.id);
            text.push('\n');
        }
        let tmp = path.with_extension("tmp");
        if let Err(err) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)) {
            tracing::warn!(path = %path.display(), error = %err, "cannot write the warm pool status");
        }
    }

    fn push(&self, member: Member, front: bool) {
        let mut ready = lock(&self.ready);
        if front {
            ready.push_front(member);
        } else {
            ready.push_back(member);
        }
        self.publish(&ready);
    }

    /// Members ready now.
    pub(super) fn ready(&self) -> usize {
        lock(&self.ready).len()
    }

    /// Asks the filler to look again.
    pub(super) fn wake(&self) {
        if self.target > 0 {
            self.wake.notify_one();
        }
    }

    /// Takes a member made with `image`, `os_user` and `network_block_all`, if one is ready.
    pub(super) fn take(
        &self,
        image: &ImageRef,
        os_user: &str,
        network_block_all: bool,
    ) -> Option<Member> {
        if self.target == 0 || self.closed.load(Ordering::Acquire) {
            return None;
        }
        let member = {
            let mut ready = lock(&self.ready);
            let at = ready.iter().position(|m| {
                m.spec.image.rootfs == image.rootfs
                    && m.spec.os_user == os_user
                    && m.spec.network_block_all == network_block_all
            })?;
            let member = ready.remove(at);
            self.publish(&ready);
            member
        };
        self.wake();
        member
    }
}

impl Pool {
    /// Puts back a member a create took and did not use (it was refused before touching it).
    pub(super) fn give_back(&self, member: Member) {
        self.push(member, true);
    }
}

/// The spec of a new member: the default image, user and network, the default resources.
fn member_spec(inner: &Inner, image: ImageRef) -> SandboxSpec {
    SandboxSpec {
        id: uuid::Uuid::new_v4().to_string(),
        image,
        env: std::collections::BTreeMap::new(),
        labels: std::collections::BTreeMap::new(),
        resources: inner.config.defaults,
        os_user: "daytona".to_owned(),
        network_block_all: false,
    }
}

impl Manager {
    /// Starts the task that keeps the pool full (nothing when `--warm` is 0).
    pub(super) fn start_pool(&self) {
        let pool = &self.inner.pool;
        if pool.target == 0 {
            return;
        }
        // An empty list first: a file left by an earlier run names members that are gone.
        pool.publish(&lock(&pool.ready));
        let handle = tokio::spawn(fill(Arc::downgrade(&self.inner), Arc::clone(pool)));
        *lock(&pool.filler) = Some(handle);
    }

    /// Members ready to be taken now (for tests and logs).
    pub fn warm_ready(&self) -> usize {
        self.inner.pool.ready()
    }

    /// Stops filling the pool and deletes its members (sandboxes with a record keep running:
    /// the next start re-adopts them), then lets the provider release what it keeps ready
    /// ([`Provider::shutdown`](crate::provider::Provider::shutdown)).
    pub async fn shutdown(&self) {
        let pool = &self.inner.pool;
        pool.closed.store(true, Ordering::Release);
        pool.wake.notify_one();
        let filler = lock(&pool.filler).take();
        if let Some(filler) = filler {
            // It finishes the member it is making (and deletes it) before it returns.
            let _ = filler.await;
        }
        let members: Vec<Member> = {
            let mut ready = lock(&pool.ready);
            let members = ready.drain(..).collect();
            pool.publish(&ready);
            members
        };
        for member in members {
            self.delete_member(&member.spec.id).await;
        }
        self.inner.provider.shutdown().await;
    }

    /// Deletes a member (or what a failed one left), logging a failure.
    pub(super) async fn delete_member(&self, id: &str) {
        if let Err(err) = self.inner.provider.delete(id).await {
            tracing::warn!(%id, error = %err, "cannot delete a warm pool sandbox");
        }
    }

    /// Re-targets a taken member to the create's `spec` (same id): the provider applies the
    /// resources and keeps the spec, `processd` gets the environment. Returns its endpoint.
    pub(super) async fn take_member(
        &self,
        spec: &SandboxSpec,
        member: Member,
    ) -> Result<Endpoint, ManagerError> {
        self.inner.provider.reconfigure(spec).await?;
        let env = process_proto::wire::UpdateEnvRequest {
            set: Some(spec.env.clone()),
            ..Default::default()
        };
        // Also the proof that this processd still answers.
        crate::proxy::post_json(
            &member.endpoint,
            process_proto::wire::endpoint::ENV.template(),
            &env,
        )
        .await
        .map_err(|e| ManagerError::StartFailed(e.to_string()))?;
        Ok(member.endpoint)
    }

    /// Whether the pool should make one more member now.
    fn pool_wants_one(&self) -> bool {
        let pool = &self.inner.pool;
        !pool.closed.load(Ordering::Acquire)
            && pool.ready() < pool.target
            && lock(&self.inner.sandboxes).len() < self.inner.config.max_sandboxes
    }

    /// Makes one member (created and started); what a failed start left is deleted.
    async fn make_member(&self) -> Result<Member, String> {
        let provider = &self.inner.provider;
        let image = provider
            .resolve_image(None)
            .await
            .map_err(|e| e.to_string())?;
        let spec = member_spec(&self.inner, image);
        let started = async {
            provider.create(&spec).await?;
            provider.start(&spec).await
        }
        .await;
        match started {
            Ok(endpoint) => Ok(Member { spec, endpoint }),
            Err(err) => {
                self.delete_member(&spec.id).await;
                Err(err.to_string())
            }
        }
    }
}

/// The filler: makes members one at a time while the pool wants one, then sleeps until woken.
async fn fill(weak: Weak<Inner>, pool: Arc<Pool>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let manager = Manager { inner };
        if pool.closed.load(Ordering::Acquire) {
            return;
        }
        if manager.pool_wants_one() {
            match manager.make_member().await {
                Ok(member) => {
                    backoff = Duration::from_secs(1);
                    if pool.closed.load(Ordering::Acquire) {
                        manager.delete_member(&member.spec.id).await;
                        return;
                    }
                    tracing::debug!(id = %member.spec.id, "warm pool: one more ready");
                    pool.push(member, false);
                }
                Err(err) => {
                    tracing::warn!(error = %err, retry_in = ?backoff, "warm pool: cannot make a sandbox");
                    drop(manager);
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = pool.wake.notified() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_mins(1));
                }
            }
            continue;
        }
        drop(manager);
        pool.wake.notified().await;
    }
}
