//! The 5.x batch consume queue (`batchconsumequeue/<topic>/<queueId>/`), used for topics whose
//! `queue.type` attribute is `BatchCQ`. Java: `org.apache.rocketmq.store.queue.BatchConsumeQueue`.
//!
//! One 46-byte unit per commitlog record; a record that is an inner batch (sysFlag
//! `INNER_BATCH`, property `INNER_NUM`) holds `batchSize` messages numbered from
//! `msgBaseOffset`. Files are named by their first byte's offset within the queue (the unit
//! index × 46), like consume-queue files; the default file holds 300,000 units.

use std::path::{Path, PathBuf};

use super::{numbered_files, read_all, sub_dirs};
use crate::error::{Result, StoreError};
use crate::format::{get_i32, get_i64, FormatError, Problem};

/// Size of one batch-consume-queue unit.
pub const BCQ_UNIT_SIZE: usize = 46;

/// Java's default `mapperFileSizeBatchConsumeQueue`: 300,000 units.
pub const DEFAULT_BCQ_FILE_SIZE: u64 = 300_000 * BCQ_UNIT_SIZE as u64;

/// The value Java writes into `compactedOffset` (`BatchConsumeQueue.INVALID_POS`).
pub const INVALID_POS: i32 = -1;

/// One batch-consume-queue unit, in file order:
/// `i64 offset | i32 size | i64 tagsCode | i64 storeTime | i64 msgBaseOffset | i16 batchSize |
/// i32 compactedOffset | i32 reserved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchCqUnit {
    pub commitlog_offset: i64,
    pub size: i32,
    pub tags_code: i64,
    pub store_time: i64,
    pub msg_base_offset: i64,
    pub batch_size: i16,
    pub compacted_offset: i32,
    pub reserved: i32,
}

impl BatchCqUnit {
    /// Decodes the unit at the front of `buf`.
    pub fn decode(buf: &[u8]) -> Result<BatchCqUnit, FormatError> {
        if buf.len() < BCQ_UNIT_SIZE {
            return Err(FormatError::new(
                0,
                Problem::Truncated {
                    what: "batch consume-queue unit",
                    need: BCQ_UNIT_SIZE as u64,
                    have: buf.len() as u64,
                },
            ));
        }
        // The length check above makes every read below in bounds.
        Ok(BatchCqUnit {
            commitlog_offset: get_i64(buf, 0).unwrap_or_default(),
            size: get_i32(buf, 8).unwrap_or_default(),
            tags_code: get_i64(buf, 12).unwrap_or_default(),
            store_time: get_i64(buf, 20).unwrap_or_default(),
            msg_base_offset: get_i64(buf, 28).unwrap_or_default(),
            batch_size: i16::from_be_bytes([buf[36], buf[37]]),
            compacted_offset: get_i32(buf, 38).unwrap_or_default(),
            reserved: get_i32(buf, 42).unwrap_or_default(),
        })
    }

    /// The 46 bytes Java's `putBatchMessagePositionInfo` writes for this unit.
    pub fn encode(&self) -> [u8; BCQ_UNIT_SIZE] {
        let mut b = [0u8; BCQ_UNIT_SIZE];
        b[0..8].copy_from_slice(&self.commitlog_offset.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..20].copy_from_slice(&self.tags_code.to_be_bytes());
        b[20..28].copy_from_slice(&self.store_time.to_be_bytes());
        b[28..36].copy_from_slice(&self.msg_base_offset.to_be_bytes());
        b[36..38].copy_from_slice(&self.batch_size.to_be_bytes());
        b[38..42].copy_from_slice(&self.compacted_offset.to_be_bytes());
        b[42..46].copy_from_slice(&self.reserved.to_be_bytes());
        b
    }

    /// Java's recovery rule (`BatchConsumeQueue#recover`): a unit is written when
    /// `offset >= 0 && size > 0 && msgBaseOffset >= 0 && batchSize > 0`.
    pub fn is_valid(&self) -> bool {
        self.commitlog_offset >= 0
            && self.size > 0
            && self.msg_base_offset >= 0
            && self.batch_size > 0
    }

    /// The queue offset after this unit's last message.
    pub fn next_offset(&self) -> i64 {
        self.msg_base_offset + i64::from(self.batch_size)
    }
}

/// A unit and where it is: the file and the byte position in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedUnit {
    pub file: PathBuf,
    pub pos: u64,
    pub unit: BatchCqUnit,
}

/// One queue of the batch consume queue as it is on disk.
#[derive(Debug, Clone)]
pub struct BatchQueue {
    pub topic: String,
    pub queue_id: i32,
    /// Size of each file (all equal; taken from the files themselves).
    pub file_size: u64,
    pub files: Vec<(u64, PathBuf)>,
    /// The written units of every file, in order; each file's units end at its first unit
    /// that is not valid (Java's recovery rule) or at the file end.
    pub units: Vec<PlacedUnit>,
}

impl BatchQueue {
    /// The first message offset of the queue (Java `getMinOffsetInQueue`), if it has units.
    pub fn min_offset(&self) -> Option<i64> {
        self.units.first().map(|u| u.unit.msg_base_offset)
    }
    /// One past the last message offset (Java `getMaxOffsetInQueue`), if it has units.
    pub fn max_offset(&self) -> Option<i64> {
        self.units.last().map(|u| u.unit.next_offset())
    }
    /// Number of messages (not units) in the queue.
    pub fn message_count(&self) -> i64 {
        self.units
            .iter()
            .map(|u| i64::from(u.unit.batch_size))
            .sum()
    }
}

/// Reads one queue directory (`batchconsumequeue/<topic>/<queueId>`).
pub fn read_queue(dir: &Path, topic: &str, queue_id: i32) -> Result<BatchQueue> {
    let files = numbered_files(dir)?;
    let mut file_size = None;
    let mut units = Vec::new();
    let mut ended_at: Option<PathBuf> = None;
    for (name, path) in &files {
        let bytes = read_all(path)?;
        let len = bytes.len() as u64;
        match file_size {
            None => {
                if len == 0 || len % BCQ_UNIT_SIZE as u64 != 0 {
                    return Err(StoreError::BadFile {
                        path: path.clone(),
                        what: format!("length {len} is not a positive multiple of {BCQ_UNIT_SIZE}"),
                    });
                }
                file_size = Some(len);
            }
            Some(fs) if fs != len => {
                return Err(StoreError::BadFile {
                    path: path.clone(),
                    what: format!("length {len} differs from the queue's first file ({fs})"),
                });
            }
            Some(_) => {}
        }
        if name % len != 0 {
            return Err(StoreError::BadFile {
                path: path.clone(),
                what: format!("name {name} is not a multiple of the file size {len}"),
            });
        }
        let mut pos = 0usize;
        let mut file_units = 0usize;
        while pos + BCQ_UNIT_SIZE <= bytes.len() {
            let unit = BatchCqUnit::decode(&bytes[pos..])
                .map_err(|e| StoreError::corrupt(path, pos as u64, e))?;
            if !unit.is_valid() {
                break;
            }
            if let Some(prev) = &ended_at {
                return Err(StoreError::BadFile {
                    path: path.clone(),
                    what: format!(
                        "has units although {} ends before its end (a hole in the queue)",
                        prev.display()
                    ),
                });
            }
            units.push(PlacedUnit {
                file: path.clone(),
                pos: pos as u64,
                unit,
            });
            file_units += 1;
            pos += BCQ_UNIT_SIZE;
        }
        if file_units * BCQ_UNIT_SIZE < bytes.len() {
            ended_at = Some(path.clone());
        }
    }
    Ok(BatchQueue {
        topic: topic.to_string(),
        queue_id,
        file_size: file_size.unwrap_or(0),
        files,
        units,
    })
}

/// The `batchconsumequeue/` directory of a store root.
pub fn dir(root: &Path) -> PathBuf {
    root.join("batchconsumequeue")
}

/// Every queue under `root/batchconsumequeue/`, sorted by topic and queue id; empty when the
/// directory does not exist.
pub fn read_all_queues(root: &Path) -> Result<Vec<BatchQueue>> {
    let base = dir(root);
    if !base.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (topic, tdir) in sub_dirs(&base)? {
        let mut queues = Vec::new();
        for (qname, qdir) in sub_dirs(&tdir)? {
            let qid: i32 = qname
                .parse()
                .ok()
                .filter(|q: &i32| *q >= 0)
                .ok_or_else(|| StoreError::BadFile {
                    path: qdir.clone(),
                    what: "queue directory name is not a queue id".into(),
                })?;
            queues.push((qid, qdir));
        }
        queues.sort();
        for (qid, qdir) in queues {
            out.push(read_queue(&qdir, &topic, qid)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_round_trips_and_places_fields_as_java() {
        let u = BatchCqUnit {
            commitlog_offset: 0x0102030405060708,
            size: 254,
            tags_code: -3,
            store_time: 1_796_234_936_950,
            msg_base_offset: 13,
            batch_size: 5,
            compacted_offset: INVALID_POS,
            reserved: 0,
        };
        let b = u.encode();
        assert_eq!(&b[0..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[36..38], &[0, 5]);
        assert_eq!(&b[38..42], &[0xff; 4]);
        assert_eq!(BatchCqUnit::decode(&b).unwrap(), u);
        assert!(u.is_valid());
        assert_eq!(u.next_offset(), 18);
        assert!(BatchCqUnit::decode(&b[..45]).is_err());
        assert!(!BatchCqUnit::decode(&[0u8; 46]).unwrap().is_valid());
    }
}
