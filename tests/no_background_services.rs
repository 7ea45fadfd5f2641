//! `StoreConfig::background_services = false`: a writable store that runs no thread of its own
//! still stores, dispatches and reads back every put, makes a waiting SYNC_FLUSH put durable
//! before it returns, and persists everything at shutdown, so a reopen finds it all.

use std::path::Path;

use rmqstore::checkpoint::StoreCheckpoint;
use rmqstore::config::FlushDiskType;
use rmqstore::mapped_file::offset_to_file_name;
use rmqstore::store::GetMessageStatus;
use rmqstore::{Message, MessageStore, PutMessageStatus, StoreConfig};

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 64 * 1024;
    c.mapped_file_size_consume_queue_raw = 4000;
    c.max_hash_slot_num = 1000;
    c.max_index_num = 4000;
    c.background_services = false;
    c
}

fn body(i: usize) -> Vec<u8> {
    format!("no-services message {i} ")
        .repeat(1 + i % 5)
        .into_bytes()
}

/// Names (as the kernel truncates them) of the threads a writable store may start.
const STORE_THREADS: [&str; 7] = [
    "FlushRealTimeSe",
    "FlushConsumeQue",
    "GroupCommitServ",
    "CommitRealTimeS",
    "rmqstore-cleanu",
    "IndexPrefault",
    "Prefaulter",
];

fn store_threads_running() -> Vec<String> {
    let mut found = Vec::new();
    for ent in std::fs::read_dir("/proc/self/task").unwrap() {
        let comm = std::fs::read_to_string(ent.unwrap().path().join("comm")).unwrap_or_default();
        let comm = comm.trim_end();
        if STORE_THREADS.contains(&comm) {
            found.push(comm.to_string());
        }
    }
    found
}

/// The only test in this file that opens a store with its services, so no other test's
/// threads can be mistaken for this store's. A new thread names itself once it runs, so the
/// checks look a few times.
#[test]
fn a_store_without_services_starts_no_thread_and_one_with_them_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let r = store
        .put_message(&Message::new("T", 0, body(0)).with_keys("k"))
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
    for _ in 0..20 {
        assert_eq!(store_threads_running(), Vec::<String>::new());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    store.shutdown().unwrap();

    // The check sees the threads a default store starts.
    let mut with = config(dir.path());
    with.background_services = true;
    let store = MessageStore::open(with).unwrap();
    let mut running = Vec::new();
    for _ in 0..1000 {
        running = store_threads_running();
        if ["FlushRealTimeSe", "FlushConsumeQue", "rmqstore-cleanu"]
            .iter()
            .all(|name| running.iter().any(|t| t == name))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(running.len(), 3, "{running:?}");
    store.shutdown().unwrap();
}

#[test]
fn puts_read_back_at_once_and_survive_shutdown_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let n = 1500; // more than one 64 KiB segment
    let store = MessageStore::open(config(dir.path())).unwrap();
    for i in 0..n {
        let m = Message::new("NoSvc", (i % 2) as i32, body(i)).with_keys(&format!("key-{i}"));
        let r = store.put_message(&m).unwrap();
        assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
        // Dispatched in the put: readable right away, by queue and by key.
        let q = (i % 2) as i32;
        let got = store.get_messages("NoSvc", q, (i / 2) as u64, 1);
        assert_eq!(got.status, GetMessageStatus::Found, "message {i}");
        assert_eq!(got.messages[0].decode().unwrap().body, &body(i)[..]);
    }
    assert_eq!(
        store
            .query_messages_by_key("NoSvc", "key-7", 10, 0, i64::MAX)
            .len(),
        1
    );
    // Nothing flushed it in the background: the commitlog is not durable yet.
    assert!(store.commit_log().files().flushed_offset() < store.max_phy_offset());
    let end = store.max_phy_offset();
    assert!(dir.path().join("abort").exists());
    store.shutdown().unwrap();
    assert!(!dir.path().join("abort").exists(), "clean shutdown");

    // The checkpoint was persisted with the last message's store time.
    let cp = StoreCheckpoint::open(&dir.path().join("checkpoint"), false).unwrap();
    assert!(cp.values.physic_msg_timestamp > 0, "{:?}", cp.values);

    // The bytes are in the segment files, and a reopen (either way) finds every message.
    let first = std::fs::read(dir.path().join("commitlog").join(offset_to_file_name(0))).unwrap();
    assert!(first.windows(body(0).len()).any(|w| w == &body(0)[..]));
    for services in [false, true] {
        let mut c = config(dir.path());
        c.background_services = services;
        let ro = MessageStore::open_read_only(c).unwrap();
        assert!(!ro.recovery_report().abnormal);
        assert_eq!(ro.max_phy_offset(), end);
        assert!(ro.commit_log().files().len() > 1, "segments rolled over");
        for q in 0..2 {
            let got = ro.get_messages("NoSvc", q, 0, n);
            assert_eq!(got.messages.len(), n / 2);
            for (k, rec) in got.messages.iter().enumerate() {
                let i = 2 * k + q as usize;
                assert_eq!(rec.decode().unwrap().body, &body(i)[..], "message {i}");
            }
        }
        let hits = ro.query_messages_by_key("NoSvc", "key-1499", 10, 0, i64::MAX);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].decode().unwrap().body, &body(1499)[..]);
    }

    // A writable reopen continues the queues.
    let store = MessageStore::open(config(dir.path())).unwrap();
    let r = store
        .put_message(&Message::new("NoSvc", 0, body(n)))
        .unwrap();
    assert_eq!(r.append.unwrap().logics_offset, (n / 2) as i64);
    store.shutdown().unwrap();
}

#[test]
fn a_waiting_sync_flush_put_is_durable_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.flush_disk_type = FlushDiskType::SyncFlush;
    let store = MessageStore::open(c.clone()).unwrap();
    for i in 0..50 {
        let r = store
            .put_message(&Message::new("Sync", 0, body(i)))
            .unwrap();
        assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
        let a = r.append.unwrap();
        let put_end = (a.wrote_offset + a.wrote_bytes as i64) as u64;
        assert!(
            store.commit_log().files().flushed_offset() >= put_end,
            "put {i} returned before its bytes were flushed"
        );
    }
    // The same through the callback API.
    let (tx, rx) = std::sync::mpsc::channel();
    store
        .put_message_with_callback(&Message::new("Sync", 0, body(50)), move |r| {
            tx.send(r).unwrap()
        })
        .unwrap();
    let r = rx.recv().unwrap();
    assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
    let a = r.append.unwrap();
    assert!(
        store.commit_log().files().flushed_offset()
            >= (a.wrote_offset + a.wrote_bytes as i64) as u64
    );
    store.shutdown().unwrap();
    let ro = MessageStore::open_read_only(c).unwrap();
    assert_eq!(ro.max_offset_in_queue("Sync", 0), 51);
}

#[test]
fn the_transient_store_pool_is_not_used_so_puts_need_no_committer() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.transient_store_pool_enable = true;
    c.transient_store_pool_size = 2;
    assert!(!c.is_transient_store_pool_enable());
    let store = MessageStore::open(c.clone()).unwrap();
    for i in 0..20 {
        store
            .put_message(&Message::new("Pool", 0, body(i)))
            .unwrap();
        // Readable at once: nothing waits for a commit thread that does not exist.
        let got = store.get_messages("Pool", 0, i as u64, 1);
        assert_eq!(got.status, GetMessageStatus::Found, "message {i}");
        assert_eq!(got.messages[0].decode().unwrap().body, &body(i)[..]);
    }
    store.shutdown().unwrap();
    let ro = MessageStore::open_read_only(c).unwrap();
    assert_eq!(ro.get_messages("Pool", 0, 0, 100).messages.len(), 20);
}
