//! Offline inspection of a store directory: what can be learned from the files themselves,
//! without a broker configuration. Nothing here creates or modifies a file, except the
//! commands whose names say so (`rebuild`, `salvage`), which write only where they are told.
//!
//! [`content`] is the one definition of what a store holds (recovery's end, and what lies
//! outside it, reported); [`discover`] finds the geometry from file lengths; [`layout`] classifies the commitlog
//! segments and lists `config/`; [`queues`] summarizes consume queues and checks their units
//! against the commitlog; [`index_dump`] shows index headers, entries and slot chains;
//! [`lookup`] finds a message by msgId, UNIQ_KEY or key; [`records`] walks a physical range;
//! [`verify`], [`rebuild`], [`salvage`] and [`preflight`] check and repair stores.

// Read-only entry points an operator tool embedding the store may call.
pub mod discover;
pub mod preflight;
pub mod report;
pub mod verify;

internal_mods! {
    mod content;
    mod lookup;
    mod queues;
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
    mod rebuild;
    #[cfg(any(feature = "cli", feature = "internals"))]
    mod salvage;
}
/// Without the `rebuild` command, only the names of what a rebuild leaves (`verify` knows them).
#[cfg(not(any(feature = "cli", feature = "internals")))]
mod rebuild {
    pub(crate) use super::rebuild_names::{is_rebuild_backup, is_rebuild_leftover};
}

pub use discover::{discover_config, GeometryOverrides};
pub use report::{Finding, Findings, Severity};
