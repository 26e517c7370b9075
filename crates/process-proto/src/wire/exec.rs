//! One-shot execution: `POST /process/execute` ([`ExecuteRequest`], [`ExecuteResponse`]) and
//! `POST /process/code-run` ([`CodeRunRequest`], [`CodeRunResponse`], [`Language`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::chart::Chart;
use crate::serde_util::null_as_default;

/// `POST /process/execute` body: `{"command", "cwd"?, "envs"?, "timeout"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct ExecuteRequest {
    /// Shell command text (written to the shell's stdin by the daemon). Must not be blank.
    pub command: String,
    /// Working directory; absent or empty = the daemon's work dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Extra environment variables (keys must match `^[A-Za-z_][A-Za-z0-9_]*$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envs: Option<BTreeMap<String, String>>,
    /// Timeout in seconds; absent or 0 = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Our addition: `true` asks for `stdout` and `stderr` separately in the response (read from
    /// two pipes, so `result` may then order output written to both at the same instant either
    /// way). Absent or `false`: one pipe for both, `result` in exact write order, as the
    /// original daemon.
    #[serde(
        default,
        rename = "splitOutput",
        skip_serializing_if = "Option::is_none"
    )]
    pub split_output: Option<bool>,
}

impl ExecuteRequest {
    /// A request running `command` with no cwd, env or timeout.
    pub fn new(command: impl Into<String>) -> Self {
        ExecuteRequest {
            command: command.into(),
            cwd: None,
            envs: None,
            timeout: None,
            split_output: None,
        }
    }

    /// Asks for `stdout` and `stderr` separately (our addition; see [`Self::split_output`]).
    #[must_use]
    pub fn with_split_output(mut self, split: bool) -> Self {
        self.split_output = Some(split);
        self
    }

    /// Sets the working directory.
    #[must_use]
    pub fn with_cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Adds one environment variable.
    #[must_use]
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.envs
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// Replaces the environment map.
    #[must_use]
    pub fn with_envs(mut self, envs: BTreeMap<String, String>) -> Self {
        self.envs = Some(envs);
        self
    }

    /// Sets the timeout in seconds (0 = none).
    #[must_use]
    pub fn with_timeout(mut self, seconds: u32) -> Self {
        self.timeout = Some(seconds);
        self
    }
}

/// The fields our daemon adds to exec/code-run responses (all optional, ignored by the SDK).
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Additive {
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    stderr: Option<String>,
    #[serde(default)]
    timed_out: Option<bool>,
    #[serde(default)]
    truncated: Option<bool>,
    #[serde(default)]
    total_bytes: Option<u64>,
}

/// `POST /process/execute` success body: `{"exitCode", "result"}` plus additive fields.
///
/// `result` is stdout and stderr interleaved. Our daemon may add `stdout`/`stderr` (split
/// streams), `timedOut`, `truncated` and `totalBytes` (output bounding); official daemons never
/// send them and the SDK ignores them.
///
/// Reading accepts the legacy `code` when `exitCode` is absent, and `result: null` as `""`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", try_from = "RawExecuteResponse")]
#[non_exhaustive]
pub struct ExecuteResponse {
    /// The shell's exit status (-1 when it could not start or was killed without a status).
    pub exit_code: i32,
    /// Combined stdout+stderr text.
    pub result: String,
    /// Additive: stdout alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// Additive: stderr alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Additive: the command was killed by its timeout (partial output above).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timed_out: Option<bool>,
    /// Additive: output was cut at the daemon's limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    /// Additive: bytes of output produced in total (before any truncation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
}

impl ExecuteResponse {
    /// A response with only the two official fields.
    pub fn new(exit_code: i32, result: impl Into<String>) -> Self {
        ExecuteResponse {
            exit_code,
            result: result.into(),
            stdout: None,
            stderr: None,
            timed_out: None,
            truncated: None,
            total_bytes: None,
        }
    }

    /// Sets the additive split streams.
    #[must_use]
    pub fn with_split(mut self, stdout: impl Into<String>, stderr: impl Into<String>) -> Self {
        self.stdout = Some(stdout.into());
        self.stderr = Some(stderr.into());
        self
    }

    /// Sets the additive `timedOut` flag.
    #[must_use]
    pub fn with_timed_out(mut self, timed_out: bool) -> Self {
        self.timed_out = Some(timed_out);
        self
    }

    /// Sets the additive `truncated` flag and `totalBytes`.
    #[must_use]
    pub fn with_truncation(mut self, truncated: bool, total_bytes: u64) -> Self {
        self.truncated = Some(truncated);
        self.total_bytes = Some(total_bytes);
        self
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawExecuteResponse {
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    code: Option<i32>,
    #[serde(default, deserialize_with = "null_as_default")]
    result: String,
    #[serde(flatten)]
    additive: Additive,
}

fn exit_code_of(exit_code: Option<i32>, code: Option<i32>, what: &str) -> Result<i32, String> {
    exit_code
        .or(code)
        .ok_or_else(|| format!("{what}: missing field `exitCode` (and no legacy `code`)"))
}

impl TryFrom<RawExecuteResponse> for ExecuteResponse {
    type Error = String;
    fn try_from(raw: RawExecuteResponse) -> Result<Self, String> {
        Ok(ExecuteResponse {
            exit_code: exit_code_of(raw.exit_code, raw.code, "ExecuteResponse")?,
            result: raw.result,
            stdout: raw.additive.stdout,
            stderr: raw.additive.stderr,
            timed_out: raw.additive.timed_out,
            truncated: raw.additive.truncated,
            total_bytes: raw.additive.total_bytes,
        })
    }
}

/// The language of a code-run: `"python"`, `"javascript"`, `"typescript"` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Language {
    /// `python` (run with `python3 -u -`; matplotlib charts are captured).
    Python,
    /// `javascript` (run with `node -`).
    Javascript,
    /// `typescript` (run with `npx ts-node`).
    Typescript,
    /// Any other value, verbatim (the daemon answers 400).
    Unknown(String),
}

impl Language {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Language::Python => "python",
            Language::Javascript => "javascript",
            Language::Typescript => "typescript",
            Language::Unknown(s) => s,
        }
    }

    /// Parses the wire spelling (exact, lowercase); anything else is [`Language::Unknown`].
    pub fn parse(s: &str) -> Self {
        match s {
            "python" => Language::Python,
            "javascript" => Language::Javascript,
            "typescript" => Language::Typescript,
            other => Language::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Language {
    fn from(s: &str) -> Self {
        Language::parse(s)
    }
}

impl Serialize for Language {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Language {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Language::parse(&s))
    }
}

/// `POST /process/code-run` body: `{"code", "language", "argv"?, "envs"?, "timeout"?}` (no cwd).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct CodeRunRequest {
    /// Program source.
    pub code: String,
    /// Language to run it with.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub language: Language,
    /// Program arguments (the official daemon joins them with spaces, unquoted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envs: Option<BTreeMap<String, String>>,
    /// Timeout in seconds; absent or 0 = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
}

impl CodeRunRequest {
    /// A request running `code` in `language`.
    pub fn new(code: impl Into<String>, language: Language) -> Self {
        CodeRunRequest {
            code: code.into(),
            language,
            argv: None,
            envs: None,
            timeout: None,
        }
    }

    /// Sets the program arguments.
    #[must_use]
    pub fn with_argv<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.argv = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// Adds one environment variable.
    #[must_use]
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.envs
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// Replaces the environment map.
    #[must_use]
    pub fn with_envs(mut self, envs: BTreeMap<String, String>) -> Self {
        self.envs = Some(envs);
        self
    }

    /// Sets the timeout in seconds (0 = none).
    #[must_use]
    pub fn with_timeout(mut self, seconds: u32) -> Self {
        self.timeout = Some(seconds);
        self
    }
}

/// The `artifacts` object of a [`CodeRunResponse`]: `{"charts"?: [Chart]}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct CodeRunArtifacts {
    /// Charts captured from matplotlib (`null`/absent reads as empty).
    #[serde(default, deserialize_with = "null_as_default")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub charts: Vec<Chart>,
}

impl CodeRunArtifacts {
    /// Artifacts holding these charts.
    pub fn new(charts: Vec<Chart>) -> Self {
        CodeRunArtifacts { charts }
    }
}

/// `POST /process/code-run` success body: `{"exitCode", "result", "artifacts"?}` plus the same
/// additive fields as [`ExecuteResponse`].
///
/// `result` has the artifact lines removed. `artifacts` is omitted when there is no chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", try_from = "RawCodeRunResponse")]
#[non_exhaustive]
pub struct CodeRunResponse {
    /// The program's exit status.
    pub exit_code: i32,
    /// Combined output with artifact lines removed.
    pub result: String,
    /// Captured charts, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<CodeRunArtifacts>,
    /// Additive: stdout alone (artifact lines removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// Additive: stderr alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Additive: the program was killed by its timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timed_out: Option<bool>,
    /// Additive: output was cut at the daemon's limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    /// Additive: bytes of output produced in total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
}

impl CodeRunResponse {
    /// A response with the official fields; `artifacts` is set only when `charts` is non-empty.
    pub fn new(exit_code: i32, result: impl Into<String>, charts: Vec<Chart>) -> Self {
        CodeRunResponse {
            exit_code,
            result: result.into(),
            artifacts: (!charts.is_empty()).then(|| CodeRunArtifacts::new(charts)),
            stdout: None,
            stderr: None,
            timed_out: None,
            truncated: None,
            total_bytes: None,
        }
    }

    /// The charts (empty when there are no artifacts).
    pub fn charts(&self) -> &[Chart] {
        self.artifacts.as_ref().map_or(&[], |a| &a.charts)
    }

    /// Sets the additive split streams.
    #[must_use]
    pub fn with_split(mut self, stdout: impl Into<String>, stderr: impl Into<String>) -> Self {
        self.stdout = Some(stdout.into());
        self.stderr = Some(stderr.into());
        self
    }

    /// Sets the additive `timedOut` flag.
    #[must_use]
    pub fn with_timed_out(mut self, timed_out: bool) -> Self {
        self.timed_out = Some(timed_out);
        self
    }

    /// Sets the additive `truncated` flag and `totalBytes`.
    #[must_use]
    pub fn with_truncation(mut self, truncated: bool, total_bytes: u64) -> Self {
        self.truncated = Some(truncated);
        self.total_bytes = Some(total_bytes);
        self
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCodeRunResponse {
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    code: Option<i32>,
    #[serde(default, deserialize_with = "null_as_default")]
    result: String,
    #[serde(default)]
    artifacts: Option<CodeRunArtifacts>,
    #[serde(flatten)]
    additive: Additive,
}

impl TryFrom<RawCodeRunResponse> for CodeRunResponse {
    type Error = String;
    fn try_from(raw: RawCodeRunResponse) -> Result<Self, String> {
        Ok(CodeRunResponse {
            exit_code: exit_code_of(raw.exit_code, raw.code, "CodeRunResponse")?,
            result: raw.result,
            artifacts: raw.artifacts,
            stdout: raw.additive.stdout,
            stderr: raw.additive.stderr,
            timed_out: raw.additive.timed_out,
            truncated: raw.additive.truncated,
            total_bytes: raw.additive.total_bytes,
        })
    }
}
