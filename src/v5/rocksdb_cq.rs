//! The RocksDB consume queue of RocketMQ 5.x (`storeType=defaultRocksDB`; Java
//! `store/queue/RocksDBConsumeQueueStore`, `RocksDBConsumeQueueTable`,
//! `RocksDBConsumeQueueOffsetTable`, `store/rocksdb/ConsumeQueueRocksDBStorage`), as the 5.3.3
//! store writes it: one RocksDB database in `consumequeue/` itself, two column families.
//!
//! * `default`: one entry per queue unit. Key `i32 topicLen | 0x01 | topic | 0x01 | i32 queueId |
//!   0x01 | i64 queueOffset`, value `i64 phyOffset | i32 size | i64 tagsCode | i64 storeTime`
//!   (28 bytes); all big-endian.
//! * `offset`: per queue its `max` (and, once a broker asked for it, `min`) entry. Key
//!   `i32 topicLen | 0x01 | topic | 0x01 | "max"|"min" | 0x01 | i32 queueId`, value
//!   `i64 phyOffset | i64 queueOffset` (16 bytes); plus the dispatch checkpoint, key of topic
//!   `CHECKPOINT_TOPIC`, `max`, queue 0, whose 8-byte value is the commitlog offset the consume
//!   queue is built up to.
//!
//! The codecs, the model and the check against the commitlog live here and need nothing
//! outside this crate. Reading and writing the database goes through RocksDB's own C API in the
//! library Apache ships in `rocketmq-rocksdb-*.jar` (the one every 5.x broker loads), opened at run
//! time by [`super::rocksdb_ffi`] (cargo feature `rocksdb`); see `docs/format.md` §12.7.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::format::cq::{is_dispatched_to_cq, record_tags_code, DelayLevels};
use crate::format::properties::StoreProperties;
use crate::format::record::{decode_record, Decoded, MessageRecord};
use crate::store::MessageStore;

/// Java `AbstractRocksDBStorage.CTRL_1`: the separator inside keys.
pub const CTRL_1: u8 = 1;
/// Java `RocksDBConsumeQueueTable.CQ_UNIT_SIZE`: the value of a unit.
pub const CQ_VALUE_SIZE: usize = 28;
/// Java `RocksDBConsumeQueueOffsetTable.OFFSET_VALUE_LENGTH`.
pub const OFFSET_VALUE_SIZE: usize = 16;
/// Java `TopicValidator.RMQ_SYS_ROCKSDB_OFFSET_TOPIC`: the dispatch checkpoint's topic.
pub const CHECKPOINT_TOPIC: &str = "CHECKPOINT_TOPIC";
/// The name of the offset column family (the units live in `default`).
pub const OFFSET_CF: &str = "offset";
/// Java `RocksDBConsumeQueueStore.MAX_KEY_LEN`: Java's key buffers hold at most this many bytes.
pub const MAX_KEY_LEN: usize = 300;

/// A consume-queue unit of the `default` column family.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RocksUnit {
    pub topic: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub phy_offset: i64,
    pub size: i32,
    pub tags_code: i64,
    pub store_time: i64,
}

/// `max` or `min` entry of the `offset` column family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    Max,
    Min,
}

/// An entry of the `offset` column family: the queue's last (or first) unit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OffsetEntry {
    pub topic: String,
    pub queue_id: i32,
    pub bound: Bound,
    pub phy_offset: i64,
    pub queue_offset: i64,
}

/// An entry this crate could not make sense of, by column family and key bytes (hex).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadEntry {
    pub cf: String,
    pub key_hex: String,
    pub what: String,
}

/// Everything the RocksDB consume queue holds, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RocksCq {
    /// `consumequeue/`.
    pub dir: PathBuf,
    pub units: Vec<RocksUnit>,
    pub offsets: Vec<OffsetEntry>,
    /// The dispatch checkpoint (`CHECKPOINT_TOPIC` entry): the commitlog offset the queue is
    /// built up to; Java's recovery dispatches the commitlog again from here.
    pub max_phy_offset: Option<i64>,
    pub bad: Vec<BadEntry>,
    /// Column families other than `default` and `offset` (5.3.3 has none).
    pub other_cfs: Vec<String>,
}

/// One queue of the RocksDB consume queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RocksQueue {
    pub topic: String,
    pub queue_id: i32,
    /// Offset of the first unit present (`None`: no unit).
    pub first_offset: Option<i64>,
    /// One past the last unit present.
    pub end_offset: Option<i64>,
    pub units: usize,
    /// The `max` entry: (phyOffset, queueOffset).
    pub max: Option<(i64, i64)>,
    /// The `min` entry, written by a broker the first time it was asked for it.
    pub min: Option<(i64, i64)>,
}

impl RocksCq {
    /// The queues, by (topic, queue id), from both column families.
    pub fn queues(&self) -> Vec<RocksQueue> {
        let mut m: BTreeMap<(String, i32), RocksQueue> = BTreeMap::new();
        let entry = |m: &mut BTreeMap<(String, i32), RocksQueue>, t: &str, q: i32| {
            m.entry((t.to_string(), q))
                .or_insert_with(|| RocksQueue {
                    topic: t.to_string(),
                    queue_id: q,
                    first_offset: None,
                    end_offset: None,
                    units: 0,
                    max: None,
                    min: None,
                })
                .queue_id
        };
        for u in &self.units {
            entry(&mut m, &u.topic, u.queue_id);
            let q = m.get_mut(&(u.topic.clone(), u.queue_id)).expect("inserted");
            q.units += 1;
            q.first_offset = Some(q.first_offset.map_or(u.queue_offset, |f| f.min(u.queue_offset)));
            q.end_offset = Some(
                q.end_offset
                    .map_or(u.queue_offset + 1, |e| e.max(u.queue_offset + 1)),
            );
        }
        for o in &self.offsets {
            entry(&mut m, &o.topic, o.queue_id);
            let q = m.get_mut(&(o.topic.clone(), o.queue_id)).expect("inserted");
            match o.bound {
                Bound::Max => q.max = Some((o.phy_offset, o.queue_offset)),
                Bound::Min => q.min = Some((o.phy_offset, o.queue_offset)),
            }
        }
        m.into_values().collect()
    }

    /// The units of one queue, in offset order.
    pub fn queue_units(&self, topic: &str, queue_id: i32) -> Vec<&RocksUnit> {
        self.units
            .iter()
            .filter(|u| u.topic == topic && u.queue_id == queue_id)
            .collect()
    }

    /// Java's `getMaxOffsetInQueue`: the `max` entry's offset + 1, 0 without one.
    pub fn max_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.offsets
            .iter()
            .find(|o| o.topic == topic && o.queue_id == queue_id && o.bound == Bound::Max)
            .map_or(0, |o| o.queue_offset + 1)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Encodes a unit key (Java `RocksDBConsumeQueueTable#buildCQKeyByteBuffer0`).
pub fn cq_key(topic: &str, queue_id: i32, queue_offset: i64) -> Vec<u8> {
    let t = topic.as_bytes();
    let mut k = Vec::with_capacity(19 + t.len());
    k.extend_from_slice(&(t.len() as i32).to_be_bytes());
    k.push(CTRL_1);
    k.extend_from_slice(t);
    k.push(CTRL_1);
    k.extend_from_slice(&queue_id.to_be_bytes());
    k.push(CTRL_1);
    k.extend_from_slice(&queue_offset.to_be_bytes());
    k
}

/// Encodes a unit value (Java `buildCQValueByteBuffer0`).
pub fn cq_value(phy_offset: i64, size: i32, tags_code: i64, store_time: i64) -> [u8; CQ_VALUE_SIZE] {
    let mut v = [0u8; CQ_VALUE_SIZE];
    v[0..8].copy_from_slice(&phy_offset.to_be_bytes());
    v[8..12].copy_from_slice(&size.to_be_bytes());
    v[12..20].copy_from_slice(&tags_code.to_be_bytes());
    v[20..28].copy_from_slice(&store_time.to_be_bytes());
    v
}

/// Encodes an offset-table key (Java `RocksDBConsumeQueueOffsetTable#buildOffsetKeyByteBuffer0`).
pub fn offset_key(topic: &str, queue_id: i32, bound: Bound) -> Vec<u8> {
    let t = topic.as_bytes();
    let mut k = Vec::with_capacity(14 + t.len());
    k.extend_from_slice(&(t.len() as i32).to_be_bytes());
    k.push(CTRL_1);
    k.extend_from_slice(t);
    k.push(CTRL_1);
    k.extend_from_slice(match bound {
        Bound::Max => b"max",
        Bound::Min => b"min",
    });
    k.push(CTRL_1);
    k.extend_from_slice(&queue_id.to_be_bytes());
    k
}

/// Encodes an offset-table value.
pub fn offset_value(phy_offset: i64, queue_offset: i64) -> [u8; OFFSET_VALUE_SIZE] {
    let mut v = [0u8; OFFSET_VALUE_SIZE];
    v[0..8].copy_from_slice(&phy_offset.to_be_bytes());
    v[8..16].copy_from_slice(&queue_offset.to_be_bytes());
    v
}

/// The dispatch checkpoint's key: `CHECKPOINT_TOPIC`, `max`, queue 0.
pub fn checkpoint_key() -> Vec<u8> {
    offset_key(CHECKPOINT_TOPIC, 0, Bound::Max)
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes(b.try_into().expect("4 bytes"))
}
fn be_i64(b: &[u8]) -> i64 {
    i64::from_be_bytes(b.try_into().expect("8 bytes"))
}

/// Splits `i32 len | 0x01 | topic | 0x01 | rest`; the rest must be `rest_len` bytes.
fn split_topic(key: &[u8], rest_len: usize) -> Result<(String, &[u8]), String> {
    if key.len() < 6 + rest_len {
        return Err(format!("key of {} bytes is too short", key.len()));
    }
    let len = be_i32(&key[0..4]);
    if len < 0 || key.len() != 4 + 1 + len as usize + 1 + rest_len {
        return Err(format!(
            "topic length {len} does not fit a key of {} bytes",
            key.len()
        ));
    }
    let len = len as usize;
    if key[4] != CTRL_1 || key[5 + len] != CTRL_1 {
        return Err("separator bytes are not 0x01".into());
    }
    let topic = std::str::from_utf8(&key[5..5 + len])
        .map_err(|_| "topic is not UTF-8".to_string())?
        .to_string();
    Ok((topic, &key[6 + len..]))
}

/// Decodes a unit entry of the `default` column family.
pub fn parse_unit(key: &[u8], value: &[u8]) -> Result<RocksUnit, String> {
    let (topic, rest) = split_topic(key, 4 + 1 + 8)?;
    if rest[4] != CTRL_1 {
        return Err("separator before the queue offset is not 0x01".into());
    }
    if value.len() != CQ_VALUE_SIZE {
        return Err(format!(
            "value of {} bytes (a unit is {CQ_VALUE_SIZE})",
            value.len()
        ));
    }
    Ok(RocksUnit {
        topic,
        queue_id: be_i32(&rest[0..4]),
        queue_offset: be_i64(&rest[5..13]),
        phy_offset: be_i64(&value[0..8]),
        size: be_i32(&value[8..12]),
        tags_code: be_i64(&value[12..20]),
        store_time: be_i64(&value[20..28]),
    })
}

/// What an entry of the `offset` column family holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetItem {
    Entry(OffsetEntry),
    /// The dispatch checkpoint.
    Checkpoint(i64),
}

/// Decodes an entry of the `offset` column family.
pub fn parse_offset(key: &[u8], value: &[u8]) -> Result<OffsetItem, String> {
    let (topic, rest) = split_topic(key, 3 + 1 + 4)?;
    let bound = match &rest[0..3] {
        b"max" => Bound::Max,
        b"min" => Bound::Min,
        other => return Err(format!("bound {:?} is neither max nor min", hex(other))),
    };
    if rest[3] != CTRL_1 {
        return Err("separator before the queue id is not 0x01".into());
    }
    let queue_id = be_i32(&rest[4..8]);
    if topic == CHECKPOINT_TOPIC {
        if value.len() != 8 || bound != Bound::Max || queue_id != 0 {
            return Err(format!(
                "dispatch checkpoint with a {}-byte value (8 expected)",
                value.len()
            ));
        }
        return Ok(OffsetItem::Checkpoint(be_i64(value)));
    }
    if value.len() != OFFSET_VALUE_SIZE {
        return Err(format!(
            "value of {} bytes (an offset entry is {OFFSET_VALUE_SIZE})",
            value.len()
        ));
    }
    Ok(OffsetItem::Entry(OffsetEntry {
        topic,
        queue_id,
        bound,
        phy_offset: be_i64(&value[0..8]),
        queue_offset: be_i64(&value[8..16]),
    }))
}

/// Builds a [`RocksCq`] from raw entries of both column families, in key order; entries this
/// module cannot decode are kept as [`BadEntry`]s.
pub fn from_entries(
    dir: &Path,
    default_cf: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    offset_cf: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
) -> RocksCq {
    let mut cq = RocksCq {
        dir: dir.to_path_buf(),
        ..RocksCq::default()
    };
    for (k, v) in default_cf {
        match parse_unit(&k, &v) {
            Ok(u) => cq.units.push(u),
            Err(what) => cq.bad.push(BadEntry {
                cf: "default".into(),
                key_hex: hex(&k),
                what,
            }),
        }
    }
    for (k, v) in offset_cf {
        match parse_offset(&k, &v) {
            Ok(OffsetItem::Entry(e)) => cq.offsets.push(e),
            Ok(OffsetItem::Checkpoint(p)) => cq.max_phy_offset = Some(p),
            Err(what) => cq.bad.push(BadEntry {
                cf: OFFSET_CF.into(),
                key_hex: hex(&k),
                what,
            }),
        }
    }
    cq
}

/// Whether `root/consumequeue` holds a RocksDB database (its `CURRENT` file).
pub fn is_rocksdb_cq(root: &Path) -> bool {
    root.join("consumequeue").join("CURRENT").is_file()
}

/// Why the RocksDB consume queue was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRead(pub String);

impl std::fmt::Display for NotRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads the RocksDB consume queue in `root/consumequeue` read-only (nothing in the store is
/// created or changed: RocksDB's info log goes to a temporary directory). `Err` says plainly why
/// it could not be read (built without the `rocksdb` feature, no library, a RocksDB error).
pub fn read(root: &Path) -> Result<RocksCq, NotRead> {
    read_dir(&root.join("consumequeue"))
}

/// [`read`] for the database directory itself.
pub fn read_dir(dir: &Path) -> Result<RocksCq, NotRead> {
    #[cfg(feature = "rocksdb")]
    {
        let lib = super::rocksdb_ffi::library().map_err(NotRead)?;
        let (def, off, other) = lib.read_all(dir).map_err(NotRead)?;
        let mut cq = from_entries(dir, def, off);
        cq.other_cfs = other;
        Ok(cq)
    }
    #[cfg(not(feature = "rocksdb"))]
    {
        Err(NotRead(format!(
            "{}: this rmqstore was built without the `rocksdb` feature, so the RocksDB consume \
             queue (5.x storeType=defaultRocksDB) was not read (build with --features rocksdb)",
            dir.display()
        )))
    }
}

/// A problem of the RocksDB consume queue: the entry (topic, queue, offset or key) and what is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RocksProblem {
    /// `topic:queueId@offset`, `topic:queueId max`, a raw key, or `checkpoint`.
    pub key: String,
    /// What is wrong, in words.
    pub what: String,
    /// Records past the dispatch checkpoint that Java dispatches again at start: a warning,
    /// not damage.
    pub behind: bool,
}

/// The result of `rocksdb_cq::check`: the RocksDB consume queue against the commitlog.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RocksCheck {
    /// Units in the `default` column family.
    pub units: usize,
    /// Queues (from units and offset entries).
    pub queues: usize,
    /// Dispatched commitlog messages compared with them.
    pub records_checked: usize,
    /// Every problem, in the order found.
    pub problems: Vec<RocksProblem>,
}

fn p(out: &mut Vec<RocksProblem>, key: String, what: String) {
    out.push(RocksProblem {
        key,
        what,
        behind: false,
    });
}

/// One commitlog message as the consume queue should index it: its own unit, or one of its
/// light-message-queue copies (`lmq_copy`).
#[derive(Debug, Clone)]
pub struct Dispatched {
    pub topic: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub phy_offset: i64,
    pub size: i32,
    pub tags_code: i64,
    pub store_time: i64,
    /// A copy of the record in a queue its `INNER_MULTI_DISPATCH` lists
    /// (`RocksDBConsumeQueueStore#dispatchLMQ`), not its own queue.
    pub lmq_copy: bool,
}

/// `RocksDBConsumeQueueStore#dispatchLMQ` (with `enableLmq`; `DispatchRequest#containsLMQ`):
/// the queues a record of `topic` is copied to, `(name, queue id, queue offset)`. Unlike the
/// file queues' multi-dispatch (`lmq::dispatch_targets`) no name is skipped: every listed name
/// is a queue (an `%LMQ%` name queue 0, any other the record's queue id). Two lists of
/// different lengths give none (Java logs a bug). An offset that is not a number gives none
/// either: Java's `Long.parseLong` throws and its dispatch batch is retried and fails, so Java
/// indexes no copy of such a record (and stops dispatching); `verify` names its units, if any.
pub fn rocks_lmq_targets(topic: &str, queue_id: i32, props: &[u8]) -> Vec<(String, i32, i64)> {
    use crate::v5::lmq::{
        is_lmq, java_split, topic_allows_lmq, LMQ_QUEUE_ID, PROPERTY_INNER_MULTI_DISPATCH,
        PROPERTY_INNER_MULTI_QUEUE_OFFSET,
    };
    if !topic_allows_lmq(topic) {
        return Vec::new();
    }
    let (Some(names), Some(offsets)) = (
        crate::format::properties::get(props, PROPERTY_INNER_MULTI_DISPATCH),
        crate::format::properties::get(props, PROPERTY_INNER_MULTI_QUEUE_OFFSET),
    ) else {
        return Vec::new();
    };
    if names.trim().is_empty() || offsets.trim().is_empty() {
        return Vec::new();
    }
    let (names, offsets) = (java_split(&names), java_split(&offsets));
    if names.len() != offsets.len() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(names.len());
    for (name, off) in names.into_iter().zip(offsets) {
        let Ok(off) = off.parse::<i64>() else {
            return Vec::new();
        };
        let q = if is_lmq(name) { LMQ_QUEUE_ID } else { queue_id };
        out.push((name.to_string(), q, off));
    }
    out
}

fn dispatched_of(
    rec: &MessageRecord<'_>,
    total: u32,
    phy: i64,
    delay: &DelayLevels,
    out: &mut Vec<Dispatched>,
) -> Result<(), String> {
    if !is_dispatched_to_cq(rec.sys_flag) {
        return Ok(());
    }
    let props_str = String::from_utf8_lossy(rec.properties);
    let props = StoreProperties::parse_str(&props_str);
    let tags = record_tags_code(rec, &props, delay).map_err(|e| e.to_string())?;
    let own = Dispatched {
        topic: String::from_utf8_lossy(rec.topic).into_owned(),
        queue_id: rec.queue_id,
        queue_offset: rec.queue_offset,
        phy_offset: phy,
        size: total as i32,
        tags_code: tags,
        store_time: rec.store_timestamp,
        lmq_copy: false,
    };
    let copies = rocks_lmq_targets(&own.topic, own.queue_id, rec.properties);
    let copies: Vec<Dispatched> = copies
        .into_iter()
        .map(|(name, queue_id, queue_offset)| Dispatched {
            topic: name,
            queue_id,
            queue_offset,
            lmq_copy: true,
            ..own.clone()
        })
        .collect();
    out.push(own);
    out.extend(copies);
    Ok(())
}

/// Every message of the commitlog from its first to its last offset, as Java's dispatch would
/// index it (transaction prepared/rollback records are not dispatched): each record's own unit,
/// followed by its light-message-queue copies (`lmq_copy`), which a 5.x broker with `enableLmq`
/// writes (`RocksDBConsumeQueueStore#dispatchLMQ`). Batch-CQ records are included with their own
/// topic and queue.
pub fn dispatched(store: &MessageStore, delay: &DelayLevels) -> Result<Vec<Dispatched>, String> {
    let mut out = Vec::new();
    let mut off = store.min_phy_offset();
    let end = store.max_phy_offset();
    while off < end {
        let Some(rec) = store.get_by_phy_offset(off) else {
            return Err(format!("no commitlog record at offset {off}"));
        };
        match decode_record(rec.bytes(), false) {
            Ok(Decoded::Message { record, total_size }) => {
                dispatched_of(&record, total_size, off as i64, delay, &mut out)
                    .map_err(|e| format!("record at commitlog offset {off}: {e}"))?;
                off += total_size as u64;
            }
            Ok(Decoded::Blank { total_size }) => off += total_size as u64,
            Ok(_) => break,
            Err(e) => return Err(format!("record at commitlog offset {off}: {e}")),
        }
    }
    Ok(out)
}

/// Checks every unit against the commitlog record it names (phy offset, size, topic, queue,
/// queue offset, tags code, store time), every queue's units dense and its `max`/`min` entries
/// against them, the dispatch checkpoint, and every dispatched commitlog message up to the
/// checkpoint present as a unit. `records` is [`dispatched`]'s answer for the store. The
/// records' light-message-queue copies are expected as units when the database holds any
/// `%LMQ%` unit (a broker with `enableLmq` wrote it); see [`check_lmq`].
pub fn check(cq: &RocksCq, records: &[Dispatched], commitlog_end: i64) -> RocksCheck {
    let expect = cq.units.iter().any(|u| crate::v5::lmq::is_lmq(&u.topic));
    check_lmq(cq, records, commitlog_end, expect)
}

/// [`check`], saying whether the records' light-message-queue copies must be units
/// (`expect_lmq_copies`: the broker ran with `enableLmq`). A unit that is such a copy is checked
/// against it either way.
pub fn check_lmq(
    cq: &RocksCq,
    records: &[Dispatched],
    commitlog_end: i64,
    expect_lmq_copies: bool,
) -> RocksCheck {
    let mut out = Vec::new();
    for b in &cq.bad {
        p(
            &mut out,
            format!("{} key {}", b.cf, b.key_hex),
            b.what.clone(),
        );
    }
    for cf in &cq.other_cfs {
        p(
            &mut out,
            format!("column family {cf}"),
            "a column family 5.3.3 does not write".into(),
        );
    }
    let by_phy: BTreeMap<i64, &Dispatched> = records
        .iter()
        .filter(|d| !d.lmq_copy)
        .map(|d| (d.phy_offset, d))
        .collect();
    let copies: std::collections::HashMap<(&str, i32, i64), &Dispatched> = records
        .iter()
        .filter(|d| d.lmq_copy)
        .map(|d| ((d.topic.as_str(), d.queue_id, d.queue_offset), d))
        .collect();
    let mut seen: std::collections::HashSet<(String, i32, i64)> = Default::default();
    for u in &cq.units {
        let key = format!("{}:{}@{}", u.topic, u.queue_id, u.queue_offset);
        seen.insert((u.topic.clone(), u.queue_id, u.queue_offset));
        let copy = copies.get(&(u.topic.as_str(), u.queue_id, u.queue_offset));
        let Some(d) = copy.or_else(|| by_phy.get(&u.phy_offset)) else {
            p(
                &mut out,
                key,
                format!(
                    "phy offset {} is not the start of a dispatched commitlog message",
                    u.phy_offset
                ),
            );
            continue;
        };
        if let Some(c) = copy {
            if c.phy_offset != u.phy_offset {
                p(
                    &mut out,
                    key,
                    format!(
                        "phy offset {} but the record the commitlog lists at this light-message-queue offset is at {}",
                        u.phy_offset, c.phy_offset
                    ),
                );
                continue;
            }
        }
        let mut bad = Vec::new();
        if d.size != u.size {
            bad.push(format!("size {} but the record is {} bytes", u.size, d.size));
        }
        if !d.lmq_copy {
            if d.topic != u.topic || d.queue_id != u.queue_id {
                bad.push(format!(
                    "the record at {} belongs to {}:{}",
                    u.phy_offset, d.topic, d.queue_id
                ));
            } else if d.queue_offset != u.queue_offset {
                bad.push(format!(
                    "the record at {} has queue offset {}",
                    u.phy_offset, d.queue_offset
                ));
            }
        }
        if d.tags_code != u.tags_code {
            bad.push(format!(
                "tags code {} but the record's is {}",
                u.tags_code, d.tags_code
            ));
        }
        if d.store_time != u.store_time {
            bad.push(format!(
                "store time {} but the record's is {}",
                u.store_time, d.store_time
            ));
        }
        if !bad.is_empty() {
            p(&mut out, key, bad.join("; "));
        }
    }
    let queues = cq.queues();
    let mut units_by_queue: BTreeMap<(String, i32), Vec<&RocksUnit>> = BTreeMap::new();
    for u in &cq.units {
        units_by_queue
            .entry((u.topic.clone(), u.queue_id))
            .or_default()
            .push(u);
    }
    let mut last_end = None::<i64>;
    for q in &queues {
        let qk = format!("{}:{}", q.topic, q.queue_id);
        let units = units_by_queue
            .get(&(q.topic.clone(), q.queue_id))
            .cloned()
            .unwrap_or_default();
        for w in units.windows(2) {
            if w[1].queue_offset != w[0].queue_offset + 1 {
                p(
                    &mut out,
                    format!("{qk}@{}", w[0].queue_offset),
                    format!(
                        "units jump from offset {} to {}",
                        w[0].queue_offset, w[1].queue_offset
                    ),
                );
            }
            if w[1].phy_offset <= w[0].phy_offset {
                p(
                    &mut out,
                    format!("{qk}@{}", w[1].queue_offset),
                    format!(
                        "phy offset {} is not after the previous unit's {}",
                        w[1].phy_offset, w[0].phy_offset
                    ),
                );
            }
        }
        let last = units.last();
        match (q.max, last) {
            (Some((phy, off)), Some(l)) => {
                if off != l.queue_offset || phy != l.phy_offset {
                    p(
                        &mut out,
                        format!("{qk} max"),
                        format!(
                            "max entry (phy {phy}, offset {off}) but the last unit is offset {} at phy {}",
                            l.queue_offset, l.phy_offset
                        ),
                    );
                }
            }
            (Some((phy, off)), None) => p(
                &mut out,
                format!("{qk} max"),
                format!("max entry (phy {phy}, offset {off}) for a queue without units"),
            ),
            (None, Some(l)) => p(
                &mut out,
                format!("{qk} max"),
                format!(
                    "no max entry for a queue whose last unit is offset {}",
                    l.queue_offset
                ),
            ),
            (None, None) => {}
        }
        if let (Some((phy, off)), Some(first)) = (q.min, units.first()) {
            // Java's min entry names the first unit still in the commitlog: at or after the
            // first unit present (cleanup may leave older units until compaction).
            match units.iter().find(|u| u.queue_offset == off) {
                Some(u) if u.phy_offset == phy => {}
                Some(u) => p(
                    &mut out,
                    format!("{qk} min"),
                    format!(
                        "min entry says offset {off} is at phy {phy}, the unit says {}",
                        u.phy_offset
                    ),
                ),
                None if off == first.queue_offset.max(0) => {}
                None => p(
                    &mut out,
                    format!("{qk} min"),
                    format!("min entry names offset {off}, which has no unit"),
                ),
            }
        }
        if let Some(l) = last {
            let end = l.phy_offset + l.size as i64;
            last_end = Some(last_end.map_or(end, |e: i64| e.max(end)));
        }
    }
    let checkpoint = cq.max_phy_offset;
    match (checkpoint, last_end) {
        (Some(c), _) if c > commitlog_end => p(
            &mut out,
            "checkpoint".into(),
            format!("dispatch checkpoint {c} is past the commitlog's end {commitlog_end}"),
        ),
        (Some(c), Some(e)) if e > c => p(
            &mut out,
            "checkpoint".into(),
            format!("dispatch checkpoint {c} is before the end of the last unit ({e})"),
        ),
        (None, Some(_)) => p(
            &mut out,
            "checkpoint".into(),
            "units but no dispatch checkpoint (CHECKPOINT_TOPIC entry)".into(),
        ),
        _ => {}
    }
    let cp = checkpoint.unwrap_or(0);
    let mut behind = 0usize;
    let mut first_behind = None;
    for d in records {
        if (d.lmq_copy && !expect_lmq_copies)
            || seen.contains(&(d.topic.clone(), d.queue_id, d.queue_offset))
        {
            continue;
        }
        if d.phy_offset + d.size as i64 <= cp {
            p(
                &mut out,
                format!("{}:{}@{}", d.topic, d.queue_id, d.queue_offset),
                format!(
                    "the record at commitlog offset {} has no unit, though the dispatch checkpoint ({cp}) is past it",
                    d.phy_offset
                ),
            );
        } else {
            behind += 1;
            first_behind.get_or_insert(d.phy_offset);
        }
    }
    if let Some(f) = first_behind {
        out.push(RocksProblem {
            key: "checkpoint".into(),
            what: format!(
                "{behind} records from commitlog offset {f} on are past the dispatch checkpoint \
                 ({cp}) and not in the RocksDB consume queue yet (a 5.x broker dispatches them \
                 at start)"
            ),
            behind: true,
        });
    }
    RocksCheck {
        units: cq.units.len(),
        queues: queues.len(),
        records_checked: records.iter().filter(|d| !d.lmq_copy).count(),
        problems: out,
    }
}

/// The content a rebuild writes: per dispatched record its unit, per queue its `max` entry,
/// and the dispatch checkpoint (the end of the last record). Entries are in RocksDB key order
/// per column family. Light-message-queue copies among the records are units of their queues
/// like any other (with their own `max` entries), as 5.3.3's `dispatchLMQ` writes them.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The key/value content of a RocksDB consume queue holding exactly `records` (see
/// [`dispatched`]), as 5.3.3's dispatch writes it: `(default cf, offset cf)`.
pub fn rebuild_entries(records: &[Dispatched]) -> (Entries, Entries) {
    let mut units = Vec::with_capacity(records.len());
    let mut max: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut end = None::<i64>;
    for d in records {
        units.push((
            cq_key(&d.topic, d.queue_id, d.queue_offset),
            cq_value(d.phy_offset, d.size, d.tags_code, d.store_time).to_vec(),
        ));
        max.insert(
            offset_key(&d.topic, d.queue_id, Bound::Max),
            offset_value(d.phy_offset, d.queue_offset).to_vec(),
        );
        let e = d.phy_offset + d.size as i64;
        end = Some(end.map_or(e, |x: i64| x.max(e)));
    }
    if let Some(e) = end {
        max.insert(checkpoint_key(), e.to_be_bytes().to_vec());
    }
    units.sort();
    (units, max.into_iter().collect())
}

/// Writes a RocksDB consume queue holding `records` into the new directory `dir` (which must
/// not exist), as [`rebuild_entries`] lays it out, and flushes it to SST files; Java 5.3.3
/// opens it as its consume queue.
pub fn write_new(dir: &Path, records: &[Dispatched]) -> Result<(usize, usize), NotRead> {
    let (units, offsets) = rebuild_entries(records);
    #[cfg(feature = "rocksdb")]
    {
        let lib = super::rocksdb_ffi::library().map_err(NotRead)?;
        lib.write_new(dir, &units, &offsets).map_err(NotRead)?;
        Ok((units.len(), offsets.len()))
    }
    #[cfg(not(feature = "rocksdb"))]
    {
        let _ = (units, offsets);
        Err(NotRead(format!(
            "{}: this rmqstore was built without the `rocksdb` feature, so it cannot write a \
             RocksDB consume queue (build with --features rocksdb)",
            dir.display()
        )))
    }
}

/// `rebuild`'s RocksDB part: when `root`'s consume queue is a RocksDB database, replaces the
/// file queues the rebuild's dispatch wrote in `new_cq` with a RocksDB database holding every
/// dispatched record before `end` ([`write_new`]). `None` for a store with file queues. A store
/// whose RocksDB queue cannot be written (no `rocksdb` feature or library) is an error: file
/// queues would be invisible to a broker with `storeType=defaultRocksDB`.
pub(crate) fn rebuild_into(
    root: &Path,
    config: &crate::StoreConfig,
    new_cq: &Path,
    end: u64,
) -> crate::Result<Option<usize>> {
    use crate::error::StoreError;
    if !is_rocksdb_cq(root) {
        return Ok(None);
    }
    let bad = |what: String| StoreError::BadFile {
        path: root.join("consumequeue"),
        what,
    };
    let delay = config.delay_levels().map_err(StoreError::Config)?;
    let store = MessageStore::open_inspect(config.clone())?;
    let mut recs = dispatched(&store, &delay).map_err(bad)?;
    drop(store);
    recs.retain(|d| (d.phy_offset + d.size as i64) as u64 <= end);
    if new_cq.exists() {
        std::fs::remove_dir_all(new_cq).map_err(|e| StoreError::io(new_cq, e))?;
    }
    let (units, _) = write_new(new_cq, &recs).map_err(|e| {
        bad(format!(
            "a RocksDB consume queue (5.x storeType=defaultRocksDB) cannot be rebuilt: {e}"
        ))
    })?;
    Ok(Some(units))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_round_trip() {
        let k = cq_key("T", 3, 7);
        assert_eq!(k, [0, 0, 0, 1, 1, b'T', 1, 0, 0, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0, 7]);
        let v = cq_value(100, 200, -5, 1234);
        let u = parse_unit(&k, &v).unwrap();
        assert_eq!((u.topic.as_str(), u.queue_id, u.queue_offset), ("T", 3, 7));
        assert_eq!((u.phy_offset, u.size, u.tags_code, u.store_time), (100, 200, -5, 1234));
        assert!(parse_unit(&k[..k.len() - 1], &v).is_err());
        assert!(parse_unit(&k, &v[..27]).is_err());
    }

    #[test]
    fn offset_round_trip() {
        let k = offset_key("Tp", 2, Bound::Min);
        assert_eq!(&k[..], b"\0\0\0\x02\x01Tp\x01min\x01\0\0\0\x02");
        match parse_offset(&k, &offset_value(9, 4)).unwrap() {
            OffsetItem::Entry(e) => assert_eq!(
                (e.bound, e.phy_offset, e.queue_offset, e.queue_id),
                (Bound::Min, 9, 4, 2)
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_offset(&checkpoint_key(), &77i64.to_be_bytes()).unwrap(),
            OffsetItem::Checkpoint(77)
        );
        assert!(parse_offset(&k, &[0u8; 8]).is_err());
    }
}
