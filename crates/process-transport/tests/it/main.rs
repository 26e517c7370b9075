//! Integration tests of the transports: the same HTTP and WebSocket code over TCP (127.0.0.1:0)
//! and in memory, and the layers at service level with `tower_test::mock`.
#![allow(unreachable_pub)]

mod layers;
mod support;
mod swap;
