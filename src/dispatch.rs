//! Dispatch: what a commitlog record contributes to the consume queues and the index
//! (Java's `DispatchRequest`, built by `checkMessageAndReturnSize`).

use std::borrow::Cow;

use crate::format::cq::{is_dispatched_to_cq, record_tags_code, DelayLevels};
use crate::format::record::MessageRecord;
use crate::format::Problem;

/// The facts of one record that the consume queue and index builders need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchRequest<'a> {
    pub topic: Cow<'a, str>,
    pub queue_id: i32,
    pub commitlog_offset: i64,
    pub msg_size: i32,
    pub tags_code: i64,
    pub store_timestamp: i64,
    pub consume_queue_offset: i64,
    pub keys: Option<Cow<'a, str>>,
    pub uniq_key: Option<Cow<'a, str>>,
    pub sys_flag: i32,
    pub prepared_transaction_offset: i64,
}

impl<'a> DispatchRequest<'a> {
    /// Builds the request for a decoded record of `total_size` bytes. Fails where Java's check
    /// throws (a DELAY property that is not a number in the schedule topic).
    pub fn from_record(
        rec: &MessageRecord<'a>,
        total_size: u32,
        delay_levels: &DelayLevels,
    ) -> Result<DispatchRequest<'a>, Problem> {
        let props = rec.store_properties();
        let tags_code = record_tags_code(rec, &props, delay_levels)?;
        Ok(DispatchRequest {
            topic: rec.topic_str(),
            queue_id: rec.queue_id,
            commitlog_offset: rec.physical_offset,
            msg_size: total_size as i32,
            tags_code,
            store_timestamp: rec.store_timestamp,
            consume_queue_offset: rec.queue_offset,
            keys: props.keys,
            uniq_key: props.uniq_key,
            sys_flag: rec.sys_flag,
            prepared_transaction_offset: rec.prepared_transaction_offset,
        })
    }

    /// PREPARED and ROLLBACK records are not put in a consume queue.
    pub fn goes_to_consume_queue(&self) -> bool {
        is_dispatched_to_cq(self.sys_flag)
    }
}
