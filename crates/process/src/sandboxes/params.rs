//! What a create asks for: [`CreateSandboxParams`] (the SDKs' `CreateSandboxFromImageParams` /
//! `CreateSandboxFromSnapshotParams`) and [`Resources`]; a plain builder of the wire body.

use process_proto::wire::control::{BuildInfo, CreateSandbox, LANGUAGE_LABEL};
use process_proto::wire::Language;

/// Resources of a new sandbox (vCPUs, GiB, GiB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// vCPUs.
    pub cpu: Option<u32>,
    /// Memory in GiB.
    pub memory: Option<u32>,
    /// Disk in GiB.
    pub disk: Option<u32>,
}

/// What to create: from an image (`CreateSandboxFromImageParams`) or a snapshot
/// (`CreateSandboxFromSnapshotParams`), or neither (the server's default).
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct CreateSandboxParams {
    body: CreateSandbox,
    language: Option<Language>,
}

impl CreateSandboxParams {
    /// The server's default image or snapshot.
    pub fn new() -> Self {
        CreateSandboxParams::default()
    }

    /// From an image reference (`debian:12.9`); sent as the SDKs do, `FROM <image>\n`.
    pub fn image(image: &str) -> Self {
        let mut p = CreateSandboxParams::default();
        p.body.build_info = Some(BuildInfo::from_image(image));
        p
    }

    /// From a snapshot name.
    pub fn snapshot(snapshot: impl Into<String>) -> Self {
        let mut p = CreateSandboxParams::default();
        p.body.snapshot = Some(snapshot.into());
        p
    }

    /// A unique name (default: the id).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.body.name = Some(name.into());
        self
    }

    /// An environment variable of every command in the sandbox.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.body.env.insert(key.into(), value.into());
        self
    }

    /// A label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.body.labels.insert(key.into(), value.into());
        self
    }

    /// `code_run`'s language in this sandbox (`python` by default).
    pub fn language(mut self, language: Language) -> Self {
        self.language = Some(language);
        self
    }

    /// Resources (only with an image, or the default: a snapshot fixes its own).
    pub fn resources(mut self, resources: Resources) -> Self {
        self.body.cpu = resources.cpu.map(i64::from);
        self.body.memory = resources.memory.map(i64::from);
        self.body.disk = resources.disk.map(i64::from);
        self
    }

    /// Minutes of inactivity before the sandbox stops (0 = never; default 15).
    pub fn auto_stop_interval(mut self, minutes: u32) -> Self {
        self.body.auto_stop_interval = Some(i64::from(minutes));
        self
    }

    /// The OS user commands run as (`daytona` by default).
    pub fn os_user(mut self, user: impl Into<String>) -> Self {
        self.body.user = Some(user.into());
        self
    }

    /// Deleted when stopped (`autoDeleteInterval: 0`).
    pub fn ephemeral(mut self) -> Self {
        self.body.auto_delete_interval = Some(0);
        self
    }

    /// Block all network access but loopback.
    pub fn network_block_all(mut self, block: bool) -> Self {
        self.body.network_block_all = Some(block);
        self
    }

    /// The request body as it goes on the wire.
    pub fn to_request(&self) -> CreateSandbox {
        let mut body = self.body.clone();
        let language = self.language.clone().unwrap_or(Language::Python);
        body.labels
            .insert(LANGUAGE_LABEL.to_owned(), language.as_str().to_owned());
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_has_the_sdk_shape() {
        let body = CreateSandboxParams::image("debian:12.9")
            .env("DEBUG", "true")
            .resources(Resources {
                cpu: Some(2),
                memory: Some(4),
                disk: None,
            })
            .auto_stop_interval(15)
            .to_request();
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "env": {"DEBUG": "true"},
                "labels": {"code-toolbox-language": "python"},
                "cpu": 2, "memory": 4, "autoStopInterval": 15,
                "buildInfo": {"dockerfileContent": "FROM debian:12.9\n"}
            })
        );
        let snap = serde_json::to_value(
            CreateSandboxParams::snapshot("my-snap")
                .language(Language::Typescript)
                .ephemeral()
                .to_request(),
        )
        .unwrap();
        assert_eq!(
            snap,
            serde_json::json!({
                "snapshot": "my-snap", "env": {},
                "labels": {"code-toolbox-language": "typescript"},
                "autoDeleteInterval": 0
            })
        );
    }
}
