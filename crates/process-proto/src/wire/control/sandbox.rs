//! The `Sandbox` DTO every lifecycle call answers, its volumes, and the list page; integers
//! are read leniently (a server may write `2.0`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::{SandboxState, LOCAL_ORGANIZATION, LOCAL_TARGET};
use crate::serde_util::null_as_default;

/// A volume mount of a sandbox: `{"volumeId", "mountPath", "subpath"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SandboxVolume {
    /// Volume id or name.
    pub volume_id: String,
    /// Where it is mounted in the sandbox.
    pub mount_path: String,
    /// A sub-directory of the volume to mount instead of its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// The `Sandbox` DTO (spec §4.1): the answer of create, get, start, stop, resize and friends,
/// and (with `env` and `kvm` absent on the hosted API) the items of a list page.
///
/// Every key the Python SDK requires is always serialised; optional keys only when set.
// Named `SandboxDto` (as Daytona's TypeScript SDK imports it) so that it never reads like the
// facade's `process::Sandbox` handle; the OpenAPI schema keeps the wire name `Sandbox` (and
// this note stays out of its description).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Sandbox))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SandboxDto {
    /// Sandbox id (every later path uses it).
    pub id: String,
    /// Organization (constant [`LOCAL_ORGANIZATION`] on a self-hosted control plane).
    pub organization_id: String,
    /// Unique name among live sandboxes (defaults to the id).
    pub name: String,
    /// Snapshot or image the sandbox came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// OS user commands run as (`daytona` by default).
    pub user: String,
    /// Environment variables given at create.
    #[serde(default, deserialize_with = "null_as_default")]
    pub env: BTreeMap<String, String>,
    /// Labels, including [`LANGUAGE_LABEL`].
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Whether preview URLs need no token.
    #[serde(default)]
    pub public: bool,
    /// Whether all network access but loopback is blocked.
    #[serde(default)]
    pub network_block_all: bool,
    /// Comma-separated IPv4 CIDRs the sandbox may reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_allow_list: Option<String>,
    /// Whether `/dev/kvm` is exposed (always written: SDK 0.226.1 requires it).
    #[serde(default)]
    pub kvm: bool,
    /// Region.
    pub target: String,
    /// vCPUs.
    #[serde(deserialize_with = "lenient_u32")]
    pub cpu: u32,
    /// GPUs.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub gpu: u32,
    /// Memory in GiB.
    #[serde(deserialize_with = "lenient_u32")]
    pub memory: u32,
    /// Disk in GiB.
    #[serde(deserialize_with = "lenient_u32")]
    pub disk: u32,
    /// Current state (drives every SDK wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub state: Option<SandboxState>,
    /// The state the control plane is working towards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub desired_state: Option<SandboxState>,
    /// Why the sandbox is in `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// Whether `recover` (or `start`) can bring an errored sandbox back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recoverable: Option<bool>,
    /// Minutes of inactivity before auto-stop; 0 = never.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_i64"
    )]
    pub auto_stop_interval: Option<i64>,
    /// Minutes stopped before auto-archive.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_i64"
    )]
    pub auto_archive_interval: Option<i64>,
    /// Minutes stopped before auto-delete; negative = never, 0 = delete on stop.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_i64"
    )]
    pub auto_delete_interval: Option<i64>,
    /// Volume mounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<SandboxVolume>>,
    /// `container`, `linux-vm` or `windows`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_class: Option<String>,
    /// Version of the toolbox daemon inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_version: Option<String>,
    /// Creation time (ISO 8601, `…Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Last change (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Last activity (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<String>,
    /// Base of every toolbox call (`{toolboxProxyUrl}/{id}/…`), without a trailing slash.
    #[serde(default)]
    pub toolbox_proxy_url: String,
}

impl SandboxDto {
    /// A DTO with the given id (also its name), the local organization and target, user
    /// `daytona`, resources 1 vCPU / 1 GiB / 3 GiB and nothing else set.
    pub fn new(id: impl Into<String>, toolbox_proxy_url: impl Into<String>) -> SandboxDto {
        let id = id.into();
        SandboxDto {
            name: id.clone(),
            id,
            organization_id: LOCAL_ORGANIZATION.to_owned(),
            snapshot: None,
            user: "daytona".to_owned(),
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            public: false,
            network_block_all: false,
            network_allow_list: None,
            kvm: false,
            target: LOCAL_TARGET.to_owned(),
            cpu: 1,
            gpu: 0,
            memory: 1,
            disk: 3,
            state: None,
            desired_state: None,
            error_reason: None,
            recoverable: None,
            auto_stop_interval: None,
            auto_archive_interval: None,
            auto_delete_interval: None,
            volumes: None,
            sandbox_class: None,
            daemon_version: None,
            created_at: None,
            updated_at: None,
            last_activity_at: None,
            toolbox_proxy_url: toolbox_proxy_url.into(),
        }
    }

    /// The state, [`SandboxState::Unknown`] when absent.
    pub fn state(&self) -> SandboxState {
        self.state.clone().unwrap_or(SandboxState::Unknown)
    }
}

/// `GET /sandbox` answer (spec §4.2): `{"items", "nextCursor"?}`. The SDK follows `nextCursor`
/// until it is absent, `null` or empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ListSandboxesResponse {
    /// One page of sandboxes.
    pub items: Vec<SandboxDto>,
    /// Opaque cursor of the next page (sent back verbatim as `cursor`); `None` = last page.
    /// Always written (as `null` on the last page).
    #[serde(default)]
    pub next_cursor: Option<String>,
}

impl ListSandboxesResponse {
    /// A page.
    pub fn new(items: Vec<SandboxDto>, next_cursor: Option<String>) -> Self {
        ListSandboxesResponse { items, next_cursor }
    }
}

/// Reads an integer that a server may have written as `2.0`.
fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = Option::<f64>::deserialize(d)?.unwrap_or(0.0);
    if n < 0.0 || n > f64::from(u32::MAX) {
        return Err(serde::de::Error::custom(format!("{n} is out of range")));
    }
    Ok(n as u32)
}

/// Reads an optional integer that may be written as a float (`autoStopInterval: 15.0`).
fn lenient_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.map(|n| n as i64))
}
