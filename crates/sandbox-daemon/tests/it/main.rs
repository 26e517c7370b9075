//! Integration tests of `sandboxd`: the real binary on 127.0.0.1:0 driven over HTTP like the
//! SDKs drive it — on real runc sandboxes (`lifecycle`, `proxy`), or with the unisolated test
//! provider for the HTTP surface alone (`api`: envelopes, auth, pagination, validation) — and
//! the local (runc) provider against the real runtime (`local`: isolation, limits, network).

#![allow(unreachable_pub)] // test-harness modules share items with `pub`

mod api;
mod lifecycle;
mod local;
mod local_support;
mod proxy;
mod support;
mod warm;
