//! The checks of a `POST /sandbox` body and the settings they give (resources, auto-stop, OS
//! user): plain functions of the request and the manager's limits, run in the order the
//! original answers them (some before the image is resolved, the rest after).

use process_proto::wire::control::{CreateSandbox, LANGUAGE_LABEL};

use super::{ManagerConfig, ManagerError, DEFAULT_AUTO_STOP_MINUTES};

/// What a create settles once its image is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Settled {
    pub(super) cpu: u32,
    pub(super) memory: u32,
    pub(super) disk: u32,
    /// Minutes (0 = never).
    pub(super) auto_stop: i64,
    pub(super) user: String,
}

/// The checks made before the image is resolved; the image (or snapshot) name the request
/// names, if any.
pub(super) fn image_name(req: &CreateSandbox) -> Result<Option<&str>, ManagerError> {
    if let Some(lang) = req.labels.get(LANGUAGE_LABEL) {
        if !matches!(lang.as_str(), "python" | "typescript" | "javascript") {
            return Err(ManagerError::BadRequest(format!(
                "Invalid {LANGUAGE_LABEL}: {lang} (use python, typescript or javascript)"
            )));
        }
    }
    if let Some((k, _)) = req
        .env
        .iter()
        .find(|(k, v)| !valid_env_key(k) || v.contains('\0'))
    {
        return Err(ManagerError::BadRequest(format!(
            "invalid environment variable {k:?}: names are letters, digits and '_' (not starting with a digit), values contain no NUL"
        )));
    }
    if req.volumes.as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(ManagerError::Unsupported(
            "Volumes are not supported by this sandboxd yet".to_owned(),
        ));
    }
    if req.gpu.is_some_and(|g| g > 0) {
        return Err(ManagerError::BadRequest(
            "GPUs are not available on this host".to_owned(),
        ));
    }
    let has_resources = req.cpu.is_some() || req.memory.is_some() || req.disk.is_some();
    if req.snapshot.is_some() && req.build_info.is_some() {
        return Err(ManagerError::BadRequest(
            "Cannot specify a snapshot when using a build info entry".to_owned(),
        ));
    }
    if req.snapshot.is_some() && has_resources {
        return Err(ManagerError::BadRequest(
            "Cannot specify Sandbox resources when using a snapshot".to_owned(),
        ));
    }
    Ok(match &req.build_info {
        Some(info) => Some(info.plain_image().ok_or_else(|| {
            ManagerError::Unsupported(
                "Building images from a Dockerfile is not supported by this sandboxd yet: \
                 pass a plain image name (image=\"debian:12.9\") or a snapshot name"
                    .to_owned(),
            )
        })?),
        None => req.snapshot.as_deref(),
    })
}

/// The checks made after the image is resolved, and the settings they give.
pub(super) fn settle(req: &CreateSandbox, cfg: &ManagerConfig) -> Result<Settled, ManagerError> {
    // (name, asked, default, what the host has, unit), checked in this order.
    let [cpu, memory, disk] = [
        ("cpu", req.cpu, cfg.defaults.cpu, cfg.host.cpu, " cores"),
        (
            "memory",
            req.memory,
            cfg.defaults.memory_gib,
            cfg.host.memory_gib,
            " GiB",
        ),
        (
            "disk",
            req.disk,
            cfg.defaults.disk_gib,
            cfg.host.disk_gib,
            " GiB",
        ),
    ]
    .map(|(what, asked, default, max, unit)| {
        in_range(what, asked.unwrap_or(i64::from(default)), max, unit)
    });
    let (cpu, memory, disk) = (cpu?, memory?, disk?);
    let auto_stop = req.auto_stop_interval.unwrap_or(DEFAULT_AUTO_STOP_MINUTES);
    if auto_stop < 0 {
        return Err(ManagerError::BadRequest(
            "autoStopInterval must not be less than 0".to_owned(),
        ));
    }
    let user = req.user.clone().unwrap_or_else(|| "daytona".to_owned());
    if user.is_empty()
        || !user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ManagerError::BadRequest(format!("invalid user {user:?}")));
    }
    if let Some(name) = &req.name {
        if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
            return Err(ManagerError::BadRequest(
                "name must be 1 to 255 printable characters".to_owned(),
            ));
        }
    }
    Ok(Settled {
        cpu,
        memory,
        disk,
        auto_stop,
        user,
    })
}

/// A POSIX-style variable name: a letter or `_`, then letters, digits and `_`.
fn valid_env_key(k: &str) -> bool {
    let mut bytes = k.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `value` as a resource amount between 1 and the host's `max` (`unit` is for the message).
pub(super) fn in_range(what: &str, value: i64, max: u32, unit: &str) -> Result<u32, ManagerError> {
    if value < 1 {
        return Err(ManagerError::BadRequest(format!(
            "{what} must not be less than 1"
        )));
    }
    if value > i64::from(max) {
        return Err(ManagerError::BadRequest(format!(
            "{what} {value} is more than this host has ({max}{unit})"
        )));
    }
    Ok(value as u32)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use process_proto::wire::control::BuildInfo;

    use super::*;
    use crate::provider::Resources;

    fn config() -> ManagerConfig {
        ManagerConfig {
            toolbox_url: "http://127.0.0.1:3000/toolbox".to_owned(),
            max_sandboxes: 10,
            defaults: Resources {
                cpu: 1,
                memory_gib: 1,
                disk_gib: 3,
            },
            host: Resources {
                cpu: 4,
                memory_gib: 8,
                disk_gib: 50,
            },
            minute: Duration::from_mins(1),
            monitor_interval: Duration::from_secs(1),
            daemon_version: "test".to_owned(),
            warm: 0,
            warm_status: None,
        }
    }

    fn bad(r: Result<impl std::fmt::Debug, ManagerError>) -> String {
        match r {
            Err(ManagerError::BadRequest(m) | ManagerError::Unsupported(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn image_checks_refuse_what_the_original_refuses() {
        let mut req = CreateSandbox::default();
        assert_eq!(image_name(&req).unwrap(), None);
        req.snapshot = Some("snap".to_owned());
        assert_eq!(image_name(&req).unwrap(), Some("snap"));
        req.cpu = Some(2);
        assert!(bad(image_name(&req)).contains("resources when using a snapshot"));
        req.cpu = None;
        req.build_info = Some(BuildInfo::from_image("debian:12.9"));
        assert!(bad(image_name(&req)).contains("snapshot when using a build info"));
        req.snapshot = None;
        assert_eq!(image_name(&req).unwrap(), Some("debian:12.9"));
        req.env.insert("1BAD".to_owned(), "x".to_owned());
        assert!(bad(image_name(&req)).contains("invalid environment variable \"1BAD\""));
        req.env.clear();
        req.labels
            .insert(LANGUAGE_LABEL.to_owned(), "cobol".to_owned());
        assert!(bad(image_name(&req)).contains("Invalid code-toolbox-language: cobol"));
    }

    #[test]
    fn settings_default_and_stay_within_the_host() {
        let cfg = config();
        let mut req = CreateSandbox::default();
        assert_eq!(
            settle(&req, &cfg).unwrap(),
            Settled {
                cpu: 1,
                memory: 1,
                disk: 3,
                auto_stop: DEFAULT_AUTO_STOP_MINUTES,
                user: "daytona".to_owned(),
            }
        );
        req.cpu = Some(5);
        assert_eq!(
            bad(settle(&req, &cfg)),
            "cpu 5 is more than this host has (4 cores)"
        );
        req.cpu = Some(0);
        assert_eq!(bad(settle(&req, &cfg)), "cpu must not be less than 1");
        req.cpu = None;
        req.auto_stop_interval = Some(-1);
        assert!(bad(settle(&req, &cfg)).contains("autoStopInterval"));
        req.auto_stop_interval = Some(0);
        req.user = Some("root; rm".to_owned());
        assert!(bad(settle(&req, &cfg)).contains("invalid user"));
        req.user = None;
        req.name = Some(String::new());
        assert!(bad(settle(&req, &cfg)).contains("name must be 1 to 255"));
    }
}
