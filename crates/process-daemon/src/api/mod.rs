//! HTTP handlers of the one-shot and session endpoints (PTYs and interpreter contexts live in
//! their own modules).

pub(crate) mod exec;
pub(crate) mod follow;
pub(crate) mod session;
