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

fn verify_consume_queues(config: &StoreConfig, cx: &mut Ctx, summary: &mut Summary) -> Result<()> {
    let fsize = config.mapped_file_size_consume_queue() as u64;
    let (dirs, strays) = queue_dirs(&config.consume_queue_dir())?;
    for s in strays {
        cx.findings.push(
            Finding::new(
                Severity::Warning,
                "stray-file",
                "not a consume-queue folder (consumequeue/<topic>/<queueId>/)",
            )
            .file(s),
        );
    }
    let mut reput_from = cx.cl_min;
    let mut queues = Vec::new();
    let mut phase = Phase::start(cx.progress, "consume queues", dir_bytes(&dirs));
    let mut last_bytes = 0;
    for (topic, qid, dir) in dirs {
        phase.add(last_bytes);
        if crate::v5::lmq::is_lmq(&topic) {
            // Light message queues point at records of other topics: checked by the 5.x part.
            last_bytes = 0;
            continue;
        }
        let (files, strays) = list_segments(&dir)?;
        last_bytes = files.iter().map(|f| f.len).sum();
        for s in strays {
            cx.findings.push(
                Finding::new(
                    Severity::Warning,
                    "stray-file",
                    "not a consume-queue file (named by 20 digits)",
                )
                .file(s),
            );
        }
        let tid = cx.topics.ids.get(&topic).copied();
        let mut q = QueueSummary {
            topic: topic.clone(),
            queue_id: qid,
            min_offset: files.first().map_or(0, |f| f.offset / CQ_UNIT_SIZE as u64),
            max_offset: 0,
            pre_blank_units: 0,
            behind: 0,
        };
        let mut ended: Option<(PathBuf, u64)> = None;
        let mut seen_real = false;
        let mut expired = 0u64;
        let mut beyond: Option<(PathBuf, u64, u64)> = None;
        let mut beyond_n = 0u64;
        let mut legacy = 0u64;
        let mut hint = 0usize;
        for (i, f) in files.iter().enumerate() {
            if f.len != fsize {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "cq-file-size",
                        format!(
                            "consume-queue file is {} bytes, expected {fsize}; a broker refuses \
                             to load it",
                            f.len
                        ),
                    )
                    .at(&f.path, f.len.min(fsize))
                    .action("`rmqstore rebuild` regenerates the consume queues"),
                );
            }
            if f.offset % fsize != 0 {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "cq-file-name",
                        format!(
                            "name {} is not a multiple of the file size {fsize}",
                            f.offset
                        ),
                    )
                    .at(&f.path, 0),
                );
            }
            if i > 0 && f.offset != files[i - 1].offset + fsize {
                let missing = dir.join(offset_to_file_name(files[i - 1].offset + fsize));
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "cq-file-missing",
                        format!(
                            "consume-queue file missing: units from queue offset {} to {} are \
                             gone (the next file is {})",
                            (files[i - 1].offset + fsize) / CQ_UNIT_SIZE as u64,
                            f.offset / CQ_UNIT_SIZE as u64,
                            f.path.display()
                        ),
                    )
                    .at(&missing, 0)
                    .action("`rmqstore rebuild` regenerates the consume queues"),
                );
            }
            let data = f.data();
            let mut pos = 0usize;
            while pos + CQ_UNIT_SIZE <= data.len() {
                let unit = CqUnit::decode(&data[pos..]).expect("20 bytes");
                let index = (f.offset + pos as u64) / CQ_UNIT_SIZE as u64;
                let at = pos as u64;
                pos += CQ_UNIT_SIZE;
                if let Some((ref epath, epos)) = ended {
                    if unit
                        != (CqUnit {
                            commitlog_offset: 0,
                            size: 0,
                            tags_code: 0,
                        })
                    {
                        cx.findings.push(
                            Finding::new(
                                Severity::Error,
                                "cq-after-end",
                                format!(
                                    "{topic} queue {qid}: units after the end of the queue \
                                     ({} @ {epos}); a broker's recovery drops them",
                                    epath.display()
                                ),
                            )
                            .at(&f.path, at),
                        );
                        // One finding per queue is enough.
                        ended = Some((PathBuf::new(), u64::MAX));
                        break;
                    }
                    continue;
                }
                if !unit.is_valid() {
                    ended = Some((f.path.clone(), at));
                    continue;
                }
                q.max_offset = index + 1;
                if unit.is_pre_blank() {
                    if seen_real || i > 0 {
                        cx.findings.push(
                            Finding::new(
                                Severity::Error,
                                "cq-bad-unit",
                                format!(
                                    "{topic} queue {qid}: a pre-blank unit at queue offset \
                                     {index}, after real units"
                                ),
                            )
                            .at(&f.path, at),
                        );
                    } else {
                        q.pre_blank_units += 1;
                        q.min_offset = index + 1;
                    }
                    continue;
                }
                seen_real = true;
                let end = unit
                    .commitlog_offset
                    .saturating_add(unit.size as i64)
                    .max(0) as u64;
                reput_from = reput_from.max(end);
                let off = unit.commitlog_offset as u64;
                if off < cx.cl_min {
                    expired += 1;
                    q.min_offset = index + 1;
                    continue;
                }
                if off >= cx.data_end {
                    beyond_n += 1;
                    beyond.get_or_insert((f.path.clone(), at, off));
                    continue;
                }
                if unit.tags_code < i32::MIN as i64 {
                    cx.findings.push(
                        Finding::new(
                            Severity::Warning,
                            "cq-ext-address",
                            "tagsCode is a consume-queue-ext address (consumequeue_ext is not \
                             checked)",
                        )
                        .at(&f.path, at + 12),
                    );
                }
                let Some(ri) = cx.find_from(off, hint) else {
                    cx.findings.push(
                        Finding::new(
                            Severity::Error,
                            "cq-unit-target",
                            format!(
                                "{topic} queue {qid} offset {index}: points at commitlog offset \
                                 {off}, where no record starts"
                            ),
                        )
                        .at(&f.path, at)
                        .action("`rmqstore rebuild` regenerates the consume queues"),
                    );
                    continue;
                };
                hint = ri + 1;
                let r = cx.recs[ri];
                let mut wrong = Vec::new();
                if Some(r.topic) != tid {
                    wrong.push(format!("topic {}", cx.topics.names[r.topic as usize]));
                }
                if r.queue_id != qid {
                    wrong.push(format!("queue {}", r.queue_id));
                }
                if r.size as i32 != unit.size {
                    wrong.push(format!("size {} (unit says {})", r.size, unit.size));
                }
                if r.queue_offset != index as i64 {
                    wrong.push(format!("QUEUEOFFSET {}", r.queue_offset));
                }
                if !is_dispatched_to_cq(r.sys_flag) {
                    wrong.push("a PREPARED/ROLLBACK record".into());
                }
                if !wrong.is_empty() {
                    cx.findings.push(
                        Finding::new(
                            Severity::Error,
                            "cq-unit-mismatch",
                            format!(
                                "{topic} queue {qid} offset {index}: points at commitlog offset \
                                 {off}, a record with {}",
                                wrong.join(", ")
                            ),
                        )
                        .at(&f.path, at)
                        .action("`rmqstore rebuild` regenerates the consume queues"),
                    );
                    continue;
                }
                if r.in_cq {
                    cx.findings.push(
                        Finding::new(
                            Severity::Error,
                            "cq-duplicate",
                            format!(
                                "{topic} queue {qid} offset {index}: a second unit for the \
                                 record at commitlog offset {off}"
                            ),
                        )
                        .at(&f.path, at),
                    );
                }
                cx.recs[ri].in_cq = true;
                if let Some(want) = r.tags_code() {
                    if unit.tags_code != want {
                        match cx.legacy_delay(ri) {
                            Some((lo, hi)) if (lo..=hi).contains(&unit.tags_code) => legacy += 1,
                            _ => cx.findings.push(
                                Finding::new(
                                    Severity::Error,
                                    "cq-tags-code",
                                    format!(
                                        "{topic} queue {qid} offset {index}: tagsCode {} but \
                                         the record (commitlog offset {off}) gives {want}; tag \
                                         filtering or delayed delivery goes wrong",
                                        unit.tags_code
                                    ),
                                )
                                .at(&f.path, at + 12)
                                .action("`rmqstore rebuild` regenerates the consume queues"),
                            ),
                        }
                    }
                }
            }
        }
        if q.pre_blank_units > 0 {
            cx.findings.push(
                Finding::new(
                    Severity::Info,
                    "cq-pre-blank",
                    format!(
                        "{topic} queue {qid}: {} pre-blank units before the first message (the \
                         queue's first file starts at queue offset {})",
                        q.pre_blank_units, q.min_offset
                    ),
                )
                .at(&files[0].path, 0),
            );
        }
        if expired > 0 {
            cx.findings.push(
                Finding::new(
                    Severity::Info,
                    "cq-expired",
                    format!(
                        "{topic} queue {qid}: {expired} units point below the commitlog's first \
                         segment (messages already deleted)"
                    ),
                )
                .file(&dir),
            );
        }
        if let Some((p, at, off)) = beyond {
            // Past the last segment file: the segment that held them is gone, not just a tail
            // a crash did not flush.
            let sev = if off >= cx.cl_files_end {
                Severity::Error
            } else {
                Severity::Warning
            };
            cx.findings.push(
                Finding::new(
                    sev,
                    "cq-beyond-end",
                    format!(
                        "{topic} queue {qid}: {beyond_n} units point at or beyond the end of the \
                         commitlog data ({}), first at commitlog offset {off}; recovery truncates \
                         them",
                        cx.data_end
                    ),
                )
                .at(&p, at),
            );
        }
        if legacy > 0 {
            cx.findings.push(
                Finding::new(
                    Severity::Info,
                    "cq-legacy-delay-tags-code",
                    format!(
                        "{topic} queue {qid}: {legacy} delayed messages carry a delivery time \
                         computed by a 3.x broker from its pre-lock clock (up to \
                         {LEGACY_DELAY_SLACK_MS} ms off the 4.x rule); brokers keep them as they \
                         are"
                    ),
                )
                .file(&dir),
            );
        }
        queues.push((q, dir));
    }
    phase.finish();
    summary.reput_from = reput_from;

    // Records no unit points at: behind the reput position (dispatched at start) or missing.
    let fsize_u = fsize;
    let mut behind_first: Option<u64> = None;
    let mut behind = 0u64;
    let mut missing: BTreeMap<(u32, i32), (u64, usize)> = BTreeMap::new();
    let mut behind_by_queue: FxHashMap<(u32, i32), u64> = FxHashMap::default();
    // 5.x batch-CQ topics have their units in batchconsumequeue/ (checked by the 5.x part).
    let batch_topics: Vec<u32> = crate::v5::inspect::batch_topic_names(config.root())
        .iter()
        .filter_map(|t| cx.topics.ids.get(t).copied())
        .collect();
    for (ri, (r, &offset)) in cx.recs.iter().zip(&cx.offsets).enumerate() {
        if r.in_cq || !is_dispatched_to_cq(r.sys_flag) || !r.tags_ok {
            continue;
        }
        if batch_topics.contains(&r.topic) {
            continue;
        }
        if offset >= reput_from {
            behind += 1;
            behind_first.get_or_insert(offset);
            *behind_by_queue.entry((r.topic, r.queue_id)).or_default() += 1;
        } else {
            missing.entry((r.topic, r.queue_id)).or_insert((0, ri)).0 += 1;
        }
    }
    for (q, _) in queues.iter_mut() {
        if let Some(&tid) = cx.topics.ids.get(&q.topic) {
            q.behind = behind_by_queue
                .get(&(tid, q.queue_id))
                .copied()
                .unwrap_or(0);
        }
    }
    summary.dispatch_behind_records = behind;
    if let Some(first) = behind_first {
        let (p, pos) = cx.cl_loc(first).unwrap_or_default();
        cx.findings.push(
            Finding::new(
                Severity::Warning,
                "dispatch-behind",
                format!(
                    "the consume queues end at commitlog offset {reput_from}; {behind} records \
                     from commitlog offset {first} on are not in their consume queues yet (the \
                     broker's recovery/reput dispatches them at start)"
                ),
            )
            .at(p, pos)
            .action("nothing: a broker repairs this at start; or `rmqstore rebuild`"),
        );
    }
    for ((tid, qid), (n, ri)) in missing {
        let topic = cx.topics.names[tid as usize].clone();
        let (off, qo) = (cx.offsets[ri], cx.recs[ri].queue_offset);
        let (cl_path, cl_pos) = cx.rec_loc(ri);
        let dir = config
            .consume_queue_dir()
            .join(&topic)
            .join(qid.to_string());
        let byte = (qo.max(0) as u64) * CQ_UNIT_SIZE as u64;
        let file = dir.join(offset_to_file_name(byte - byte % fsize_u));
        cx.findings.push(
            Finding::new(
                Severity::Error,
                "cq-missing-units",
                format!(
                    "{topic} queue {qid}: {n} records below the reput position have no unit \
                     (first: commitlog offset {off} = {} @ {cl_pos}, queue offset {qo}); \
                     consumers never see them and the broker does not re-dispatch them",
                    cl_path.display()
                ),
            )
            .at(file, byte % fsize_u)
            .action("`rmqstore rebuild` regenerates the consume queues"),
        );
    }
    summary.queues = queues.into_iter().map(|(q, _)| q).collect();
    Ok(())
}

fn verify_index(config: &StoreConfig, cx: &mut Ctx, summary: &mut Summary) -> Result<()> {
    let dir = config.index_dir();
    let slots = config.max_hash_slot_num;
    let num = config.max_index_num;
    let want_len = index_file_size(slots, num) as u64;
    let mut names = Vec::new();
    match fs::read_dir(&dir) {
        Ok(rd) => {
            for e in rd {
                let e = e.map_err(|e| StoreError::io(&dir, e))?;
                names.push(e.path());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&dir, e)),
    }
    names.sort();
    let mut files = Vec::new();
    for p in names {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.len() != 17 || !name.bytes().all(|b| b.is_ascii_digit()) || !p.is_file() {
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "index-file-name",
                    "not an index file (named yyyyMMddHHmmssSSS, 17 digits); a broker fails to \
                     load the index directory",
                )
                .file(&p)
                .action("move it out of the index directory"),
            );
            continue;
        }
        let len = fs::metadata(&p).map_err(|e| StoreError::io(&p, e))?.len();
        if len != want_len {
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "index-file-size",
                    format!(
                        "index file is {len} bytes, expected {want_len} ({slots} slots, {num} \
                         entries)"
                    ),
                )
                .at(&p, len.min(want_len))
                .action("`rmqstore rebuild` regenerates the index"),
            );
            continue;
        }
        files.push(IndexFile::open(&p, slots, num, true)?);
    }
    summary.index_files = files.len();
    // Per position of `key_hashes`: some entry of some file points at the record with that
    // key hash.
    let mut key_present = vec![false; cx.key_hashes.len()];
    let mut first_begin: Option<i64> = None;
    let mut last_end: i64 = -1;
    let file_len = |f: &IndexFile| f.bytes().len() as u64;
    let mut phase = Phase::start(cx.progress, "index", files.iter().map(file_len).sum());
    for (fi, f) in files.iter().enumerate() {
        if fi > 0 {
            phase.add(file_len(&files[fi - 1]));
        }
        let path = f.path().to_path_buf();
        let h: IndexHeader = f.disk_header();
        let count = h.index_count.max(1);
        if h.index_count < 0 || h.index_count as i64 > num as i64 {
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "index-header",
                    format!("indexCount {} is outside 0..={num}", h.index_count),
                )
                .at(&path, 36),
            );
            continue;
        }
        if count > 1 {
            if h.begin_timestamp > h.end_timestamp {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "index-header",
                        format!(
                            "beginTimestamp {} is after endTimestamp {}",
                            h.begin_timestamp, h.end_timestamp
                        ),
                    )
                    .at(&path, 0),
                );
            }
            if h.begin_phy_offset > h.end_phy_offset {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "index-header",
                        format!(
                            "beginPhyOffset {} is after endPhyOffset {}",
                            h.begin_phy_offset, h.end_phy_offset
                        ),
                    )
                    .at(&path, 16),
                );
            }
            if h.hash_slot_count < 0 || h.hash_slot_count > count - 1 {
                cx.findings.push(
                    Finding::new(
                        Severity::Warning,
                        "index-header",
                        format!(
                            "hashSlotCount {} exceeds the {} entries",
                            h.hash_slot_count,
                            count - 1
                        ),
                    )
                    .at(&path, 32),
                );
            }
            if h.end_phy_offset as u64 >= cx.data_end.max(1) && h.end_phy_offset >= 0 {
                cx.findings.push(
                    Finding::new(
                        Severity::Warning,
                        "index-header",
                        format!(
                            "endPhyOffset {} is at or beyond the end of the commitlog data ({})",
                            h.end_phy_offset, cx.data_end
                        ),
                    )
                    .at(&path, 24),
                );
            }
            first_begin.get_or_insert(h.begin_phy_offset);
            last_end = last_end.max(h.end_phy_offset);
        }
        let bytes = f.bytes();
        // Entries.
        let mut expired = 0u64;
        let mut bad_target: Option<(u64, i64)> = None;
        let mut bad_target_n = 0u64;
        let mut hint = 0usize;
        // Each entry's (key hash, link), for the chain check; entries past one that does not
        // decode are left out, and then the full walk below runs.
        let mut links: Vec<(i32, i32)> = Vec::with_capacity(count as usize);
        links.push((0, 0));
        for n in 1..count as u32 {
            let Some(e) = f.entry(n) else { break };
            links.push((e.key_hash, e.prev_index));
            let at = entry_pos(slots, n) as u64;
            if e.prev_index < 0 || e.prev_index as u32 >= n {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "index-chain",
                        format!(
                            "entry {n} links to entry {} (links must point to an earlier \
                             entry); lookups may loop or read garbage",
                            e.prev_index
                        ),
                    )
                    .at(&path, at + 16)
                    .action("`rmqstore rebuild` regenerates the index"),
                );
            }
            if e.phy_offset < cx.cl_min as i64 {
                expired += 1;
                continue;
            }
            match cx.find_from(e.phy_offset as u64, hint) {
                None => {
                    bad_target_n += 1;
                    bad_target.get_or_insert((at, e.phy_offset));
                }
                Some(ri) => {
                    hint = ri;
                    let keys = cx.recs[ri].keys();
                    let mut matched = false;
                    for (h, present) in cx.key_hashes[keys.clone()]
                        .iter()
                        .zip(&mut key_present[keys])
                    {
                        if *h == e.key_hash {
                            matched = true;
                            *present = true;
                        }
                    }
                    if !matched {
                        cx.findings.push(
                            Finding::new(
                                Severity::Error,
                                "index-entry-hash",
                                format!(
                                    "entry {n}: key hash {} matches none of the keys of the \
                                     record at commitlog offset {}",
                                    e.key_hash, e.phy_offset
                                ),
                            )
                            .at(&path, at),
                        );
                    }
                }
            }
        }
        if let Some((at, off)) = bad_target {
            let sev = if off as u64 >= cx.data_end {
                Severity::Warning
            } else {
                Severity::Error
            };
            cx.findings.push(
                Finding::new(
                    sev,
                    "index-entry-target",
                    format!(
                        "{bad_target_n} entries point where no record starts (first: commitlog \
                         offset {off})"
                    ),
                )
                .at(&path, at),
            );
        }
        if expired > 0 {
            cx.findings.push(
                Finding::new(
                    Severity::Info,
                    "index-expired",
                    format!("{expired} entries point below the commitlog's first segment"),
                )
                .file(&path),
            );
        }
        // Chains: every slot's chain stays in its slot, terminates, and reaches each entry once.
        if chains_are_sound(bytes, slots, &links, count) {
            continue;
        }
        let mut visited = vec![false; count as usize];
        for slot in 0..slots {
            let sp = slot_pos(slot);
            let v = crate::format::get_i32(bytes, sp).unwrap_or(0);
            if v == 0 {
                continue;
            }
            if v < 0 || v >= count {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "index-slot",
                        format!("slot {slot} holds entry {v}, outside 1..{count}"),
                    )
                    .at(&path, sp as u64)
                    .action("`rmqstore rebuild` regenerates the index"),
                );
                continue;
            }
            let mut cur = v;
            let mut steps = 0;
            while cur > 0 && (cur as usize) < visited.len() && steps < count {
                steps += 1;
                let at = entry_pos(slots, cur as u32) as u64;
                if visited[cur as usize] {
                    cx.findings.push(
                        Finding::new(
                            Severity::Error,
                            "index-chain",
                            format!("slot {slot}: the chain reaches entry {cur} a second time"),
                        )
                        .at(&path, at + 16),
                    );
                    break;
                }
                visited[cur as usize] = true;
                let Some(e) = f.entry(cur as u32) else { break };
                if e.key_hash as u32 % slots != slot {
                    cx.findings.push(
                        Finding::new(
                            Severity::Error,
                            "index-chain",
                            format!(
                                "slot {slot}: chain reaches entry {cur}, whose hash belongs to \
                                 slot {}",
                                e.key_hash as u32 % slots
                            ),
                        )
                        .at(&path, at),
                    );
                }
                if e.prev_index >= cur {
                    break; // reported with the entry
                }
                cur = e.prev_index;
            }
        }
        let unreachable: Vec<usize> = (1..count as usize).filter(|&i| !visited[i]).collect();
        if let Some(&first) = unreachable.first() {
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "index-unreachable",
                    format!(
                        "{} entries are on no slot's chain (first: entry {first}); lookups \
                         miss their keys",
                        unreachable.len()
                    ),
                )
                .at(&path, entry_pos(slots, first as u32) as u64)
                .action("`rmqstore rebuild` regenerates the index"),
            );
        }
    }
    phase.finish();
    // Coverage: records inside the indexed range must have their keys.
    if let Some(begin) = first_begin {
        let mut missing: Option<(u64, usize)> = None;
        let mut missing_n = 0u64;
        let mut behind = 0u64;
        let mut behind_first = None;
        let mut commit_unindexed = 0u64;
        let mut commit_first = None;
        for (r, &offset) in cx.recs.iter().zip(&cx.offsets) {
            if r.key_len == 0 || (offset as i64) < begin {
                continue;
            }
            if offset as i64 > last_end {
                behind += 1;
                behind_first.get_or_insert(offset);
                continue;
            }
            let commit = sysflag::tran_type(r.sys_flag) == sysflag::TRANSACTION_COMMIT_TYPE;
            let absent = key_present[r.keys()].iter().filter(|&&p| !p).count() as u64;
            if absent > 0 && commit && absent == r.key_len as u64 {
                commit_unindexed += 1;
                commit_first.get_or_insert(offset);
            } else if absent > 0 {
                missing_n += absent;
                missing.get_or_insert((offset, r.seg as usize));
            }
        }
        summary.index_behind_records = behind;
        if let Some(off) = commit_first {
            let (p, pos) = cx.cl_loc(off).unwrap_or_default();
            cx.findings.push(
                Finding::new(
                    Severity::Info,
                    "index-commit-not-indexed",
                    format!(
                        "{commit_unindexed} transaction COMMIT records have no index entries \
                         (first: commitlog offset {off}): 3.x brokers did not index COMMIT \
                         records (4.x does); lookups by their keys find the PREPARED record"
                    ),
                )
                .at(p, pos),
            );
        }
        if let Some((off, _)) = missing {
            let (p, pos) = cx.cl_loc(off).unwrap_or_default();
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "index-missing",
                    format!(
                        "{missing_n} keys of records inside the indexed range are not in the \
                         index (first: record at commitlog offset {off}); lookups by key miss \
                         them"
                    ),
                )
                .at(p, pos)
                .action("`rmqstore rebuild` regenerates the index"),
            );
        }
        if let Some(first) = behind_first {
            let (p, pos) = cx.cl_loc(first).unwrap_or_default();
            cx.findings.push(
                Finding::new(
                    Severity::Warning,
                    "index-behind",
                    format!(
                        "the index ends at commitlog offset {last_end}; {behind} records with \
                         keys after it are not indexed yet (the broker indexes them at start)"
                    ),
                )
                .at(p, pos),
            );
        }
    }
    Ok(())
}

/// Whether the full chain walk of [`verify_index`] would find nothing wrong and reach every
/// entry, decided without following the chains (which jumps all over the file):
///
/// - every slot holds 0 or an entry in `1..count`, and every entry decodes (`links` has all
///   `count`) and links to an earlier entry or to 0;
/// - every entry is named exactly once, by a slot or by a later entry's link. Links only go
///   down, so from any entry the namers lead up to exactly one slot: the chains are disjoint,
///   finite and together reach every entry once;
/// - every entry's hash belongs to the slot of its chain. The slot is handed down the chain
///   from the highest entry to the lowest, which is the order entries are visited here.
///
/// When any of this fails the caller walks the chains one by one to say what is wrong.
fn chains_are_sound(bytes: &[u8], slots: u32, links: &[(i32, i32)], count: i32) -> bool {
    const NONE: u32 = u32::MAX;
    let count = count.max(1) as usize;
    if links.len() != count || slots == 0 {
        return false;
    }
    // The slot whose chain reaches each entry.
    let mut chain_slot = vec![NONE; count];
    for slot in 0..slots {
        let v = crate::format::get_i32(bytes, slot_pos(slot)).unwrap_or(0);
        if v == 0 {
            continue;
        }
        if v < 0 || v as usize >= count || chain_slot[v as usize] != NONE {
            return false;
        }
        chain_slot[v as usize] = slot;
    }
    for n in (1..count).rev() {
        let (hash, prev) = links[n];
        let slot = chain_slot[n];
        if slot == NONE || hash as u32 % slots != slot || prev < 0 || prev as usize >= n {
            return false;
        }
        if prev > 0 {
            if chain_slot[prev as usize] != NONE {
                return false;
            }
            chain_slot[prev as usize] = slot;
        }
    }
    true
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
