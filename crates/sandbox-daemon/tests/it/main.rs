//! Integration tests of `sandboxd`: the real binary on 127.0.0.1:0 with the unisolated test
//! provider (processd as a plain child process), driven over HTTP like the SDKs drive it; and
//! the local (runc) provider against the real runtime.

#![allow(unreachable_pub)] // test-harness modules share items with `pub`

mod api;
mod lifecycle;
mod local;
mod local_support;
mod proxy;
mod support;
