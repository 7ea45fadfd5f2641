//! Compaction topics (5.x `cleanup.policy=COMPACTION`; Java `store/kv/CompactionStore`,
//! `CompactionLog`, `CompactionPositionMgr`, `queue/SparseConsumeQueue`). Layout under
//! `compaction/`:
//!
//! * `position-checkpoint`: JSON `{"queueOffsetMap":{"<topic>_<queueId>":offset}}`, how far each
//!   queue has been compacted;
//! * `compactionLog/<topic>/<queueId>/`: segments named by start offset holding commitlog
//!   records copied as they were, except the physical-offset field (bytes 28..36 of a V1
//!   record), which holds the record's offset in the compaction log; a segment ends with
//!   `i32 size-to-end | i32 BLANK_MAGIC` when the next record (plus 8 bytes) does not fit;
//!   `compacting/` and `replicating/` sub-folders hold a compaction in progress;
//! * `compactionCq/<topic>/<queueId>/`: a sparse consume queue of 46-byte batch units (batch
//!   size 1, base offset = the record's queue offset, commitlog offset = its position in the
//!   compaction log); a file that cannot take another unit ends with an end marker (offset −1,
//!   size 0) and the queue continues in the next file.
//!
//! Everything here reads; nothing here creates, locks or changes a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::batch_cq::{BatchCqUnit, BCQ_UNIT_SIZE};
use super::read_all;
use crate::error::{Result, StoreError};
use crate::format::record::{decode_record, Decoded};

pub const DIR: &str = "compaction";
pub const CHECKPOINT_FILE: &str = "position-checkpoint";
pub const LOG_DIR: &str = "compactionLog";
pub const CQ_DIR: &str = "compactionCq";
/// Sub-folders of a queue's log holding a compaction in progress (`CompactionLog`).
pub const IN_PROGRESS_DIRS: [&str; 2] = ["compacting", "replicating"];

/// `position-checkpoint` (`CompactionPositionMgr`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct PositionCheckpoint {
    #[serde(rename = "queueOffsetMap", default)]
    pub queue_offset_map: BTreeMap<String, i64>,
}

/// One record of a compaction log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Position in the compaction log (segment start + position in it).
    pub offset: i64,
    pub size: u32,
    pub queue_offset: i64,
    pub store_timestamp: i64,
    pub file: PathBuf,
    pub pos: u64,
}

/// One compaction queue: its log records and its sparse consume-queue units.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactionQueue {
    /// The compacted topic.
    pub topic: String,
    /// Its queue id.
    pub queue_id: i32,
    /// Files of its compaction log.
    pub log_files: usize,
    /// Records in its compaction log.
    pub records: usize,
    /// Units of its compaction consume queue.
    pub units: usize,
    /// Smallest and one past the largest queue offset kept.
    pub min_offset: Option<i64>,
    /// One past the largest queue offset kept.
    pub max_offset: Option<i64>,
    /// How far the queue has been compacted (`position-checkpoint`), if recorded.
    pub compacted_to: Option<i64>,
    /// `compacting/` or `replicating/` present: a compaction was in progress.
    pub in_progress: Vec<String>,
}

/// `compaction/` in brief, with every problem found (file, byte offset, what).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactionReport {
    /// `position-checkpoint`: how far each `topic:queue` was compacted.
    pub positions: BTreeMap<String, i64>,
    /// Every compaction queue.
    pub queues: Vec<CompactionQueue>,
    /// Problems found: file, byte offset (when known), what.
    #[serde(skip)]
    pub problems: Vec<(PathBuf, Option<u64>, String)>,
}

fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let e = e.map_err(|e| StoreError::io(dir, e))?;
        let ft = e.file_type().map_err(|er| StoreError::io(e.path(), er))?;
        out.push((
            e.file_name().to_string_lossy().into_owned(),
            e.path(),
            ft.is_dir(),
        ));
    }
    out.sort();
    Ok(out)
}

fn segment_name(name: &str) -> Option<u64> {
    (name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// Reads and checks `root/compaction/`; `None` when there is no such folder.
pub fn read(root: &Path) -> Result<Option<CompactionReport>> {
    let base = root.join(DIR);
    if !base.is_dir() {
        return Ok(None);
    }
    let mut rep = CompactionReport::default();
    let cp_path = base.join(CHECKPOINT_FILE);
    if cp_path.exists() {
        let bytes = read_all(&cp_path)?;
        match serde_json::from_slice::<PositionCheckpoint>(&bytes) {
            Ok(cp) => rep.positions = cp.queue_offset_map,
            Err(e) => rep.problems.push((
                cp_path.clone(),
                None,
                format!("not the JSON CompactionPositionMgr writes: {e}"),
            )),
        }
    }
    let mut queues: BTreeMap<(String, i32), (Option<PathBuf>, Option<PathBuf>)> = BTreeMap::new();
    for (which, sub) in [(0, LOG_DIR), (1, CQ_DIR)] {
        let d = base.join(sub);
        if !d.is_dir() {
            continue;
        }
        for (topic, tdir, is_dir) in sorted_entries(&d)? {
            if !is_dir {
                rep.problems
                    .push((tdir, None, "not a topic folder".to_string()));
                continue;
            }
            for (q, qdir, is_dir) in sorted_entries(&tdir)? {
                match q.parse::<i32>().ok().filter(|q| *q >= 0 && is_dir) {
                    Some(qid) => {
                        let e = queues.entry((topic.clone(), qid)).or_default();
                        if which == 0 {
                            e.0 = Some(qdir);
                        } else {
                            e.1 = Some(qdir);
                        }
                    }
                    None => rep
                        .problems
                        .push((qdir, None, "not a queue folder".to_string())),
                }
            }
        }
    }
    for ((topic, qid), (log_dir, cq_dir)) in queues {
        let mut q = CompactionQueue {
            compacted_to: rep.positions.get(&format!("{topic}_{qid}")).copied(),
            topic: topic.clone(),
            queue_id: qid,
            ..CompactionQueue::default()
        };
        let records = match &log_dir {
            Some(d) => read_log(d, &topic, qid, &mut q, &mut rep.problems)?,
            None => Vec::new(),
        };
        match &cq_dir {
            Some(d) => check_cq(d, &records, &mut q, &mut rep.problems)?,
            None if !records.is_empty() => rep.problems.push((
                log_dir.clone().unwrap_or_default(),
                None,
                format!("{topic} queue {qid}: a compaction log without compactionCq/{topic}/{qid}"),
            )),
            None => {}
        }
        q.records = records.len();
        q.min_offset = records.first().map(|r| r.queue_offset);
        q.max_offset = records.last().map(|r| r.queue_offset + 1);
        rep.queues.push(q);
    }
    Ok(Some(rep))
}

fn read_log(
    dir: &Path,
    topic: &str,
    qid: i32,
    q: &mut CompactionQueue,
    problems: &mut Vec<(PathBuf, Option<u64>, String)>,
) -> Result<Vec<LogRecord>> {
    let mut out: Vec<LogRecord> = Vec::new();
    let mut ended = false;
    for (name, path, is_dir) in sorted_entries(dir)? {
        if is_dir && IN_PROGRESS_DIRS.contains(&name.as_str()) {
            q.in_progress.push(name);
            continue;
        }
        let Some(start) = segment_name(&name).filter(|_| !is_dir) else {
            problems.push((path, None, "not a compaction-log segment".into()));
            continue;
        };
        q.log_files += 1;
        let bytes = read_all(&path)?;
        let mut pos = 0usize;
        while pos < bytes.len() {
            match decode_record(&bytes[pos..], true) {
                Ok(Decoded::Message { record, total_size }) => {
                    let at = start as i64 + pos as i64;
                    if ended {
                        problems.push((
                            path.clone(),
                            Some(pos as u64),
                            "a record after the end of an earlier segment".into(),
                        ));
                        return Ok(out);
                    }
                    let mut bad = Vec::new();
                    if record.topic != topic.as_bytes() || record.queue_id != qid {
                        bad.push(format!(
                            "record of {}:{} in the log of {topic}:{qid}",
                            String::from_utf8_lossy(record.topic),
                            record.queue_id
                        ));
                    }
                    if record.physical_offset != at {
                        bad.push(format!(
                            "physical offset field {} but the record is at {at}",
                            record.physical_offset
                        ));
                    }
                    if let Some(prev) = out.last() {
                        if record.queue_offset <= prev.queue_offset {
                            bad.push(format!(
                                "queue offset {} does not rise (previous {})",
                                record.queue_offset, prev.queue_offset
                            ));
                        }
                    }
                    for b in bad {
                        problems.push((path.clone(), Some(pos as u64), b));
                    }
                    out.push(LogRecord {
                        offset: at,
                        size: total_size,
                        queue_offset: record.queue_offset,
                        store_timestamp: record.store_timestamp,
                        file: path.clone(),
                        pos: pos as u64,
                    });
                    pos += total_size as usize;
                }
                Ok(Decoded::Blank { .. }) => break,
                Ok(Decoded::End) => {
                    ended = true;
                    break;
                }
                Err(e) => {
                    problems.push((path.clone(), Some(pos as u64), e.to_string()));
                    ended = true;
                    break;
                }
            }
        }
    }
    Ok(out)
}

fn check_cq(
    dir: &Path,
    records: &[LogRecord],
    q: &mut CompactionQueue,
    problems: &mut Vec<(PathBuf, Option<u64>, String)>,
) -> Result<()> {
    let mut next = 0usize;
    let mut ended = false;
    for (name, path, is_dir) in sorted_entries(dir)? {
        if is_dir && IN_PROGRESS_DIRS.contains(&name.as_str()) {
            continue;
        }
        if segment_name(&name).is_none() || is_dir {
            problems.push((path, None, "not a compaction consume-queue file".into()));
            continue;
        }
        let bytes = read_all(&path)?;
        let mut pos = 0usize;
        while pos + BCQ_UNIT_SIZE <= bytes.len() {
            let u = BatchCqUnit::decode(&bytes[pos..])
                .map_err(|e| StoreError::corrupt(&path, pos as u64, e))?;
            if u.commitlog_offset == -1 && u.size == 0 {
                break; // end marker: the queue goes on in the next file
            }
            if !u.is_valid() {
                // Zeros: the end of what was written. Anything else is damage.
                if bytes[pos..pos + BCQ_UNIT_SIZE].iter().any(|b| *b != 0) {
                    problems.push((
                        path.clone(),
                        Some(pos as u64),
                        format!("invalid unit {u:?}"),
                    ));
                }
                ended = true;
                break;
            }
            if ended {
                problems.push((
                    path.clone(),
                    Some(pos as u64),
                    "a unit after the end of an earlier file".into(),
                ));
                return Ok(());
            }
            q.units += 1;
            let at = |w: String| (path.clone(), Some(pos as u64), w);
            match records.get(next) {
                Some(r) if r.offset == u.commitlog_offset => {
                    let mut bad = Vec::new();
                    if i64::from(u.size) != i64::from(r.size) {
                        bad.push(format!(
                            "size {} but the record is {} bytes",
                            u.size, r.size
                        ));
                    }
                    if u.msg_base_offset != r.queue_offset {
                        bad.push(format!(
                            "base offset {} but the record's queue offset is {}",
                            u.msg_base_offset, r.queue_offset
                        ));
                    }
                    if u.batch_size != 1 {
                        bad.push(format!(
                            "batch size {} (compaction units hold 1)",
                            u.batch_size
                        ));
                    }
                    if u.store_time != r.store_timestamp {
                        bad.push(format!(
                            "store time {} but the record's is {}",
                            u.store_time, r.store_timestamp
                        ));
                    }
                    problems.extend(bad.into_iter().map(at));
                    next += 1;
                }
                _ => {
                    problems.push(at(format!(
                        "unit points at compaction-log offset {}, {}",
                        u.commitlog_offset,
                        match records.get(next) {
                            Some(r) => format!("but the next record is at {}", r.offset),
                            None => "past the last record".to_string(),
                        }
                    )));
                    return Ok(());
                }
            }
            pos += BCQ_UNIT_SIZE;
        }
    }
    if next < records.len() {
        let r = &records[next];
        problems.push((
            r.file.clone(),
            Some(r.pos),
            format!(
                "{} compaction-log records from queue offset {} have no unit",
                records.len() - next,
                r.queue_offset
            ),
        ));
    }
    Ok(())
}
