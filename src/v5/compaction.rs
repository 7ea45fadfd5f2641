//! Compaction topics (5.x `cleanup.policy=COMPACTION`; Java `store/kv/CompactionStore`,
//! `CompactionLog`, `CompactionPositionMgr`, `queue/SparseConsumeQueue`). Layout under
//! `compaction/`:
//!
//! * `position-checkpoint`: JSON `{"queueOffsetMap":{"<topic>_<queueId>":offset}}`, how far each
//!   queue has been compacted;
//! * `compactionLog/<topic>/<queueId>/`: segments named by start offset holding commitlog
//!   records copied as they were, except the physical-offset field (bytes 28..36 of a V1
//!   record), which holds the record's offset in the compaction log; a segment ends with
//!   `i32 size-to-end | i32 BLANK_MAGIC` when the next record (plus 8 bytes) does not fit or
//!   its queue file is full; a segment a compaction wrote ends in zeros, and is followed by the
//!   segment that was current (names need not be consecutive), so each segment is read on its
//!   own; `compacting/` and `replicating/` sub-folders hold a compaction in progress;
//! * `compactionCq/<topic>/<queueId>/`: a sparse consume queue of 46-byte batch units (batch
//!   size 1, base offset = the record's queue offset, commitlog offset = its position in the
//!   compaction log), one file per log segment and named like it; when the segment rolls, the
//!   file gets an end marker (offset −1, size 0).
//!
//! Checked against the store the 5.3.3 jar wrote (`tests/fixtures/java/rocketmq-5.3.3/compaction`).
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
    /// What Java's `getMessage` serves for this queue: each consume-queue unit that matches its
    /// log record, in queue order.
    #[serde(skip)]
    pub entries: Vec<CompactionEntry>,
}

/// One message a compaction queue serves: its unit and where its record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionEntry {
    /// The message's queue offset (the unit's base offset).
    pub queue_offset: i64,
    /// Position in the compaction log (the record's physical-offset field).
    pub log_offset: i64,
    /// The record's size.
    pub size: u32,
    /// The record's store time.
    pub store_timestamp: i64,
    /// The unit's tags code.
    pub tags_code: i64,
    /// The log segment holding the record.
    pub file: PathBuf,
    /// The record's position in that segment.
    pub pos: u64,
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
        let files = match &log_dir {
            Some(d) => read_log(d, &topic, qid, &mut q, &mut rep.problems)?,
            None => Vec::new(),
        };
        let records: usize = files.iter().map(|f| f.records.len()).sum();
        match &cq_dir {
            Some(d) => check_cq(d, &files, &mut q, &mut rep.problems)?,
            None if records > 0 => rep.problems.push((
                log_dir.clone().unwrap_or_default(),
                None,
                format!("{topic} queue {qid}: a compaction log without compactionCq/{topic}/{qid}"),
            )),
            None => {}
        }
        q.records = records;
        let all = || files.iter().flat_map(|f| f.records.iter());
        q.min_offset = all().next().map(|r| r.queue_offset);
        q.max_offset = all().last().map(|r| r.queue_offset + 1);
        rep.queues.push(q);
    }
    Ok(Some(rep))
}

/// One segment of a compaction log and the records read from it.
struct LogFile {
    start: u64,
    path: PathBuf,
    records: Vec<LogRecord>,
}

/// Reads each segment of a queue's compaction log from position 0 to its blank end record or
/// to zeros. Segments are independent: a compaction rewrites the old segments into new ones
/// from offset 0 that end in zeros (`CompactionLog#putEndMessage` writes nothing), so names
/// need not be consecutive (`0`, then the segment that was current, e.g. `11040`).
fn read_log(
    dir: &Path,
    topic: &str,
    qid: i32,
    q: &mut CompactionQueue,
    problems: &mut Vec<(PathBuf, Option<u64>, String)>,
) -> Result<Vec<LogFile>> {
    let mut out: Vec<LogFile> = Vec::new();
    let mut seg_len: Option<(usize, PathBuf)> = None;
    let mut prev_qo: Option<i64> = None;
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
        match &seg_len {
            None => seg_len = Some((bytes.len(), path.clone())),
            Some((len, first)) if *len != bytes.len() => problems.push((
                path.clone(),
                None,
                format!(
                    "{} bytes, but {} is {len} (Java's MappedFileQueue refuses to load segments of another size)",
                    bytes.len(),
                    first.display()
                ),
            )),
            Some(_) => {}
        }
        let mut file = LogFile {
            start,
            path: path.clone(),
            records: Vec::new(),
        };
        let mut pos = 0usize;
        while pos < bytes.len() {
            match decode_record(&bytes[pos..], true) {
                Ok(Decoded::Message { record, total_size }) => {
                    let at = start as i64 + pos as i64;
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
                    if let Some(prev) = prev_qo {
                        if record.queue_offset <= prev {
                            bad.push(format!(
                                "queue offset {} does not rise (previous {prev})",
                                record.queue_offset
                            ));
                        }
                    }
                    prev_qo = Some(record.queue_offset);
                    for b in bad {
                        problems.push((path.clone(), Some(pos as u64), b));
                    }
                    file.records.push(LogRecord {
                        offset: at,
                        size: total_size,
                        queue_offset: record.queue_offset,
                        store_timestamp: record.store_timestamp,
                        file: path.clone(),
                        pos: pos as u64,
                    });
                    pos += total_size as usize;
                }
                Ok(Decoded::Blank { .. }) | Ok(Decoded::End) => break,
                Err(e) => {
                    problems.push((path.clone(), Some(pos as u64), e.to_string()));
                    break;
                }
            }
        }
        out.push(file);
    }
    Ok(out)
}

/// Checks a queue's sparse consume queue against its log. Java names each consume-queue file
/// after the log segment it indexes (`TopicPartitionLog#roll` → `SparseConsumeQueue#createFile`
/// with the segment's start offset) and refuses to load when a log segment has no queue file of
/// its name or the other way round (`TopicPartitionLog#sanityCheck`). A queue file holds one
/// 46-byte unit per record of its segment, in order, and ends with zeros, or with an end marker
/// (offset −1, size 0) when the segment or the file filled up.
fn check_cq(
    dir: &Path,
    files: &[LogFile],
    q: &mut CompactionQueue,
    problems: &mut Vec<(PathBuf, Option<u64>, String)>,
) -> Result<()> {
    let mut cq_names = Vec::new();
    for (name, path, is_dir) in sorted_entries(dir)? {
        if is_dir && IN_PROGRESS_DIRS.contains(&name.as_str()) {
            continue;
        }
        let Some(start) = segment_name(&name).filter(|_| !is_dir) else {
            problems.push((path, None, "not a compaction consume-queue file".into()));
            continue;
        };
        cq_names.push(start);
        let Some(log) = files.iter().find(|f| f.start == start) else {
            problems.push((
                path,
                None,
                "no compaction-log segment of this name (Java refuses to load: \
                 consumeQueue file mismatch with log file)"
                    .into(),
            ));
            continue;
        };
        let bytes = read_all(&path)?;
        if bytes.len() % BCQ_UNIT_SIZE != 0 {
            problems.push((
                path.clone(),
                None,
                format!(
                    "{} bytes, not a multiple of the {BCQ_UNIT_SIZE}-byte unit",
                    bytes.len()
                ),
            ));
        }
        let mut next = 0usize;
        let mut pos = 0usize;
        let mut broken = false;
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
                    broken = true;
                }
                break;
            }
            q.units += 1;
            let at = |w: String| (path.clone(), Some(pos as u64), w);
            match log.records.get(next) {
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
                    if bad.is_empty() {
                        q.entries.push(CompactionEntry {
                            queue_offset: r.queue_offset,
                            log_offset: r.offset,
                            size: r.size,
                            store_timestamp: r.store_timestamp,
                            tags_code: u.tags_code,
                            file: r.file.clone(),
                            pos: r.pos,
                        });
                    }
                    problems.extend(bad.into_iter().map(at));
                    next += 1;
                }
                other => {
                    problems.push(at(format!(
                        "unit points at compaction-log offset {}, {}",
                        u.commitlog_offset,
                        match other {
                            Some(r) => format!("but the next record of {} is at {}", log.path.display(), r.offset),
                            None => format!("past the last record of {}", log.path.display()),
                        }
                    )));
                    broken = true;
                    break;
                }
            }
            pos += BCQ_UNIT_SIZE;
        }
        if !broken && next < log.records.len() {
            let r = &log.records[next];
            problems.push((
                r.file.clone(),
                Some(r.pos),
                format!(
                    "{} compaction-log records from queue offset {} have no unit",
                    log.records.len() - next,
                    r.queue_offset
                ),
            ));
        }
    }
    for f in files {
        if !cq_names.contains(&f.start) {
            problems.push((
                f.path.clone(),
                None,
                "no compaction consume-queue file of this name (Java refuses to load: \
                 log file mismatch with consumeQueue file)"
                    .into(),
            ));
        }
    }
    Ok(())
}
