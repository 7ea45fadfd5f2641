//! Java 5.3.3 loads and reads what rmqstore writes in 5.x mode. Ignored by plain
//! `cargo test` (which stays Java-free); `interop/v5-features/run.sh` builds
//! the Java driver (published rocketmq-store 5.3.3) and runs this.
//!
//! rmqstore writes a store with target version 5.3.3 and `enabledAppendPropCRC` (V2 records for
//! a long topic, keys, a batch, a segment rollover); the driver opens it with the 5.3.3
//! `DefaultMessageStore` with `forceVerifyPropCRC` (recovery drops any record whose `__CRC32#`
//! is wrong) and checks that recovery ends where rmqstore stopped and that every message reads
//! back by queue offset (same offset and body) and by key through the index.

use std::path::{Path, PathBuf};
use std::process::Command;

use rmqstore::format::Host;
use rmqstore::v5::TargetVersion;
use rmqstore::{BatchItem, Message, MessageBatch, MessageStore, StoreConfig};
use serde_json::json;
use sha2::{Digest, Sha256};

fn driver_classpath() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/v5-features");
    let cp = std::fs::read_to_string(dir.join("cp.txt")).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run interop/v5-features/build.sh first",
            dir.join("cp.txt").display()
        )
    });
    format!("{}:{}", dir.join("target/classes").display(), cp.trim())
}

fn java_check(root: &Path, expect: &serde_json::Value) -> (bool, String) {
    let expect_path: PathBuf = root.with_extension("expect.json");
    std::fs::write(&expect_path, serde_json::to_vec_pretty(expect).unwrap()).unwrap();
    let out = Command::new("java")
        .env("TZ", "UTC")
        .arg("-cp")
        .arg(driver_classpath())
        .arg("rmqstore.v5.V5Features")
        .arg("check-rmqstore")
        .arg(root)
        .arg(&expect_path)
        .output()
        .expect("run java");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut summary: String = text
        .lines()
        .filter(|l| l.starts_with("FAIL") || l.starts_with("checked"))
        .collect::<Vec<_>>()
        .join("\n");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(30).collect();
        summary.push_str("\n--- java stderr (last lines) ---\n");
        summary.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    (out.status.success(), summary)
}

fn write_5x_store(root: &Path, crc: bool) -> serde_json::Value {
    let mut c = StoreConfig::with_root(root).with_target_version(TargetVersion::V5_3_3);
    c.enabled_append_prop_crc = crc;
    c.mapped_file_size_commit_log = 1 << 20;
    c.mapped_file_size_consume_queue_raw = 4000;
    c.max_hash_slot_num = 1000;
    c.max_index_num = 4000;
    let store = MessageStore::open(c.clone()).unwrap();
    let long_topic = format!("V2Topic_{}", "x".repeat(200));
    let mut messages = Vec::new();
    let mut record =
        |topic: &str, qid: i32, off: i64, qoff: i64, body: &[u8], key: Option<String>| {
            messages.push(json!({
                "topic": topic, "queueId": qid, "queueOffset": qoff, "wroteOffset": off,
                "bodySha256": format!("{:x}", Sha256::digest(body)), "key": key,
            }));
        };
    for i in 0..400 {
        let topic = if i % 5 == 0 {
            long_topic.as_str()
        } else {
            "TopicTest"
        };
        let qid = i % 3;
        let key = format!("k-{i}");
        let body = vec![b'a' + (i % 26) as u8; 1000 + (i as usize * 37) % 3000];
        let mut m = Message::new(topic, qid, body.clone())
            .with_keys(&key)
            .with_tags("TagA");
        if i == 7 {
            // An incoming __CRC32# is replaced, as 5.x does.
            m = m.with_property("__CRC32#", "0123456789");
        }
        let r = store.put_message(&m).unwrap();
        assert!(r.is_ok(), "{r:?}");
        let a = r.append.unwrap();
        record(
            topic,
            qid,
            a.wrote_offset,
            a.logics_offset,
            &body,
            Some(key),
        );
    }
    let items: Vec<BatchItem> = (0..4)
        .map(|k| BatchItem {
            flag: 0,
            body: format!("batch-{k}").into_bytes(),
            properties: format!("KEYS\u{1}bk-{k}\u{2}"),
        })
        .collect();
    let r = store
        .put_messages(&MessageBatch {
            topic: "BatchTopic".into(),
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: Host::v4([127, 0, 0, 1], 1),
            store_host: Host::v4([127, 0, 0, 1], 10911),
            reconsume_times: 0,
            items: items.clone(),
        })
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
    let a = r.append.unwrap();
    let offs: Vec<i64> = std::iter::once(a.wrote_offset)
        .chain(a.more_offsets.iter().copied())
        .collect();
    for (k, (it, off)) in items.iter().zip(offs).enumerate() {
        record(
            "BatchTopic",
            0,
            off,
            a.logics_offset + k as i64,
            &it.body,
            Some(format!("bk-{k}")),
        );
    }
    let max = store.max_phy_offset();
    store.shutdown().unwrap();
    assert!(max > 1 << 20, "the store rolls over a segment");
    json!({
        "storeConfig": {
            "mappedFileSizeCommitLog": c.mapped_file_size_commit_log,
            "mappedFileSizeConsumeQueue": c.mapped_file_size_consume_queue_raw,
            "maxHashSlotNum": c.max_hash_slot_num,
            "maxIndexNum": c.max_index_num,
            "enabledAppendPropCRC": crc,
        },
        "maxPhyOffset": max,
        "messages": messages,
    })
}

#[test]
#[ignore = "needs Java 17 and Maven: interop/v5-features/run.sh runs it with --ignored"]
fn java_5_3_3_loads_a_5x_store_with_crc_property() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let expect = write_5x_store(&root, true);
    if let Ok(keep) = std::env::var("RMQSTORE_V5_KEEP") {
        // For debugging the Java side by hand: a copy of the store and what it should hold.
        let _ = std::process::Command::new("cp")
            .arg("-r")
            .arg(&root)
            .arg(&keep)
            .status();
        std::fs::write(
            format!("{keep}.expect.json"),
            serde_json::to_vec_pretty(&expect).unwrap(),
        )
        .unwrap();
    }
    let (ok, summary) = java_check(&root, &expect);
    assert!(ok, "Java 5.3.3 on rmqstore's 5.x store:\n{summary}");
}

#[test]
#[ignore = "needs Java 17 and Maven: interop/v5-features/run.sh runs it with --ignored"]
fn java_5_3_3_truncates_a_record_whose_crc_property_is_wrong() {
    // The check above can fail: flip one body byte of the last record, which keeps its body
    // CRC field but breaks its __CRC32#; 5.3.3 recovery with forceVerifyPropCRC must then stop
    // before that record.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let expect = write_5x_store(&root, true);
    let last = expect["messages"].as_array().unwrap().last().unwrap()["wroteOffset"]
        .as_u64()
        .unwrap();
    let seg_size = 1u64 << 20;
    let seg = root
        .join("commitlog")
        .join(format!("{:020}", last / seg_size * seg_size));
    let mut bytes = std::fs::read(&seg).unwrap();
    // queueOffset field (bytes 20..28 of the record): covered by __CRC32#, not by the body CRC.
    bytes[(last % seg_size) as usize + 27] ^= 1;
    std::fs::write(&seg, bytes).unwrap();
    let (ok, summary) = java_check(&root, &expect);
    assert!(!ok, "Java accepted a record with a broken __CRC32#");
    // Java ends recovery exactly at the start of that record (tests/v5_recovery.rs checks
    // that rmqstore's own recovery with forceVerifyPropCRC ends at the same offset).
    assert!(
        summary.contains(&format!("max physical offset after 5.3.3 recovery {last},")),
        "{summary}"
    );
}

/// A 5.x store with `enableLmq` + `enableMultiDispatch`: messages of a parent topic
/// multi-dispatched to three LMQs (and one plain non-LMQ name, which 5.3.3 gives no offset).
/// Returns what Java must find: every message by its parent queue offset and by each LMQ offset
/// rmqstore assigned.
fn write_5x_lmq_store(root: &Path) -> serde_json::Value {
    let mut c = StoreConfig::with_root(root).with_target_version(TargetVersion::V5_3_3);
    c.enable_lmq = true;
    c.enable_multi_dispatch = true;
    c.mapped_file_size_commit_log = 1 << 20;
    c.mapped_file_size_consume_queue_raw = 4000;
    c.max_hash_slot_num = 1000;
    c.max_index_num = 4000;
    let store = MessageStore::open(c.clone()).unwrap();
    let targets = ["%LMQ%a", "%LMQ%a,%LMQ%b", "%LMQ%b,%LMQ%c,%LMQ%a", "%LMQ%c"];
    let mut messages = Vec::new();
    for i in 0..1000 {
        let body = vec![b'a' + (i % 26) as u8; 500 + (i * 13) % 2000];
        let m = Message::new("LmqParent", 0, body.clone())
            .with_keys(&format!("l-{i}"))
            .with_tags("TagL")
            .with_property("INNER_MULTI_DISPATCH", targets[i % targets.len()]);
        let r = store.put_message(&m).unwrap();
        assert!(r.is_ok(), "{r:?}");
        let a = r.append.unwrap();
        let sha = format!("{:x}", Sha256::digest(&body));
        messages.push(json!({
            "topic": "LmqParent", "queueId": 0, "queueOffset": a.logics_offset,
            "wroteOffset": a.wrote_offset, "bodySha256": sha, "key": format!("l-{i}"),
        }));
        let stored = store.get_by_phy_offset(a.wrote_offset as u64).unwrap();
        let t = rmqstore::v5::lmq::targets(stored.decode().unwrap().properties)
            .unwrap()
            .unwrap();
        for (q, off) in t {
            messages.push(json!({
                "topic": q, "queueId": 0, "queueOffset": off.unwrap(),
                "wroteOffset": a.wrote_offset, "bodySha256": sha, "key": null,
            }));
        }
    }
    let max = store.max_phy_offset();
    store.shutdown().unwrap();
    assert!(max > 1 << 20, "the store rolls over a segment");
    json!({
        "storeConfig": {
            "mappedFileSizeCommitLog": c.mapped_file_size_commit_log,
            "mappedFileSizeConsumeQueue": c.mapped_file_size_consume_queue_raw,
            "maxHashSlotNum": c.max_hash_slot_num,
            "maxIndexNum": c.max_index_num,
            "enabledAppendPropCRC": false,
            "enableLmq": true,
            "enableMultiDispatch": true,
        },
        "maxPhyOffset": max,
        "messages": messages,
    })
}

#[test]
#[ignore = "needs Java 17 and Maven: interop/v5-features/run.sh runs it with --ignored"]
fn java_5_3_3_reads_the_lmq_queues_rmqstore_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let expect = write_5x_lmq_store(&root);
    let lmq_entries = expect["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["topic"].as_str().unwrap().starts_with("%LMQ%"))
        .count();
    assert_eq!(lmq_entries, 1000 / 4 * 7);
    let (ok, summary) = java_check(&root, &expect);
    assert!(ok, "Java 5.3.3 on rmqstore's LMQ store:\n{summary}");
    assert!(summary.contains(&format!("checked {} messages", 1000 + lmq_entries)));
}

#[test]
#[ignore = "needs Java 17 and Maven: interop/v5-features/run.sh runs it with --ignored"]
fn java_5_3_3_normal_recovery_starts_at_the_segment_holding_the_queue_end() {
    // A record of the first segment is broken (one body byte: its __CRC32# no longer
    // matches). 4.6.0's recoverNormally would scan from the third-last segment, i.e. the
    // first, and truncate there; 5.3.3 starts at the segment holding the consume queues' end
    // (the last) and keeps everything. rmqstore with target 5.3.3 must agree with Java.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let mut expect = write_5x_store(&root, true);
    let max = expect["maxPhyOffset"].as_u64().unwrap();
    let seg_size = 1u64 << 20;
    assert!(max / seg_size == 1, "two segments");
    let msgs = expect["messages"].as_array_mut().unwrap();
    let k = msgs
        .iter()
        .position(|m| m["wroteOffset"].as_u64().unwrap() > seg_size / 2)
        .unwrap();
    let victim = msgs.remove(k)["wroteOffset"].as_u64().unwrap();
    let seg = root.join("commitlog").join(format!("{:020}", 0));
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[victim as usize + 300] ^= 1;
    std::fs::write(&seg, bytes).unwrap();
    // rmqstore (on a copy): 5.3.3 keeps the log whole, 4.6.0 cuts it at the broken record.
    for (target, want) in [
        (TargetVersion::V5_3_3, max),
        (TargetVersion::V4_6_0, victim),
    ] {
        let copy = tmp.path().join(format!("copy-{target}"));
        let status = Command::new("cp")
            .arg("-r")
            .arg(&root)
            .arg(&copy)
            .status()
            .unwrap();
        assert!(status.success());
        let mut c = StoreConfig::with_root(&copy).with_target_version(target);
        c.enabled_append_prop_crc = true;
        c.force_verify_prop_crc = true;
        c.mapped_file_size_commit_log = seg_size as usize;
        c.mapped_file_size_consume_queue_raw = 4000;
        c.max_hash_slot_num = 1000;
        c.max_index_num = 4000;
        let s = MessageStore::open_read_only(c).unwrap();
        assert_eq!(s.max_phy_offset(), want, "rmqstore with target {target}");
    }
    let (ok, summary) = java_check(&root, &expect);
    assert!(ok, "Java 5.3.3:\n{summary}");
}

/// A 5.x store with a BatchCQ topic (`config/topics.json`, as a 5.x broker keeps it) holding
/// plain messages and inner batches in two queues, and a plain topic next to it, with
/// `enabledAppendPropCRC`. Returns what Java must find: every message offset (each offset of an
/// inner batch finds the batch record, whose `INNER_BASE` is the batch's first offset).
fn write_5x_bcq_store(root: &Path) -> serde_json::Value {
    let mut c = StoreConfig::with_root(root).with_target_version(TargetVersion::V5_3_3);
    c.enabled_append_prop_crc = true;
    c.mapped_file_size_commit_log = 1 << 20;
    c.mapped_file_size_consume_queue_raw = 4000;
    c.mapper_file_size_batch_consume_queue = 50 * 46;
    c.max_hash_slot_num = 1000;
    c.max_index_num = 4000;
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::write(
        root.join("config/topics.json"),
        r#"{"topicConfigTable":{"BatchTopic":{"topicName":"BatchTopic","readQueueNums":2,
        "writeQueueNums":2,"perm":6,"attributes":{"queue.type":"BatchCQ"}}}}"#,
    )
    .unwrap();
    let store = MessageStore::open(c.clone()).unwrap();
    let mut messages = Vec::new();
    for i in 0..400usize {
        let qid = (i % 2) as i32;
        if i % 3 == 0 {
            // A plain message on the batch topic, and one on a plain topic.
            let body = vec![b'a' + (i % 26) as u8; 1000 + (i * 37) % 3000];
            let key = format!("b-{i}");
            let m = Message::new("BatchTopic", qid, body.clone())
                .with_keys(&key)
                .with_tags("TagA");
            let a = store.put_message(&m).unwrap().append.unwrap();
            messages.push(json!({
                "topic": "BatchTopic", "queueId": qid, "queueOffset": a.logics_offset,
                "wroteOffset": a.wrote_offset, "bodySha256": format!("{:x}", Sha256::digest(&body)),
                "key": key, "batchQueueType": "BatchCQ",
            }));
            let m = Message::new("TopicTest", 0, body.clone()).with_keys(&format!("p-{i}"));
            let a = store.put_message(&m).unwrap().append.unwrap();
            messages.push(json!({
                "topic": "TopicTest", "queueId": 0, "queueOffset": a.logics_offset,
                "wroteOffset": a.wrote_offset, "bodySha256": format!("{:x}", Sha256::digest(&body)),
                "key": format!("p-{i}"),
            }));
            continue;
        }
        let n = 1 + i % 6;
        let batch = MessageBatch {
            topic: "BatchTopic".into(),
            queue_id: qid,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: Host::v4([127, 0, 0, 1], 1),
            store_host: Host::v4([127, 0, 0, 1], 10911),
            reconsume_times: 0,
            items: (0..n)
                .map(|k| BatchItem {
                    flag: 0,
                    body: vec![b'0' + k as u8; 200 + (i * 13 + k) % 700],
                    properties: format!("TAGS\u{1}TagB\u{2}KEYS\u{1}item-{i}-{k}\u{2}"),
                })
                .collect(),
        };
        let inner = batch
            .to_inner_batch()
            .with_property("UNIQ_KEY", &format!("7F00000100002A9F{i:016X}"));
        let r = store.put_message(&inner).unwrap();
        assert!(r.is_ok(), "{r:?}");
        let a = r.append.unwrap();
        assert_eq!(a.msg_num, n as i32);
        let sha = format!("{:x}", Sha256::digest(&inner.body));
        for k in 0..n as i64 {
            messages.push(json!({
                "topic": "BatchTopic", "queueId": qid, "queueOffset": a.logics_offset + k,
                "wroteOffset": a.wrote_offset, "bodySha256": sha, "key": null,
                "batchQueueType": "BatchCQ", "innerBase": a.logics_offset,
            }));
        }
    }
    let max = store.max_phy_offset();
    store.shutdown().unwrap();
    assert!(max > 1 << 20, "the store rolls over a segment");
    json!({
        "storeConfig": {
            "mappedFileSizeCommitLog": c.mapped_file_size_commit_log,
            "mappedFileSizeConsumeQueue": c.mapped_file_size_consume_queue_raw,
            "mapperFileSizeBatchConsumeQueue": c.mapper_file_size_batch_consume_queue,
            "maxHashSlotNum": c.max_hash_slot_num,
            "maxIndexNum": c.max_index_num,
            "enabledAppendPropCRC": true,
        },
        "batchTopics": ["BatchTopic"],
        "maxPhyOffset": max,
        "messages": messages,
    })
}

#[test]
#[ignore = "needs Java 17 and Maven: interop/v5-features/run.sh runs it with --ignored"]
fn java_5_3_3_reads_the_batch_queues_rmqstore_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let expect = write_5x_bcq_store(&root);
    let n = expect["messages"].as_array().unwrap().len();
    assert!(root.join("batchconsumequeue/BatchTopic/1").is_dir());
    assert!(!root.join("consumequeue/BatchTopic").exists());
    let (ok, summary) = java_check(&root, &expect);
    assert!(ok, "Java 5.3.3 on rmqstore's batch-CQ store:\n{summary}");
    assert!(
        summary.contains(&format!("checked {n} messages")),
        "{summary}"
    );
}

#[test]
#[ignore = "needs Java 17 and Maven: interop/v5-features/run.sh runs it with --ignored"]
fn java_5_3_3_finds_a_wrong_inner_base() {
    // The check above can fail: the driver compares the INNER_BASE Java reads through its batch
    // queue with the one expected, so a wrong expectation is reported.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let mut expect = write_5x_bcq_store(&root);
    // Claim the wrong base for one batch message: Java must report it.
    let msgs = expect["messages"].as_array_mut().unwrap();
    let k = msgs
        .iter()
        .position(|m| m["innerBase"].as_i64().is_some_and(|b| b > 0))
        .unwrap();
    let wrong = msgs[k]["innerBase"].as_i64().unwrap() + 1;
    msgs[k]["innerBase"] = json!(wrong);
    let (ok, summary) = java_check(&root, &expect);
    assert!(!ok, "Java accepted a wrong INNER_BASE");
    assert!(summary.contains(&format!("expected {wrong}")), "{summary}");
}

/// Java 5.3.3 loads a store rmqstore wrote with timers (target 5.3.3, `timerWheelEnable`):
/// `DefaultMessageStore` and `TimerMessageStore#load` (its recovery) run through the driver's
/// `read timer`, which dumps every used wheel slot with its timer-log chain as Java reads them.
/// Java must see exactly our slots and units, take the timer queue offset from our last unit
/// (so it enqueues nothing twice), and count the pending timers per real topic.
#[test]
#[ignore = "needs Java 17 and Maven: interop/v5-features/run.sh runs it with --ignored"]
fn java_5_3_3_loads_the_timers_rmqstore_wrote() {
    use rmqstore::v5::timer;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    // The sizes the driver's `timer` config uses (40 units per timer-log segment).
    let mut c = StoreConfig::with_root(&root).with_target_version(TargetVersion::V5_3_3);
    c.mapped_file_size_commit_log = 1 << 20;
    c.mapped_file_size_consume_queue_raw = 4000;
    c.max_hash_slot_num = 1000;
    c.max_index_num = 4000;
    c.timer.log_file_size = 40 * 52 + 16;
    let store = MessageStore::open(c).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let n: i64 = 45;
    for i in 0..n {
        let mut m = Message::new("TimerUser", 0, format!("timer body {i}").into_bytes());
        let (k, v) = match i {
            7 | 8 => ("TIMER_DELIVER_MS", (now + 3 * 3_600_000).to_string()),
            20 => (
                "TIMER_DELIVER_MS",
                (now + 2 * 86_400_000 + 5_000).to_string(),
            ),
            i if i % 3 == 0 => ("TIMER_DELAY_SEC", (300 + i).to_string()),
            i => (
                "TIMER_DELIVER_MS",
                (now + 60_000 * (5 + i % 7) + i).to_string(),
            ),
        };
        m.properties = format!("KEYS\u{1}timer-{i}\u{2}{k}\u{1}{v}\u{2}");
        let r = store.put_message(&m).unwrap();
        assert!(r.is_ok(), "{r:?}");
    }
    store.shutdown().unwrap();
    let log = timer::read_log(&root).unwrap().unwrap();
    assert_eq!(log.units.len() as i64, n);
    assert!(log.files.len() > 1, "the timer log rolled over");
    let slots = timer::read_wheel(&root).unwrap().unwrap();

    let out_json = tmp.path().join("reader.json");
    let out = Command::new("java")
        .env("TZ", "UTC")
        .arg("-cp")
        .arg(driver_classpath())
        .arg("rmqstore.v5.V5Features")
        .args(["read", "timer"])
        .arg(&root)
        .arg(&out_json)
        .output()
        .expect("run java");
    assert!(
        out.status.success(),
        "Java 5.3.3 could not load the store:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&out_json).unwrap()).unwrap();
    assert_eq!(r["abortFileExistedBeforeLoad"], false);
    let js = r["timerSlots"].as_array().unwrap();
    assert_eq!(js.len(), slots.len(), "used slots");
    let mut units = 0i64;
    for (s, j) in slots.iter().zip(js) {
        assert_eq!(j["index"].as_u64().unwrap(), s.index);
        assert_eq!(j["timeMs"].as_i64().unwrap(), s.time_units * 1000);
        assert_eq!(j["firstPos"].as_i64().unwrap(), s.first_pos);
        assert_eq!(j["lastPos"].as_i64().unwrap(), s.last_pos);
        assert_eq!(j["num"].as_i64().unwrap(), i64::from(s.num));
        let chain = timer::slot_chain(&log, s).unwrap();
        let jc = j["chain"].as_array().unwrap();
        assert_eq!(jc.len(), chain.len(), "slot {}", s.index);
        for ((pos, u), ju) in chain.iter().zip(jc) {
            assert_eq!(ju["pos"].as_i64().unwrap(), *pos);
            assert_eq!(ju["offsetPy"].as_i64().unwrap(), u.offset_py);
            assert_eq!(ju["sizePy"].as_i64().unwrap(), i64::from(u.size_py));
            assert_eq!(ju["magic"].as_i64().unwrap(), i64::from(u.magic));
            assert_eq!(
                ju["delayTimeMs"].as_i64().unwrap(),
                i64::from(u.delay_time_ms)
            );
            units += 1;
        }
    }
    assert_eq!(units, n, "every unit is in a chain Java follows");
    // Java's recovery takes the queue offset from our last unit: nothing to enqueue again.
    assert_eq!(r["timerCurrQueueOffset"].as_i64().unwrap(), n);
    assert_eq!(
        r["timerCheckpointAfterRecovery"]["lastTimerLogFlushPos"]
            .as_i64()
            .unwrap(),
        log.end
    );
    let q = r["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["topic"] == timer::TIMER_TOPIC)
        .expect("Java sees the timer queue");
    assert_eq!(q["maxOffset"].as_i64().unwrap(), n);
    let metrics: serde_json::Value =
        serde_json::from_str(r["timerMetrics"].as_str().unwrap()).unwrap();
    assert_eq!(metrics["timingCount"]["TimerUser"]["count"], n);
}

/// The 5.x confirm offset outside controller mode: Java 5.3.3 loads a store rmqstore wrote
/// (normal recovery), and its shutdown writes `confirmPhyOffset` (checkpoint byte 32) = the
/// start of the last valid record its recovery found. rmqstore with target 5.3.3, opening the
/// same store, writes the same value.
#[test]
#[ignore = "needs Java 17 and Maven: interop/v5-features/run.sh runs it with --ignored"]
fn java_5_3_3_writes_the_confirm_offset_rmqstore_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let expect = write_5x_store(&root, false);
    let copy = tmp.path().join("copy");
    assert!(Command::new("cp")
        .arg("-r")
        .arg(&root)
        .arg(&copy)
        .status()
        .unwrap()
        .success());
    let confirm = |p: &Path| {
        let b = std::fs::read(p.join("checkpoint")).unwrap();
        i64::from_be_bytes(b[32..40].try_into().unwrap())
    };
    let (ok, summary) = java_check(&root, &expect);
    assert!(ok, "Java 5.3.3:\n{summary}");
    let java = confirm(&root);
    let last = expect["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["wroteOffset"].as_i64())
        .max()
        .unwrap();
    assert_eq!(
        java, last,
        "5.3.3's confirm offset: the last record's start"
    );
    let mut c = StoreConfig::with_root(&copy).with_target_version(TargetVersion::V5_3_3);
    c.mapped_file_size_commit_log = 1 << 20;
    c.mapped_file_size_consume_queue_raw = 4000;
    c.max_hash_slot_num = 1000;
    c.max_index_num = 4000;
    MessageStore::open(c).unwrap().shutdown().unwrap();
    assert_eq!(confirm(&copy), java);
}
