//! Finding a message the way an operator names it: an offset msgId, a client UNIQ_KEY, a
//! KEYS token, or a commitlog offset.

use crate::format::msgid::{create_message_id, decode_message_id};
use crate::format::properties::StoreProperties;
use crate::store::{MessageStore, StoredRecord};

/// How a message was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundBy {
    /// The id decoded as an offset msgId whose host and offset name the record.
    OffsetMsgId,
    /// The id is the record's UNIQ_KEY (found through the index).
    UniqKey,
}

impl FoundBy {
    pub fn label(self) -> &'static str {
        match self {
            FoundBy::OffsetMsgId => "offset msgId",
            FoundBy::UniqKey => "UNIQ_KEY",
        }
    }
}

/// At most this many offsets are taken from the index per topic and key (Java's
/// `maxMsgsNumBatch` caps `queryMessage` at 64; an inspector can afford more).
pub const LOOKUP_MAX: usize = 4096;

impl MessageStore {
    internal_fn! {
        /// The record an offset msgId names: it must decode, a record must start at its offset,
        /// and that record's own msgId (store host + offset) must be the id. `None` otherwise.
        fn find_by_offset_msg_id(&self, id: &str) -> Option<StoredRecord> {
            let (_, offset) = decode_message_id(id).ok()?;
            if offset < 0 {
                return None;
            }
            let rec = self.get_by_phy_offset(offset as u64)?;
            let m = rec.decode().ok()?;
            let own = create_message_id(&m.store_host, m.physical_offset);
            (own.eq_ignore_ascii_case(id.trim()) && m.physical_offset == offset).then_some(rec)
        }
    }

    internal_fn! {
        /// Records whose UNIQ_KEY is `key`, through the index: in `topic`, or (when `None`) in
        /// every topic that has a consume queue. Sorted by physical offset.
        /// `topic`, or every topic that has a consume queue (the topics an index lookup without a
        /// topic searches).
        fn lookup_topics(&self, topic: Option<&str>) -> Vec<String> {
            match topic {
                Some(t) => vec![t.to_string()],
                None => {
                    let mut ts: Vec<String> = self
                        .consume_queues()
                        .all()
                        .iter()
                        .map(|q| q.topic().to_string())
                        .collect();
                    ts.dedup(); // `all()` is sorted by topic
                    ts
                }
            }
        }
    }

    internal_fn! {
        fn find_by_uniq_key(&self, key: &str, topic: Option<&str>) -> Vec<StoredRecord> {
            let topics = self.lookup_topics(topic);
            let mut out: Vec<StoredRecord> = topics
                .iter()
                .flat_map(|t| self.query_messages_by_key(t, key, LOOKUP_MAX, 0, i64::MAX))
                .filter(|r| {
                    r.decode()
                        .map(|m| StoreProperties::parse(m.properties).uniq_key.as_deref() == Some(key))
                        .unwrap_or(false)
                })
                .collect();
            out.sort_by_key(|r| r.offset());
            out.dedup_by_key(|r| r.offset());
            out
        }
    }

    internal_fn! {
        /// `msg ID`: an offset msgId first; when that names no record, the id as a UNIQ_KEY.
        fn find_by_id(&self, id: &str, topic: Option<&str>) -> (FoundBy, Vec<StoredRecord>) {
            if let Some(r) = self.find_by_offset_msg_id(id) {
                return (FoundBy::OffsetMsgId, vec![r]);
            }
            (FoundBy::UniqKey, self.find_by_uniq_key(id.trim(), topic))
        }
    }
}
