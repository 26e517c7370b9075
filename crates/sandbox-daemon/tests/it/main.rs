//! Integration tests of `sandboxd`: the real binary on 127.0.0.1:0 with the unisolated test
//! provider (processd as a plain child process), driven over HTTP like the SDKs drive it.

mod api;
mod lifecycle;
mod proxy;
mod support;
