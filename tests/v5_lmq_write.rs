//! 5.x LMQ multi-dispatch on the write path, against the bytes Java 5.3.3 wrote in
//! `tests/fixtures/java/rocketmq-5.3.3/lmq` (`enableLmq` + `enableMultiDispatch`): the fixture's
//! messages replayed or put through rmqstore in 5.x mode get the same `INNER_MULTI_QUEUE_OFFSET`
//! values, the same commitlog bytes (replay) and byte-identical `consumequeue/%LMQ%*/0/` files;
//! recovery and rebuild regenerate them.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rmqstore::clock::ManualClock;
use rmqstore::format::{decode_record, Decoded};
use rmqstore::v5::lmq::{self, PROPERTY_INNER_MULTI_QUEUE_OFFSET};
use rmqstore::v5::TargetVersion;
use rmqstore::{Message, MessageStore, OpenMode, ReplayMessage, StoreConfig};

mod common;
use common::{files_under, fixture_store_config};

fn fx() -> PathBuf {
    // interop/v5-features/run.sh points this at stores the 5.3.3 jar has just written.
    let root = std::env::var_os("RMQSTORE_V5_FIXTURE_ROOT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/java/rocketmq-5.3.3"),
        PathBuf::from,
    );
    root.join("lmq/store")
}

fn config(root: &Path) -> StoreConfig {
    let mut c = fixture_store_config(root).with_target_version(TargetVersion::V5_3_3);
    c.enable_lmq = true;
    c.enable_multi_dispatch = true;
    c
}

/// Every record of the fixture's commitlog, as a message plus its store timestamp and the
/// properties Java stored.
fn fixture_records() -> Vec<(Message, i64, String)> {
    let seg = fs::read(fx().join("commitlog/00000000000000000000")).unwrap();
    let mut out = Vec::new();
    let mut pos = 0usize;
    while let Ok(Decoded::Message {
        record: r,
        total_size,
    }) = decode_record(&seg[pos..], true)
    {
        let props = String::from_utf8(r.properties.to_vec()).unwrap();
        let msg = Message {
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
        };
        out.push((msg, r.store_timestamp, props));
        pos += total_size as usize;
    }
    assert!(out.len() > 10, "the lmq fixture holds its 13 records");
    out
}

/// Where the records of a segment end.
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

/// `props` without `name`.
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

/// The consume-queue files of the fixture and of `root`, byte for byte.
fn assert_queues_equal_javas(root: &Path, what: &str) {
    let java = files_under(&fx().join("consumequeue"));
    let ours = files_under(&root.join("consumequeue"));
    assert_eq!(
        java.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>(),
        "{what}: consume-queue files"
    );
    assert!(java.keys().any(|k| k.starts_with("%LMQ%b/0/")));
    for (path, bytes) in &java {
        assert!(
            bytes == &ours[path],
            "{what}: consumequeue/{path} differs from Java's"
        );
    }
}

fn open(root: &Path, clock: &ManualClock) -> MessageStore {
    MessageStore::open_with(config(root), OpenMode::ReadWrite, Arc::new(clock.clone())).unwrap()
}

#[test]
fn replay_assigns_javas_lmq_offsets_and_reproduces_its_bytes() {
    let recs = fixture_records();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let clock = ManualClock::new(recs[0].1);
    let store = open(&root, &clock);
    for (msg, ts, _) in &recs {
        // The stored offsets are replaced by a wrong value: the store must assign them.
        let mut m = msg.clone();
        if lmq::put_targets(&m.topic, &m.properties).is_some() {
            m.properties = with_value(&m.properties, PROPERTY_INNER_MULTI_QUEUE_OFFSET, "99");
        }
        store
            .replay(&[ReplayMessage {
                message: m,
                store_timestamp: *ts,
            }])
            .unwrap();
    }
    // Reads through an LMQ: %LMQ%a holds records 0, 1, 2, 4, 5, 6, 8, 9, 10.
    let got = store.get_messages("%LMQ%a", 0, 0, 32);
    assert_eq!(got.messages.len(), 9);
    for (n, m) in got.messages.iter().enumerate() {
        let r = m.decode().unwrap();
        let offs = lmq::targets(r.properties).unwrap().unwrap();
        assert!(offs.contains(&("%LMQ%a".to_string(), Some(n as i64))));
    }
    store.shutdown().unwrap();

    let java = fs::read(fx().join("commitlog/00000000000000000000")).unwrap();
    let ours = fs::read(root.join("commitlog/00000000000000000000")).unwrap();
    let end = data_end(&java);
    assert!(end > 3000);
    assert!(java[..end] == ours[..end], "commitlog differs from Java's");
    assert_queues_equal_javas(&root, "replay");
}

#[test]
fn puts_assign_javas_lmq_offsets_and_the_same_queue_bytes() {
    let recs = fixture_records();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let clock = ManualClock::new(recs[0].1);
    let store = open(&root, &clock);
    for (msg, ts, java_props) in &recs {
        let mut m = msg.clone();
        m.properties = without(&m.properties, PROPERTY_INNER_MULTI_QUEUE_OFFSET);
        clock.set(*ts);
        let r = store.put_message(&m).unwrap();
        assert!(r.is_ok(), "{r:?}");
        let a = r.append.unwrap();
        let stored = store.get_by_phy_offset(a.wrote_offset as u64).unwrap();
        let rec = stored.decode().unwrap();
        // The same properties as Java stored (the order is a 5.x broker's, see props.rs).
        assert_eq!(
            sorted_pairs(rec.properties),
            sorted_pairs(java_props.as_bytes())
        );
    }
    store.shutdown().unwrap();
    assert_queues_equal_javas(&root, "put");

    // Recovery redoes the LMQ units: the consume queues removed and an abnormal start.
    fs::remove_dir_all(root.join("consumequeue")).unwrap();
    fs::write(root.join("abort"), b"").unwrap();
    let store = open(&root, &clock);
    assert_eq!(store.max_offset_in_queue("%LMQ%c", 0), 6);
    // The next put continues each LMQ where the recovered queue ends.
    let mut m = recs[0].0.clone();
    m.properties = without(&m.properties, PROPERTY_INNER_MULTI_QUEUE_OFFSET);
    m.properties = with_value(
        &m.properties,
        lmq::PROPERTY_INNER_MULTI_DISPATCH,
        "%LMQ%c,%LMQ%new",
    );
    let r = store.put_message(&m).unwrap();
    let rec_off = r.append.unwrap().wrote_offset as u64;
    let stored = store.get_by_phy_offset(rec_off).unwrap();
    assert_eq!(
        lmq::targets(stored.decode().unwrap().properties)
            .unwrap()
            .unwrap(),
        vec![("%LMQ%c".into(), Some(6)), ("%LMQ%new".into(), Some(0))]
    );
    assert_eq!(store.max_offset_in_queue("%LMQ%new", 0), 1);
    store.shutdown().unwrap();

    // The 5.x inspection (what `stat`/`verify` use) finds every LMQ unit's record naming that
    // queue at that offset.
    let store = MessageStore::open_read_only(config(&root)).unwrap();
    let rep = rmqstore::v5::inspect::inspect(&root, &store).unwrap();
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert_eq!(rep.lmq_queues.len(), 4, "{:?}", rep.lmq_queues);
}

#[test]
fn without_enable_lmq_or_in_4x_mode_nothing_is_added() {
    let recs = fixture_records();
    for (target, lmq_on) in [
        (TargetVersion::V5_3_3, false),
        (TargetVersion::V4_6_0, true),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        let mut c = fixture_store_config(&root).with_target_version(target);
        c.enable_lmq = lmq_on;
        c.enable_multi_dispatch = true;
        let store = MessageStore::open(c).unwrap();
        let mut m = recs[1].0.clone();
        m.properties = without(&m.properties, PROPERTY_INNER_MULTI_QUEUE_OFFSET);
        let r = store.put_message(&m).unwrap();
        let stored = store
            .get_by_phy_offset(r.append.unwrap().wrote_offset as u64)
            .unwrap();
        assert_eq!(stored.decode().unwrap().properties, m.properties.as_bytes());
        assert_eq!(store.max_offset_in_queue("%LMQ%a", 0), 0);
        store.shutdown().unwrap();
    }
}

/// The `HashMap` order model of `src/v5/props.rs` reproduces every properties string Java 5.3.3
/// re-serialized at put time in the lmq and batchcq fixtures (the driver fills a
/// `new HashMap<>()`: TAGS, KEYS, CLUSTER, UNIQ_KEY, then INNER_MULTI_DISPATCH or INNER_NUM;
/// the store then puts INNER_MULTI_QUEUE_OFFSET or INNER_BASE).
#[test]
fn property_order_model_reproduces_javas_strings() {
    use rmqstore::v5::props::{java_parse, java_serialize, DEFAULT_MAP_CAPACITY};
    let order = [
        "TAGS",
        "KEYS",
        "CLUSTER",
        "UNIQ_KEY",
        "INNER_MULTI_DISPATCH",
        "INNER_NUM",
        "INNER_MULTI_QUEUE_OFFSET",
        "INNER_BASE",
    ];
    let mut checked = 0;
    for variant in ["lmq", "batchcq"] {
        let m: serde_json::Value = serde_json::from_slice(
            &fs::read(fx().join(format!("../../{variant}/manifest.json"))).unwrap(),
        )
        .unwrap();
        for msg in m["messages"].as_array().unwrap() {
            let stored = msg["propertiesString"].as_str().unwrap();
            if !stored.contains("INNER_MULTI_QUEUE_OFFSET") && !stored.contains("INNER_BASE") {
                continue;
            }
            let mut entries = java_parse(stored);
            entries.sort_by_key(|(k, _)| order.iter().position(|o| o == k).unwrap());
            assert_eq!(java_serialize(&entries, DEFAULT_MAP_CAPACITY), stored);
            checked += 1;
        }
    }
    assert!(checked >= 24, "{checked}");
}
