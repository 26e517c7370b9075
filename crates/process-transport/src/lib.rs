//! Pluggable transports for the sandbox process API.
#![forbid(unsafe_code)]
