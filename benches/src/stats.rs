//! Sample statistics: min, median, p99 and max of a set of measurements.

use std::time::Duration;

/// Order statistics of a sample (all in the sample's unit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Smallest sample.
    pub min: f64,
    /// Median (nearest rank).
    pub p50: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// Summarises `samples` (which it sorts); `None` when empty.
    pub fn of(samples: &mut [f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let i = (q * samples.len() as f64).ceil() as usize;
            samples[i.clamp(1, samples.len()) - 1]
        };
        Some(Summary {
            n: samples.len(),
            min: samples[0],
            p50: rank(0.5),
            p99: rank(0.99),
            max: samples[samples.len() - 1],
        })
    }

    /// Summarises durations in microseconds.
    pub fn of_micros(samples: &[Duration]) -> Option<Summary> {
        let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        Summary::of(&mut us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = Summary::of(&mut v).unwrap();
        assert_eq!(
            (s.n, s.min, s.p50, s.p99, s.max),
            (100, 1.0, 50.0, 99.0, 100.0)
        );
        let s = Summary::of(&mut [3.0]).unwrap();
        assert_eq!((s.p50, s.p99), (3.0, 3.0));
        assert!(Summary::of(&mut []).is_none());
    }
}
