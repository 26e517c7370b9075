//! PTYs: REST bodies ([`PtyCreateRequest`], [`PtySessionInfo`], …), the text control messages
//! ([`PtyControl`]), the close reason ([`PtyCloseReason`], [`exit_reason`]) and the WebSocket
//! subprotocol tokens (envs token codec, SDK version token).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::close::CloseCode;
use super::error::WireError;
use crate::serde_util::null_as_default;

/// Default PTY width when none is given.
pub const DEFAULT_COLS: u16 = 80;
/// Default PTY height when none is given.
pub const DEFAULT_ROWS: u16 = 24;
/// Largest accepted `cols`/`rows`.
pub const MAX_DIMENSION: u16 = 1000;

/// `POST /process/pty` body: `{"id", "cwd"?, "envs"?, "cols"?, "rows"?, "lazyStart"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PtyCreateRequest {
    /// Session id (required, non-empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// Working directory (default: the daemon's work dir).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Environment (`TERM` defaults to `xterm-256color`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envs: Option<BTreeMap<String, String>>,
    /// Width (default 80, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cols: Option<u16>,
    /// Height (default 24, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u16>,
    /// Start the shell only when the first client connects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lazy_start: Option<bool>,
}

impl PtyCreateRequest {
    /// A request for PTY `id` with every option at its default.
    pub fn new(id: impl Into<String>) -> Self {
        PtyCreateRequest {
            id: id.into(),
            cwd: None,
            envs: None,
            cols: None,
            rows: None,
            lazy_start: None,
        }
    }

    /// Sets the working directory.
    #[must_use]
    pub fn with_cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Replaces the environment.
    #[must_use]
    pub fn with_envs(mut self, envs: BTreeMap<String, String>) -> Self {
        self.envs = Some(envs);
        self
    }

    /// Sets the size.
    #[must_use]
    pub fn with_size(mut self, cols: u16, rows: u16) -> Self {
        self.cols = Some(cols);
        self.rows = Some(rows);
        self
    }

    /// Sets `lazyStart`.
    #[must_use]
    pub fn with_lazy_start(mut self, lazy: bool) -> Self {
        self.lazy_start = Some(lazy);
        self
    }
}

/// `POST /process/pty` answer: `{"sessionId"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PtyCreateResponse {
    /// The created session's id.
    pub session_id: String,
}

impl PtyCreateResponse {
    /// An answer for `session_id`.
    pub fn new(session_id: impl Into<String>) -> Self {
        PtyCreateResponse {
            session_id: session_id.into(),
        }
    }
}

/// A PTY session: `{"id", "cwd", "envs", "cols", "rows", "createdAt", "active", "lazyStart"}`
/// (every field required by the SDK).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PtySessionInfo {
    /// Session id.
    pub id: String,
    /// Working directory.
    pub cwd: String,
    /// Environment given at creation (with the defaulted `TERM`); always an object.
    #[serde(default, deserialize_with = "null_as_default")]
    pub envs: BTreeMap<String, String>,
    /// Width.
    pub cols: u16,
    /// Height.
    pub rows: u16,
    /// Creation time, RFC 3339 with nanoseconds, formatted by the caller.
    pub created_at: String,
    /// Whether the shell is running.
    pub active: bool,
    /// Whether the session was created with `lazyStart`.
    #[serde(default)]
    pub lazy_start: bool,
}

impl PtySessionInfo {
    /// A session record.
    #[allow(clippy::too_many_arguments)] // mirrors the wire object; all fields required
    pub fn new(
        id: impl Into<String>,
        cwd: impl Into<String>,
        envs: BTreeMap<String, String>,
        cols: u16,
        rows: u16,
        created_at: impl Into<String>,
        active: bool,
        lazy_start: bool,
    ) -> Self {
        PtySessionInfo {
            id: id.into(),
            cwd: cwd.into(),
            envs,
            cols,
            rows,
            created_at: created_at.into(),
            active,
            lazy_start,
        }
    }
}

/// `GET /process/pty` answer: `{"sessions": [PtySessionInfo]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct PtyListResponse {
    /// Live sessions, in no particular order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub sessions: Vec<PtySessionInfo>,
}

impl PtyListResponse {
    /// A list answer.
    pub fn new(sessions: Vec<PtySessionInfo>) -> Self {
        PtyListResponse { sessions }
    }
}

/// `POST /process/pty/{id}/resize` body: `{"cols", "rows"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct PtyResizeRequest {
    /// New width.
    pub cols: u16,
    /// New height.
    pub rows: u16,
}

impl PtyResizeRequest {
    /// A resize to `cols` × `rows`.
    pub fn new(cols: u16, rows: u16) -> Self {
        PtyResizeRequest { cols, rows }
    }
}

/// A text control message of the PTY WebSocket:
/// `{"type":"control","status":"connected"|"error"|"exited", "error"?, "exitCode"?, "exitReason"?}`.
///
/// ```
/// use process_proto::wire::PtyControl;
/// let exited = PtyControl::Exited { exit_code: 130, exit_reason: Some("Ctrl+C".into()) };
/// let text = exited.to_json();
/// assert_eq!(text, r#"{"type":"control","status":"exited","exitCode":130,"exitReason":"Ctrl+C"}"#);
/// assert_eq!(PtyControl::parse(&text), Some(exited));
/// assert_eq!(PtyControl::parse("plain output"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PtyControl {
    /// Sent once per attach, before any output.
    Connected,
    /// Connect/start failure; followed by close 1011.
    Error {
        /// The message.
        error: String,
    },
    /// The shell exited (only to clients that offered [`PTY_EXIT_CONTROL_PROTOCOL`]).
    Exited {
        /// Exit status.
        exit_code: i32,
        /// Reason for non-zero codes (see [`exit_reason`]).
        exit_reason: Option<String>,
    },
    /// A control message with another status (kept verbatim).
    Unknown {
        /// The status value.
        status: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawControl {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exit_reason: Option<String>,
}

impl PtyControl {
    /// The `exited` message for `exit_code`, with the reason of [`exit_reason`].
    pub fn exited(exit_code: i32) -> Self {
        PtyControl::Exited {
            exit_code,
            exit_reason: exit_reason(exit_code),
        }
    }

    /// Serialises to the text frame payload.
    pub fn to_json(&self) -> String {
        let raw = match self {
            PtyControl::Connected => RawControl {
                kind: "control".into(),
                status: "connected".into(),
                error: None,
                exit_code: None,
                exit_reason: None,
            },
            PtyControl::Error { error } => RawControl {
                kind: "control".into(),
                status: "error".into(),
                error: Some(error.clone()),
                exit_code: None,
                exit_reason: None,
            },
            PtyControl::Exited {
                exit_code,
                exit_reason,
            } => RawControl {
                kind: "control".into(),
                status: "exited".into(),
                error: None,
                exit_code: Some(*exit_code),
                exit_reason: exit_reason.clone(),
            },
            PtyControl::Unknown { status } => RawControl {
                kind: "control".into(),
                status: status.clone(),
                error: None,
                exit_code: None,
                exit_reason: None,
            },
        };
        serde_json::to_string(&raw).unwrap_or_default()
    }

    /// Reads a text frame; `None` if it is not a control message (JSON object with
    /// `"type":"control"`) — the SDK delivers such frames as output.
    ///
    /// Like the SDK, an `exited` message whose `exitCode` is missing or not an integer still
    /// counts as `exited` (with code -1 here).
    pub fn parse(text: &str) -> Option<Self> {
        Self::decode(text.as_bytes()).ok()
    }

    /// Like [`parse`](Self::parse) with an error saying why the text is not a control message.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| WireError::json("PtyControl", &e))?;
        if value.get("type").and_then(serde_json::Value::as_str) != Some("control") {
            return Err(WireError::Shape {
                what: "PtyControl",
                message: "no \"type\":\"control\"".into(),
            });
        }
        let str_field = |k: &str| value.get(k).and_then(serde_json::Value::as_str);
        let status = str_field("status").unwrap_or_default();
        Ok(match status {
            "connected" => PtyControl::Connected,
            "error" => PtyControl::Error {
                error: str_field("error").unwrap_or_default().to_owned(),
            },
            "exited" => PtyControl::Exited {
                exit_code: value
                    .get("exitCode")
                    .and_then(serde_json::Value::as_i64)
                    .and_then(|c| i32::try_from(c).ok())
                    .unwrap_or(-1),
                exit_reason: str_field("exitReason").map(str::to_owned),
            },
            other => PtyControl::Unknown {
                status: other.to_owned(),
            },
        })
    }
}

/// The `exitReason` for an exit status (spec §5.3): `None` for 0, `Ctrl+C` for 130, `SIGKILL`
/// for 137, `SIGTERM` for 143, `signal <n-128>` for other codes above 128, else `non-zero exit`.
///
/// ```
/// use process_proto::wire::exit_reason;
/// assert_eq!(exit_reason(0), None);
/// assert_eq!(exit_reason(129).as_deref(), Some("signal 1"));
/// assert_eq!(exit_reason(-1).as_deref(), Some("non-zero exit"));
/// ```
pub fn exit_reason(exit_code: i32) -> Option<String> {
    match exit_code {
        0 => None,
        130 => Some("Ctrl+C".to_owned()),
        137 => Some("SIGKILL".to_owned()),
        143 => Some("SIGTERM".to_owned()),
        c if c > 128 => Some(format!("signal {}", c - 128)),
        _ => Some("non-zero exit".to_owned()),
    }
}

/// The JSON close reason of a PTY WebSocket: `{"exitCode":N[,"exitReason":"…"]}`.
///
/// ```
/// use process_proto::wire::{PtyCloseReason, close::CloseCode};
/// let r = PtyCloseReason::for_exit(137);
/// assert_eq!(r.to_json(), r#"{"exitCode":137,"exitReason":"SIGKILL"}"#);
/// assert_eq!(r.close_code(), CloseCode::INTERNAL);
/// assert_eq!(PtyCloseReason::for_exit(0).to_json(), r#"{"exitCode":0}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PtyCloseReason {
    /// Exit status.
    pub exit_code: i32,
    /// Reason (non-zero codes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<String>,
}

impl PtyCloseReason {
    /// The reason for `exit_code` with the [`exit_reason`] rule.
    pub fn for_exit(exit_code: i32) -> Self {
        PtyCloseReason {
            exit_code,
            exit_reason: exit_reason(exit_code),
        }
    }

    /// A reason with an explicit text (e.g. `process error`).
    pub fn new(exit_code: i32, exit_reason: Option<String>) -> Self {
        PtyCloseReason {
            exit_code,
            exit_reason,
        }
    }

    /// The close code that goes with it: 1000 for exit 0, else 1011.
    pub fn close_code(&self) -> CloseCode {
        if self.exit_code == 0 {
            CloseCode::NORMAL
        } else {
            CloseCode::INTERNAL
        }
    }

    /// Serialises to the close-frame reason (fits in 123 bytes for any reason this crate
    /// produces).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a close reason; `None` if it is not JSON with an integer `exitCode`.
    pub fn parse(reason: &str) -> Option<Self> {
        serde_json::from_str(reason).ok()
    }
}

/// Subprotocol offered by clients that want the `exited` control message.
pub const PTY_EXIT_CONTROL_PROTOCOL: &str = "X-Daytona-Pty-Exit-Control";
/// Prefix of the subprotocol carrying the PTY environment: `X-Daytona-Pty-Envs~<b64>`.
pub const PTY_ENVS_PROTOCOL_PREFIX: &str = "X-Daytona-Pty-Envs~";
/// Prefix of the subprotocol carrying the SDK version: `X-Daytona-SDK-Version~<version>`.
pub const SDK_VERSION_PROTOCOL_PREFIX: &str = "X-Daytona-SDK-Version~";
/// Longest accepted base64 part of an envs token.
pub const MAX_ENVS_TOKEN_LEN: usize = 65_536;

/// An envs subprotocol token could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvsTokenError {
    /// The token does not start with `X-Daytona-Pty-Envs~`.
    #[error("not an envs token: it must start with {PTY_ENVS_PROTOCOL_PREFIX}")]
    MissingPrefix,
    /// The encoded part is longer than the limit.
    #[error("envs token is {len} characters long; at most {MAX_ENVS_TOKEN_LEN} are allowed")]
    TooLong {
        /// Length of the base64 part.
        len: usize,
    },
    /// The encoded part is not unpadded base64url.
    #[error("envs token is not unpadded base64url: {0}")]
    Base64(String),
    /// The decoded bytes are not a JSON object of strings.
    #[error("envs token is not a JSON object of strings: {0}")]
    Json(String),
    /// A key is empty or contains `=`, NUL, CR or LF.
    #[error(
        "invalid environment variable name {0:?}: it must be non-empty without '=', NUL, CR or LF"
    )]
    InvalidKey(String),
}

fn check_env_key(key: &str) -> Result<(), EnvsTokenError> {
    if key.is_empty() || key.contains(['=', '\0', '\r', '\n']) {
        return Err(EnvsTokenError::InvalidKey(key.to_owned()));
    }
    Ok(())
}

/// Encodes a PTY environment as a full subprotocol token `X-Daytona-Pty-Envs~<b64>`
/// (base64url without padding of the JSON object).
///
/// ```
/// use std::collections::BTreeMap;
/// use process_proto::wire::{encode_envs_token, decode_envs_token};
/// let envs = BTreeMap::from([("A".to_string(), "1".to_string())]);
/// let token = encode_envs_token(&envs).unwrap();
/// assert_eq!(token, "X-Daytona-Pty-Envs~eyJBIjoiMSJ9");
/// assert_eq!(decode_envs_token(&token).unwrap(), envs);
/// ```
pub fn encode_envs_token(envs: &BTreeMap<String, String>) -> Result<String, EnvsTokenError> {
    for key in envs.keys() {
        check_env_key(key)?;
    }
    let json = serde_json::to_vec(envs).map_err(|e| EnvsTokenError::Json(e.to_string()))?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    if b64.len() > MAX_ENVS_TOKEN_LEN {
        return Err(EnvsTokenError::TooLong { len: b64.len() });
    }
    Ok(format!("{PTY_ENVS_PROTOCOL_PREFIX}{b64}"))
}

/// Decodes a full envs subprotocol token (`X-Daytona-Pty-Envs~<b64>`) with the daemon's rules.
pub fn decode_envs_token(token: &str) -> Result<BTreeMap<String, String>, EnvsTokenError> {
    let b64 = token
        .strip_prefix(PTY_ENVS_PROTOCOL_PREFIX)
        .ok_or(EnvsTokenError::MissingPrefix)?;
    if b64.len() > MAX_ENVS_TOKEN_LEN {
        return Err(EnvsTokenError::TooLong { len: b64.len() });
    }
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|e| EnvsTokenError::Base64(e.to_string()))?;
    let envs: BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|e| EnvsTokenError::Json(e.to_string()))?;
    for key in envs.keys() {
        check_env_key(key)?;
    }
    Ok(envs)
}

/// Splits `Sec-WebSocket-Protocol` header values into tokens (comma-split, trimmed, empty
/// tokens skipped), in offer order.
pub fn subprotocols<'a, I>(header_values: I) -> impl Iterator<Item = &'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    header_values
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The PTY environment offered in `Sec-WebSocket-Protocol` header values: the first
/// `X-Daytona-Pty-Envs~` token wins; none → empty map.
pub fn envs_from_subprotocols<'a, I>(
    header_values: I,
) -> Result<BTreeMap<String, String>, EnvsTokenError>
where
    I: IntoIterator<Item = &'a str>,
{
    match subprotocols(header_values).find(|t| t.starts_with(PTY_ENVS_PROTOCOL_PREFIX)) {
        Some(token) => decode_envs_token(token),
        None => Ok(BTreeMap::new()),
    }
}

/// Whether the client offered [`PTY_EXIT_CONTROL_PROTOCOL`].
pub fn offers_exit_control<'a, I>(header_values: I) -> bool
where
    I: IntoIterator<Item = &'a str>,
{
    subprotocols(header_values).any(|t| t == PTY_EXIT_CONTROL_PROTOCOL)
}

/// The SDK version from an `X-Daytona-SDK-Version~<v>` token, if offered.
pub fn sdk_version_from_subprotocols<'a, I>(header_values: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    subprotocols(header_values).find_map(|t| t.strip_prefix(SDK_VERSION_PROTOCOL_PREFIX))
}
