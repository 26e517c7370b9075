//! One-shot execution: [`Client::exec`] (shell commands) and [`Client::code_run`] (code with
//! matplotlib chart capture), their builders and results.

use process_proto::wire::endpoint;
use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use http::Method;
use process_proto::wire::{self, Language};

use crate::client::grace;
use crate::error::Context;
use crate::{Client, Error, ExitStatus, TypedChart};

/// The result of [`Client::exec`] and [`Client::code_run`] (the SDK's `ExecuteResponse`, with
/// the daemon's additions: split streams, truncation, the byte total).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), process::Error> {
/// let client = process::Client::embedded().await?;
/// let out = client.exec("echo out; echo err >&2; exit 3").split_output(true).await?;
/// assert_eq!(out.status().code(), 3);
/// assert!(!out.status().success());
/// assert_eq!((out.stdout(), out.stderr()), (Some("out\n"), Some("err\n")));
/// assert!(!out.truncated);
/// # client.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ExecOutput {
    /// The exit code (-1 when the process could not start, e.g. a missing `cwd`, or was
    /// killed without a status); [`ExecOutput::status`] reads it.
    pub exit_code: i32,
    /// Output: stdout and stderr interleaved, as the shell wrote them.
    pub result: String,
    /// The output again and the charts (`code_run` only; `exec` never has charts).
    pub artifacts: ExecutionArtifacts,
    /// stdout and stderr apart, when [`Exec::split_output`] asked for them (processd; other
    /// daemons may not answer them, leaving `None`).
    pub split: Option<SplitOutput>,
    /// `true` when the daemon capped the output (it keeps the head and the tail).
    pub truncated: bool,
    /// How many output bytes the run produced in total, before any cap (processd; other
    /// daemons may not send it).
    pub total_bytes: Option<u64>,
}

impl ExecOutput {
    /// The exit status: `success()`, `code()`, `signal()`.
    pub fn status(&self) -> ExitStatus {
        ExitStatus::from_code(self.exit_code)
    }

    /// stdout alone, when [`Exec::split_output`] asked for it.
    pub fn stdout(&self) -> Option<&str> {
        self.split.as_ref().map(|s| s.stdout.as_str())
    }

    /// stderr alone, when [`Exec::split_output`] asked for it.
    pub fn stderr(&self) -> Option<&str> {
        self.split.as_ref().map(|s| s.stderr.as_str())
    }

    /// The facade's view of an exec answer (also the partial run of a 408).
    pub(crate) fn from_exec(resp: wire::ExecuteResponse) -> ExecOutput {
        let split = match (resp.stdout, resp.stderr) {
            (Some(stdout), Some(stderr)) => Some(SplitOutput { stdout, stderr }),
            _ => None,
        };
        ExecOutput {
            exit_code: resp.exit_code,
            artifacts: ExecutionArtifacts {
                stdout: resp.result.clone(),
                charts: Vec::new(),
            },
            result: resp.result,
            split,
            truncated: resp.truncated.unwrap_or(false),
            total_bytes: resp.total_bytes,
        }
    }
}

/// A command's stdout and stderr, read from separate pipes ([`Exec::split_output`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SplitOutput {
    /// What the command wrote to stdout.
    pub stdout: String,
    /// What the command wrote to stderr.
    pub stderr: String,
}

/// What a run produced besides its exit code (the SDK's `ExecutionArtifacts`).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ExecutionArtifacts {
    /// Same as [`ExecOutput::result`].
    pub stdout: String,
    /// Charts shown with `plt.show()`, in order.
    pub charts: Vec<TypedChart>,
}

/// Seconds for the wire: rounded up, saturating; zero stays zero ("no limit").
fn wire_seconds(timeout: Duration) -> u32 {
    let secs = timeout
        .as_secs()
        .saturating_add(u64::from(timeout.subsec_nanos() > 0));
    u32::try_from(secs).unwrap_or(u32::MAX)
}

type BoxFuture<R> = Pin<Box<dyn Future<Output = Result<R, Error>> + Send>>;

/// A shell command to run, built by [`Client::exec`]; `.await` it to run it.
///
/// The daemon runs the command with its shell (zsh, bash or sh, whichever it finds first),
/// waits for it, and answers with the exit code and the output.
#[must_use = "an Exec does nothing until it is awaited"]
pub struct Exec {
    client: Client,
    request: wire::ExecuteRequest,
    timeout: Option<Duration>,
}

impl Exec {
    /// Runs in `dir` (relative paths start at the daemon's working directory).
    pub fn cwd(mut self, dir: impl Into<String>) -> Exec {
        self.request.cwd = Some(dir.into());
        self
    }

    /// Sets an environment variable for the command (names: letters, digits and `_`, not
    /// starting with a digit).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Exec {
        self.request
            .envs
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// Sets several environment variables.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Exec
    where
        K: Into<String>,
        V: Into<String>,
    {
        let envs = self.request.envs.get_or_insert_with(BTreeMap::new);
        for (k, v) in vars {
            envs.insert(k.into(), v.into());
        }
        self
    }

    /// Kills the command (its whole process group) after `timeout` (rounded up to whole
    /// seconds; zero means no limit). The call then fails with an error whose
    /// [`is_timeout`](Error::is_timeout) is true. The client waits 5 s longer than this.
    pub fn timeout(mut self, timeout: Duration) -> Exec {
        self.timeout = Some(timeout);
        self.request.timeout = Some(wire_seconds(timeout));
        self
    }

    /// Also returns stdout and stderr apart ([`ExecOutput::split`]). The daemon then
    /// reads them from two pipes, so [`ExecOutput::result`] may order simultaneous writes
    /// to both either way.
    pub fn split_output(mut self, split: bool) -> Exec {
        self.request.split_output = Some(split);
        self
    }
}

impl IntoFuture for Exec {
    type Output = Result<ExecOutput, Error>;
    type IntoFuture = BoxFuture<ExecOutput>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let ctx = Context::new("exec").timeout(self.timeout);
            let answer = self
                .client
                .send_json(
                    &ctx,
                    Method::POST,
                    endpoint::EXECUTE.template(),
                    &self.request,
                    grace(self.timeout),
                )
                .await?;
            let resp: wire::ExecuteResponse = answer.json(&ctx)?;
            Ok(ExecOutput::from_exec(resp))
        })
    }
}

/// Arguments and environment of a [`Client::code_run`] (the SDK's `CodeRunParams`).
///
/// ```
/// let params = process::CodeRunParams::new().argv(["--fast", "input.csv"]).env("SEED", "1");
/// # let _ = params;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CodeRunParams {
    /// Command-line arguments for the program (`sys.argv[1:]` in Python). The official daemon
    /// joins them with spaces without quoting, so keep them free of shell syntax.
    pub argv: Vec<String>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
}

impl CodeRunParams {
    /// No arguments, no variables.
    pub fn new() -> CodeRunParams {
        CodeRunParams::default()
    }

    /// Sets the arguments.
    #[must_use]
    pub fn argv<I, S>(mut self, argv: I) -> CodeRunParams
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.argv = argv.into_iter().map(Into::into).collect();
        self
    }

    /// Sets an environment variable.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> CodeRunParams {
        self.env.insert(key.into(), value.into());
        self
    }
}

/// Code to run, built by [`Client::code_run`]; `.await` it to run it.
#[must_use = "a CodeRun does nothing until it is awaited"]
pub struct CodeRun {
    client: Client,
    code: String,
    language: Option<Language>,
    params: CodeRunParams,
    timeout: Option<Duration>,
}

impl CodeRun {
    /// Runs with these arguments and variables (replacing earlier ones).
    pub fn params(mut self, params: CodeRunParams) -> CodeRun {
        self.params = params;
        self
    }

    /// Sets the program's arguments.
    pub fn argv<I, S>(mut self, argv: I) -> CodeRun
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.params = self.params.argv(argv);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> CodeRun {
        self.params = self.params.env(key, value);
        self
    }

    /// The language (`python` unless the client was given another default).
    pub fn language(mut self, language: Language) -> CodeRun {
        self.language = Some(language);
        self
    }

    /// Kills the program after `timeout` (rounded up to whole seconds; zero means no limit);
    /// the call then fails with [`is_timeout`](Error::is_timeout).
    pub fn timeout(mut self, timeout: Duration) -> CodeRun {
        self.timeout = Some(timeout);
        self
    }
}

impl IntoFuture for CodeRun {
    type Output = Result<ExecOutput, Error>;
    type IntoFuture = BoxFuture<ExecOutput>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let ctx = Context::new("code_run").timeout(self.timeout);
            let language = self
                .language
                .unwrap_or_else(|| self.client.language().clone());
            let mut request = wire::CodeRunRequest::new(self.code, language);
            if !self.params.argv.is_empty() {
                request = request.with_argv(self.params.argv);
            }
            if !self.params.env.is_empty() {
                request = request.with_envs(self.params.env);
            }
            if let Some(t) = self.timeout {
                request = request.with_timeout(wire_seconds(t));
            }
            let answer = self
                .client
                .send_json(
                    &ctx,
                    Method::POST,
                    endpoint::CODE_RUN.template(),
                    &request,
                    grace(self.timeout),
                )
                .await?;
            let resp: wire::CodeRunResponse = answer.json(&ctx)?;
            let charts = resp
                .artifacts
                .map(|a| a.charts.into_iter().map(TypedChart::from).collect())
                .unwrap_or_default();
            let split = match (resp.stdout, resp.stderr) {
                (Some(stdout), Some(stderr)) => Some(SplitOutput { stdout, stderr }),
                _ => None,
            };
            Ok(ExecOutput {
                exit_code: resp.exit_code,
                artifacts: ExecutionArtifacts {
                    stdout: resp.result.clone(),
                    charts,
                },
                result: resp.result,
                split,
                truncated: resp.truncated.unwrap_or(false),
                total_bytes: resp.total_bytes,
            })
        })
    }
}

impl Client {
    /// Runs a shell command and waits for it (SDK: `exec`, TS: `executeCommand`). Set `cwd`,
    /// environment and timeout on the returned builder, then `.await` it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), process::Error> {
    /// use std::time::Duration;
    /// let client = process::Client::embedded().await?;
    /// let response = client.exec("echo \"Hello $WHO\"").env("WHO", "you").await?;
    /// assert_eq!(response.exit_code, 0);
    /// assert_eq!(response.artifacts.stdout, "Hello you\n");
    ///
    /// let err = client.exec("sleep 10").timeout(Duration::from_secs(1)).await.unwrap_err();
    /// assert!(err.is_timeout());
    /// # Ok(()) }
    /// ```
    pub fn exec(&self, command: impl Into<String>) -> Exec {
        Exec {
            client: self.clone(),
            request: wire::ExecuteRequest::new(command),
            timeout: None,
        }
    }

    /// Runs code with the language's runtime (SDK: `code_run`, TS: `codeRun`). In Python,
    /// figures shown with matplotlib's `plt.show()` come back as typed [`TypedChart`]s in
    /// `artifacts.charts`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), process::Error> {
    /// let client = process::Client::embedded().await?;
    /// let response = client
    ///     .code_run("import sys\nx, y = 10, 20\nprint(f\"Sum: {x + y}\", sys.argv[1:])")
    ///     .argv(["a"])
    ///     .await?;
    /// assert_eq!(response.artifacts.stdout, "Sum: 30 ['a']\n");
    /// # Ok(()) }
    /// ```
    pub fn code_run(&self, code: impl Into<String>) -> CodeRun {
        CodeRun {
            client: self.clone(),
            code: code.into(),
            language: None,
            params: CodeRunParams::default(),
            timeout: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_seconds() {
        assert_eq!(wire_seconds(Duration::ZERO), 0);
        assert_eq!(wire_seconds(Duration::from_millis(1)), 1);
        assert_eq!(wire_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(wire_seconds(Duration::from_secs(5)), 5);
        assert_eq!(wire_seconds(Duration::MAX), u32::MAX);
    }
}
