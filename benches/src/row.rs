//! One line of `BENCHMARKS.md`: a figure, our result, the floor or peer measured in the same
//! run, the ratio and the target. Rows travel from the benchmark binary to `cargo xtask bench`
//! as JSON lines on stdout.

use serde::{Deserialize, Serialize};

/// A result row, already formatted for the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Which of the figures (1–8) the row belongs to.
    pub group: u32,
    /// What was measured.
    pub figure: String,
    /// Our result, with its unit.
    pub ours: String,
    /// The floor or peer measured in the same run, with its unit.
    pub limit: String,
    /// Ours relative to the limit (e.g. `0.82×`), or empty.
    pub ratio: String,
    /// The target the ratio is held against, or empty.
    pub target: String,
    /// `met`, `missed`, `not measured: <reason>`, or empty when there is no target.
    pub verdict: String,
}

/// Which way a ratio is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Ours ÷ limit should be at least the target (throughput).
    Higher,
    /// Ours ÷ limit should be at most the target (latency).
    Lower,
}

impl Row {
    /// A row with a ratio checked against `target` (`None`: no target, no verdict).
    pub fn ratio(
        group: u32,
        figure: impl Into<String>,
        ours: impl Into<String>,
        limit: impl Into<String>,
        ratio: f64,
        target: Option<(Better, f64)>,
    ) -> Row {
        let (target, verdict) = match target {
            Some((better, t)) => {
                let met = match better {
                    Better::Higher => ratio >= t,
                    Better::Lower => ratio <= t,
                };
                let sign = if better == Better::Higher {
                    "≥"
                } else {
                    "≤"
                };
                (
                    format!("{sign} {}×", trim(t)),
                    if met { "met" } else { "missed" }.to_owned(),
                )
            }
            None => (String::new(), String::new()),
        };
        Row {
            group,
            figure: figure.into(),
            ours: ours.into(),
            limit: limit.into(),
            ratio: format_ratio(ratio),
            target,
            verdict,
        }
    }

    /// A row whose figure could not be measured; `reason` says why.
    pub fn not_measured(group: u32, figure: impl Into<String>, reason: impl AsRef<str>) -> Row {
        Row {
            group,
            figure: figure.into(),
            ours: "–".into(),
            limit: "–".into(),
            ratio: String::new(),
            target: String::new(),
            verdict: format!("not measured: {}", reason.as_ref()),
        }
    }

    /// A row with an absolute figure and a free-text target/verdict (no ratio).
    pub fn plain(
        group: u32,
        figure: impl Into<String>,
        ours: impl Into<String>,
        limit: impl Into<String>,
    ) -> Row {
        Row {
            group,
            figure: figure.into(),
            ours: ours.into(),
            limit: limit.into(),
            ratio: String::new(),
            target: String::new(),
            verdict: String::new(),
        }
    }

    /// Sets the target and verdict texts.
    #[must_use]
    pub fn with_target(mut self, target: impl Into<String>, met: bool) -> Row {
        self.target = target.into();
        self.verdict = String::from(if met { "met" } else { "missed" });
        self
    }

    /// The row as one JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `0.8234` → `0.82×`; large ratios lose decimals.
pub fn format_ratio(r: f64) -> String {
    if !r.is_finite() {
        return "–".into();
    }
    if r >= 100.0 {
        format!("{r:.0}×")
    } else if r >= 10.0 {
        format!("{r:.1}×")
    } else if r >= 1.0 {
        format!("{r:.2}×")
    } else {
        // Three decimals below 1, so a ratio just under a target does not print as equal to it.
        format!("{r:.3}×")
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Formats a duration given in microseconds with a readable unit.
pub fn micros(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// Formats a byte rate given in bytes per second.
pub fn rate(bytes_per_s: f64) -> String {
    if bytes_per_s >= 1e9 {
        format!("{:.2} GB/s", bytes_per_s / 1e9)
    } else {
        format!("{:.0} MB/s", bytes_per_s / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_direction() {
        let r = Row::ratio(1, "f", "a", "b", 0.6, Some((Better::Higher, 0.5)));
        assert_eq!(
            (r.ratio.as_str(), r.target.as_str(), r.verdict.as_str()),
            ("0.600×", "≥ 0.5×", "met")
        );
        let r = Row::ratio(2, "f", "a", "b", 1.3, Some((Better::Lower, 1.25)));
        assert_eq!(
            (r.target.as_str(), r.verdict.as_str()),
            ("≤ 1.25×", "missed")
        );
        let back: Row = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn units() {
        assert_eq!(micros(850.2), "850 µs");
        assert_eq!(micros(1250.0), "1.25 ms");
        assert_eq!(rate(2.5e9), "2.50 GB/s");
        assert_eq!(rate(128e6), "128 MB/s");
        assert_eq!(format_ratio(123.4), "123×");
    }
}
