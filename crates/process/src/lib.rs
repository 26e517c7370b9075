//! The sandbox process API client.
#![forbid(unsafe_code)]
