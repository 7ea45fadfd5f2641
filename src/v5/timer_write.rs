//! The write side of 5.x timer messages: what `TimerMessageStore` (5.3.3) does to the timer
//! files as it enqueues the messages of `rmq_sys_wheel_timer`, and its recovery of them
//! (`docs/format.md` §12.4).
//!
//! * [`transform`]: the broker's `HookUtils#handleScheduleMessage` / `#transformTimerMessage`,
//!   which rewrites a message carrying `TIMER_DELIVER_MS` / `TIMER_DELAY_SEC` /
//!   `TIMER_DELAY_MS` to topic `rmq_sys_wheel_timer` queue 0 with `TIMER_OUT_MS`,
//!   `REAL_TOPIC` and `REAL_QID`.
//! * [`TimerStore`]: `TimerMessageStore#enqueue` / `#doEnqueue` (a 52-byte unit appended to
//!   `timerlog/`, the wheel slot updated, `timermetrics` counted), `#recover` /
//!   `#recoverAndRevise` / `#reviseQueueOffset` (a torn log tail cut, slots revised, the queue
//!   offset taken from the last unit), and the flush service's `timercheck`.
//!
//! Not done: the dequeue (delivering due timers to their real topic). Pending timers stay in
//! the wheel until a 5.x broker loads the store.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::timer::{
    is_magic_ok, java_string_hash, BLANK_MAGIC, MAGIC_DELETE, MAGIC_ROLL, SLOTS_TOTAL, SLOT_SIZE,
    TIMER_TOPIC, UNIT_SIZE, WHEEL_LEN,
};
use crate::error::{Result, StoreError};
use crate::format::{get_i32, get_i64, properties};

pub const PROPERTY_TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
pub const PROPERTY_TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
pub const PROPERTY_TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
pub const PROPERTY_TIMER_OUT_MS: &str = "TIMER_OUT_MS";
pub const PROPERTY_REAL_TOPIC: &str = "REAL_TOPIC";
pub const PROPERTY_REAL_QUEUE_ID: &str = "REAL_QID";
pub const PROPERTY_TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
pub const PROPERTY_TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
/// `TimerMessageStore.TIMER_BLANK_SLOTS`.
pub const TIMER_BLANK_SLOTS: i64 = 60;
/// `TimerLog.MIN_BLANK_LEN`.
const MIN_BLANK_LEN: u64 = 16;
/// `TimerLog.UNIT_PRE_SIZE_FOR_MSG`.
const UNIT_PRE_SIZE_FOR_MSG: i64 = 28;

/// The timer settings of `MessageStoreConfig` that decide the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// `timerPrecisionMs` (default 1000).
    pub precision_ms: i64,
    /// `timerRollWindowSlot` (default 2 days of slots).
    pub roll_window_slot: i64,
    /// `mappedFileSizeTimerLog` (default 100 MiB).
    pub log_file_size: u64,
    /// `timerMaxDelaySec` (default 3 days).
    pub max_delay_sec: i64,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            precision_ms: 1000,
            roll_window_slot: 2 * 86_400,
            log_file_size: 100 * 1024 * 1024,
            max_delay_sec: 3 * 86_400,
        }
    }
}

impl TimerConfig {
    /// `timerRollWindowSlots` as the `TimerMessageStore` constructor clamps it.
    pub fn roll_window_slots(&self) -> i64 {
        let total = SLOTS_TOTAL as i64;
        if self.roll_window_slot > total - TIMER_BLANK_SLOTS || self.roll_window_slot < 2 {
            total - TIMER_BLANK_SLOTS
        } else {
            self.roll_window_slot
        }
    }
    fn format_time(&self, ms: i64) -> i64 {
        ms / self.precision_ms * self.precision_ms
    }
}

/// What [`transform`] decided for a put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    /// Not a timer message (or already due): stored as it is.
    Unchanged,
    /// Stored under `rmq_sys_wheel_timer` queue 0 with these properties.
    Timer { properties: String, deliver_ms: i64 },
    /// Refused with Java's status name and why.
    Refused(&'static str, String),
}

/// `HookUtils#handleScheduleMessage` for a message of `topic` / `queue_id` with properties
/// `props` (no `__CRC32#` reservation), a transaction type that is NOT or COMMIT, and no
/// delay level (the caller handles a delay level first, as Java does). `now_ms` is the wall
/// clock (`System.currentTimeMillis()`).
pub fn transform(
    topic: &str,
    queue_id: i32,
    props: &str,
    timer_wheel_enable: bool,
    cfg: &TimerConfig,
    now_ms: i64,
) -> Transform {
    let get = |k: &str| properties::get(props.as_bytes(), k).map(|v| v.into_owned());
    // checkIfTimerMessage (with no delay level): a rolled message or one already transformed
    // is not transformed again.
    if topic == TIMER_TOPIC || get(PROPERTY_TIMER_OUT_MS).is_some() {
        return Transform::Unchanged;
    }
    let (sec, ms, deliver) = (
        get(PROPERTY_TIMER_DELAY_SEC),
        get(PROPERTY_TIMER_DELAY_MS),
        get(PROPERTY_TIMER_DELIVER_MS),
    );
    if sec.is_none() && ms.is_none() && deliver.is_none() {
        return Transform::Unchanged;
    }
    if !timer_wheel_enable {
        return Transform::Refused(
            "WHEEL_TIMER_NOT_ENABLE",
            "a timer message while timerWheelEnable is false".into(),
        );
    }
    let parsed = if let Some(s) = sec {
        s.parse::<i64>()
            .ok()
            .map(|v| now_ms.wrapping_add(v.wrapping_mul(1000)))
    } else if let Some(m) = ms {
        m.parse::<i64>().ok().map(|v| now_ms.wrapping_add(v))
    } else {
        deliver.and_then(|d| d.parse::<i64>().ok())
    };
    let Some(mut deliver_ms) = parsed else {
        return Transform::Refused(
            "WHEEL_TIMER_MSG_ILLEGAL",
            "a timer property that is not a number".into(),
        );
    };
    if deliver_ms > now_ms {
        if deliver_ms - now_ms > cfg.max_delay_sec.saturating_mul(1000) {
            return Transform::Refused(
                "WHEEL_TIMER_MSG_ILLEGAL",
                format!(
                    "deliver time {deliver_ms} is more than timerMaxDelaySec {} ahead",
                    cfg.max_delay_sec
                ),
            );
        }
        let p = cfg.precision_ms;
        if deliver_ms % p == 0 {
            deliver_ms -= p;
        } else {
            deliver_ms = deliver_ms / p * p;
        }
        // isReject: timerCongestNumEachSlot defaults to Integer.MAX_VALUE, never reached.
        let mut entries = super::props::java_parse(props);
        super::props::java_put(&mut entries, PROPERTY_TIMER_OUT_MS, &deliver_ms.to_string());
        super::props::java_put(&mut entries, PROPERTY_REAL_TOPIC, topic);
        super::props::java_put(&mut entries, PROPERTY_REAL_QUEUE_ID, &queue_id.to_string());
        let properties = super::props::java_serialize(&entries, super::props::BROKER_MAP_CAPACITY);
        Transform::Timer {
            properties,
            deliver_ms,
        }
    } else if get(PROPERTY_TIMER_DEL_UNIQKEY).is_some() {
        Transform::Refused(
            "WHEEL_TIMER_MSG_ILLEGAL",
            "a timer delete message whose time has passed".into(),
        )
    } else {
        Transform::Unchanged
    }
}

/// What the timer store reads of the store: queue 0 of `rmq_sys_wheel_timer` and the
/// commitlog.
pub trait TimerSource {
    /// `(min, max)` offsets of the timer topic's queue 0 (`(0, 0)` without one).
    fn cq_range(&self) -> (u64, u64);
    /// The unit at queue offset `q`: `(commitlog offset, size)`.
    fn cq_unit(&self, q: u64) -> Option<(i64, i32)>;
    /// The record at `offset` if it is `size` bytes: its queue offset and properties.
    fn message(&self, offset: i64, size: i32) -> Option<(i64, String)>;
}

/// A data version (`DataVersion`: stateVersion, timestamp, counter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct DataVersion {
    state_version: i64,
    timestamp: i64,
    counter: i64,
}

impl DataVersion {
    fn next(&mut self, now_ms: i64) {
        self.timestamp = now_ms;
        self.counter += 1;
    }
}

/// The timer store of one message store (`TimerMessageStore` in enqueue mode).
#[derive(Debug)]
pub struct TimerStore {
    root: PathBuf,
    cfg: TimerConfig,
    /// `timerlog/` segments by start offset.
    segments: Vec<(u64, File)>,
    /// Where the next unit goes (the log's wrote position).
    end: u64,
    /// Segments written since the last flush.
    dirty_from: Option<u64>,
    wheel: File,
    /// The wheel's bytes (Java keeps a copy in memory too).
    slots: Vec<u8>,
    wheel_dirty: bool,
    /// `currQueueOffset`: the next timer-queue offset to enqueue.
    queue_offset: u64,
    /// `currWriteTimeMs`.
    write_time_ms: i64,
    /// `commitReadTimeMs`: where a dequeue would start (never advanced here).
    read_time_ms: i64,
    /// The checkpoint's `dataVersion` and what it was last bumped for.
    cp_version: DataVersion,
    last_commit: (i64, u64),
    metrics: BTreeMap<String, (i64, i64)>,
    metrics_version: DataVersion,
    metrics_dirty: bool,
}

/// The paths of the timer files under `root`.
fn log_dir(root: &Path) -> PathBuf {
    root.join("timerlog")
}
fn wheel_path(root: &Path) -> PathBuf {
    root.join("timerwheel")
}
fn check_path(root: &Path) -> PathBuf {
    root.join("config").join("timercheck")
}
fn metrics_path(root: &Path) -> PathBuf {
    root.join("config").join("timermetrics")
}

/// `TimerLog#getOffsetForLastUnit`: where the last unit of a full timer-log segment starts
/// (units fill a segment until a unit and the 16-byte blank no longer fit).
fn last_unit_pos(file_size: u64) -> u64 {
    let unit = UNIT_SIZE as u64;
    file_size - (file_size - MIN_BLANK_LEN) % unit - MIN_BLANK_LEN - unit
}

/// The timer-log segments of `root` that 5.3.3's timer-log cleanup deletes once the
/// commitlog starts at `min_py` (`MappedFileQueue#deleteExpiredFileByOffsetForTimerLog`, run
/// every 30 s by `TimerMessageStore`): from the first segment on, every segment but the last
/// whose last unit (at `getOffsetForLastUnit`; size 52 and a magic of at most 15) points below
/// `min_py`; the walk stops at the first other one. Each with the commitlog offset that unit
/// points at. Nothing is changed.
pub fn expired_log_files(
    root: &Path,
    file_size: u64,
    min_py: i64,
) -> Result<Vec<(PathBuf, i64)>> {
    let dir = log_dir(root);
    if !dir.exists() || file_size < (UNIT_SIZE as u64 + MIN_BLANK_LEN) {
        return Ok(Vec::new());
    }
    let files = super::numbered_files(&dir)?;
    let at = last_unit_pos(file_size);
    let mut out = Vec::new();
    for (_, path) in files.iter().take(files.len().saturating_sub(1)) {
        let f = File::open(path).map_err(io(path))?;
        let mut u = [0u8; UNIT_SIZE];
        if f.read_exact_at(&mut u, at).is_err() {
            break;
        }
        let size = i32::from_be_bytes(u[0..4].try_into().expect("4 bytes"));
        let magic = i32::from_be_bytes(u[12..16].try_into().expect("4 bytes"));
        if size != UNIT_SIZE as i32 || (magic | 0xF) != 0xF {
            break;
        }
        let offset_py = i64::from_be_bytes(u[28..36].try_into().expect("8 bytes"));
        if offset_py >= min_py {
            break;
        }
        out.push((path.clone(), offset_py));
    }
    Ok(out)
}

/// Does `root` hold any timer file?
pub fn exists(root: &Path) -> bool {
    log_dir(root).exists() || wheel_path(root).exists()
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::io(path, e)
}

impl TimerStore {
    /// Opens (creating what is missing, as the `TimerMessageStore` constructor and `load` do)
    /// and recovers the timer files of `root` (`TimerMessageStore#recover`).
    pub fn open(
        root: &Path,
        cfg: TimerConfig,
        now_ms: i64,
        src: &dyn TimerSource,
    ) -> Result<TimerStore> {
        let dir = log_dir(root);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let cfg_dir = root.join("config");
        std::fs::create_dir_all(&cfg_dir).map_err(io(&cfg_dir))?;
        let wp = wheel_path(root);
        let wheel = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&wp)
            .map_err(io(&wp))?;
        let len = wheel.metadata().map_err(io(&wp))?.len();
        if len != 0 && len != WHEEL_LEN {
            return Err(StoreError::BadFile {
                path: wp,
                what: format!("timer wheel length {len} != expected {WHEEL_LEN}"),
            });
        }
        if len == 0 {
            wheel.set_len(WHEEL_LEN).map_err(io(&wp))?;
        }
        let mut slots = vec![0u8; WHEEL_LEN as usize];
        wheel.read_exact_at(&mut slots, 0).map_err(io(&wp))?;
        let mut segments = Vec::new();
        for (start, path) in super::numbered_files(&dir)? {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io(&path))?;
            let l = f.metadata().map_err(io(&path))?.len();
            if l != cfg.log_file_size || start % cfg.log_file_size != 0 {
                return Err(StoreError::BadFile {
                    path,
                    what: format!(
                        "timer-log segment of {l} bytes at {start}; mappedFileSizeTimerLog is {}",
                        cfg.log_file_size
                    ),
                });
            }
            segments.push((start, f));
        }
        let cp = super::timer::read_checkpoint(root)?;
        let metrics = super::timer::read_metrics(root)?;
        let mut t = TimerStore {
            root: root.to_path_buf(),
            cfg,
            segments,
            end: 0,
            dirty_from: None,
            wheel,
            slots,
            wheel_dirty: false,
            queue_offset: 0,
            write_time_ms: 0,
            read_time_ms: 0,
            cp_version: DataVersion::default(),
            last_commit: (0, 0),
            metrics: BTreeMap::new(),
            metrics_version: DataVersion::default(),
            metrics_dirty: false,
        };
        if let Some(m) = metrics {
            for (topic, c) in &m.timing_count {
                t.metrics.insert(topic.clone(), (c.count, c.time_stamp));
            }
            let g = |k: &str| m.data_version.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
            t.metrics_version = DataVersion {
                state_version: g("stateVersion"),
                timestamp: g("timestamp"),
                counter: g("counter"),
            };
        }
        let cp = cp.unwrap_or(super::timer::TimerCheckpoint {
            last_read_time_ms: 0,
            last_timer_log_flush_pos: 0,
            last_timer_queue_offset: 0,
            master_timer_queue_offset: 0,
            state_version: 0,
            timestamp: 0,
            counter: 0,
        });
        t.cp_version = DataVersion {
            state_version: cp.state_version,
            timestamp: cp.timestamp,
            counter: cp.counter,
        };
        t.recover(&cp, now_ms, src)?;
        Ok(t)
    }

    /// The timer-log cleanup ([`expired_log_files`]): deletes those segments. Returns them.
    pub fn delete_expired(&mut self, min_py: i64) -> Result<Vec<PathBuf>> {
        let expired = expired_log_files(&self.root, self.cfg.log_file_size, min_py)?;
        let mut deleted = Vec::new();
        for (path, _) in expired {
            // Only the first segment, never the one being written.
            if self.segments.len() < 2
                || log_dir(&self.root).join(format!("{:020}", self.segments[0].0)) != path
            {
                break;
            }
            std::fs::remove_file(&path).map_err(io(&path))?;
            self.segments.remove(0);
            deleted.push(path);
        }
        Ok(deleted)
    }

    /// `TimerMessageStore#recover`.
    fn recover(
        &mut self,
        cp: &super::timer::TimerCheckpoint,
        now_ms: i64,
        src: &dyn TimerSource,
    ) -> Result<()> {
        let mut begin = cp.last_timer_log_flush_pos;
        if !self.segments.is_empty() {
            begin -= self.cfg.log_file_size as i64;
        }
        let process = self.recover_and_revise(begin.max(0) as u64, true)?;
        self.end = process;
        let revised = self.revise_queue_offset(process as i64, src);
        let mut q = match revised {
            Some(o) => o + 1,
            None => cp.last_timer_queue_offset,
        };
        q = q.min(cp.master_timer_queue_offset);
        let (min, max) = src.cq_range();
        let q = (q.max(0) as u64).clamp(min, max.max(min));
        self.queue_offset = q;
        let p = self.cfg.precision_ms;
        let floor =
            self.cfg.format_time(now_ms) - SLOTS_TOTAL as i64 * p + TIMER_BLANK_SLOTS * p;
        self.read_time_ms = cp.last_read_time_ms.max(floor);
        let min_first = self.check_phy_pos(self.read_time_ms, process as i64);
        if min_first < process as i64 {
            self.recover_and_revise(min_first.max(0) as u64, false)?;
        }
        self.last_commit = (self.read_time_ms, self.queue_offset);
        self.write_time_ms = self.cfg.format_time(now_ms);
        Ok(())
    }

    fn segment_for(&self, pos: u64) -> Option<usize> {
        self.segments
            .iter()
            .rposition(|(s, _)| *s <= pos && pos < s + self.cfg.log_file_size)
    }

    /// `recoverAndRevise`: scans the log from the segment holding `begin` and revises each
    /// unit's slot; with `check`, stops at the first unit with a wrong size or magic, cuts the
    /// log there (later segments deleted, the rest of that segment zeroed) and returns it.
    fn recover_and_revise(&mut self, begin: u64, check: bool) -> Result<u64> {
        if self.segments.is_empty() {
            return Ok(0);
        }
        let mut index = self
            .segments
            .iter()
            .rposition(|(s, _)| begin >= *s)
            .unwrap_or(0);
        let mut check_offset = self.segments[index].0;
        let fsize = self.cfg.log_file_size;
        while index < self.segments.len() {
            let (start, ref f) = self.segments[index];
            let limit = if check {
                fsize
            } else {
                self.end.saturating_sub(start).min(fsize)
            };
            let mut buf = vec![0u8; limit as usize];
            let path = log_dir(&self.root).join(format!("{start:020}"));
            f.read_exact_at(&mut buf, 0).map_err(io(&path))?;
            let mut pos = 0usize;
            let mut stop = false;
            while pos < buf.len() {
                let (Some(size), Some(magic)) = (get_i32(&buf, pos), get_i32(&buf, pos + 12))
                else {
                    stop = true;
                    break;
                };
                if magic == BLANK_MAGIC {
                    break;
                }
                if check && (!is_magic_ok(magic) || size as usize != UNIT_SIZE) {
                    stop = true;
                    break;
                }
                let (Some(wt), Some(delay)) = (get_i64(&buf, pos + 16), get_i32(&buf, pos + 24))
                else {
                    stop = true;
                    break;
                };
                if size as usize == UNIT_SIZE && is_magic_ok(magic) {
                    self.revise_slot(wt + i64::from(delay), start as i64 + pos as i64);
                }
                pos += UNIT_SIZE;
            }
            check_offset = start + pos as u64;
            if stop {
                break;
            }
            index += 1;
        }
        if check {
            self.truncate_dirty(check_offset)?;
        }
        Ok(check_offset)
    }

    /// `MappedFileQueue#truncateDirtyFiles`: segments after `offset` are deleted; the rest of
    /// the one holding it is zeroed (Java leaves the bytes, which its next append overwrites).
    fn truncate_dirty(&mut self, offset: u64) -> Result<()> {
        let fsize = self.cfg.log_file_size;
        let dir = log_dir(&self.root);
        while let Some((start, _)) = self.segments.last() {
            if *start > offset {
                let (start, f) = self.segments.pop().expect("last");
                drop(f);
                let p = dir.join(format!("{start:020}"));
                std::fs::remove_file(&p).map_err(io(&p))?;
            } else {
                break;
            }
        }
        if let Some(i) = self.segment_for(offset) {
            let (start, ref f) = self.segments[i];
            let rel = offset - start;
            let p = dir.join(format!("{start:020}"));
            let mut tail = vec![0u8; (fsize - rel) as usize];
            f.read_exact_at(&mut tail, rel).map_err(io(&p))?;
            if tail.iter().any(|b| *b != 0) {
                tail.fill(0);
                f.write_all_at(&tail, rel).map_err(io(&p))?;
                f.sync_data().map_err(io(&p))?;
            }
        }
        Ok(())
    }

    fn slot_at(&self, time_ms: i64) -> usize {
        (time_ms / self.cfg.precision_ms).rem_euclid(SLOTS_TOTAL as i64 * 2) as usize * SLOT_SIZE
    }

    /// `TimerWheel#reviseSlot(timeMs, IGNORE, lastPos, true)`.
    fn revise_slot(&mut self, time_ms: i64, last_pos: i64) {
        let at = self.slot_at(time_ms);
        let units = time_ms / self.cfg.precision_ms;
        let s = &mut self.slots[at..at + SLOT_SIZE];
        if get_i64(s, 0) != Some(units) {
            s[0..8].copy_from_slice(&units.to_be_bytes());
            s[8..16].copy_from_slice(&last_pos.to_be_bytes());
        }
        s[16..24].copy_from_slice(&last_pos.to_be_bytes());
        self.wheel_dirty = true;
    }

    /// `TimerWheel#checkPhyPos`: the smallest first position of a slot in the window from
    /// `start_ms` whose last position is beyond `max_offset`.
    fn check_phy_pos(&self, start_ms: i64, max_offset: i64) -> i64 {
        let p = self.cfg.precision_ms;
        let total = SLOTS_TOTAL as i64 * 2;
        let first = (start_ms / p).rem_euclid(total);
        let mut min_first = i64::MAX;
        for i in 0..total {
            let at = ((first + i) % total) as usize * SLOT_SIZE;
            let s = &self.slots[at..at + SLOT_SIZE];
            if (start_ms + i * p) / p != get_i64(s, 0).unwrap_or_default() {
                continue;
            }
            let (f, l) = (
                get_i64(s, 8).unwrap_or_default(),
                get_i64(s, 16).unwrap_or_default(),
            );
            if l > max_offset && f < min_first {
                min_first = f;
            }
        }
        min_first
    }

    /// `reviseQueueOffset`: the timer-queue offset of the message of the unit that ends at
    /// `process`, checked against the queue (searching down, as Java does, up to 20,000
    /// units); `None` when there is no unit or message there.
    fn revise_queue_offset(&self, process: i64, src: &dyn TimerSource) -> Option<i64> {
        let at = process - (UNIT_SIZE as i64 - UNIT_PRE_SIZE_FOR_MSG);
        if at < 0 {
            return None;
        }
        let i = self.segment_for(at as u64)?;
        let (start, ref f) = self.segments[i];
        let mut b = [0u8; 12];
        f.read_exact_at(&mut b, at as u64 - start).ok()?;
        let (offset_py, size_py) = (get_i64(&b, 0)?, get_i32(&b, 8)?);
        let (msg_q, _) = src.message(offset_py, size_py)?;
        let mut tmp = msg_q;
        for _ in 0..20_000 {
            if tmp < 0 {
                break;
            }
            match src.cq_unit(tmp as u64) {
                Some((o, s)) if o == offset_py && s == size_py => return Some(tmp),
                _ => tmp -= 1,
            }
        }
        Some(msg_q)
    }

    /// The next timer-queue offset to enqueue.
    #[cfg(feature = "internals")]
    pub fn queue_offset(&self) -> u64 {
        self.queue_offset
    }

    /// One past the last unit of the log.
    #[cfg(feature = "internals")]
    pub fn log_end(&self) -> u64 {
        self.end
    }

    /// `TimerMessageStore#enqueue(0)` run to the end of the timer queue, each message through
    /// `doEnqueue` with the write time `formatTimeMs(now)` (`maybeMoveWriteTime`). Returns the
    /// number of units appended. A message whose `TIMER_OUT_MS` is not a number stops it (Java
    /// retries such a message forever).
    pub fn catch_up(&mut self, src: &dyn TimerSource, now_ms: i64) -> Result<u64> {
        let wt = self.cfg.format_time(now_ms);
        if self.write_time_ms < wt {
            self.write_time_ms = wt;
        }
        let (min, max) = src.cq_range();
        if self.queue_offset < min {
            self.queue_offset = min;
        }
        let mut n = 0;
        while self.queue_offset < max {
            let q = self.queue_offset;
            let Some((offset_py, size_py)) = src.cq_unit(q) else {
                break;
            };
            if let Some((_, props)) = src.message(offset_py, size_py) {
                let p = props.as_bytes();
                let out = properties::get(p, PROPERTY_TIMER_OUT_MS)
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .ok_or_else(|| {
                        StoreError::Invalid(format!(
                            "timer message at commitlog offset {offset_py} (timer queue offset \
                             {q}) has no numeric {PROPERTY_TIMER_OUT_MS}"
                        ))
                    })?;
                let real = properties::get(p, PROPERTY_REAL_TOPIC).map(|v| v.into_owned());
                let delete = properties::get(p, PROPERTY_TIMER_DEL_UNIQKEY).is_some();
                let no_metric = properties::get(p, PROPERTY_TIMER_ENQUEUE_MS)
                    .is_some_and(|v| v.trim() == i64::MAX.to_string());
                self.do_enqueue(offset_py, size_py, out, real.as_deref(), delete, no_metric, now_ms)?;
                n += 1;
            }
            self.queue_offset = q + 1;
        }
        Ok(n)
    }

    /// `TimerMessageStore#doEnqueue`.
    #[allow(clippy::too_many_arguments)]
    pub fn do_enqueue(
        &mut self,
        offset_py: i64,
        size_py: i32,
        mut delayed_time: i64,
        real_topic: Option<&str>,
        delete: bool,
        no_metric: bool,
        now_ms: i64,
    ) -> Result<i64> {
        let p = self.cfg.precision_ms;
        let rw = self.cfg.roll_window_slots();
        let wt = self.write_time_ms;
        let mut magic = 1;
        if delayed_time - wt >= rw * p {
            magic |= MAGIC_ROLL;
            if delayed_time - wt - rw * p < rw / 3 * p {
                delayed_time = wt + rw / 2 * p;
            } else {
                delayed_time = wt + rw * p;
            }
        }
        if delete {
            magic |= MAGIC_DELETE;
        }
        // getSlot: a slot of another time reads as (-1, -1, -1, num 0, magic 0).
        let at = self.slot_at(delayed_time);
        let s = &self.slots[at..at + SLOT_SIZE];
        let (first, last, num, smagic) = if get_i64(s, 0) == Some(delayed_time / p) {
            (
                get_i64(s, 8).unwrap_or_default(),
                get_i64(s, 16).unwrap_or_default(),
                get_i32(s, 24).unwrap_or_default(),
                get_i32(s, 28).unwrap_or_default(),
            )
        } else {
            (-1, -1, 0, 0)
        };
        let mut unit = [0u8; UNIT_SIZE];
        unit[0..4].copy_from_slice(&(UNIT_SIZE as i32).to_be_bytes());
        unit[4..12].copy_from_slice(&last.to_be_bytes());
        unit[12..16].copy_from_slice(&magic.to_be_bytes());
        unit[16..24].copy_from_slice(&wt.to_be_bytes());
        unit[24..28].copy_from_slice(&((delayed_time - wt) as i32).to_be_bytes());
        unit[28..36].copy_from_slice(&offset_py.to_be_bytes());
        unit[36..40].copy_from_slice(&size_py.to_be_bytes());
        let hash = real_topic.map(java_string_hash).unwrap_or(0);
        unit[40..44].copy_from_slice(&hash.to_be_bytes());
        let ret = self.append(&unit)? as i64;
        let num = if delete {
            num.wrapping_sub(1)
        } else {
            num.wrapping_add(1)
        };
        let first = if first == -1 { ret } else { first };
        let s = &mut self.slots[at..at + SLOT_SIZE];
        s[0..8].copy_from_slice(&(delayed_time / p).to_be_bytes());
        s[8..16].copy_from_slice(&first.to_be_bytes());
        s[16..24].copy_from_slice(&ret.to_be_bytes());
        s[24..28].copy_from_slice(&num.to_be_bytes());
        s[28..32].copy_from_slice(&smagic.to_be_bytes());
        let path = wheel_path(&self.root);
        self.wheel
            .write_all_at(&self.slots[at..at + SLOT_SIZE], at as u64)
            .map_err(io(&path))?;
        if let (Some(topic), false) = (real_topic, no_metric) {
            self.metrics_version.next(now_ms);
            let e = self.metrics.entry(topic.to_string()).or_insert((0, now_ms));
            e.1 = now_ms;
            e.0 += if delete { -1 } else { 1 };
            self.metrics_dirty = true;
        }
        Ok(ret)
    }

    /// `TimerLog#append`: a segment that cannot take the unit and a 16-byte blank gets the
    /// blank (`i32 size-to-end | i64 0 | i32 BLANK_MAGIC`) and the unit goes to a new segment.
    fn append(&mut self, unit: &[u8; UNIT_SIZE]) -> Result<u64> {
        let fsize = self.cfg.log_file_size;
        let dir = log_dir(&self.root);
        let mut rel = self.end % fsize;
        let mut need_new = self.segment_for(self.end).is_none();
        if !need_new && UNIT_SIZE as u64 + MIN_BLANK_LEN > fsize - rel {
            let i = self.segment_for(self.end).expect("segment");
            let (start, ref f) = self.segments[i];
            let mut blank = [0u8; 16];
            blank[0..4].copy_from_slice(&((fsize - rel) as i32).to_be_bytes());
            blank[12..16].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
            let p = dir.join(format!("{start:020}"));
            f.write_all_at(&blank, rel).map_err(io(&p))?;
            self.dirty_from.get_or_insert(self.end);
            self.end = start + fsize;
            rel = 0;
            need_new = true;
        }
        if need_new {
            let start = self.end - rel;
            let p = dir.join(format!("{start:020}"));
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&p)
                .map_err(io(&p))?;
            f.set_len(fsize).map_err(io(&p))?;
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(io(&dir))?;
            self.segments.push((start, f));
        }
        let i = self.segment_for(self.end).expect("segment");
        let (start, ref f) = self.segments[i];
        let p = dir.join(format!("{start:020}"));
        f.write_all_at(unit, self.end - start).map_err(io(&p))?;
        let at = self.end;
        self.dirty_from.get_or_insert(at);
        self.end += UNIT_SIZE as u64;
        Ok(at)
    }

    /// The timer flush service's round, durably and in this order: the log, the wheel, the
    /// checkpoint (`lastTimerLogFlushPos` = the log end just made durable; the queue offsets =
    /// the next offset to enqueue, as a master writes them; `dataVersion` bumped when they
    /// moved), then `timermetrics` (`.bak` of the previous, written through `.tmp`).
    pub fn flush(&mut self, now_ms: i64) -> Result<()> {
        if let Some(from) = self.dirty_from.take() {
            let dir = log_dir(&self.root);
            for (start, f) in &self.segments {
                if start + self.cfg.log_file_size > from {
                    f.sync_data()
                        .map_err(io(&dir.join(format!("{start:020}"))))?;
                }
            }
        }
        if self.wheel_dirty {
            // Recovery's revisions are in memory only until here.
            let path = wheel_path(&self.root);
            self.wheel.write_all_at(&self.slots, 0).map_err(io(&path))?;
            self.wheel_dirty = false;
        }
        let wp = wheel_path(&self.root);
        self.wheel.sync_data().map_err(io(&wp))?;
        let commit = (self.read_time_ms, self.queue_offset);
        if commit != self.last_commit {
            self.cp_version.next(now_ms);
            self.last_commit = commit;
        }
        self.write_checkpoint()?;
        if self.metrics_dirty {
            self.persist_metrics()?;
            self.metrics_dirty = false;
        }
        Ok(())
    }

    fn write_checkpoint(&self) -> Result<()> {
        let path = check_path(&self.root);
        let mut page = vec![0u8; 4096];
        let q = self.queue_offset as i64;
        let vals = [
            self.read_time_ms,
            self.end as i64,
            q,
            q,
            self.cp_version.state_version,
            self.cp_version.timestamp,
            self.cp_version.counter,
        ];
        for (i, v) in vals.iter().enumerate() {
            page[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
        }
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        // Only the 56 bytes Java writes; the rest of its page stays as it is.
        f.set_len(f.metadata().map_err(io(&path))?.len().max(4096))
            .map_err(io(&path))?;
        f.write_all_at(&page[..56], 0).map_err(io(&path))?;
        f.sync_data().map_err(io(&path))
    }

    /// `TimerMetrics#encode` as fastjson writes it (keys sorted, `BrowserCompatible`; topics in
    /// name order, where Java's `ConcurrentHashMap` has its own order for several topics).
    pub fn metrics_json(&self) -> String {
        let mut s = format!(
            "{{\"dataVersion\":{{\"counter\":{},\"stateVersion\":{},\"timestamp\":{}}},\"timingCount\":{{",
            self.metrics_version.counter,
            self.metrics_version.state_version,
            self.metrics_version.timestamp
        );
        for (i, (topic, (count, ts))) in self.metrics.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('"');
            for c in topic.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        for u in c.encode_utf16(&mut [0u16; 2]) {
                            s.push_str(&format!("\\u{:04X}", u));
                        }
                    }
                    c => s.push(c),
                }
            }
            s.push_str(&format!("\":{{\"count\":{count},\"timeStamp\":{ts}}}"));
        }
        s.push_str("}}");
        s
    }

    fn persist_metrics(&self) -> Result<()> {
        let path = metrics_path(&self.root);
        let tmp = path.with_file_name("timermetrics.tmp");
        let bak = path.with_file_name("timermetrics.bak");
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(self.metrics_json().as_bytes())
            .map_err(io(&tmp))?;
        f.sync_data().map_err(io(&tmp))?;
        if path.exists() {
            std::fs::copy(&path, &bak).map_err(io(&bak))?;
        }
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        let dir = root_config(&self.root);
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&dir))
    }
}

fn root_config(root: &Path) -> PathBuf {
    root.join("config")
}
