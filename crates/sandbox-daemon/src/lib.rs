//! `sandboxd`: a Daytona-compatible control plane that creates isolated sandboxes, each running
//! `processd`, and proxies their toolbox API.

pub mod provider;
