//! Offline inspection of a store directory: what can be learned from the files themselves,
//! without a broker configuration. Nothing here creates or modifies a file, except the
//! commands whose names say so (`rebuild`, `salvage`), which write only where they are told.

pub mod discover;
pub mod preflight;
pub mod rebuild;
pub mod report;
pub mod salvage;
pub mod scan;
pub mod verify;

pub use discover::{discover_config, GeometryOverrides};
pub use report::{Finding, Findings, Severity};
