//! Writing the 5.x batch consume queue (`batchconsumequeue/<topic>/<queueId>/`), as
//! `BatchConsumeQueue#putBatchMessagePositionInfo` does: one 46-byte unit per record appended
//! at the queue's end, files of `mapperFileSizeBatchConsumeQueue` bytes named by their first
//! byte's offset in the queue (the first at 0, no padding), a unit whose commitlog offset is
//! not past the last one written skipped. Which topics use it: the `queue.type` attribute
//! `BatchCQ` in `config/topics.json` (`QueueTypeUtils#getCQType`; default `SimpleCQ`).
//!
//! Dispatch appends to it through [`super::batch_cq_table`] (5.x target, docs/format.md §12.2);
//! [`rebuild`] regenerates it from the commitlog (`rmqstore rebuild`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::batch_cq::{read_queue, BatchCqUnit, BCQ_UNIT_SIZE, INVALID_POS};
use crate::error::{Result, StoreError};
use crate::format::cq::{is_dispatched_to_cq, record_tags_code, DelayLevels};
use crate::format::properties;
use crate::format::record::{decode_record, Decoded, MessageRecord};

/// `MessageConst.PROPERTY_INNER_NUM` / `PROPERTY_INNER_BASE`.
pub const PROPERTY_INNER_NUM: &str = "INNER_NUM";
pub const PROPERTY_INNER_BASE: &str = "INNER_BASE";
/// `TopicAttributes.QUEUE_TYPE_ATTRIBUTE` and the value that selects the batch queue.
pub const QUEUE_TYPE_ATTRIBUTE: &str = "queue.type";
pub const BATCH_CQ: &str = "BatchCQ";

/// The topics of `config/topics.json` (under `config_dir`) whose `queue.type` is `BatchCQ`.
pub fn batch_topics(config_dir: &Path) -> Result<BTreeSet<String>> {
    let Some(topics) = crate::config_json::TopicsJson::load(config_dir)? else {
        return Ok(BTreeSet::new());
    };
    Ok(topics
        .topic_config_table
        .iter()
        .filter(|(_, t)| {
            t.extra
                .get("attributes")
                .and_then(|a| a.get(QUEUE_TYPE_ATTRIBUTE))
                .and_then(|v| v.as_str())
                == Some(BATCH_CQ)
        })
        .map(|(name, _)| name.clone())
        .collect())
}

/// The unit Java's dispatch builds for a record of a batch-queue topic
/// (`CommitLog#checkMessageAndReturnSize`): an inner batch carrying both `INNER_NUM` and
/// `INNER_BASE` covers `INNER_NUM` messages from `INNER_BASE`; any other record is one message
/// at its queue offset. `None` where Java's dispatch would throw (a number that does not parse).
pub fn unit_for(rec: &MessageRecord<'_>, total_size: u32, tags_code: i64) -> Option<BatchCqUnit> {
    let num = properties::get(rec.properties, PROPERTY_INNER_NUM);
    let base = properties::get(rec.properties, PROPERTY_INNER_BASE);
    let (msg_base_offset, batch_size) = match (num, base) {
        (Some(n), Some(b)) => (b.parse::<i64>().ok()?, n.parse::<i16>().ok()?),
        _ => (rec.queue_offset, 1),
    };
    Some(BatchCqUnit {
        commitlog_offset: rec.physical_offset,
        size: total_size as i32,
        tags_code,
        store_time: rec.store_timestamp,
        msg_base_offset,
        batch_size,
        compacted_offset: INVALID_POS,
        reserved: 0,
    })
}

/// The unit dispatch builds for a request of a batch-queue topic (`DispatchRequest` with
/// `setBatchSizeIfNeeded`): as [`unit_for`]; `None` where Java's check would fail (a number
/// that does not parse) or `putMessagePositionInfoWrapper` skips it (a negative base or size).
pub fn unit_for_request(req: &crate::dispatch::DispatchRequest<'_>) -> Option<BatchCqUnit> {
    let num = properties::get(req.properties, PROPERTY_INNER_NUM);
    let base = properties::get(req.properties, PROPERTY_INNER_BASE);
    let (msg_base_offset, batch_size) = match (num, base) {
        (Some(n), Some(b)) => (b.parse::<i64>().ok()?, n.parse::<i16>().ok()?),
        _ => (req.consume_queue_offset, 1),
    };
    if msg_base_offset < 0 || batch_size < 0 {
        return None;
    }
    Some(BatchCqUnit {
        commitlog_offset: req.commitlog_offset,
        size: req.msg_size,
        tags_code: req.tags_code,
        store_time: req.store_timestamp,
        msg_base_offset,
        batch_size,
        compacted_offset: INVALID_POS,
        reserved: 0,
    })
}

/// One queue being appended to.
#[derive(Debug)]
pub struct BatchCqWriter {
    dir: PathBuf,
    file_size: u64,
    /// Byte offset in the queue of the next unit.
    end: u64,
    /// The commitlog offset of the last unit written (`maxMsgPhyOffsetInCommitLog`), -1: none.
    max_phy: i64,
    active: Option<(u64, File)>,
}

impl BatchCqWriter {
    /// Opens (creating the directory if needed) the queue in `dir`, its end found as Java's
    /// recovery finds it.
    pub fn open(dir: &Path, topic: &str, queue_id: i32, file_size: u64) -> Result<Self> {
        if file_size == 0 || file_size % BCQ_UNIT_SIZE as u64 != 0 {
            return Err(StoreError::Config(format!(
                "mapperFileSizeBatchConsumeQueue {file_size} is not a positive multiple of 46"
            )));
        }
        fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let q = read_queue(dir, topic, queue_id)?;
        if !q.files.is_empty() && q.file_size != file_size {
            return Err(StoreError::BadFile {
                path: q.files[0].1.clone(),
                what: format!(
                    "length {} differs from mapperFileSizeBatchConsumeQueue {file_size}",
                    q.file_size
                ),
            });
        }
        let (end, max_phy) = match q.units.last() {
            Some(u) => (
                q.files
                    .iter()
                    .find(|(_, p)| *p == u.file)
                    .map_or(0, |(n, _)| *n)
                    + u.pos
                    + BCQ_UNIT_SIZE as u64,
                u.unit.commitlog_offset,
            ),
            None => (q.files.first().map_or(0, |(n, _)| *n), -1),
        };
        Ok(BatchCqWriter {
            dir: dir.to_path_buf(),
            file_size,
            end,
            max_phy,
            active: None,
        })
    }

    /// A writer for the queue in `dir` whose next unit goes at byte `end` of the queue and
    /// whose last unit refers to commitlog offset `max_phy` (-1: none); nothing is read.
    pub fn at(dir: &Path, file_size: u64, end: u64, max_phy: i64) -> Result<Self> {
        if file_size == 0 || file_size % BCQ_UNIT_SIZE as u64 != 0 {
            return Err(StoreError::Config(format!(
                "mapperFileSizeBatchConsumeQueue {file_size} is not a positive multiple of 46"
            )));
        }
        fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        Ok(BatchCqWriter {
            dir: dir.to_path_buf(),
            file_size,
            end,
            max_phy,
            active: None,
        })
    }

    /// Appends `unit` unless its record is not past the last one written (Java's duplicate
    /// rule); returns whether it was written.
    pub fn put(&mut self, unit: &BatchCqUnit) -> Result<bool> {
        if unit.commitlog_offset <= self.max_phy {
            return Ok(false);
        }
        let start = self.end - self.end % self.file_size;
        if self.active.as_ref().map(|(s, _)| *s) != Some(start) {
            let path = self.dir.join(format!("{start:020}"));
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| StoreError::io(&path, e))?;
            let len = f.metadata().map_err(|e| StoreError::io(&path, e))?.len();
            if len != self.file_size {
                f.set_len(self.file_size)
                    .map_err(|e| StoreError::io(&path, e))?;
            }
            self.active = Some((start, f));
        }
        let (_, f) = self.active.as_ref().expect("set above");
        f.write_all_at(&unit.encode(), self.end - start)
            .map_err(|e| StoreError::io(&self.dir, e))?;
        self.end += BCQ_UNIT_SIZE as u64;
        self.max_phy = unit.commitlog_offset;
        Ok(true)
    }

    /// Syncs the file being written.
    pub fn flush(&self) -> Result<()> {
        if let Some((_, f)) = &self.active {
            f.sync_data().map_err(|e| StoreError::io(&self.dir, e))?;
        }
        Ok(())
    }
}

/// Regenerates `batchconsumequeue/` under `root` from commitlog segments (`(start offset,
/// bytes)` in order) for the records of `topics`, as Java's dispatch would build it; existing
/// queues are appended to (units already there are skipped). Returns the units written.
#[cfg_attr(
    not(feature = "internals"),
    expect(dead_code, reason = "the offline form (tests); the store and rebuild use batch_cq_table")
)]
pub fn rebuild(
    root: &Path,
    segments: &[(u64, Vec<u8>)],
    topics: &BTreeSet<String>,
    file_size: u64,
    delay_levels: &DelayLevels,
) -> Result<u64> {
    let mut writers: BTreeMap<(String, i32), BatchCqWriter> = BTreeMap::new();
    let mut written = 0;
    for (_, seg) in segments {
        let mut pos = 0usize;
        while pos < seg.len() {
            let (rec, total) = match decode_record(&seg[pos..], true) {
                Ok(Decoded::Message { record, total_size }) => (record, total_size),
                _ => break,
            };
            pos += total as usize;
            let topic = rec.topic_str();
            if !topics.contains(topic.as_ref())
                || !is_dispatched_to_cq(rec.sys_flag)
                || crate::topic::validate_topic(&topic).is_err()
                || rec.queue_id < 0
            {
                continue;
            }
            let Ok(tags) = record_tags_code(&rec, &rec.store_properties(), delay_levels) else {
                continue;
            };
            let Some(unit) = unit_for(&rec, total, tags).filter(|u| u.batch_size >= 0) else {
                continue;
            };
            let key = (topic.to_string(), rec.queue_id);
            if !writers.contains_key(&key) {
                let dir = super::batch_cq::dir(root)
                    .join(topic.as_ref())
                    .join(rec.queue_id.to_string());
                let w = BatchCqWriter::open(&dir, &topic, rec.queue_id, file_size)?;
                writers.insert(key.clone(), w);
            }
            if writers.get_mut(&key).expect("inserted").put(&unit)? {
                written += 1;
            }
        }
    }
    for w in writers.values() {
        w.flush()?;
    }
    Ok(written)
}
