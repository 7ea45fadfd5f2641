//! 5.x timer messages (Java: `org.apache.rocketmq.store.timer`).
//!
//! * `timerlog/`: segments (default 100 MiB) of 52-byte units, appended as the timer store
//!   enqueues messages of `rmq_sys_wheel_timer`; a unit links to the previous unit of the same
//!   wheel slot. A segment that cannot hold another unit plus a 16-byte blank ends with the blank
//!   (`i32 size-to-end | i64 0 | i32 BLANK_MAGIC`).
//! * `timerwheel`: 604,800 × 2 slots of 32 bytes (`i64 time/precision | i64 firstPos |
//!   i64 lastPos | i32 num | i32 magic`), indexed by `time / precisionMs % (2 × 604,800)`.
//! * `config/timercheck`: a 4096-byte page whose first 56 bytes are seven i64
//!   (`TimerCheckpoint`).
//! * `config/timermetrics`: JSON, pending timers per real topic (`TimerMetrics`).

use std::path::{Path, PathBuf};

use super::{numbered_files, read_all};
use crate::error::{Result, StoreError};
use crate::format::{get_i32, get_i64, FormatError, Problem};

/// The system topic timer messages are stored under until they are due.
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
/// Size of a timer-log unit.
pub const UNIT_SIZE: usize = 52;
/// `TimerLog.BLANK_MAGIC_CODE` = `0xBBCCDDEE ^ 1880681586 + 8` (Java: `+` binds first), which
/// is `0xCBD43194`, the commitlog's blank magic.
pub const BLANK_MAGIC: i32 = (0xBBCC_DDEE_u32 as i32) ^ (1_880_681_586 + 8);
/// Unit magic bits (`TimerMessageStore.MAGIC_*`).
#[cfg(test)]
pub const MAGIC_DEFAULT: i32 = 1;
pub const MAGIC_ROLL: i32 = 1 << 1;
pub const MAGIC_DELETE: i32 = 1 << 2;
/// Slots in the wheel: `TIMER_WHEEL_TTL_DAY (7) × DAY_SECS`; the file holds twice as many.
pub const SLOTS_TOTAL: u64 = 7 * 86_400;
/// Size of one wheel slot.
pub const SLOT_SIZE: usize = 32;
/// Size of the `timerwheel` file.
pub const WHEEL_LEN: u64 = SLOTS_TOTAL * 2 * SLOT_SIZE as u64;
/// Java's default `timerPrecisionMs`.
#[cfg(feature = "internals")]
pub const DEFAULT_PRECISION_MS: i64 = 1000;

/// `TimerMessageStore#isMagicOK`.
pub fn is_magic_ok(magic: i32) -> bool {
    (magic | 0xF) == 0xF
}

/// One timer-log unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerLogUnit {
    pub size: i32,
    /// Position of the previous unit of the same slot, -1 for the slot's first.
    pub prev_pos: i64,
    pub magic: i32,
    /// The timer store's write time (a slot time) when the unit was appended.
    pub curr_write_time_ms: i64,
    /// Deliver time minus `curr_write_time_ms`.
    pub delay_time_ms: i32,
    /// The message in the commitlog (its `rmq_sys_wheel_timer` record).
    pub offset_py: i64,
    pub size_py: i32,
    /// `hashTopicForMetrics(REAL_TOPIC)`: Java's `String.hashCode` of the real topic.
    pub hash_code_of_real_topic: i32,
    pub reserved: i64,
}

impl TimerLogUnit {
    pub fn decode(buf: &[u8]) -> Result<TimerLogUnit, FormatError> {
        if buf.len() < UNIT_SIZE {
            return Err(FormatError::new(
                0,
                Problem::Truncated {
                    what: "timer-log unit",
                    need: UNIT_SIZE as u64,
                    have: buf.len() as u64,
                },
            ));
        }
        Ok(TimerLogUnit {
            size: get_i32(buf, 0).unwrap_or_default(),
            prev_pos: get_i64(buf, 4).unwrap_or_default(),
            magic: get_i32(buf, 12).unwrap_or_default(),
            curr_write_time_ms: get_i64(buf, 16).unwrap_or_default(),
            delay_time_ms: get_i32(buf, 24).unwrap_or_default(),
            offset_py: get_i64(buf, 28).unwrap_or_default(),
            size_py: get_i32(buf, 36).unwrap_or_default(),
            hash_code_of_real_topic: get_i32(buf, 40).unwrap_or_default(),
            reserved: get_i64(buf, 44).unwrap_or_default(),
        })
    }

    /// The 52 bytes `TimerMessageStore#doEnqueue` appends.
    #[cfg(feature = "internals")]
    pub fn encode(&self) -> [u8; UNIT_SIZE] {
        let mut b = [0u8; UNIT_SIZE];
        b[0..4].copy_from_slice(&self.size.to_be_bytes());
        b[4..12].copy_from_slice(&self.prev_pos.to_be_bytes());
        b[12..16].copy_from_slice(&self.magic.to_be_bytes());
        b[16..24].copy_from_slice(&self.curr_write_time_ms.to_be_bytes());
        b[24..28].copy_from_slice(&self.delay_time_ms.to_be_bytes());
        b[28..36].copy_from_slice(&self.offset_py.to_be_bytes());
        b[36..40].copy_from_slice(&self.size_py.to_be_bytes());
        b[40..44].copy_from_slice(&self.hash_code_of_real_topic.to_be_bytes());
        b[44..52].copy_from_slice(&self.reserved.to_be_bytes());
        b
    }

    /// The time the message is due (`currWriteTime + delayTime`); for a MAGIC_ROLL unit, the
    /// time it is rolled into the wheel again.
    pub fn deliver_time_ms(&self) -> i64 {
        self.curr_write_time_ms + i64::from(self.delay_time_ms)
    }
    pub fn is_roll(&self) -> bool {
        self.magic & MAGIC_ROLL != 0
    }
    pub fn is_delete(&self) -> bool {
        self.magic & MAGIC_DELETE != 0
    }
}

/// Java's `String.hashCode` over UTF-16 code units (`TimerMessageStore#hashTopicForMetrics`).
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The timer log as it is on disk.
#[derive(Debug, Clone, Default)]
pub struct TimerLog {
    pub file_size: u64,
    pub files: Vec<(u64, PathBuf)>,
    /// Every unit with its global position (segment start + position in it).
    pub units: Vec<(i64, TimerLogUnit)>,
    /// One past the last unit (where the next append goes).
    pub end: i64,
}

impl TimerLog {
    /// The unit at global position `pos`, if one was read there.
    pub fn unit_at(&self, pos: i64) -> Option<&TimerLogUnit> {
        self.units
            .binary_search_by_key(&pos, |(p, _)| *p)
            .ok()
            .map(|i| &self.units[i].1)
    }
}

/// Reads `root/timerlog/`: every segment from its start, unit by unit, until a blank (skip to
/// the next segment) or a position that holds no unit (size 0: the end of what was written).
/// A unit with a wrong size or magic is corruption, named by file and offset.
pub fn read_log(root: &Path) -> Result<Option<TimerLog>> {
    let dir = root.join("timerlog");
    if !dir.exists() {
        return Ok(None);
    }
    let files = numbered_files(&dir)?;
    let mut log = TimerLog {
        files: files.clone(),
        ..TimerLog::default()
    };
    let mut ended = false;
    for (start, path) in &files {
        let bytes = read_all(path)?;
        let len = bytes.len() as u64;
        if log.file_size == 0 {
            log.file_size = len;
        } else if len != log.file_size {
            return Err(StoreError::BadFile {
                path: path.clone(),
                what: format!(
                    "length {len} differs from the first timer-log file ({})",
                    log.file_size
                ),
            });
        }
        if len == 0 || start % len != 0 {
            return Err(StoreError::BadFile {
                path: path.clone(),
                what: format!("name {start} is not a multiple of the file length {len}"),
            });
        }
        let mut pos = 0usize;
        while pos < bytes.len() {
            let size = get_i32(&bytes, pos);
            let magic = get_i32(&bytes, pos + 12);
            match (size, magic) {
                (Some(0), _) | (None, _) => {
                    ended = true;
                    break;
                }
                (Some(s), Some(BLANK_MAGIC)) => {
                    if s as usize != bytes.len() - pos {
                        return Err(StoreError::corrupt(
                            path,
                            pos as u64,
                            FormatError::new(
                                0,
                                Problem::Invalid(format!(
                                    "timer-log blank says {s} bytes to the file end, {} remain",
                                    bytes.len() - pos
                                )),
                            ),
                        ));
                    }
                    pos = bytes.len();
                }
                (Some(s), m) => {
                    if ended {
                        return Err(StoreError::BadFile {
                            path: path.clone(),
                            what: "has units after the end of an earlier timer-log file".into(),
                        });
                    }
                    let unit = TimerLogUnit::decode(&bytes[pos..])
                        .map_err(|e| StoreError::corrupt(path, pos as u64, e))?;
                    if s as usize != UNIT_SIZE || !m.is_some_and(is_magic_ok) {
                        return Err(StoreError::corrupt(
                            path,
                            pos as u64,
                            FormatError::new(
                                0,
                                Problem::Invalid(format!(
                                    "timer-log unit with size {s} and magic {:#x} (expected size 52 and magic bits 0..=0xF)",
                                    m.unwrap_or_default()
                                )),
                            ),
                        ));
                    }
                    log.units.push((*start as i64 + pos as i64, unit));
                    pos += UNIT_SIZE;
                    log.end = *start as i64 + pos as i64;
                }
            }
        }
        if pos >= bytes.len() && !ended {
            log.end = (*start + len) as i64;
        }
    }
    Ok(Some(log))
}

/// One wheel slot as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub index: u64,
    /// The stored time divided by the precision (Java stores `timeMs / precisionMs`).
    pub time_units: i64,
    pub first_pos: i64,
    pub last_pos: i64,
    pub num: i32,
    pub magic: i32,
}

impl Slot {
    #[cfg(feature = "internals")]
    pub fn time_ms(&self, precision_ms: i64) -> i64 {
        self.time_units.wrapping_mul(precision_ms)
    }
    /// A slot Java never wrote (all 32 bytes zero).
    #[cfg(feature = "internals")]
    pub fn is_empty(&self) -> bool {
        self.time_units == 0
            && self.first_pos == 0
            && self.last_pos == 0
            && self.num == 0
            && self.magic == 0
    }
}

/// The slots of `root/timerwheel` that are in use (not all zero), by index; `None` when there is
/// no wheel. The file must be exactly [`WHEEL_LEN`] bytes (Java refuses any other length).
pub fn read_wheel(root: &Path) -> Result<Option<Vec<Slot>>> {
    let path = root.join("timerwheel");
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_all(&path)?;
    if bytes.len() as u64 != WHEEL_LEN {
        return Err(StoreError::BadFile {
            path,
            what: format!("timer wheel length {} != expected {WHEEL_LEN}", bytes.len()),
        });
    }
    Ok(Some(decode_wheel(&bytes)))
}

/// The used slots of a wheel's bytes.
pub fn decode_wheel(bytes: &[u8]) -> Vec<Slot> {
    let mut out = Vec::new();
    for (i, s) in bytes.chunks_exact(SLOT_SIZE).enumerate() {
        if s.iter().all(|b| *b == 0) {
            continue;
        }
        out.push(Slot {
            index: i as u64,
            time_units: get_i64(s, 0).unwrap_or_default(),
            first_pos: get_i64(s, 8).unwrap_or_default(),
            last_pos: get_i64(s, 16).unwrap_or_default(),
            num: get_i32(s, 24).unwrap_or_default(),
            magic: get_i32(s, 28).unwrap_or_default(),
        });
    }
    out
}

/// `TimerWheel#getSlotIndex`.
#[cfg(feature = "internals")]
pub fn slot_index(time_ms: i64, precision_ms: i64) -> u64 {
    ((time_ms / precision_ms) % (SLOTS_TOTAL as i64 * 2)) as u64
}

/// A slot's chain: from `last_pos` back through `prev_pos` to `first_pos`, newest first, as
/// the dequeue reads it. Errors if a link points at no unit, or the chain does not reach
/// `first_pos` within the log's unit count.
pub fn slot_chain<'a>(
    log: &'a TimerLog,
    slot: &Slot,
) -> std::result::Result<Vec<(i64, &'a TimerLogUnit)>, String> {
    let mut out = Vec::new();
    let mut pos = slot.last_pos;
    for _ in 0..=log.units.len() {
        let unit = log.unit_at(pos).ok_or_else(|| {
            format!(
                "slot {} links to timer-log position {pos}, which holds no unit",
                slot.index
            )
        })?;
        out.push((pos, unit));
        if pos == slot.first_pos {
            return Ok(out);
        }
        pos = unit.prev_pos;
    }
    Err(format!(
        "slot {}: chain does not reach firstPos {}",
        slot.index, slot.first_pos
    ))
}

/// `config/timercheck` (`TimerCheckpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerCheckpoint {
    /// `lastReadTimeMs`.
    pub last_read_time_ms: i64,
    /// `lastTimerLogFlushPos`.
    pub last_timer_log_flush_pos: i64,
    /// `lastTimerQueueOffset`.
    pub last_timer_queue_offset: i64,
    /// `masterTimerQueueOffset`.
    pub master_timer_queue_offset: i64,
    /// `dataVersion.stateVersion`.
    pub state_version: i64,
    /// `dataVersion.timestamp`.
    pub timestamp: i64,
    /// `dataVersion.counter`.
    pub counter: i64,
}

impl TimerCheckpoint {
    /// Decodes the 56 bytes of `config/timercheck`.
    pub fn decode(buf: &[u8]) -> Result<TimerCheckpoint, FormatError> {
        let g = |p: usize| {
            get_i64(buf, p).ok_or_else(|| {
                FormatError::new(
                    p as u64,
                    Problem::Truncated {
                        what: "timer checkpoint",
                        need: 56,
                        have: buf.len() as u64,
                    },
                )
            })
        };
        Ok(TimerCheckpoint {
            last_read_time_ms: g(0)?,
            last_timer_log_flush_pos: g(8)?,
            last_timer_queue_offset: g(16)?,
            master_timer_queue_offset: g(24)?,
            state_version: g(32)?,
            timestamp: g(40)?,
            counter: g(48)?,
        })
    }
}

/// Reads `root/config/timercheck`, if present.
pub fn read_checkpoint(root: &Path) -> Result<Option<TimerCheckpoint>> {
    let path = root.join("config").join("timercheck");
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_all(&path)?;
    TimerCheckpoint::decode(&bytes)
        .map(Some)
        .map_err(|e| StoreError::corrupt(&path, 0, e))
}

/// `config/timermetrics`: pending timers per real topic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct TimerMetrics {
    #[serde(rename = "dataVersion")]
    pub data_version: serde_json::Value,
    #[serde(rename = "timingCount", default)]
    pub timing_count: std::collections::BTreeMap<String, TimingCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct TimingCount {
    pub count: i64,
    #[serde(rename = "timeStamp")]
    pub time_stamp: i64,
}

/// Reads `root/config/timermetrics`, if present.
pub fn read_metrics(root: &Path) -> Result<Option<TimerMetrics>> {
    let path = root.join("config").join("timermetrics");
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_all(&path)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StoreError::BadFile {
            path,
            what: format!("timer metrics are not the JSON Java writes: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_java() {
        // 0xBBCCDDEE ^ 1880681594, as Java computes it: the commitlog's blank magic.
        assert_eq!(BLANK_MAGIC as u32, 0xCBD4_3194);
        assert_eq!(WHEEL_LEN, 38_707_200);
        assert_eq!(
            java_string_hash("TimerUser"),
            "TimerUser"
                .chars()
                .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
        );
        assert!(is_magic_ok(3) && is_magic_ok(5) && !is_magic_ok(0x10));
    }

    #[test]
    fn unit_round_trips() {
        let u = TimerLogUnit {
            size: 52,
            prev_pos: -1,
            magic: MAGIC_DEFAULT | MAGIC_ROLL,
            curr_write_time_ms: 1_796_234_950_000,
            delay_time_ms: 86_400_000,
            offset_py: 6770,
            size_py: 337,
            hash_code_of_real_topic: java_string_hash("TimerUser"),
            reserved: 0,
        };
        assert_eq!(TimerLogUnit::decode(&u.encode()).unwrap(), u);
        assert!(u.is_roll() && !u.is_delete());
        assert_eq!(u.deliver_time_ms(), 1_796_321_350_000);
        assert!(TimerLogUnit::decode(&u.encode()[..51]).is_err());
    }
}
