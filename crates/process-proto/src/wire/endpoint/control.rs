//! The control plane's endpoints (sandboxd, Daytona's `/api`), defined once: sandboxd's route
//! table, its OpenAPI document and the facade's `Sandboxes` client all come from here.
//!
//! Templates are relative to [`API_PREFIX`] (the facade's API URL ends with it; sandboxd nests
//! them under it), except the toolbox proxy's ([`TOOLBOX`], [`TOOLBOX_PATH`]), which sit at the
//! server's root under [`TOOLBOX_BASE`].
//!
//! ```
//! use process_proto::wire::endpoint::control;
//! assert_eq!(control::SANDBOX_AUTOSTOP.path(&["my box", "15"]), "/sandbox/my%20box/autostop/15");
//! ```

use super::Endpoint;

/// Where the control-plane API is mounted: `https://host/api` is the SDKs' `api_url`.
pub const API_PREFIX: &str = "/api";
/// Where the toolbox proxy is mounted: `https://host/toolbox/{id}/…` reaches a sandbox's
/// `processd` (the SDKs' default `toolbox_proxy_url` layout).
pub const TOOLBOX_BASE: &str = "/toolbox";

/// `GET`: sandboxd's OpenAPI document.
pub const OPENAPI: Endpoint = Endpoint("/openapi.json");
/// `GET`: the SDKs' state-event channel (Socket.IO over WebSocket).
pub const SOCKET_IO: Endpoint = Endpoint("/socket.io");
/// [`SOCKET_IO`] with a trailing slash (what the SDKs request).
pub const SOCKET_IO_SLASH: Endpoint = Endpoint("/socket.io/");

/// `POST` a new sandbox (`CreateSandbox` → `Sandbox`), `GET` the list (`?cursor=&limit=&…`).
pub const SANDBOXES: Endpoint = Endpoint("/sandbox");
/// `GET` / `DELETE` one sandbox (by id or name).
pub const SANDBOX: Endpoint = Endpoint("/sandbox/{id}");
/// `POST`: start a stopped sandbox.
pub const SANDBOX_START: Endpoint = Endpoint("/sandbox/{id}/start");
/// `POST`: stop a sandbox (`?force=true` kills at once).
pub const SANDBOX_STOP: Endpoint = Endpoint("/sandbox/{id}/stop");
/// `POST`: recover a sandbox in the error state.
pub const SANDBOX_RECOVER: Endpoint = Endpoint("/sandbox/{id}/recover");
/// `POST`: archive a stopped sandbox.
pub const SANDBOX_ARCHIVE: Endpoint = Endpoint("/sandbox/{id}/archive");
/// `POST`: change cpu/memory/disk (`ResizeSandbox`).
pub const SANDBOX_RESIZE: Endpoint = Endpoint("/sandbox/{id}/resize");
/// `PUT`: replace the labels (`SandboxLabels`).
pub const SANDBOX_LABELS: Endpoint = Endpoint("/sandbox/{id}/labels");
/// `POST`: set the auto-stop interval.
pub const SANDBOX_AUTOSTOP: Endpoint = Endpoint("/sandbox/{id}/autostop/{minutes}");
/// `POST`: set the auto-archive interval.
pub const SANDBOX_AUTOARCHIVE: Endpoint = Endpoint("/sandbox/{id}/autoarchive/{minutes}");
/// `POST`: set the auto-delete interval (-1: never).
pub const SANDBOX_AUTODELETE: Endpoint = Endpoint("/sandbox/{id}/autodelete/{minutes}");
/// `POST`: record activity (defers auto-stop).
pub const SANDBOX_LAST_ACTIVITY: Endpoint = Endpoint("/sandbox/{id}/last-activity");
/// `GET`: the base URL of the toolbox proxy (`Url`).
pub const SANDBOX_TOOLBOX_PROXY_URL: Endpoint = Endpoint("/sandbox/{id}/toolbox-proxy-url");

/// Any method: the sandbox's `processd` at its root (at the server root, not under the API).
pub const TOOLBOX: Endpoint = Endpoint("/toolbox/{id}");
/// Any method: the sandbox's `processd` at `/{rest}` (axum's catch-all; WebSocket upgrades too).
pub const TOOLBOX_PATH: Endpoint = Endpoint("/toolbox/{id}/{*rest}");

/// Routes of the hosted service this control plane does not offer (any method answers 422
/// `NOT_SUPPORTED`); see [`UNSUPPORTED`].
pub mod unsupported {
    use super::Endpoint;

    /// `/sandbox/{id}/pause`.
    pub const SANDBOX_PAUSE: Endpoint = Endpoint("/sandbox/{id}/pause");
    /// `/sandbox/{id}/fork`.
    pub const SANDBOX_FORK: Endpoint = Endpoint("/sandbox/{id}/fork");
    /// `/sandbox/{id}/snapshot`.
    pub const SANDBOX_SNAPSHOT: Endpoint = Endpoint("/sandbox/{id}/snapshot");
    /// `/sandbox/{id}/autopause/{m}`.
    pub const SANDBOX_AUTOPAUSE: Endpoint = Endpoint("/sandbox/{id}/autopause/{m}");
    /// `/sandbox/{id}/ttl/{m}`.
    pub const SANDBOX_TTL: Endpoint = Endpoint("/sandbox/{id}/ttl/{m}");
    /// `/sandbox/{id}/public/{p}`.
    pub const SANDBOX_PUBLIC: Endpoint = Endpoint("/sandbox/{id}/public/{p}");
    /// `/sandbox/{id}/network-settings`.
    pub const SANDBOX_NETWORK_SETTINGS: Endpoint = Endpoint("/sandbox/{id}/network-settings");
    /// `/sandbox/{id}/secrets`.
    pub const SANDBOX_SECRETS: Endpoint = Endpoint("/sandbox/{id}/secrets");
    /// `/sandbox/{id}/ports/{*rest}`.
    pub const SANDBOX_PORTS_REST: Endpoint = Endpoint("/sandbox/{id}/ports/{*rest}");
    /// `/sandbox/{id}/ssh-access`.
    pub const SANDBOX_SSH_ACCESS: Endpoint = Endpoint("/sandbox/{id}/ssh-access");
    /// `/sandbox/ssh-access/validate`.
    pub const SANDBOX_SSH_ACCESS_VALIDATE: Endpoint = Endpoint("/sandbox/ssh-access/validate");
    /// `/sandbox/{id}/signing-key`.
    pub const SANDBOX_SIGNING_KEY: Endpoint = Endpoint("/sandbox/{id}/signing-key");
    /// `/sandbox/{id}/signing-key/rotate`.
    pub const SANDBOX_SIGNING_KEY_ROTATE: Endpoint = Endpoint("/sandbox/{id}/signing-key/rotate");
    /// `/sandbox/{id}/build-logs-url`.
    pub const SANDBOX_BUILD_LOGS_URL: Endpoint = Endpoint("/sandbox/{id}/build-logs-url");
    /// `/sandbox/{id}/telemetry/{*rest}`.
    pub const SANDBOX_TELEMETRY_REST: Endpoint = Endpoint("/sandbox/{id}/telemetry/{*rest}");
    /// `/snapshots`.
    pub const SNAPSHOTS: Endpoint = Endpoint("/snapshots");
    /// `/snapshots/{*rest}`.
    pub const SNAPSHOTS_REST: Endpoint = Endpoint("/snapshots/{*rest}");
    /// `/volumes`.
    pub const VOLUMES: Endpoint = Endpoint("/volumes");
    /// `/volumes/{*rest}`.
    pub const VOLUMES_REST: Endpoint = Endpoint("/volumes/{*rest}");
    /// `/object-storage/{*rest}`.
    pub const OBJECT_STORAGE_REST: Endpoint = Endpoint("/object-storage/{*rest}");
    /// `/config`.
    pub const CONFIG: Endpoint = Endpoint("/config");
    /// `/secret`.
    pub const SECRET: Endpoint = Endpoint("/secret");
    /// `/secret/{*rest}`.
    pub const SECRET_REST: Endpoint = Endpoint("/secret/{*rest}");
    /// `/warm-pools`.
    pub const WARM_POOLS: Endpoint = Endpoint("/warm-pools");
    /// `/warm-pools/{*rest}`.
    pub const WARM_POOLS_REST: Endpoint = Endpoint("/warm-pools/{*rest}");
}

/// The hosted service's routes this control plane answers with 422 `NOT_SUPPORTED`, each
/// with the feature's name for the message ("Pausing is not supported by this sandboxd").
pub const UNSUPPORTED: &[(Endpoint, &str)] = &[
    (unsupported::SANDBOX_PAUSE, "Pausing is"),
    (unsupported::SANDBOX_FORK, "Forking is"),
    (unsupported::SANDBOX_SNAPSHOT, "Snapshots are"),
    (unsupported::SANDBOX_AUTOPAUSE, "Auto-pause is"),
    (unsupported::SANDBOX_TTL, "A TTL is"),
    (unsupported::SANDBOX_PUBLIC, "Public preview links are"),
    (
        unsupported::SANDBOX_NETWORK_SETTINGS,
        "Changing network settings is",
    ),
    (unsupported::SANDBOX_SECRETS, "Secrets are"),
    (unsupported::SANDBOX_PORTS_REST, "Preview links are"),
    (unsupported::SANDBOX_SSH_ACCESS, "SSH access is"),
    (unsupported::SANDBOX_SSH_ACCESS_VALIDATE, "SSH access is"),
    (unsupported::SANDBOX_SIGNING_KEY, "Signed file URLs are"),
    (
        unsupported::SANDBOX_SIGNING_KEY_ROTATE,
        "Signed file URLs are",
    ),
    (unsupported::SANDBOX_BUILD_LOGS_URL, "Image builds are"),
    (unsupported::SANDBOX_TELEMETRY_REST, "Telemetry is"),
    (unsupported::SNAPSHOTS, "The snapshots API is"),
    (unsupported::SNAPSHOTS_REST, "The snapshots API is"),
    (unsupported::VOLUMES, "Volumes are"),
    (unsupported::VOLUMES_REST, "Volumes are"),
    (unsupported::OBJECT_STORAGE_REST, "Object storage is"),
    (unsupported::CONFIG, "The configuration endpoint is"),
    (unsupported::SECRET, "Secrets are"),
    (unsupported::SECRET_REST, "Secrets are"),
    (unsupported::WARM_POOLS, "Warm pools are"),
    (unsupported::WARM_POOLS_REST, "Warm pools are"),
];

/// Every endpoint above that sandboxd serves under [`API_PREFIX`] (the unsupported ones
/// aside), for tables and tests.
pub const ALL: &[Endpoint] = &[
    OPENAPI,
    SOCKET_IO,
    SANDBOXES,
    SANDBOX,
    SANDBOX_START,
    SANDBOX_STOP,
    SANDBOX_RECOVER,
    SANDBOX_ARCHIVE,
    SANDBOX_RESIZE,
    SANDBOX_LABELS,
    SANDBOX_AUTOSTOP,
    SANDBOX_AUTOARCHIVE,
    SANDBOX_AUTODELETE,
    SANDBOX_LAST_ACTIVITY,
    SANDBOX_TOOLBOX_PROXY_URL,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_well_formed_and_listed_once() {
        let mut seen = std::collections::HashSet::new();
        let every = ALL
            .iter()
            .copied()
            .chain(UNSUPPORTED.iter().map(|(e, _)| *e))
            .chain([SOCKET_IO_SLASH, TOOLBOX, TOOLBOX_PATH]);
        for e in every {
            let t = e.template();
            assert!(seen.insert(t), "{t} is listed twice");
            assert!(t.starts_with('/') && !t.contains("//"), "{t}");
            assert_eq!(t.matches('{').count(), t.matches('}').count(), "{t}");
            let args: Vec<&str> = (0..e.params()).map(|_| "x").collect();
            assert!(!e.path(&args).contains(['{', '}']), "{t}");
        }
        assert_eq!(SOCKET_IO_SLASH.template(), format!("{SOCKET_IO}/"));
        assert!(TOOLBOX.template().starts_with(TOOLBOX_BASE));
        assert!(TOOLBOX_PATH.template().starts_with(TOOLBOX.template()));
    }

    #[test]
    fn ids_fill_as_one_segment() {
        assert_eq!(SANDBOX.path(&["a/b c"]), "/sandbox/a%2Fb%20c");
        assert_eq!(SANDBOX_STOP.path(&["x"]), "/sandbox/x/stop");
        assert_eq!(SANDBOX_AUTOSTOP.path(&["x", "0"]), "/sandbox/x/autostop/0");
    }
}
