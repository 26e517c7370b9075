//! Interpreter contexts: REST bodies ([`CreateContextRequest`], [`InterpreterContext`],
//! [`ListContextsResponse`]) and the execute WebSocket's messages ([`InterpreterRequest`],
//! [`InterpreterFrame`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::chart::Chart;
use crate::serde_util::null_as_default;

/// The id of the context every daemon pre-creates.
pub const DEFAULT_CONTEXT_ID: &str = "default";
/// `text` of the final control frame of a job that ran to completion (or raised).
pub const CONTROL_COMPLETED: &str = "completed";
/// `text` of the final control frame of an interrupted (timed-out) job.
pub const CONTROL_INTERRUPTED: &str = "interrupted";
/// Timeout applied when an [`InterpreterRequest`] has none, in seconds.
pub const DEFAULT_TIMEOUT_SECS: i64 = 600;

/// `POST /process/interpreter/context` body: `{"cwd"?, "language"?}` (only `python`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct CreateContextRequest {
    /// Working directory (default: the daemon's work dir).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Language (default and only accepted value: `python`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl CreateContextRequest {
    /// A request with every option at its default (`{}`).
    pub fn new() -> Self {
        CreateContextRequest::default()
    }

    /// Sets the working directory.
    #[must_use]
    pub fn with_cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Sets the language.
    #[must_use]
    pub fn with_language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }
}

/// An interpreter context: `{"id", "cwd", "createdAt", "active", "language"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InterpreterContext {
    /// Context id (UUID, or `default`).
    pub id: String,
    /// Working directory.
    pub cwd: String,
    /// Creation time, RFC 3339 with nanoseconds, formatted by the caller.
    pub created_at: String,
    /// Whether the worker is running.
    pub active: bool,
    /// Always `python`.
    pub language: String,
}

/// A context names itself by its id, so APIs that take a context id (`impl AsRef<str>`) take
/// the context too.
impl AsRef<str> for InterpreterContext {
    fn as_ref(&self) -> &str {
        &self.id
    }
}

impl InterpreterContext {
    /// A context record.
    pub fn new(
        id: impl Into<String>,
        cwd: impl Into<String>,
        created_at: impl Into<String>,
        active: bool,
        language: impl Into<String>,
    ) -> Self {
        InterpreterContext {
            id: id.into(),
            cwd: cwd.into(),
            created_at: created_at.into(),
            active,
            language: language.into(),
        }
    }
}

/// `GET /process/interpreter/context` answer: `{"contexts": [InterpreterContext]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct ListContextsResponse {
    /// Contexts other than `default`, in no particular order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub contexts: Vec<InterpreterContext>,
}

impl ListContextsResponse {
    /// A list answer.
    pub fn new(contexts: Vec<InterpreterContext>) -> Self {
        ListContextsResponse { contexts }
    }
}

/// The first (text) message of `GET /process/interpreter/execute`:
/// `{"code", "contextId"?, "envs"?, "timeout"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InterpreterRequest {
    /// Python source (non-empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub code: String,
    /// Context to run in (default: `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_id: Option<String>,
    /// Environment applied for the duration of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envs: Option<BTreeMap<String, String>>,
    /// Seconds; absent = 600, 0 = none, negative is rejected (close 1008).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

impl InterpreterRequest {
    /// A request running `code` in the default context.
    pub fn new(code: impl Into<String>) -> Self {
        InterpreterRequest {
            code: code.into(),
            context_id: None,
            envs: None,
            timeout: None,
        }
    }

    /// Sets the context id.
    #[must_use]
    pub fn with_context_id(mut self, id: impl Into<String>) -> Self {
        self.context_id = Some(id.into());
        self
    }

    /// Replaces the environment.
    #[must_use]
    pub fn with_envs(mut self, envs: BTreeMap<String, String>) -> Self {
        self.envs = Some(envs);
        self
    }

    /// Sets the timeout in seconds.
    #[must_use]
    pub fn with_timeout(mut self, seconds: i64) -> Self {
        self.timeout = Some(seconds);
        self
    }
}

/// The `type` of an [`InterpreterFrame`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InterpreterFrameType {
    /// `stdout`: `text` holds written text.
    Stdout,
    /// `stderr`: `text` holds written text.
    Stderr,
    /// `error`: `name`, `value`, `traceback` describe an uncaught exception.
    Error,
    /// `control`: `text` is `completed` or `interrupted`; always the last frame of a job.
    Control,
    /// `chart` (our extension, ignored by the SDK): the frame's `chart` field holds a chart.
    Chart,
    /// Any other type, verbatim.
    Unknown(String),
}

impl InterpreterFrameType {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            InterpreterFrameType::Stdout => "stdout",
            InterpreterFrameType::Stderr => "stderr",
            InterpreterFrameType::Error => "error",
            InterpreterFrameType::Control => "control",
            InterpreterFrameType::Chart => "chart",
            InterpreterFrameType::Unknown(s) => s,
        }
    }

    /// Parses the wire spelling; anything else is [`InterpreterFrameType::Unknown`].
    pub fn parse(s: &str) -> Self {
        match s {
            "stdout" => InterpreterFrameType::Stdout,
            "stderr" => InterpreterFrameType::Stderr,
            "error" => InterpreterFrameType::Error,
            "control" => InterpreterFrameType::Control,
            "chart" => InterpreterFrameType::Chart,
            other => InterpreterFrameType::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for InterpreterFrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for InterpreterFrameType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InterpreterFrameType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        Ok(InterpreterFrameType::parse(&s))
    }
}

/// One daemon → client message of the interpreter WebSocket:
/// `{"type", "text", "name", "value", "traceback"}` — all five keys always written, unused ones
/// `""`. Frames of type `chart` (our extension) also carry `"chart": {…}`; the SDK ignores
/// frames of unknown type and unknown keys (it dispatches on `type` with `chunk.get`).
///
/// ```
/// use process_proto::wire::InterpreterFrame;
/// let f = InterpreterFrame::stdout("1\n");
/// assert_eq!(f.to_json(), r#"{"type":"stdout","text":"1\n","name":"","value":"","traceback":""}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct InterpreterFrame {
    /// The frame type (wire key `type`).
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: InterpreterFrameType,
    /// Output text (`stdout`/`stderr`) or control word (`control`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub text: String,
    /// Exception class name (`error`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Exception value (`error`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
    /// Formatted traceback (`error`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub traceback: String,
    /// The chart of a `chart` frame (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub chart: Option<Chart>,
}

impl InterpreterFrame {
    fn blank(kind: InterpreterFrameType) -> Self {
        InterpreterFrame {
            kind,
            text: String::new(),
            name: String::new(),
            value: String::new(),
            traceback: String::new(),
            chart: None,
        }
    }

    /// A `stdout` frame.
    pub fn stdout(text: impl Into<String>) -> Self {
        InterpreterFrame {
            text: text.into(),
            ..Self::blank(InterpreterFrameType::Stdout)
        }
    }

    /// A `stderr` frame.
    pub fn stderr(text: impl Into<String>) -> Self {
        InterpreterFrame {
            text: text.into(),
            ..Self::blank(InterpreterFrameType::Stderr)
        }
    }

    /// An `error` frame.
    pub fn error(
        name: impl Into<String>,
        value: impl Into<String>,
        traceback: impl Into<String>,
    ) -> Self {
        InterpreterFrame {
            name: name.into(),
            value: value.into(),
            traceback: traceback.into(),
            ..Self::blank(InterpreterFrameType::Error)
        }
    }

    /// A `control` frame (`text` = [`CONTROL_COMPLETED`] or [`CONTROL_INTERRUPTED`]).
    pub fn control(text: impl Into<String>) -> Self {
        InterpreterFrame {
            text: text.into(),
            ..Self::blank(InterpreterFrameType::Control)
        }
    }

    /// A `chart` frame (extension).
    pub fn chart(chart: Chart) -> Self {
        InterpreterFrame {
            chart: Some(chart),
            ..Self::blank(InterpreterFrameType::Chart)
        }
    }

    /// Serialises to the text frame payload.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
