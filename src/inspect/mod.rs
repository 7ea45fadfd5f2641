//! Offline inspection of a store directory: what can be learned from the files themselves,
//! without a broker configuration. Nothing here creates or modifies a file.

pub mod discover;

pub use discover::{discover_config, GeometryOverrides};
