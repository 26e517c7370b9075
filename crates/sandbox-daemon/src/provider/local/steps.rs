//! Timing of the steps of a sandbox's create and start, logged at debug level (`sandboxd
//! --log-level sandbox_daemon=debug`) so where a cold start spends its time can be read from
//! any run, without a profiler.

use std::fmt;
use std::time::{Duration, Instant};

/// Durations of named steps, in the order they ended.
#[derive(Debug)]
pub struct Steps {
    started: Instant,
    last: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Default for Steps {
    fn default() -> Steps {
        Steps::new()
    }
}

impl Steps {
    /// Starts the clock.
    pub fn new() -> Steps {
        let now = Instant::now();
        Steps {
            started: now,
            last: now,
            done: Vec::new(),
        }
    }

    /// Records `step` as the time since the previous mark.
    pub fn mark(&mut self, step: &'static str) {
        let now = Instant::now();
        self.done.push((step, now - self.last));
        self.last = now;
    }

    /// Records a step timed elsewhere (e.g. one of two that ran concurrently); the clock of
    /// [`Steps::mark`] is not moved.
    pub fn add(&mut self, step: &'static str, took: Duration) {
        self.done.push((step, took));
    }

    /// Time since the clock started.
    pub fn total(&self) -> Duration {
        self.started.elapsed()
    }
}

/// `step=1.2ms step2=0.3ms … total=4.5ms`.
impl fmt::Display for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (step, took) in &self.done {
            write!(f, "{step}={:.1}ms ", took.as_secs_f64() * 1e3)?;
        }
        write!(f, "total={:.1}ms", self.total().as_secs_f64() * 1e3)
    }
}

/// Runs `fut` and returns its output with how long it took.
pub async fn timed<T>(fut: impl std::future::Future<Output = T>) -> (T, Duration) {
    let t = Instant::now();
    let out = fut.await;
    (out, t.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_listed_in_order_with_a_total() {
        let mut s = Steps::new();
        s.mark("a");
        s.add("b", Duration::from_millis(3));
        s.mark("c");
        let text = s.to_string();
        let names: Vec<&str> = text
            .split_whitespace()
            .map(|w| w.split('=').next().unwrap_or_default())
            .collect();
        assert_eq!(names, ["a", "b", "c", "total"]);
        assert!(text.contains("b=3.0ms"), "{text}");
    }
}
