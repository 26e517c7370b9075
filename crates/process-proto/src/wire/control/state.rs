//! [`SandboxState`]: the lifecycle states as the wire spells them, unknown ones kept.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `SandboxState` (spec §4.4). Unknown values read as [`SandboxState::Other`], never an error.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SandboxState {
    /// `creating`
    Creating,
    /// `restoring`
    Restoring,
    /// `destroyed`
    Destroyed,
    /// `destroying`
    Destroying,
    /// `started`
    Started,
    /// `stopped`
    Stopped,
    /// `starting`
    Starting,
    /// `stopping`
    Stopping,
    /// `error` (see [`SandboxDto::error_reason`])
    Error,
    /// `build_failed`
    BuildFailed,
    /// `pending_build`
    PendingBuild,
    /// `building_snapshot`
    BuildingSnapshot,
    /// `unknown`
    Unknown,
    /// `pulling_snapshot`
    PullingSnapshot,
    /// `archived`
    Archived,
    /// `archiving`
    Archiving,
    /// `resizing`
    Resizing,
    /// `snapshotting`
    Snapshotting,
    /// `forking`
    Forking,
    /// `pausing`
    Pausing,
    /// `paused`
    Paused,
    /// `resuming`
    Resuming,
    /// Any other value, kept verbatim.
    Other(String),
}

impl SandboxState {
    const NAMES: [(&'static str, SandboxState); 22] = [
        ("creating", SandboxState::Creating),
        ("restoring", SandboxState::Restoring),
        ("destroyed", SandboxState::Destroyed),
        ("destroying", SandboxState::Destroying),
        ("started", SandboxState::Started),
        ("stopped", SandboxState::Stopped),
        ("starting", SandboxState::Starting),
        ("stopping", SandboxState::Stopping),
        ("error", SandboxState::Error),
        ("build_failed", SandboxState::BuildFailed),
        ("pending_build", SandboxState::PendingBuild),
        ("building_snapshot", SandboxState::BuildingSnapshot),
        ("unknown", SandboxState::Unknown),
        ("pulling_snapshot", SandboxState::PullingSnapshot),
        ("archived", SandboxState::Archived),
        ("archiving", SandboxState::Archiving),
        ("resizing", SandboxState::Resizing),
        ("snapshotting", SandboxState::Snapshotting),
        ("forking", SandboxState::Forking),
        ("pausing", SandboxState::Pausing),
        ("paused", SandboxState::Paused),
        ("resuming", SandboxState::Resuming),
    ];

    /// The wire spelling (`"started"`, `"build_failed"`, …).
    pub fn as_str(&self) -> &str {
        if let SandboxState::Other(s) = self {
            return s;
        }
        Self::NAMES
            .iter()
            .find(|(_, state)| state == self)
            .map_or("unknown", |(name, _)| name)
    }

    /// Reads a wire spelling; anything unknown becomes [`SandboxState::Other`].
    pub fn parse(s: &str) -> SandboxState {
        Self::NAMES
            .iter()
            .find(|(name, _)| *name == s)
            .map_or_else(|| SandboxState::Other(s.to_owned()), |(_, st)| st.clone())
    }

    /// Whether a sandbox in this state is in the middle of a transition (the SDK keeps waiting).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SandboxState::Creating
                | SandboxState::Restoring
                | SandboxState::Destroying
                | SandboxState::Starting
                | SandboxState::Stopping
                | SandboxState::PendingBuild
                | SandboxState::BuildingSnapshot
                | SandboxState::PullingSnapshot
                | SandboxState::Archiving
                | SandboxState::Resizing
                | SandboxState::Snapshotting
                | SandboxState::Forking
                | SandboxState::Pausing
                | SandboxState::Resuming
        )
    }
}

impl fmt::Display for SandboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SandboxState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SandboxState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(SandboxState::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_unknown_is_kept() {
        for (name, state) in &SandboxState::NAMES {
            assert_eq!(&SandboxState::parse(name), state);
            assert_eq!(state.as_str(), *name);
        }
        assert_eq!(
            SandboxState::parse("frozen"),
            SandboxState::Other("frozen".into())
        );
        assert_eq!(SandboxState::Other("frozen".into()).as_str(), "frozen");
    }
}
