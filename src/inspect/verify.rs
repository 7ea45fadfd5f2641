//! `verify`: checks a store directory offline, every rule of the reference's recipe
//! (section 13), and reports each problem with its file, byte offset, severity and kind.
//! Nothing is created, changed or locked.
//!
//! Severities: **error** is damage or an inconsistency a broker would not repair (messages
//! lost, hidden or served wrong); **warning** is what the broker's own recovery repairs (consume
//! queues behind the commitlog, a torn tail, an abort file) or a hazard; **info** is a fact
//! (pre-blank units, 3.x delay times, pre-allocated segments).
//!
//! Kinds (machine-readable): `lock-held`, `abort-present`, `stray-file`, `segment-size`,
//! `segment-name`, `segment-gap`, `segment-early-end`, `preallocated-segment`, `blank-size`,
//! `record-damage`, `torn-tail`, `dirty-tail`, `body-crc`, `property-crc`, `physical-offset`,
//! `queue-offset`, `bad-delay`, `cq-file-size`, `cq-file-name`, `cq-file-missing`,
//! `cq-after-end`, `cq-pre-blank`, `cq-bad-unit`, `cq-expired`, `cq-beyond-end`,
//! `cq-unit-target`, `cq-unit-mismatch`, `cq-tags-code`, `cq-legacy-delay-tags-code`,
//! `cq-duplicate`, `cq-ext-address`, `cq-missing-units`, `dispatch-behind`,
//! `index-file-name`, `index-file-size`, `index-header`, `index-slot`, `index-chain`,
//! `index-unreachable`, `index-entry-target`, `index-entry-hash`, `index-expired`,
//! `index-missing`, `index-behind`, `checkpoint-missing`, `checkpoint-size`,
//! `checkpoint-future`.

mod index;
mod queues;

use index::verify_index;
use queues::verify_consume_queues;
use std::collections::hash_map::Entry;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::discover::{discover_config, GeometryOverrides};
use super::progress::{Phase, ProgressFn};
use super::report::{Finding, Findings, Severity};
use super::scan::{
    last_non_zero_in, list_segments, walk_segment, walk_segment_known_tail, DamageKind, Item,
    SegmentFile,
};
use crate::clock::{Clock, SystemClock};
use crate::config::StoreConfig;
use crate::error::{Result, StoreError};
use crate::format::checkpoint::{Checkpoint, CHECKPOINT_FILE_SIZE};
use crate::format::cq::{
    is_dispatched_to_cq, record_tags_code, CqUnit, DelayLevels, CQ_UNIT_SIZE, SCHEDULE_TOPIC,
};
use crate::format::hash::{index_hash_of, java_hash_extend, java_string_hash};
use crate::format::index::{entry_pos, index_file_size, slot_pos, IndexHeader};
use crate::format::properties::StoreProperties;
use crate::format::record::{sysflag, utf8_lossy, Magic, MessageRecord};
use crate::fxhash::FxHashMap;
use crate::index::IndexFile;
use crate::mapped_file::offset_to_file_name;

/// How far a 3.x pre-lock clock may run ahead of the STORETIMESTAMP taken inside the lock.
pub const LEGACY_DELAY_SLACK_MS: i64 = 10;

/// The delivery times a 3.x broker may have written as a delayed record's tagsCode: it
/// computed them from `System.currentTimeMillis()` taken *before* the put lock, at or after
/// BORNTIMESTAMP and within a few ms of STORETIMESTAMP (see `tests/format_conformance.rs`).
/// `None` for a record that is not a delayed record of `SCHEDULE_TOPIC_XXXX`.
pub fn legacy_delay_window(
    record: &MessageRecord<'_>,
    props: &StoreProperties<'_>,
    delay_levels: &DelayLevels,
) -> Option<(i64, i64)> {
    if record.topic != SCHEDULE_TOPIC.as_bytes() {
        return None;
    }
    let level: i32 = props.delay.as_deref()?.parse().ok()?;
    let level = level.min(delay_levels.max_level());
    if level <= 0 {
        return None;
    }
    let lo = delay_levels.deliver_timestamp(level, record.born_timestamp);
    let hi = delay_levels.deliver_timestamp(
        level,
        record.store_timestamp.max(record.born_timestamp) + LEGACY_DELAY_SLACK_MS,
    );
    Some((lo, hi))
}

/// The index keys of a record as 4.6.0 builds them: `topic#UNIQ_KEY`, then `topic#k` for each
/// KEYS token; none for a ROLLBACK record.
#[cfg(any(feature = "cli", feature = "internals"))]
pub fn index_keys(record: &MessageRecord<'_>, props: &StoreProperties<'_>) -> Vec<String> {
    if record.tran_type() == sysflag::TRANSACTION_ROLLBACK_TYPE {
        return vec![];
    }
    let topic = record.topic_str();
    let mut v = Vec::new();
    if let Some(u) = props.uniq_key.as_deref() {
        v.push(format!("{topic}#{u}"));
    }
    for k in props.key_tokens() {
        v.push(format!("{topic}#{k}"));
    }
    v
}

/// Options of [`verify`].
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Sizes given explicitly instead of discovered.
    pub geometry: GeometryOverrides,
    /// "Now" for the checkpoint's future check (default: the system clock).
    pub now_ms: Option<i64>,
}

/// One consume queue as verify saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueSummary {
    /// Topic.
    pub topic: String,
    /// Queue id.
    pub queue_id: i32,
    /// First queue offset holding a message still in the commitlog (after pre-blank units).
    pub min_offset: u64,
    /// One past the last unit.
    pub max_offset: u64,
    /// Units before the queue's first valid one (blank filler).
    pub pre_blank_units: u64,
    /// Records of this queue in the commitlog that no unit points at yet.
    pub behind: u64,
}

/// The facts verify gathered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The commitlog folder.
    pub commitlog_dir: PathBuf,
    /// Commitlog segment size.
    pub segment_size: usize,
    /// Consume-queue file size.
    pub cq_file_size: usize,
    /// Index hash slots per file.
    pub hash_slots: u32,
    /// Index entries per file.
    pub index_num: u32,
    /// Commitlog segments.
    pub segments: usize,
    /// Start of the first segment.
    pub min_offset: u64,
    /// End of the last record (or blank) that decodes.
    pub data_end: u64,
    /// Where a Java recovery scanning every segment (with CRC checks) would end the log.
    pub recovery_end: u64,
    /// Records after `recovery_end` (a broker deletes them).
    pub records_after_recovery_end: u64,
    /// Records in the commitlog.
    pub records: u64,
    /// PREPARED/ROLLBACK records (in no consume queue).
    pub not_dispatched: u64,
    /// Records with an IPv6 host.
    pub ipv6_records: u64,
    /// V2 (long topic) records.
    pub v2_records: u64,
    /// Records with a 5.x `__CRC32#` property.
    pub property_crc_records: u64,
    /// 5.x inner-batch records (sysFlag 0x80: one record holding a whole batch).
    pub inner_batch_records: u64,
    /// The newest store timestamp.
    pub newest_store_timestamp: i64,
    /// Where the broker's reput starts: the largest end of a message any consume queue holds.
    pub reput_from: u64,
    /// Records the consume queues do not have yet.
    pub dispatch_behind_records: u64,
    /// Index files.
    pub index_files: usize,
    /// Records the index does not have yet.
    pub index_behind_records: u64,
    /// The checkpoint, when there is one.
    pub checkpoint: Option<CheckpointSummary>,
    /// The abort file is present.
    pub abort: bool,
    /// Another process holds the lock.
    pub locked: bool,
    /// Topics with consume queues.
    pub topics: Vec<String>,
    /// Per queue.
    pub queues: Vec<QueueSummary>,
    /// The 5.x-only structures (absent for a store without any): `src/v5/inspect.rs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v5: Option<crate::v5::inspect::V5Report>,
}

/// The checkpoint's timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckpointSummary {
    /// `physicMsgTimestamp`.
    pub physic_msg_timestamp: i64,
    /// `logicsMsgTimestamp`.
    pub logics_msg_timestamp: i64,
    /// `indexMsgTimestamp`.
    pub index_msg_timestamp: i64,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The store root.
    pub store: PathBuf,
    /// What the store holds.
    pub summary: Summary,
    /// What is wrong with it.
    pub findings: Findings,
}

impl VerifyReport {
    /// 0 when no finding is an error, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.findings.has_errors() {
            1
        } else {
            0
        }
    }
}

/// What verify keeps of a record for the cross-checks: 48 bytes and no heap, since a store
/// holds millions. Its commitlog offset is in `Ctx::offsets` at the same index.
#[derive(Debug, Clone, Copy)]
struct Rec {
    queue_offset: i64,
    /// Meaningful when `tags_ok` (false when the DELAY property does not parse).
    tags_code: i64,
    /// Its index keys' hashes are `key_hashes[key_start..][..key_len]`.
    key_start: usize,
    size: u32,
    /// Index into `Ctx::segs` (a store has far fewer than 2^32 segments).
    seg: u32,
    topic: u32,
    queue_id: i32,
    sys_flag: i32,
    /// At most UNIQ_KEY plus the KEYS tokens of a properties string of under 32 KiB.
    key_len: u16,
    tags_ok: bool,
    in_cq: bool,
}

impl Rec {
    fn keys(&self) -> std::ops::Range<usize> {
        self.key_start..self.key_start + self.key_len as usize
    }
    fn tags_code(&self) -> Option<i64> {
        self.tags_ok.then_some(self.tags_code)
    }
}

/// Topic names interned to ids in first-seen order, keyed by the name as decoded (so byte
/// strings that decode to the same name share an id).
#[derive(Default)]
struct Topics {
    names: Vec<String>,
    ids: FxHashMap<String, u32>,
    by_bytes: FxHashMap<Box<[u8]>, u32>,
    /// Per id, the Java hash of `"<topic>#"`: the shared prefix of its index keys.
    key_prefix: Vec<i32>,
    /// The previous record's topic bytes and id (records of one topic tend to follow each
    /// other).
    last_bytes: Vec<u8>,
    last_id: Option<u32>,
}

impl Topics {
    fn id_of_name(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        self.key_prefix
            .push(java_hash_extend(java_string_hash(name), "#"));
        id
    }

    fn id_of_bytes(&mut self, bytes: &[u8]) -> u32 {
        if let Some(id) = self.last_id {
            if self.last_bytes == bytes {
                return id;
            }
        }
        let id = match self.by_bytes.get(bytes) {
            Some(&id) => id,
            None => {
                let id = self.id_of_name(&utf8_lossy(bytes));
                self.by_bytes.insert(bytes.into(), id);
                id
            }
        };
        self.last_bytes.clear();
        self.last_bytes.extend_from_slice(bytes);
        self.last_id = Some(id);
        id
    }
}

struct Ctx<'p> {
    /// Where progress goes ([`super::progress::none`] for plain [`verify`]).
    progress: ProgressFn<'p>,
    findings: Findings,
    topics: Topics,
    /// The commitlog offset of each record of `recs`, in walk order.
    offsets: Vec<u64>,
    recs: Vec<Rec>,
    /// `offsets` rises strictly (it does unless segments are misnamed and overlap), so a
    /// lookup may start from a hint.
    offsets_rise: bool,
    /// `(index in recs, window)` of the delayed records a 3.x broker may have written
    /// ([`legacy_delay_window`]), in record order.
    legacy_delay: Vec<(usize, (i64, i64))>,
    key_hashes: Vec<i32>,
    segs: Vec<SegmentFile>,
    seg_paths: Vec<PathBuf>,
    data_end: u64,
    cl_min: u64,
    /// End of the last segment file (its offset plus the segment size).
    cl_files_end: u64,
}

impl Ctx<'_> {
    fn find(&self, offset: u64) -> Option<usize> {
        self.offsets.binary_search(&offset).ok()
    }
    /// [`find`](Self::find), searching forward from `hint` first: consume-queue units and
    /// index entries mostly point a little after the previous unit or entry of their file.
    /// The answer is the same (offsets are unique when they rise strictly).
    fn find_from(&self, offset: u64, hint: usize) -> Option<usize> {
        let o = &self.offsets;
        if !self.offsets_rise || hint >= o.len() || o[hint] > offset {
            return self.find(offset);
        }
        // Gallop: o[lo] <= offset, and offset < o[hi] unless hi is the end.
        let (mut lo, mut step) = (hint, 1usize);
        let mut hi = hint + 1;
        while hi < o.len() && o[hi] <= offset {
            lo = hi;
            step = step.saturating_mul(2);
            hi = hi.saturating_add(step);
        }
        let hi = hi.min(o.len());
        o[lo..hi].binary_search(&offset).ok().map(|i| lo + i)
    }
    fn legacy_delay(&self, ri: usize) -> Option<(i64, i64)> {
        self.legacy_delay
            .binary_search_by_key(&ri, |&(i, _)| i)
            .ok()
            .map(|i| self.legacy_delay[i].1)
    }
    fn rec_loc(&self, ri: usize) -> (PathBuf, u64) {
        let s = &self.segs[self.recs[ri].seg as usize];
        (s.path.clone(), self.offsets[ri] - s.offset)
    }
    /// The commitlog file and position of an absolute offset.
    fn cl_loc(&self, offset: u64) -> Option<(PathBuf, u64)> {
        let s = self
            .segs
            .iter()
            .rev()
            .find(|s| s.offset <= offset && offset < s.offset + s.len.max(1))?;
        Some((s.path.clone(), offset - s.offset))
    }
}

/// Discovers the geometry even when some file has a wrong length (that file is reported by
/// the segment checks): the most common length of each kind wins.
pub(crate) fn tolerant_config(root: &Path, o: &GeometryOverrides) -> Result<StoreConfig> {
    match discover_config(root, o) {
        Ok(c) => Ok(c),
        Err(StoreError::BadFile { .. }) => {
            let mut o2 = o.clone();
            let base = StoreConfig::with_root(root);
            let cl_dir = o.commitlog_dir.clone().unwrap_or(base.commit_log_dir());
            if o2.commitlog_size.is_none() {
                let (files, _) = list_segments(&cl_dir)?;
                o2.commitlog_size = most_common(files.iter().map(|f| f.len)).map(|l| l as usize);
            }
            if o2.cq_size.is_none() {
                let mut lens = Vec::new();
                for (_, _, dir) in queue_dirs(&base.consume_queue_dir())?.0 {
                    lens.extend(list_segments(&dir)?.0.iter().map(|f| f.len));
                }
                o2.cq_size = most_common(lens.into_iter()).map(|l| l as usize);
            }
            match discover_config(root, &o2) {
                Ok(c) => Ok(c),
                Err(StoreError::BadFile { .. }) if o2.hash_slots.is_none() => {
                    // Index files of several lengths: keep the defaults' ratio from the most
                    // common length, else the defaults; the size check names the odd files.
                    let lens = fs::read_dir(base.index_dir())
                        .map(|rd| {
                            rd.filter_map(|e| e.ok()?.metadata().ok().map(|m| m.len()))
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default();
                    if let Some(l) = most_common(lens.into_iter()) {
                        let body = l.saturating_sub(40);
                        if body > 0 && body % 84 == 0 {
                            o2.hash_slots = Some((body / 84) as u32);
                            o2.index_num = Some((body / 84 * 4) as u32);
                        }
                    }
                    if o2.hash_slots.is_none() {
                        o2.hash_slots = Some(base.max_hash_slot_num);
                        o2.index_num = Some(base.max_index_num);
                    }
                    discover_config(root, &o2)
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

fn most_common(lens: impl Iterator<Item = u64>) -> Option<u64> {
    let mut m: BTreeMap<u64, usize> = BTreeMap::new();
    for l in lens {
        *m.entry(l).or_default() += 1;
    }
    m.into_iter().max_by_key(|(l, n)| (*n, *l)).map(|(l, _)| l)
}

/// Bytes of the files in the consume-queue folders (for progress; unreadable entries count 0).
fn dir_bytes(dirs: &[(String, i32, PathBuf)]) -> u64 {
    dirs.iter()
        .filter_map(|(_, _, d)| fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// `consumequeue/<topic>/<queueId>` folders as (topic, queue id, path), and stray entries.
#[allow(clippy::type_complexity)]
pub(crate) fn queue_dirs(root: &Path) -> Result<(Vec<(String, i32, PathBuf)>, Vec<PathBuf>)> {
    let mut out = Vec::new();
    let mut strays = Vec::new();
    let rd = match fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((out, strays)),
        Err(e) => return Err(StoreError::io(root, e)),
    };
    for t in rd {
        let t = t.map_err(|e| StoreError::io(root, e))?;
        let tpath = t.path();
        if !tpath.is_dir() {
            strays.push(tpath);
            continue;
        }
        let topic = t.file_name().to_string_lossy().into_owned();
        for q in fs::read_dir(&tpath).map_err(|e| StoreError::io(&tpath, e))? {
            let q = q.map_err(|e| StoreError::io(&tpath, e))?;
            let qpath = q.path();
            match q.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) {
                Some(qid) if qid >= 0 && qpath.is_dir() => out.push((topic.clone(), qid, qpath)),
                _ => strays.push(qpath),
            }
        }
    }
    out.sort();
    strays.sort();
    Ok((out, strays))
}

/// Verifies the store rooted at `root`. Errors only for input that cannot be inspected at all
/// (no such directory, unreadable files); everything else is a finding.
pub fn verify(root: &Path, opts: &VerifyOptions) -> Result<VerifyReport> {
    verify_with_progress(root, opts, &super::progress::none)
}

/// [`verify`], reporting bytes done per phase (`commitlog`, `consume queues`, `index`) to
/// `progress`.
pub fn verify_with_progress(
    root: &Path,
    opts: &VerifyOptions,
    progress: ProgressFn<'_>,
) -> Result<VerifyReport> {
    check_is_store(root, opts)?;
    let config = tolerant_config(root, &opts.geometry)?;
    let delay_levels = config.delay_levels().map_err(StoreError::Config)?;
    let now = opts.now_ms.unwrap_or_else(|| SystemClock.now_millis());
    let mut summary = Summary {
        commitlog_dir: config.commit_log_dir(),
        segment_size: config.mapped_file_size_commit_log,
        cq_file_size: config.mapped_file_size_consume_queue(),
        hash_slots: config.max_hash_slot_num,
        index_num: config.max_index_num,
        ..Summary::default()
    };
    let mut cx = Ctx {
        progress,
        findings: Findings::default(),
        topics: Topics::default(),
        offsets: Vec::new(),
        recs: Vec::new(),
        offsets_rise: true,
        legacy_delay: Vec::new(),
        key_hashes: Vec::new(),
        segs: Vec::new(),
        seg_paths: Vec::new(),
        data_end: 0,
        cl_min: 0,
        cl_files_end: 0,
    };

    // 1. Lock and state.
    summary.locked = crate::store::is_locked(root)?;
    if summary.locked {
        cx.findings.push(
            Finding::new(
                Severity::Warning,
                "lock-held",
                "a process holds the store's lock (a running broker): files may change while \
                 they are read, so findings near the end of the data may be transient",
            )
            .file(config.lock_path())
            .action("stop the broker for a consistent check, or verify a copy"),
        );
    }
    summary.abort = config.abort_path().exists();
    if summary.abort {
        cx.findings.push(
            Finding::new(
                Severity::Warning,
                "abort-present",
                "the abort file is present: the last run did not stop cleanly; the next start \
                 runs abnormal recovery (re-dispatch from the checkpoint)",
            )
            .file(config.abort_path())
            .action(
                "let the broker recover it, or run `rmqstore rebuild --in-place --force` first",
            ),
        );
    }

    leftovers(root, &config, &mut cx);
    consume_queue_links(&config, &mut cx);

    // 2. Commitlog.
    scan_commitlog(&config, &delay_levels, &mut cx, &mut summary)?;

    // 3. Consume queues.
    verify_consume_queues(&config, &mut cx, &mut summary)?;

    // 4. Index.
    verify_index(&config, &mut cx, &mut summary)?;

    // 5. Checkpoint.
    verify_checkpoint(&config, now, &mut cx, &mut summary)?;

    // 6. 5.x structures (batch CQ, LMQ, timers, epochs): src/v5/inspect.rs.
    summary.v5 = crate::v5::inspect::verify_into(root, &config, &mut cx.findings);

    summary.topics = {
        let mut t = cx.topics.names.clone();
        t.sort();
        t
    };
    Ok(VerifyReport {
        store: root.to_path_buf(),
        summary,
        findings: cx.findings,
    })
}

/// What is not a store at all (exit 2): not a directory, or no commitlog folder (a writable
/// open of it would create an empty commitlog and delete every consume-queue file, as Java's
/// `destroyLogics` does). An empty folder and `/proc/self` are among them.
fn check_is_store(root: &Path, opts: &VerifyOptions) -> Result<()> {
    let meta = fs::metadata(root).map_err(|e| StoreError::io(root, e))?;
    if !meta.is_dir() {
        return Err(StoreError::bad_file(root, "not a store: not a directory"));
    }
    let cl = opts
        .geometry
        .commitlog_dir
        .clone()
        .unwrap_or_else(|| root.join("commitlog"));
    match fs::symlink_metadata(&cl) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(StoreError::bad_file(
            &cl,
            "not a store: the commitlog is not a directory of segment files",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::bad_file(
            &cl,
            "not a store: no commitlog folder (a broker or a writable open would start an empty \
             log here and delete every consume-queue file)",
        )),
        Err(e) => Err(StoreError::io(&cl, e)),
    }
}

/// Leftovers of an interrupted rebuild (`<name>.rebuild-<ts>`: errors, the next rebuild removes
/// them) and a rebuild's backups (`<name>.bak-<ts>`: named, for the operator to remove).
fn leftovers(root: &Path, config: &StoreConfig, cx: &mut Ctx) {
    let mut dirs = vec![root.to_path_buf()];
    if let Some(p) = config.commit_log_dir().parent() {
        if p != root {
            dirs.push(p.to_path_buf());
        }
    }
    for d in dirs {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        let mut names: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if crate::inspect::rebuild::is_rebuild_leftover(&name) {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "rebuild-leftover",
                        "the unfinished output of an interrupted rebuild",
                    )
                    .file(&p)
                    .action("run the rebuild again (it removes this first), or remove it"),
                );
            } else if crate::inspect::rebuild::is_rebuild_backup(&name) {
                cx.findings.push(
                    Finding::new(
                        Severity::Info,
                        "rebuild-backup",
                        "the files a rebuild in place replaced, kept as a backup",
                    )
                    .file(&p)
                    .action("remove it once the rebuilt store is in service"),
                );
            }
        }
    }
}

/// Symlinked topic or queue folders under `consumequeue/`: they may point outside the store
/// (a writable open would write there).
fn consume_queue_links(config: &StoreConfig, cx: &mut Ctx) {
    let base = config.consume_queue_dir();
    let Ok(rd) = fs::read_dir(&base) else { return };
    for t in rd.flatten() {
        let tp = t.path();
        let is_link = |p: &Path| {
            fs::symlink_metadata(p)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false)
        };
        if is_link(&tp) {
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "symlink",
                    "a consume-queue topic folder that is a symlink (it may point outside the \
                     store, where a writable open would write)",
                )
                .file(&tp),
            );
            continue;
        }
        let Ok(qs) = fs::read_dir(&tp) else { continue };
        for q in qs.flatten() {
            let qp = q.path();
            if is_link(&qp) {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "symlink",
                        "a consume-queue folder that is a symlink (it may point outside the \
                         store, where a writable open would write)",
                    )
                    .file(&qp),
                );
            }
        }
    }
}

fn scan_commitlog(
    config: &StoreConfig,
    delay_levels: &DelayLevels,
    cx: &mut Ctx,
    summary: &mut Summary,
) -> Result<()> {
    let dir = config.commit_log_dir();
    let size = config.mapped_file_size_commit_log as u64;
    let (segs, strays) = list_segments(&dir)?;
    for s in strays {
        let what = match fs::symlink_metadata(&s) {
            Ok(m) if m.file_type().is_symlink() => {
                "a symlink (it may point outside the store); the library and a broker refuse \
                 to load a commitlog holding it"
            }
            Ok(m) if m.is_dir() => {
                "a directory, not a segment file; the library refuses to load a commitlog \
                 holding it"
            }
            _ => {
                "not a commitlog segment (segments are named by 20 digits); the library \
                 refuses to load a commitlog directory holding it"
            }
        };
        cx.findings.push(
            Finding::new(Severity::Error, "stray-file", what)
                .file(s)
                .action("move it out of the commitlog directory"),
        );
    }
    summary.segments = segs.len();
    cx.seg_paths = segs.iter().map(|s| s.path.clone()).collect();
    cx.cl_min = segs.first().map_or(0, |s| s.offset);
    cx.cl_files_end = segs.last().map_or(0, |s| s.offset + size);
    summary.min_offset = cx.cl_min;
    // Sizes and names.
    for (i, s) in segs.iter().enumerate() {
        if s.len != size {
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "segment-size",
                    format!(
                        "segment is {} bytes, the others {size}: a broker refuses to start \
                         (\"length not matched message store config value\")",
                        s.len
                    ),
                )
                .at(&s.path, s.len.min(size))
                .action("restore the segment from a backup, or `rmqstore salvage` the store"),
            );
        }
        if s.offset % size != 0 {
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "segment-name",
                    format!(
                        "segment name {} is not a multiple of the size {size}",
                        s.offset
                    ),
                )
                .at(&s.path, 0),
            );
        }
        if i > 0 {
            let prev = &segs[i - 1];
            if s.offset != prev.offset + size {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "segment-gap",
                        format!(
                            "segment follows {} but should be named {} (a segment is missing \
                             or misnamed; the records in between are gone)",
                            prev.path.display(),
                            offset_to_file_name(prev.offset + size)
                        ),
                    )
                    .at(&s.path, 0),
                );
            }
        }
    }
    // Records.
    // The last segment holding data, and its last non-zero byte (which its walk needs too).
    let last_data = segs
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, s)| last_non_zero_in(&s.path, s.data(), 0).map(|nz| (i, nz)));
    let last_data_seg = last_data.map(|(i, _)| i);
    let mut recovery_end: Option<u64> = None;
    let mut last_qo: FxHashMap<(u32, i32), (i64, u64)> = FxHashMap::default();
    // Whether the last data segment's walk ended in a blank (None: not walked whole).
    let mut last_data_seg_blank: Option<bool> = None;
    let mut phase = Phase::start(
        cx.progress,
        "commitlog",
        segs.iter().map(|s| s.len.min(size)).sum(),
    );
    for (si, s) in segs.iter().enumerate() {
        if si > 0 {
            phase.add(segs[si - 1].len.min(size));
        }
        let data = s.data();
        let data = &data[..data.len().min(size as usize)];
        if last_data_seg.is_none_or(|l| si > l) {
            cx.findings.push(
                Finding::new(
                    Severity::Info,
                    "preallocated-segment",
                    "all zeros after the end of data (pre-allocated; recovery deletes it)",
                )
                .file(&s.path),
            );
            continue;
        }
        let mut seg_end = 0usize;
        let mut ended_blank = false;
        let last_nz = match last_data {
            Some((l, nz)) if l == si && nz < data.len() => Some(nz),
            _ => last_non_zero_in(&s.path, data, 0),
        };
        walk_segment_known_tail(data, s.offset, last_nz, |it| {
            ended_blank = matches!(it, Item::Blank { .. });
            match it {
                Item::Record {
                    pos,
                    size: rsize,
                    record,
                    crc_ok,
                    prop_crc,
                    ..
                } => {
                    let abs = s.offset + pos as u64;
                    seg_end = pos + rsize;
                    if !crc_ok {
                        recovery_end.get_or_insert(abs);
                        cx.findings.push(
                            Finding::new(
                                Severity::Error,
                                "body-crc",
                                format!(
                                    "record at commitlog offset {abs} ({} queue {} offset {}): \
                                     the body does not match BODYCRC {}; Java's recovery ends the \
                                     log before it when it lies in the segments it scans",
                                    record.topic_str(),
                                    record.queue_id,
                                    record.queue_offset,
                                    record.body_crc
                                ),
                            )
                            .at(&s.path, pos as u64 + 8)
                            .action("`rmqstore salvage` keeps every other record"),
                        );
                    }
                    if let Some(Err(e)) = prop_crc {
                        cx.findings.push(
                            Finding::new(
                                Severity::Error,
                                "property-crc",
                                format!("record at commitlog offset {abs}: {}", e.problem),
                            )
                            .at(&s.path, pos as u64 + e.offset),
                        );
                    }
                    if record.physical_offset as u64 != abs || record.physical_offset < 0 {
                        cx.findings.push(
                            Finding::new(
                                Severity::Error,
                                "physical-offset",
                                format!(
                                    "record at commitlog offset {abs} says PHYSICALOFFSET {} \
                                     (copied from elsewhere, or a misnamed segment)",
                                    record.physical_offset
                                ),
                            )
                            .at(&s.path, pos as u64 + 28),
                        );
                    }
                    add_record(
                        cx,
                        summary,
                        delay_levels,
                        &record,
                        si,
                        pos,
                        rsize,
                        abs,
                        &mut last_qo,
                    );
                }
                Item::Blank { pos, declared } => {
                    seg_end = data.len();
                    if declared as usize != data.len() - pos {
                        cx.findings.push(
                            Finding::new(
                                Severity::Error,
                                "blank-size",
                                format!(
                                    "blank end-of-segment record says {declared} bytes, but {} \
                                     remain in the segment",
                                    data.len() - pos
                                ),
                            )
                            .at(&s.path, pos as u64),
                        );
                    }
                }
                Item::End { pos } => {
                    seg_end = pos;
                    if last_data_seg.is_some_and(|l| si < l) {
                        recovery_end.get_or_insert(s.offset + pos as u64);
                        cx.findings.push(
                            Finding::new(
                                Severity::Error,
                                "segment-early-end",
                                format!(
                                    "the data ends here without a blank end-of-segment record, \
                                     but later segments hold data: Java's recovery ends the log \
                                     at commitlog offset {} and deletes everything after it",
                                    s.offset + pos as u64
                                ),
                            )
                            .at(&s.path, pos as u64)
                            .action("`rmqstore salvage` copies the later records"),
                        );
                    }
                }
                Item::Damage {
                    pos,
                    to,
                    kind,
                    problem,
                    resynced,
                } => {
                    let abs = s.offset + pos as u64;
                    recovery_end.get_or_insert(abs);
                    let later_data = resynced || last_data_seg.is_some_and(|l| si < l);
                    if later_data {
                        cx.findings.push(
                            Finding::new(
                                Severity::Error,
                                "record-damage",
                                format!(
                                    "{} bytes at commitlog offset {abs} hold no valid record \
                                     ({}: {problem}); valid records follow, which Java's \
                                     recovery would throw away",
                                    to - pos,
                                    kind.as_str()
                                ),
                            )
                            .at(&s.path, pos as u64)
                            .action("`rmqstore salvage` keeps the records after the damage"),
                        );
                    } else if kind == DamageKind::Torn {
                        cx.findings.push(
                            Finding::new(
                                Severity::Warning,
                                "torn-tail",
                                format!(
                                    "torn tail at commitlog offset {abs}: a partially written \
                                     record ({problem}); recovery ends the log here"
                                ),
                            )
                            .at(&s.path, pos as u64),
                        );
                    } else {
                        cx.findings.push(
                            Finding::new(
                                Severity::Warning,
                                "dirty-tail",
                                format!(
                                    "dirty tail at commitlog offset {abs}: {} bytes that are \
                                     not records after the end of data ({problem}); recovery \
                                     ends the log here",
                                    to - pos
                                ),
                            )
                            .at(&s.path, pos as u64),
                        );
                    }
                    seg_end = to;
                }
            }
        });
        if Some(si) == last_data_seg && data.len() == s.data().len() {
            last_data_seg_blank = Some(ended_blank);
        }
        cx.data_end = cx.data_end.max(s.offset + seg_end as u64);
    }
    phase.finish();
    // The data end is the end of the last valid record or blank, not of damage.
    cx.data_end = cx
        .offsets
        .last()
        .zip(cx.recs.last())
        .map_or(cx.cl_min, |(&o, r)| o + r.size as u64)
        .max(cx.cl_min);
    if let Some(last) = last_data_seg.and_then(|l| segs.get(l)) {
        // A last data segment that ends in a blank: the data ends at the next segment. (Its
        // walk above answers that, unless it was cut to the segment size.)
        let blank = last_data_seg_blank.unwrap_or_else(|| {
            matches!(
                last_item(last.data(), last.offset),
                Some(Item::Blank { .. })
            )
        });
        if blank {
            cx.data_end = cx.data_end.max(last.offset + size);
        }
    }
    summary.data_end = cx.data_end;
    summary.recovery_end = recovery_end.unwrap_or(cx.data_end);
    // Where the store's content ends is recovery's answer (inspect::content), when the library
    // can load the commitlog; the walk's first damage above is only an estimate (normal
    // recovery never checks the segments before the last three).
    let bounds = crate::inspect::content::load_segments(config).and_then(|files| {
        let cp =
            crate::inspect::content::read_checkpoint(&config.checkpoint_path()).unwrap_or_default();
        crate::inspect::content::recovery_bounds(config, &files, config.abort_path().exists(), &cp)
    });
    if let Ok((_, end, _)) = bounds {
        summary.recovery_end = end;
        let after = cx.offsets.iter().filter(|&&o| o >= end).count() as u64;
        summary.records_after_recovery_end = after;
        if after > 0 {
            let first = cx.offsets.iter().copied().filter(|&o| o >= end).min();
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "records-after-recovery-end",
                    format!(
                        "{after} records lie after commitlog offset {end}, where Java's recovery \
                         ends the log (the first at {}): a broker starting on this store deletes \
                         them",
                        first.unwrap_or(end)
                    ),
                )
                .action(
                    "`rmqstore salvage` copies them; `rebuild --in-place --truncate-at-damage` \
                     removes them",
                ),
            );
        }
    }
    summary.records = cx.recs.len() as u64;
    cx.offsets_rise = cx.offsets.windows(2).all(|w| w[0] < w[1]);
    cx.segs = segs;
    Ok(())
}

/// The last queue offset a record takes: its own, or for a 5.x inner batch (one record for
/// `INNER_NUM` messages, queue offset = the first) the batch's last.
fn last_queue_offset(record: &MessageRecord<'_>) -> i64 {
    if record.sys_flag & sysflag::INNER_BATCH == 0 {
        return record.queue_offset;
    }
    let n = crate::format::properties::get(record.properties, "INNER_NUM")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    record.queue_offset.wrapping_add(n - 1)
}

fn last_item(data: &[u8], from: u64) -> Option<Item<'_>> {
    let mut last = None;
    walk_segment(data, from, |it| last = Some(it));
    last
}

#[allow(clippy::too_many_arguments)]
fn add_record(
    cx: &mut Ctx,
    summary: &mut Summary,
    delay_levels: &DelayLevels,
    record: &MessageRecord<'_>,
    seg: usize,
    pos: usize,
    size: usize,
    abs: u64,
    last_qo: &mut FxHashMap<(u32, i32), (i64, u64)>,
) {
    let tid = cx.topics.id_of_bytes(record.topic);
    let props = record.store_properties();
    if record.sys_flag & (sysflag::BORNHOST_V6 | sysflag::STOREHOST_V6) != 0 {
        summary.ipv6_records += 1;
    }
    if record.magic == Magic::V2 {
        summary.v2_records += 1;
    }
    if super::scan::carries_property_crc(record) {
        summary.property_crc_records += 1;
    }
    if record.sys_flag & sysflag::INNER_BATCH != 0 {
        summary.inner_batch_records += 1;
    }
    summary.newest_store_timestamp = summary.newest_store_timestamp.max(record.store_timestamp);
    let tags_code = match record_tags_code(record, &props, delay_levels) {
        Ok(c) => Some(c),
        Err(p) => {
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "bad-delay",
                    format!("record at commitlog offset {abs}: {p}; Java's recovery stops at it"),
                )
                .at(cx.segs_path(seg), pos as u64),
            );
            None
        }
    };
    let dispatched = is_dispatched_to_cq(record.sys_flag);
    if !dispatched {
        summary.not_dispatched += 1;
    } else {
        match last_qo.entry((tid, record.queue_id)) {
            Entry::Occupied(mut e) => {
                let (prev, prev_at) = *e.get();
                if record.queue_offset != prev.wrapping_add(1) {
                    cx.findings.push(
                        Finding::new(
                            Severity::Error,
                            "queue-offset",
                            format!(
                                "{} queue {}: QUEUEOFFSET {} follows {prev} (record at \
                                 commitlog offset {prev_at}); queue offsets must be dense and \
                                 rising",
                                cx.topics.names[tid as usize], record.queue_id, record.queue_offset
                            ),
                        )
                        .at(cx.segs_path(seg), pos as u64 + 20),
                    );
                }
                e.insert((last_queue_offset(record), abs));
            }
            Entry::Vacant(e) => {
                e.insert((last_queue_offset(record), abs));
            }
        }
    }
    // The hashes of `index_keys`, without building the strings: the hash of `topic#key`
    // continues the topic's hash of `topic#`.
    let key_start = cx.key_hashes.len();
    if record.tran_type() != sysflag::TRANSACTION_ROLLBACK_TYPE {
        let prefix = cx.topics.key_prefix[tid as usize];
        if let Some(u) = props.uniq_key.as_deref() {
            cx.key_hashes
                .push(index_hash_of(java_hash_extend(prefix, u)));
        }
        for k in props.key_tokens() {
            cx.key_hashes
                .push(index_hash_of(java_hash_extend(prefix, k)));
        }
    }
    if let Some(w) = legacy_delay_window(record, &props, delay_levels) {
        cx.legacy_delay.push((cx.recs.len(), w));
    }
    cx.offsets.push(abs);
    cx.recs.push(Rec {
        queue_offset: record.queue_offset,
        tags_code: tags_code.unwrap_or(0),
        key_start,
        size: size as u32,
        seg: seg as u32,
        topic: tid,
        queue_id: record.queue_id,
        sys_flag: record.sys_flag,
        key_len: (cx.key_hashes.len() - key_start) as u16,
        tags_ok: tags_code.is_some(),
        in_cq: false,
    });
}

impl Ctx<'_> {
    fn segs_path(&self, seg: usize) -> PathBuf {
        self.seg_paths.get(seg).cloned().unwrap_or_default()
    }
}

fn verify_checkpoint(
    config: &StoreConfig,
    now: i64,
    cx: &mut Ctx,
    summary: &mut Summary,
) -> Result<()> {
    let path = config.checkpoint_path();
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !cx.recs.is_empty() {
                cx.findings.push(
                    Finding::new(
                        Severity::Info,
                        "checkpoint-missing",
                        "no checkpoint file: a broker creates one (all zero); after an unclean \
                         stop its recovery would start from the first segment",
                    )
                    .file(&path),
                );
            }
            return Ok(());
        }
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    if bytes.len() != CHECKPOINT_FILE_SIZE {
        cx.findings.push(
            Finding::new(
                Severity::Warning,
                "checkpoint-size",
                format!(
                    "checkpoint is {} bytes, expected {CHECKPOINT_FILE_SIZE}",
                    bytes.len()
                ),
            )
            .at(&path, bytes.len() as u64),
        );
    }
    let mut page = bytes.clone();
    page.resize(CHECKPOINT_FILE_SIZE.max(page.len()), 0);
    let cp = Checkpoint::decode(&page).map_err(|e| StoreError::corrupt(&path, 0, e))?;
    summary.checkpoint = Some(CheckpointSummary {
        physic_msg_timestamp: cp.physic_msg_timestamp,
        logics_msg_timestamp: cp.logics_msg_timestamp,
        index_msg_timestamp: cp.index_msg_timestamp,
    });
    let newest = summary.newest_store_timestamp;
    for (name, at, v) in [
        ("physicMsgTimestamp", 0u64, cp.physic_msg_timestamp),
        ("logicsMsgTimestamp", 8, cp.logics_msg_timestamp),
        ("indexMsgTimestamp", 16, cp.index_msg_timestamp),
    ] {
        if v < 0 {
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "checkpoint-negative",
                    format!("{name} is negative ({v}): the checkpoint is not one a store wrote"),
                )
                .at(&path, at)
                .action("`rmqstore rebuild` writes a new checkpoint"),
            );
        } else if v > now + 60_000 {
            cx.findings.push(
                Finding::new(
                    Severity::Warning,
                    "checkpoint-future",
                    format!(
                        "{name} {v} ({}) is in the future",
                        crate::clock::human_time(v)
                    ),
                )
                .at(&path, at),
            );
        } else if v > newest && !cx.recs.is_empty() {
            cx.findings.push(
                Finding::new(
                    Severity::Warning,
                    "checkpoint-future",
                    format!(
                        "{name} {v} ({}) is after the newest record's store time {newest}: the \
                         checkpoint describes data the commitlog does not have; after an \
                         unclean stop recovery may start too late",
                        crate::clock::human_time(v)
                    ),
                )
                .at(&path, at),
            );
        }
    }
    Ok(())
}
