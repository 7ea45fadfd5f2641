//! Offline inspection of the 5.x structures of a store: what `stat` shows and what `verify`
//! checks for them. Reads only; the caller opens the store read-only and passes it in for
//! commitlog lookups.
//!
//! Checks (each problem names the file and, where there is one, the byte offset):
//! * batch consume queue: every unit points at a record of its topic and queue, of its size,
//!   with its store time and base queue offset (an inner batch also with `INNER_NUM` = batch
//!   size and `INNER_BASE` = base); base offsets are contiguous;
//! * LMQ (`consumequeue/%LMQ%*/0`): every unit's record lists that queue with that queue offset
//!   in `INNER_MULTI_DISPATCH` / `INNER_MULTI_QUEUE_OFFSET`;
//! * timers: every used wheel slot's chain reaches its first unit through units of the timer
//!   log, and each unit points at a `rmq_sys_wheel_timer` record of its size;
//! * `epochFileCheckpoint`: entry count, CRC and order as Java's loader checks them.

#[cfg(any(feature = "cli", feature = "internals"))]
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{batch_cq, compaction, epoch, identity, lmq, timer};
use crate::error::Result;
use crate::format::properties;
use crate::format::record::{decode_record, Decoded, MessageRecord};
use crate::MessageStore;

/// One thing wrong with a 5.x structure.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct V5Problem {
    /// `v5-batch-cq`, `v5-lmq`, `v5-timer`, `v5-epoch`, `v5-broker-identity`, `v5-compaction`.
    pub kind: &'static str,
    /// The file it is in.
    pub file: PathBuf,
    /// The byte offset in that file, when known.
    pub offset: Option<u64>,
    /// What is wrong.
    pub what: String,
}

/// A batch queue in brief.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchQueueSummary {
    /// The topic.
    pub topic: String,
    /// The queue id.
    pub queue_id: i32,
    /// Units (one per batch or message).
    pub units: usize,
    /// The first queue offset.
    pub min_offset: Option<i64>,
    /// One past the last queue offset.
    pub max_offset: Option<i64>,
    /// Messages the units cover (inner batches counted per message).
    pub messages: i64,
}

/// The timer store in brief.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerSummary {
    /// Units in `timerlog/`.
    pub log_units: usize,
    /// Wheel slots in use.
    pub used_slots: usize,
    /// Units reachable from the wheel (timers waiting to be delivered or rolled).
    pub pending: usize,
    /// Units that were rolled to a later round.
    pub rolled: usize,
    /// The earliest delivery time of a pending timer (epoch ms).
    pub earliest_due_ms: Option<i64>,
    /// The latest delivery time of a pending timer (epoch ms).
    pub latest_due_ms: Option<i64>,
    /// Pending timers per real topic, from `config/timermetrics`.
    pub metrics: Vec<(String, i64)>,
    /// Pending timers per real topic, from the records the wheel's units point at.
    pub pending_by_topic: Vec<(String, usize)>,
    /// `config/timercheck`, when present.
    pub checkpoint: Option<timer::TimerCheckpoint>,
}

/// Everything 5.x-specific found in a store.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct V5Report {
    /// The 5.x-only structures found (`present`).
    pub present: Vec<String>,
    /// Every batch consume queue.
    pub batch_queues: Vec<BatchQueueSummary>,
    /// `(queue, units)` of every light message queue.
    pub lmq_queues: Vec<(String, u64)>,
    /// The timer store, when present.
    pub timer: Option<TimerSummary>,
    /// `epochFileCheckpoint`: `(epoch, start offset, end offset)` entries, when present.
    pub epochs: Option<Vec<(i32, i64, i64)>>,
    /// Controller-mode `brokerIdentity` and `brokerIdentity-temp`, each when present and
    /// readable (a malformed one is a problem instead).
    pub broker_identity: Vec<identity::BrokerIdentity>,
    /// `compaction/` (5.x compaction topics), if present.
    pub compaction: Option<compaction::CompactionReport>,
    /// Every problem found.
    pub problems: Vec<V5Problem>,
    /// The RocksDB consume queue (`storeType=defaultRocksDB`), when `verify` read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rocksdb: Option<super::rocksdb_cq::RocksCheck>,
}

impl V5Report {
    /// Does the store hold any 5.x-only structure?
    pub fn is_empty(&self) -> bool {
        self.present.is_empty()
            && self.batch_queues.is_empty()
            && self.lmq_queues.is_empty()
            && self.timer.is_none()
            && self.epochs.is_none()
            && self.broker_identity.is_empty()
            && self.problems.is_empty()
    }
}

const K_BCQ: &str = "v5-batch-cq";
const K_LMQ: &str = "v5-lmq";
const K_TIMER: &str = "v5-timer";
const K_EPOCH: &str = "v5-epoch";
const K_IDENTITY: &str = "v5-broker-identity";
const K_COMPACTION: &str = "v5-compaction";

fn problem(
    kind: &'static str,
    file: &Path,
    offset: Option<u64>,
    what: impl Into<String>,
) -> V5Problem {
    V5Problem {
        kind,
        file: file.to_path_buf(),
        offset,
        what: what.into(),
    }
}

fn with_record<T>(
    store: &MessageStore,
    offset: i64,
    f: impl FnOnce(&MessageRecord<'_>, u32) -> T,
) -> std::result::Result<T, String> {
    let rec = u64::try_from(offset)
        .ok()
        .and_then(|o| store.get_by_phy_offset(o))
        .ok_or_else(|| format!("no record at commitlog offset {offset}"))?;
    match decode_record(rec.bytes(), false) {
        Ok(Decoded::Message { record, total_size }) => Ok(f(&record, total_size)),
        Ok(_) => Err(format!("commitlog offset {offset} is not a message")),
        Err(e) => Err(format!("record at commitlog offset {offset}: {e}")),
    }
}

fn prop(r: &MessageRecord<'_>, name: &str) -> Option<String> {
    properties::get(r.properties, name).map(|c| c.into_owned())
}

/// Inspects the 5.x structures under `root`. Errors only when a structure cannot be read at
/// all (they are reported as problems where the rest can still be checked).
pub fn inspect(root: &Path, store: &MessageStore) -> Result<V5Report> {
    let mut rep = V5Report {
        present: present(root).into_iter().map(String::from).collect(),
        ..V5Report::default()
    };
    match batch_cq::read_all_queues(root) {
        Ok(queues) => {
            for q in &queues {
                check_batch_queue(store, q, &mut rep.problems);
                rep.batch_queues.push(BatchQueueSummary {
                    topic: q.topic.clone(),
                    queue_id: q.queue_id,
                    units: q.units.len(),
                    min_offset: q.min_offset(),
                    max_offset: q.max_offset(),
                    messages: q.message_count(),
                });
            }
        }
        Err(e) => rep
            .problems
            .push(problem(K_BCQ, &batch_cq::dir(root), None, e.to_string())),
    }
    match compaction::read(root) {
        Ok(c) => {
            if let Some(c) = &c {
                for (file, offset, what) in &c.problems {
                    rep.problems
                        .push(problem(K_COMPACTION, file, *offset, what.clone()));
                }
            }
            rep.compaction = c;
        }
        Err(e) => rep.problems.push(problem(
            K_COMPACTION,
            &root.join(compaction::DIR),
            None,
            e.to_string(),
        )),
    }
    check_lmq(root, store, &mut rep);
    check_timer(root, store, &mut rep);
    for (temp, name) in [(false, identity::FILE_NAME), (true, identity::TEMP_FILE_NAME)] {
        let r = if temp {
            identity::read_temp(root)
        } else {
            identity::read(root)
        };
        match r {
            Ok(Some(id)) => rep.broker_identity.push(id),
            Ok(None) => {}
            Err(e) => rep
                .problems
                .push(problem(K_IDENTITY, &root.join(name), None, e.to_string())),
        }
    }
    match epoch::read(root) {
        Ok(Some(entries)) => {
            rep.epochs = Some(
                entries
                    .iter()
                    .map(|e| (e.epoch, e.start_offset, e.end_offset))
                    .collect(),
            )
        }
        Ok(None) => {}
        Err(e) => rep.problems.push(problem(
            K_EPOCH,
            &root.join(epoch::FILE_NAME),
            None,
            e.to_string(),
        )),
    }
    Ok(rep)
}

fn check_batch_queue(store: &MessageStore, q: &batch_cq::BatchQueue, out: &mut Vec<V5Problem>) {
    let mut expect_base: Option<i64> = None;
    // Units whose record cleanup deleted stay in their file until the whole file expires
    // (`deleteExpiredFile`), as in a plain consume queue: only their order is checked.
    let min_phy = store.min_phy_offset() as i64;
    for pu in &q.units {
        let u = &pu.unit;
        let at = |what: String| problem(K_BCQ, &pu.file, Some(pu.pos), what);
        if let Some(b) = expect_base {
            if u.msg_base_offset != b {
                out.push(at(format!(
                    "unit's base offset {} does not follow the previous unit (expected {b})",
                    u.msg_base_offset
                )));
            }
        }
        expect_base = Some(u.next_offset());
        if u.commitlog_offset < min_phy {
            continue;
        }
        let r = with_record(store, u.commitlog_offset, |r, total| {
            let mut bad = Vec::new();
            if total as i64 != i64::from(u.size) {
                bad.push(format!("size {} but the record is {total} bytes", u.size));
            }
            if r.topic != q.topic.as_bytes() || r.queue_id != q.queue_id {
                bad.push(format!(
                    "record is of {}:{}",
                    String::from_utf8_lossy(r.topic),
                    r.queue_id
                ));
            }
            if r.queue_offset != u.msg_base_offset {
                bad.push(format!(
                    "base offset {} but the record's queue offset is {}",
                    u.msg_base_offset, r.queue_offset
                ));
            }
            if r.store_timestamp != u.store_time {
                bad.push(format!(
                    "store time {} but the record's is {}",
                    u.store_time, r.store_timestamp
                ));
            }
            if r.sys_flag & crate::format::record::sysflag::INNER_BATCH != 0 {
                if prop(r, "INNER_NUM") != Some(u.batch_size.to_string()) {
                    bad.push(format!(
                        "batch size {} but the record's INNER_NUM is {:?}",
                        u.batch_size,
                        prop(r, "INNER_NUM")
                    ));
                }
                if prop(r, "INNER_BASE") != Some(u.msg_base_offset.to_string()) {
                    bad.push(format!(
                        "base offset {} but the record's INNER_BASE is {:?}",
                        u.msg_base_offset,
                        prop(r, "INNER_BASE")
                    ));
                }
            } else if u.batch_size != 1 {
                bad.push(format!(
                    "batch size {} for a record that is not an inner batch",
                    u.batch_size
                ));
            }
            bad
        });
        match r {
            Ok(bad) => out.extend(bad.into_iter().map(at)),
            Err(e) => out.push(at(e)),
        }
    }
}

fn check_lmq(root: &Path, store: &MessageStore, rep: &mut V5Report) {
    let base = root.join("consumequeue");
    let Ok(dirs) = std::fs::read_dir(&base) else {
        return;
    };
    let mut names: Vec<String> = dirs
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| lmq::is_lmq(n))
        .collect();
    names.sort();
    let cq_file_size = store.config().mapped_file_size_consume_queue() as u64;
    for name in names {
        let qdir = base.join(&name).join(lmq::LMQ_QUEUE_ID.to_string());
        let (min, max) = (
            store.min_offset_in_queue(&name, lmq::LMQ_QUEUE_ID),
            store.max_offset_in_queue(&name, lmq::LMQ_QUEUE_ID),
        );
        rep.lmq_queues.push((name.clone(), max - min));
        let mut off = min;
        while off < max {
            let got = store.get_messages(&name, lmq::LMQ_QUEUE_ID, off, 256);
            if got.messages.is_empty() {
                let (f, at) = lmq_unit_at(&qdir, cq_file_size, off);
                rep.problems.push(problem(
                    K_LMQ,
                    &f,
                    Some(at),
                    format!("queue offset {off}: unit points at no record"),
                ));
                break;
            }
            for rec in &got.messages {
                let bad = match decode_record(rec.bytes(), false) {
                    Ok(Decoded::Message { record, .. }) => match lmq::targets(record.properties) {
                        Some(Ok(t)) if t.contains(&(name.clone(), Some(off as i64))) => None,
                        Some(Ok(t)) => Some(format!(
                            "queue offset {off}: the record at {} is dispatched to {t:?}, not here",
                            rec.offset()
                        )),
                        Some(Err(e)) => Some(format!("queue offset {off}: {e}")),
                        None => Some(format!(
                            "queue offset {off}: the record at {} has no multi-dispatch properties",
                            rec.offset()
                        )),
                    },
                    _ => Some(format!(
                        "queue offset {off}: no message at {}",
                        rec.offset()
                    )),
                };
                if let Some(what) = bad {
                    let (f, at) = lmq_unit_at(&qdir, cq_file_size, off);
                    rep.problems.push(problem(K_LMQ, &f, Some(at), what));
                }
                off += 1;
            }
        }
    }
}

/// The consume-queue file of an LMQ holding queue offset `off`, and the unit's byte offset in it.
fn lmq_unit_at(qdir: &Path, file_size: u64, off: u64) -> (PathBuf, u64) {
    let unit = 20;
    let pos = off * unit;
    let file_size = file_size.max(unit);
    let start = pos / file_size * file_size;
    (qdir.join(format!("{start:020}")), pos - start)
}

/// A problem with the timer-log unit at global position `pos`, named by its segment and offset.
fn timer_log_problem(root: &Path, log: &timer::TimerLog, pos: i64, what: String) -> V5Problem {
    let seg = log
        .files
        .iter()
        .rev()
        .find(|(start, _)| *start as i64 <= pos);
    match seg {
        Some((start, path)) => problem(K_TIMER, path, Some((pos - *start as i64) as u64), what),
        None => problem(K_TIMER, &root.join("timerlog"), None, what),
    }
}

fn check_timer(root: &Path, store: &MessageStore, rep: &mut V5Report) {
    let log = match timer::read_log(root) {
        Ok(l) => l,
        Err(e) => {
            rep.problems.push(problem(
                K_TIMER,
                &root.join("timerlog"),
                None,
                e.to_string(),
            ));
            None
        }
    };
    let wheel = match timer::read_wheel(root) {
        Ok(w) => w,
        Err(e) => {
            rep.problems.push(problem(
                K_TIMER,
                &root.join("timerwheel"),
                None,
                e.to_string(),
            ));
            None
        }
    };
    let checkpoint = timer::read_checkpoint(root).unwrap_or_else(|e| {
        rep.problems.push(problem(
            K_TIMER,
            &root.join("config/timercheck"),
            Some(0),
            e.to_string(),
        ));
        None
    });
    let metrics = timer::read_metrics(root).unwrap_or_else(|e| {
        rep.problems.push(problem(
            K_TIMER,
            &root.join("config/timermetrics"),
            None,
            e.to_string(),
        ));
        None
    });
    if log.is_none() && wheel.is_none() && checkpoint.is_none() {
        return;
    }
    let empty = timer::TimerLog::default();
    let log_ref = log.as_ref().unwrap_or(&empty);
    let slots = wheel.unwrap_or_default();
    let mut sum = TimerSummary {
        log_units: log_ref.units.len(),
        used_slots: slots.len(),
        pending: 0,
        rolled: 0,
        earliest_due_ms: None,
        latest_due_ms: None,
        metrics: metrics
            .map(|m| {
                m.timing_count
                    .into_iter()
                    .map(|(t, c)| (t, c.count))
                    .collect()
            })
            .unwrap_or_default(),
        checkpoint,
        pending_by_topic: Vec::new(),
    };
    let mut by_topic: std::collections::BTreeMap<String, usize> = Default::default();
    let wheel_path = root.join("timerwheel");
    for s in &slots {
        let slot_at = Some(s.index * timer::SLOT_SIZE as u64);
        let chain = match timer::slot_chain(log_ref, s) {
            Ok(c) => c,
            Err(e) => {
                rep.problems.push(problem(K_TIMER, &wheel_path, slot_at, e));
                continue;
            }
        };
        let deletes = chain.iter().filter(|(_, u)| u.is_delete()).count();
        if deletes == 0 && chain.len() as i64 != i64::from(s.num) {
            rep.problems.push(problem(
                K_TIMER,
                &wheel_path,
                slot_at,
                format!(
                    "slot {} counts {} timers but its chain has {}",
                    s.index,
                    s.num,
                    chain.len()
                ),
            ));
        }
        for (pos, u) in &chain {
            sum.pending += 1;
            if u.is_roll() {
                sum.rolled += 1;
            }
            let due = u.deliver_time_ms();
            sum.earliest_due_ms = Some(sum.earliest_due_ms.map_or(due, |d| d.min(due)));
            sum.latest_due_ms = Some(sum.latest_due_ms.map_or(due, |d| d.max(due)));
            let r = with_record(store, u.offset_py, |r, total| {
                if r.topic != timer::TIMER_TOPIC.as_bytes() {
                    Some(format!(
                        "timer-log unit at {pos} points at a record of {}, not {}",
                        String::from_utf8_lossy(r.topic),
                        timer::TIMER_TOPIC
                    ))
                } else if total as i64 != i64::from(u.size_py) {
                    Some(format!(
                        "timer-log unit at {pos} says {} bytes, the record is {total}",
                        u.size_py
                    ))
                } else {
                    if let Some(t) = prop(r, "REAL_TOPIC").filter(|_| !u.is_delete()) {
                        *by_topic.entry(t).or_default() += 1;
                    }
                    match prop(r, "REAL_TOPIC") {
                        Some(t) if timer::java_string_hash(&t) != u.hash_code_of_real_topic => {
                            Some(format!(
                                "timer-log unit at {pos} carries topic hash {} but the record's \
                                 REAL_TOPIC {t} hashes to {}",
                                u.hash_code_of_real_topic,
                                timer::java_string_hash(&t)
                            ))
                        }
                        Some(_) => None,
                        None if u.is_delete() => None,
                        None => Some(format!(
                            "timer-log unit at {pos} points at commitlog offset {}, a record \
                             without REAL_TOPIC",
                            u.offset_py
                        )),
                    }
                }
            });
            let bad = match r {
                Ok(b) => b,
                Err(e) => Some(format!("timer-log unit at {pos}: {e}")),
            };
            if let Some(what) = bad {
                rep.problems
                    .push(timer_log_problem(root, log_ref, *pos, what));
            }
        }
    }
    sum.pending_by_topic = by_topic.into_iter().collect();
    rep.timer = Some(sum);
}

/// The 5.x-only structures present under `root`, from directory entries alone (nothing is
/// read): `batchconsumequeue`, `lmq`, `timerlog`, `timerwheel`, `timercheck`, `timermetrics`,
/// `epochFileCheckpoint`, `brokerIdentity`, `brokerIdentity-temp`, `compaction`, `rocksdb-consumequeue` (RocksDB files in
/// `consumequeue/`, 5.x `storeType=defaultRocksDB`).
pub fn present(root: &Path) -> Vec<&'static str> {
    let mut out = Vec::new();
    let has = |p: &str| root.join(p).exists();
    if has("batchconsumequeue") {
        out.push("batchconsumequeue");
    }
    let cq = root.join("consumequeue");
    let cq_names: Vec<String> = std::fs::read_dir(&cq)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if cq_names.iter().any(|n| lmq::is_lmq(n)) {
        out.push("lmq");
    }
    for (p, name) in [
        ("timerlog", "timerlog"),
        ("timerwheel", "timerwheel"),
        ("config/timercheck", "timercheck"),
        ("config/timermetrics", "timermetrics"),
        (epoch::FILE_NAME, "epochFileCheckpoint"),
        (identity::FILE_NAME, "brokerIdentity"),
        (identity::TEMP_FILE_NAME, "brokerIdentity-temp"),
        ("compaction", "compaction"),
    ] {
        if has(p) {
            out.push(name);
        }
    }
    if cq_names.iter().any(|n| is_rocksdb_file(n)) {
        out.push("rocksdb-consumequeue");
    }
    out
}

/// A file name RocksDB keeps in its folder (`CURRENT`, `MANIFEST-*`, `*.sst`, ...): 5.x's
/// RocksDB consume queue lives in `consumequeue/` itself.
pub fn is_rocksdb_file(name: &str) -> bool {
    name == "CURRENT"
        || name == "IDENTITY"
        || name == "LOCK"
        || name.starts_with("MANIFEST-")
        || name.starts_with("OPTIONS-")
        || name.ends_with(".sst")
        || (name.ends_with(".log")
            && name
                .trim_end_matches(".log")
                .bytes()
                .all(|b| b.is_ascii_digit()))
}

/// `verify`'s 5.x part: when `root` holds any 5.x-only structure, opens the store read-only
/// (nothing is created, changed or locked) and checks them all against its commitlog; every
/// problem becomes an error finding naming the file and, where there is one, the byte offset.
/// `None` for a store without 5.x structures.
pub fn verify_into(
    root: &Path,
    config: &crate::StoreConfig,
    findings: &mut crate::inspect::report::Findings,
) -> Option<V5Report> {
    use crate::inspect::report::{Finding, Severity};
    let present = present(root);
    if present.is_empty() {
        return None;
    }
    let store = match MessageStore::open_inspect(config.clone()) {
        Ok(s) => s,
        Err(e) => {
            findings.push(
                Finding::new(
                    Severity::Error,
                    "v5-unreadable",
                    format!("the 5.x structures cannot be checked: the store does not open: {e}"),
                )
                .file(root),
            );
            return None;
        }
    };
    let rep = match inspect(root, &store) {
        Ok(r) => r,
        Err(e) => {
            findings.push(Finding::new(Severity::Error, "v5-unreadable", e.to_string()).file(root));
            return None;
        }
    };
    let mut rep = rep;
    if present.contains(&"rocksdb-consumequeue") {
        rep.rocksdb = verify_rocksdb(root, config, &store, findings);
    }
    for p in &rep.problems {
        let f = Finding::new(Severity::Error, p.kind, p.what.clone());
        let f = match p.offset {
            Some(o) => f.at(&p.file, o),
            None => f.file(&p.file),
        };
        findings.push(f.action(match p.kind {
            K_TIMER => {
                "let a 5.x broker recover the timer store, or move the timer files away \
                        (pending timers are then lost)"
            }
            K_EPOCH => {
                "restore epochFileCheckpoint from epochFileCheckpoint.bak, or let the \
                        controller rewrite it"
            }
            K_IDENTITY => {
                "rewrite it as clusterName#brokerName#brokerId (no line end; -temp adds \
                        #registerCheckCode), or remove it: the broker then applies to the \
                        controller for an id again"
            }
            K_COMPACTION => {
                "move the queue's compactionLog/ and compactionCq/ folders away: a 5.x master \
                        refills them from new messages only, a slave pulls them from its master"
            }
            _ => {
                "a 5.x broker rebuilds its queues from the commitlog when the queue folder is \
                  removed"
            }
        }));
    }
    Some(rep)
}

/// The report without its problems (nothing when the store has no 5.x structure).
#[cfg(any(feature = "cli", feature = "internals"))]
pub fn render_summary(rep: &V5Report) -> String {
    let mut s = String::new();
    if rep.is_empty() {
        return s;
    }
    let _ = writeln!(s, "5.x structures: {}", rep.present.join(", "));
    for q in &rep.batch_queues {
        let _ = writeln!(
            s,
            "  batch queue {}:{}  units {}  messages {}  offsets {}..{}",
            q.topic,
            q.queue_id,
            q.units,
            q.messages,
            q.min_offset.unwrap_or(0),
            q.max_offset.unwrap_or(0)
        );
    }
    for (name, n) in &rep.lmq_queues {
        let _ = writeln!(s, "  light message queue {name}  units {n}");
    }
    if let Some(r) = &rep.rocksdb {
        let _ = writeln!(
            s,
            "  RocksDB consume queue: {} units in {} queues, checked against {} commitlog messages, {} problems",
            r.units,
            r.queues,
            r.records_checked,
            r.problems.len()
        );
    }
    if let Some(t) = &rep.timer {
        let _ = writeln!(
            s,
            "  timers: {} pending ({} rolled) in {} wheel slots, {} timer-log units, due {}..{} (ms)",
            t.pending,
            t.rolled,
            t.used_slots,
            t.log_units,
            t.earliest_due_ms.unwrap_or(0),
            t.latest_due_ms.unwrap_or(0)
        );
        for (topic, n) in &t.metrics {
            let _ = writeln!(s, "    timermetrics {topic}: {n}");
        }
    }
    if let Some(c) = &rep.compaction {
        let _ = writeln!(
            s,
            "  compaction: {} queues, {} positions in position-checkpoint",
            c.queues.len(),
            c.positions.len()
        );
        for q in &c.queues {
            let _ = writeln!(
                s,
                "    compaction queue {}:{}  records {}  units {}  offsets {}..{}{}{}",
                q.topic,
                q.queue_id,
                q.records,
                q.units,
                q.min_offset.unwrap_or(0),
                q.max_offset.unwrap_or(0),
                q.compacted_to
                    .map(|c| format!("  compacted to {c}"))
                    .unwrap_or_default(),
                if q.in_progress.is_empty() {
                    String::new()
                } else {
                    format!("  in progress: {}", q.in_progress.join(", "))
                }
            );
        }
    }
    for id in &rep.broker_identity {
        let _ = writeln!(
            s,
            "  {}: cluster {}  broker {}  id {}{}",
            id.file,
            id.cluster_name,
            id.broker_name,
            id.broker_id,
            id.register_check_code
                .as_ref()
                .map(|c| format!("  register check code {c} (id application pending)"))
                .unwrap_or_default()
        );
    }
    if let Some(e) = &rep.epochs {
        for (epoch, start, end) in e {
            let end = if *end == i64::MAX {
                "open".to_string()
            } else {
                end.to_string()
            };
            let _ = writeln!(s, "  epoch {epoch}: commitlog {start}..{end}");
        }
    }
    s
}

/// [`render_text`] with the problems too (as `stat` prints it; `verify` lists them as findings).
#[cfg(any(feature = "cli", feature = "internals"))]
pub fn render_text(rep: &V5Report) -> String {
    let mut s = render_summary(rep);
    for p in &rep.problems {
        match p.offset {
            Some(o) => {
                let _ = writeln!(s, "  PROBLEM {} at byte {o}: {}", p.file.display(), p.what);
            }
            None => {
                let _ = writeln!(s, "  PROBLEM {}: {}", p.file.display(), p.what);
            }
        }
    }
    s
}

/// The topic folders of `root/batchconsumequeue/` (empty when there is none or it cannot be
/// listed: the 5.x part of `verify` reports that).
pub fn batch_topic_names(root: &Path) -> Vec<String> {
    std::fs::read_dir(batch_cq::dir(root))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(any(feature = "cli", feature = "internals"))]
/// One batch-consume-queue unit with what the commitlog holds where it points (`cq` on a
/// batch topic).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchUnitView {
    /// The unit's first message offset (`msgBaseOffset`).
    pub queue_offset: u64,
    pub batch_size: i16,
    pub commit_log_offset: i64,
    pub size: i32,
    pub tags_code: i64,
    pub check: crate::inspect::queues::UnitCheck,
    /// Store time of the matching record.
    pub store_timestamp: Option<i64>,
    /// The store time the unit itself carries.
    pub unit_store_time: i64,
    pub compacted_offset: i32,
    pub file: PathBuf,
    pub pos: u64,
}

#[cfg(any(feature = "cli", feature = "internals"))]
/// A range of one batch consume queue (`batchconsumequeue/<topic>/<queueId>`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchCqDump {
    pub topic: String,
    pub queue_id: i32,
    /// Always true: tells this dump from a plain consume queue's.
    pub batch: bool,
    pub first_unit: u64,
    pub min_offset: u64,
    pub max_offset: u64,
    pub messages: i64,
    pub units: Vec<BatchUnitView>,
}

#[cfg(any(feature = "cli", feature = "internals"))]
/// The units of batch queue `topic`/`queue_id` holding messages from `from` on (the unit
/// holding `from` first), at most `limit`; `None` when the store has no such batch queue.
pub fn dump_batch_queue(
    root: &Path,
    store: &MessageStore,
    topic: &str,
    queue_id: i32,
    from: Option<u64>,
    limit: usize,
) -> Result<Option<BatchCqDump>> {
    use crate::inspect::queues::UnitCheck;
    let dir = batch_cq::dir(root).join(topic).join(queue_id.to_string());
    if !dir.is_dir() {
        return Ok(None);
    }
    let q = batch_cq::read_queue(&dir, topic, queue_id)?;
    let min = q.min_offset().unwrap_or(0).max(0) as u64;
    let max = q.max_offset().unwrap_or(0).max(0) as u64;
    let from = from.unwrap_or(min);
    let min_phy = store.min_phy_offset() as i64;
    let units = q
        .units
        .iter()
        .filter(|pu| pu.unit.next_offset() as u64 > from)
        .take(limit)
        .map(|pu| {
            let u = &pu.unit;
            let (check, ts) = if u.commitlog_offset < min_phy {
                (UnitCheck::Deleted, None)
            } else {
                match with_record(store, u.commitlog_offset, |r, total| {
                    let same = r.topic == topic.as_bytes()
                        && r.queue_id == queue_id
                        && r.queue_offset == u.msg_base_offset
                        && i64::from(total) == i64::from(u.size);
                    (same, r.store_timestamp)
                }) {
                    Ok((true, ts)) => (UnitCheck::Match, Some(ts)),
                    Ok((false, _)) => (UnitCheck::OtherRecord, None),
                    Err(_) => (UnitCheck::NoRecord, None),
                }
            };
            BatchUnitView {
                queue_offset: u.msg_base_offset.max(0) as u64,
                batch_size: u.batch_size,
                commit_log_offset: u.commitlog_offset,
                size: u.size,
                tags_code: u.tags_code,
                check,
                store_timestamp: ts,
                unit_store_time: u.store_time,
                compacted_offset: u.compacted_offset,
                file: pu.file.clone(),
                pos: pu.pos,
            }
        })
        .collect();
    Ok(Some(BatchCqDump {
        topic: topic.to_string(),
        queue_id,
        batch: true,
        first_unit: min,
        min_offset: min,
        max_offset: max,
        messages: q.message_count(),
        units,
    }))
}

/// `verify`'s RocksDB-consume-queue part: reads `consumequeue/` read-only and checks it against
/// the commitlog (`rocksdb_cq::check`); every problem is an error finding `v5-rocksdb-cq` naming
/// the entry, records past the dispatch checkpoint a warning. When the database cannot be read
/// (built without the `rocksdb` feature, no library, a RocksDB error) that is an error finding
/// saying why: verify did not see these queues, so it does not exit 0. The file-queue checks'
/// findings about RocksDB's own files (`stray-file`) and about file queues that do not exist
/// (`dispatch-behind`) are dropped: the queues are in the database.
fn verify_rocksdb(
    root: &Path,
    config: &crate::StoreConfig,
    store: &MessageStore,
    findings: &mut crate::inspect::report::Findings,
) -> Option<super::rocksdb_cq::RocksCheck> {
    use super::rocksdb_cq;
    use crate::inspect::report::{Finding, Severity};
    let dir = root.join("consumequeue");
    findings.0.retain(|f| {
        let in_cq = f.file.as_ref().is_some_and(|p| {
            p.parent() == Some(dir.as_path())
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_rocksdb_file)
        });
        !(f.kind == "stray-file" && in_cq) && f.kind != "dispatch-behind"
    });
    let cq = match rocksdb_cq::read(root) {
        Ok(cq) => cq,
        Err(e) => {
            findings.push(
                Finding::new(
                    Severity::Error,
                    "v5-rocksdb-cq-not-read",
                    format!("the RocksDB consume queue was not read, so its queues are not checked: {e}"),
                )
                .file(&dir)
                .action("run with a RocksDB library: RMQSTORE_ROCKSDB_LIB=$ROCKETMQ_HOME/lib (rmqstore built with --features rocksdb)"),
            );
            return None;
        }
    };
    let delay = match config.delay_levels() {
        Ok(d) => d,
        Err(e) => {
            findings.push(Finding::new(Severity::Error, "v5-rocksdb-cq", e).file(&dir));
            return None;
        }
    };
    let recs = match rocksdb_cq::dispatched(store, &delay) {
        Ok(r) => r,
        Err(e) => {
            findings.push(
                Finding::new(
                    Severity::Error,
                    "v5-rocksdb-cq",
                    format!("the commitlog could not be walked to check the RocksDB consume queue: {e}"),
                )
                .file(root.join("commitlog")),
            );
            return None;
        }
    };
    // Copies in light message queues are expected when the broker runs with enableLmq (its
    // broker.properties) or the database holds any (a broker with enableLmq wrote it).
    let expect_lmq =
        config.enable_lmq || cq.units.iter().any(|u| crate::v5::lmq::is_lmq(&u.topic));
    let check = rocksdb_cq::check_lmq(&cq, &recs, store.max_phy_offset() as i64, expect_lmq);
    for p in &check.problems {
        let (sev, action) = if p.behind {
            (Severity::Warning, "nothing: a 5.x broker dispatches them at start")
        } else {
            (
                Severity::Error,
                "stop the broker and `rmqstore rebuild` the RocksDB consume queue from the commitlog",
            )
        };
        findings.push(
            Finding::new(sev, "v5-rocksdb-cq", format!("{}: {}", p.key, p.what))
                .file(&dir)
                .action(action),
        );
    }
    Some(check)
}
