//! The 5.x batch consume queue on the put path, against the bytes Java 5.3.3 wrote in
//! `tests/fixtures/java/rocketmq-5.3.3/batchcq` (a `queue.type=BatchCQ` topic with plain
//! messages and inner batches, 10-unit files): the fixture's records replayed or put through
//! rmqstore in 5.x mode get Java's queue offsets and `INNER_BASE`, the same commitlog bytes
//! (replay) and byte-identical `batchconsumequeue/` files; `get_messages` finds a batch by any
//! of its offsets; recovery (normal and abnormal) regenerates the queues.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rmqstore::clock::ManualClock;
use rmqstore::format::{decode_record, Decoded};
use rmqstore::store::GetMessageStatus;
use rmqstore::v5::batch_cq::BCQ_UNIT_SIZE;
use rmqstore::v5::TargetVersion;
use rmqstore::{
    BatchItem, Message, MessageBatch, MessageStore, OpenMode, PutMessageStatus, ReplayMessage,
    StoreConfig,
};

mod common;
use common::{files_under, fixture_store_config};

const TOPIC: &str = "BatchTopic";

fn fx() -> PathBuf {
    // interop/v5-features/run.sh points this at stores the 5.3.3 jar has just written.
    let root = std::env::var_os("RMQSTORE_V5_FIXTURE_ROOT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/java/rocketmq-5.3.3"),
        PathBuf::from,
    );
    root.join("batchcq/store")
}

fn config(root: &Path) -> StoreConfig {
    let mut c = fixture_store_config(root).with_target_version(TargetVersion::V5_3_3);
    c.mapper_file_size_batch_consume_queue = 10 * BCQ_UNIT_SIZE as u64;
    c
}

/// `config/topics.json` naming BatchTopic a BatchCQ topic, as a 5.x broker keeps it.
fn write_topics_json(root: &Path) {
    let dir = root.join("config");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("topics.json"),
        r#"{"topicConfigTable":{
            "BatchTopic":{"topicName":"BatchTopic","readQueueNums":2,"writeQueueNums":2,"perm":6,"attributes":{"queue.type":"BatchCQ"}},
            "TopicTest":{"topicName":"TopicTest","readQueueNums":1,"writeQueueNums":1,"perm":6}}}"#,
    )
    .unwrap();
}

struct Rec {
    msg: Message,
    store_timestamp: i64,
    queue_offset: i64,
    physical_offset: i64,
    props: String,
}

/// Every record of the fixture's commitlog.
fn fixture_records() -> Vec<Rec> {
    let seg = fs::read(fx().join("commitlog/00000000000000000000")).unwrap();
    let mut out = Vec::new();
    let mut pos = 0usize;
    while let Ok(Decoded::Message {
        record: r,
        total_size,
    }) = decode_record(&seg[pos..], true)
    {
        let props = String::from_utf8(r.properties.to_vec()).unwrap();
        out.push(Rec {
            msg: Message {
                topic: String::from_utf8(r.topic.to_vec()).unwrap(),
                queue_id: r.queue_id,
                flag: r.flag,
                body: r.body.to_vec(),
                properties: props.clone(),
                sys_flag: r.sys_flag,
                born_timestamp: r.born_timestamp,
                born_host: r.born_host,
                store_host: r.store_host,
                reconsume_times: r.reconsume_times,
                prepared_transaction_offset: r.prepared_transaction_offset,
            },
            store_timestamp: r.store_timestamp,
            queue_offset: r.queue_offset,
            physical_offset: r.physical_offset,
            props,
        });
        pos += total_size as usize;
    }
    assert_eq!(out.len(), 27, "24 BatchTopic records and 3 plain ones");
    out
}

fn data_end(seg: &[u8]) -> usize {
    let mut pos = 0usize;
    while let Ok(Decoded::Message { total_size, .. }) = decode_record(&seg[pos..], true) {
        pos += total_size as usize;
    }
    pos
}

/// `props` with `name`'s value replaced where it stands.
fn with_value(props: &str, name: &str, value: &str) -> String {
    props
        .split('\u{2}')
        .map(|item| match item.split_once('\u{1}') {
            Some((k, _)) if k == name => format!("{k}\u{1}{value}"),
            _ => item.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\u{2}")
}

fn without(props: &str, name: &str) -> String {
    props
        .split('\u{2}')
        .filter(|item| !item.is_empty() && item.split('\u{1}').next() != Some(name))
        .map(|item| format!("{item}\u{2}"))
        .collect()
}

fn sorted_pairs(props: &[u8]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = rmqstore::format::properties::iter(props)
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn prop(props: &[u8], name: &str) -> Option<String> {
    rmqstore::format::properties::get(props, name).map(|v| v.to_string())
}

/// `batchconsumequeue/` (and the plain `consumequeue/`) of `root` equal Java's, byte for byte.
fn assert_queues_equal_javas(root: &Path, what: &str) {
    for sub in ["batchconsumequeue", "consumequeue"] {
        let java = files_under(&fx().join(sub));
        let ours = files_under(&root.join(sub));
        assert_eq!(
            java.keys().collect::<Vec<_>>(),
            ours.keys().collect::<Vec<_>>(),
            "{what}: {sub} files"
        );
        for (p, b) in &java {
            assert!(b == &ours[p], "{what}: {sub}/{p} differs from Java's");
        }
    }
    assert_eq!(files_under(&fx().join("batchconsumequeue")).len(), 4);
}

fn open(root: &Path, clock: &ManualClock) -> MessageStore {
    MessageStore::open_with(config(root), OpenMode::ReadWrite, Arc::new(clock.clone())).unwrap()
}

/// Every message offset of both queues read through `get_messages`: the record found is the one
/// Java stored for it (an offset inside an inner batch finds the batch), and the next pull
/// starts after that batch.
fn assert_reads_like_java(store: &MessageStore, recs: &[Rec]) {
    for q in 0..2 {
        let mine: Vec<&Rec> = recs
            .iter()
            .filter(|r| r.msg.topic == TOPIC && r.msg.queue_id == q)
            .collect();
        let last = mine.last().unwrap();
        let n = |r: &Rec| {
            prop(r.props.as_bytes(), "INNER_NUM").map_or(1, |v| v.parse::<u64>().unwrap())
        };
        let max = last.queue_offset as u64 + n(last);
        assert_eq!(store.max_offset_in_queue(TOPIC, q), max);
        assert_eq!(store.min_offset_in_queue(TOPIC, q), 0);
        for off in 0..max {
            let holder = mine
                .iter()
                .rev()
                .find(|r| r.queue_offset as u64 <= off)
                .unwrap();
            let got = store.get_messages(TOPIC, q, off, 1);
            assert_eq!(got.status, GetMessageStatus::Found, "{q}@{off}");
            assert_eq!(got.messages.len(), 1, "{q}@{off}");
            assert_eq!(got.messages[0].offset() as i64, holder.physical_offset);
            assert_eq!(
                got.next_begin_offset,
                holder.queue_offset as u64 + n(holder)
            );
            assert_eq!((got.min_offset, got.max_offset), (0, max));
        }
        assert_eq!(
            store.get_messages(TOPIC, q, max, 32).status,
            GetMessageStatus::OffsetOverflowOne
        );
        // A pull of 32 returns whole units until the next one would pass 32 messages.
        let all = store.get_messages(TOPIC, q, 0, 32);
        let mut count = 0;
        let mut units = 0;
        for r in &mine {
            if count + n(r) > 32 {
                break;
            }
            count += n(r);
            units += 1;
        }
        assert_eq!(all.messages.len(), units);
        assert_eq!(
            all.next_begin_offset,
            mine[..units].iter().map(|r| n(r)).sum::<u64>()
        );
    }
}

#[test]
fn replay_reproduces_javas_commitlog_and_batch_queues() {
    let recs = fixture_records();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let clock = ManualClock::new(recs[0].store_timestamp);
    let store = open(&root, &clock);
    assert!(store.set_batch_topic(TOPIC, true));
    for r in &recs {
        // A wrong INNER_BASE: the store assigns it under the put lock.
        let mut m = r.msg.clone();
        if prop(m.properties.as_bytes(), "INNER_BASE").is_some() {
            m.properties = with_value(&m.properties, "INNER_BASE", "99");
        }
        let a = store
            .replay(&[ReplayMessage {
                message: m,
                store_timestamp: r.store_timestamp,
            }])
            .unwrap();
        assert_eq!(a.logics_offset, r.queue_offset);
        assert_eq!(a.wrote_offset, r.physical_offset);
    }
    assert_reads_like_java(&store, &recs);
    store.shutdown().unwrap();
    let java = fs::read(fx().join("commitlog/00000000000000000000")).unwrap();
    let ours = fs::read(root.join("commitlog/00000000000000000000")).unwrap();
    let end = data_end(&java);
    assert!(end > 5000);
    assert!(java[..end] == ours[..end], "commitlog differs from Java's");
    assert_queues_equal_javas(&root, "replay");
}

#[test]
fn puts_assign_javas_offsets_and_write_javas_batch_queues() {
    let recs = fixture_records();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    write_topics_json(&root);
    let clock = ManualClock::new(recs[0].store_timestamp);
    let store = open(&root, &clock);
    for r in &recs {
        let mut m = r.msg.clone();
        m.properties = without(&m.properties, "INNER_BASE");
        clock.set(r.store_timestamp);
        let res = store.put_message(&m).unwrap();
        assert!(res.is_ok(), "{res:?}");
        let a = res.append.unwrap();
        assert_eq!(a.logics_offset, r.queue_offset);
        assert_eq!(a.wrote_offset, r.physical_offset);
        let inner = prop(r.props.as_bytes(), "INNER_NUM");
        assert_eq!(
            a.msg_num,
            inner.map_or(1, |v| v.parse().unwrap()),
            "Java counts an inner batch's messages"
        );
        let stored = store.get_by_phy_offset(a.wrote_offset as u64).unwrap();
        assert_eq!(
            sorted_pairs(stored.decode().unwrap().properties),
            sorted_pairs(r.props.as_bytes())
        );
    }
    assert_reads_like_java(&store, &recs);
    store.shutdown().unwrap();
    assert_queues_equal_javas(&root, "put");

    // Abnormal recovery regenerates the batch queues from the commitlog.
    fs::remove_dir_all(root.join("batchconsumequeue")).unwrap();
    fs::write(root.join("abort"), b"").unwrap();
    let store = open(&root, &clock);
    assert_reads_like_java(&store, &recs);
    // The next inner batch continues the queue where the recovered queue ends.
    let next = store.max_offset_in_queue(TOPIC, 0);
    let batch = MessageBatch {
        topic: TOPIC.into(),
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: 7,
        born_host: recs[0].msg.born_host,
        store_host: recs[0].msg.store_host,
        reconsume_times: 0,
        items: (0..4u8)
            .map(|i| BatchItem {
                flag: 0,
                body: vec![i; 5],
                properties: String::new(),
            })
            .collect(),
    };
    let a = store.put_message(&batch.to_inner_batch()).unwrap();
    assert_eq!(a.append.as_ref().unwrap().logics_offset as u64, next);
    assert_eq!(store.max_offset_in_queue(TOPIC, 0), next + 4);
    let got = store.get_messages(TOPIC, 0, next + 3, 1);
    assert_eq!(
        got.messages[0].offset() as i64,
        a.append.unwrap().wrote_offset
    );
    store.shutdown().unwrap();
    let java_files = files_under(&fx().join("batchconsumequeue"));
    let ours = files_under(&root.join("batchconsumequeue"));
    // Queue 1 is Java's; queue 0 is Java's plus one unit.
    for (p, b) in &java_files {
        if p.starts_with("BatchTopic/1/") {
            assert!(b == &ours[p], "{p}");
        }
    }
}

#[test]
fn normal_recovery_completes_a_batch_queue_cut_short() {
    let recs = fixture_records();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let clock = ManualClock::new(recs[0].store_timestamp);
    let store = open(&root, &clock);
    store.set_batch_topic(TOPIC, true);
    for r in &recs {
        store
            .replay(&[ReplayMessage {
                message: r.msg.clone(),
                store_timestamp: r.store_timestamp,
            }])
            .unwrap();
    }
    store.shutdown().unwrap();
    // Cut queue 0 back to 7 units and drop its second file (a clean shutdown, no abort file).
    let q0 = root.join("batchconsumequeue/BatchTopic/0");
    fs::remove_file(q0.join("00000000000000000460")).unwrap();
    let first = q0.join("00000000000000000000");
    let mut b = fs::read(&first).unwrap();
    b[7 * BCQ_UNIT_SIZE..].fill(0);
    fs::write(&first, b).unwrap();
    // No topics.json: the queue is a batch queue because it is on disk.
    let store = open(&root, &clock);
    assert_reads_like_java(&store, &recs);
    store.shutdown().unwrap();
    assert_queues_equal_javas(&root, "normal recovery");
}

#[test]
fn a_truncated_commitlog_truncates_the_batch_queues() {
    let recs = fixture_records();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let clock = ManualClock::new(recs[0].store_timestamp);
    let store = open(&root, &clock);
    store.set_batch_topic(TOPIC, true);
    for r in &recs {
        store
            .replay(&[ReplayMessage {
                message: r.msg.clone(),
                store_timestamp: r.store_timestamp,
            }])
            .unwrap();
    }
    store.shutdown().unwrap();
    // Break the body CRC of record 12 (queue 0's 7th unit); recovery ends there.
    let cut = &recs[12];
    assert_eq!((cut.msg.topic.as_str(), cut.msg.queue_id), (TOPIC, 0));
    let seg = root.join("commitlog/00000000000000000000");
    let mut bytes = fs::read(&seg).unwrap();
    let len = bytes.len();
    bytes[cut.physical_offset as usize + 8] ^= 0x55; // body CRC field
    fs::write(&seg, &bytes).unwrap();
    assert_eq!(len, bytes.len());
    fs::write(root.join("abort"), b"").unwrap();
    let mut c = config(&root);
    c.check_crc_on_recover = true;
    let store = MessageStore::open_with(c, OpenMode::ReadWrite, Arc::new(clock.clone())).unwrap();
    assert_eq!(store.max_phy_offset() as i64, cut.physical_offset);
    let kept: Vec<&Rec> = recs[..12]
        .iter()
        .filter(|r| r.msg.topic == TOPIC && r.msg.queue_id == 0)
        .collect();
    let last = kept.last().unwrap();
    let n = prop(last.props.as_bytes(), "INNER_NUM").map_or(1, |v| v.parse::<u64>().unwrap());
    assert_eq!(
        store.max_offset_in_queue(TOPIC, 0),
        last.queue_offset as u64 + n
    );
    store.shutdown().unwrap();
    // On disk: queue 0 holds exactly those units, the rest zeroed; the second file is gone.
    let q0 = root.join("batchconsumequeue/BatchTopic/0");
    assert!(!q0.join("00000000000000000460").exists());
    let b = fs::read(q0.join("00000000000000000000")).unwrap();
    let java = fs::read(fx().join("batchconsumequeue/BatchTopic/0/00000000000000000000")).unwrap();
    let k = kept.len() * BCQ_UNIT_SIZE;
    assert_eq!(&b[..k], &java[..k]);
    assert!(b[k..].iter().all(|x| *x == 0));
}

#[test]
fn inner_batches_are_checked_as_5x_checks_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let store = MessageStore::open(config(&root)).unwrap();
    store.set_batch_topic("B", true);
    let batch = |topic: &str| MessageBatch {
        topic: topic.into(),
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: 1,
        born_host: rmqstore::message::Host::v4([127, 0, 0, 1], 1),
        store_host: rmqstore::message::Host::v4([127, 0, 0, 1], 10911),
        reconsume_times: 0,
        items: (0..3u8)
            .map(|i| BatchItem {
                flag: 0,
                body: vec![i],
                properties: format!("KEYS\u{1}k{i}\u{2}"),
            })
            .collect(),
    };
    // An inner batch for a plain topic: MESSAGE_ILLEGAL.
    let r = store.put_message(&batch("Plain").to_inner_batch()).unwrap();
    assert_eq!(r.status, PutMessageStatus::MessageIllegal);
    // INNER_NUM without the INNER_BATCH flag: MESSAGE_ILLEGAL.
    let m = Message::new("B", 0, b"x".to_vec()).with_property("INNER_NUM", "3");
    assert_eq!(
        store.put_message(&m).unwrap().status,
        PutMessageStatus::MessageIllegal
    );
    // An INNER_NUM that is not a positive 16-bit number.
    let mut bad = batch("B").to_inner_batch();
    bad.properties = "INNER_NUM\u{1}0\u{2}".into();
    assert_eq!(
        store.put_message(&bad).unwrap().status,
        PutMessageStatus::MessageIllegal
    );
    assert_eq!(store.max_offset_in_queue("B", 0), 0);
    // A plain message, then a good batch: offsets 0 and 1..4.
    assert!(store
        .put_message(&Message::new("B", 0, b"p".to_vec()))
        .unwrap()
        .is_ok());
    let r = store.put_message(&batch("B").to_inner_batch()).unwrap();
    assert_eq!(r.append.as_ref().unwrap().logics_offset, 1);
    let rec = store
        .get_by_phy_offset(r.append.unwrap().wrote_offset as u64)
        .unwrap();
    let d = rec.decode().unwrap();
    assert_eq!(prop(d.properties, "INNER_BASE").as_deref(), Some("1"));
    assert_eq!(d.sys_flag & 0xC0, 0xC0, "NEED_UNWRAP | INNER_BATCH");
    // The body is the client's encoding of the 3 items (MessageDecoder#encodeMessages).
    let mut at = 0usize;
    for i in 0..3u8 {
        let size = i32::from_be_bytes(d.body[at..at + 4].try_into().unwrap()) as usize;
        let item = &d.body[at..at + size];
        assert_eq!(&item[16..20], &1i32.to_be_bytes());
        assert_eq!(item[20], i);
        assert_eq!(&item[23..], format!("KEYS\u{1}k{i}\u{2}").as_bytes());
        at += size;
    }
    assert_eq!(at, d.body.len());
    assert_eq!(store.max_offset_in_queue("B", 0), 4);
    // A plain 4.6.0 batch (put_messages) on a batch topic: one unit per message.
    assert!(store.put_messages(&batch("B")).unwrap().is_ok());
    assert_eq!(store.max_offset_in_queue("B", 0), 7);
    let got = store.get_messages("B", 0, 2, 32);
    assert_eq!(
        (got.messages.len(), got.next_begin_offset),
        (4, 7),
        "the batch (from inside it) and the three singles"
    );
    store.shutdown().unwrap();
    assert!(root
        .join("batchconsumequeue/B/0/00000000000000000000")
        .exists());
    assert!(!root.join("consumequeue/B").exists());
}

#[test]
fn the_fixture_store_reads_through_its_batch_queues() {
    // Java's own store, opened read-only by rmqstore in 5.x mode (no topics.json: the queues
    // on disk are batch queues).
    let recs = fixture_records();
    let store = MessageStore::open_read_only(config(&fx())).unwrap();
    assert_reads_like_java(&store, &recs);
}
