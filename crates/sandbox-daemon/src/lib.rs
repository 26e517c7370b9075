//! `sandboxd`: a Daytona-compatible control plane that creates isolated sandboxes, each running
//! `processd`, and proxies their toolbox API.
//!
//! - [`api`]: the HTTP edge (axum): `/api/sandbox…` as the official SDKs call it, the toolbox
//!   proxy routes, API-key auth and the error envelope.
//! - [`manager`]: the state machine, per-sandbox serialisation, activity and the monitor
//!   (auto-stop, auto-delete, crashed `processd`).
//! - [`store`]: the SQLite record of every sandbox (survives restarts and SIGKILL).
//! - `events`: the Socket.IO subset the SDKs use for `sandbox.state.updated` events.
//! - `proxy`: streaming HTTP/WebSocket forwarding to a sandbox's Unix socket.
//! - [`provider`]: the [`provider::Provider`] seam; `provider::local` runs sandboxes with runc,
//!   [`provider::unisolated`] is a test-only provider without isolation.
//! - [`config`]: flags and environment (clap), [`serve`]: the server loop.

pub mod api;
pub mod config;
mod events;
pub mod manager;
pub mod openapi;
pub mod provider;
mod proxy;
pub mod store;

pub use config::{ServeArgs, ServeConfig};
pub use proxy::ProxyError;

use std::sync::Arc;

/// Errors of starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("{0}")]
    Config(String),
    /// An IO step failed (the message says which).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The manager could not start (store, re-adoption).
    #[error("{0}")]
    Manager(#[from] manager::ManagerError),
    /// The provider could not get ready.
    #[error("{0}")]
    Provider(#[from] provider::ProviderError),
}

/// Opens the state, prepares the provider, binds the listener, prints the `api_url` and serves
/// until SIGINT/SIGTERM. Sandboxes keep running after `sandboxd` exits; the next start re-adopts
/// them.
pub async fn serve(
    config: ServeConfig,
    provider: Arc<dyn provider::Provider>,
) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Io {
            what: format!("cannot listen on {}", config.listen),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Io {
        what: "cannot read the bound address".into(),
        source,
    })?;
    let (app, manager) = build_with_manager(&config, provider, addr).await?;
    let public = config.public_url(addr);
    println!("sandboxd ready: DAYTONA_API_URL={public}/api");
    tracing::info!(%addr, api_url = %format!("{public}/api"), "listening");
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| Error::Io {
            what: "cannot install the SIGTERM handler".into(),
            source,
        })?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
            _ = sigterm.recv() => tracing::info!("SIGTERM: shutting down"),
        }
    };
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| Error::Io {
            what: "the server failed".into(),
            source,
        });
    // Warm pool members have no record: they go with this process.
    manager.shutdown().await;
    served
}

/// The router over a freshly opened manager (with its monitor running).
pub async fn build(
    config: &ServeConfig,
    provider: Arc<dyn provider::Provider>,
    addr: std::net::SocketAddr,
) -> Result<axum::Router, Error> {
    build_with_manager(config, provider, addr)
        .await
        .map(|(router, _)| router)
}

/// [`build`], also returning the manager (whose [`manager::Manager::shutdown`] deletes the
/// warm pool when the server is done).
pub async fn build_with_manager(
    config: &ServeConfig,
    provider: Arc<dyn provider::Provider>,
    addr: std::net::SocketAddr,
) -> Result<(axum::Router, manager::Manager), Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(&config.state_dir)
        .map_err(|source| Error::Io {
            what: format!("cannot create the state dir {}", config.state_dir.display()),
            source,
        })?;
    provider.prepare().await?;
    let store = store::Store::open(&config.state_dir).map_err(manager::ManagerError::from)?;
    let manager = manager::Manager::open(provider, store, config.manager_config(addr)).await?;
    tokio::spawn(manager.clone().monitor());
    let router = api::router(
        manager.clone(),
        api::EdgeConfig {
            api_key: config.api_key.clone(),
        },
    );
    Ok((router, manager))
}
