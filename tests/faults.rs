//! Injected I/O faults on the write path: each gives a clear error naming the file, leaves the
//! store recoverable, and a later open recovers everything that was acknowledged.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use rmqstore::config::FlushDiskType;
use rmqstore::fault::{inject, FaultPoint};
use rmqstore::{Message, MessageStore, PutMessageStatus, StoreConfig, StoreError};

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 64 * 1024;
    c.mapped_file_size_consume_queue_raw = 2000;
    c.max_hash_slot_num = 100;
    c.max_index_num = 400;
    c
}

/// [`config`] under SYNC_FLUSH.
fn sync_config(root: &Path) -> StoreConfig {
    let mut c = config(root);
    c.flush_disk_type = FlushDiskType::SyncFlush;
    c
}

fn body(i: usize) -> Vec<u8> {
    format!("message {i} ").repeat(20).into_bytes()
}

/// Every acknowledged message is readable at its queue offset, and the queue is dense.
fn check_acknowledged(store: &MessageStore, acked: &[(usize, u64)]) {
    assert_eq!(store.max_offset_in_queue("F", 0), acked.len() as u64);
    let got = store.get_messages("F", 0, 0, usize::MAX);
    assert_eq!(got.messages.len(), acked.len());
    for ((i, qo), rec) in acked.iter().zip(&got.messages) {
        let r = rec.decode().unwrap();
        assert_eq!(r.queue_offset as u64, *qo);
        assert_eq!(r.body, &body(*i)[..], "message {i}");
    }
}

#[test]
fn enospc_creating_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = MessageStore::open(config(&root)).unwrap();
    // The first segment is created; the second fails once with ENOSPC.
    let guard = inject(
        FaultPoint::CreateFile,
        &root.join("commitlog"),
        libc::ENOSPC,
        1,
        1,
    );
    let mut acked = Vec::new();
    let mut failed = None;
    for i in 0..400 {
        match store.put_message(&Message::new("F", 0, body(i))) {
            Ok(r) => {
                assert_eq!(r.status, PutMessageStatus::PutOk);
                acked.push((i, r.append.unwrap().logics_offset as u64));
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(guard);
    let e = failed.expect("a put hit the injected ENOSPC");
    let msg = e.to_string();
    assert!(matches!(e, StoreError::Io { .. }), "{msg}");
    assert!(
        msg.contains("00000000000000065536"),
        "names the segment: {msg}"
    );
    assert!(msg.to_lowercase().contains("no space"), "{msg}");
    // No half-created segment is left behind, and the store goes on.
    assert!(!root.join("commitlog/00000000000000065536").exists());
    for i in 1000..1010 {
        let r = store.put_message(&Message::new("F", 0, body(i))).unwrap();
        acked.push((i, r.append.unwrap().logics_offset as u64));
    }
    check_acknowledged(&store, &acked);
    store.shutdown().unwrap();
    let store = MessageStore::open(config(&root)).unwrap();
    check_acknowledged(&store, &acked);
}

#[test]
fn eio_on_sync_flush() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let c = sync_config(&root);
    let store = MessageStore::open(c.clone()).unwrap();
    let mut acked = Vec::new();
    let r = store.put_message(&Message::new("F", 0, body(0))).unwrap();
    assert!(r.is_ok());
    acked.push((0, 0));
    let guard = inject(FaultPoint::Flush, &root.join("commitlog"), libc::EIO, 0, 1);
    let r = store.put_message(&Message::new("F", 0, body(1))).unwrap();
    drop(guard);
    // Not acknowledged as durable, but stored: the status says so and names the file.
    assert_eq!(r.status, PutMessageStatus::FlushDiskTimeout, "{r:?}");
    let reason = r.reason.clone().unwrap();
    assert!(
        reason.contains("flush failed") && reason.contains("commitlog"),
        "{reason}"
    );
    let a = r.append.unwrap();
    assert!(store.get_by_phy_offset(a.wrote_offset as u64).is_some());
    acked.push((1, 1));
    // The next put syncs everything, including the message whose flush failed.
    let r = store.put_message(&Message::new("F", 0, body(2))).unwrap();
    assert_eq!(r.status, PutMessageStatus::PutOk);
    acked.push((2, 2));
    store.shutdown().unwrap();
    let store = MessageStore::open(c).unwrap();
    check_acknowledged(&store, &acked);
}

/// Under SYNC_FLUSH records reach the segment with `pwrite`: a short write (half the record,
/// then EIO) fails that put with an error naming the segment, stores nothing of it, and the
/// store goes on; everything acknowledged is there after a crash and reopen.
#[test]
fn short_write_of_a_sync_flush_append() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let c = sync_config(&root);
    let store = MessageStore::open(c.clone()).unwrap();
    let mut acked = Vec::new();
    for i in 0..3 {
        let r = store.put_message(&Message::new("F", 0, body(i))).unwrap();
        assert_eq!(r.status, PutMessageStatus::PutOk);
        acked.push((i, r.append.unwrap().logics_offset as u64));
    }
    let guard = inject(FaultPoint::Write, &root.join("commitlog"), libc::EIO, 0, 1);
    let err = store
        .put_message(&Message::new("F", 0, body(99)))
        .unwrap_err()
        .to_string();
    drop(guard);
    assert!(
        err.contains("commitlog") && err.contains("Input/output error"),
        "{err}"
    );
    for i in 3..6 {
        let r = store.put_message(&Message::new("F", 0, body(i))).unwrap();
        assert_eq!(r.status, PutMessageStatus::PutOk);
        // The failed put took no queue offset.
        acked.push((i, r.append.unwrap().logics_offset as u64));
    }
    check_acknowledged(&store, &acked);
    // A crash (no shutdown): recovery from the abort file finds exactly what was acknowledged.
    drop(store);
    let store = MessageStore::open(c).unwrap();
    check_acknowledged(&store, &acked);
}

/// EIO on the syncs while many writers wait: a put whose bytes a failed sync covered (whether
/// it led that sync or slept while the service or another put ran it) reports the failure
/// instead of hanging or claiming durability; none is lost, and the next syncs succeed.
#[test]
fn eio_on_sync_flush_with_many_waiters() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let mut c = sync_config(&root);
    c.mapped_file_size_commit_log = 1024 * 1024;
    let store = std::sync::Arc::new(MessageStore::open(c.clone()).unwrap());
    let guard = inject(FaultPoint::Flush, &root.join("commitlog"), libc::EIO, 0, 20);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (0, 0);
                for i in 0..60 {
                    let m = Message::new("M", t, format!("writer {t} message {i}").into_bytes());
                    let r = store.put_message(&m).unwrap();
                    match r.status {
                        PutMessageStatus::PutOk => ok += 1,
                        PutMessageStatus::FlushDiskTimeout => {
                            let reason = r.reason.unwrap();
                            assert!(reason.contains("flush failed"), "{reason}");
                            failed += 1;
                        }
                        s => panic!("unexpected {s:?}"),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let results: Vec<(i32, i32)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    drop(guard);
    let failed: i32 = results.iter().map(|r| r.1).sum();
    assert!(failed > 0, "the injected EIO reached no put: {results:?}");
    // After the fault, a sync succeeds and makes everything durable, the failed ones too.
    let r = store
        .put_message(&Message::new("M", 0, b"after".to_vec()))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::PutOk);
    let store = std::sync::Arc::try_unwrap(store).unwrap();
    store.shutdown().unwrap();
    let store = MessageStore::open(c).unwrap();
    for t in 0..8 {
        let got = store.get_messages("M", t, 0, 100);
        let want = if t == 0 { 61 } else { 60 };
        assert_eq!(got.messages.len(), want, "queue {t}");
        for (i, m) in got.messages.iter().take(60).enumerate() {
            assert_eq!(
                m.decode().unwrap().body,
                format!("writer {t} message {i}").as_bytes()
            );
        }
    }
}

#[test]
fn eio_on_async_flush_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let mut c = config(&root);
    c.flush_interval_commit_log_ms = 5;
    c.flush_commit_log_least_pages = 0;
    let store = MessageStore::open(c.clone()).unwrap();
    let guard = inject(
        FaultPoint::Flush,
        &root.join("commitlog"),
        libc::EIO,
        0,
        u32::MAX,
    );
    let mut acked = Vec::new();
    for i in 0..20 {
        let r = store.put_message(&Message::new("F", 0, body(i))).unwrap();
        acked.push((i, r.append.unwrap().logics_offset as u64));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        if let Some(e) = store.background_error() {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "the flush error was never reported"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(
        err.contains("commitlog") && err.contains("Input/output error"),
        "{err}"
    );
    drop(guard);
    store.shutdown().unwrap();
    let store = MessageStore::open(c).unwrap();
    check_acknowledged(&store, &acked);
}

#[test]
fn short_write_of_the_checkpoint_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = MessageStore::open(config(&root)).unwrap();
    let mut acked = Vec::new();
    for i in 0..50 {
        let r = store.put_message(&Message::new("F", 0, body(i))).unwrap();
        acked.push((i, r.append.unwrap().logics_offset as u64));
    }
    let guard = inject(
        FaultPoint::Write,
        &root.join("checkpoint"),
        libc::EIO,
        0,
        u32::MAX,
    );
    let e = store.shutdown().unwrap_err().to_string();
    assert!(e.contains("checkpoint"), "{e}");
    drop(guard);
    // The shutdown did not complete: the abort file stays, so the next open recovers.
    assert!(root.join("abort").exists());
    let store = MessageStore::open(config(&root)).unwrap();
    assert!(store.recovery_report().abnormal);
    check_acknowledged(&store, &acked);
}

#[test]
fn enospc_creating_an_index_file_keeps_the_put_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = MessageStore::open(config(&root)).unwrap();
    let mut acked = Vec::new();
    // The first index file holds 399 keys; the second cannot be created for a while.
    let guard = inject(
        FaultPoint::CreateFile,
        &root.join("index"),
        libc::ENOSPC,
        1,
        u32::MAX,
    );
    for i in 0..500 {
        let m = Message::new("F", 0, body(i)).with_keys(&format!("k{i}"));
        let r = store.put_message(&m).unwrap();
        // A stored message is acknowledged even though its dispatch could not finish.
        assert_eq!(r.status, PutMessageStatus::PutOk);
        acked.push((i, r.append.unwrap().logics_offset as u64));
    }
    let err = store
        .background_error()
        .expect("the dispatch failure is reported");
    assert!(
        err.contains("index") && err.to_lowercase().contains("no space"),
        "{err}"
    );
    drop(guard);
    // The next put catches dispatch up: consume queue dense, every key found.
    let r = store
        .put_message(&Message::new("F", 0, body(500)).with_keys("k500"))
        .unwrap();
    acked.push((500, r.append.unwrap().logics_offset as u64));
    assert!(
        store.background_error().is_none(),
        "{:?}",
        store.background_error()
    );
    check_acknowledged(&store, &acked);
    for i in [0, 398, 399, 450, 500] {
        let found = store.query_messages_by_key("F", &format!("k{i}"), 64, 0, i64::MAX);
        assert_eq!(found.len(), 1, "key k{i}");
    }
    store.shutdown().unwrap();
    let store = MessageStore::open(config(&root)).unwrap();
    check_acknowledged(&store, &acked);
}

#[test]
fn failed_rename_during_rebuild_in_place_rolls_back() {
    let fx = common::fixture("rocketmq-4.6.0/async");
    let tmp = common::copy_store_to_temp(&fx);
    let before = common::tree_digest(tmp.path());
    // Let two renames through, fail the third: the swap is half done when it fails.
    let guard = inject(FaultPoint::Rename, tmp.path(), libc::EIO, 2, 1);
    let r = rmqstore::inspect::rebuild::rebuild(
        tmp.path(),
        &rmqstore::inspect::rebuild::RebuildOptions::new(
            rmqstore::inspect::rebuild::RebuildTarget::InPlace,
        ),
    );
    drop(guard);
    let e = r
        .expect_err("the injected rename failure fails the rebuild")
        .to_string();
    assert!(e.contains("Input/output error"), "{e}");
    // Everything the store had is back where it was; only the unused new files may remain.
    let after = common::tree_digest(tmp.path());
    for (path, hash) in &before {
        assert_eq!(after.get(path), Some(hash), "{path} changed or vanished");
    }
}
