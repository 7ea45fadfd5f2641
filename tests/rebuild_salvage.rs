//! `rebuild` and `salvage` against the Java fixtures: rebuilt consume queues and index files
//! equal Java's, in place leaves backups and a clean store, interruptions leave nothing, and
//! salvage keeps every record outside a damaged region.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use common::{all_fixtures, copy_store_to_temp, files_under, fixture, sha256_hex, tree_digest};
use rmqstore::inspect::discover_config;
use rmqstore::inspect::rebuild::{rebuild, RebuildOptions, RebuildTarget};
use rmqstore::inspect::verify::{verify, VerifyOptions};
use rmqstore::inspect::{GeometryOverrides, Severity};
use rmqstore::MessageStore;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
}

fn assert_same_files(name: &str, a: &Path, b: &Path) {
    let (fa, fb) = (files_under(a), files_under(b));
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "{name}: file sets"
    );
    for (k, v) in &fa {
        if let Some(p) = (0..v.len()).find(|&p| v[p] != fb[k][p]) {
            panic!("{name}: {k} differs at byte {p}");
        }
    }
}

/// Index file contents in name order (names are creation times and differ).
fn index_contents(root: &Path) -> Vec<Vec<u8>> {
    files_under(&root.join("index")).into_values().collect()
}

/// Every queue's (min, max, physical offsets), read through the engine.
fn queue_contents(root: &Path) -> BTreeMap<(String, i32), (u64, u64, Vec<u64>)> {
    let store =
        MessageStore::open_read_only(discover_config(root, &GeometryOverrides::default()).unwrap())
            .unwrap();
    let mut out = BTreeMap::new();
    for q in store.consume_queues().all() {
        let (min, max) = (q.min_offset_in_queue(), q.max_offset_in_queue());
        let got = store.get_messages(q.topic(), q.queue_id(), min, (max - min) as usize + 1);
        out.insert(
            (q.topic().to_string(), q.queue_id()),
            (min, max, got.messages.iter().map(|m| m.offset()).collect()),
        );
    }
    out
}

fn run_rebuild_out(store: &Path, out: &Path) {
    let o = bin()
        .arg("rebuild")
        .arg(store)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn rebuild_out_reproduces_every_fixtures_queues_and_index() {
    for f in all_fixtures() {
        let before = tree_digest(&f.store_dir);
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("rebuilt");
        run_rebuild_out(&f.store_dir, &out);
        assert_eq!(
            tree_digest(&f.store_dir),
            before,
            "{}: source changed",
            f.name
        );
        // No temporary folder is left next to the output.
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1, "{}", f.name);
        assert_same_files(
            &f.name,
            &f.store_dir.join("consumequeue"),
            &out.join("consumequeue"),
        );
        let (java, ours) = (index_contents(&f.store_dir), index_contents(&out));
        if f.version == "3.2.6" {
            // 3.2.6 did not index transaction COMMIT records; the rebuild follows 4.6.0's rules
            // (the upgrade target), which do: same number of files, and every key is found.
            assert_eq!(java.len(), ours.len(), "{}", f.name);
            assert_ne!(java, ours, "{}", f.name);
        } else {
            assert_eq!(java.len(), ours.len(), "{}", f.name);
            for (k, (j, o)) in java.iter().zip(&ours).enumerate() {
                if let Some(p) = (0..j.len()).find(|&p| j[p] != o[p]) {
                    panic!("{}: index file #{k} differs at byte {p}", f.name);
                }
            }
        }
        for name in fs::read_dir(out.join("index")).unwrap() {
            let n = name.unwrap().file_name().into_string().unwrap();
            assert!(
                n.len() == 17 && n.bytes().all(|b| b.is_ascii_digit()),
                "{n}"
            );
        }
        assert_eq!(
            queue_contents(&f.store_dir),
            queue_contents(&out),
            "{}",
            f.name
        );
        let r = verify(&out, &VerifyOptions::default()).unwrap();
        let problems: Vec<_> = r
            .findings
            .iter()
            .filter(|x| x.severity > Severity::Info)
            .collect();
        assert!(problems.is_empty(), "{}: {problems:#?}", f.name);
        assert!(
            r.findings
                .of_kind("index-commit-not-indexed")
                .next()
                .is_none(),
            "{}",
            f.name
        );
        assert!(!out.join("abort").exists());
        if f.store_dir.join("config").is_dir() {
            assert_same_files(&f.name, &f.store_dir.join("config"), &out.join("config"));
        }
    }
}

/// The crashed store: the rebuild equals what the engine's own recovery of the commitlog
/// gives (abnormal recovery re-dispatches from the checkpoint, then a clean shutdown).
#[test]
fn rebuild_of_crashed_store_equals_engine_recovery() {
    let f = fixture("4.6.0/crashed");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rebuilt");
    run_rebuild_out(&f.store_dir, &out);
    let recovered = copy_store_to_temp(&f);
    let store = MessageStore::open(
        discover_config(recovered.path(), &GeometryOverrides::default()).unwrap(),
    )
    .unwrap();
    store.shutdown().unwrap();
    assert_same_files(
        "crashed",
        &recovered.path().join("consumequeue"),
        &out.join("consumequeue"),
    );
    assert_eq!(queue_contents(recovered.path()), queue_contents(&out));
}

#[test]
fn rebuild_in_place_keeps_backups_and_verifies_clean() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    // Damage the consume queues and the index first: the rebuild repairs them.
    let cq_file = fs::read_dir(tmp.path().join("consumequeue/TopicTest"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("00000000000000000000");
    let mut b = fs::read(&cq_file).unwrap();
    b[0..20].copy_from_slice(&[7u8; 20]);
    fs::write(&cq_file, &b).unwrap();
    assert!(verify(tmp.path(), &VerifyOptions::default())
        .unwrap()
        .findings
        .has_errors());
    let o = bin()
        .arg("rebuild")
        .arg(tmp.path())
        .arg("--in-place")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for prefix in ["consumequeue.bak-", "index.bak-", "checkpoint.bak-"] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "{prefix} in {names:?}"
        );
    }
    assert!(!names.iter().any(|n| n.contains(".rebuild-")), "{names:?}");
    assert_same_files(
        "in place",
        &f.store_dir.join("consumequeue"),
        &tmp.path().join("consumequeue"),
    );
    // The *.bak-<ts> folders sit beside the store's own folders; a broker ignores them.
    let r = verify(tmp.path(), &VerifyOptions::default()).unwrap();
    assert!(
        r.findings.iter().all(|x| x.severity == Severity::Info),
        "{:#?}",
        r.findings
    );
    assert_eq!(
        fs::read(tmp.path().join("commitlog/00000000000000000000")).unwrap(),
        fs::read(f.store_dir.join("commitlog/00000000000000000000")).unwrap()
    );
}

#[test]
fn rebuild_in_place_refuses_abort_without_force_and_a_locked_store() {
    let f = fixture("4.6.0/crashed");
    let tmp = copy_store_to_temp(&f);
    let before = tree_digest(tmp.path());
    let o = bin()
        .arg("rebuild")
        .arg(tmp.path())
        .arg("--in-place")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("abort"));
    assert_eq!(tree_digest(tmp.path()), before);
    let o = bin()
        .arg("rebuild")
        .arg(tmp.path())
        .arg("--in-place")
        .arg("--force")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!tmp.path().join("abort").exists());
    assert!(fs::read_dir(tmp.path()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("abort.bak-")));
    let r = verify(tmp.path(), &VerifyOptions::default()).unwrap();
    assert!(
        r.findings.iter().all(|x| x.severity == Severity::Info),
        "{:#?}",
        r.findings
    );

    // A store held by a running writer.
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let store =
        MessageStore::open(discover_config(tmp.path(), &GeometryOverrides::default()).unwrap())
            .unwrap();
    let before = tree_digest(tmp.path());
    let o = bin()
        .arg("rebuild")
        .arg(tmp.path())
        .arg("--in-place")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("locked"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(tree_digest(tmp.path()), before);
    store.shutdown().unwrap();
}

#[test]
fn interrupted_or_refused_rebuild_leaves_nothing() {
    let f = fixture("4.6.0/sync");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut opts = RebuildOptions::new(RebuildTarget::Out(out.clone()));
    opts.cancel = Some(Arc::new(AtomicBool::new(true)));
    assert!(rebuild(&f.store_dir, &opts).is_err());
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no output, no temp folder"
    );

    let copy = copy_store_to_temp(&f);
    let before = tree_digest(copy.path());
    let mut opts = RebuildOptions::new(RebuildTarget::InPlace);
    opts.cancel = Some(Arc::new(AtomicBool::new(true)));
    assert!(rebuild(copy.path(), &opts).is_err());
    assert_eq!(tree_digest(copy.path()), before);

    // --out must be new or empty.
    fs::create_dir(&out).unwrap();
    fs::write(out.join("x"), b"x").unwrap();
    let o = bin()
        .arg("rebuild")
        .arg(&f.store_dir)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// (topic, queue id, born timestamp, body sha256) of every record of a store.
fn record_keys(root: &Path) -> Vec<(String, i32, i64, String)> {
    let store =
        MessageStore::open_read_only(discover_config(root, &GeometryOverrides::default()).unwrap())
            .unwrap();
    let mut v: Vec<_> = store
        .records()
        .map(|r| {
            let r = r.unwrap();
            let m = r.decode().unwrap();
            (
                m.topic_str().into_owned(),
                m.queue_id,
                m.born_timestamp,
                sha256_hex(m.body),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn salvage_keeps_every_record_outside_the_damage() {
    let f = fixture("4.6.0/async");
    let m = f.manifest();
    let tmp = copy_store_to_temp(&f);
    let seg = 1_048_576i64;
    // Damage 1: a flipped body byte in segment 1 (CRC). Damage 2: garbage over the header of a
    // record in segment 2 (Java's recovery would stop there and drop everything after it).
    let a = m
        .messages
        .iter()
        .find(|x| x.wrote_offset > seg + 10_000 && x.body_length > 20)
        .unwrap();
    let b = m
        .messages
        .iter()
        .find(|x| x.wrote_offset > 2 * seg + 10_000)
        .unwrap();
    let pa = tmp.path().join(format!("commitlog/{:020}", seg));
    let mut bytes = fs::read(&pa).unwrap();
    let at = (a.wrote_offset - seg + a.wrote_bytes) as usize
        - 20
        - a.topic.len()
        - 3
        - a.properties_string.len();
    bytes[at] ^= 0x10;
    fs::write(&pa, &bytes).unwrap();
    let pb = tmp.path().join(format!("commitlog/{:020}", 2 * seg));
    let mut bytes = fs::read(&pb).unwrap();
    let at = (b.wrote_offset - 2 * seg) as usize;
    bytes[at..at + 30].iter_mut().for_each(|x| *x = 0x5A);
    fs::write(&pb, &bytes).unwrap();
    let before = tree_digest(tmp.path());

    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("salvaged");
    let o = bin()
        .arg("salvage")
        .arg(tmp.path())
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        tree_digest(tmp.path()),
        before,
        "salvage changed the source"
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{report:#}");
    assert_eq!(skipped[0]["commitlogFrom"], a.wrote_offset);
    assert_eq!(skipped[0]["commitlogTo"], a.wrote_offset + a.wrote_bytes);
    assert_eq!(skipped[1]["commitlogFrom"], b.wrote_offset);
    assert_eq!(skipped[1]["commitlogTo"], b.wrote_offset + b.wrote_bytes);
    assert_eq!(PathBuf::from(skipped[1]["file"].as_str().unwrap()), pb);
    assert_eq!(report["recordsCopied"], m.message_record_count - 2);
    assert!(report["recordsAfterDamage"].as_u64().unwrap() > 0);

    // Every record outside the two damaged ones is in the new store.
    let mut want: Vec<_> = m
        .messages
        .iter()
        .filter(|x| x.wrote_offset != a.wrote_offset && x.wrote_offset != b.wrote_offset)
        .map(|x| {
            (
                x.topic.clone(),
                x.queue_id,
                x.born_timestamp,
                x.body_sha256.clone(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(record_keys(&out), want);
    let r = verify(&out, &VerifyOptions::default()).unwrap();
    assert!(!r.findings.has_errors(), "{:#?}", r.findings);

    // The output must be new: salvage refuses a non-empty folder.
    let o = bin()
        .arg("salvage")
        .arg(tmp.path())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
