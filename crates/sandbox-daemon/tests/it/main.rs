//! Integration tests for `sandboxd`.

#![allow(unreachable_pub)] // test-harness modules share items with `pub`

mod local;
mod local_support;
