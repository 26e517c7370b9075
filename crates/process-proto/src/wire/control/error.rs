//! [`ControlError`]: the control plane's error envelope (spec §2.6).

use serde::{Deserialize, Deserializer, Serialize};

/// The control plane's error envelope (spec §2.6), on every non-2xx answer:
/// `{"path", "timestamp", "statusCode", "error", "message", "code"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ControlError {
    /// The request path.
    #[serde(default)]
    pub path: String,
    /// When (ISO 8601).
    #[serde(default)]
    pub timestamp: String,
    /// The HTTP status.
    #[serde(default)]
    pub status_code: u16,
    /// The status's reason phrase (`Not Found`).
    #[serde(default)]
    pub error: String,
    /// What went wrong, for a person.
    #[serde(default, deserialize_with = "message_text")]
    pub message: String,
    /// A machine-readable code, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl ControlError {
    /// An envelope.
    pub fn new(
        path: impl Into<String>,
        timestamp: impl Into<String>,
        status_code: u16,
        error: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ControlError {
            path: path.into(),
            timestamp: timestamp.into(),
            status_code,
            error: error.into(),
            message: message.into(),
            code: None,
        }
    }
}

/// NestJS sends validation messages as an array; join them as the hosted API's filter does.
fn message_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Message {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Message>::deserialize(d)? {
        None => String::new(),
        Some(Message::One(s)) => s,
        Some(Message::Many(v)) => v.join(", "),
    })
}
