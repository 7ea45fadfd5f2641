//! The 20-byte consume-queue unit and the tagsCode rules.

use super::hash::tags_code;
use super::properties::StoreProperties;
use super::record::{sysflag, MessageRecord};
use super::{get_i32, get_i64, FormatError, Problem};

/// Size of one consume-queue unit.
pub const CQ_UNIT_SIZE: usize = 20;

/// The schedule topic that delayed messages are stored under.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// One consume-queue unit: where a message is in the commitlog, and its tagsCode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CqUnit {
    pub commitlog_offset: i64,
    pub size: i32,
    pub tags_code: i64,
}

impl CqUnit {
    /// The filler unit `fillPreBlank` writes before a queue's first real unit when the queue's
    /// first file starts above offset 0.
    pub const PRE_BLANK: CqUnit = CqUnit {
        commitlog_offset: 0,
        size: i32::MAX,
        tags_code: 0,
    };

    pub fn encode(&self) -> [u8; CQ_UNIT_SIZE] {
        let mut b = [0u8; CQ_UNIT_SIZE];
        b[0..8].copy_from_slice(&self.commitlog_offset.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..20].copy_from_slice(&self.tags_code.to_be_bytes());
        b
    }

    /// Decodes the unit at the front of `buf`.
    pub fn decode(buf: &[u8]) -> Result<CqUnit, FormatError> {
        match (get_i64(buf, 0), get_i32(buf, 8), get_i64(buf, 12)) {
            (Some(commitlog_offset), Some(size), Some(tags_code)) => Ok(CqUnit {
                commitlog_offset,
                size,
                tags_code,
            }),
            _ => Err(FormatError::new(
                0,
                Problem::Truncated {
                    what: "consume-queue unit",
                    need: CQ_UNIT_SIZE as u64,
                    have: buf.len() as u64,
                },
            )),
        }
    }

    /// Java's recovery treats a unit as written when `offset >= 0 && size > 0`.
    pub fn is_valid(&self) -> bool {
        self.commitlog_offset >= 0 && self.size > 0
    }

    pub fn is_pre_blank(&self) -> bool {
        *self == CqUnit::PRE_BLANK
    }
}

/// The delay levels of `messageDelayLevel` ("1s 5s 10s ..."), in milliseconds, level 1 first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayLevels(Vec<i64>);

impl DelayLevels {
    /// The default `1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h`.
    pub const DEFAULT: &'static str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

    /// Parses a `messageDelayLevel` string: space-separated numbers with a unit s, m, h or d.
    pub fn parse(s: &str) -> Result<DelayLevels, String> {
        let mut v = Vec::new();
        for (i, item) in s.split(' ').filter(|x| !x.is_empty()).enumerate() {
            // The unit is the last character (not byte: a multi-byte one must not split).
            let cut = item.char_indices().last().map_or(0, |(i, _)| i);
            let (num, unit) = item.split_at(cut);
            let mult = match unit {
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => {
                    return Err(format!(
                        "delay level {} `{item}` has no unit s, m, h or d",
                        i + 1
                    ))
                }
            };
            let n: i64 = num
                .parse()
                .map_err(|_| format!("delay level {} `{item}` is not a number", i + 1))?;
            let ms = n
                .checked_mul(mult)
                .ok_or_else(|| format!("delay level {} `{item}` overflows", i + 1))?;
            v.push(ms);
        }
        if v.is_empty() {
            return Err("messageDelayLevel lists no level".into());
        }
        Ok(DelayLevels(v))
    }

    /// The highest delay level (the number of levels).
    pub fn max_level(&self) -> i32 {
        self.0.len() as i32
    }

    /// `ScheduleMessageService#computeDeliverTimestamp`: store time plus the level's delay, or
    /// plus one second for a level that is not configured.
    pub fn deliver_timestamp(&self, level: i32, store_timestamp: i64) -> i64 {
        match level
            .checked_sub(1)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.0.get(i))
        {
            // The store timestamp comes from disk: saturate rather than overflow.
            Some(ms) => store_timestamp.saturating_add(*ms),
            None => store_timestamp.saturating_add(1000),
        }
    }
}

impl Default for DelayLevels {
    fn default() -> Self {
        DelayLevels::parse(DelayLevels::DEFAULT).expect("default delay levels parse")
    }
}

/// The tagsCode a record's consume-queue unit carries (4.6.0 `checkMessageAndReturnSize`):
/// the delivery time for a delayed message in `SCHEDULE_TOPIC_XXXX`, else the hash of TAGS.
///
/// A DELAY property that is not an integer makes Java's check throw, so the record is not
/// dispatched at all; that is an error here too.
pub fn record_tags_code(
    record: &MessageRecord<'_>,
    props: &StoreProperties<'_>,
    delay_levels: &DelayLevels,
) -> Result<i64, Problem> {
    let mut code = tags_code(props.tags.as_deref());
    if record.topic == SCHEDULE_TOPIC.as_bytes() {
        if let Some(d) = props.delay.as_deref() {
            let mut level: i32 = d
                .parse()
                .map_err(|_| Problem::Invalid(format!("DELAY property `{d}` is not an integer")))?;
            if level > delay_levels.max_level() {
                level = delay_levels.max_level();
            }
            if level > 0 {
                code = delay_levels.deliver_timestamp(level, record.store_timestamp);
            }
        }
    }
    Ok(code)
}

/// PREPARED and ROLLBACK records get no consume-queue unit.
pub fn is_dispatched_to_cq(sys_flag: i32) -> bool {
    matches!(
        sysflag::tran_type(sys_flag),
        sysflag::TRANSACTION_NOT_TYPE | sysflag::TRANSACTION_COMMIT_TYPE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_round_trip() {
        let u = CqUnit {
            commitlog_offset: 123456789,
            size: 201,
            tags_code: -5,
        };
        assert_eq!(CqUnit::decode(&u.encode()).unwrap(), u);
        assert!(CqUnit::decode(&[0u8; 19]).is_err());
        assert!(CqUnit::PRE_BLANK.is_valid());
        assert!(!CqUnit::decode(&[0u8; 20]).unwrap().is_valid());
    }

    #[test]
    fn delay_levels() {
        let d = DelayLevels::default();
        assert_eq!(d.max_level(), 18);
        assert_eq!(d.deliver_timestamp(1, 1000), 2000);
        assert_eq!(d.deliver_timestamp(18, 0), 7_200_000);
        assert_eq!(d.deliver_timestamp(19, 0), 1000);
        assert!(DelayLevels::parse("1x").is_err());
        assert!(DelayLevels::parse("").is_err());
    }

    #[test]
    fn dispatch_rule() {
        assert!(is_dispatched_to_cq(0));
        assert!(is_dispatched_to_cq(sysflag::TRANSACTION_COMMIT_TYPE | 0x30));
        assert!(!is_dispatched_to_cq(sysflag::TRANSACTION_PREPARED_TYPE));
        assert!(!is_dispatched_to_cq(sysflag::TRANSACTION_ROLLBACK_TYPE | 1));
    }
}
