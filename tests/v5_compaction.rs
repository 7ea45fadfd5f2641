//! `compaction/` (5.x compaction topics, docs/format.md §12.6). The committed 5.3.3 fixtures
//! hold only the position checkpoint Java writes at every start (`{"queueOffsetMap": {}}`);
//! the log and sparse queue here are laid out from records a 5.3.3 store wrote (the `async`
//! fixture) exactly as `CompactionLog` copies them: record bytes unchanged except the
//! physical-offset field (bytes 28..36), one 46-byte unit per record with batch size 1.

mod common;

use std::path::Path;

use common::{copy_store_to_temp, fixture, fixture_store_config};
use rmqstore::format::record::{decode_record, Decoded};
use rmqstore::v5::batch_cq::{BatchCqUnit, INVALID_POS};
use rmqstore::v5::compaction;
use rmqstore::MessageStore;

#[test]
fn the_position_checkpoint_java_writes_is_read() {
    for f in ["async", "crc"] {
        let f = fixture(&format!("5.3.3/{f}"));
        let r = compaction::read(&f.store_dir).unwrap().unwrap();
        assert!(r.positions.is_empty() && r.queues.is_empty() && r.problems.is_empty());
    }
    assert!(compaction::read(&fixture("4.6.0/async").store_dir)
        .unwrap()
        .is_none());
}

/// Copies the first `n` records of `topic` queue 0 into a compaction log and queue.
fn lay_out(root: &Path, topic: &str, n: usize) -> Vec<(i64, i64)> {
    let store = MessageStore::open_read_only(fixture_store_config(root)).unwrap();
    let got = store.get_messages(topic, 0, 0, n);
    let mut log = Vec::new();
    let mut cq = Vec::new();
    let mut placed = Vec::new();
    for rec in got.messages.iter().take(n) {
        let mut bytes = rec.bytes().to_vec();
        let (qo, ts) = match decode_record(&bytes, false).unwrap() {
            Decoded::Message { record, .. } => (record.queue_offset, record.store_timestamp),
            _ => unreachable!(),
        };
        let at = log.len() as i64;
        bytes[28..36].copy_from_slice(&at.to_be_bytes());
        log.extend_from_slice(&bytes);
        cq.extend_from_slice(
            &BatchCqUnit {
                commitlog_offset: at,
                size: bytes.len() as i32,
                tags_code: 0,
                store_time: ts,
                msg_base_offset: qo,
                batch_size: 1,
                compacted_offset: INVALID_POS,
                reserved: 0,
            }
            .encode(),
        );
        placed.push((at, qo));
    }
    drop(store);
    log.resize(1 << 16, 0);
    cq.resize(46 * 100, 0);
    let base = root.join("compaction");
    let ld = base.join("compactionLog").join(topic).join("0");
    let qd = base.join("compactionCq").join(topic).join("0");
    std::fs::create_dir_all(&ld).unwrap();
    std::fs::create_dir_all(&qd).unwrap();
    std::fs::write(ld.join(format!("{:020}", 0)), log).unwrap();
    std::fs::write(qd.join(format!("{:020}", 0)), cq).unwrap();
    std::fs::write(
        base.join("position-checkpoint"),
        format!("{{\"queueOffsetMap\":{{\"{topic}_0\":{}}}}}", n),
    )
    .unwrap();
    placed
}

#[test]
fn a_compaction_log_and_its_sparse_queue_are_read_and_checked() {
    let tmp = copy_store_to_temp(&fixture("5.3.3/async"));
    let placed = lay_out(tmp.path(), "TopicTest", 12);
    let r = compaction::read(tmp.path()).unwrap().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.queues.len(), 1);
    let q = &r.queues[0];
    assert_eq!((q.records, q.units), (12, 12));
    assert_eq!(q.min_offset, Some(placed[0].1));
    assert_eq!(q.max_offset, Some(placed[11].1 + 1));
    assert_eq!(q.compacted_to, Some(12));
    assert_eq!(r.positions.get("TopicTest_0"), Some(&12));

    // verify shows it and finds nothing wrong; stat lists the queue.
    let v = rmqstore::inspect::verify::verify(tmp.path(), &Default::default()).unwrap();
    assert!(!v.findings.has_errors(), "{:#?}", v.findings);
    assert_eq!(v.summary.v5.unwrap().compaction.unwrap().queues.len(), 1);

    // A unit whose base offset is wrong is named by file and offset.
    let qf = tmp
        .path()
        .join("compaction/compactionCq/TopicTest/0/00000000000000000000");
    let mut b = std::fs::read(&qf).unwrap();
    b[5 * 46 + 35] ^= 1;
    std::fs::write(&qf, &b).unwrap();
    let v = rmqstore::inspect::verify::verify(tmp.path(), &Default::default()).unwrap();
    assert!(
        v.findings
            .of_kind("v5-compaction")
            .any(|f| f.file.as_deref() == Some(qf.as_path()) && f.offset == Some(5 * 46)),
        "{:#?}",
        v.findings
    );
    // A log record whose physical-offset field is not its position.
    b[5 * 46 + 35] ^= 1;
    std::fs::write(&qf, &b).unwrap();
    let lf = tmp
        .path()
        .join("compaction/compactionLog/TopicTest/0/00000000000000000000");
    let mut l = std::fs::read(&lf).unwrap();
    let at = placed[3].0 as usize;
    l[at + 35] ^= 1;
    std::fs::write(&lf, &l).unwrap();
    let r = compaction::read(tmp.path()).unwrap().unwrap();
    assert!(
        r.problems
            .iter()
            .any(|(f, o, w)| f == &lf && *o == Some(at as u64) && w.contains("physical offset")),
        "{:?}",
        r.problems
    );
}
