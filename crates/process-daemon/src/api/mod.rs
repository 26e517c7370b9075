//! The HTTP handlers, one module per route family; each has a `routes()` that the router
//! merges.

pub(crate) mod exec;
pub(crate) mod follow;
pub(crate) mod fs;
pub(crate) mod git;
pub(crate) mod info;
pub(crate) mod interpreter;
pub(crate) mod pty;
pub(crate) mod session;
pub(crate) mod toolbox;
