//! The artifact-line codec of code-run (spec §6.3): the matplotlib wrapper prints
//! `dtn_artifact_k39fd2:{"type":"chart","value":{…}}` lines on stdout; they are removed from the
//! output and decoded. `ArtifactScanner` (feature `artifact-scanner`) does it incrementally,
//! [`strip_artifacts`] in one shot.
//!
//! Rules (the official daemon's): a line that *starts with* [`ARTIFACT_PREFIX`] is removed from
//! the output whatever follows (invalid JSON included); the rest of the line is trimmed of
//! surrounding whitespace and parsed; `type == "chart"` with a non-empty object `value` is a
//! [`Chart`]. Any program can print such a line (the format is forgeable by design).
//!
//! Removal differs in one corner between the two entry points: `ArtifactScanner` removes an
//! artifact line together with its own terminating `\n`; [`strip_artifacts`] re-joins the
//! remaining lines with `\n` like the daemon, so when the output *ends* with an unterminated
//! artifact line the `\n` that preceded it is removed as well (`"a\n<artifact>"` → `"a"`, where
//! the scanner gives `"a\n"`). Everywhere else they agree.

use serde_json::Value;

use crate::chart::Chart;

/// The prefix of an artifact line.
pub const ARTIFACT_PREFIX: &str = "dtn_artifact_k39fd2:";
/// Default longest artifact line an `ArtifactScanner` buffers (the PNG is inside it).
pub const DEFAULT_MAX_ARTIFACT_LINE: usize = 16 * 1024 * 1024;

/// An artifact line was removed but could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The text after the prefix is not a JSON object.
    #[error("artifact line is not valid JSON: {0}")]
    Json(String),
    /// `type` is `chart` but `value` is missing, `null` or empty.
    #[error("chart artifact has an empty value")]
    EmptyChart,
    /// `value` does not match the chart schema.
    #[error("chart artifact does not match the chart schema: {0}")]
    InvalidChart(String),
    /// The line exceeded the scanner's limit; it was removed unread.
    #[error("artifact line longer than {limit} bytes was dropped")]
    LineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
}

/// A decoded artifact line.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Artifact {
    /// `{"type":"chart","value":{…}}`.
    Chart(Box<Chart>),
    /// Another `type` (removed from the output and otherwise ignored by the daemon).
    Other {
        /// The `type` value (`""` when absent or not a string).
        kind: String,
        /// The `value` (`null` when absent).
        value: Value,
    },
}

impl Artifact {
    /// Decodes the text after [`ARTIFACT_PREFIX`] (surrounding whitespace is ignored).
    pub fn parse(payload: &[u8]) -> Result<Artifact, ArtifactError> {
        let payload = payload.trim_ascii();
        let mut obj = match serde_json::from_slice::<Value>(payload) {
            Ok(Value::Object(obj)) => obj,
            Ok(_) => return Err(ArtifactError::Json("expected a JSON object".into())),
            Err(e) => return Err(ArtifactError::Json(e.to_string())),
        };
        let kind = match obj.remove("type") {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        let value = obj.remove("value").unwrap_or(Value::Null);
        if kind != "chart" {
            return Ok(Artifact::Other { kind, value });
        }
        match &value {
            Value::Object(m) if !m.is_empty() => Chart::from_value(value)
                .map(|c| Artifact::Chart(Box::new(c)))
                .map_err(|e| ArtifactError::InvalidChart(e.to_string())),
            _ => Err(ArtifactError::EmptyChart),
        }
    }

    /// Encodes a chart as an artifact line (prefix, JSON, `\n`).
    pub fn chart_line(chart: &Chart) -> String {
        let mut line = String::from(ARTIFACT_PREFIX);
        line.push_str(r#"{"type":"chart","value":"#);
        line.push_str(&chart.to_json());
        line.push_str("}\n");
        line
    }
}

#[cfg(feature = "artifact-scanner")]
mod scanner;
#[cfg(feature = "artifact-scanner")]
pub use scanner::{ArtifactScanner, ScanEvent};

/// Removes artifact lines from combined output the way the official daemon does (split on
/// `\n`, drop lines starting with the prefix, re-join with `\n`) and returns the remaining text
/// and the decoded charts (invalid lines are dropped silently; see
/// [`strip_artifacts_with_errors`]).
///
/// ```
/// use process_proto::artifact::strip_artifacts;
/// let out = "a\ndtn_artifact_k39fd2:{\"type\": \"chart\", \"value\": {\"type\": \"pie\"}}\nb\n";
/// let (text, charts) = strip_artifacts(out);
/// assert_eq!(text, "a\nb\n");
/// assert_eq!(charts.len(), 1);
/// ```
pub fn strip_artifacts(output: &str) -> (String, Vec<Chart>) {
    let (text, charts, _) = strip_artifacts_with_errors(output);
    (text, charts)
}

/// Like [`strip_artifacts`], also returning why invalid artifact lines were dropped.
pub fn strip_artifacts_with_errors(output: &str) -> (String, Vec<Chart>, Vec<ArtifactError>) {
    let mut kept: Vec<&str> = Vec::new();
    let mut charts = Vec::new();
    let mut errors = Vec::new();
    for line in output.split('\n') {
        match line.strip_prefix(ARTIFACT_PREFIX) {
            None => kept.push(line),
            Some(payload) => match Artifact::parse(payload.as_bytes()) {
                Ok(Artifact::Chart(c)) => charts.push(*c),
                Ok(Artifact::Other { .. }) => {}
                Err(e) => errors.push(e),
            },
        }
    }
    (kept.join("\n"), charts, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        assert!(matches!(
            Artifact::parse(&[&br#" {"type": "chart", "value": {"type": "pie"}} "#[..], b"\r"].concat()),
            Ok(Artifact::Chart(c)) if c.kind == crate::chart::ChartType::Pie
        ));
        assert_eq!(
            Artifact::parse(br#"{"type": "table", "value": [1]}"#),
            Ok(Artifact::Other {
                kind: "table".into(),
                value: serde_json::json!([1])
            })
        );
        for empty in [
            &br#"{"type": "chart"}"#[..],
            br#"{"type": "chart", "value": {}}"#,
            br#"{"type": "chart", "value": null}"#,
        ] {
            assert_eq!(Artifact::parse(empty), Err(ArtifactError::EmptyChart));
        }
        assert!(matches!(
            Artifact::parse(b"[1]"),
            Err(ArtifactError::Json(_))
        ));
        assert!(matches!(Artifact::parse(b""), Err(ArtifactError::Json(_))));
        assert!(matches!(
            Artifact::parse(br#"{"type": "chart", "value": {"type": "line", "elements": [1]}}"#),
            Err(ArtifactError::InvalidChart(_))
        ));
    }

    #[test]
    fn strip_reports_errors() {
        let (text, charts, errors) = strip_artifacts_with_errors("x\ndtn_artifact_k39fd2:oops\ny");
        assert_eq!((text.as_str(), charts.len(), errors.len()), ("x\ny", 0, 1));
    }
}
