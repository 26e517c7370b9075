//! PTYs: interactive terminals over WebSocket. [`Client::create_pty_session`] /
//! [`Client::connect_pty_session`] give a [`PtyHandle`] to send input, read output (a `Stream`,
//! or `AsyncRead`/`AsyncWrite` through [`PtyHandle::into_io`]) and wait for the exit code; the
//! REST calls list, inspect, resize and kill PTYs.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use http::Method;
use process_proto::wire::{
    encode_envs_token, endpoint, PtyListResponse, PtyResizeRequest, PtySessionInfo, MAX_DIMENSION,
    PTY_EXIT_CONTROL_PROTOCOL,
};

use crate::error::Context;
use crate::{Client, Error};

mod handle;
mod io;

pub use handle::{PtyHandle, PtyInput};
pub use io::PtyIo;

/// How long to wait for the daemon's `connected` message (as the SDK).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A terminal size (the SDK's `PtySize`). Both dimensions must be 1..=1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PtySize {
    /// Lines.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

impl PtySize {
    /// `rows` × `cols`.
    pub fn new(rows: u16, cols: u16) -> PtySize {
        PtySize { rows, cols }
    }

    fn check(self, op: &str) -> Result<PtySize, Error> {
        for (name, v) in [("rows", self.rows), ("cols", self.cols)] {
            if v == 0 || v > MAX_DIMENSION {
                return Err(Error::invalid_input(format!(
                    "{op}: {name} must be between 1 and {MAX_DIMENSION}, got {v}"
                )));
            }
        }
        Ok(self)
    }
}

impl Default for PtySize {
    /// 24 × 80.
    fn default() -> PtySize {
        PtySize { rows: 24, cols: 80 }
    }
}

/// How a PTY ended (the SDK's `PtyResult`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PtyResult {
    /// The shell's exit code (137 after a kill); `None` if the connection ended without one.
    pub exit_code: Option<i32>,
    /// Why it ended, for non-zero codes (`SIGKILL`, `Ctrl+C`, `non-zero exit`, …) or failures.
    pub error: Option<String>,
}

type BoxFuture<R> = Pin<Box<dyn Future<Output = Result<R, Error>> + Send>>;

/// A send of input that `AsyncWrite` accepted but the channel has not taken yet.
type PendingWrite = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// A PTY to create, built by [`Client::create_pty_session`]; `.await` it to create it and
/// connect in one round trip.
#[must_use = "a CreatePty does nothing until it is awaited"]
pub struct CreatePty {
    client: Client,
    id: String,
    cwd: Option<String>,
    envs: BTreeMap<String, String>,
    size: PtySize,
}

impl CreatePty {
    /// Starts the shell in `dir` (default: the daemon's working directory).
    pub fn cwd(mut self, dir: impl Into<String>) -> CreatePty {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets an environment variable of the shell (`TERM` defaults to `xterm-256color`).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> CreatePty {
        self.envs.insert(key.into(), value.into());
        self
    }

    /// Sets several environment variables.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> CreatePty
    where
        K: Into<String>,
        V: Into<String>,
    {
        for (k, v) in vars {
            self.envs.insert(k.into(), v.into());
        }
        self
    }

    /// The terminal size (default 24 × 80).
    pub fn size(mut self, size: PtySize) -> CreatePty {
        self.size = size;
        self
    }
}

impl IntoFuture for CreatePty {
    type Output = Result<PtyHandle, Error>;
    type IntoFuture = BoxFuture<PtyHandle>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let ctx = Context::new("create_pty_session").pty(&self.id);
            let size = self.size.check(ctx.op)?;
            let path = create_connect_path(&self.id, size, self.cwd.as_deref());
            let envs_token = if self.envs.is_empty() {
                None
            } else {
                Some(encode_envs_token(&self.envs).map_err(|e| {
                    Error::invalid_input(format!("create_pty_session: invalid envs: {e}"))
                })?)
            };
            let mut protocols = vec![PTY_EXIT_CONTROL_PROTOCOL];
            if let Some(token) = envs_token.as_deref() {
                protocols.push(token);
            }
            let ws = self.client.open_websocket(&ctx, &path, &protocols).await?;
            PtyHandle::attach(self.client, self.id, ws, ctx).await
        })
    }
}

/// `/process/pty/create-connect?id=…&cols=…&rows=…[&cwd=…]`, form-encoded as the SDK does.
fn create_connect_path(id: &str, size: PtySize, cwd: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("id", id)
        .append_pair("cols", &size.cols.to_string())
        .append_pair("rows", &size.rows.to_string());
    if let Some(cwd) = cwd.filter(|c| !c.is_empty()) {
        query.append_pair("cwd", cwd);
    }
    format!("{}?{}", endpoint::PTY_CREATE_CONNECT, query.finish())
}

impl Client {
    /// Creates a PTY and connects to it in one round trip (SDK: `create_pty_session`). Set the
    /// working directory, environment and size on the returned builder, then `.await` it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), process::Error> {
    /// use process::PtySize;
    /// let client = process::Client::embedded().await?;
    /// let pty = client
    ///     .create_pty_session("term")
    ///     .env("VAR", "value")
    ///     .size(PtySize::new(24, 80))
    ///     .await?;
    /// let info = client.resize_pty_session("term", PtySize::new(40, 150)).await?;
    /// assert_eq!((info.rows, info.cols), (40, 150));
    /// pty.kill().await?;
    /// # Ok(()) }
    /// ```
    pub fn create_pty_session(&self, id: &str) -> CreatePty {
        CreatePty {
            client: self.clone(),
            id: id.to_owned(),
            cwd: None,
            envs: BTreeMap::new(),
            size: PtySize::default(),
        }
    }

    /// Connects to an existing PTY (SDK: `connect_pty_session`). Several connections may attach
    /// to one PTY; each receives the output from the moment it attaches.
    pub async fn connect_pty_session(&self, id: &str) -> Result<PtyHandle, Error> {
        let ctx = Context::new("connect_pty_session").pty(id);
        let path = endpoint::PTY_CONNECT.path(&[id]);
        let ws = self
            .open_websocket(&ctx, &path, &[PTY_EXIT_CONTROL_PROTOCOL])
            .await?;
        PtyHandle::attach(self.clone(), id.to_owned(), ws, ctx).await
    }

    /// The live PTYs, in no particular order (SDK: `list_pty_sessions`).
    pub async fn list_pty_sessions(&self) -> Result<Vec<PtySessionInfo>, Error> {
        let list: PtyListResponse = self
            .get_json(
                &Context::new("list_pty_sessions"),
                endpoint::PTYS.template(),
            )
            .await?;
        Ok(list.sessions)
    }

    /// A PTY's size, working directory, environment and state (SDK: `get_pty_session_info`).
    pub async fn get_pty_session_info(&self, id: &str) -> Result<PtySessionInfo, Error> {
        let ctx = Context::new("get_pty_session_info").pty(id);
        self.get_json(&ctx, &endpoint::PTY.path(&[id])).await
    }

    /// Resizes a PTY and returns its updated info (SDK: `resize_pty_session`).
    pub async fn resize_pty_session(
        &self,
        id: &str,
        size: PtySize,
    ) -> Result<PtySessionInfo, Error> {
        let ctx = Context::new("resize_pty_session").pty(id);
        let size = size.check(ctx.op)?;
        self.send_json(
            &ctx,
            Method::POST,
            &endpoint::PTY_RESIZE.path(&[id]),
            &PtyResizeRequest::new(size.cols, size.rows),
            None,
        )
        .await?
        .json(&ctx)
    }

    /// Kills a PTY's shell and everything it started, and removes the PTY; connected handles
    /// end with exit code 137 (SDK: `kill_pty_session`).
    pub async fn kill_pty_session(&self, id: &str) -> Result<(), Error> {
        let ctx = Context::new("kill_pty_session").pty(id);
        self.send(&ctx, Method::DELETE, &endpoint::PTY.path(&[id]), None, None)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_connect_query_is_form_encoded_like_the_sdk() {
        // The raw wire capture of spec Appendix A.
        assert_eq!(
            create_connect_path("my id/1", PtySize::new(10, 20), Some("/work dir/ä")),
            "/process/pty/create-connect?id=my+id%2F1&cols=20&rows=10&cwd=%2Fwork+dir%2F%C3%A4"
        );
        assert_eq!(
            create_connect_path("pty2", PtySize::default(), Some("")),
            "/process/pty/create-connect?id=pty2&cols=80&rows=24"
        );
    }

    #[test]
    fn sizes_are_checked_like_the_sdk() {
        assert!(PtySize::new(24, 80).check("t").is_ok());
        assert!(PtySize::new(1000, 1).check("t").is_ok());
        let err = PtySize::new(0, 80).check("resize").unwrap_err();
        assert!(err.is_invalid());
        assert!(
            err.to_string().contains("rows must be between 1 and 1000"),
            "{err}"
        );
        assert!(PtySize::new(24, 1001).check("t").is_err());
    }
}
