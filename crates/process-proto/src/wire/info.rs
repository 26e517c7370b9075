//! Info, port and system endpoints (spec toolbox §6.1): [`DirResponse`] (`/user-home-dir`,
//! `/project-dir`, `/work-dir`), [`VersionResponse`], [`InitRequest`], [`MessageResponse`],
//! [`UpdateEnvRequest`] (`POST /env`),
//! [`PortList`], [`IsPortInUseResponse`], [`SystemMetrics`]. Plain data, fields public.

use serde::{Deserialize, Serialize};

use crate::serde_util::null_as_default;

/// `{"dir": string}`: `GET /user-home-dir`, `/project-dir`, `/work-dir`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirResponse {
    /// The directory.
    #[serde(default)]
    pub dir: String,
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionResponse {
    /// The daemon's build version.
    #[serde(default)]
    pub version: String,
}

/// `POST /init` (runner only).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InitRequest {
    /// Auth token.
    #[serde(default)]
    pub token: String,
}

/// `{"message": string}`, the answer of `POST /init`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageResponse {
    /// What happened.
    #[serde(default)]
    pub message: String,
}

/// `POST /env` (`sandbox.update_env`): changes the environment processes started afterwards
/// inherit (exec, code-run, sessions, PTYs, interpreter contexts); running ones keep theirs.
/// Applied in order: `unset`, then `unsetValuePrefix`, then `set`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateEnvRequest {
    /// Variables to set (name → value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<std::collections::BTreeMap<String, String>>,
    /// Names to remove before `set` is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unset: Option<Vec<String>>,
    /// Removes every variable whose value starts with this prefix and whose name is not a key
    /// of `set` (the runner reconciles secret placeholders with it).
    #[serde(
        default,
        rename = "unsetValuePrefix",
        skip_serializing_if = "Option::is_none"
    )]
    pub unset_value_prefix: Option<String>,
}

/// `GET /port`: TCP ports in LISTEN state (IPv4 and IPv6), ascending.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortList {
    /// The ports.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ports: Vec<u16>,
}

/// `GET /port/{port}/in-use`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IsPortInUseResponse {
    /// Whether something listens on the port.
    pub is_in_use: bool,
}

/// The range `GET /port/{port}/in-use` accepts (as the official daemon).
pub const PORT_CHECK_RANGE: std::ops::RangeInclusive<u16> = 3000..=9999;

/// `GET /system/metrics` (every field optional for the SDK; ours always sends all).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SystemMetrics {
    /// Logical CPUs.
    #[serde(default)]
    pub cpu_count: u64,
    /// CPU use in percent since the previous sample.
    #[serde(default)]
    pub cpu_used_pct: f64,
    /// Memory in bytes.
    #[serde(default)]
    pub mem_total: u64,
    /// Used memory in bytes (total − available).
    #[serde(default)]
    pub mem_used: u64,
    /// Page cache in bytes.
    #[serde(default)]
    pub mem_cache: u64,
    /// Size of the file system holding the work dir, in bytes.
    #[serde(default)]
    pub disk_total: u64,
    /// Used bytes of that file system.
    #[serde(default)]
    pub disk_used: u64,
    /// Free bytes of that file system (available to the daemon user).
    #[serde(default)]
    pub disk_free: u64,
    /// RFC 3339 time of the sample.
    #[serde(default)]
    pub timestamp: String,
    /// Unix seconds of the sample.
    #[serde(default)]
    pub timestamp_unix: i64,
}
