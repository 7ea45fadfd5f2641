//! Writing the 5.x batch consume queue against Java 5.3.3's bytes
//! (`tests/fixtures/java/rocketmq-5.3.3/batchcq`: plain messages and inner batches on a
//! `queue.type=BatchCQ` topic, 10-unit files): regenerating `batchconsumequeue/` from the
//! fixture's commitlog gives Java's files byte for byte.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use rmqstore::format::cq::DelayLevels;
use rmqstore::v5::batch_cq::{read_all_queues, BCQ_UNIT_SIZE};
use rmqstore::v5::batch_cq_write::{batch_topics, rebuild, BatchCqWriter};

mod common;
use common::files_under;

fn fx() -> PathBuf {
    // interop/v5-features/run.sh points this at stores the 5.3.3 jar has just written.
    let root = std::env::var_os("RMQSTORE_V5_FIXTURE_ROOT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/java/rocketmq-5.3.3"),
        PathBuf::from,
    );
    root.join("batchcq/store")
}

fn segments() -> Vec<(u64, Vec<u8>)> {
    vec![(
        0,
        fs::read(fx().join("commitlog/00000000000000000000")).unwrap(),
    )]
}

fn topics() -> BTreeSet<String> {
    ["BatchTopic".to_string()].into()
}

fn delay() -> DelayLevels {
    rmqstore::StoreConfig::default().delay_levels().unwrap()
}

const FILE_SIZE: u64 = 10 * BCQ_UNIT_SIZE as u64;

fn assert_equal_javas(root: &Path) {
    let java = files_under(&fx().join("batchconsumequeue"));
    let ours = files_under(&root.join("batchconsumequeue"));
    assert_eq!(
        java.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>()
    );
    assert_eq!(java.len(), 4, "two queues of two files each");
    for (p, b) in &java {
        assert!(b == &ours[p], "batchconsumequeue/{p} differs from Java's");
    }
}

#[test]
fn rebuild_from_the_commitlog_reproduces_javas_batch_queues() {
    let tmp = tempfile::tempdir().unwrap();
    let n = rebuild(tmp.path(), &segments(), &topics(), FILE_SIZE, &delay()).unwrap();
    // 12 singles and 12 inner batches on BatchTopic; TopicTest's 3 records are not in it.
    assert_eq!(n, 24);
    assert_equal_javas(tmp.path());
    let qs = read_all_queues(tmp.path()).unwrap();
    assert!(qs
        .iter()
        .all(|q| q.units.iter().any(|u| u.unit.batch_size > 1)));
    // Running it again adds nothing (every unit is a duplicate) and changes no byte.
    assert_eq!(
        rebuild(tmp.path(), &segments(), &topics(), FILE_SIZE, &delay()).unwrap(),
        0
    );
    assert_equal_javas(tmp.path());
}

#[test]
fn a_queue_cut_short_is_completed_to_javas_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    rebuild(tmp.path(), &segments(), &topics(), FILE_SIZE, &delay()).unwrap();
    // Cut queue 0 back to 7 units and drop its second file, as a torn tail would leave it.
    let q0 = tmp.path().join("batchconsumequeue/BatchTopic/0");
    fs::remove_file(q0.join("00000000000000000460")).unwrap();
    let first = q0.join("00000000000000000000");
    let mut b = fs::read(&first).unwrap();
    b[7 * BCQ_UNIT_SIZE..].fill(0);
    fs::write(&first, b).unwrap();
    assert_eq!(
        rebuild(tmp.path(), &segments(), &topics(), FILE_SIZE, &delay()).unwrap(),
        5
    );
    assert_equal_javas(tmp.path());
}

#[test]
fn queue_type_comes_from_topics_json_and_bad_sizes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("config");
    fs::create_dir_all(&cfg).unwrap();
    fs::write(
        cfg.join("topics.json"),
        r#"{"topicConfigTable":{
            "B":{"topicName":"B","readQueueNums":2,"writeQueueNums":2,"perm":6,"attributes":{"queue.type":"BatchCQ"}},
            "S":{"topicName":"S","readQueueNums":1,"writeQueueNums":1,"perm":6,"attributes":{"queue.type":"SimpleCQ"}},
            "P":{"topicName":"P","readQueueNums":1,"writeQueueNums":1,"perm":6}}}"#,
    )
    .unwrap();
    assert_eq!(batch_topics(&cfg).unwrap(), ["B".to_string()].into());
    assert!(batch_topics(&tmp.path().join("none")).unwrap().is_empty());
    assert!(BatchCqWriter::open(&tmp.path().join("q"), "B", 0, 100).is_err());
}
