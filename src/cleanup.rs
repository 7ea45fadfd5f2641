//! Retention: deleting old commitlog segments, consume-queue files and index files exactly as
//! RocketMQ 4.6.0's `DefaultMessageStore.CleanCommitLogService` and `CleanConsumeQueueService`
//! do, and a dry run that says in advance what a cleanup would delete and which consumer
//! groups would lose unconsumed messages.
//!
//! # The rules (4.6.0)
//!
//! A commitlog cleanup run deletes when any trigger holds:
//! * **time**: the local hour (`TZ`, as the JVM's default zone) is one of `deleteWhen`'s
//!   `;`-separated hours (a malformed entry is refused as a config error: Java's run would throw
//!   every time and never delete anything);
//! * **space**: the commitlog's or the consume queues' partition is used above
//!   `diskMaxUsedSpaceRatio` (clamped to 10..=95), or its usage cannot be read;
//! * **manual**: [`MessageStore::execute_delete_files_manually`] arms the next 20 runs.
//!
//! Above 85 % used a run cleans *immediately*: with `cleanFileForciblyEnable` the oldest
//! segments go regardless of age. Above 90 % the store is DISK_FULL and refuses puts with
//! [`PutMessageStatus::ServiceNotAvailable`] until usage is back at or below 85 %.
//!
//! A run walks the segments oldest first, never the last (active) one, deletes a segment whose
//! file mtime is at least `fileReservedTime` hours old (or any when cleaning immediately),
//! stops at the first one that does not qualify, deletes at most 10, and pauses
//! `deleteCommitLogFilesInterval` between deletions. A segment still referenced by a reader
//! (a [`StoredRecord`](crate::StoredRecord) holds its segment) is not deleted under it: the run
//! stops, and the file is deleted when the readers are gone or, regardless, once
//! `destroyMapedFileIntervalForcibly` has passed (the mapping stays valid for the holders).
//! Every `redeleteHangedFileInterval` a first segment whose deletion started but did not
//! finish is tried again.
//!
//! When the commitlog minimum grew, each consume queue deletes its files (oldest first, never
//! the last) whose last unit points below the new minimum, then corrects its minimum offset;
//! then index files whose end offset is below the minimum go (never the last).
//!
//! Time comes from the store's [`Clock`](crate::clock::Clock) and disk usage from a
//! [`DiskUsageProbe`], so every rule can be tested without waiting or filling a disk.
//!
//! Retention sits above the store: its state ([`Retention`]) is plugged into every store as it
//! is opened and reaches the store only through `StorePlugin` (`src/store/plugin.rs`: a put
//! refusal while DISK_FULL, the last run's error); the store never names this module.

use std::any::Any;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, UNIX_EPOCH};

use crossbeam::channel::{self, Sender};
use parking_lot::Mutex;
use serde::Serialize;

use crate::clock::{local_time, Clock};
use crate::commitlog::CommitLog;
use crate::config::StoreConfig;
use crate::config_json::ConsumerOffsetJson;
use crate::consume_queue::ConsumeQueue;
use crate::dispatch::Dispatcher;
use crate::error::{BackgroundError, Result, StoreError};
use crate::format::cq::{CqUnit, CQ_UNIT_SIZE};
use crate::mapped_file::{MappedFile, MappedFileQueue};
use crate::store::plugin::StorePlugin;
use crate::store::{MessageStore, OpenMode, PutMessageResult, PutMessageStatus, StoreService};

/// 4.6.0 `MappedFileQueue.DELETE_FILES_BATCH_MAX`: segments deleted per run at most.
pub const DELETE_FILES_BATCH_MAX: usize = 10;
/// `MAX_MANUAL_DELETE_FILE_TIMES`: runs armed by a manual deletion request.
pub const MAX_MANUAL_DELETE_FILE_TIMES: i32 = 20;
/// `rocketmq.broker.diskSpaceWarningLevelRatio` default: above it the store is DISK_FULL.
pub const DISK_SPACE_WARNING_LEVEL_RATIO: f64 = 0.90;
/// `rocketmq.broker.diskSpaceCleanForciblyRatio` default: above it cleanup is immediate.
pub const DISK_SPACE_CLEAN_FORCIBLY_RATIO: f64 = 0.85;
/// `destroy(1000 * 60)`: the forced-destroy interval of consume-queue files.
pub const CONSUME_QUEUE_DESTROY_INTERVAL_MS: u64 = 60_000;
/// The cleanup schedule's first delay after start (`scheduleAtFixedRate(..., 1000 * 60, ...)`).
pub const CLEAN_FIRST_DELAY: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Disk usage

// The probe lives below the store (its statistics read it too); these paths stay.
#[cfg(any(feature = "cli", feature = "internals"))]
pub use crate::store::disk::DiskUsage;
pub use crate::store::disk::{DiskUsageProbe, StatvfsProbe};

/// A probe for tests and what-if dry runs: a used percentage that can be changed at any time,
/// for every path or per path prefix (longest prefix wins). A partition of 100 GiB.
#[derive(Debug, Clone, Default)]
#[cfg(any(feature = "cli", feature = "internals"))]
pub struct FakeDiskProbe {
    inner: Arc<Mutex<FakeInner>>,
}

#[cfg(any(feature = "cli", feature = "internals"))]
#[derive(Debug, Default)]
struct FakeInner {
    default: Option<f64>,
    by_prefix: Vec<(PathBuf, Option<f64>)>,
}

#[cfg(any(feature = "cli", feature = "internals"))]
const FAKE_TOTAL: u64 = 100 << 30;

#[cfg(any(feature = "cli", feature = "internals"))]
impl FakeDiskProbe {
    /// Every partition `used_percent` % full.
    pub fn new(used_percent: f64) -> Self {
        let p = FakeDiskProbe::default();
        p.set(used_percent);
        p
    }
    /// Every partition (without a prefix setting) `used_percent` % full.
    pub fn set(&self, used_percent: f64) {
        self.inner.lock().default = Some(used_percent);
    }
    /// Paths under `prefix` are `used_percent` % full (`None`: unreadable).
    #[cfg(feature = "internals")]
    pub fn set_for(&self, prefix: impl Into<PathBuf>, used_percent: Option<f64>) {
        let prefix = prefix.into();
        let mut g = self.inner.lock();
        g.by_prefix.retain(|(p, _)| *p != prefix);
        g.by_prefix.push((prefix, used_percent));
    }
    /// Every path unreadable.
    #[cfg(feature = "internals")]
    pub fn set_unreadable(&self) {
        self.inner.lock().default = None;
    }
}

#[cfg(any(feature = "cli", feature = "internals"))]
impl DiskUsageProbe for FakeDiskProbe {
    fn usage(&self, path: &Path) -> Option<DiskUsage> {
        let g = self.inner.lock();
        let pct = g
            .by_prefix
            .iter()
            .filter(|(p, _)| path.starts_with(p))
            .max_by_key(|(p, _)| p.as_os_str().len())
            .map(|(_, v)| *v)
            .unwrap_or(g.default)?;
        let used = ((pct / 100.0).clamp(0.0, 1.0) * FAKE_TOTAL as f64).round() as u64;
        Some(DiskUsage {
            total_bytes: FAKE_TOTAL,
            free_bytes: FAKE_TOTAL - used,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Triggers

/// Why (and whether) a cleanup run deletes, as `CleanCommitLogService#deleteExpiredFiles` decides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Triggers {
    /// The time the run happens (epoch millis) and its local hour.
    pub at_ms: i64,
    /// The local hour of the run (deleteWhen is matched against it).
    pub local_hour: u32,
    /// The hour is one of `deleteWhen`'s.
    pub time: bool,
    /// A partition is used above `diskMaxUsedSpaceRatio`, or its usage cannot be read.
    pub space: bool,
    /// A manual deletion request has runs left.
    pub manual: bool,
    /// A partition is used above 85 %: clean immediately.
    pub clean_immediately: bool,
    /// `clean_immediately && cleanFileForciblyEnable`: segments go regardless of age.
    pub clean_at_once: bool,
    /// Used ratios (0..1) of the commitlog and consume-queue partitions (`None`: unreadable).
    pub commitlog_used: Option<f64>,
    /// Used ratio of the consume queues' partition, when it could be read.
    pub consume_queue_used: Option<f64>,
    /// The DISK_FULL flag after this run's space check.
    pub disk_full: bool,
}

impl Triggers {
    /// Whether the run deletes at all.
    pub fn any(&self) -> bool {
        self.time || self.space || self.manual
    }

    /// The fuller of the two partitions (`None` when neither is readable).
    pub fn worst_used(&self) -> Option<f64> {
        match (self.commitlog_used, self.consume_queue_used) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// The triggers that hold, for humans (`time+space`), or `none`.
    pub fn names(&self) -> String {
        let mut v = Vec::new();
        if self.time {
            v.push("time");
        }
        if self.space {
            v.push("space");
        }
        if self.manual {
            v.push("manual");
        }
        if v.is_empty() {
            "none".into()
        } else {
            v.join("+")
        }
    }
}

/// `isSpaceToDelete` (4.6.0) on the two partitions' used ratios: whether space asks for a
/// deletion, whether to clean immediately, and the DISK_FULL flag afterwards (starting from
/// `disk_full`). The order matters and is Java's: the commitlog partition is checked first and
/// a result above the ratio returns before the consume-queue partition is looked at.
fn space_check(
    commitlog: Option<f64>,
    consume_queue: Option<f64>,
    max_ratio: f64,
    mut disk_full: bool,
) -> (bool, bool, bool) {
    let mut clean_immediately = false;
    for ratio in [commitlog, consume_queue] {
        let r = ratio.unwrap_or(-1.0);
        if r > DISK_SPACE_WARNING_LEVEL_RATIO {
            disk_full = true;
            clean_immediately = true;
        } else if r > DISK_SPACE_CLEAN_FORCIBLY_RATIO {
            clean_immediately = true;
        } else {
            disk_full = false;
        }
        if r < 0.0 || r > max_ratio {
            return (true, clean_immediately, disk_full);
        }
    }
    (false, clean_immediately, disk_full)
}

fn triggers_at(
    config: &StoreConfig,
    hours: &[u32],
    at_ms: i64,
    commitlog_used: Option<f64>,
    consume_queue_used: Option<f64>,
    manual: bool,
    disk_full: bool,
) -> Triggers {
    let local_hour = local_time(at_ms).hour;
    let max_ratio = config.disk_max_used_space_ratio_effective() as f64 / 100.0;
    let (space, clean_immediately, disk_full) =
        space_check(commitlog_used, consume_queue_used, max_ratio, disk_full);
    Triggers {
        at_ms,
        local_hour,
        time: hours.contains(&local_hour),
        space,
        manual,
        clean_immediately,
        clean_at_once: clean_immediately && config.clean_file_forcibly_enable,
        commitlog_used,
        consume_queue_used,
        disk_full,
    }
}

/// A segment is expired when `mtime + fileReservedTime ≤ now` (`deleteExpiredFileByTime`).
pub fn is_expired(mtime_ms: i64, now_ms: i64, file_reserved_time_hours: u64) -> bool {
    let reserved = (file_reserved_time_hours as i64).saturating_mul(3_600_000);
    now_ms >= mtime_ms.saturating_add(reserved)
}

/// A file's mtime in epoch milliseconds (`File#lastModified`).
pub fn file_mtime_ms(path: &Path) -> Result<i64> {
    let m = std::fs::metadata(path).map_err(|e| StoreError::io(path, e))?;
    let t = m.modified().map_err(|e| StoreError::io(path, e))?;
    Ok(match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    })
}

/// What the consume-queue rule says of one (not last) file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CqVerdict {
    /// Its last unit points below the minimum (the offset it points at).
    Expired(i64),
    /// Deletion started earlier and did not finish: delete.
    Hanged,
    /// Its last unit is at or above the minimum: stop here.
    Live(i64),
    /// Not full (Java: "this being not executed forever"): stop here.
    NotFull,
}

fn cq_verdict(f: &MappedFile, min_phy: u64) -> CqVerdict {
    let size = f.file_size();
    if f.is_available() && size >= CQ_UNIT_SIZE {
        if let Some(b) = f.slice(size - CQ_UNIT_SIZE, CQ_UNIT_SIZE) {
            let off = CqUnit::decode(b).map(|u| u.commitlog_offset).unwrap_or(-1);
            return if off < min_phy as i64 {
                CqVerdict::Expired(off)
            } else {
                CqVerdict::Live(off)
            };
        }
    }
    if !f.is_available() {
        CqVerdict::Hanged
    } else {
        CqVerdict::NotFull
    }
}

// ---------------------------------------------------------------------------------------------
// State and options

/// How the cleanup service gets its inputs; replace with [`MessageStore::set_cleanup_options`].
#[derive(Clone)]
pub struct CleanupOptions {
    /// Disk usage of the commitlog and consume-queue partitions.
    pub probe: Arc<dyn DiskUsageProbe>,
    /// The pause between deletions (`deleteCommitLogFilesInterval`,
    /// `deleteConsumeQueueFilesInterval`); tests record it instead of sleeping.
    pub sleep: Arc<dyn Fn(Duration) + Send + Sync>,
    /// Delay of the service's first run after the store opened (Java: 60 s).
    pub first_delay: Duration,
}

impl Default for CleanupOptions {
    fn default() -> Self {
        CleanupOptions {
            probe: Arc::new(StatvfsProbe),
            sleep: Arc::new(std::thread::sleep),
            first_delay: CLEAN_FIRST_DELAY,
        }
    }
}

impl std::fmt::Debug for CleanupOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CleanupOptions")
            .field("first_delay", &self.first_delay)
            .finish_non_exhaustive()
    }
}

/// The cleanup state a store keeps (Java's `RunningFlags` DISK_FULL bit and the services'
/// fields), plugged into every store as it is opened (`crate::services`): through
/// `StorePlugin` the store refuses puts while DISK_FULL and lists the last run's error.
#[derive(Default)]
pub struct Retention {
    disk_full: AtomicBool,
    /// Used ratio (f64 bits) seen when DISK_FULL was last evaluated, for the refusal message.
    last_used_bits: AtomicU64,
    manual_delete_times: AtomicI32,
    /// `CleanConsumeQueueService.lastPhysicalMinOffset`.
    last_physical_min: AtomicU64,
    /// `lastReDeleteTimestamp`.
    last_redelete_ms: AtomicI64,
    runs: AtomicU64,
    last_error: Mutex<Option<String>>,
    run_lock: Mutex<()>,
    options: Mutex<CleanupOptions>,
    control: Mutex<Option<Sender<Control>>>,
}

enum Control {
    Reschedule,
}

/// What one cleanup run did.
#[derive(Debug, Clone, Default)]
pub struct CleanupReport {
    /// The commitlog triggers of the run (`None`: the store is read-only).
    pub triggers: Option<Triggers>,
    /// Commitlog segments deleted.
    pub commitlog_deleted: Vec<PathBuf>,
    /// Why the commitlog walk stopped (a young file, a file in use, the batch limit, ...).
    pub commitlog_stopped: Option<String>,
    /// Pauses asked for between deletions.
    pub pauses: Vec<Duration>,
    /// Consume-queue files deleted.
    pub consume_queue_deleted: Vec<PathBuf>,
    /// Index files deleted.
    pub index_deleted: Vec<PathBuf>,
    /// 5.x timer-log segments deleted (`timerlog/`; their units point below the commitlog's
    /// new minimum).
    pub timer_log_deleted: Vec<PathBuf>,
    /// Errors met (a run goes on after an error, as Java's catches it and logs).
    pub errors: Vec<String>,
}

/// Everything a run needs, owned, so the service thread can hold it.
#[derive(Clone)]
struct Ctx {
    config: StoreConfig,
    hours: Vec<u32>,
    clock: Arc<dyn Clock>,
    commit_log: Arc<CommitLog>,
    dispatcher: Arc<Dispatcher>,
    retention: Arc<Retention>,
    timer: Arc<Mutex<Option<crate::v5::timer_write::TimerStore>>>,
}

impl Ctx {
    /// `cleanFilesPeriodically`: `CleanCommitLogService.run` then `CleanConsumeQueueService.run`.
    fn run_once(&self) -> CleanupReport {
        let _one_at_a_time = self.retention.run_lock.lock();
        let opts = self.retention.options.lock().clone();
        let mut report = CleanupReport::default();
        let pause = |report: &mut CleanupReport, d: Duration| {
            report.pauses.push(d);
            (opts.sleep)(d);
        };
        if let Err(e) = self.clean_commit_log(&opts, &mut report, &pause) {
            report.errors.push(format!("commitlog cleanup: {e}"));
        }
        if let Err(e) = self.redelete_hanged_file() {
            report.errors.push(format!("commitlog re-delete: {e}"));
        }
        if let Err(e) = self.clean_consume_queues(&mut report, &pause) {
            report.errors.push(format!("consume-queue cleanup: {e}"));
        }
        self.retention.runs.fetch_add(1, Ordering::AcqRel);
        for p in &report.commitlog_deleted {
            tracing::info!(path = %p.display(), "cleanup: commitlog segment deleted");
        }
        for p in report
            .consume_queue_deleted
            .iter()
            .chain(&report.index_deleted)
        {
            tracing::info!(path = %p.display(), "cleanup: file deleted");
        }
        for e in &report.errors {
            tracing::warn!(error = %e, "cleanup failed");
        }
        *self.retention.last_error.lock() = report.errors.last().cloned();
        report
    }

    fn clean_commit_log(
        &self,
        opts: &CleanupOptions,
        report: &mut CleanupReport,
        pause: &dyn Fn(&mut CleanupReport, Duration),
    ) -> Result<()> {
        let now = self.clock.now_millis();
        let cl_used = opts
            .probe
            .usage(&self.config.commit_log_dir())
            .map(|u| u.used_ratio());
        let cq_used = opts
            .probe
            .usage(&self.config.consume_queue_dir())
            .map(|u| u.used_ratio());
        let r = &self.retention;
        let manual = r.manual_delete_times.load(Ordering::Acquire) > 0;
        let t = triggers_at(
            &self.config,
            &self.hours,
            now,
            cl_used,
            cq_used,
            manual,
            r.disk_full.load(Ordering::Acquire),
        );
        r.disk_full.store(t.disk_full, Ordering::Release);
        let shown = match (cl_used, cq_used) {
            (Some(a), Some(b)) => a.max(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => -1.0,
        };
        r.last_used_bits.store(shown.to_bits(), Ordering::Release);
        report.triggers = Some(t.clone());
        if !t.any() {
            return Ok(());
        }
        if manual {
            r.manual_delete_times.fetch_sub(1, Ordering::AcqRel);
        }
        let q = self.commit_log.files();
        let n = q.len();
        if n == 0 {
            return Ok(());
        }
        let candidates = n - 1;
        let interval = Duration::from_millis(self.config.delete_commit_log_files_interval_ms);
        let mut units_durable = false;
        let result = (|| -> Result<()> {
            for i in 0..candidates {
                let Some(f) = q.get(i) else { break };
                let mtime = file_mtime_ms(f.path())?;
                if !(t.clean_at_once
                    || is_expired(mtime, now, self.config.file_reserved_time_hours))
                {
                    report.commitlog_stopped = Some(format!(
                        "{} is younger than fileReservedTime ({} h)",
                        f.path().display(),
                        self.config.file_reserved_time_hours
                    ));
                    break;
                }
                if !units_durable {
                    // Before the first segment goes, every consume-queue unit reaches the
                    // disk (Java does not sync here; see docs/format.md §8.5): a unit written
                    // after the last queue flush and lost in a power cut could no longer be
                    // re-dispatched from its deleted record, and Java's dispatch then writes
                    // the next units at the wrong queue offsets.
                    for cq in self.dispatcher.consume_queues().all() {
                        cq.flush()?;
                    }
                    units_durable = true;
                }
                if !q.destroy(
                    &f,
                    now,
                    self.config.destroy_mapped_file_interval_forcibly_ms,
                )? {
                    report.commitlog_stopped = Some(format!(
                        "{} is still being read; it is deleted when its readers are done or \
                         after destroyMapedFileIntervalForcibly ({} ms)",
                        f.path().display(),
                        self.config.destroy_mapped_file_interval_forcibly_ms
                    ));
                    break;
                }
                report.commitlog_deleted.push(f.path().to_path_buf());
                drop(f);
                if report.commitlog_deleted.len() >= DELETE_FILES_BATCH_MAX {
                    report.commitlog_stopped =
                        Some(format!("at most {DELETE_FILES_BATCH_MAX} files per run"));
                    break;
                }
                if !interval.is_zero() && i + 1 < candidates {
                    pause(report, interval);
                }
            }
            Ok(())
        })();
        q.remove_destroyed();
        result
    }

    /// `reDeleteHangedFile` / `retryDeleteFirstFile`.
    fn redelete_hanged_file(&self) -> Result<()> {
        let now = self.clock.now_millis();
        let r = &self.retention;
        let interval = self.config.redelete_hanged_file_interval_ms as i64;
        if now.saturating_sub(r.last_redelete_ms.load(Ordering::Acquire)) <= interval {
            return Ok(());
        }
        r.last_redelete_ms.store(now, Ordering::Release);
        let q = self.commit_log.files();
        if let Some(f) = q.first() {
            if !f.is_available()
                && q.destroy(
                    &f,
                    now,
                    self.config.destroy_mapped_file_interval_forcibly_ms,
                )?
            {
                drop(f);
                q.remove_destroyed();
            }
        }
        Ok(())
    }

    /// `CleanConsumeQueueService#deleteExpiredFiles`.
    fn clean_consume_queues(
        &self,
        report: &mut CleanupReport,
        pause: &dyn Fn(&mut CleanupReport, Duration),
    ) -> Result<()> {
        let min = self.commit_log.min_offset();
        let r = &self.retention;
        if min <= r.last_physical_min.load(Ordering::Acquire) {
            return Ok(());
        }
        r.last_physical_min.store(min, Ordering::Release);
        let now = self.clock.now_millis();
        let interval = Duration::from_millis(self.config.delete_consume_queue_files_interval_ms);
        let mut first_error = None;
        for cq in self.dispatcher.consume_queues().all() {
            match delete_cq_files(&cq, min, now) {
                Ok(deleted) => {
                    let any = !deleted.is_empty();
                    report.consume_queue_deleted.extend(deleted);
                    if any && !interval.is_zero() {
                        pause(report, interval);
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        // 5.x batch consume queues: `CleanConsumeQueueService` walks them with the plain ones
        // (`ConsumeQueueStore` holds both kinds).
        if let Some(batch) = self.dispatcher.batch_queues() {
            match batch.delete_expired(min as i64) {
                Ok(deleted) => report.consume_queue_deleted.extend(deleted),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        // 5.x timer log (`TimerMessageStore` runs this every 30 s on its own; here it follows
        // the commitlog minimum with the consume queues).
        if let Some(t) = self.timer.lock().as_mut() {
            match t.delete_expired(min as i64) {
                Ok(deleted) => report.timer_log_deleted.extend(deleted),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(ix) = self.dispatcher.lock().index.as_mut() {
            report.index_deleted = ix.delete_expired(min as i64)?;
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// `ConsumeQueue#deleteExpiredFile(offset)`: `deleteExpiredFileByOffset` then `correctMinOffset`.
fn delete_cq_files(cq: &ConsumeQueue, min: u64, now: i64) -> Result<Vec<PathBuf>> {
    let q: &MappedFileQueue = cq.files();
    let n = q.len();
    let mut deleted = Vec::new();
    let result = (|| -> Result<()> {
        for i in 0..n.saturating_sub(1) {
            let Some(f) = q.get(i) else { break };
            match cq_verdict(&f, min) {
                CqVerdict::Expired(_) | CqVerdict::Hanged => {}
                CqVerdict::Live(_) | CqVerdict::NotFull => break,
            }
            if !q.destroy(&f, now, CONSUME_QUEUE_DESTROY_INTERVAL_MS)? {
                break;
            }
            deleted.push(f.path().to_path_buf());
        }
        Ok(())
    })();
    q.remove_destroyed();
    cq.correct_min_offset(min as i64);
    result.map(|()| deleted)
}

// ---------------------------------------------------------------------------------------------
// The scheduled service

struct CleanupService {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl StoreService for CleanupService {
    fn name(&self) -> &str {
        "CleanupService"
    }
    fn stop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CleanupService {
    fn drop(&mut self) {
        StoreService::stop(self);
    }
}

fn service_loop(
    ctx: Ctx,
    stop: channel::Receiver<()>,
    control: channel::Receiver<Control>,
    started: Instant,
) {
    let interval = Duration::from_millis(ctx.config.clean_resource_interval_ms.max(1));
    let mut last_run: Option<Instant> = None;
    loop {
        let due = match last_run {
            None => started + ctx.retention.options.lock().first_delay,
            Some(t) => t + interval,
        };
        let wait = due.saturating_duration_since(Instant::now());
        channel::select! {
            recv(stop) -> _ => return,
            recv(control) -> msg => {
                if msg.is_err() { return; }
                continue;
            }
            default(wait) => {}
        }
        if Instant::now() < due {
            continue;
        }
        // Fixed rate: the next run is due one interval after this one was due (no burst of
        // catch-up runs after a long pause).
        let now = Instant::now();
        last_run = Some(if now.duration_since(due) > interval {
            now
        } else {
            due
        });
        let _ = ctx.run_once();
    }
}

// ---------------------------------------------------------------------------------------------
// The store's API

impl StorePlugin for Retention {
    /// The refusal a put gets while the store is DISK_FULL.
    fn refuse_put(&self) -> Option<PutMessageResult> {
        if !self.disk_full.load(Ordering::Acquire) {
            return None;
        }
        let used = f64::from_bits(self.last_used_bits.load(Ordering::Acquire));
        Some(PutMessageResult::refused(
            PutMessageStatus::ServiceNotAvailable,
            format!(
                "DISK_FULL: the store's disk is {:.1}% used (above {:.0}%), so puts are refused \
                 until cleanup brings it to {:.0}% or less",
                used * 100.0,
                DISK_SPACE_WARNING_LEVEL_RATIO * 100.0,
                DISK_SPACE_CLEAN_FORCIBLY_RATIO * 100.0
            ),
        ))
    }

    /// The last run's error.
    fn error(&self) -> Option<BackgroundError> {
        self.last_error.lock().clone().map(BackgroundError::Cleanup)
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl MessageStore {
    /// The cleanup state plugged into this store.
    fn retention(&self) -> Arc<Retention> {
        self.plugins
            .get::<Retention>()
            .expect("every store is opened with its cleanup state (crate::services)")
    }

    fn cleanup_ctx(&self) -> Result<Ctx> {
        Ok(Ctx {
            config: self.config.clone(),
            hours: self.config.delete_hours().map_err(StoreError::Config)?,
            clock: self.clock.clone(),
            commit_log: self.commit_log.clone(),
            dispatcher: self.dispatcher.clone(),
            retention: self.retention(),
            timer: self.timer.clone(),
        })
    }

    /// Starts the scheduled cleanup (called by `crate::services` as a writable store with
    /// background services opens): first run after [`CleanupOptions::first_delay`], then
    /// every `cleanResourceInterval`.
    pub(crate) fn start_cleanup_service(&self) -> Result<()> {
        let ctx = self.cleanup_ctx()?;
        let (stop_tx, stop_rx) = channel::bounded::<()>(0);
        let (ctl_tx, ctl_rx) = channel::unbounded::<Control>();
        *self.retention().control.lock() = Some(ctl_tx);
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("rmqstore-cleanup".into())
            .spawn(move || service_loop(ctx, stop_rx, ctl_rx, started))
            .map_err(|e| StoreError::Invalid(format!("cannot start the cleanup thread: {e}")))?;
        self.add_service(Box::new(CleanupService {
            stop: Some(stop_tx),
            thread: Some(thread),
        }));
        Ok(())
    }

    /// Replaces the cleanup's disk probe, pause and first delay (the scheduled service picks
    /// them up at once).
    pub fn set_cleanup_options(&self, options: CleanupOptions) {
        *self.retention().options.lock() = options;
        if let Some(tx) = self.retention().control.lock().as_ref() {
            let _ = tx.send(Control::Reschedule);
        }
    }

    /// Runs one cleanup now, as the scheduled service does every `cleanResourceInterval`
    /// (commitlog, then consume queues and index). Read-only stores never delete.
    pub fn run_cleanup_once(&self) -> Result<CleanupReport> {
        if self.mode != OpenMode::ReadWrite || self.shut_down {
            return Err(StoreError::ReadOnly);
        }
        Ok(self.cleanup_ctx()?.run_once())
    }

    /// `executeDeleteFilesManually`: the next 20 cleanup runs delete expired segments at any
    /// hour and disk usage.
    pub fn execute_delete_files_manually(&self) {
        self.retention()
            .manual_delete_times
            .store(MAX_MANUAL_DELETE_FILE_TIMES, Ordering::Release);
    }

    /// Cleanup runs still armed by [`execute_delete_files_manually`](Self::execute_delete_files_manually).
    pub fn manual_delete_runs_left(&self) -> i32 {
        self.retention().manual_delete_times.load(Ordering::Acquire)
    }

    /// Whether the store is DISK_FULL (a partition above 90 % at the last cleanup run).
    pub fn is_disk_full(&self) -> bool {
        self.retention().disk_full.load(Ordering::Acquire)
    }

    /// Number of cleanup runs so far (scheduled or not).
    pub fn cleanup_runs(&self) -> u64 {
        self.retention().runs.load(Ordering::Acquire)
    }

    /// The last error a cleanup run met, if its last run met one.
    pub fn cleanup_error(&self) -> Option<String> {
        self.retention().last_error.lock().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Dry run

/// The settings a plan was made with.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSettings {
    /// `deleteWhen`: the hours (`04;10`) at which expired files go.
    pub delete_when: String,
    /// `fileReservedTime`: hours a commitlog segment is kept after its last write.
    pub file_reserved_time_hours: u64,
    /// `diskMaxUsedSpaceRatio`: percent of the disk above which files go regardless of time.
    pub disk_max_used_space_ratio: u32,
    /// `cleanFileForciblyEnable`: delete unexpired files when the disk is full.
    pub clean_file_forcibly_enable: bool,
    /// `cleanResourceInterval`: milliseconds between cleanup runs.
    pub clean_resource_interval_ms: u64,
}

/// One simulated cleanup run.
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    /// 1 for the run at the plan's time, then one per `cleanResourceInterval`.
    pub run: u32,
    /// What would trigger deletion in this run.
    pub triggers: Triggers,
    /// Commitlog segments this run deletes.
    pub commitlog_deleted: usize,
    /// Why the run's walk stopped.
    pub stopped: String,
}

/// What a rule would do with one file.
#[derive(Debug, Clone, Serialize)]
pub struct FilePlan {
    /// The file.
    pub path: PathBuf,
    /// Its length.
    pub bytes: u64,
    /// Whether the run deletes it.
    pub delete: bool,
    /// `expired`, `forced`, `consume-queue`, `index`, or `kept`.
    pub rule: String,
    /// Why it goes or stays.
    pub reason: String,
    /// The simulated run that deletes it.
    pub run: Option<u32>,
    /// The file's mtime (commitlog segments).
    pub mtime_ms: Option<i64>,
}

/// Unconsumed messages a consumer group would lose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerLoss {
    /// The topic of the queue.
    pub topic: String,
    /// The queue id.
    pub queue_id: i32,
    /// The consumer group (from `config/consumerOffset.json`).
    pub group: String,
    /// The group's committed offset (next message to consume).
    pub consumer_offset: i64,
    /// The queue's max offset and its min offset after the cleanup.
    pub max_offset: u64,
    /// The queue's minimum offset after the deletion.
    pub min_offset_after: u64,
    /// Unconsumed messages (at or above the consumer offset) whose records would be deleted.
    pub lost: u64,
}

/// What a cleanup would delete, and who would lose what.
#[derive(Debug, Clone, Serialize)]
pub struct CleanupPlan {
    /// The time the plan is made for (milliseconds since the epoch).
    pub at_ms: i64,
    /// The cleanup settings the plan follows.
    pub settings: PlanSettings,
    /// The runs that would happen from `at_ms` on, until one deletes nothing (the first run is
    /// always listed).
    pub runs: Vec<RunPlan>,
    /// Every commitlog segment, oldest first.
    pub commitlog: Vec<FilePlan>,
    /// Consume-queue files that would be deleted.
    pub consume_queues: Vec<FilePlan>,
    /// Index files that would be deleted.
    pub index: Vec<FilePlan>,
    /// 5.x timer-log segments (`timerlog/`) that would be deleted.
    pub timer_log: Vec<FilePlan>,
    /// The commitlog's minimum offset before the deletion.
    pub min_phy_offset_before: u64,
    /// The commitlog's minimum offset after the deletion.
    pub min_phy_offset_after: u64,
    /// Consumers whose committed offset falls into what would be deleted.
    pub consumers: Vec<ConsumerLoss>,
    /// Whether `config/consumerOffset.json` was found.
    pub consumer_offsets_found: bool,
    /// Remarks on the plan (what was assumed or could not be read).
    pub notes: Vec<String>,
}

impl CleanupPlan {
    /// Commitlog segments that would be deleted.
    pub fn commitlog_deleted(&self) -> impl Iterator<Item = &FilePlan> {
        self.commitlog.iter().filter(|f| f.delete)
    }
}

fn hours_str(ms: i64) -> String {
    format!("{:.1} h", ms as f64 / 3_600_000.0)
}

impl MessageStore {
    /// The dry run: what cleanup runs starting at `at_ms` would delete, by rule and why, with
    /// disk usage from `probe`, and which consumer groups (from `config/consumerOffset.json`)
    /// would lose unconsumed messages. Runs are simulated every `cleanResourceInterval` until
    /// one deletes nothing; deleted segments free their bytes in the simulated usage. Nothing
    /// is changed; works on read-only stores.
    pub fn cleanup_plan(&self, at_ms: i64, probe: &dyn DiskUsageProbe) -> Result<CleanupPlan> {
        let config = &self.config;
        let hours = config.delete_hours().map_err(StoreError::Config)?;
        let cl_dir = config.commit_log_dir();
        let cq_dir = config.consume_queue_dir();
        let mut cl_usage = probe.usage(&cl_dir);
        let mut cq_usage = probe.usage(&cq_dir);
        let same_partition = match (std::fs::metadata(&cl_dir), std::fs::metadata(&cq_dir)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev(),
            _ => cl_usage == cq_usage,
        };
        let mut notes = vec![format!(
            "ages are file mtimes: a copy that did not keep mtimes restarts the {} h retention",
            config.file_reserved_time_hours
        )];
        // Commitlog segments.
        let segs = self.commit_log.files().files();
        let mut plans: Vec<FilePlan> = Vec::with_capacity(segs.len());
        for f in &segs {
            plans.push(FilePlan {
                path: f.path().to_path_buf(),
                bytes: f.file_size() as u64,
                delete: false,
                rule: "kept".into(),
                reason: String::new(),
                run: None,
                mtime_ms: file_mtime_ms(f.path()).ok(),
            });
        }
        let candidates = segs.len().saturating_sub(1);
        let mut next = 0usize; // first segment not deleted
        let mut runs = Vec::new();
        let mut disk_full = self.retention().disk_full.load(Ordering::Acquire);
        let mut manual_left = self.retention().manual_delete_times.load(Ordering::Acquire);
        let interval = config.clean_resource_interval_ms.max(1) as i64;
        let mut stop_reason = String::new();
        for k in 1..=(candidates as u32 + 1) {
            let t_ms = at_ms + (k as i64 - 1) * interval;
            let t = triggers_at(
                config,
                &hours,
                t_ms,
                cl_usage.map(|u| u.used_ratio()),
                cq_usage.map(|u| u.used_ratio()),
                manual_left > 0,
                disk_full,
            );
            disk_full = t.disk_full;
            let mut deleted = 0usize;
            if !t.any() {
                stop_reason = format!(
                    "no trigger: local hour {:02} is not in deleteWhen {:?}, disk {} is not above \
                     diskMaxUsedSpaceRatio {}%, no manual request",
                    t.local_hour,
                    config.delete_when,
                    ratio_str(t.worst_used()),
                    config.disk_max_used_space_ratio_effective()
                );
            } else {
                if t.manual {
                    manual_left -= 1;
                }
                stop_reason = "no segment left but the active one".into();
                while next < candidates {
                    let p = &mut plans[next];
                    let expired = p
                        .mtime_ms
                        .map(|m| is_expired(m, t_ms, config.file_reserved_time_hours))
                        .unwrap_or(false);
                    if !(expired || t.clean_at_once) {
                        stop_reason = match p.mtime_ms {
                            Some(m) => format!(
                                "{} was written {} before, less than fileReservedTime {} h",
                                p.path.display(),
                                hours_str(t_ms - m),
                                config.file_reserved_time_hours
                            ),
                            None => format!("{}: mtime unreadable", p.path.display()),
                        };
                        break;
                    }
                    p.delete = true;
                    p.run = Some(k);
                    let age = p.mtime_ms.map(|m| hours_str(t_ms - m)).unwrap_or_default();
                    if expired {
                        p.rule = "expired".into();
                        p.reason = format!(
                            "written {age} before ≥ fileReservedTime {} h; run triggered by {}",
                            config.file_reserved_time_hours,
                            t.names()
                        );
                    } else {
                        p.rule = "forced".into();
                        p.reason = format!(
                            "disk {} used > {:.0}% with cleanFileForciblyEnable: deleted \
                             regardless of age (written {age} before)",
                            ratio_str(t.worst_used()),
                            DISK_SPACE_CLEAN_FORCIBLY_RATIO * 100.0
                        );
                    }
                    let freed = p.bytes;
                    for (u, on) in [(&mut cl_usage, true), (&mut cq_usage, same_partition)] {
                        if let (Some(u), true) = (u.as_mut(), on) {
                            u.free_bytes = (u.free_bytes + freed).min(u.total_bytes);
                        }
                    }
                    next += 1;
                    deleted += 1;
                    if deleted >= DELETE_FILES_BATCH_MAX {
                        stop_reason = format!("at most {DELETE_FILES_BATCH_MAX} files per run");
                        break;
                    }
                }
            }
            runs.push(RunPlan {
                run: k,
                triggers: t,
                commitlog_deleted: deleted,
                stopped: stop_reason.clone(),
            });
            if deleted == 0 {
                break;
            }
        }
        for (i, p) in plans.iter_mut().enumerate() {
            if p.delete {
                continue;
            }
            p.reason = if i + 1 == segs.len() {
                "the active (last) segment is never deleted".into()
            } else if i == next {
                stop_reason.clone()
            } else {
                "an older segment is kept, and segments go oldest first only".into()
            };
        }
        let min_before = self.commit_log.min_offset();
        let min_after = segs
            .get(next)
            .map(|f| f.file_from_offset())
            .unwrap_or(min_before)
            .max(min_before);
        let deleting_runs = runs.iter().filter(|r| r.commitlog_deleted > 0).count();
        if deleting_runs > 1 {
            notes.push(format!(
                "{deleting_runs} runs delete segments, one every cleanResourceInterval ({} ms)",
                config.clean_resource_interval_ms
            ));
        }

        // Consume queues.
        let mut cq_plans = Vec::new();
        let mut consumers = Vec::new();
        let offsets = ConsumerOffsetJson::load(&config.config_dir())?;
        let mut cq_after: BTreeMap<(String, i32), (u64, u64)> = BTreeMap::new();
        for cq in self.dispatcher.consume_queues().all() {
            let files = cq.files().files();
            let mut first_kept = 0;
            for f in files.iter().take(files.len().saturating_sub(1)) {
                let reason = match cq_verdict(f, min_after) {
                    CqVerdict::Expired(off) => format!(
                        "its last unit points at commitlog offset {off}, below the new minimum \
                         {min_after}"
                    ),
                    CqVerdict::Hanged => "its deletion started earlier and did not finish".into(),
                    _ => break,
                };
                cq_plans.push(FilePlan {
                    path: f.path().to_path_buf(),
                    bytes: f.file_size() as u64,
                    delete: true,
                    rule: "consume-queue".into(),
                    reason,
                    run: None,
                    mtime_ms: None,
                });
                first_kept += 1;
            }
            let min_now = cq.min_offset_in_queue();
            let max = cq.max_offset_in_queue();
            // The first unit of the queue's messages that survives the cleanup.
            let survivor = first_unit_at_or_above(&cq, min_now, max, min_after);
            let corrected = files
                .get(first_kept)
                .and_then(|f| corrected_min(f, min_after))
                .unwrap_or(min_now)
                .max(min_now);
            cq_after.insert(
                (cq.topic().to_string(), cq.queue_id()),
                (survivor, corrected),
            );
        }
        // 5.x batch consume queues (their consumers are not simulated).
        if let Some(batch) = self.dispatcher.batch_queues() {
            for (path, last) in batch.expired_files(min_after as i64)? {
                let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
                cq_plans.push(FilePlan {
                    path,
                    bytes,
                    delete: true,
                    rule: "consume-queue".into(),
                    reason: format!(
                        "its last batch unit points at commitlog offset {last}, below the new \
                         minimum {min_after}"
                    ),
                    run: None,
                    mtime_ms: None,
                });
            }
        }
        // 5.x timer log.
        let mut timer_plans = Vec::new();
        for (path, last) in crate::v5::timer_write::expired_log_files(
            config.root(),
            config.timer.log_file_size,
            min_after as i64,
        )? {
            let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
            timer_plans.push(FilePlan {
                path,
                bytes,
                delete: true,
                rule: "timer-log".into(),
                reason: format!(
                    "its last unit points at commitlog offset {last}, below the new minimum \
                     {min_after}"
                ),
                run: None,
                mtime_ms: None,
            });
        }
        // Index files.
        let mut index_plans = Vec::new();
        if let Some(ix) = self.dispatcher.lock().index.as_ref() {
            let files = ix.files();
            for f in files
                .iter()
                .take(files.len().saturating_sub(1))
                .take_while(|f| f.end_phy_offset() < min_after as i64)
            {
                index_plans.push(FilePlan {
                    path: f.path().to_path_buf(),
                    bytes: f.bytes().len() as u64,
                    delete: true,
                    rule: "index".into(),
                    reason: format!(
                        "its last entry's commitlog offset {} is below the new minimum {min_after}",
                        f.end_phy_offset()
                    ),
                    run: None,
                    mtime_ms: None,
                });
            }
        }
        // Consumers.
        let found = offsets.is_some();
        if let Some(offsets) = offsets {
            for (topic, group, by_queue) in offsets.entries() {
                for (&qid, &off) in by_queue {
                    let Some(cq) = self.dispatcher.consume_queues().get(topic, qid) else {
                        continue;
                    };
                    let min_now = cq.min_offset_in_queue();
                    let max = cq.max_offset_in_queue();
                    let first_alive = first_unit_at_or_above(&cq, min_now, max, min_before);
                    let (survivor, corrected) = cq_after
                        .get(&(topic.to_string(), qid))
                        .copied()
                        .unwrap_or((first_alive, min_now));
                    let from = (off.max(0) as u64).max(first_alive);
                    let lost = survivor.saturating_sub(from);
                    if lost > 0 {
                        consumers.push(ConsumerLoss {
                            topic: topic.to_string(),
                            queue_id: qid,
                            group: group.to_string(),
                            consumer_offset: off,
                            max_offset: max,
                            min_offset_after: corrected.max(survivor.min(max)),
                            lost,
                        });
                    }
                }
            }
        } else {
            notes.push(format!(
                "no {}: consumer losses cannot be told",
                config.config_dir().join("consumerOffset.json").display()
            ));
        }
        Ok(CleanupPlan {
            at_ms,
            settings: PlanSettings {
                delete_when: config.delete_when.clone(),
                file_reserved_time_hours: config.file_reserved_time_hours,
                disk_max_used_space_ratio: config.disk_max_used_space_ratio_effective(),
                clean_file_forcibly_enable: config.clean_file_forcibly_enable,
                clean_resource_interval_ms: config.clean_resource_interval_ms,
            },
            runs,
            commitlog: plans,
            consume_queues: cq_plans,
            index: index_plans,
            timer_log: timer_plans,
            min_phy_offset_before: min_before,
            min_phy_offset_after: min_after,
            consumers,
            consumer_offsets_found: found,
            notes,
        })
    }
}

/// A used ratio as a percentage, or `unreadable`.
pub fn ratio_str(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 0.0 => format!("{:.1}%", r * 100.0),
        _ => "unreadable".into(),
    }
}

/// The first queue offset in `[lo, hi)` whose unit points at or above `phy` (units are in
/// commitlog order; pre-blank units point at 0). `hi` when none.
fn first_unit_at_or_above(cq: &ConsumeQueue, lo: u64, hi: u64, phy: u64) -> u64 {
    let (mut lo, mut hi) = (lo, hi);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let below = match cq.get_unit(mid) {
            Some(u) => u.commitlog_offset < phy as i64,
            None => false,
        };
        if below {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// `correctMinOffset` on `first` without changing anything: the queue offset of its first unit
/// at or above `phy_min`.
fn corrected_min(first: &MappedFile, phy_min: u64) -> Option<u64> {
    let data = first.readable();
    let mut pos = 0;
    while pos + CQ_UNIT_SIZE <= data.len() {
        if let Ok(u) = CqUnit::decode(&data[pos..]) {
            if u.commitlog_offset >= phy_min as i64 {
                return Some((first.file_from_offset() + pos as u64) / CQ_UNIT_SIZE as u64);
            }
        }
        pos += CQ_UNIT_SIZE;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_tiers_follow_java() {
        // (space, clean immediately, disk full) at 74/76/86/91 % on both partitions.
        assert_eq!(
            space_check(Some(0.74), Some(0.74), 0.75, false),
            (false, false, false)
        );
        assert_eq!(
            space_check(Some(0.76), Some(0.76), 0.75, false),
            (true, false, false)
        );
        assert_eq!(
            space_check(Some(0.86), Some(0.86), 0.75, false),
            (true, true, false)
        );
        assert_eq!(
            space_check(Some(0.91), Some(0.91), 0.75, false),
            (true, true, true)
        );
        // DISK_FULL stays while above 85 % and clears at or below.
        assert_eq!(
            space_check(Some(0.86), Some(0.86), 0.75, true),
            (true, true, true)
        );
        assert_eq!(
            space_check(Some(0.85), Some(0.50), 0.95, true),
            (false, false, false)
        );
        // Unreadable usage asks for space (Java's -1 < 0) and marks the disk OK.
        assert_eq!(
            space_check(None, Some(0.99), 0.75, true),
            (true, false, false)
        );
        // The consume-queue partition counts when the commitlog one is fine.
        assert_eq!(
            space_check(Some(0.10), Some(0.91), 0.75, false),
            (true, true, true)
        );
    }

    #[test]
    fn expiry_is_inclusive() {
        let h = 3_600_000;
        assert!(is_expired(0, 48 * h, 48));
        assert!(!is_expired(0, 48 * h - 1, 48));
    }

    #[test]
    fn fake_probe_prefixes() {
        let p = FakeDiskProbe::new(50.0);
        p.set_for("/a/b", Some(91.0));
        p.set_for("/a/c", None);
        assert!((p.usage(Path::new("/x")).unwrap().used_ratio() - 0.5).abs() < 1e-9);
        assert!((p.usage(Path::new("/a/b/c")).unwrap().used_ratio() - 0.91).abs() < 1e-9);
        assert!(p.usage(Path::new("/a/c")).is_none());
    }

    #[test]
    fn statvfs_reads_the_temp_partition() {
        let d = tempfile::tempdir().unwrap();
        let u = StatvfsProbe.usage(d.path()).unwrap();
        assert!(u.total_bytes > 0 && u.free_bytes <= u.total_bytes);
        let r = u.used_ratio();
        assert!((0.0..=1.0).contains(&r));
        assert!(StatvfsProbe.usage(&d.path().join("missing")).is_none());
    }
}
