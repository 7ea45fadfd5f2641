//! Side files an inspection open left out instead of refusing the store (issue 12 item 5).
//!
//! A writable open refuses every such file, as Java does; an inspection open
//! ([`crate::MessageStore::open_inspect`]) leaves a stray entry of `commitlog/`, a consume-queue
//! file or an index file it cannot use out, records it here, and shows the rest of the store.

use std::path::PathBuf;

use serde::Serialize;

/// A file (or folder entry) left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    /// The file.
    pub path: PathBuf,
    /// Why it was left out.
    pub reason: String,
}

impl LeftOut {
    /// A file left out for `reason`.
    pub fn new(path: impl Into<PathBuf>, reason: impl Into<String>) -> LeftOut {
        LeftOut {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: left out: {}", self.path.display(), self.reason)
    }
}

/// Adds `item` unless a file of the same path is already there.
#[cfg(any(feature = "cli", feature = "internals"))]
pub fn push_unique(list: &mut Vec<LeftOut>, item: LeftOut) {
    if !list.iter().any(|l| l.path == item.path) {
        list.push(item);
    }
}
