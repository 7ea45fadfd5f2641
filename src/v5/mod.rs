//! RocketMQ 5.x store structures that 4.6.0 does not have: the batch consume queue
//! (`batchconsumequeue/`), light message queues (`%LMQ%` multi-dispatch), timer messages
//! (`timerlog/`, `timerwheel`, `config/timercheck`, `config/timermetrics`) and the controller-mode
//! `epochFileCheckpoint` and `brokerIdentity` files, compaction topics (`compaction/`). Each submodule reads its structure exactly as the 5.3.3 store writes it
//! (Java: `org.apache.rocketmq.store.queue.BatchConsumeQueue`, `store.timer.*`,
//! `store.ha.autoswitch.EpochFileCache`); `docs/format.md` §12 describes the bytes.
//!
//! The readers create, lock and change nothing. The writers: `batch_cq_write` (appends to and regenerates
//! `batchconsumequeue/`; `batch_cq_table` holds an open store's batch queues), `props` (5.x property
//! re-serialization), the LMQ rules in `lmq` used by the put path (`src/store/lmq_put.rs`) and
//! dispatch, and `timer_write` (the timer transform, enqueue and recovery used by
//! `src/store/timer_put.rs`).

pub mod batch_cq;
pub mod batch_cq_table;
pub mod batch_cq_write;
pub mod crc;
pub mod lmq;
pub mod props;
pub mod recovery;
// The CLI and tests use all of it; the library's own verify only part.
#[cfg_attr(not(feature = "internals"), allow(dead_code))]
pub mod rocksdb_cq;
#[cfg(feature = "rocksdb")]
pub mod rocksdb_ffi;
pub mod target;
pub mod compaction;
pub mod epoch;
pub mod identity;
pub mod inspect;
pub mod timer;
pub mod timer_write;

pub use target::TargetVersion;

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// The files of `dir` whose names are exactly 20 decimal digits, sorted by that number (the
/// naming of commitlog, consume-queue, batch-consume-queue and timer-log files). Any other entry
/// is an error naming it: nothing in these directories is ours to ignore.
pub(crate) fn numbered_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ft = entry.file_type().map_err(|e| StoreError::io(&path, e))?;
        if !ft.is_file() || name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StoreError::BadFile {
                path,
                what: "not a segment (expected a regular file with a 20-digit name)".into(),
            });
        }
        let n: u64 = name.parse().map_err(|_| StoreError::BadFile {
            path: path.clone(),
            what: "segment name out of range".into(),
        })?;
        out.push((n, path));
    }
    out.sort();
    Ok(out)
}

/// Reads a whole file, the error naming it.
pub(crate) fn read_all(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| StoreError::io(path, e))
}

/// Sorted sub-directory names of `dir` (topics, queue ids).
pub(crate) fn sub_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| StoreError::io(&path, e))?;
        if !ft.is_dir() {
            return Err(StoreError::BadFile {
                path,
                what: "expected a directory".into(),
            });
        }
        out.push((entry.file_name().to_string_lossy().into_owned(), path));
    }
    out.sort();
    Ok(out)
}
