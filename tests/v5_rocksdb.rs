//! 5.x's RocksDB consume queue (`storeType=defaultRocksDB`) read and rebuilt against the stores
//! Java's 5.3.3 `RocksDBMessageStore` wrote (tests/fixtures/java/rocketmq-5.3.3/rocksdb-cq, and
//! rocksdb-lmq with `enableLmq` and light message queues, from interop/v5-features `V5Rocks`):
//! every unit and offset entry against the manifest of what Java put, and against `reader.json`
//! (what Java's getMessage returned for every offset).
//!
//! Needs the `rocksdb` feature and Apache's RocksDB library (RMQSTORE_ROCKSDB_LIB, or
//! rocketmq-rocksdb in ~/.m2): `cargo test --features rocksdb --test v5_rocksdb`.
#![cfg(feature = "rocksdb")]

use std::path::{Path, PathBuf};

use rmqstore::v5::rocksdb_cq::{self, Bound};
use rmqstore::{MessageStore, StoreConfig};
use serde_json::Value;

const PLAIN: &str = "rocksdb-cq";
const LMQ: &str = "rocksdb-lmq";

fn fixture_of(name: &str) -> PathBuf {
    let root = std::env::var_os("RMQSTORE_V5_FIXTURE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/java/rocketmq-5.3.3")
        });
    root.join(name)
}

fn fixture() -> PathBuf {
    fixture_of(PLAIN)
}

/// Every unit Java's manifest says it dispatched: `(topic, queue, offset, phy, size, tags code,
/// store time)`, each message's own and its light-message-queue copies (`lmqTargets` at the
/// offsets of `multiQueueOffset`, queue 0).
fn expected_units(manifest: &Value) -> Vec<(String, i32, i64, i64, i64, i64, i64)> {
    let mut out = Vec::new();
    for m in manifest["messages"].as_array().unwrap() {
        let unit = |topic: &str, q: i32, off: i64| {
            (
                topic.to_string(),
                q,
                off,
                m["wroteOffset"].as_i64().unwrap(),
                m["wroteBytes"].as_i64().unwrap(),
                m["tagsCode"].as_i64().unwrap(),
                m["storeTimestamp"].as_i64().unwrap(),
            )
        };
        out.push(unit(
            m["topic"].as_str().unwrap(),
            m["queueId"].as_i64().unwrap() as i32,
            m["queueOffset"].as_i64().unwrap(),
        ));
        if let Some(targets) = m["lmqTargets"].as_array() {
            let offsets: Vec<i64> = m["multiQueueOffset"]
                .as_str()
                .unwrap()
                .split(',')
                .map(|o| o.parse().unwrap())
                .collect();
            assert_eq!(offsets.len(), targets.len());
            for (t, o) in targets.iter().zip(offsets) {
                out.push(unit(t.as_str().unwrap(), 0, o));
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Every file of `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(snapshot(&e.path()));
        } else {
            out.push((e.path(), std::fs::read(e.path()).unwrap()));
        }
    }
    out.sort();
    out
}

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 64 * 1024;
    c
}

#[test]
fn reads_every_unit_java_put_and_changes_nothing() {
    reads_every_unit(PLAIN);
}

#[test]
fn reads_every_unit_and_lmq_copy_java_put_and_changes_nothing() {
    reads_every_unit(LMQ);
}

fn reads_every_unit(name: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    copy_dir(&fixture_of(name).join("store"), &root);
    let before = snapshot(&root);
    let cq = rocksdb_cq::read(&root).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snapshot(&root), before, "reading changed the store");
    assert!(cq.bad.is_empty(), "{:?}", cq.bad);
    assert!(cq.other_cfs.is_empty());

    let manifest = json(&fixture_of(name).join("manifest.json"));
    let msgs = manifest["messages"].as_array().unwrap();
    let expected = expected_units(&manifest);
    if name == LMQ {
        assert!(
            expected.len() > msgs.len() + 30,
            "the LMQ fixture has copies"
        );
    }
    assert_eq!(cq.units.len(), expected.len());
    for (topic, q, off, phy, size, tags, time) in &expected {
        let u = cq
            .units
            .iter()
            .find(|u| &u.topic == topic && u.queue_id == *q && u.queue_offset == *off)
            .unwrap_or_else(|| panic!("no unit for {topic}:{q}@{off}"));
        assert_eq!(u.phy_offset, *phy);
        assert_eq!(u.size as i64, *size);
        assert_eq!(u.tags_code, *tags);
        assert_eq!(u.store_time, *time);
    }
    // The checkpoint is the end of the last record Java dispatched.
    let end = msgs
        .iter()
        .map(|m| m["wroteOffset"].as_i64().unwrap() + m["wroteBytes"].as_i64().unwrap())
        .max()
        .unwrap();
    assert_eq!(cq.max_phy_offset, Some(end));

    // Against what Java's RocksDBMessageStore answered (getMinOffsetInQueue,
    // getMaxOffsetInQueue, the unit and getMessage of every offset).
    let reader = json(&fixture_of(name).join("reader.json"));
    let queues = cq.queues();
    for jq in reader["queues"].as_array().unwrap() {
        let topic = jq["topic"].as_str().unwrap();
        let qid = jq["queueId"].as_i64().unwrap() as i32;
        let rq = queues
            .iter()
            .find(|q| q.topic == topic && q.queue_id == qid)
            .unwrap();
        assert_eq!(
            cq.max_offset_in_queue(topic, qid),
            jq["maxOffset"].as_i64().unwrap()
        );
        assert_eq!(rq.first_offset, Some(jq["minOffset"].as_i64().unwrap()));
        let units = cq.queue_units(topic, qid);
        let ju = jq["units"].as_array().unwrap();
        assert_eq!(units.len(), ju.len());
        for (u, j) in units.iter().zip(ju) {
            assert_eq!(u.queue_offset, j["queueOffset"].as_i64().unwrap());
            assert_eq!(u.phy_offset, j["pos"].as_i64().unwrap());
            assert_eq!(u.size as i64, j["size"].as_i64().unwrap());
            assert_eq!(u.tags_code, j["tagsCode"].as_i64().unwrap());
            assert_eq!(j["getMessageStatus"], "FOUND");
            assert_eq!(u.phy_offset, j["msgCommitLogOffset"].as_i64().unwrap());
            assert_eq!(u.store_time, j["msgStoreTimestamp"].as_i64().unwrap());
        }
    }
    // RocksTopicA's queues were asked for their minimum, so they hold a `min` entry; the others
    // do not (Java writes it lazily).
    for q in &queues {
        assert_eq!(q.min.is_some(), q.topic == "RocksTopicA", "{q:?}");
        if let Some((phy, off)) = q.min {
            assert_eq!(
                (off, phy),
                (0, cq.queue_units(&q.topic, q.queue_id)[0].phy_offset)
            );
        }
    }
    let _ = Bound::Max;
}

#[test]
fn check_against_the_commitlog_is_clean_and_names_damage() {
    check_and_damage(PLAIN);
}

#[test]
fn check_of_the_lmq_store_is_clean_and_names_damage_in_light_queues() {
    let (cq, recs, end) = check_and_damage(LMQ);
    let lmq_units: Vec<usize> = (0..cq.units.len())
        .filter(|&i| cq.units[i].topic.starts_with("%LMQ%"))
        .collect();
    assert!(lmq_units.len() > 30);
    // A light-queue copy lost, another pointing at the wrong record.
    let mut bad_cq = cq.clone();
    let moved = lmq_units[4];
    bad_cq.units[moved].phy_offset = bad_cq.units[lmq_units[5]].phy_offset;
    let gone = bad_cq.units.remove(lmq_units[2]);
    let bad = rocksdb_cq::check(&bad_cq, &recs, end);
    let key = |u: &rocksdb_cq::RocksUnit| format!("{}:{}@{}", u.topic, u.queue_id, u.queue_offset);
    let keys: Vec<&str> = bad.problems.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&key(&gone).as_str()), "{bad:?}");
    assert!(keys.contains(&key(&cq.units[moved]).as_str()), "{bad:?}");
    // With every light-queue unit gone, the copies are still expected when the broker runs
    // with enableLmq, and not otherwise.
    let mut no_lmq = cq.clone();
    no_lmq.units.retain(|u| !u.topic.starts_with("%LMQ%"));
    no_lmq.offsets.retain(|o| !o.topic.starts_with("%LMQ%"));
    let missing = rocksdb_cq::check_lmq(&no_lmq, &recs, end, true);
    assert_eq!(
        missing
            .problems
            .iter()
            .filter(|p| p.key.starts_with("%LMQ%"))
            .count(),
        lmq_units.len(),
        "{missing:?}"
    );
    assert!(rocksdb_cq::check(&no_lmq, &recs, end).problems.is_empty());
}

/// The clean check of `name`'s store, then damage to plain units named by key; returns the
/// clean queue, the records and the commitlog end for more damage.
fn check_and_damage(name: &str) -> (rocksdb_cq::RocksCq, Vec<rocksdb_cq::Dispatched>, i64) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    copy_dir(&fixture_of(name).join("store"), &root);
    let store = MessageStore::open_inspect(config(&root)).unwrap();
    let delay = config(&root).delay_levels().unwrap();
    let recs = rocksdb_cq::dispatched(&store, &delay).unwrap();
    let mut cq = rocksdb_cq::read(&root).unwrap();
    let end = store.max_phy_offset() as i64;
    let ok = rocksdb_cq::check(&cq, &recs, end);
    assert!(ok.problems.is_empty(), "{:?}", ok.problems);
    let manifest = json(&fixture_of(name).join("manifest.json"));
    assert_eq!(ok.units, expected_units(&manifest).len());
    assert_eq!(ok.records_checked, 150);
    assert_eq!(ok.queues, if name == LMQ { 10 } else { 7 });
    let clean = cq.clone();

    // A unit whose size and tags disagree with its record, one missing, the checkpoint behind.
    cq.units[3].size += 1;
    cq.units[5].tags_code ^= 1;
    let gone = cq.units.remove(10);
    let bad = rocksdb_cq::check(&cq, &recs, end);
    let keys: Vec<&str> = bad.problems.iter().map(|p| p.key.as_str()).collect();
    let k3 = format!(
        "{}:{}@{}",
        cq.units[3].topic, cq.units[3].queue_id, cq.units[3].queue_offset
    );
    let k5 = format!(
        "{}:{}@{}",
        cq.units[5].topic, cq.units[5].queue_id, cq.units[5].queue_offset
    );
    let kg = format!("{}:{}@{}", gone.topic, gone.queue_id, gone.queue_offset);
    assert!(keys.contains(&k3.as_str()), "{bad:?}");
    assert!(keys.contains(&k5.as_str()), "{bad:?}");
    assert!(keys.contains(&kg.as_str()), "{bad:?}");
    assert!(bad.problems.iter().any(|p| p.what.contains("size")));
    assert!(bad.problems.iter().any(|p| p.what.contains("tags code")));
    (clean, recs, end)
}

#[test]
fn rebuild_content_is_javas_key_value_content() {
    rebuild_content(PLAIN);
}

#[test]
fn rebuild_content_with_light_queues_is_javas_key_value_content() {
    rebuild_content(LMQ);
}

fn rebuild_content(name: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    copy_dir(&fixture_of(name).join("store"), &root);
    let store = MessageStore::open_inspect(config(&root)).unwrap();
    let delay = config(&root).delay_levels().unwrap();
    let recs = rocksdb_cq::dispatched(&store, &delay).unwrap();
    let java = rocksdb_cq::read(&root).unwrap();

    let out = tmp.path().join("rebuilt-cq");
    rocksdb_cq::write_new(&out, &recs).unwrap();
    let ours = rocksdb_cq::read_dir(&out).unwrap();
    // Units, max entries and the checkpoint are Java's exactly; `min` entries are written by a
    // 5.x broker only when asked (the rebuilt queue has none, as Java's dispatch writes none).
    assert_eq!(ours.units, java.units);
    assert_eq!(ours.max_phy_offset, java.max_phy_offset);
    let java_max: Vec<_> = java
        .offsets
        .iter()
        .filter(|o| o.bound == Bound::Max)
        .cloned()
        .collect();
    assert_eq!(ours.offsets, java_max);
    assert!(ours.bad.is_empty());
    // And it checks clean against the commitlog.
    let c = rocksdb_cq::check(&ours, &recs, store.max_phy_offset() as i64);
    assert!(c.problems.is_empty(), "{:?}", c.problems);
}

#[test]
fn a_missing_library_is_a_clear_error() {
    // A path that does not exist, in a child process (the library is loaded once per process).
    if std::env::var_os("V5_ROCKSDB_CHILD").is_some() {
        let e = rocksdb_cq::read(&fixture().join("store")).unwrap_err();
        assert!(e.0.contains("/no/such/librocksdb.so"), "{e}");
        assert!(e.0.contains("no such file"), "{e}");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let st = std::process::Command::new(exe)
        .args([
            "--exact",
            "a_missing_library_is_a_clear_error",
            "--test-threads=1",
        ])
        .env("V5_ROCKSDB_CHILD", "1")
        .env("RMQSTORE_ROCKSDB_LIB", "/no/such/librocksdb.so")
        .status()
        .unwrap();
    assert!(st.success());
}
