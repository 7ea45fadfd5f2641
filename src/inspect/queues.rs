//! Per-queue views of an open store: the summary `mqadmin topicStatus` prints (min/max offset,
//! last store time), and a consume queue's units checked against the commitlog records they
//! point at (`mqadmin queryCq`).

use serde::Serialize;

use crate::format::cq::{is_dispatched_to_cq, record_tags_code, CqUnit, CQ_UNIT_SIZE};
use crate::store::MessageStore;

/// One consume queue, as `topicStatus` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueSummary {
    pub topic: String,
    pub queue_id: i32,
    /// `getMinOffsetInQueue`: the first unit whose message is still in the commitlog.
    pub min_offset: u64,
    /// `getMaxOffsetInQueue`: one past the last unit.
    pub max_offset: u64,
    /// `max_offset - min_offset`: the messages a consumer could still read.
    pub message_count: u64,
    /// Store time of the message of the last unit (`None` when the queue is empty or the
    /// record cannot be read).
    pub last_store_timestamp: Option<i64>,
    /// Commitlog offset of the message of the last unit.
    pub last_commit_log_offset: Option<i64>,
}

/// What the commitlog holds where a consume-queue unit points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UnitCheck {
    /// A record of the unit's size, topic, queue and queue offset.
    Match,
    /// The filler unit written before a queue's first real unit.
    PreBlank,
    /// The unit points below the commitlog's first offset (the segment was deleted).
    Deleted,
    /// No record starts at the offset (past the recovered end, or inside another record).
    NoRecord,
    /// A record starts there but is of another topic, queue, queue offset or size.
    OtherRecord,
}

impl UnitCheck {
    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            UnitCheck::Match => "ok",
            UnitCheck::PreBlank => "pre-blank",
            UnitCheck::Deleted => "deleted",
            UnitCheck::NoRecord => "NO RECORD",
            UnitCheck::OtherRecord => "OTHER RECORD",
        }
    }
}

/// One consume-queue unit with its queue offset and what it points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitView {
    pub queue_offset: u64,
    pub commit_log_offset: i64,
    pub size: i32,
    pub tags_code: i64,
    pub check: UnitCheck,
    /// Store time of the matching record.
    pub store_timestamp: Option<i64>,
    /// The tagsCode the record gives today, when it differs from the unit's (3.x computed a
    /// delayed message's delivery time from another clock reading than the stored one: 1-2 ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computed_tags_code: Option<i64>,
}

/// A range of a consume queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CqDump {
    pub topic: String,
    pub queue_id: i32,
    /// The first unit the files hold (0 unless the queue's first files were deleted).
    pub first_unit: u64,
    pub min_offset: u64,
    pub max_offset: u64,
    pub units: Vec<UnitView>,
}

impl MessageStore {
    internal_fn! {
        /// Every consume queue, ordered by topic then queue id.
        fn queue_summaries(&self) -> Vec<QueueSummary> {
            self.consume_queues()
                .all()
                .iter()
                .map(|cq| {
                    let min = cq.min_offset_in_queue();
                    let max = cq.max_offset_in_queue();
                    let last = (max > min)
                        .then(|| cq.get_unit(max - 1))
                        .flatten()
                        .filter(|u| u.is_valid() && !u.is_pre_blank());
                    let ts = last
                        .and_then(|u| self.get_by_phy_offset(u.commitlog_offset.max(0) as u64))
                        .and_then(|r| r.decode().ok().map(|m| m.store_timestamp));
                    QueueSummary {
                        topic: cq.topic().to_string(),
                        queue_id: cq.queue_id(),
                        min_offset: min,
                        max_offset: max,
                        message_count: max.saturating_sub(min),
                        last_store_timestamp: ts,
                        last_commit_log_offset: last.map(|u| u.commitlog_offset),
                    }
                })
                .collect()
        }
    }

    internal_fn! {
        /// Up to `limit` units of a consume queue from queue offset `from` (default: the first
        /// unit the files hold), each checked against the commitlog. `None` when the store has no
        /// such queue.
        fn dump_consume_queue(
            &self,
            topic: &str,
            queue_id: i32,
            from: Option<u64>,
            limit: usize,
        ) -> Option<CqDump> {
            let cq = self.consume_queues().get(topic, queue_id)?;
            let first_unit = cq.files().min_offset() / CQ_UNIT_SIZE as u64;
            let max = cq.max_offset_in_queue();
            let phy_min = self.commit_log.min_offset() as i64;
            let mut units = Vec::new();
            let mut i = from.unwrap_or(first_unit).max(first_unit);
            while i < max && units.len() < limit {
                let Some(u) = cq.get_unit(i) else { break };
                let (check, ts, computed) = self.check_unit(topic, queue_id, i, &u, phy_min);
                units.push(UnitView {
                    queue_offset: i,
                    commit_log_offset: u.commitlog_offset,
                    size: u.size,
                    tags_code: u.tags_code,
                    check,
                    store_timestamp: ts,
                    computed_tags_code: computed.filter(|&c| c != u.tags_code),
                });
                i += 1;
            }
            Some(CqDump {
                topic: topic.to_string(),
                queue_id,
                first_unit,
                min_offset: cq.min_offset_in_queue(),
                max_offset: max,
                units,
            })
        }
    }

    fn check_unit(
        &self,
        topic: &str,
        queue_id: i32,
        queue_offset: u64,
        u: &CqUnit,
        phy_min: i64,
    ) -> (UnitCheck, Option<i64>, Option<i64>) {
        if u.is_pre_blank() {
            return (UnitCheck::PreBlank, None, None);
        }
        if u.commitlog_offset < phy_min {
            return (UnitCheck::Deleted, None, None);
        }
        let Some(rec) = self.get_by_phy_offset(u.commitlog_offset as u64) else {
            return (UnitCheck::NoRecord, None, None);
        };
        let Ok(m) = rec.decode() else {
            return (UnitCheck::NoRecord, None, None);
        };
        let same = m.topic == topic.as_bytes()
            && m.queue_id == queue_id
            && m.queue_offset == queue_offset as i64
            && rec.size() == u.size as usize
            && is_dispatched_to_cq(m.sys_flag);
        if !same {
            return (UnitCheck::OtherRecord, Some(m.store_timestamp), None);
        }
        let props = m.store_properties();
        let computed = record_tags_code(&m, &props, &self.delay_levels).ok();
        (UnitCheck::Match, Some(m.store_timestamp), computed)
    }
}
