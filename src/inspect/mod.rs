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

pub mod content;
pub mod discover;
pub mod index_dump;
pub mod layout;
pub mod lookup;
pub mod preflight;
pub mod progress;
pub mod queues;
pub mod rebuild;
pub mod records;
pub mod report;
pub mod salvage;
pub mod scan;
pub mod verify;

pub use discover::{discover_config, GeometryOverrides};
pub use report::{Finding, Findings, Severity};
