//! The sandbox process API's wire protocol, with no IO and no runtime.
#![forbid(unsafe_code)]
