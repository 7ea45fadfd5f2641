//! Offline inspection of a store directory: what can be learned from the files themselves,
//! without a broker configuration. Nothing here creates or modifies a file, except the
//! commands whose names say so (`rebuild`, `salvage`), which write only where they are told.
//!
//! Public: [`verify()`] checks a store (read-only), [`preflight()`] checks stores against a
//! target version before an upgrade, [`discover_config`] finds a store's geometry from its
//! file lengths. The rest (`content`, the one definition of what a store holds; `layout`,
//! `queues`, `index_dump`, `lookup`, `records`; `rebuild` and `salvage`, which write) serves
//! the `rmqstore` CLI and is public only with the unstable `internals` feature.

internal_mods! {
    mod discover;
    mod preflight;
    mod report;
    mod verify;
    mod content;
    mod progress;
    #[cfg(feature = "internals")]
    mod records;
    mod scan;
}
mod rebuild_names;

// What only the CLI's commands (and our tests) use: not compiled for a library-only build.
internal_mods! {
    #[cfg(any(feature = "cli", feature = "internals"))]
    mod index_dump;
    #[cfg(any(feature = "cli", feature = "internals"))]
    mod layout;
    #[cfg(any(feature = "cli", feature = "internals"))]
    mod lookup;
    #[cfg(any(feature = "cli", feature = "internals"))]
    mod queues;
    #[cfg(any(feature = "cli", feature = "internals"))]
    mod rebuild;
    #[cfg(any(feature = "cli", feature = "internals"))]
    mod rebuild_bcq;
    #[cfg(any(feature = "cli", feature = "internals"))]
    mod salvage;
}
/// Without the `rebuild` command, only the names of what a rebuild leaves (`verify` knows them).
#[cfg(not(any(feature = "cli", feature = "internals")))]
mod rebuild {
    pub(crate) use super::rebuild_names::{is_rebuild_backup, is_rebuild_leftover};
}

// Read-only entry points an operator tool embedding the store may call.
pub use discover::{discover_config, GeometryOverrides};
pub use preflight::{
    preflight, PreflightOptions, PreflightReport, TargetVersion as PreflightTarget,
};
pub use report::{Finding, Findings, Severity};
pub use verify::{verify, CheckpointSummary, QueueSummary, Summary, VerifyOptions, VerifyReport};
// The 5.x part of a verify report (`Summary::v5`): its types live with the 5.x readers.
pub use crate::v5::compaction::{CompactionEntry, CompactionQueue, CompactionReport};
pub use crate::v5::identity::BrokerIdentity;
pub use crate::v5::inspect::{BatchQueueSummary, TimerSummary, V5Problem, V5Report};
pub use crate::v5::rocksdb_cq::{RocksCheck, RocksProblem};
pub use crate::v5::timer::TimerCheckpoint;
