//! What callers put into the store: a message as the broker hands it over
//! (`MessageExtBrokerInner`), a batch (`MessageExtBatch`), or a record to replay verbatim.

pub use crate::format::host::{AddrBytes, Host};
use crate::format::properties;

/// One message to store. `properties` is the properties string exactly as it will be written
/// (the broker serializes it; the store only rewrites it for delayed messages, as Java does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic.
    pub topic: String,
    /// The queue id.
    pub queue_id: i32,
    /// The user flag.
    pub flag: i32,
    /// The body.
    pub body: Vec<u8>,
    /// Encoded properties (`name\u0001value\u0002`...).
    pub properties: String,
    /// Transaction type and compression bits; the IPv6 host bits are set by the store.
    pub sys_flag: i32,
    /// When the producer made it (ms).
    pub born_timestamp: i64,
    /// The producer's address.
    pub born_host: Host,
    /// The broker's address.
    pub store_host: Host,
    /// Times it was consumed again (retry).
    pub reconsume_times: i32,
    /// Offset of the prepared half message (transactions).
    pub prepared_transaction_offset: i64,
}

impl Message {
    /// A message with no properties, born now-ish (0) on localhost, stored by 127.0.0.1:10911.
    pub fn new(topic: impl Into<String>, queue_id: i32, body: impl Into<Vec<u8>>) -> Message {
        Message {
            topic: topic.into(),
            queue_id,
            flag: 0,
            body: body.into(),
            properties: String::new(),
            sys_flag: 0,
            born_timestamp: 0,
            born_host: Host::v4([127, 0, 0, 1], 0),
            store_host: Host::v4([127, 0, 0, 1], 10911),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        }
    }

    /// Appends a property (name 0x01 value 0x02).
    pub fn with_property(mut self, name: &str, value: &str) -> Message {
        self.properties
            .push_str(&properties::encode([(name, value)]));
        self
    }

    /// Sets TAGS.
    pub fn with_tags(self, tags: &str) -> Message {
        self.with_property(properties::TAGS, tags)
    }

    /// Business keys, space-separated as RocketMQ stores them.
    pub fn with_keys(self, keys: &str) -> Message {
        self.with_property(properties::KEYS, keys)
    }

    /// Sets the born timestamp and host.
    pub fn with_born(mut self, timestamp: i64, host: Host) -> Message {
        self.born_timestamp = timestamp;
        self.born_host = host;
        self
    }
}

/// One item of a batch: what differs between the messages of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    /// The user flag.
    pub flag: i32,
    /// The body.
    pub body: Vec<u8>,
    /// Stored exactly as given (4.6.0 does not add CLUSTER or anything else to batch items).
    pub properties: String,
}

/// A batch (`MessageExtBatch`): items that share topic, queue, flags, born time and hosts, and
/// land in one segment with consecutive queue offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBatch {
    /// The topic.
    pub topic: String,
    /// The queue id.
    pub queue_id: i32,
    /// SYSFLAG of the batch's records.
    pub sys_flag: i32,
    /// When the producer made it (ms).
    pub born_timestamp: i64,
    /// The producer's address.
    pub born_host: Host,
    /// The broker's address.
    pub store_host: Host,
    /// Times it was consumed again (retry).
    pub reconsume_times: i32,
    /// The messages.
    pub items: Vec<BatchItem>,
}

/// A record to append exactly as it was once stored: every field verbatim, including the
/// store timestamp and sysFlag. Queue and physical offsets are assigned by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayMessage {
    /// The message.
    pub message: Message,
    /// The store timestamp to keep.
    pub store_timestamp: i64,
}
