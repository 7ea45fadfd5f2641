//! 5.x's RocksDB consume queue (`storeType=defaultRocksDB`) read and rebuilt against the store
//! Java's 5.3.3 `RocksDBMessageStore` wrote (tests/fixtures/java/rocketmq-5.3.3/rocksdb-cq, from
//! interop/v5-features `V5Rocks`): every unit and offset entry against the manifest of what Java
//! put, and against `reader.json` (what Java's getMessage returned for every offset).
//!
//! Needs the `rocksdb` feature and Apache's RocksDB library (RMQSTORE_ROCKSDB_LIB, or
//! rocketmq-rocksdb in ~/.m2): `cargo test --features rocksdb --test v5_rocksdb`.
#![cfg(feature = "rocksdb")]

use std::path::{Path, PathBuf};

use rmqstore::v5::rocksdb_cq::{self, Bound};
use rmqstore::{MessageStore, StoreConfig};
use serde_json::Value;

fn fixture() -> PathBuf {
    let root = std::env::var_os("RMQSTORE_V5_FIXTURE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/java/rocketmq-5.3.3")
        });
    root.join("rocksdb-cq")
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
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    copy_dir(&fixture().join("store"), &root);
    let before = snapshot(&root);
    let cq = rocksdb_cq::read(&root).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snapshot(&root), before, "reading changed the store");
    assert!(cq.bad.is_empty(), "{:?}", cq.bad);
    assert!(cq.other_cfs.is_empty());

    let manifest = json(&fixture().join("manifest.json"));
    let msgs = manifest["messages"].as_array().unwrap();
    assert_eq!(cq.units.len(), msgs.len());
    for m in msgs {
        let topic = m["topic"].as_str().unwrap();
        let q = m["queueId"].as_i64().unwrap() as i32;
        let off = m["queueOffset"].as_i64().unwrap();
        let u = cq
            .units
            .iter()
            .find(|u| u.topic == topic && u.queue_id == q && u.queue_offset == off)
            .unwrap_or_else(|| panic!("no unit for {topic}:{q}@{off}"));
        assert_eq!(u.phy_offset, m["wroteOffset"].as_i64().unwrap());
        assert_eq!(u.size as i64, m["wroteBytes"].as_i64().unwrap());
        assert_eq!(u.tags_code, m["tagsCode"].as_i64().unwrap());
        assert_eq!(u.store_time, m["storeTimestamp"].as_i64().unwrap());
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
    let reader = json(&fixture().join("reader.json"));
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
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    copy_dir(&fixture().join("store"), &root);
    let store = MessageStore::open_inspect(config(&root)).unwrap();
    let delay = config(&root).delay_levels().unwrap();
    let recs = rocksdb_cq::dispatched(&store, &delay).unwrap();
    let mut cq = rocksdb_cq::read(&root).unwrap();
    let end = store.max_phy_offset() as i64;
    let ok = rocksdb_cq::check(&cq, &recs, end);
    assert!(ok.problems.is_empty(), "{:?}", ok.problems);
    assert_eq!(ok.units, 150);
    assert_eq!(ok.queues, 7);

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
}

#[test]
fn rebuild_content_is_javas_key_value_content() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    copy_dir(&fixture().join("store"), &root);
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
