//! The 5.x batch consume queue on the put and get paths (target 5.3.3; a topic whose
//! `queue.type` is `BatchCQ`, see `src/v5/batch_cq_table.rs`).
//!
//! An *inner batch* is one commitlog record holding many messages: its body is the client's
//! encoded batch (`MessageDecoder#encodeMessages`), its sysFlag has `INNER_BATCH` (and
//! `NEED_UNWRAP`), its `INNER_NUM` property counts the messages. A 5.x broker builds it from a
//! batch sent to a BatchCQ topic (`SendMessageProcessor`); [`MessageBatch::to_inner_batch`]
//! does the same, and [`MessageStore::put_message`](super::MessageStore::put_message) stores
//! it. Under the put lock the store gives it the queue's next offset, writes that offset into
//! `INNER_BASE` (the properties re-serialized as a 5.x store does) and advances the queue by
//! `INNER_NUM` (Java: `BatchConsumeQueue#assignQueueOffset`, `CommitLog#getMessageNum`).
//! Dispatch writes one 46-byte unit per record; `get_messages` on the queue finds the record
//! holding any of its messages' offsets (`BatchConsumeQueue#iterateFrom`).

use crate::commitlog::PutState;
use crate::config::StoreConfig;
use crate::dispatch::Dispatcher;
use crate::format::properties;
use crate::format::record::{sysflag, MessageRecord};
use crate::message::{BatchItem, Message, MessageBatch};
use crate::v5::batch_cq_write::{PROPERTY_INNER_BASE, PROPERTY_INNER_NUM};

use super::lmq_put::LmqPut;
use super::{GetMessageResult, GetMessageStatus, PutMessageResult, PutMessageStatus};

/// `INNER_BASE\u0001` + 19 digits + `\u0002`: the most the store's property adds.
const MAX_GROWTH: usize = PROPERTY_INNER_BASE.len() + 2 + 19;

impl MessageBatch {
    /// The inner-batch message a 5.x broker stores for this batch on a BatchCQ topic: one
    /// record whose body is the items encoded as `MessageDecoder#encodeMessages` does, sysFlag
    /// `NEED_UNWRAP | INNER_BATCH`, and `INNER_NUM` = the number of items. Add batch-level
    /// properties (`UNIQ_KEY`, `CLUSTER`...) with [`Message::with_property`].
    ///
    /// ```
    /// use rmqstore::config::TargetVersion;
    /// use rmqstore::message::Host;
    /// # use rmqstore::{BatchItem, MessageBatch, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let mut config = StoreConfig::with_root(dir.path()).with_target_version(TargetVersion::V5_3_3);
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// store.set_batch_topic("B", true); // or `queue.type=BatchCQ` in config/topics.json
    /// let batch = MessageBatch {
    ///     topic: "B".into(),
    ///     queue_id: 0,
    ///     sys_flag: 0,
    ///     born_timestamp: 1,
    ///     born_host: Host::parse("127.0.0.1:5000").unwrap(),
    ///     store_host: Host::parse("127.0.0.1:10911").unwrap(),
    ///     reconsume_times: 0,
    ///     items: (0..3u8)
    ///         .map(|i| BatchItem { flag: 0, body: vec![i], properties: String::new() })
    ///         .collect(),
    /// };
    /// let r = store.put_message(&batch.to_inner_batch())?;
    /// assert_eq!(r.append.unwrap().logics_offset, 0);
    /// assert_eq!(store.max_offset_in_queue("B", 0), 3); // one record, three messages
    /// // Any of its offsets finds the record.
    /// assert_eq!(store.get_messages("B", 0, 2, 32).messages.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_inner_batch(&self) -> Message {
        Message {
            topic: self.topic.clone(),
            queue_id: self.queue_id,
            flag: 0,
            body: encode_messages(&self.items),
            properties: format!("{PROPERTY_INNER_NUM}\u{1}{}\u{2}", self.items.len()),
            sys_flag: self.sys_flag | sysflag::NEED_UNWRAP | sysflag::INNER_BATCH,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: 0,
        }
    }
}

/// `MessageDecoder#encodeMessages`: per item `i32 size | i32 0 (magic) | i32 0 (body CRC) |
/// i32 flag | i32 bodyLen | body | i16 propsLen | props`.
pub fn encode_messages(items: &[BatchItem]) -> Vec<u8> {
    let mut out = Vec::new();
    for it in items {
        let props = it.properties.as_bytes();
        let size = 4 + 4 + 4 + 4 + 4 + it.body.len() + 2 + props.len();
        out.extend_from_slice(&(size as i32).to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&it.flag.to_be_bytes());
        out.extend_from_slice(&(it.body.len() as i32).to_be_bytes());
        out.extend_from_slice(&it.body);
        out.extend_from_slice(&(props.len() as i16).to_be_bytes());
        out.extend_from_slice(props);
    }
    out
}

fn is_inner_batch(sys_flag: i32) -> bool {
    sys_flag & sysflag::INNER_BATCH != 0
}

/// The number of messages of an inner batch (`INNER_NUM`), if it is a positive 16-bit number.
fn inner_num(props: &[u8]) -> Option<i16> {
    properties::get(props, PROPERTY_INNER_NUM)?
        .parse::<i16>()
        .ok()
        .filter(|n| *n >= 1)
}

/// `DefaultMessageStore#asyncPutMessage`'s checks (5.x target), before the put lock: an
/// `INNER_NUM` without the `INNER_BATCH` flag, or an inner batch for a queue that is not a
/// batch queue, is MESSAGE_ILLEGAL. Stricter than Java: an inner batch's `INNER_NUM` must be a
/// number from 1 to 32767 (Java would store a unit its own recovery drops), and the
/// properties must leave room for `INNER_BASE`.
pub(crate) fn refuse(
    config: &StoreConfig,
    dispatcher: &Dispatcher,
    rec: &MessageRecord<'_>,
) -> Option<PutMessageResult> {
    if !config.target_version.is_5x() {
        return None;
    }
    let has_num = properties::get(rec.properties, PROPERTY_INNER_NUM).is_some();
    let illegal = |why: String| {
        Some(PutMessageResult::refused(
            PutMessageStatus::MessageIllegal,
            why,
        ))
    };
    if !is_inner_batch(rec.sys_flag) {
        if has_num {
            return illegal(format!(
                "the message has property {PROPERTY_INNER_NUM} but is not an inner batch"
            ));
        }
        return None;
    }
    let topic = String::from_utf8_lossy(rec.topic);
    if !dispatcher.is_batch_queue(&topic, rec.queue_id) {
        return illegal(format!(
            "an inner batch for {topic}:{}, which is not a batch consume queue (queue.type \
             BatchCQ)",
            rec.queue_id
        ));
    }
    if inner_num(rec.properties).is_none() {
        return illegal(format!(
            "an inner batch whose {PROPERTY_INNER_NUM} is not a number from 1 to 32767"
        ));
    }
    if rec.properties.len() + MAX_GROWTH > i16::MAX as usize {
        return Some(PutMessageResult::refused(
            PutMessageStatus::PropertiesSizeExceeded,
            format!("an inner batch's properties leave no room for {PROPERTY_INNER_BASE}"),
        ));
    }
    if rec.encoded_len() + MAX_GROWTH > config.max_message_size {
        return illegal(format!(
            "an inner batch of {} bytes could exceed maxMessageSize once {PROPERTY_INNER_BASE} \
             is added",
            rec.encoded_len()
        ));
    }
    None
}

/// Under the put lock, once [`crate::commitlog::CommitLog::assign_queue_offsets`] gave the
/// record its queue offset (and advanced the queue by one): for an inner batch on a batch
/// queue, the properties with `INNER_BASE` = that offset, the queue advanced by the rest of
/// `INNER_NUM` (returned too). `None` for any other record.
pub(crate) fn wrap(
    config: &StoreConfig,
    dispatcher: &Dispatcher,
    st: &mut PutState,
    rec: &MessageRecord<'_>,
    how: LmqPut,
) -> Option<(String, i16)> {
    if how == LmqPut::Off || !config.target_version.is_5x() || !is_inner_batch(rec.sys_flag) {
        return None;
    }
    let topic = std::str::from_utf8(rec.topic).ok()?;
    if !dispatcher.is_batch_queue(topic, rec.queue_id) {
        return None;
    }
    let num = inner_num(rec.properties)?;
    let props = std::str::from_utf8(rec.properties).ok()?;
    let crc = config.appends_prop_crc();
    let plain = if crc {
        props.strip_suffix(crate::v5::crc::placeholder())?
    } else {
        props
    };
    let base = rec.queue_offset.to_string();
    let mut out = match how {
        LmqPut::InPlace => crate::v5::props::replace_in_place(plain, PROPERTY_INNER_BASE, &base),
        _ => crate::v5::props::broker_put(plain, PROPERTY_INNER_BASE, &base),
    };
    if crc {
        out = crate::v5::crc::reserve(&out);
    }
    *st.topic_queue_table.slot(topic, rec.queue_id) += i64::from(num) - 1;
    Some((out, num))
}

/// `getMessage` on a batch queue (`None`: not a batch queue). A unit counts as its
/// `batchSize` messages: a pull stops before a unit that would take it past `max_count`
/// messages (unless it has none yet), and the next pull starts after the last unit returned.
pub(crate) fn get_messages(
    store: &super::MessageStore,
    topic: &str,
    queue_id: i32,
    offset: u64,
    max_count: usize,
) -> Option<GetMessageResult> {
    let table = store.dispatcher.batch_queues()?;
    let phy_min = store.commit_log.min_offset() as i64;
    let (min, max) = table.offsets(topic, queue_id, phy_min)?;
    let (min, max) = (min.max(0) as u64, max.max(0) as u64);
    let mut result = match GetMessageResult::start_pull(offset, min, max) {
        Ok(r) => r,
        Err(done) => return Some(done),
    };
    let units = table
        .get(topic, queue_id, offset as i64, max_count.max(1))
        .map(|s| s.units)
        .unwrap_or_default();
    let mut count = 0usize;
    for u in units {
        let n = u.batch_size.max(1) as usize;
        if count > 0 && count + n > max_count {
            break;
        }
        result.next_begin_offset = u.next_offset().max(0) as u64;
        if u.commitlog_offset < phy_min {
            continue;
        }
        if let Some(r) = store.get_by_phy_offset(u.commitlog_offset as u64) {
            result.buffer_total_size += r.size();
            result.messages.push(r);
            count += n;
        }
    }
    if result.messages.is_empty() {
        result.status = GetMessageStatus::OffsetFoundNull;
    }
    Some(result)
}

/// The store's batch consume queues at open (5.x target): `batchconsumequeue/` and the batch
/// topics of `config/topics.json`. An inspection open leaves out a batch queue folder it cannot
/// read (and keeps none of them); any other open refuses it, as Java's load does.
pub(crate) fn load_table(
    config: &StoreConfig,
    tolerant: Option<&mut Vec<crate::left_out::LeftOut>>,
) -> crate::error::Result<crate::v5::batch_cq_table::BatchCqTable> {
    use crate::v5::batch_cq_table::BatchCqTable;
    let root = config.root();
    let size = config.mapper_file_size_batch_consume_queue;
    match (
        BatchCqTable::load(root, &config.config_dir(), size),
        tolerant,
    ) {
        (Ok(t), _) => Ok(t),
        (Err(e), Some(left)) => {
            left.push(crate::left_out::LeftOut::new(
                crate::v5::batch_cq::dir(root),
                e.to_string(),
            ));
            Ok(BatchCqTable::empty(root, size))
        }
        (Err(e), None) => Err(e),
    }
}

impl super::MessageStore {
    /// Makes `topic` a batch-consume-queue topic (`batch`: its new queues are written to
    /// `batchconsumequeue/`, as a 5.x store does for `queue.type=BatchCQ`) or a plain one.
    /// Queues that exist keep their kind. Only with target version 5.x (returns false
    /// otherwise); at open the store reads the same setting from `config/topics.json`.
    pub fn set_batch_topic(&self, topic: &str, batch: bool) -> bool {
        match self.dispatcher.batch_queues() {
            Some(b) => {
                b.set_batch_topic(topic, batch);
                true
            }
            None => false,
        }
    }

    /// `(min, max)` offsets of a batch queue, if `topic`/`queue_id` is one.
    pub(crate) fn batch_offsets(&self, topic: &str, queue_id: i32) -> Option<(u64, u64)> {
        let phy_min = self.commit_log.min_offset() as i64;
        let (min, max) = self
            .dispatcher
            .batch_queues()?
            .offsets(topic, queue_id, phy_min)?;
        Some((min.max(0) as u64, max.max(0) as u64))
    }
}
