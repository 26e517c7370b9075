//! [`Sandbox`]: one sandbox's last known description and the process, file-system and git
//! clients of its toolbox.

use process_proto::wire::control::{SandboxDto, SandboxState};

use crate::Client;

/// A sandbox: its last known description and a process client for its toolbox.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub(super) info: SandboxDto,
    pub(super) process: Client,
}

impl Sandbox {
    /// The id.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The state as of the last answer.
    pub fn state(&self) -> SandboxState {
        self.info.state()
    }

    /// The whole description (the `Sandbox` DTO) as of the last answer.
    pub fn info(&self) -> &SandboxDto {
        &self.info
    }

    /// The process API of this sandbox (`sandbox.process`): exec, code-run, sessions, PTYs,
    /// interpreter, through the toolbox proxy.
    pub fn process(&self) -> &Client {
        &self.process
    }

    /// The file system of this sandbox (`sandbox.fs`), through the toolbox proxy.
    pub fn fs(&self) -> crate::Fs<'_> {
        self.process.fs()
    }

    /// Git in this sandbox (`sandbox.git`), through the toolbox proxy.
    pub fn git(&self) -> crate::Git<'_> {
        self.process.git()
    }
}
