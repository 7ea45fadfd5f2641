//! Topics the Java store writes, whatever their characters (issue 12, item 6).
//!
//! Java 4.6.0's store takes any topic of up to 127 characters (`DefaultMessageStore#putMessage`
//! checks only the length; the character rules are the broker's `TopicValidator`) and names its
//! consume-queue folder after it. A Java store holding `主题Ü-un` or `Tpc Tést` is built here by
//! renaming two topics of a Java fixture byte for byte (same byte length, so every offset and
//! size stays as Java wrote it; the consume-queue folder renamed with them). Every path must
//! then see those records: read-only and writable opens, a rebuild of the consume queues by
//! dispatch (compared byte for byte with Java's files), `stat`/`topics`/`cat`, and a slave.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{copy_store_to_temp, files_under, fixture, fixture_store_config};
use rmqstore::config::BrokerRole;
use rmqstore::format::record::{decode_record, Decoded};
use rmqstore::{Message, MessageStore, PutMessageStatus, StoreConfig};
use serde_json::Value;

/// Same byte length as the Java topics they replace (11 and 9 bytes).
const UNICODE: &str = "主题Ü-un";
const SPACED: &str = "Tpc Tést";
const RENAMES: [(&str, &str); 2] = [("order-topic", UNICODE), ("TopicTest", SPACED)];

fn rmqstore(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .args(args)
        .output()
        .expect("run rmqstore")
}

/// Rewrites the topic bytes of every record of topic `from` to `to` (same length) in the
/// commitlog under `root`, and renames its consume-queue folder (when `to` can name one).
/// Returns how many records.
fn rename_topic(root: &Path, from: &str, to: &str) -> usize {
    assert_eq!(from.len(), to.len(), "a rename must keep the record length");
    let mut n = 0;
    for e in fs::read_dir(root.join("commitlog")).unwrap() {
        let path = e.unwrap().path();
        let mut data = fs::read(&path).unwrap();
        let mut pos = 0;
        let mut edits = Vec::new();
        while pos + 8 <= data.len() {
            match decode_record(&data[pos..], false) {
                Ok(Decoded::Message { record, total_size }) => {
                    if record.topic == from.as_bytes() {
                        let at = record.topic.as_ptr() as usize - data.as_ptr() as usize;
                        edits.push(at);
                    }
                    pos += total_size as usize;
                }
                _ => break,
            }
        }
        for at in &edits {
            data[*at..*at + to.len()].copy_from_slice(to.as_bytes());
        }
        n += edits.len();
        fs::write(&path, &data).unwrap();
    }
    if rmqstore::topic::validate_topic(to).is_ok() {
        let cq = root.join("consumequeue");
        fs::rename(cq.join(from), cq.join(to)).unwrap();
    }
    n
}

/// A copy of the 4.6.0 async fixture with both topics renamed; also the per-queue
/// (topic, queue) -> max offset Java's reader saw (every queue starts at 0), under the new names.
/// Also how many records of each renamed topic the commitlog holds.
#[allow(clippy::type_complexity)]
fn java_store_with_odd_topics() -> (
    tempfile::TempDir,
    BTreeMap<(String, i32), u64>,
    BTreeMap<&'static str, usize>,
) {
    let f = fixture("rocketmq-4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let mut records = BTreeMap::new();
    for (from, to) in RENAMES {
        let n = rename_topic(tmp.path(), from, to);
        assert!(n > 100, "{from} has records");
        records.insert(to, n);
    }
    let mut expected = BTreeMap::new();
    for q in f.reader().queues {
        assert_eq!(q.min_offset, 0, "{}/{}", q.topic, q.queue_id);
        let topic = RENAMES
            .iter()
            .find(|(from, _)| *from == q.topic)
            .map_or(q.topic.as_str(), |(_, to)| to);
        expected.insert((topic.to_string(), q.queue_id), q.max_offset as u64);
    }
    assert!(expected.keys().any(|(t, _)| t == UNICODE));
    (tmp, expected, records)
}

/// Every renamed queue has Java's max offset, and its records carry the new topic.
fn check_queues(store: &MessageStore, expected: &BTreeMap<(String, i32), u64>, context: &str) {
    for ((topic, q), max) in expected {
        if !RENAMES.iter().any(|(_, to)| to == topic) {
            continue;
        }
        assert_eq!(
            store.max_offset_in_queue(topic, *q),
            *max,
            "{context}: {topic}/{q} max offset"
        );
        let min = store.min_offset_in_queue(topic, *q);
        let got = store.get_messages(topic, *q, min, 32);
        assert!(!got.messages.is_empty(), "{context}: {topic}/{q} reads");
        for m in &got.messages {
            assert_eq!(m.decode().unwrap().topic, topic.as_bytes(), "{context}");
        }
    }
    assert_eq!(store.undispatchable(), 0, "{context}: nothing kept out");
}

#[test]
fn a_java_store_with_non_ascii_topics_opens_read_only_and_writable() {
    let (tmp, expected, _) = java_store_with_odd_topics();
    let ro = MessageStore::open_read_only(fixture_store_config(tmp.path()))
        .expect("read-only open of a Java store with a non-ASCII topic");
    check_queues(&ro, &expected, "read-only");
    drop(ro);

    let store = MessageStore::open(fixture_store_config(tmp.path()))
        .expect("writable open of a Java store with a non-ASCII topic");
    check_queues(&store, &expected, "writable");
    let next = store.max_offset_in_queue(UNICODE, 0);
    let r = store
        .put_message(&Message::new(UNICODE, 0, b"after".to_vec()))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::PutOk, "{:?}", r.reason);
    assert_eq!(store.max_offset_in_queue(UNICODE, 0), next + 1);
    store.shutdown().unwrap();
}

#[test]
fn dispatch_rebuilds_the_consume_queues_of_non_ascii_topics_as_java_wrote_them() {
    let (tmp, expected, _) = java_store_with_odd_topics();
    let java_cq = files_under(&tmp.path().join("consumequeue"));
    assert!(java_cq.keys().any(|k| k.starts_with(UNICODE)));
    fs::remove_dir_all(tmp.path().join("consumequeue")).unwrap();
    let store = MessageStore::open(fixture_store_config(tmp.path())).unwrap();
    check_queues(&store, &expected, "re-dispatched");
    store.shutdown().unwrap();
    let ours = files_under(&tmp.path().join("consumequeue"));
    for (name, bytes) in &java_cq {
        if !RENAMES.iter().any(|(_, to)| name.starts_with(to)) {
            continue;
        }
        let mine = ours
            .get(name)
            .unwrap_or_else(|| panic!("no consume-queue file {name} after dispatch"));
        assert!(mine == bytes, "{name} differs from Java's");
    }
}

#[test]
fn stat_topics_and_cat_show_non_ascii_topics() {
    let (tmp, expected, records) = java_store_with_odd_topics();
    let root = tmp.path().as_os_str();
    let o = rmqstore(&["stat".as_ref(), root]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stat: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let o = rmqstore(&["topics".as_ref(), root, "--json".as_ref()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "topics: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).unwrap();
    for (_, to) in RENAMES {
        assert!(text.contains(to), "topics --json lists {to}: {text}");
    }

    let o = rmqstore(&["cat".as_ref(), root, "--json".as_ref()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "cat: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let unicode = lines
        .iter()
        .filter(|v| v["topic"].as_str() == Some(UNICODE))
        .count() as u64;
    assert_eq!(
        unicode, records[UNICODE] as u64,
        "cat prints every {UNICODE} record"
    );

    let o = rmqstore(&[
        "cat".as_ref(),
        root,
        "--topic".as_ref(),
        UNICODE.as_ref(),
        "--queue".as_ref(),
        "1".as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "cat --topic: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let n = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64;
    assert_eq!(n, expected[&(UNICODE.to_string(), 1)]);
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ha_config(root: &Path, role: BrokerRole) -> StoreConfig {
    let mut c = fixture_store_config(root);
    c.broker_role = role;
    c.ha_listen_address = "127.0.0.1".into();
    c.ha_listen_port = 0;
    c.ha_send_heartbeat_interval_ms = 100;
    c
}

#[test]
fn a_slave_gives_non_ascii_topic_records_their_consume_queue_units() {
    let (master_dir, _, _) = java_store_with_odd_topics();
    let master = MessageStore::open(ha_config(master_dir.path(), BrokerRole::AsyncMaster)).unwrap();
    let mh = master.start_ha().unwrap();
    let slave_dir = tempfile::tempdir().unwrap();
    let mut sc = ha_config(slave_dir.path(), BrokerRole::Slave);
    sc.ha_master_address = Some(mh.local_addr().unwrap().to_string());
    let slave = MessageStore::open(sc).unwrap();
    let _sh = slave.start_ha().unwrap();
    // Records go to the consume queues in commitlog order: once the last record that goes
    // to one has its unit, the slave dispatched everything it copied.
    let last_queued = |store: &MessageStore| {
        store
            .records()
            .map(|r| r.unwrap())
            .filter(|r| rmqstore::format::cq::is_dispatched_to_cq(r.decode().unwrap().sys_flag))
            .last()
            .map(|r| {
                let rec = r.decode().unwrap();
                let t = String::from_utf8_lossy(rec.topic).into_owned();
                (t, rec.queue_id, rec.queue_offset as u64)
            })
    };
    wait_for(
        "the slave to copy and dispatch the master's last segment",
        || {
            slave.max_phy_offset() == master.max_phy_offset()
                && last_queued(&slave).is_some_and(|(t, q, at)| {
                    slave
                        .consume_queues()
                        .get(&t, q)
                        .is_some_and(|cq| cq.get_unit(at).is_some())
                })
        },
    );
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    for r in slave.records() {
        let r = r.unwrap();
        let rec = r.decode().unwrap();
        if !rmqstore::format::cq::is_dispatched_to_cq(rec.sys_flag) {
            continue;
        }
        let topic = String::from_utf8(rec.topic.to_vec()).unwrap();
        let q = rec.queue_id;
        let at = rec.queue_offset as u64;
        let mine = slave
            .consume_queues()
            .get(&topic, q)
            .and_then(|cq| cq.get_unit(at));
        let java = master
            .consume_queues()
            .get(&topic, q)
            .and_then(|cq| cq.get_unit(at));
        assert!(java.is_some(), "master has {topic}/{q}@{at}");
        assert_eq!(mine, java, "slave's unit for {topic}/{q}@{at}");
        *checked.entry(topic).or_default() += 1;
    }
    assert!(
        checked.get(UNICODE).copied().unwrap_or(0) > 0,
        "{checked:?}"
    );
    assert!(checked.get(SPACED).copied().unwrap_or(0) > 0, "{checked:?}");
    assert_eq!(slave.undispatchable(), 0);
    slave.shutdown().unwrap();
    master.shutdown().unwrap();
}

#[test]
fn puts_take_what_java_stores_and_refuse_only_unsafe_folder_names() {
    let tmp = tempfile::tempdir().unwrap();
    let store = MessageStore::open(StoreConfig::with_root(tmp.path())).unwrap();
    let long_multibyte = "é".repeat(63) + "a"; // 127 bytes
    for topic in [
        "主题Ü-unicode",
        "a b",
        "x.y",
        "..a",
        "a\\b",
        "#$:*?",
        long_multibyte.as_str(),
    ] {
        let r = store
            .put_message(&Message::new(topic, 0, b"b".to_vec()))
            .unwrap();
        assert_eq!(
            r.status,
            PutMessageStatus::PutOk,
            "{topic:?}: {:?}",
            r.reason
        );
        assert_eq!(store.max_offset_in_queue(topic, 0), 1, "{topic:?}");
        assert!(tmp
            .path()
            .join("consumequeue")
            .join(topic)
            .join("0")
            .is_dir());
    }
    let end = store.max_phy_offset();
    let too_long = "é".repeat(64); // 128 bytes: a 4.6.0 record cannot say its length
    for (topic, why) in [
        ("", "empty"),
        (".", "folder"),
        ("..", "folder"),
        ("a/b", "/"),
        ("/abs", "/"),
        ("a\0b", "NUL"),
        (too_long.as_str(), "127"),
    ] {
        let r = store
            .put_message(&Message::new(topic, 0, b"b".to_vec()))
            .unwrap();
        assert_eq!(r.status, PutMessageStatus::MessageIllegal, "{topic:?}");
        let reason = r.reason.unwrap_or_default();
        assert!(reason.contains(why), "{topic:?}: {reason}");
    }
    assert_eq!(store.max_phy_offset(), end, "refused puts write nothing");
    store.shutdown().unwrap();
}

/// The one kind of topic a consume queue cannot have (here `/`) is kept out of the queues,
/// counted and described, by a writable open and by a slave; never dropped silently.
#[test]
fn records_whose_topic_cannot_name_a_folder_are_reported() {
    let f = fixture("rocketmq-4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let n = rename_topic(tmp.path(), "T", "/");
    assert!(n > 100);
    // The renamed folder would be `consumequeue//`; start from no queues at all instead.
    fs::remove_dir_all(tmp.path().join("consumequeue")).unwrap();
    let c = ha_config(tmp.path(), BrokerRole::AsyncMaster);
    let master = MessageStore::open(c).unwrap();
    assert_eq!(master.undispatchable(), n as u64);
    let report = master.undispatchable_report().unwrap();
    assert!(
        report.contains(&format!("{n} record(s)")) && report.contains("\"/\""),
        "{report}"
    );
    for q in f.reader().queues.iter().filter(|q| q.topic != "T") {
        assert_eq!(
            master.max_offset_in_queue(&q.topic, q.queue_id),
            q.max_offset as u64,
            "the other topics are dispatched"
        );
    }

    let mh = master.start_ha().unwrap();
    let slave_dir = tempfile::tempdir().unwrap();
    let mut sc = ha_config(slave_dir.path(), BrokerRole::Slave);
    sc.ha_master_address = Some(mh.local_addr().unwrap().to_string());
    let slave = MessageStore::open(sc).unwrap();
    let sh = slave.start_ha().unwrap();
    wait_for("the slave to report the records it kept out", || {
        sh.status()
            .last_error
            .is_some_and(|e| e.contains("kept out of the consume queues"))
    });
    assert!(slave.undispatchable() > 0);
    slave.shutdown().unwrap();
    master.shutdown().unwrap();
}
