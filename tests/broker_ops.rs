//! The broker operations of `MessageStore` (`src/store/broker_ops.rs`, `filter.rs`, `hooks.rs`,
//! `async_put.rs`), checked against the Java 4.6.0 fixtures where Java's answer is known and
//! against Java 4.6.0's `getMessage` rules elsewhere.

mod common;

use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use common::{copy_store_to_temp, fixture, fixture_store_config, sha256_hex, ReaderQueue};
use rmqstore::config::{BrokerRole, FlushDiskType};
use rmqstore::store::{block_on, Arrival, GetMessageStatus, TagFilter};
use rmqstore::{Message, MessageStore, StoreConfig};

const FIXTURES_460: [&str; 4] = [
    "4.6.0/async",
    "4.6.0/sync",
    "4.6.0/transient",
    "4.6.0/crashed",
];

fn tags_of(props: &str) -> Option<&str> {
    props
        .split('\u{2}')
        .find_map(|kv| kv.strip_prefix("TAGS\u{1}"))
}

fn open_fixture_ro(name: &str) -> (tempfile::TempDir, MessageStore, common::Reader) {
    let f = fixture(name);
    let tmp = copy_store_to_temp(&f);
    let store = MessageStore::open_read_only(fixture_store_config(tmp.path())).unwrap();
    (tmp, store, f.reader())
}

fn queues(r: &common::Reader) -> impl Iterator<Item = &ReaderQueue> {
    r.queues.iter().filter(|q| !q.messages.is_empty())
}

/// Pulls a whole queue with `get_message` and `filter`, as a consumer would, returning the
/// queue offsets of what came back.
fn pull_all(store: &MessageStore, q: &ReaderQueue, filter: &TagFilter) -> Vec<i64> {
    let mut got = vec![];
    let mut offset = q.min_offset as u64;
    loop {
        let r = store.get_message("g", &q.topic, q.queue_id, offset, 32, Some(filter));
        match r.status {
            GetMessageStatus::Found => {
                for m in &r.messages {
                    got.push(m.decode().unwrap().queue_offset);
                }
            }
            GetMessageStatus::NoMatchedMessage => assert!(r.messages.is_empty()),
            GetMessageStatus::OffsetOverflowOne => break,
            s => panic!("{} {}: {s:?} at {offset}", q.topic, q.queue_id),
        }
        assert!(r.next_begin_offset > offset, "no progress at {offset}");
        offset = r.next_begin_offset;
    }
    got
}

/// Every queue of every 4.6.0 fixture pulled with tag filters: exactly the messages whose
/// consume-queue tags code and TAGS match, in queue order; and `*` returns every message.
#[test]
fn filtered_gets_match_the_fixtures_tags() {
    for name in FIXTURES_460 {
        let (_tmp, store, reader) = open_fixture_ro(name);
        let mut checked_filtered = 0;
        for q in queues(&reader) {
            let all = pull_all(&store, q, &TagFilter::all());
            let want_all: Vec<i64> = q.messages.iter().map(|m| m.queue_offset).collect();
            assert_eq!(all, want_all, "{name} {} {}", q.topic, q.queue_id);

            let mut tags: Vec<&str> = q
                .messages
                .iter()
                .filter_map(|m| tags_of(&m.properties_string))
                .collect();
            tags.sort();
            tags.dedup();
            for tag in tags.iter().take(3) {
                let code = rmqstore::format::tags_code(Some(tag)) as i32;
                // (In SCHEDULE_TOPIC_XXXX the code is the delivery time, so nothing matches.)
                let want: Vec<i64> = q
                    .messages
                    .iter()
                    .filter(|m| tags_of(&m.properties_string) == Some(tag))
                    .filter(|m| m.cq_tags_code.map(|c| c as i32) == Some(code))
                    .map(|m| m.queue_offset)
                    .collect();
                let got = pull_all(&store, q, &TagFilter::parse(tag));
                assert_eq!(got, want, "{name} {} {} tag {tag}", q.topic, q.queue_id);
                // Java's broker matches on the consume-queue code alone.
                let by_code: Vec<i64> = q
                    .messages
                    .iter()
                    .filter(|m| m.cq_tags_code.map(|c| c as i32) == Some(code))
                    .map(|m| m.queue_offset)
                    .collect();
                let got = pull_all(&store, q, &TagFilter::parse(tag).codes_only());
                assert_eq!(
                    got, by_code,
                    "{name} {} {} code of {tag}",
                    q.topic, q.queue_id
                );
                checked_filtered += 1;
            }
        }
        assert!(checked_filtered > 10, "{name}: {checked_filtered}");
    }
}

/// Sets each consume-queue file's mtime to the store time of its last unit's message, as the
/// Java run left them (a copy gets fresh mtimes, which `getMappedFileByTime` reads).
fn set_cq_mtimes(root: &std::path::Path, q: &ReaderQueue, units_per_file: i64) {
    let dir = root
        .join("consumequeue")
        .join(&q.topic)
        .join(q.queue_id.to_string());
    for (start, path) in common::numbered_files(&dir) {
        let first = start as i64 / 20;
        let last = q
            .messages
            .iter()
            .filter(|m| m.queue_offset >= first && m.queue_offset < first + units_per_file)
            .map(|m| m.store_timestamp)
            .max();
        if let Some(ts) = last {
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(UNIX_EPOCH + Duration::from_millis(ts as u64))
                .unwrap();
        }
    }
}

/// `get_offset_in_queue_by_time` for every message's store time finds a message stored at
/// that time; before the first it gives the first, after the last the last; between two it
/// gives the nearer. Store timestamps of queue offsets and the earliest times are Java's.
#[test]
fn offset_by_time_and_store_timestamps_match_the_fixtures() {
    for name in FIXTURES_460 {
        let f = fixture(name);
        let tmp = copy_store_to_temp(&f);
        let reader = f.reader();
        for q in queues(&reader) {
            set_cq_mtimes(tmp.path(), q, 200);
        }
        let store = MessageStore::open_read_only(fixture_store_config(tmp.path())).unwrap();
        let manifest = f.manifest();
        assert_eq!(
            store.get_earliest_message_time(),
            Some(manifest.messages[0].store_timestamp),
            "{name}"
        );
        let mut n = 0;
        for q in queues(&reader) {
            let (t, id) = (q.topic.as_str(), q.queue_id);
            let ts_at = |o: u64| store.get_message_store_timestamp(t, id, o);
            assert_eq!(
                store.get_earliest_message_time_in_queue(t, id),
                Some(q.messages[0].store_timestamp)
            );
            for m in &q.messages {
                assert_eq!(ts_at(m.queue_offset as u64), Some(m.store_timestamp));
                let at = store.get_offset_in_queue_by_time(t, id, m.store_timestamp);
                assert_eq!(ts_at(at), Some(m.store_timestamp), "{name} {t} {id} {m:?}");
                n += 1;
            }
            assert_eq!(ts_at(q.max_offset as u64), None);
            let first = &q.messages[0];
            let last = q.messages.last().unwrap();
            assert_eq!(
                store.get_offset_in_queue_by_time(t, id, first.store_timestamp - 60_000),
                first.queue_offset as u64
            );
            assert_eq!(
                store.get_offset_in_queue_by_time(t, id, last.store_timestamp + 60_000),
                last.queue_offset as u64
            );
            // Between two neighbours far enough apart: the nearer one.
            for w in q.messages.windows(2) {
                let (a, b) = (w[0].store_timestamp, w[1].store_timestamp);
                if b - a >= 4 && w[0].queue_offset / 200 == w[1].queue_offset / 200 {
                    let near_a = store.get_offset_in_queue_by_time(t, id, a + 1);
                    assert_eq!(ts_at(near_a), Some(a), "{name} {t} {id} near {a}");
                    let near_b = store.get_offset_in_queue_by_time(t, id, b - 1);
                    assert_eq!(ts_at(near_b), Some(b), "{name} {t} {id} near {b}");
                }
            }
        }
        assert!(n > 2000, "{name}: {n}");
        assert_eq!(store.get_offset_in_queue_by_time("NoSuchTopic", 0, 1), 0);
    }
}

/// `get_commit_log_data` at each segment start returns the bytes Java's `getCommitLogData`
/// returned (size and sha256 in reader.json).
#[test]
fn commit_log_data_matches_java() {
    for name in FIXTURES_460 {
        let (_tmp, store, reader) = open_fixture_ro(name);
        for seg in &reader.commit_log_segments {
            let d = store
                .get_commit_log_data(seg.file_start_offset as u64)
                .unwrap_or_else(|| panic!("{name} {}", seg.file_start_offset));
            assert_eq!(d.start_offset(), seg.file_start_offset as u64);
            assert_eq!(d.len() as i64, seg.get_commit_log_data_size, "{name}");
            assert_eq!(sha256_hex(d.bytes()), seg.get_commit_log_data_sha256);
        }
        assert!(store
            .get_commit_log_data(reader.max_phy_offset as u64)
            .is_none());
    }
}

fn small_store(dir: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(dir);
    c.mapped_file_size_commit_log = 64 * 1024;
    c.mapped_file_size_consume_queue_raw = 20 * 10;
    c.background_services = false;
    c
}

#[test]
fn statuses_and_next_offsets_follow_java() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_store(dir.path())).unwrap();
    let g = |t: &str, q, o| store.get_message("g", t, q, o, 32, None);
    let r = g("T", 0, 5);
    assert_eq!(
        (r.status, r.next_begin_offset),
        (GetMessageStatus::NoMatchedLogicQueue, 0)
    );
    for i in 0..25u8 {
        let tag = if i % 5 == 0 { "X" } else { "Y" };
        store
            .put_message(&Message::new("T", 0, vec![i; 10]).with_tags(tag))
            .unwrap();
    }
    let r = g("T", 0, 25);
    assert_eq!(
        (r.status, r.next_begin_offset),
        (GetMessageStatus::OffsetOverflowOne, 25)
    );
    let r = g("T", 0, 40);
    // Minimum 0: Java sends the consumer back to 0, not to the max.
    assert_eq!(
        (r.status, r.next_begin_offset),
        (GetMessageStatus::OffsetOverflowBadly, 0)
    );
    // One call reads within one consume-queue file (10 units each).
    let r = g("T", 0, 3);
    assert_eq!(r.status, GetMessageStatus::Found);
    assert_eq!((r.messages.len(), r.next_begin_offset), (7, 10));
    assert_eq!((r.min_offset, r.max_offset), (0, 25));
    assert_eq!(
        r.buffer_total_size,
        r.messages.iter().map(|m| m.size()).sum::<usize>()
    );
    // A filter matching nothing in the file: NO_MATCHED_MESSAGE, and the walk moves on.
    let none = TagFilter::parse("Z");
    let r = store.get_message("g", "T", 0, 11, 32, Some(&none));
    assert_eq!(
        (r.status, r.next_begin_offset, r.messages.len()),
        (GetMessageStatus::NoMatchedMessage, 20, 0)
    );
    let x = TagFilter::parse("X");
    let r = store.get_message("g", "T", 0, 0, 32, Some(&x));
    let offs: Vec<i64> = r
        .messages
        .iter()
        .map(|m| m.decode().unwrap().queue_offset)
        .collect();
    assert_eq!(offs, [0, 5]);
    // max_msg_nums.
    let r = g("T", 0, 0);
    assert_eq!(r.messages.len(), 10);
    let r = store.get_message("g", "T", 0, 0, 4, None);
    assert_eq!((r.messages.len(), r.next_begin_offset), (4, 4));
    // A few hundred bytes behind the end are far inside 40% of physical memory.
    assert!(!r.suggest_pulling_from_slave);
    assert!(!store.check_in_disk_by_consume_offset("T", 0, 0));
    assert_eq!(store.stats().get_message_times_total_found, 4);
    assert_eq!(store.stats().get_message_times_total_miss, 4);
}

#[test]
fn transfer_limits_in_memory_and_in_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = small_store(dir.path());
    c.mapped_file_size_consume_queue_raw = 20 * 100;
    c.mapped_file_size_commit_log = 1 << 20;
    // Nothing counts as in memory: the in-disk limits apply and a slave is suggested.
    c.access_message_in_memory_max_ratio = 0;
    let store = MessageStore::open(c).unwrap();
    for i in 0..50u8 {
        store
            .put_message(&Message::new("T", 0, vec![i; 100]))
            .unwrap();
    }
    let r = store.get_message("g", "T", 0, 0, 32, None);
    assert_eq!(r.messages.len(), 8); // maxTransferCountOnMessageInDisk
    assert!(r.suggest_pulling_from_slave);
    assert!(store.check_in_disk_by_consume_offset("T", 0, 0));
    assert!(!store.check_in_disk_by_consume_offset("T", 0, 50));
    assert!(!store.check_in_disk_by_consume_offset("U", 0, 0));
    drop(store);

    let dir = tempfile::tempdir().unwrap();
    let mut c = small_store(dir.path());
    c.mapped_file_size_consume_queue_raw = 20 * 100;
    c.mapped_file_size_commit_log = 1 << 20;
    c.access_message_in_memory_max_ratio = 100;
    c.max_transfer_bytes_on_message_in_memory = 2000;
    let store = MessageStore::open(c).unwrap();
    for i in 0..50u8 {
        store
            .put_message(&Message::new("T", 0, vec![i; 300]))
            .unwrap();
    }
    let size = store.get_message("g", "T", 0, 0, 1, None).messages[0].size();
    let r = store.get_message("g", "T", 0, 0, 32, None);
    // The byte limit: stop before the batch would exceed 2000 bytes.
    assert_eq!(r.messages.len(), 2000 / size);
    assert!(!r.suggest_pulling_from_slave);
    assert!(!store.check_in_disk_by_consume_offset("T", 0, 0));
    drop(store);

    let dir = tempfile::tempdir().unwrap();
    let mut c = small_store(dir.path());
    c.mapped_file_size_consume_queue_raw = 20 * 100;
    c.access_message_in_memory_max_ratio = 100;
    let store = MessageStore::open(c).unwrap();
    for i in 0..50u8 {
        store.put_message(&Message::new("T", 0, vec![i])).unwrap();
    }
    // maxTransferCountOnMessageInMemory = 32 even when more are asked for.
    assert_eq!(
        store.get_message("g", "T", 0, 0, 64, None).messages.len(),
        32
    );
}

/// A slave without `offsetCheckInSlave` leaves a bad offset as it was asked.
#[test]
fn slave_does_not_correct_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_store(dir.path())).unwrap();
    for i in 0..3u8 {
        store.put_message(&Message::new("T", 1, vec![i])).unwrap();
    }
    store.shutdown().unwrap();
    let mut c = small_store(dir.path());
    c.broker_role = BrokerRole::Slave;
    let store = MessageStore::open_read_only(c.clone()).unwrap();
    let r = store.get_message("g", "T", 1, 9, 32, None);
    assert_eq!(
        (r.status, r.next_begin_offset),
        (GetMessageStatus::OffsetOverflowBadly, 9)
    );
    assert_eq!(
        store
            .get_message("g", "X", 0, 9, 32, None)
            .next_begin_offset,
        9
    );
    drop(store);
    c.offset_check_in_slave = true;
    let store = MessageStore::open_read_only(c).unwrap();
    assert_eq!(
        store
            .get_message("g", "T", 1, 9, 32, None)
            .next_begin_offset,
        0
    );
}

/// After cleanup deleted the oldest commitlog segments: OFFSET_TOO_SMALL below the queue's
/// new minimum, sending the consumer to it.
#[test]
fn offset_too_small_after_cleanup() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = small_store(dir.path());
    c.mapped_file_size_commit_log = 4096;
    c.mapped_file_size_consume_queue_raw = 20 * 1000;
    let store = MessageStore::open(c).unwrap();
    for i in 0..100u8 {
        store
            .put_message(&Message::new("T", 0, vec![i; 100]))
            .unwrap();
    }
    assert!(store.commit_log().files().len() > 3);
    // Make the oldest segments expire and clean up.
    for f in store.commit_log().files().files().iter().take(2) {
        File::options()
            .write(true)
            .open(f.path())
            .unwrap()
            .set_modified(UNIX_EPOCH + Duration::from_secs(1))
            .unwrap();
    }
    store.execute_delete_files_manually();
    store.run_cleanup_once().unwrap();
    let min = store.min_offset_in_queue("T", 0);
    assert!(min > 0, "cleanup moved the queue minimum");
    let r = store.get_message("g", "T", 0, 0, 32, None);
    assert_eq!(
        (r.status, r.next_begin_offset),
        (GetMessageStatus::OffsetTooSmall, min)
    );
    let r = store.get_message("g", "T", 0, min, 32, None);
    assert_eq!(r.status, GetMessageStatus::Found);
}

/// Units whose commitlog segments are gone while the queue's minimum has not moved (4.6.0's
/// `correctMinOffset` only looks at the queue's first file): MESSAGE_WAS_REMOVING, and the
/// whole consume-queue file is walked past.
#[test]
fn message_was_removing_when_segments_are_gone() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let reader = f.reader();
    let segs = f.commitlog_segments();
    for (_, p) in &segs[..2] {
        std::fs::remove_file(tmp.path().join("commitlog").join(p.file_name().unwrap())).unwrap();
    }
    let store = MessageStore::open_read_only(fixture_store_config(tmp.path())).unwrap();
    assert_eq!(store.min_phy_offset(), segs[2].0);
    let mut seen = 0;
    for q in queues(&reader) {
        let in_first_file: Vec<_> = q.messages.iter().filter(|m| m.queue_offset < 200).collect();
        if q.messages.len() <= 200
            || in_first_file
                .iter()
                .any(|m| m.commit_log_offset as u64 >= segs[2].0)
        {
            continue;
        }
        assert_eq!(store.min_offset_in_queue(&q.topic, q.queue_id), 0);
        let r = store.get_message("g", &q.topic, q.queue_id, 0, 32, None);
        assert_eq!(
            (r.status, r.next_begin_offset, r.messages.len()),
            (GetMessageStatus::MessageWasRemoving, 200, 0),
            "{} {}",
            q.topic,
            q.queue_id
        );
        // From there on the messages are readable.
        let r = store.get_message("g", &q.topic, q.queue_id, 200, 32, None);
        assert_eq!(r.status, GetMessageStatus::Found);
        seen += 1;
    }
    assert!(seen >= 2, "{seen}");
}

#[test]
fn delete_topics_and_clean_unused_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_store(dir.path())).unwrap();
    for t in ["A", "B", "C", "SCHEDULE_TOPIC_XXXX"] {
        for q in 0..2 {
            store
                .put_message(&Message::new(t, q, b"x".to_vec()))
                .unwrap();
        }
    }
    let cq = dir.path().join("consumequeue");
    assert_eq!(store.delete_topics(["A"]).unwrap(), 2);
    assert!(!cq.join("A/0").exists() && !cq.join("A/1").exists());
    assert_eq!(store.max_offset_in_queue("A", 0), 0);
    // Keep B; C goes; the schedule topic always stays.
    assert_eq!(store.clean_unused_topic(["B"]).unwrap(), 2);
    assert!(cq.join("B/0").exists() && !cq.join("C/0").exists());
    assert!(cq.join("SCHEDULE_TOPIC_XXXX/1").exists());
    // A deleted topic starts again at queue offset 0.
    let r = store
        .put_message(&Message::new("A", 0, b"again".to_vec()))
        .unwrap();
    assert_eq!(r.append.unwrap().logics_offset, 0);
    store.shutdown().unwrap();
    let store = MessageStore::open(small_store(dir.path())).unwrap();
    assert_eq!(store.max_offset_in_queue("A", 0), 1);
    assert_eq!(store.max_offset_in_queue("C", 0), 0);
    assert_eq!(store.max_offset_in_queue("B", 1), 1);
    let ro = MessageStore::open_read_only(small_store(tempfile::tempdir().unwrap().path()));
    assert!(ro.is_err() || ro.unwrap().delete_topics(["A"]).is_err());
}

#[test]
fn offsets_runtime_info_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = small_store(dir.path());
    c.flush_disk_type = FlushDiskType::SyncFlush;
    let store = MessageStore::open(c).unwrap();
    assert_eq!(store.get_confirm_offset(), -1);
    store.set_confirm_offset(77);
    assert_eq!(store.get_confirm_offset(), 77);
    let mut bytes = 0;
    for i in 0..5u8 {
        let r = store
            .put_message(&Message::new("T", 0, vec![i; 7]))
            .unwrap();
        bytes += r.append.unwrap().wrote_bytes as u64;
    }
    assert_eq!(store.get_flushed_where(), store.max_phy_offset());
    assert_eq!(store.get_committed_where(), store.max_phy_offset());
    assert_eq!(store.dispatch_behind_bytes(), 0);
    let s = store.stats();
    assert_eq!(
        (s.put_message_times_total, s.put_message_size_total),
        (5, bytes)
    );
    // Each SYNC_FLUSH put that waited was timed.
    assert_eq!(s.flush_latency_histogram.iter().sum::<u64>(), 5);
    let info = store.get_runtime_info();
    assert_eq!(info["putMessageSizeTotal"], bytes.to_string());
    assert_eq!(
        info["commitLogMaxOffset"],
        store.max_phy_offset().to_string()
    );
    assert_eq!(info["dispatchBehindBytes"], "0");
}

#[test]
fn arrival_listener_sees_each_unit_and_dispatchers_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_store(dir.path())).unwrap();
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let a2 = arrivals.clone();
    store.add_arrival_listener(Arc::new(move |a: &Arrival<'_>| {
        a2.lock()
            .unwrap()
            .push((a.topic.to_string(), a.queue_id, a.queue_offset, a.tags_code));
    }));
    let records = Arc::new(AtomicUsize::new(0));
    let r2 = records.clone();
    store.add_dispatcher(Arc::new(
        move |_: &rmqstore::dispatch::DispatchRequest<'_>| {
            r2.fetch_add(1, Ordering::SeqCst);
        },
    ));
    store
        .put_message(&Message::new("T", 3, b"a".to_vec()).with_tags("TagA"))
        .unwrap();
    // A PREPARED message goes to no queue: no arrival, but the dispatcher sees it.
    let mut prepared = Message::new("T", 3, b"p".to_vec());
    prepared.sys_flag = rmqstore::format::record::sysflag::TRANSACTION_PREPARED_TYPE;
    store.put_message(&prepared).unwrap();
    store
        .put_message(&Message::new("T", 3, b"b".to_vec()))
        .unwrap();
    let got = arrivals.lock().unwrap().clone();
    assert_eq!(
        got,
        [
            (
                "T".to_string(),
                3,
                0,
                rmqstore::format::tags_code(Some("TagA"))
            ),
            ("T".to_string(), 3, 1, 0)
        ]
    );
    assert_eq!(records.load(Ordering::SeqCst), 3);
}

/// Many SYNC_FLUSH puts in flight as futures, resolved by the group-commit service; and
/// waiting for arrival from another thread.
#[test]
fn async_puts_and_arrival_waits() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = StoreConfig::with_root(dir.path());
    c.mapped_file_size_commit_log = 1 << 20;
    c.flush_disk_type = FlushDiskType::SyncFlush;
    let store = Arc::new(MessageStore::open(c).unwrap());
    let futures: Vec<_> = (0..64u32)
        .map(|i| store.put_message_async(&Message::new("T", 0, i.to_be_bytes().to_vec())))
        .collect();
    let mut offsets = vec![];
    for f in futures {
        let r = block_on(f).unwrap();
        assert!(r.is_ok(), "{r:?}");
        offsets.push(r.append.unwrap().logics_offset);
    }
    assert_eq!(offsets, (0..64).collect::<Vec<i64>>());
    // Each deferred durability wait was timed.
    assert_eq!(
        store.stats().flush_latency_histogram.iter().sum::<u64>(),
        64
    );
    assert!(store.get_flushed_where() >= store.max_phy_offset());

    let waits: Vec<_> = (64..67u64)
        .map(|o| store.wait_for_arrival("T", 0, o))
        .collect();
    let s = store.clone();
    let producer = std::thread::spawn(move || {
        for i in 0..3u8 {
            std::thread::sleep(Duration::from_millis(5));
            s.put_message(&Message::new("T", 0, vec![i])).unwrap();
        }
    });
    let maxes: Vec<u64> = waits.into_iter().map(block_on).collect();
    producer.join().unwrap();
    for (i, m) in maxes.iter().enumerate() {
        assert!(*m > 64 + i as u64, "{maxes:?}");
    }
    // Already there: resolves at once; a dropped wait leaves nothing behind.
    assert_eq!(block_on(store.wait_for_arrival("T", 0, 0)), 67);
    drop(store.wait_for_arrival("T", 0, 1000));
}

/// SYNC_MASTER + SYNC_FLUSH: a put future resolves PUT_OK only once the slave holds the
/// message's bytes, with all the puts in flight at once.
#[test]
fn async_puts_wait_for_the_slave_under_sync_master() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ha_config = |root: &std::path::Path, role| {
        let mut c = StoreConfig::with_root(root);
        c.mapped_file_size_commit_log = 64 * 1024;
        c.broker_role = role;
        c.ha_listen_address = "127.0.0.1".into();
        c.ha_listen_port = 0;
        c.ha_send_heartbeat_interval_ms = 100;
        c.sync_flush_timeout_ms = 10_000;
        c
    };
    let mut mc = ha_config(md.path(), BrokerRole::SyncMaster);
    mc.flush_disk_type = FlushDiskType::SyncFlush;
    let master = MessageStore::open(mc).unwrap();
    let addr = master.start_ha().unwrap().local_addr().unwrap();
    let mut sc = ha_config(sd.path(), BrokerRole::Slave);
    sc.ha_master_address = Some(addr.to_string());
    let slave = MessageStore::open(sc).unwrap();
    let _ha = slave.start_ha().unwrap();
    // Bounded wait for the slave's first report.
    for _ in 0..2000 {
        let st = master.ha_status().unwrap();
        if st.slaves.iter().any(|s| s.request_offset.is_some()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let futures: Vec<_> = (0..200u32)
        .map(|i| master.put_message_async(&Message::new("T", (i % 4) as i32, vec![7; 100])))
        .collect();
    for f in futures {
        let r = block_on(f).unwrap();
        assert_eq!(r.status, rmqstore::PutMessageStatus::PutOk, "{r:?}");
        let a = r.append.unwrap();
        assert!(slave.max_phy_offset() >= (a.wrote_offset + a.wrote_bytes as i64) as u64);
    }
}
