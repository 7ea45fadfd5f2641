//! The error type of the store: every error that comes from a file names the file, and where it
//! comes from a position in it, the byte offset.

use std::io;
use std::path::PathBuf;

pub use crate::format::{FormatError, Problem};

/// Errors of the store and the offline tools.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Bytes in a file that do not decode.
    #[error("{} at byte {offset}: {problem}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset in the file.
        offset: u64,
        /// What is wrong there.
        problem: Problem,
    },
    /// A file or directory that is not what the store expects (wrong size, stray name, ...).
    #[error("{}: {what}", path.display())]
    BadFile {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// A topic name RocketMQ would refuse, or one that could escape the store directory.
    #[error("invalid topic {topic:?}: {why}")]
    InvalidTopic {
        /// The topic.
        topic: String,
        /// Why it is refused.
        why: String,
    },
    /// A configuration value that cannot be used.
    #[error("config: {0}")]
    Config(String),
    /// Another process holds the store's lock.
    #[error("{}: the store is locked by another process (a broker or another writer is running)", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A write was attempted on a store opened read-only.
    #[error("the store is open read-only")]
    ReadOnly,
    /// A caller passed something the store cannot take.
    #[error("{0}")]
    Invalid(String),
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Wraps an I/O error with the file it happened on.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    /// A decoding error in `path`, with the error's relative offset moved by `base`.
    pub fn corrupt(path: impl Into<PathBuf>, base: u64, e: FormatError) -> Self {
        StoreError::Corrupt {
            path: path.into(),
            offset: base.saturating_add(e.offset),
            problem: e.problem,
        }
    }

    /// A [`StoreError::BadFile`].
    pub fn bad_file(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        StoreError::BadFile {
            path: path.into(),
            what: what.into(),
        }
    }
}

/// Adds the path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| StoreError::io(path, e))
    }
}

/// A failure of one of the store's background services
/// ([`MessageStore::background_errors`](crate::MessageStore::background_errors)), by service,
/// so a broker can branch on where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackgroundError {
    /// The flush or commit service (or a group commit) could not make data durable.
    #[error("{0}")]
    Flush(String),
    /// Dispatch to the consume queues or the index failed (it is retried).
    #[error("{0}")]
    Dispatch(String),
    /// Replication (HA) failed or diverged.
    #[error("{0}")]
    Replication(String),
    /// A cleanup run met an error.
    #[error("{0}")]
    Cleanup(String),
}
