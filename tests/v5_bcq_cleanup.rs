//! Retention of 5.x batch consume queues: `CleanConsumeQueueService` walks the batch queues
//! with the plain ones (`BatchConsumeQueue#deleteExpiredFile`: every file but the last whose
//! last 46-byte unit refers below the commitlog's new minimum), the dry run names the same
//! files, and reads, reopen and `verify` agree with what is left.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use rmqstore::cleanup::{CleanupOptions, FakeDiskProbe};
use rmqstore::clock::{local_to_millis, ManualClock};
use rmqstore::inspect::verify::{verify, VerifyOptions};
use rmqstore::store::GetMessageStatus;
use rmqstore::v5::batch_cq::BCQ_UNIT_SIZE;
use rmqstore::v5::TargetVersion;
use rmqstore::{Message, MessageStore, OpenMode, StoreConfig};

const SEG: usize = 4096;
const UNITS_PER_FILE: usize = 10;
const H: i64 = 3_600_000;

fn at(day: u32, hour: u32) -> i64 {
    local_to_millis(2026, 3, day, hour, 0).unwrap()
}

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root).with_target_version(TargetVersion::V5_3_3);
    c.background_services = false;
    c.mapped_file_size_commit_log = SEG;
    c.mapped_file_size_consume_queue_raw = 200;
    c.mapper_file_size_batch_consume_queue = (UNITS_PER_FILE * BCQ_UNIT_SIZE) as u64;
    c.delete_when = "04".into();
    c.file_reserved_time_hours = 48;
    c
}

fn open(root: &Path, clock: &ManualClock) -> MessageStore {
    let store = MessageStore::open_with(config(root), OpenMode::ReadWrite, Arc::new(clock.clone()))
        .unwrap();
    store.set_cleanup_options(CleanupOptions {
        probe: Arc::new(FakeDiskProbe::new(50.0)),
        sleep: Arc::new(|_| {}),
        first_delay: Duration::from_secs(3600),
    });
    store
}

fn body(i: usize) -> Vec<u8> {
    let mut b = format!("bcq-{i:05}-").into_bytes();
    b.resize(200, b'a' + (i % 26) as u8);
    b
}

/// The batch queue's files, in name order.
fn bcq_files(root: &Path, topic: &str, q: i32) -> Vec<PathBuf> {
    let dir = root
        .join("batchconsumequeue")
        .join(topic)
        .join(q.to_string());
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The commitlog offset the file's last unit refers to (-1: the file is not full).
fn last_unit_phy(path: &Path) -> i64 {
    let b = fs::read(path).unwrap();
    let u = &b[b.len() - BCQ_UNIT_SIZE..];
    let phy = i64::from_be_bytes(u[..8].try_into().unwrap());
    if u.iter().all(|&x| x == 0) {
        -1
    } else {
        phy
    }
}

#[test]
fn batch_queue_files_follow_the_commitlog_minimum() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let clock = ManualClock::new(at(1, 12));
    let store = open(&root, &clock);
    assert!(store.set_batch_topic("B", true));
    // Batch queue B/0 (every message), B/1 (one message only: its single file stays), and a
    // plain queue beside them.
    let mut n = 0usize;
    store
        .put_message(&Message::new("B", 1, body(9999)))
        .unwrap();
    // Until the ninth segment holds a few of B/0's messages.
    let mut in_last = 0;
    while in_last < 5 {
        clock.advance(1000);
        let r = store.put_message(&Message::new("B", 0, body(n))).unwrap();
        assert!(r.is_ok(), "{r:?}");
        if r.append.unwrap().wrote_offset >= 8 * SEG as i64 {
            in_last += 1;
        }
        if n % 4 == 0 {
            store.put_message(&Message::new("P", 0, body(n))).unwrap();
        }
        n += 1;
    }
    assert_eq!(store.commit_log().files().len(), 9);
    store.flush().unwrap();
    let before = bcq_files(&root, "B", 0);
    assert!(before.len() >= 5, "{before:?}");
    // Segments 0..8 are old; the dry run at 04:00 deletes them, so the minimum becomes 8 * SEG.
    for f in store.commit_log().files().files().iter() {
        fs::File::options()
            .write(true)
            .open(f.path())
            .unwrap()
            .set_modified(UNIX_EPOCH + Duration::from_millis((at(10, 4) - 100 * H) as u64))
            .unwrap();
    }
    clock.set(at(10, 4));
    let min_after = 8 * SEG as i64;
    let expected: Vec<PathBuf> = before
        .iter()
        .take(before.len() - 1)
        .take_while(|p| (0..min_after).contains(&last_unit_phy(p)))
        .cloned()
        .collect();
    assert!(!expected.is_empty() && expected.len() < before.len());

    let plan = store
        .cleanup_plan(at(10, 4), &FakeDiskProbe::new(50.0))
        .unwrap();
    let planned: Vec<PathBuf> = plan
        .consume_queues
        .iter()
        .filter(|p| p.path.starts_with(root.join("batchconsumequeue")))
        .map(|p| p.path.clone())
        .collect();
    assert_eq!(
        planned, expected,
        "the dry run names the batch files cleanup deletes"
    );
    assert!(
        before.iter().all(|p| p.exists()),
        "the dry run deleted nothing"
    );

    let r = store.run_cleanup_once().unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.commitlog_deleted.len(), 8);
    assert_eq!(store.min_phy_offset(), min_after as u64);
    let deleted: Vec<PathBuf> = r
        .consume_queue_deleted
        .iter()
        .filter(|p| p.starts_with(root.join("batchconsumequeue")))
        .cloned()
        .collect();
    assert_eq!(deleted, expected);
    let after = bcq_files(&root, "B", 0);
    assert_eq!(after, before[expected.len()..]);
    assert!(last_unit_phy(&after[0]) >= min_after || after.len() == 1);
    // B/1's only file is its last: kept, though its unit points below the minimum.
    assert_eq!(bcq_files(&root, "B", 1).len(), 1);

    // Reads: the queue's minimum is its first message still in the commitlog.
    let qmin = store.min_offset_in_queue("B", 0);
    assert!(qmin as usize >= expected.len() * UNITS_PER_FILE);
    let got = store.get_messages("B", 0, qmin, 4);
    assert_eq!(got.status, GetMessageStatus::Found);
    let first = got.messages[0].decode().unwrap();
    assert_eq!(first.queue_offset as u64, qmin);
    assert_eq!(first.body, &body(qmin as usize)[..]);
    assert!(first.physical_offset >= min_after);
    let last = store.get_messages("B", 0, (n - 1) as u64, 1);
    assert_eq!(last.messages[0].decode().unwrap().body, &body(n - 1)[..]);
    let reads = (qmin, store.max_offset_in_queue("B", 0));

    // A second run finds nothing more to delete; reopen sees the same queue.
    clock.advance(1000);
    let again = store.run_cleanup_once().unwrap();
    assert!(again
        .consume_queue_deleted
        .iter()
        .all(|p| !p.starts_with(root.join("batchconsumequeue"))));
    store.shutdown().unwrap();
    let store = open(&root, &clock);
    assert_eq!(
        (
            store.min_offset_in_queue("B", 0),
            store.max_offset_in_queue("B", 0)
        ),
        reads
    );
    assert_eq!(
        store.get_messages("B", 0, qmin, 1).messages[0]
            .decode()
            .unwrap()
            .body,
        &body(qmin as usize)[..]
    );
    // Appends after the cleanup go on in the last file.
    let r = store.put_message(&Message::new("B", 0, body(n))).unwrap();
    assert_eq!(r.append.unwrap().logics_offset, n as i64);
    store.shutdown().unwrap();

    let v = verify(&root, &VerifyOptions::default()).unwrap();
    assert_eq!(v.exit_code(), 0, "{:#?}", v.findings);
}
