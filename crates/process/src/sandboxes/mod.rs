//! [`Sandboxes`]: the control-plane client (`daytona.create()`, `get`, `list`, `start`, `stop`,
//! `delete`) for `sandboxd` or a Daytona deployment, and [`Sandbox`], whose
//! [`process()`](Sandbox::process) is a process [`Client`] routed through the sandbox's toolbox
//! URL. The wire is Daytona's control-plane API (`process_proto::wire::control`); lifecycle calls
//! wait for the final state where the server answers with a transitional one (as the SDKs do),
//! so they work against a server that answers synchronously (`sandboxd`) and one that does not.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), process::Error> {
//! use process::{CreateSandboxParams, Sandboxes};
//!
//! let sandboxes = Sandboxes::connect("http://127.0.0.1:3000/api", "key")?;
//! let sandbox = sandboxes
//!     .create(CreateSandboxParams::image("debian:12.9").env("DEBUG", "true").auto_stop_interval(15))
//!     .await?;
//! let out = sandbox.process().exec("echo $DEBUG").await?;
//! assert_eq!(out.result, "true\n");
//! sandboxes.stop(&sandbox).await?;
//! sandboxes.start(&sandbox).await?;
//! sandboxes.delete(&sandbox).await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Method, Request};
use http_body_util::BodyExt;
use process_proto::wire::control::{
    ListSandboxesResponse, ResizeSandbox, SandboxDto, SandboxLabels, SandboxState, LANGUAGE_LABEL,
};
use process_proto::wire::endpoint::{control as api, segment};
use process_proto::wire::Language;
use process_transport::HttpTransport;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

pub use self::handle::Sandbox;
pub use self::params::{CreateSandboxParams, Resources};
use crate::error::{Context, Error, ErrorKind};
use crate::Client;

mod handle;
mod params;

/// The hosted Daytona API, used when `DAYTONA_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://app.daytona.io/api";
/// How long lifecycle calls wait for their final state (the SDKs' default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_mins(1);

/// A control plane: `sandboxd` or a Daytona deployment. Cheap to clone.
#[derive(Clone)]
pub struct Sandboxes {
    transport: HttpTransport,
    api_url: String,
    api_key: String,
    target: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Sandboxes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandboxes")
            .field("api_url", &self.api_url)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Reads the environment variable, treating empty as unset.
fn env_var(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

impl Sandboxes {
    /// A client of the control plane at `api_url` (`http://127.0.0.1:3000/api` for a local
    /// `sandboxd`), authenticating with `api_key`. Nothing is sent until the first call.
    pub fn connect(api_url: impl Into<String>, api_key: impl Into<String>) -> Result<Self, Error> {
        let api_url = api_url.into().trim_end_matches('/').to_owned();
        let api_key = api_key.into();
        if api_key.is_empty() {
            return Err(Error::invalid_input(
                "an API key is required (any non-empty key for a keyless local sandboxd)",
            ));
        }
        let transport = HttpTransport::builder(api_url.clone())
            .token(api_key.clone())
            .build()
            .map_err(|e| Error::invalid_input(format!("cannot set up the client: {e}")))?;
        Ok(Sandboxes {
            transport,
            api_url,
            api_key,
            target: None,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Configured as the SDKs are from the environment: `DAYTONA_API_URL` (default the hosted
    /// API), `DAYTONA_API_KEY` (required), `DAYTONA_TARGET` (optional).
    pub fn from_env() -> Result<Self, Error> {
        let url = env_var("DAYTONA_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        let key = env_var("DAYTONA_API_KEY").ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                "DAYTONA_API_KEY is not set: set it (and DAYTONA_API_URL for a local sandboxd, e.g. http://127.0.0.1:3000/api)",
            )
        })?;
        let mut s = Sandboxes::connect(url, key)?;
        s.target = env_var("DAYTONA_TARGET");
        Ok(s)
    }

    /// The same client sending `target` (region) with creates.
    #[must_use]
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// The same client waiting at most `timeout` for a lifecycle call's final state.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The control plane's URL.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    async fn call<R: DeserializeOwned>(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Option<R>, Error> {
        let ctx = Context::new(op);
        let uri: http::Uri = path
            .parse()
            .map_err(|e| Error::invalid_input(format!("{op}: bad path {path:?}: {e}")))?;
        let has_body = body.is_some();
        let mut req = Request::new(match body {
            Some(b) => process_transport::full(b),
            None => process_transport::empty(),
        });
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        req.headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("application/json"));
        if has_body {
            req.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let daemon = format!("the control plane at {}", self.api_url);
        let resp = self
            .transport
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| ctx.transport_error(e, &daemon))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ctx.transport_error(e, &daemon))?
            .to_bytes();
        if !status.is_success() {
            return Err(ctx.response_error(status, &bytes));
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::protocol(&ctx, e))
    }

    async fn call_dto(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<SandboxDto, Error> {
        self.call::<SandboxDto>(op, method, path, body)
            .await?
            .ok_or_else(|| Error::protocol(&Context::new(op), "the answer has no body"))
    }

    fn wrap(&self, info: SandboxDto) -> Result<Sandbox, Error> {
        let language = info
            .labels
            .get(LANGUAGE_LABEL)
            .map_or(Language::Python, |l| Language::parse(l));
        let base = if info.toolbox_proxy_url.is_empty() {
            // What the SDK does when the DTO carries none: the API's default layout.
            format!(
                "{}{}",
                self.api_url.trim_end_matches(api::API_PREFIX),
                api::TOOLBOX_BASE
            )
        } else {
            info.toolbox_proxy_url.trim_end_matches('/').to_owned()
        };
        let process = Client::builder(format!("{base}/{}", segment(&info.id)))
            .token(self.api_key.clone())
            .language(language)
            .build()?;
        Ok(Sandbox { info, process })
    }

    /// `daytona.create(params)`: creates a sandbox and waits until it is `started`.
    pub async fn create(&self, params: CreateSandboxParams) -> Result<Sandbox, Error> {
        let mut body = params.to_request();
        if body.target.is_none() {
            body.target.clone_from(&self.target);
        }
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| Error::invalid_input(format!("create sandbox: {e}")))?;
        let info = self
            .call_dto(
                "create sandbox",
                Method::POST,
                api::SANDBOXES.template(),
                Some(bytes),
            )
            .await?;
        let info = self
            .wait(info, &[SandboxState::Started], "create sandbox")
            .await?;
        self.wrap(info)
    }

    /// `daytona.get(id_or_name)`.
    pub async fn get(&self, id_or_name: &str) -> Result<Sandbox, Error> {
        let info = self.get_dto(id_or_name).await?;
        self.wrap(info)
    }

    async fn get_dto(&self, id_or_name: &str) -> Result<SandboxDto, Error> {
        self.call_dto(
            "get sandbox",
            Method::GET,
            &api::SANDBOX.path(&[id_or_name]),
            None,
        )
        .await
    }

    /// `daytona.list()`: every sandbox, following the server's pages.
    pub async fn list(&self) -> Result<Vec<Sandbox>, Error> {
        self.list_labelled(&BTreeMap::new()).await
    }

    /// `daytona.list(labels=…)`: the sandboxes carrying all these labels.
    pub async fn list_labelled(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Sandbox>, Error> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if let Some(c) = &cursor {
                query.append_pair("cursor", c);
            }
            query.append_pair("limit", "100");
            if !labels.is_empty() {
                let json = serde_json::to_string(labels)
                    .map_err(|e| Error::invalid_input(format!("list sandboxes: {e}")))?;
                query.append_pair("labels", &json);
            }
            let page: ListSandboxesResponse = self
                .call(
                    "list sandboxes",
                    Method::GET,
                    &format!("{}?{}", api::SANDBOXES, query.finish()),
                    None,
                )
                .await?
                .ok_or_else(|| {
                    Error::protocol(&Context::new("list sandboxes"), "the answer has no body")
                })?;
            for item in page.items {
                out.push(self.wrap(item)?);
            }
            match page.next_cursor.filter(|c| !c.is_empty()) {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(out),
            }
        }
    }

    /// `daytona.start(sandbox)`: starts it and waits until it is `started`.
    pub async fn start(&self, sandbox: &Sandbox) -> Result<Sandbox, Error> {
        let path = api::SANDBOX_START.path(&[sandbox.id()]);
        let info = self
            .call_dto("start sandbox", Method::POST, &path, None)
            .await?;
        let info = self
            .wait(info, &[SandboxState::Started], "start sandbox")
            .await?;
        self.wrap(info)
    }

    /// `daytona.stop(sandbox)`: stops it (SIGTERM, then SIGKILL after a grace) and waits until
    /// it is `stopped`.
    pub async fn stop(&self, sandbox: &Sandbox) -> Result<Sandbox, Error> {
        self.stop_with(sandbox, false).await
    }

    /// `stop(force=True)`: kills at once.
    pub async fn stop_with(&self, sandbox: &Sandbox, force: bool) -> Result<Sandbox, Error> {
        let path = format!("{}?force={force}", api::SANDBOX_STOP.path(&[sandbox.id()]));
        self.call::<serde_json::Value>("stop sandbox", Method::POST, &path, None)
            .await?;
        let info = match self.get_dto(sandbox.id()).await {
            Ok(info) => info,
            // Ephemeral sandboxes are gone after a stop.
            Err(e) if e.is_not_found() => {
                let mut info = sandbox.info.clone();
                info.state = Some(SandboxState::Destroyed);
                info
            }
            Err(e) => return Err(e),
        };
        let info = self
            .wait(
                info,
                &[SandboxState::Stopped, SandboxState::Destroyed],
                "stop sandbox",
            )
            .await?;
        self.wrap(info)
    }

    /// `daytona.delete(sandbox)`: removes it and everything in it.
    pub async fn delete(&self, sandbox: &Sandbox) -> Result<(), Error> {
        let path = api::SANDBOX.path(&[sandbox.id()]);
        self.call::<serde_json::Value>("delete sandbox", Method::DELETE, &path, None)
            .await?;
        Ok(())
    }

    /// `sandbox.refresh_data()`: the current description.
    pub async fn refresh(&self, sandbox: &Sandbox) -> Result<Sandbox, Error> {
        self.get(sandbox.id()).await
    }

    /// `sandbox.set_autostop_interval(minutes)` (0 = never).
    pub async fn set_autostop_interval(
        &self,
        sandbox: &Sandbox,
        minutes: u32,
    ) -> Result<(), Error> {
        let path = api::SANDBOX_AUTOSTOP.path(&[sandbox.id(), &minutes.to_string()]);
        self.call::<serde_json::Value>("set auto-stop interval", Method::POST, &path, None)
            .await?;
        Ok(())
    }

    /// `sandbox.set_labels(labels)`: replaces all labels; returns them as stored.
    pub async fn set_labels(
        &self,
        sandbox: &Sandbox,
        labels: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, Error> {
        let path = api::SANDBOX_LABELS.path(&[sandbox.id()]);
        let body = serde_json::to_vec(&SandboxLabels::new(labels))
            .map_err(|e| Error::invalid_input(format!("set labels: {e}")))?;
        let answer: SandboxLabels = self
            .call("set labels", Method::PUT, &path, Some(body))
            .await?
            .unwrap_or_default();
        Ok(answer.labels)
    }

    /// `sandbox.resize(Resources(cpu, memory))`: new limits; waits while the server resizes.
    pub async fn resize(&self, sandbox: &Sandbox, resources: Resources) -> Result<Sandbox, Error> {
        let path = api::SANDBOX_RESIZE.path(&[sandbox.id()]);
        let mut req = ResizeSandbox::new(
            resources.cpu.map(i64::from),
            resources.memory.map(i64::from),
        );
        req.disk = resources.disk.map(i64::from);
        let body = serde_json::to_vec(&req)
            .map_err(|e| Error::invalid_input(format!("resize sandbox: {e}")))?;
        let mut info = self
            .call_dto("resize sandbox", Method::POST, &path, Some(body))
            .await?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        while info.state() == SandboxState::Resizing {
            if tokio::time::Instant::now() >= deadline {
                return Err(timeout_error("resize sandbox", &info, self.timeout));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            info = self.get_dto(&info.id).await?;
        }
        self.wrap(info)
    }

    /// Polls until the sandbox reaches one of `targets` (100 ms, growing to 1 s), fails on
    /// `error`/`build_failed`, gives up after the client's timeout.
    async fn wait(
        &self,
        mut info: SandboxDto,
        targets: &[SandboxState],
        op: &'static str,
    ) -> Result<SandboxDto, Error> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(100);
        loop {
            let state = info.state();
            if targets.contains(&state) {
                return Ok(info);
            }
            if matches!(state, SandboxState::Error | SandboxState::BuildFailed) {
                return Err(Error::new(
                    ErrorKind::Server,
                    format!(
                        "{op}: sandbox {} entered state {state}: {}",
                        info.id,
                        info.error_reason.as_deref().unwrap_or("no reason given")
                    ),
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(timeout_error(op, &info, self.timeout));
            }
            tokio::time::sleep(pause).await;
            pause = (pause.mul_f32(1.1)).min(Duration::from_secs(1));
            info = match self.get_dto(&info.id).await {
                Ok(next) => next,
                Err(e) if e.is_not_found() && targets.contains(&SandboxState::Destroyed) => {
                    info.state = Some(SandboxState::Destroyed);
                    info
                }
                Err(e) => return Err(e),
            };
        }
    }
}

fn timeout_error(op: &str, info: &SandboxDto, timeout: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!(
            "{op}: sandbox {} is still {} after {timeout:?}",
            info.id,
            info.state()
        ),
    )
}
