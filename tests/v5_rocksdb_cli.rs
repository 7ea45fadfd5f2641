//! The tools on the 5.3.3 RocksDB-consume-queue fixture (`storeType=defaultRocksDB`):
//! with the `rocksdb` feature, `verify`, `topics`, `cq`, `cat --topic` and `stat` read the queues
//! from the database (as Java wrote them: tests/fixtures/java/rocketmq-5.3.3/rocksdb-cq) and
//! `rebuild` regenerates it; without it, each says plainly that the RocksDB consume queue was
//! not read and exits non-zero, and nothing in the store changes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture_store() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/java/rocketmq-5.3.3/rocksdb-cq/store")
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

fn rmq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn store_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    copy_dir(&fixture_store(), &root);
    (tmp, root)
}

#[cfg(feature = "rocksdb")]
#[test]
fn tools_read_the_rocksdb_queues() {
    let (tmp, root) = store_copy();
    let before = snapshot(&root);
    let r = root.to_str().unwrap();

    let v = rmq(&["verify", r, "--json"]);
    assert!(v.status.success(), "{}", text(&v));
    let doc: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    let rk = &doc["summary"]["v5"]["rocksdb"];
    assert_eq!(rk["units"], 150, "{doc}");
    assert_eq!(rk["queues"], 7);
    assert_eq!(rk["problems"].as_array().unwrap().len(), 0);
    // RocksDB's own files are not strays.
    assert!(!text(&v).contains("stray-file"), "{}", text(&v));

    let t = rmq(&["topics", r, "--json"]);
    assert!(t.status.success(), "{}", text(&t));
    let doc: serde_json::Value = serde_json::from_slice(&t.stdout).unwrap();
    let qs = doc["queues"].as_array().unwrap();
    assert_eq!(qs.len(), 7);
    let a1 = qs
        .iter()
        .find(|q| q["topic"] == "RocksTopicA" && q["queueId"] == 1)
        .unwrap();
    assert_eq!(a1["units"], 21);
    assert_eq!(doc["maxPhyOffset"], 127890);

    let c = rmq(&["cq", r, "RocksTopicA", "1", "--json"]);
    assert!(c.status.success(), "{}", text(&c));
    let doc: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap();
    let units = doc["units"].as_array().unwrap();
    assert_eq!(units.len(), 21);
    assert_eq!(doc["maxOffset"], 21);
    assert!(units.iter().all(|u| u["check"] == "match"), "{doc}");
    assert_eq!(units[0]["commitLogOffset"], 414);

    let k = rmq(&["cat", r, "--topic", "RocksTopicA", "--queue", "1"]);
    assert!(k.status.success(), "{}", text(&k));
    assert_eq!(String::from_utf8_lossy(&k.stdout).lines().count(), 21);

    let s = rmq(&["stat", r]);
    assert!(s.status.success(), "{}", text(&s));
    assert!(
        text(&s).contains("3 topics, 7 queues, 150 units"),
        "{}",
        text(&s)
    );
    assert_eq!(snapshot(&root), before, "inspection changed the store");

    // Damage is named by key: a commitlog record's store time changed under its unit.
    let mut bad = root.clone();
    bad.set_file_name("bad");
    copy_dir(&root, &bad);
    let seg = bad.join("commitlog/00000000000000000000");
    let mut data = std::fs::read(&seg).unwrap();
    // The record at 414 (RocksTopicA:1@0): STORETIMESTAMP sits at byte 56 of a v1 IPv4 record.
    data[414 + 56 + 7] ^= 1;
    std::fs::write(&seg, data).unwrap();
    let v = rmq(&["verify", bad.to_str().unwrap()]);
    assert!(!v.status.success());
    assert!(
        text(&v).contains("RocksTopicA:1@0: store time"),
        "{}",
        text(&v)
    );

    // rebuild --out writes a RocksDB consume queue that verifies clean.
    let out = tmp.path().join("rebuilt");
    let b = rmq(&["rebuild", r, "--out", out.to_str().unwrap()]);
    assert!(b.status.success(), "{}", text(&b));
    assert!(text(&b)
        .contains("RocksDB consume queue (storeType=defaultRocksDB) regenerated: 150 units"));
    assert!(out.join("consumequeue/CURRENT").is_file());
    let v = rmq(&["verify", out.to_str().unwrap(), "--json"]);
    assert!(v.status.success(), "{}", text(&v));
    let doc: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(doc["summary"]["v5"]["rocksdb"]["units"], 150);
}

#[cfg(not(feature = "rocksdb"))]
#[test]
fn without_the_feature_every_tool_says_the_rocksdb_queue_was_not_read() {
    let (tmp, root) = store_copy();
    let before = snapshot(&root);
    let r = root.to_str().unwrap();
    for args in [
        vec!["verify", r],
        vec!["topics", r],
        vec!["cq", r, "RocksTopicA", "0"],
        vec!["stat", r],
        vec!["cat", r, "--topic", "RocksTopicA"],
    ] {
        let o = rmq(&args);
        assert!(!o.status.success(), "{args:?} exited 0: {}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("RocksDB consume queue")
                && t.contains("not read")
                && t.contains("`rocksdb` feature"),
            "{args:?}: {t}"
        );
    }
    // The commitlog itself is still shown.
    let o = rmq(&["cat", r, "--limit", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = tmp.path().join("rebuilt");
    let o = rmq(&["rebuild", r, "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("cannot write a RocksDB consume queue"),
        "{}",
        text(&o)
    );
    assert!(!out.exists());
    assert_eq!(snapshot(&root), before, "a tool changed the store");
}

#[cfg(feature = "rocksdb")]
#[test]
fn rebuild_in_place_swaps_in_a_new_rocksdb_queue_and_keeps_the_old_one() {
    let (_tmp, root) = store_copy();
    let r = root.to_str().unwrap();
    let old_cq = snapshot(&root.join("consumequeue"));
    let b = rmq(&["rebuild", r, "--in-place"]);
    assert!(b.status.success(), "{}", text(&b));
    // The old database is kept, byte for byte, as the backup the report names.
    let bak = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("consumequeue.bak-")
        })
        .expect("a consumequeue backup");
    let kept: Vec<Vec<u8>> = snapshot(&bak).into_iter().map(|(_, b)| b).collect();
    let was: Vec<Vec<u8>> = old_cq.into_iter().map(|(_, b)| b).collect();
    assert_eq!(kept, was);
    let v = rmq(&["verify", r, "--json"]);
    assert!(v.status.success(), "{}", text(&v));
    let doc: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(doc["summary"]["v5"]["rocksdb"]["units"], 150);
    assert_eq!(
        doc["summary"]["v5"]["rocksdb"]["problems"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
