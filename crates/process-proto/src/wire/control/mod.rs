//! The control-plane wire (Daytona's `/api/sandbox…` REST API, the subset the official SDKs use):
//! [`SandboxDto`] (the `Sandbox` DTO every lifecycle call returns), [`SandboxState`],
//! [`CreateSandbox`], [`ListSandboxesResponse`], [`ResizeSandbox`], [`SandboxLabels`], [`Url`]
//! and the control plane's error envelope [`ControlError`].
//!
//! Spec: `daytona-control-plane-wire.md` §4–§6. The Python SDK validates responses strictly
//! (§2.5): every key it requires is always written here (`!` keys of §4.1), integers stay JSON
//! integers, and optional keys are omitted when `None`. On read everything is lenient: unknown
//! keys are ignored, unknown states kept in [`SandboxState::Other`], absent maps read as empty.

mod error;
mod request;
mod sandbox;
mod state;

pub use error::ControlError;
pub use request::{BuildInfo, CreateSandbox, ResizeSandbox, SandboxLabels, Url};
pub use sandbox::{ListSandboxesResponse, SandboxDto, SandboxVolume};
pub use state::SandboxState;

/// The organization id a self-hosted control plane reports (there is one tenant).
pub const LOCAL_ORGANIZATION: &str = "local";
/// The target (region) a self-hosted control plane reports.
pub const LOCAL_TARGET: &str = "local";
/// The label that selects `code_run`'s language (`python`, `typescript`, `javascript`).
pub const LANGUAGE_LABEL: &str = "code-toolbox-language";

#[cfg(test)]
mod tests {
    use super::*;

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
