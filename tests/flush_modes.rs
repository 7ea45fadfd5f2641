//! The three flush modes: what a put returns, when bytes are durable or readable, and that a
//! cleanly shut down store reads back everything under each mode.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rmqstore::config::FlushDiskType;
use rmqstore::store::GetMessageStatus;
use rmqstore::{Message, MessageStore, PutMessageStatus, StoreConfig};

fn config(root: &std::path::Path, mode: &str) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 64 * 1024;
    c.mapped_file_size_consume_queue_raw = 4000;
    c.max_hash_slot_num = 1000;
    c.max_index_num = 4000;
    match mode {
        "async" => {}
        "sync" => c.flush_disk_type = FlushDiskType::SyncFlush,
        "transient" => {
            c.transient_store_pool_enable = true;
            c.transient_store_pool_size = 3;
        }
        _ => unreachable!(),
    }
    c
}

fn body(t: usize, i: usize) -> Vec<u8> {
    format!("thread {t} message {i} ")
        .repeat(1 + (i % 7))
        .into_bytes()
}

/// Writes from 4 threads, shuts down cleanly, reopens read-only and checks every message.
fn write_and_read_back(mode: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MessageStore::open(config(dir.path(), mode)).unwrap());
    let per_thread = 300;
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let m = Message::new("FlushTopic", t as i32, body(t, i))
                        .with_keys(&format!("k-{t}-{i}"));
                    let r = store.put_message(&m).unwrap();
                    assert_eq!(r.status, PutMessageStatus::PutOk, "{mode}: {r:?}");
                    assert_eq!(r.append.unwrap().logics_offset, i as i64);
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let store = Arc::try_unwrap(store).unwrap();
    assert!(store.background_error().is_none());
    store.shutdown().unwrap();
    assert!(
        !dir.path().join("abort").exists(),
        "{mode}: clean shutdown removes abort"
    );

    let ro = MessageStore::open_read_only(config(dir.path(), mode)).unwrap();
    assert!(
        ro.commit_log().files().len() > 1,
        "{mode}: segments rolled over"
    );
    for t in 0..4 {
        assert_eq!(ro.max_offset_in_queue("FlushTopic", t), per_thread as u64);
        let got = ro.get_messages("FlushTopic", t, 0, 10_000);
        assert_eq!(got.status, GetMessageStatus::Found);
        assert_eq!(got.messages.len(), per_thread);
        for (i, rec) in got.messages.iter().enumerate() {
            let r = rec.decode().unwrap();
            assert_eq!(
                r.body,
                &body(t as usize, i)[..],
                "{mode}: queue {t} offset {i}"
            );
            assert_eq!(r.queue_offset, i as i64);
        }
        let k = format!("k-{t}-7");
        assert_eq!(
            ro.query_messages_by_key("FlushTopic", &k, 64, 0, i64::MAX)
                .len(),
            1
        );
    }
}

#[test]
fn async_flush_reads_back() {
    write_and_read_back("async");
}

#[test]
fn sync_flush_reads_back() {
    write_and_read_back("sync");
}

#[test]
fn transient_store_pool_reads_back() {
    write_and_read_back("transient");
}

/// SYNC puts of 4 KiB bodies into a store with 32 MiB segments (the prefault thread runs
/// from 16 MiB), a little over 10 MiB, past two 4 MiB window crossings; shut down (which
/// drains the prefault thread's requests), checked and reopened. Returns the write position
/// and the bytes the file system allocated to the segment, or `None` for the latter where it
/// keeps no holes (a fresh sparse file has blocks).
fn sync_puts_with_zero_fill(zero_fill: bool) -> (usize, Option<usize>) {
    use std::os::unix::fs::MetadataExt;
    const MIB: usize = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), "sync");
    c.mapped_file_size_commit_log = 32 * MIB;
    c.mapped_file_size_consume_queue_raw = 300_000 * 20;
    c.sync_flush_zero_fill_ahead = zero_fill;
    let store = MessageStore::open(c.clone()).unwrap();
    let n = 2_600;
    let body = |i: usize| vec![(i % 251) as u8 + 1; 4096];
    for i in 0..n {
        let r = store.put_message(&Message::new("Z", 0, body(i))).unwrap();
        assert_eq!(r.status, PutMessageStatus::PutOk);
    }
    let end = store.max_phy_offset() as usize;
    assert!(end > 10 * MIB, "wrote {end} bytes");
    store.shutdown().unwrap();

    let seg = dir.path().join("commitlog").join(format!("{:020}", 0));
    let bytes = std::fs::read(&seg).unwrap();
    assert_eq!(bytes.len(), 32 * MIB);
    assert!(
        bytes[end..].iter().all(|&b| b == 0),
        "a non-zero byte above the write position"
    );
    let probe = dir.path().join("sparse-probe");
    std::fs::File::create(&probe)
        .unwrap()
        .set_len(MIB as u64)
        .unwrap();
    let keeps_holes = std::fs::metadata(&probe).unwrap().blocks() == 0;
    let allocated = std::fs::metadata(&seg).unwrap().blocks() as usize * 512;

    let ro = MessageStore::open_read_only(c).unwrap();
    assert_eq!(ro.max_phy_offset() as usize, end);
    let got = ro.get_messages("Z", 0, 0, 10_000);
    assert_eq!(got.messages.len(), n);
    for (i, rec) in got.messages.iter().enumerate() {
        assert_eq!(rec.decode().unwrap().body, &body(i)[..], "message {i}");
    }
    (end, keeps_holes.then_some(allocated))
}

/// Under SYNC_FLUSH the prefault thread zero-fills the holes ahead of the writer (so each
/// put's sync rewrites allocated blocks): the window the writer would enter next is
/// allocated, and still no byte differs from what the puts wrote, the rest of the segment
/// reads as zeros, and everything reads back after a reopen.
#[test]
fn sync_flush_zero_fill_ahead_changes_no_byte() {
    let (end, allocated) = sync_puts_with_zero_fill(true);
    if let Some(allocated) = allocated {
        assert!(
            allocated >= 16 << 20,
            "only {allocated} bytes allocated with {end} written: no zero-fill ahead"
        );
    }
}

/// `sync_flush_zero_fill_ahead = false`: nothing is allocated ahead of the writer.
#[test]
fn sync_flush_zero_fill_ahead_can_be_turned_off() {
    let (end, allocated) = sync_puts_with_zero_fill(false);
    if let Some(allocated) = allocated {
        assert!(
            allocated < end + (1 << 20),
            "{allocated} bytes allocated with {end} written: zero-filled although off"
        );
    }
}

#[test]
fn sync_put_returns_only_when_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path(), "sync")).unwrap();
    for i in 0..50 {
        let r = store
            .put_message(&Message::new("S", 0, vec![i as u8; 100 + i]))
            .unwrap();
        assert_eq!(r.status, PutMessageStatus::PutOk);
        let a = r.append.unwrap();
        let end = (a.wrote_offset + a.wrote_bytes as i64) as u64;
        assert!(
            store.commit_log().files().flushed_offset() >= end,
            "put {i} returned before its bytes were flushed"
        );
    }
}

/// Many concurrent writers share syncs: most puts wait for a sync led by another thread or by
/// the service thread, and are woken by someone else's wake-up; each must still return only
/// once its own bytes are durable.
#[test]
fn sync_puts_from_many_writers_return_only_when_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MessageStore::open(config(dir.path(), "sync")).unwrap());
    let handles: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..150 {
                    let m = Message::new("G", (t % 4) as i32, body(t, i));
                    let r = store.put_message(&m).unwrap();
                    assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
                    let a = r.append.unwrap();
                    let end = (a.wrote_offset + a.wrote_bytes as i64) as u64;
                    assert!(
                        store.commit_log().files().flushed_offset() >= end,
                        "writer {t} put {i} returned before its bytes were flushed"
                    );
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let total: u64 = (0..4).map(|q| store.max_offset_in_queue("G", q)).sum();
    assert_eq!(total, 16 * 150);
}

#[test]
fn wait_false_does_not_block_and_is_flushed_soon() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path(), "sync")).unwrap();
    let m = Message::new("S", 0, b"no wait".to_vec()).with_property("WAIT", "false");
    let r = store.put_message(&m).unwrap();
    assert_eq!(r.status, PutMessageStatus::PutOk);
    let a = r.append.unwrap();
    let end = (a.wrote_offset + a.wrote_bytes as i64) as u64;
    // The group-commit service flushes within a few rounds of 10 ms.
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.commit_log().files().flushed_offset() < end {
        assert!(
            Instant::now() < deadline,
            "WAIT=false message never flushed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn callbacks_complete_after_durability_and_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path(), "sync")).unwrap();
    let (tx, rx) = mpsc::channel();
    let n = 200;
    for i in 0..n {
        let tx = tx.clone();
        store
            .put_message_with_callback(&Message::new("CB", 1, vec![7u8; 64]), move |r| {
                tx.send((i, r)).unwrap();
            })
            .unwrap();
    }
    drop(tx);
    let mut seen = vec![false; n];
    for (i, r) in rx.iter() {
        assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
        let a = r.append.unwrap();
        assert!(
            store.commit_log().files().flushed_offset()
                >= (a.wrote_offset + a.wrote_bytes as i64) as u64
        );
        seen[i] = true;
    }
    assert!(seen.iter().all(|s| *s), "every callback ran exactly once");
}

#[test]
fn async_callback_runs_immediately() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path(), "async")).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    store
        .put_message_with_callback(&Message::new("CB", 0, b"x".to_vec()), move |r| {
            assert!(r.is_ok());
            r2.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn transient_pool_records_become_readable_at_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), "transient");
    c.commit_interval_commit_log_ms = 50;
    c.commit_commit_log_thorough_interval_ms = 50;
    let store = MessageStore::open(c).unwrap();
    let r = store
        .put_message(&Message::new("TP", 0, b"pooled".to_vec()))
        .unwrap();
    let offset = r.append.unwrap().wrote_offset as u64;
    // Until the commit service runs, the record is in the write buffer only.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(rec) = store.get_by_phy_offset(offset) {
            assert_eq!(rec.decode().unwrap().body, b"pooled");
            break;
        }
        assert!(Instant::now() < deadline, "record never committed");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Dispatch follows the commit: the consume queue gets the unit.
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.max_offset_in_queue("TP", 0) < 1 {
        assert!(Instant::now() < deadline, "record never dispatched");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(store.get_messages("TP", 0, 0, 10).messages.len(), 1);
}

#[test]
fn abort_file_marks_an_open_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path(), "async")).unwrap();
    assert!(dir.path().join("abort").exists());
    store
        .put_message(&Message::new("A", 0, b"x".to_vec()))
        .unwrap();
    drop(store); // Drop shuts down cleanly too
    assert!(!dir.path().join("abort").exists());
    let store = MessageStore::open(config(dir.path(), "async")).unwrap();
    assert!(!store.recovery_report().abnormal);
    assert_eq!(store.max_offset_in_queue("A", 0), 1);
}

#[test]
fn size_limits_apply_to_a_record_and_to_a_whole_batch() {
    use rmqstore::{BatchItem, MessageBatch};
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), "async");
    c.max_message_size = 4096;
    let store = MessageStore::open(c).unwrap();
    let r = store
        .put_message(&Message::new("L", 0, vec![1u8; 4096]))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::MessageIllegal);
    assert!(r.reason.unwrap().contains("maxMessageSize 4096"));
    let batch = |n: usize| MessageBatch {
        topic: "L".into(),
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: 1,
        born_host: rmqstore::format::Host::parse("127.0.0.1:1").unwrap(),
        store_host: rmqstore::format::Host::parse("127.0.0.1:10911").unwrap(),
        reconsume_times: 0,
        items: (0..n)
            .map(|_| BatchItem {
                flag: 0,
                body: vec![2u8; 1000],
                properties: String::new(),
            })
            .collect(),
    };
    // Three items of ~1.1 KB fit 4096 together; four do not, although each one would.
    assert!(store.put_messages(&batch(3)).unwrap().is_ok());
    let r = store.put_messages(&batch(4)).unwrap();
    assert_eq!(r.status, PutMessageStatus::MessageIllegal);
    assert!(r.reason.unwrap().starts_with("batch of"));
    assert_eq!(
        store.max_offset_in_queue("L", 0),
        3,
        "nothing of the refused batch stored"
    );
}
