//! The batch consume queues of an open store (5.x target): which topics use them, each queue's
//! units, and the writers dispatch appends with (Java: `ConsumeQueueStore` holding
//! `BatchConsumeQueue`s next to the plain `ConsumeQueue`s).
//!
//! Which queue a record goes to follows `ConsumeQueueStore#findOrCreateConsumeQueue`: a queue
//! that exists (loaded from disk or created earlier) keeps its kind; a new queue of a topic whose
//! `queue.type` is `BatchCQ` (`config/topics.json`, or [`BatchCqTable::set_batch_topic`]) is a
//! batch queue. Each queue's units are kept in memory (46 bytes on disk, 48 here) for the
//! offset lookups `get_message` makes (Java binary-searches the mapped files instead).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use parking_lot::{Mutex, RwLock};

use super::batch_cq::{read_all_queues, BatchCqUnit, BCQ_UNIT_SIZE};
use super::batch_cq_write::BatchCqWriter;
use crate::error::{Result, StoreError};

/// One batch queue: its units in order, the byte offset of the first (the first file's name),
/// and its writer once something was appended.
#[derive(Debug)]
struct Queue {
    dir: PathBuf,
    base: u64,
    units: Vec<BatchCqUnit>,
    writer: Option<BatchCqWriter>,
}

impl Queue {
    fn end(&self) -> u64 {
        self.base + (self.units.len() * BCQ_UNIT_SIZE) as u64
    }
}

/// The store's batch consume queues.
#[derive(Debug)]
pub struct BatchCqTable {
    /// The `batchconsumequeue/` folder (a rebuild writes a fresh one beside it).
    dir: PathBuf,
    file_size: u64,
    topics: RwLock<BTreeSet<String>>,
    queues: Mutex<BTreeMap<(String, i32), Queue>>,
}

/// What [`BatchCqTable::get`] found: the unit holding an offset and the units after it.
#[derive(Debug, Clone)]
pub struct BatchCqSlice {
    pub units: Vec<BatchCqUnit>,
}

impl BatchCqTable {
    /// An empty table (no batch topics, no queues): what a 4.6.0-target store has.
    pub fn empty(root: &Path, file_size: u64) -> BatchCqTable {
        BatchCqTable::fresh(&super::batch_cq::dir(root), file_size, BTreeSet::new())
    }

    /// A table with no queues writing into `dir` (not read), for `topics`.
    pub fn fresh(dir: &Path, file_size: u64, topics: BTreeSet<String>) -> BatchCqTable {
        BatchCqTable {
            dir: dir.to_path_buf(),
            file_size,
            topics: RwLock::new(topics),
            queues: Mutex::new(BTreeMap::new()),
        }
    }

    /// Loads `root/batchconsumequeue/` (every queue, Java's recovery rule for each: units up to
    /// the first invalid one) and the batch topics of `config_dir/topics.json`.
    pub fn load(root: &Path, config_dir: &Path, file_size: u64) -> Result<BatchCqTable> {
        let t = BatchCqTable::empty(root, file_size);
        *t.topics.write() = super::batch_cq_write::batch_topics(config_dir)?;
        let mut queues = t.queues.lock();
        for q in read_all_queues(root)? {
            if !q.files.is_empty() && q.file_size != file_size {
                return Err(StoreError::BadFile {
                    path: q.files[0].1.clone(),
                    what: format!(
                        "length {} differs from mapperFileSizeBatchConsumeQueue {file_size}",
                        q.file_size
                    ),
                });
            }
            let dir = super::batch_cq::dir(root)
                .join(&q.topic)
                .join(q.queue_id.to_string());
            queues.insert(
                (q.topic.clone(), q.queue_id),
                Queue {
                    dir,
                    base: q.files.first().map_or(0, |(n, _)| *n),
                    units: q.units.iter().map(|u| u.unit).collect(),
                    writer: None,
                },
            );
        }
        drop(queues);
        Ok(t)
    }

    /// Makes `topic`'s new queues batch queues (`batch`) or plain ones; queues that exist keep
    /// their kind, as in Java.
    pub fn set_batch_topic(&self, topic: &str, batch: bool) {
        let mut t = self.topics.write();
        if batch {
            t.insert(topic.to_string());
        } else {
            t.remove(topic);
        }
    }

    /// Is `topic` configured as a batch topic?
    pub fn is_batch_topic(&self, topic: &str) -> bool {
        self.topics.read().contains(topic)
    }

    /// Does the batch queue `topic`/`queue_id` exist?
    pub fn has_queue(&self, topic: &str, queue_id: i32) -> bool {
        self.queues
            .lock()
            .contains_key(&(topic.to_string(), queue_id))
    }

    /// Appends `unit` to the queue (created if needed), unless its record is not past the
    /// queue's last one (Java's duplicate rule). Returns whether it was written.
    pub fn put(&self, topic: &str, queue_id: i32, unit: &BatchCqUnit) -> Result<bool> {
        let mut queues = self.queues.lock();
        let q = queues
            .entry((topic.to_string(), queue_id))
            .or_insert_with(|| Queue {
                dir: self.dir.join(topic)
                    .join(queue_id.to_string()),
                base: 0,
                units: Vec::new(),
                writer: None,
            });
        if q.units.last().is_some_and(|l| unit.commitlog_offset <= l.commitlog_offset) {
            return Ok(false);
        }
        if q.writer.is_none() {
            q.writer = Some(BatchCqWriter::at(
                &q.dir,
                self.file_size,
                q.end(),
                q.units.last().map_or(-1, |u| u.commitlog_offset),
            )?);
        }
        let written = q.writer.as_mut().expect("set above").put(unit)?;
        if written {
            q.units.push(*unit);
        }
        Ok(written)
    }

    /// Syncs every queue written to.
    pub fn flush(&self) -> Result<()> {
        for q in self.queues.lock().values() {
            if let Some(w) = &q.writer {
                w.flush()?;
            }
        }
        Ok(())
    }

    /// The largest commitlog offset any batch queue refers to (-1: none).
    pub fn max_physic_offset(&self) -> i64 {
        self.queues
            .lock()
            .values()
            .filter_map(|q| q.units.last().map(|u| u.commitlog_offset))
            .max()
            .unwrap_or(-1)
    }

    /// Each queue's end: `(topic, queue id, next queue offset, end commitlog offset of the last
    /// unit)`.
    pub fn ends(&self) -> Vec<(String, i32, i64, i64)> {
        self.queues
            .lock()
            .iter()
            .map(|((t, q), b)| {
                let (next, phy_end) = b.units.last().map_or((0, -1), |u| {
                    (u.next_offset(), u.commitlog_offset + i64::from(u.size))
                });
                (t.clone(), *q, next, phy_end)
            })
            .collect()
    }

    /// `truncateDirtyLogicFiles`: drops every unit whose record starts at or beyond
    /// `phy_end`, zeroing its bytes and removing the files after the one it was in.
    pub fn truncate(&self, phy_end: i64) -> Result<()> {
        for q in self.queues.lock().values_mut() {
            let keep = q.units.partition_point(|u| u.commitlog_offset < phy_end);
            if keep == q.units.len() {
                continue;
            }
            q.writer = None;
            q.units.truncate(keep);
            let end = q.end();
            let file_start = end - end % self.file_size;
            for entry in fs::read_dir(&q.dir).map_err(|e| StoreError::io(&q.dir, e))? {
                let entry = entry.map_err(|e| StoreError::io(&q.dir, e))?;
                let name = entry.file_name();
                let Some(n) = name.to_str().and_then(|s| s.parse::<u64>().ok()) else {
                    continue;
                };
                let path = entry.path();
                if n > file_start {
                    fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                } else if n == file_start {
                    let f = fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| StoreError::io(&path, e))?;
                    let from = end - file_start;
                    let zeros = vec![0u8; (self.file_size - from) as usize];
                    f.write_all_at(&zeros, from)
                        .map_err(|e| StoreError::io(&path, e))?;
                    f.sync_data().map_err(|e| StoreError::io(&path, e))?;
                }
            }
        }
        Ok(())
    }

    /// `BatchConsumeQueue#deleteExpiredFile(minCommitLogPos)` for every batch queue, as the
    /// consume-queue cleanup calls it (`MappedFileQueue#deleteExpiredFileByOffset` with 46-byte
    /// units): the files [`BatchCqTable::expired_files`] names are deleted, and the queue's
    /// minimum follows (`correctMinOffset`; [`BatchCqTable::offsets`] counts only units at or
    /// past the commitlog's minimum). Returns the deleted files; on an error the files deleted
    /// before it are gone and the error names the one that failed.
    pub fn delete_expired(&self, min_phy: i64) -> Result<Vec<PathBuf>> {
        let mut deleted = Vec::new();
        let per_file = (self.file_size / BCQ_UNIT_SIZE as u64) as usize;
        for q in self.queues.lock().values_mut() {
            for (path, _) in self.expired_in(q, min_phy)? {
                fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
                deleted.push(path);
                q.units.drain(..per_file);
                q.base += self.file_size;
            }
        }
        Ok(deleted)
    }

    /// What [`BatchCqTable::delete_expired`] would delete for `min_phy`, changing nothing:
    /// each file and the commitlog offset its last unit refers to. Per queue, from its first
    /// file on, every file but the last one on disk whose last unit refers below `min_phy`;
    /// the walk stops at the first file that is not full or still holds a unit at or past it.
    pub fn expired_files(&self, min_phy: i64) -> Result<Vec<(PathBuf, i64)>> {
        let mut out = Vec::new();
        for q in self.queues.lock().values() {
            out.extend(self.expired_in(q, min_phy)?);
        }
        Ok(out)
    }

    fn expired_in(&self, q: &Queue, min_phy: i64) -> Result<Vec<(PathBuf, i64)>> {
        let per_file = (self.file_size / BCQ_UNIT_SIZE as u64) as usize;
        let mut out = Vec::new();
        if per_file == 0 {
            return Ok(out);
        }
        let mut files: Vec<(u64, PathBuf)> = Vec::new();
        let entries = match fs::read_dir(&q.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(StoreError::io(&q.dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&q.dir, e))?;
            let name = entry.file_name();
            let Some(n) = name
                .to_str()
                .filter(|s| s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            files.push((n, entry.path()));
        }
        files.sort();
        // Every file but the last (Java: `mfs.length - 1`), in order from the queue's first.
        let mut base = q.base;
        let mut units = &q.units[..];
        for (name, path) in files.iter().take(files.len().saturating_sub(1)) {
            // A file that is not the queue's first in memory (a gap in the names): the walk
            // stops, as at a file Java could not map; `verify` names the gap.
            if *name != base {
                break;
            }
            let Some(last) = units.get(per_file - 1) else {
                break;
            };
            if last.commitlog_offset >= min_phy {
                break;
            }
            out.push((path.clone(), last.commitlog_offset));
            units = &units[per_file..];
            base += self.file_size;
        }
        Ok(out)
    }

    /// The queue's `(min offset, max offset)` (Java `getMinOffsetInQueue` /
    /// `getMaxOffsetInQueue`), the min counting only units whose record is at or beyond
    /// `min_phy`; `None` if there is no such batch queue.
    pub fn offsets(&self, topic: &str, queue_id: i32, min_phy: i64) -> Option<(i64, i64)> {
        let queues = self.queues.lock();
        let q = queues.get(&(topic.to_string(), queue_id))?;
        let max = q.units.last().map_or(0, |u| u.next_offset());
        let min = q
            .units
            .iter()
            .find(|u| u.commitlog_offset >= min_phy)
            .map_or(max, |u| u.msg_base_offset);
        Some((min, max))
    }

    /// `BatchConsumeQueue#iterateFrom(offset)`: the unit holding queue offset `offset` (the
    /// last whose `msgBaseOffset` is not after it) and up to `max_units - 1` units after it;
    /// `None` if there is no such queue, `Some` empty if the offset is before the first unit or
    /// not below the queue's end.
    pub fn get(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_units: usize,
    ) -> Option<BatchCqSlice> {
        let queues = self.queues.lock();
        let q = queues.get(&(topic.to_string(), queue_id))?;
        let max = q.units.last().map_or(0, |u| u.next_offset());
        let at = q.units.partition_point(|u| u.msg_base_offset <= offset);
        if at == 0 || offset >= max {
            return Some(BatchCqSlice { units: Vec::new() });
        }
        let from = at - 1;
        let to = (from + max_units.max(1)).min(q.units.len());
        Some(BatchCqSlice {
            units: q.units[from..to].to_vec(),
        })
    }

    /// How many batch queues there are.
    #[cfg_attr(
        not(any(feature = "cli", feature = "internals")),
        expect(dead_code, reason = "rebuild's report counts them")
    )]
    pub fn queue_count(&self) -> usize {
        self.queues.lock().len()
    }
}
