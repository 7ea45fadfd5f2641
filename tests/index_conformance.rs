//! Index conformance against the stores written by Java RocketMQ (`tests/fixtures/java`).
//!
//! 1. Build: for every 4.6.0 fixture, feed each message of `manifest.json` to
//!    `IndexService::build_index` in commitlog order and compare the contents of the index files
//!    we write, in order, byte-for-byte with the fixture's `store/index/*`.
//! 2. Query: open every fixture's index directory read-only and check that `query` returns the
//!    offsets `reader.json` recorded for every key, and that the files are left untouched.
//!
//! The fixtures are never written: anything that writes goes to a temporary directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rmqstore::format::properties::StoreProperties;
use rmqstore::index::{IndexRequest, IndexService};
use serde_json::Value;
use sha2::{Digest, Sha256};

const HASH_SLOT_NUM: u32 = 1000;
const INDEX_NUM: u32 = 4000;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/java")
        .join(name)
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The index files of a directory, sorted by name.
fn index_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Describes where two index files first differ, in index-file terms.
fn describe_diff(ours: &[u8], java: &[u8]) -> Option<String> {
    if ours.len() != java.len() {
        return Some(format!("length {} vs Java {}", ours.len(), java.len()));
    }
    let pos = ours.iter().zip(java).position(|(a, b)| a != b)?;
    let slots_end = 40 + HASH_SLOT_NUM as usize * 4;
    let what = if pos < 40 {
        let field = match pos {
            0..=7 => "beginTimestamp",
            8..=15 => "endTimestamp",
            16..=23 => "beginPhyOffset",
            24..=31 => "endPhyOffset",
            32..=35 => "hashSlotCount",
            _ => "indexCount",
        };
        format!("header field {field}")
    } else if pos < slots_end {
        format!("hash slot {}", (pos - 40) / 4)
    } else {
        let n = (pos - slots_end) / 20;
        let field = match (pos - slots_end) % 20 {
            0..=3 => "keyHash",
            4..=11 => "phyOffset",
            12..=15 => "timeDiff",
            _ => "prevIndex",
        };
        format!("entry {n} field {field}")
    };
    let n_diff = ours.iter().zip(java).filter(|(a, b)| a != b).count();
    Some(format!(
        "first difference at byte {pos} ({what}): ours {:02x?} Java {:02x?}; {n_diff} bytes differ",
        &ours[pos..(pos + 8).min(ours.len())],
        &java[pos..(pos + 8).min(java.len())]
    ))
}

/// Dispatches one manifest message to the index, as the reput service would (the file name of
/// a new index file is taken from the message's store time; only contents are compared).
fn dispatch(svc: &mut IndexService, m: &Value) {
    let props = m["propertiesString"].as_str().unwrap_or("");
    let sp = StoreProperties::parse(props.as_bytes());
    let store_timestamp = m["storeTimestamp"].as_i64().expect("storeTimestamp");
    let req = IndexRequest {
        topic: m["topic"].as_str().expect("topic"),
        commitlog_offset: m["wroteOffset"].as_i64().expect("wroteOffset"),
        store_timestamp,
        sys_flag: m["sysFlag"].as_i64().expect("sysFlag") as i32,
        uniq_key: sp.uniq_key.as_deref(),
        keys: sp.keys.as_deref(),
    };
    svc.build_index(&req, store_timestamp).unwrap();
}

/// Builds the index of a 4.6.0 fixture from its manifest and compares it with Java's files.
/// Returns a description of every mismatch (empty when identical).
fn build_and_compare(variant: &str) -> Vec<String> {
    let root = fixture(&format!("rocketmq-4.6.0/{variant}"));
    let manifest = read_json(&root.join("manifest.json"));
    let mut messages: Vec<&Value> = manifest["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .collect();
    messages.sort_by_key(|m| m["wroteOffset"].as_i64().expect("wroteOffset"));

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let mut svc = IndexService::open(&dir, HASH_SLOT_NUM, INDEX_NUM, false).unwrap();
    for m in &messages {
        dispatch(&mut svc, m);
    }
    svc.flush().unwrap();
    drop(svc);

    let ours = index_files(&dir);
    let java = index_files(&root.join("store/index"));
    let mut problems = Vec::new();
    if ours.len() != java.len() {
        problems.push(format!(
            "{variant}: we wrote {} index files, Java {}",
            ours.len(),
            java.len()
        ));
    }
    for (i, (o, j)) in ours.iter().zip(&java).enumerate() {
        let ob = fs::read(o).unwrap();
        let jb = fs::read(j).unwrap();
        if let Some(d) = describe_diff(&ob, &jb) {
            problems.push(format!(
                "{variant}: index file #{i} ({}): {d}",
                j.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    problems
}

#[test]
fn built_index_matches_java_4_6_0_async() {
    let p = build_and_compare("async");
    assert!(p.is_empty(), "{p:#?}");
}

#[test]
fn built_index_matches_java_4_6_0_sync() {
    let p = build_and_compare("sync");
    assert!(p.is_empty(), "{p:#?}");
}

#[test]
fn built_index_matches_java_4_6_0_transient() {
    let p = build_and_compare("transient");
    assert!(p.is_empty(), "{p:#?}");
}

#[test]
fn built_index_matches_java_4_6_0_crashed() {
    // The fixture is the store as the killed JVM left it (no recovery has run on it): the active
    // index file's pages were in the page cache and survived the SIGKILL.
    let p = build_and_compare("crashed");
    assert!(p.is_empty(), "{p:#?}");
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u64, Option<SystemTime>)> {
    index_files(dir)
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).unwrap();
            let md = fs::metadata(&p).unwrap();
            let digest = Sha256::digest(&bytes).to_vec();
            (p, (digest, md.len(), md.modified().ok()))
        })
        .collect()
}

/// The recorded `queries` of a fixture's `reader.json`: (topic, key, sorted offsets).
fn recorded_queries(root: &Path) -> Vec<(String, String, Vec<i64>)> {
    let reader = read_json(&root.join("reader.json"));
    let mut out = Vec::new();
    for (topic, keys) in reader["queries"].as_object().expect("queries") {
        for (key, want) in keys.as_object().expect("keys of a topic") {
            let mut want: Vec<i64> = want
                .as_array()
                .expect("offsets")
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            want.sort_unstable();
            out.push((topic.clone(), key.clone(), want));
        }
    }
    assert!(
        !out.is_empty(),
        "{}: reader.json has no queries",
        root.display()
    );
    out
}

/// Runs every recorded query against `svc`: (topic, key, ours, Java's) for each mismatch.
fn mismatches(svc: &IndexService, root: &Path) -> Vec<(String, String, Vec<i64>, Vec<i64>)> {
    recorded_queries(root)
        .into_iter()
        .filter_map(|(topic, key, want)| {
            let mut got = svc.query(&topic, &key, 64, 0, i64::MAX);
            got.sort_unstable();
            (got != want).then_some((topic, key, got, want))
        })
        .collect()
}

/// Opens a fixture's index read-only, runs the recorded queries, and checks that the files are
/// left byte-identical (and untouched: same length and modification time).
fn query_fixture(name: &str) -> Vec<(String, String, Vec<i64>, Vec<i64>)> {
    let root = fixture(name);
    let index_dir = root.join("store/index");
    let before = snapshot(&index_dir);
    let found = {
        let svc = IndexService::open(&index_dir, HASH_SLOT_NUM, INDEX_NUM, true).unwrap();
        assert!(!svc.files().is_empty());
        assert!(svc.files().iter().all(|f| !f.is_writable()));
        mismatches(&svc, &root)
    };
    assert_eq!(
        before,
        snapshot(&index_dir),
        "{name}: read-only open changed the index files"
    );
    found
}

#[test]
fn queries_match_java_reader_on_clean_stores() {
    let mut problems = Vec::new();
    for name in [
        "rocketmq-4.6.0/async",
        "rocketmq-4.6.0/sync",
        "rocketmq-4.6.0/transient",
        "rocketmq-5.3.3/async",
        "rocketmq-5.3.3/crc",
        "rocketmq-3.2.6/async",
    ] {
        problems.extend(
            query_fixture(name)
                .into_iter()
                .map(|m| format!("{name}: {m:?}")),
        );
    }
    assert!(
        problems.is_empty(),
        "{} mismatches: {problems:#?}",
        problems.len()
    );
}

/// The crashed store's `reader.json` was recorded by a Java store that ran *abnormal* recovery
/// on a copy: `IndexService#load(false)` destroyed the last index file (its endTimestamp is
/// after `checkpoint.indexMsgTimestamp`, which only a rollover flush updates), and recovery
/// re-dispatched every record. The record at the first file's endPhyOffset is not skipped by
/// the `commitLogOffset < endPhyOffset` rule (it is `<`, not `<=`), so its keys are indexed a
/// second time in the new file and Java returns its offset twice.
///
/// Our read-only query of the files as the killed JVM left them returns the offset once; this
/// test pins that the difference is exactly those duplicates, and that emulating Java's
/// abnormal load + re-dispatch with our service reproduces Java's answers exactly.
#[test]
fn crashed_store_queries_differ_only_by_java_abnormal_recovery() {
    let name = "rocketmq-4.6.0/crashed";
    let root = fixture(name);

    // 1. The raw files: the only differences are Java's duplicates of the boundary record.
    let raw = query_fixture(name);
    let first_end = {
        let svc =
            IndexService::open(root.join("store/index"), HASH_SLOT_NUM, INDEX_NUM, true).unwrap();
        svc.files()[0].end_phy_offset()
    };
    assert!(
        !raw.is_empty(),
        "expected the recovery duplicates in {name}'s reader.json"
    );
    for (topic, key, got, want) in &raw {
        let mut dedup = want.clone();
        dedup.dedup();
        assert_eq!(&dedup, got, "{topic}#{key}: not just duplicates");
        let dups: Vec<i64> = want
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        assert_eq!(
            dups,
            vec![first_end],
            "{topic}#{key}: duplicate is not the boundary record"
        );
    }

    // 2. Emulate Java's abnormal start on a copy of the index, then compare exactly.
    let cp_bytes = fs::read(root.join("store/checkpoint")).unwrap();
    let checkpoint = rmqstore::format::Checkpoint::decode(&cp_bytes).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    fs::create_dir(&dir).unwrap();
    for f in index_files(&root.join("store/index")) {
        fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
    }
    let destroyed: Vec<PathBuf> = {
        let svc = IndexService::open(&dir, HASH_SLOT_NUM, INDEX_NUM, true).unwrap();
        svc.files()
            .iter()
            .filter(|f| f.end_timestamp() > checkpoint.index_msg_timestamp)
            .map(|f| f.path().to_path_buf())
            .collect()
    };
    assert_eq!(
        destroyed.len(),
        1,
        "Java's load(false) destroys the active file"
    );
    for p in &destroyed {
        fs::remove_file(p).unwrap();
    }
    let mut svc = IndexService::open(&dir, HASH_SLOT_NUM, INDEX_NUM, false).unwrap();
    let manifest = read_json(&root.join("manifest.json"));
    let mut messages: Vec<&Value> = manifest["messages"].as_array().unwrap().iter().collect();
    messages.sort_by_key(|m| m["wroteOffset"].as_i64().unwrap());
    for m in messages {
        dispatch(&mut svc, m);
    }
    let after = mismatches(&svc, &root);
    assert!(after.is_empty(), "after emulated recovery: {after:#?}");
}
