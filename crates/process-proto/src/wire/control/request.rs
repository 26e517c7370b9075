//! The bodies clients send (`CreateSandbox`, `ResizeSandbox`, `SandboxLabels`, `BuildInfo`)
//! and the `{"url"}` answer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{SandboxVolume, LANGUAGE_LABEL};
use crate::serde_util::null_as_default;

/// `buildInfo` of a create request: `{"dockerfileContent", "contextHashes"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BuildInfo {
    /// The Dockerfile text; a string image `x` is sent as `FROM x\n`.
    pub dockerfile_content: String,
    /// Hashes of uploaded build contexts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_hashes: Option<Vec<String>>,
}

impl BuildInfo {
    /// The build info the SDKs send for a plain image reference: `FROM <image>\n`.
    pub fn from_image(image: &str) -> BuildInfo {
        BuildInfo {
            dockerfile_content: format!("FROM {image}\n"),
            context_hashes: None,
        }
    }

    /// The image reference when the Dockerfile is exactly `FROM <ref>` (what a string image
    /// becomes); `None` for anything that needs a real build.
    pub fn plain_image(&self) -> Option<&str> {
        if self.context_hashes.as_ref().is_some_and(|h| !h.is_empty()) {
            return None;
        }
        let text = self.dockerfile_content.trim();
        let reference = text.strip_prefix("FROM ")?.trim();
        (!reference.is_empty() && !reference.contains(char::is_whitespace)).then_some(reference)
    }
}

/// `POST /sandbox` body (spec §5.1.1). Every key is optional; unknown keys are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateSandbox {
    /// Unique name (default: the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Snapshot id or name (absent: the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// A declarative image (`FROM <ref>\n` for a string image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_info: Option<BuildInfo>,
    /// OS user (default `daytona`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Environment variables.
    #[serde(default, deserialize_with = "null_as_default")]
    pub env: BTreeMap<String, String>,
    /// Labels.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Public preview URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// Block all network access but loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_block_all: Option<bool>,
    /// Comma-separated IPv4 CIDRs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_allow_list: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// vCPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
    /// GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<i64>,
    /// Memory in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Disk in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<i64>,
    /// Minutes of inactivity before auto-stop (default 15; 0 = never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_stop_interval: Option<i64>,
    /// Minutes stopped before auto-archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_archive_interval: Option<i64>,
    /// Minutes stopped before auto-delete (negative = never, 0 = on stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_delete_interval: Option<i64>,
    /// Volume mounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<SandboxVolume>>,
}

impl CreateSandbox {
    /// An empty request (the default image, default resources), with the language label the
    /// SDKs always send.
    pub fn new() -> CreateSandbox {
        let mut labels = BTreeMap::new();
        labels.insert(LANGUAGE_LABEL.to_owned(), "python".to_owned());
        CreateSandbox {
            labels,
            ..CreateSandbox::default()
        }
    }
}

/// `POST /sandbox/{id}/resize` body: only the given keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResizeSandbox {
    /// vCPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
    /// Memory in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Disk in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<i64>,
    /// GPUs (never supported locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<i64>,
}

impl ResizeSandbox {
    /// A resize to the given cpu and memory (either may be `None`).
    pub fn new(cpu: Option<i64>, memory: Option<i64>) -> ResizeSandbox {
        ResizeSandbox {
            cpu,
            memory,
            ..ResizeSandbox::default()
        }
    }
}

/// `PUT /sandbox/{id}/labels` body and the part of its answer the SDK reads: `{"labels"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct SandboxLabels {
    /// All labels (replaces the previous set).
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
}

impl SandboxLabels {
    /// A label set.
    pub fn new(labels: BTreeMap<String, String>) -> Self {
        SandboxLabels { labels }
    }
}

/// `{"url"}`: the answer of `GET /sandbox/{id}/toolbox-proxy-url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Url {
    /// The URL.
    pub url: String,
}

impl Url {
    /// A URL answer.
    pub fn new(url: impl Into<String>) -> Self {
        Url { url: url.into() }
    }
}
