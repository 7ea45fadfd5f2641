//! `rmqstore cleanup STORE --dry-run` with the real binary on a copy of a Java-written store.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

fn rmqstore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run rmqstore")
}

fn set_mtimes(dir: &Path, ms: i64) {
    for e in std::fs::read_dir(dir).unwrap() {
        std::fs::File::options()
            .write(true)
            .open(e.unwrap().path())
            .unwrap()
            .set_modified(UNIX_EPOCH + Duration::from_millis(ms as u64))
            .unwrap();
    }
}

#[test]
fn dry_run_reports_and_changes_nothing() {
    let f = common::fixture("rocketmq-4.6.0/async");
    let tmp = common::copy_store_to_temp(&f);
    let root = tmp.path();
    // The segments were last written on 2026-03-07 at noon UTC (the child runs with TZ=UTC).
    let written_utc = 1_772_884_800_000i64;
    set_mtimes(&root.join("commitlog"), written_utc);
    std::fs::write(
        root.join("config/consumerOffset.json"),
        r#"{"offsetTable":{"TopicTest@slow":{0:0},"TopicTest@fast":{0:100000}}}"#,
    )
    .unwrap();
    let props = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(props.path(), "deleteWhen=04\nfileReservedTime=48\n").unwrap();
    let digest = common::tree_digest(root);
    let store = root.to_str().unwrap();
    let cfg = props.path().to_str().unwrap();

    // 2026-03-10 03:59: not the hour; 04:00: the three old segments; 05:00: nothing.
    let json = |at: &str| -> serde_json::Value {
        let o = rmqstore(&[
            "cleanup",
            store,
            "--dry-run",
            "-c",
            cfg,
            "--at",
            at,
            "--disk-used",
            "50",
            "--json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let deleted = |v: &serde_json::Value| -> Vec<String> {
        v["commitlog"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["delete"].as_bool().unwrap())
            .map(|f| {
                Path::new(f["path"].as_str().unwrap())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    assert!(deleted(&json("2026-03-10 03:59")).is_empty());
    assert!(deleted(&json("2026-03-10 05:00")).is_empty());
    let v = json("2026-03-10 04:00");
    assert_eq!(
        deleted(&v),
        [
            "00000000000000000000",
            "00000000000001048576",
            "00000000000002097152"
        ]
    );
    assert_eq!(v["settings"]["fileReservedTimeHours"], 48);
    assert_eq!(v["minPhyOffsetAfter"], 3 * 1048576);
    let consumers = v["consumers"].as_array().unwrap();
    assert_eq!(consumers.len(), 1, "{consumers:?}");
    assert_eq!(consumers[0]["group"], "slow");
    assert!(consumers[0]["lost"].as_u64().unwrap() > 0);
    // A day earlier, 40 h after the last write: too young for 48 h, even at 04:00.
    assert!(deleted(&json("2026-03-09 04:00")).is_empty());
    // In epoch millis, the same as "2026-03-10 04:00" UTC.
    assert_eq!(deleted(&json("1773115200000")).len(), 3);

    // The text table: a header and aligned columns.
    let o = rmqstore(&[
        "cleanup",
        store,
        "--dry-run",
        "-c",
        cfg,
        "--at",
        "2026-03-10 04:00",
        "--disk-used",
        "86",
    ]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("forced (> 85%)"), "{text}");
    let table: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("RULE"))
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(table.len() >= 5, "{text}");
    let col = table[0].find("FILE").unwrap();
    for row in &table[1..] {
        assert!(
            row.get(col..).is_some_and(|r| r.starts_with("commitlog/")
                || r.starts_with("consumequeue/")
                || r.starts_with("index/")),
            "misaligned row: {row}"
        );
    }
    assert!(text.contains("slow"));

    // Without --dry-run the command refuses; a bad --at is an input error.
    let o = rmqstore(&["cleanup", store]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--dry-run"));
    let o = rmqstore(&["cleanup", store, "--dry-run", "--at", "next tuesday"]);
    assert_eq!(o.status.code(), Some(2));
    // A deleteWhen Java would never act on is refused with the reason.
    std::fs::write(props.path(), "deleteWhen=04; 16\n").unwrap();
    let o = rmqstore(&["cleanup", store, "--dry-run", "-c", cfg]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("deleteWhen"));

    assert_eq!(
        common::tree_digest(root),
        digest,
        "the dry run changed the store"
    );
}
