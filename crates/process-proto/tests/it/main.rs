//! Integration tests of process-proto: spec appendices A and B, §6.5 charts, property laws,
//! and (when `PROCESSD_PYTHON` is set) differential checks against the official SDK.
#![allow(unreachable_pub)]

mod appendix_a;
mod appendix_b;
mod charts;
mod multipart;
mod props;
mod sdk;
