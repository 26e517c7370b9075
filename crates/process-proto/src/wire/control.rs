//! The control-plane wire (Daytona's `/api/sandbox…` REST API, the subset the official SDKs use):
//! [`SandboxDto`] (the `Sandbox` DTO every lifecycle call returns), [`SandboxState`],
//! [`CreateSandbox`], [`ListSandboxesResponse`], [`ResizeSandbox`], [`SandboxLabels`], [`Url`]
//! and the control plane's error envelope [`ControlError`].
//!
//! Spec: `daytona-control-plane-wire.md` §4–§6. The Python SDK validates responses strictly
//! (§2.5): every key it requires is always written here (`!` keys of §4.1), integers stay JSON
//! integers, and optional keys are omitted when `None`. On read everything is lenient: unknown
//! keys are ignored, unknown states kept in [`SandboxState::Other`], absent maps read as empty.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::serde_util::null_as_default;

/// The organization id a self-hosted control plane reports (there is one tenant).
pub const LOCAL_ORGANIZATION: &str = "local";
/// The target (region) a self-hosted control plane reports.
pub const LOCAL_TARGET: &str = "local";
/// The label that selects `code_run`'s language (`python`, `typescript`, `javascript`).
pub const LANGUAGE_LABEL: &str = "code-toolbox-language";

/// `SandboxState` (spec §4.4). Unknown values read as [`SandboxState::Other`], never an error.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SandboxState {
    /// `creating`
    Creating,
    /// `restoring`
    Restoring,
    /// `destroyed`
    Destroyed,
    /// `destroying`
    Destroying,
    /// `started`
    Started,
    /// `stopped`
    Stopped,
    /// `starting`
    Starting,
    /// `stopping`
    Stopping,
    /// `error` (see [`SandboxDto::error_reason`])
    Error,
    /// `build_failed`
    BuildFailed,
    /// `pending_build`
    PendingBuild,
    /// `building_snapshot`
    BuildingSnapshot,
    /// `unknown`
    Unknown,
    /// `pulling_snapshot`
    PullingSnapshot,
    /// `archived`
    Archived,
    /// `archiving`
    Archiving,
    /// `resizing`
    Resizing,
    /// `snapshotting`
    Snapshotting,
    /// `forking`
    Forking,
    /// `pausing`
    Pausing,
    /// `paused`
    Paused,
    /// `resuming`
    Resuming,
    /// Any other value, kept verbatim.
    Other(String),
}

impl SandboxState {
    const NAMES: [(&'static str, SandboxState); 22] = [
        ("creating", SandboxState::Creating),
        ("restoring", SandboxState::Restoring),
        ("destroyed", SandboxState::Destroyed),
        ("destroying", SandboxState::Destroying),
        ("started", SandboxState::Started),
        ("stopped", SandboxState::Stopped),
        ("starting", SandboxState::Starting),
        ("stopping", SandboxState::Stopping),
        ("error", SandboxState::Error),
        ("build_failed", SandboxState::BuildFailed),
        ("pending_build", SandboxState::PendingBuild),
        ("building_snapshot", SandboxState::BuildingSnapshot),
        ("unknown", SandboxState::Unknown),
        ("pulling_snapshot", SandboxState::PullingSnapshot),
        ("archived", SandboxState::Archived),
        ("archiving", SandboxState::Archiving),
        ("resizing", SandboxState::Resizing),
        ("snapshotting", SandboxState::Snapshotting),
        ("forking", SandboxState::Forking),
        ("pausing", SandboxState::Pausing),
        ("paused", SandboxState::Paused),
        ("resuming", SandboxState::Resuming),
    ];

    /// The wire spelling (`"started"`, `"build_failed"`, …).
    pub fn as_str(&self) -> &str {
        if let SandboxState::Other(s) = self {
            return s;
        }
        Self::NAMES
            .iter()
            .find(|(_, state)| state == self)
            .map_or("unknown", |(name, _)| name)
    }

    /// Reads a wire spelling; anything unknown becomes [`SandboxState::Other`].
    pub fn parse(s: &str) -> SandboxState {
        Self::NAMES
            .iter()
            .find(|(name, _)| *name == s)
            .map_or_else(|| SandboxState::Other(s.to_owned()), |(_, st)| st.clone())
    }

    /// Whether a sandbox in this state is in the middle of a transition (the SDK keeps waiting).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SandboxState::Creating
                | SandboxState::Restoring
                | SandboxState::Destroying
                | SandboxState::Starting
                | SandboxState::Stopping
                | SandboxState::PendingBuild
                | SandboxState::BuildingSnapshot
                | SandboxState::PullingSnapshot
                | SandboxState::Archiving
                | SandboxState::Resizing
                | SandboxState::Snapshotting
                | SandboxState::Forking
                | SandboxState::Pausing
                | SandboxState::Resuming
        )
    }
}

impl fmt::Display for SandboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SandboxState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SandboxState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(SandboxState::parse(&s))
    }
}

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

/// `buildInfo` of a create request: `{"dockerfileContent", "contextHashes"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BuildInfo {
    /// The Dockerfile text; a string image `x` is sent as `FROM x\n`.
    pub dockerfile_content: String,
    /// Hashes of uploaded build contexts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_hashes: Option<Vec<String>>,
}

impl BuildInfo {
    /// The build info the SDKs send for a plain image reference: `FROM <image>\n`.
    pub fn from_image(image: &str) -> BuildInfo {
        BuildInfo {
            dockerfile_content: format!("FROM {image}\n"),
            context_hashes: None,
        }
    }

    /// The image reference when the Dockerfile is exactly `FROM <ref>` (what a string image
    /// becomes); `None` for anything that needs a real build.
    pub fn plain_image(&self) -> Option<&str> {
        if self.context_hashes.as_ref().is_some_and(|h| !h.is_empty()) {
            return None;
        }
        let text = self.dockerfile_content.trim();
        let reference = text.strip_prefix("FROM ")?.trim();
        (!reference.is_empty() && !reference.contains(char::is_whitespace)).then_some(reference)
    }
}

/// `POST /sandbox` body (spec §5.1.1). Every key is optional; unknown keys are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateSandbox {
    /// Unique name (default: the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Snapshot id or name (absent: the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// A declarative image (`FROM <ref>\n` for a string image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_info: Option<BuildInfo>,
    /// OS user (default `daytona`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Environment variables.
    #[serde(default, deserialize_with = "null_as_default")]
    pub env: BTreeMap<String, String>,
    /// Labels.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Public preview URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// Block all network access but loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_block_all: Option<bool>,
    /// Comma-separated IPv4 CIDRs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_allow_list: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// vCPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
    /// GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<i64>,
    /// Memory in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Disk in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<i64>,
    /// Minutes of inactivity before auto-stop (default 15; 0 = never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_stop_interval: Option<i64>,
    /// Minutes stopped before auto-archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_archive_interval: Option<i64>,
    /// Minutes stopped before auto-delete (negative = never, 0 = on stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_delete_interval: Option<i64>,
    /// Volume mounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<SandboxVolume>>,
}

impl CreateSandbox {
    /// An empty request (the default image, default resources), with the language label the
    /// SDKs always send.
    pub fn new() -> CreateSandbox {
        let mut labels = BTreeMap::new();
        labels.insert(LANGUAGE_LABEL.to_owned(), "python".to_owned());
        CreateSandbox {
            labels,
            ..CreateSandbox::default()
        }
    }
}

/// `POST /sandbox/{id}/resize` body: only the given keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResizeSandbox {
    /// vCPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
    /// Memory in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Disk in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<i64>,
    /// GPUs (never supported locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<i64>,
}

impl ResizeSandbox {
    /// A resize to the given cpu and memory (either may be `None`).
    pub fn new(cpu: Option<i64>, memory: Option<i64>) -> ResizeSandbox {
        ResizeSandbox {
            cpu,
            memory,
            ..ResizeSandbox::default()
        }
    }
}

/// `PUT /sandbox/{id}/labels` body and the part of its answer the SDK reads: `{"labels"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct SandboxLabels {
    /// All labels (replaces the previous set).
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
}

impl SandboxLabels {
    /// A label set.
    pub fn new(labels: BTreeMap<String, String>) -> Self {
        SandboxLabels { labels }
    }
}

/// `{"url"}`: the answer of `GET /sandbox/{id}/toolbox-proxy-url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Url {
    /// The URL.
    pub url: String,
}

impl Url {
    /// A URL answer.
    pub fn new(url: impl Into<String>) -> Self {
        Url { url: url.into() }
    }
}

/// The control plane's error envelope (spec §2.6), on every non-2xx answer:
/// `{"path", "timestamp", "statusCode", "error", "message", "code"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ControlError {
    /// The request path.
    #[serde(default)]
    pub path: String,
    /// When (ISO 8601).
    #[serde(default)]
    pub timestamp: String,
    /// The HTTP status.
    #[serde(default)]
    pub status_code: u16,
    /// The status's reason phrase (`Not Found`).
    #[serde(default)]
    pub error: String,
    /// What went wrong, for a person.
    #[serde(default, deserialize_with = "message_text")]
    pub message: String,
    /// A machine-readable code, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl ControlError {
    /// An envelope.
    pub fn new(
        path: impl Into<String>,
        timestamp: impl Into<String>,
        status_code: u16,
        error: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ControlError {
            path: path.into(),
            timestamp: timestamp.into(),
            status_code,
            error: error.into(),
            message: message.into(),
            code: None,
        }
    }
}

/// NestJS sends validation messages as an array; join them as the hosted API's filter does.
fn message_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Message {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Message>::deserialize(d)? {
        None => String::new(),
        Some(Message::One(s)) => s,
        Some(Message::Many(v)) => v.join(", "),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_unknown_is_kept() {
        for (name, state) in &SandboxState::NAMES {
            assert_eq!(&SandboxState::parse(name), state);
            assert_eq!(state.as_str(), *name);
        }
        assert_eq!(
            SandboxState::parse("frozen"),
            SandboxState::Other("frozen".into())
        );
        assert_eq!(SandboxState::Other("frozen".into()).as_str(), "frozen");
    }

    #[test]
    fn sandbox_writes_every_key_the_python_sdk_requires() {
        let sb = SandboxDto::new("sbx-1", "http://127.0.0.1:3000/toolbox");
        let v = serde_json::to_value(&sb).unwrap();
        for key in [
            "id",
            "organizationId",
            "name",
            "user",
            "env",
            "labels",
            "public",
            "networkBlockAll",
            "kvm",
            "target",
            "cpu",
            "gpu",
            "memory",
            "disk",
            "toolboxProxyUrl",
        ] {
            assert!(v.get(key).is_some_and(|x| !x.is_null()), "missing {key}");
        }
        assert!(v["cpu"].is_u64(), "cpu must be a JSON integer");
        assert!(v.get("state").is_none(), "None keys are omitted");
    }

    #[test]
    fn list_item_without_env_and_kvm_reads() {
        let item = r#"{"id": "a", "organizationId": "o", "name": "a", "user": "daytona",
            "labels": {}, "public": false, "networkBlockAll": false, "target": "t",
            "cpu": 2.0, "gpu": 0, "memory": 4, "disk": 3, "state": "frozen",
            "toolboxProxyUrl": "u", "extra": 1}"#;
        let sb: SandboxDto = serde_json::from_str(item).unwrap();
        assert_eq!(sb.cpu, 2);
        assert!(sb.env.is_empty());
        assert_eq!(sb.state(), SandboxState::Other("frozen".into()));
    }

    #[test]
    fn plain_image_is_recognised_only_for_a_bare_from() {
        assert_eq!(
            BuildInfo::from_image("debian:12.9").plain_image(),
            Some("debian:12.9")
        );
        let built = BuildInfo {
            dockerfile_content: "FROM x\nRUN y\n".into(),
            context_hashes: None,
        };
        assert_eq!(built.plain_image(), None);
    }

    #[test]
    fn error_envelope_joins_array_messages() {
        let e: ControlError =
            serde_json::from_str(r#"{"statusCode": 400, "message": ["a", "b"]}"#).unwrap();
        assert_eq!(e.message, "a, b");
    }

    #[test]
    fn create_request_matches_the_python_sdk_shape() {
        let body = r#"{"env": {"DEBUG": "true"}, "labels": {"code-toolbox-language": "python"}, "cpu": 2, "memory": 4, "autoStopInterval": 15, "volumes": [], "buildInfo": {"dockerfileContent": "FROM debian:12.9\n"}}"#;
        let req: CreateSandbox = serde_json::from_str(body).unwrap();
        assert_eq!(req.cpu, Some(2));
        assert_eq!(req.auto_stop_interval, Some(15));
        assert_eq!(
            req.build_info.as_ref().and_then(BuildInfo::plain_image),
            Some("debian:12.9")
        );
    }
}
