//! The put side of 5.x light message queues (`enableLmq`): under the put lock, a message whose
//! `INNER_MULTI_DISPATCH` names queues gets each `%LMQ%` queue's next offset (queue 0) written
//! into `INNER_MULTI_QUEUE_OFFSET` before it is encoded, and those offsets advance once it is
//! stored (Java: `CommitLog#doAppend` → `handlePropertiesForLmqMsg` → `LmqDispatch`). The
//! offsets live in the same table as every queue's (Java keeps a separate LMQ table and merges
//! both from the consume queues on recovery).

use crate::commitlog::PutState;
use crate::config::StoreConfig;
use crate::format::record::MessageRecord;
use crate::v5::lmq::{self, PROPERTY_INNER_MULTI_QUEUE_OFFSET};

/// How the properties are rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LmqPut {
    /// Not multi-dispatched here (a batch: Java's batch encoder does not do it).
    Off,
    /// A put: the properties are re-serialized as a 5.x broker's store does (`HashMap` order
    /// of a map parsed from them, `src/v5/props.rs`).
    Broker,
    /// A replay of a stored record: the offsets replace the stored value where it stands.
    InPlace,
}

/// A rewritten message: its new properties and the LMQs whose offsets advance once stored.
pub(crate) struct Wrapped {
    pub properties: String,
    pub advance: Vec<String>,
}

/// The wrap for the single record of a put, if it is multi-dispatched (5.x target and
/// `enableLmq`). `rec.properties` may end with the `__CRC32#` reservation, which stays last.
pub(crate) fn wrap(
    config: &StoreConfig,
    st: &mut PutState,
    rec: &MessageRecord<'_>,
    how: LmqPut,
) -> Option<Wrapped> {
    if how == LmqPut::Off || !config.target_version.is_5x() || !config.enable_lmq {
        return None;
    }
    let props = std::str::from_utf8(rec.properties).ok()?;
    let crc = config.appends_prop_crc();
    let plain = if crc {
        props.strip_suffix(crate::v5::crc::placeholder())?
    } else {
        props
    };
    let topic = std::str::from_utf8(rec.topic).ok()?;
    let names = lmq::put_targets(topic, plain)?;
    // Every offset is read before any advances (a name listed twice gets the same offset).
    let offsets: Vec<Option<i64>> = names
        .iter()
        .map(|n| lmq::is_lmq(n).then(|| st.topic_queue_table.get(n, lmq::LMQ_QUEUE_ID)))
        .collect();
    let value = lmq::offsets_value(&offsets);
    let mut properties = match how {
        LmqPut::InPlace => {
            crate::v5::props::replace_in_place(plain, PROPERTY_INNER_MULTI_QUEUE_OFFSET, &value)
        }
        _ => crate::v5::props::broker_put(plain, PROPERTY_INNER_MULTI_QUEUE_OFFSET, &value),
    };
    if crc {
        properties = crate::v5::crc::reserve(&properties);
    }
    let advance = names.into_iter().filter(|n| lmq::is_lmq(n)).collect();
    Some(Wrapped {
        properties,
        advance,
    })
}

/// Advances the offsets of a stored multi-dispatched message's LMQs
/// (`LmqDispatch#updateLmqOffsets`).
pub(crate) fn advance(st: &mut PutState, names: &[String]) {
    for n in names {
        *st.topic_queue_table.slot(n, lmq::LMQ_QUEUE_ID) += 1;
    }
}

/// Refuses, before the put lock, a message that an `INNER_MULTI_QUEUE_OFFSET` of the longest
/// possible offsets (19 digits each) would take past the properties limit (32767 bytes) or
/// `maxMessageSize`; Java checks the exact length under the lock
/// (`handlePropertiesForLmqMsg`), so this refuses up to 20 bytes per queue earlier.
pub(crate) fn refuse_growth(
    config: &StoreConfig,
    rec: &MessageRecord<'_>,
) -> Option<super::PutMessageResult> {
    if !config.target_version.is_5x() || !config.enable_lmq {
        return None;
    }
    let topic = std::str::from_utf8(rec.topic).ok()?;
    let props = std::str::from_utf8(rec.properties).ok()?;
    let names = lmq::put_targets(topic, props)?;
    let growth = PROPERTY_INNER_MULTI_QUEUE_OFFSET.len() + 2 + names.len() * 20;
    let status = if rec.properties.len() + growth > i16::MAX as usize {
        super::PutMessageStatus::PropertiesSizeExceeded
    } else if rec.encoded_len() + growth > config.max_message_size {
        super::PutMessageStatus::MessageIllegal
    } else {
        return None;
    };
    Some(super::PutMessageResult::refused(
        status,
        format!(
            "a message multi-dispatched to {} queue(s) could exceed the properties or message \
             size limit once INNER_MULTI_QUEUE_OFFSET is added",
            names.len()
        ),
    ))
}
