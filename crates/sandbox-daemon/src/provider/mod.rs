//! The seam between the control plane and whatever actually runs sandboxes.
//!
//! The API layer (`api/`, the store, the proxy) only ever talks to a [`Provider`]. The local
//! provider (`provider::local`, runc + overlayfs + cgroups + slirp4netns) is one implementation;
//! a Kubernetes provider (a pod per sandbox, `processd` as its entrypoint) would be another,
//! added without touching the API layer.
//!
//! Contract:
//! - Every method is idempotent where that makes sense (`stop` of a stopped sandbox, `delete` of a
//!   missing one succeed) so the control plane can retry after a crash.
//! - The control plane serialises calls per sandbox id; a provider may assume no two calls for
//!   the same id overlap, but calls for different ids do.
//! - `start` returns only when the sandbox's `processd` answers on the returned [`Endpoint`].

pub mod local;
pub mod unisolated;

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Resources of one sandbox, as the control-plane wire carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    /// CPU cores (a CFS quota of `cpu` × period).
    pub cpu: u32,
    /// Memory limit in GiB.
    pub memory_gib: u32,
    /// Disk in GiB (reported; enforced only where the provider can do so cheaply).
    pub disk_gib: u32,
}

/// Everything a provider needs to create one sandbox.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    /// The sandbox id (also its hostname).
    pub id: String,
    /// The resolved image (e.g. the default Debian rootfs), see [`Provider::resolve_image`].
    pub image: ImageRef,
    /// Environment variables for `processd` and every command in the sandbox.
    pub env: BTreeMap<String, String>,
    /// Labels (the `code-toolbox-language` label selects code_run's language).
    pub labels: BTreeMap<String, String>,
    /// Resource limits.
    pub resources: Resources,
    /// The user commands run as (`daytona` unless the create asked for another, e.g. `root`).
    pub os_user: String,
    /// No network at all but loopback.
    pub network_block_all: bool,
}

/// A resolved image: a name and the read-only root filesystem behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The name the user asked for (or the default's name).
    pub name: String,
    /// The read-only base root filesystem (the overlay's lower layer).
    pub rootfs: PathBuf,
}

/// Where a started sandbox's `processd` can be reached by the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket on the host, in a directory only the control plane can reach.
    Unix(PathBuf),
}

/// What the runtime says about a sandbox (used when `sandboxd` restarts and re-adopts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// Running, with `processd` reachable at the endpoint.
    Running(Endpoint),
    /// Created and not running (its writable layer is kept).
    Stopped,
    /// It was running and is not any more, for this reason (e.g. "processd exited with 137").
    Failed(String),
    /// The provider knows nothing of it.
    Missing,
}

/// Errors of a provider, each with a message a user can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The image or snapshot name is not known.
    #[error("unknown image '{0}': use the default image or one built with `sandboxd image build`")]
    UnknownImage(String),
    /// The sandbox does not exist in the provider.
    #[error("sandbox '{0}' does not exist in the runtime")]
    NotFound(String),
    /// The requested resources cannot be granted.
    #[error("invalid resources: {0}")]
    InvalidResources(String),
    /// A feature this provider does not offer.
    #[error("not supported by this provider: {0}")]
    Unsupported(String),
    /// The runtime failed (runc, mounts, cgroups, network); the message says which step.
    #[error("{0}")]
    Runtime(String),
}

/// Runs sandboxes. See the module docs for the contract.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + 'static {
    /// Maps an image or snapshot name (`None` = the default) to a cached root filesystem.
    async fn resolve_image(&self, name: Option<&str>) -> Result<ImageRef, ProviderError>;
    /// Prepares the sandbox (bundle, writable layer, cgroup) without starting it.
    async fn create(&self, spec: &SandboxSpec) -> Result<(), ProviderError>;
    /// Starts a created or stopped sandbox; returns once its `processd` answers.
    async fn start(&self, spec: &SandboxSpec) -> Result<Endpoint, ProviderError>;
    /// Stops it (SIGTERM, then SIGKILL after a grace; at once with `force`), keeping its files.
    async fn stop(&self, id: &str, force: bool) -> Result<(), ProviderError>;
    /// Removes everything of it: processes, mounts, cgroups, network, files.
    async fn delete(&self, id: &str) -> Result<(), ProviderError>;
    /// Changes the limits of a sandbox (live where the runtime can).
    async fn resize(&self, id: &str, resources: Resources) -> Result<(), ProviderError>;
    /// What the runtime knows of this sandbox now.
    async fn observe(&self, id: &str) -> Result<Observed, ProviderError>;
    /// Re-targets a started sandbox to `spec` (same id, image, user and network as the spec it
    /// was created with; a warm pool member taken by a create): records the new spec for later
    /// starts and applies its resources live. Environment variables are the caller's to apply
    /// to the running `processd` (its `/env`); from the next start on they are the sandbox's
    /// own.
    async fn reconfigure(&self, spec: &SandboxSpec) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "re-targeting the started sandbox {} (no warm pool with this provider)",
            spec.id
        )))
    }
    /// Ids of every sandbox the provider holds anything of (files, containers), so the control
    /// plane can remove those it has no record of (warm pool members of an earlier run).
    async fn list(&self) -> Result<Vec<String>, ProviderError> {
        Ok(Vec::new())
    }
    /// Gets the provider ready to create sandboxes of the default image (e.g. builds it when
    /// missing, reporting progress on the console). Called once when `sandboxd` starts.
    async fn prepare(&self) -> Result<(), ProviderError> {
        Ok(())
    }
    /// Releases what the provider holds beside the sandboxes (e.g. spare disk layers) when
    /// `sandboxd` shuts down; sandboxes keep running.
    async fn shutdown(&self) {}
    /// A short name for logs and the start banner (`runc`, `unisolated-test`).
    fn name(&self) -> &'static str;
}
