//! Shared pieces of the benchmarks: the demux inputs and kernels (used by the criterion bench
//! and the `bench` binary alike), sample statistics, and the result rows `cargo xtask bench`
//! collects into `BENCHMARKS.md`.
//!
//! Every figure is measured beside its floor in the same run, because wall-clock time on the
//! project's 2-core machines moves 20–40 % between runs while the ratio to a floor measured
//! seconds apart is far steadier.

pub mod daemon;
pub mod demux;
pub mod demux_report;
pub mod e2e;
pub mod floors;
pub mod row;
pub mod sandbox;
pub mod stats;
pub mod transfer;

pub use row::Row;
pub use stats::Summary;
