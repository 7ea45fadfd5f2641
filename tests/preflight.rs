//! `preflight`: each hazard on a store built to show it, nothing on the clean fixtures.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy_store_to_temp, fixture, tree_digest};
use rmqstore::inspect::preflight::{preflight, PreflightOptions, PreflightReport, TargetVersion};
use rmqstore::inspect::Severity;
use rmqstore::{Message, MessageStore, StoreConfig};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
}

fn run(stores: &[PathBuf], target: TargetVersion, props: Option<&Path>) -> PreflightReport {
    let opts = PreflightOptions {
        properties: props.map(Path::to_path_buf),
        target,
        ..PreflightOptions::default()
    };
    preflight(stores, &opts).unwrap()
}

fn hazard_kinds(r: &PreflightReport) -> Vec<(&'static str, Severity)> {
    r.hazards().map(|f| (f.kind, f.severity)).collect()
}

#[test]
fn clean_fixtures_have_no_hazard_for_their_upgrade() {
    for (name, target) in [
        ("3.2.6/async", TargetVersion::V4),
        ("4.6.0/async", TargetVersion::V4),
        ("4.6.0/sync", TargetVersion::V4),
        ("4.6.0/transient", TargetVersion::V4),
        ("5.3.3/async", TargetVersion::V5),
        ("5.3.3/crc", TargetVersion::V5),
    ] {
        let f = fixture(name);
        let before = tree_digest(&f.store_dir);
        let r = run(std::slice::from_ref(&f.store_dir), target, None);
        assert_eq!(hazard_kinds(&r), vec![], "{name}");
        assert_eq!(tree_digest(&f.store_dir), before, "{name}");
        // Every finding says what to do or is a plain fact.
        assert!(r.findings.iter().all(|x| x.severity == Severity::Info));
    }
    // The CLI, default target 4.6.0, on the store our users upgrade from.
    let o = bin()
        .arg("preflight")
        .arg(fixture("3.2.6/async").store_dir)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // IPv6 records are a fact on 4.6.0 stores, a hazard only for a downgrade to 3.x.
    let f = fixture("4.6.0/async");
    let r = run(std::slice::from_ref(&f.store_dir), TargetVersion::V4, None);
    assert_eq!(
        r.findings.of_kind("ipv6-records").next().unwrap().severity,
        Severity::Info
    );
    let r = run(std::slice::from_ref(&f.store_dir), TargetVersion::V3, None);
    assert_eq!(hazard_kinds(&r), vec![("ipv6-records", Severity::Error)]);
}

#[test]
fn v2_records_are_a_hazard_for_4x() {
    let f = fixture("5.3.3/async");
    let r = run(std::slice::from_ref(&f.store_dir), TargetVersion::V4, None);
    assert_eq!(hazard_kinds(&r), vec![("v2-records", Severity::Error)]);
    assert!(r
        .findings
        .iter()
        .all(|x| x.action.is_some() || x.severity == Severity::Info));
    let o = bin()
        .arg("preflight")
        .arg(&f.store_dir)
        .arg("--target")
        .arg("4.6.0")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("v2-records"));
}

#[test]
fn unclean_stop_and_dispatch_behind() {
    let f = fixture("4.6.0/crashed");
    let r = run(std::slice::from_ref(&f.store_dir), TargetVersion::V4, None);
    assert_eq!(hazard_kinds(&r), vec![("unclean-stop", Severity::Warning)]);

    // A consume queue missing its newest unit.
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let m = f.manifest();
    let last = m
        .messages
        .iter()
        .filter(|x| x.sys_flag & 0xC == 0)
        .max_by_key(|x| x.wrote_offset)
        .unwrap();
    let byte = last.queue_offset as u64 * 20;
    let file = tmp
        .path()
        .join("consumequeue")
        .join(&last.topic)
        .join(last.queue_id.to_string())
        .join(format!("{:020}", byte - byte % 4000));
    let mut b = fs::read(&file).unwrap();
    let at = (byte % 4000) as usize;
    b[at..at + 20].iter_mut().for_each(|x| *x = 0);
    fs::write(&file, &b).unwrap();
    let r = run(&[tmp.path().to_path_buf()], TargetVersion::V4, None);
    assert_eq!(
        hazard_kinds(&r),
        vec![("dispatch-behind", Severity::Warning)]
    );
}

#[test]
fn old_size_keys_wrong_sizes_and_the_commitlog_path_trap() {
    let f = fixture("3.2.6/async");
    let dir = tempfile::tempdir().unwrap();
    // The 3.x broker.conf: the old spellings with the store's real sizes.
    let old = dir.path().join("broker-3x.properties");
    fs::write(&old, format!("storePathRootDir={}\nstorePathCommitLog={}/commitlog\nmapedFileSizeCommitLog=1048576\nmapedFileSizeConsumeQueue=4000\n", f.store_dir.display(), f.store_dir.display())).unwrap();
    let r = run(
        std::slice::from_ref(&f.store_dir),
        TargetVersion::V4,
        Some(&old),
    );
    let kinds = hazard_kinds(&r);
    assert_eq!(
        kinds.iter().filter(|k| k.0 == "old-size-key").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.0 == "segment-size-config")
            .count(),
        2,
        "{kinds:?}"
    );
    assert!(r
        .findings
        .iter()
        .filter(|x| x.severity > Severity::Info)
        .all(|x| x.action.is_some()));
    // Under 3.x the same file is fine.
    let r = run(
        std::slice::from_ref(&f.store_dir),
        TargetVersion::V3,
        Some(&old),
    );
    assert_eq!(hazard_kinds(&r), vec![]);
    // The fixed file.
    let new = dir.path().join("broker-46.properties");
    fs::write(&new, format!("storePathRootDir={}\nstorePathCommitLog={}/commitlog\nmappedFileSizeCommitLog=1048576\nmappedFileSizeConsumeQueue=4000\n", f.store_dir.display(), f.store_dir.display())).unwrap();
    let r = run(
        std::slice::from_ref(&f.store_dir),
        TargetVersion::V4,
        Some(&new),
    );
    assert_eq!(hazard_kinds(&r), vec![]);
    // Root set, commitlog not: 4.6.0 looks in $HOME/store/commitlog.
    let trap = dir.path().join("broker-trap.properties");
    fs::write(&trap, format!("storePathRootDir={}\nmappedFileSizeCommitLog=1048576\nmappedFileSizeConsumeQueue=4000\n", f.store_dir.display())).unwrap();
    let r = run(
        std::slice::from_ref(&f.store_dir),
        TargetVersion::V4,
        Some(&trap),
    );
    assert_eq!(
        hazard_kinds(&r),
        vec![("commitlog-outside-root", Severity::Error)]
    );
    let o = bin()
        .arg("preflight")
        .arg(&f.store_dir)
        .arg("-c")
        .arg(&trap)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("storePathCommitLog="));
}

fn small_store(root: &Path, queues: &[(&str, i32)]) {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 1 << 20;
    c.mapped_file_size_consume_queue_raw = 4000;
    c.max_hash_slot_num = 100;
    c.max_index_num = 400;
    let s = MessageStore::open(c).unwrap();
    for (t, q) in queues {
        assert!(s
            .put_message(&Message::new(*t, *q, b"x".to_vec()))
            .unwrap()
            .is_ok());
    }
    s.shutdown().unwrap();
}

#[test]
fn topics_on_one_broker_or_one_queue() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    small_store(
        a.path(),
        &[
            ("Shared", 0),
            ("Shared", 1),
            ("OnlyA", 0),
            ("OnlyA", 1),
            ("Ordered", 0),
        ],
    );
    small_store(b.path(), &[("Shared", 0), ("Shared", 1)]);
    let stores = [a.path().to_path_buf(), b.path().to_path_buf()];
    let r = run(&stores, TargetVersion::V4, None);
    let mut got: Vec<(String, &str)> = r
        .hazards()
        .map(|f| {
            (
                f.file
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                f.kind,
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("OnlyA".to_string(), "single-broker-topic"),
            ("Ordered".to_string(), "single-broker-topic"),
            ("Ordered".to_string(), "single-queue-topic"),
        ]
    );
    // One store alone: no cross-broker findings.
    assert_eq!(
        hazard_kinds(&run(&stores[..1], TargetVersion::V4, None)),
        vec![]
    );
}
