//! `rmqstore rebuild` regenerates `batchconsumequeue/` with the 5.x writer: from a copy of the
//! store Java 5.3.3 wrote (`tests/fixtures/java/rocketmq-5.3.3/batchcq`), through the CLI, the
//! new batch queues are Java's byte for byte; a damaged or missing batch queue is rebuilt, and
//! in place the old folder is kept as `batchconsumequeue.bak-<ts>`.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{copy_store_to_temp, files_under, fixture};
use rmqstore::v5::batch_cq::BCQ_UNIT_SIZE;

fn java_bcq() -> std::collections::BTreeMap<String, Vec<u8>> {
    let b = files_under(&fixture("5.3.3/batchcq").store_dir.join("batchconsumequeue"));
    assert_eq!(b.len(), 4, "two queues of two files each");
    b
}

fn rebuild_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .arg("rebuild")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_javas(root: &Path, what: &str) {
    let ours = files_under(&root.join("batchconsumequeue"));
    let java = java_bcq();
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        java.keys().collect::<Vec<_>>(),
        "{what}"
    );
    for (p, b) in &java {
        assert!(
            b == &ours[p],
            "{what}: batchconsumequeue/{p} differs from Java's"
        );
    }
}

fn bak_dirs(root: &Path, name: &str) -> Vec<std::path::PathBuf> {
    fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{name}.bak-"))
        })
        .collect()
}

#[test]
fn rebuild_out_regenerates_javas_batch_queues() {
    let src = copy_store_to_temp(&fixture("5.3.3/batchcq"));
    // Remove the source's batch queues: the output's can only come from the commitlog.
    fs::remove_dir_all(src.path().join("batchconsumequeue/BatchTopic/1")).unwrap();
    let q0 = src.path().join("batchconsumequeue/BatchTopic/0");
    fs::remove_file(q0.join("00000000000000000460")).unwrap();
    let mut b = fs::read(q0.join("00000000000000000000")).unwrap();
    b[BCQ_UNIT_SIZE..].fill(0);
    fs::write(q0.join("00000000000000000000"), b).unwrap();
    // ...except queue 1, which topics.json names (queue.type=BatchCQ) while its folder is gone.
    fs::create_dir_all(src.path().join("config")).unwrap();
    fs::write(
        src.path().join("config/topics.json"),
        r#"{"topicConfigTable":{"BatchTopic":{"topicName":"BatchTopic","readQueueNums":2,
        "writeQueueNums":2,"perm":6,"attributes":{"queue.type":"BatchCQ"}}}}"#,
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("out");
    let (code, stdout, stderr) = rebuild_cli(&[
        "--out",
        dest.to_str().unwrap(),
        src.path().to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_javas(&dest, "rebuild --out");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let kept = report["kept5x"].as_array().or(report["kept_5x"].as_array());
    assert!(
        kept.is_none_or(|k| !k.iter().any(|v| v == "batchconsumequeue")),
        "regenerated, not kept: {report}"
    );
    // No plain queue for the batch topic; TopicTest's plain queue is Java's.
    assert!(!dest.join("consumequeue/BatchTopic").exists());
    assert_eq!(
        files_under(&dest.join("consumequeue")),
        files_under(&fixture("5.3.3/batchcq").store_dir.join("consumequeue"))
    );
    // The source is untouched (still cut short).
    assert!(!src.path().join("batchconsumequeue/BatchTopic/1").exists());
}

#[test]
fn rebuild_in_place_repairs_a_damaged_batch_queue_and_keeps_the_old_one() {
    let src = copy_store_to_temp(&fixture("5.3.3/batchcq"));
    // Damage: unit 3 of queue 1 points at a wrong record and claims a wrong batch size, and
    // the second file of queue 0 has a torn tail.
    let f1 = src
        .path()
        .join("batchconsumequeue/BatchTopic/1/00000000000000000000");
    let mut b = fs::read(&f1).unwrap();
    let u = 3 * BCQ_UNIT_SIZE;
    b[u..u + 8].copy_from_slice(&12345i64.to_be_bytes());
    b[u + 36..u + 38].copy_from_slice(&9i16.to_be_bytes());
    fs::write(&f1, &b).unwrap();
    let f0 = src
        .path()
        .join("batchconsumequeue/BatchTopic/0/00000000000000000460");
    let mut t = fs::read(&f0).unwrap();
    t[BCQ_UNIT_SIZE + 10..].fill(0xAB);
    fs::write(&f0, &t).unwrap();
    let damaged = files_under(&src.path().join("batchconsumequeue"));

    let (code, stdout, stderr) = rebuild_cli(&["--in-place", src.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_javas(src.path(), "rebuild --in-place");
    // The old folder is kept, exactly as it was.
    let baks = bak_dirs(src.path(), "batchconsumequeue");
    assert_eq!(baks.len(), 1, "{baks:?}");
    assert_eq!(files_under(&baks[0]), damaged);
    // The rebuilt store opens in 5.x mode and reads through the batch queue.
    let mut c = common::fixture_store_config(src.path())
        .with_target_version(rmqstore::v5::TargetVersion::V5_3_3);
    c.mapper_file_size_batch_consume_queue = 10 * BCQ_UNIT_SIZE as u64;
    let store = rmqstore::MessageStore::open_read_only(c).unwrap();
    let got = store.get_messages("BatchTopic", 1, 4, 1);
    assert_eq!(got.messages.len(), 1);
    let rec = got.messages[0].decode().unwrap();
    assert!(rec.queue_offset <= 4);
}

#[test]
fn a_store_without_batch_topics_gets_no_batch_queue_folder() {
    let src = copy_store_to_temp(&fixture("5.3.3/lmq"));
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("out");
    let (code, stdout, stderr) = rebuild_cli(&[
        "--out",
        dest.to_str().unwrap(),
        src.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(!dest.join("batchconsumequeue").exists());
    assert!(bak_dirs(src.path(), "batchconsumequeue").is_empty());
}
