//! Retention (issue 4): commitlog, consume-queue and index cleanup as RocketMQ 4.6.0's
//! `CleanCommitLogService` / `CleanConsumeQueueService` do it, with an injected clock and disk
//! probe, plus the dry run.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rmqstore::cleanup::{CleanupOptions, CleanupReport, FakeDiskProbe};
use rmqstore::clock::{local_to_millis, ManualClock};
use rmqstore::store::GetMessageStatus;
use rmqstore::{Message, MessageStore, OpenMode, PutMessageStatus, StoreConfig, StoreError};

const H: i64 = 3_600_000;
const SEG: usize = 4096;

fn at(day: u32, hour: u32, minute: u32) -> i64 {
    local_to_millis(2026, 3, day, hour, minute).expect("a valid local time")
}

struct Env {
    dir: tempfile::TempDir,
    clock: ManualClock,
    probe: FakeDiskProbe,
    pauses: Arc<Mutex<Vec<Duration>>>,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            clock: ManualClock::new(at(1, 12, 0)),
            probe: FakeDiskProbe::new(50.0),
            pauses: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The seed's settings on small files: 4 KiB segments (about 10 messages each), 10 units
    /// per consume-queue file, 16 entries per index file. No background services: the tests
    /// run cleanup themselves (`run_cleanup_once`), and a flush thread that happens to hold
    /// the segments while it walks them (under load, at the moment cleanup runs) makes a
    /// segment "still being read", so a run would stop early by timing, not by its rules.
    fn config(&self) -> StoreConfig {
        let mut c = StoreConfig::with_root(self.root());
        c.background_services = false;
        c.mapped_file_size_commit_log = SEG;
        c.mapped_file_size_consume_queue_raw = 200;
        c.max_hash_slot_num = 8;
        c.max_index_num = 16;
        c.delete_when = "04".into();
        c.file_reserved_time_hours = 48;
        c
    }

    fn open(&self, config: StoreConfig) -> MessageStore {
        let store =
            MessageStore::open_with(config, OpenMode::ReadWrite, Arc::new(self.clock.clone()))
                .unwrap();
        let pauses = self.pauses.clone();
        store.set_cleanup_options(CleanupOptions {
            probe: Arc::new(self.probe.clone()),
            sleep: Arc::new(move |d| pauses.lock().push(d)),
            first_delay: Duration::from_secs(3600),
        });
        store
    }
}

fn body(i: usize) -> Vec<u8> {
    let mut b = format!("message-{i:05}-").into_bytes();
    b.resize(300, b'a' + (i % 26) as u8);
    b
}

/// Puts messages into T/0 (message `i` at queue offset `i`, with a key each, so the index fills
/// files) until the commitlog has at least `segments` segments; returns the queue's max offset.
fn fill(store: &MessageStore, clock: &ManualClock, segments: usize) -> usize {
    let mut i = store.max_offset_in_queue("T", 0) as usize;
    while store.commit_log().files().len() < segments {
        clock.advance(1000);
        let r = store
            .put_message(&Message::new("T", 0, body(i)).with_keys(&format!("k{i}")))
            .unwrap();
        assert!(r.is_ok(), "{r:?}");
        i += 1;
    }
    store.flush().unwrap();
    i
}

fn segments(store: &MessageStore) -> Vec<PathBuf> {
    store
        .commit_log()
        .files()
        .files()
        .iter()
        .map(|f| f.path().to_path_buf())
        .collect()
}

fn set_mtime(path: &Path, ms: i64) {
    let t = UNIX_EPOCH + Duration::from_millis(ms as u64);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn set_all_mtimes(store: &MessageStore, ms: i64) {
    for p in segments(store) {
        set_mtime(&p, ms);
    }
}

fn run(store: &MessageStore) -> CleanupReport {
    let r = store.run_cleanup_once().unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    r
}

fn names(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn delete_when_04_and_file_reserved_time_48() {
    let env = Env::new();
    let store = env.open(env.config());
    fill(&store, &env.clock, 5);
    let segs = segments(&store);
    // Segments written 3 days before the cleanup day.
    set_all_mtimes(&store, at(10, 12, 0) - 72 * H);

    env.clock.set(at(10, 3, 59));
    let r = run(&store);
    assert!(!r.triggers.as_ref().unwrap().time);
    assert!(r.commitlog_deleted.is_empty());
    env.clock.set(at(10, 5, 0));
    assert!(run(&store).commitlog_deleted.is_empty());
    assert_eq!(segments(&store), segs);

    env.clock.set(at(10, 4, 0));
    let r = run(&store);
    assert!(r.triggers.as_ref().unwrap().time);
    // Oldest first, never the active segment.
    assert_eq!(r.commitlog_deleted, segs[..4].to_vec(), "{r:?}");
    assert_eq!(segments(&store), segs[4..].to_vec());
    for p in &segs[..4] {
        assert!(!p.exists(), "{} still on disk", p.display());
    }
    assert_eq!(store.min_phy_offset(), 4 * SEG as u64);
}

#[test]
fn a_young_segment_stops_the_walk() {
    let env = Env::new();
    let store = env.open(env.config());
    fill(&store, &env.clock, 5);
    let segs = segments(&store);
    let now = at(10, 4, 30);
    set_all_mtimes(&store, now - 100 * H);
    // Segment 2 was written 47 h 59 min ago: younger than 48 h.
    set_mtime(&segs[2], now - 48 * H + 60_000);
    // Exactly 48 h counts as expired.
    set_mtime(&segs[1], now - 48 * H);
    env.clock.set(now);
    let r = run(&store);
    assert_eq!(r.commitlog_deleted, segs[..2].to_vec(), "{r:?}");
    assert!(
        r.commitlog_stopped.as_deref().unwrap().contains("younger"),
        "{r:?}"
    );
    // Segment 3 is old but after a young one: never deleted from the middle.
    assert!(segs[3].exists());

    // A malformed-looking but valid list: "4;16" matches 16:xx too.
    drop(store);
    let mut c = env.config();
    c.delete_when = "4;16".into();
    let store = env.open(c);
    set_mtime(&segs[2], now - 100 * H);
    env.clock.set(at(10, 16, 10));
    let r = run(&store);
    assert_eq!(r.commitlog_deleted, segs[2..4].to_vec(), "{r:?}");
}

#[test]
fn malformed_delete_when_is_a_config_error() {
    for bad in ["04; 16", " 04", "4;x", "25", ";"] {
        let env = Env::new();
        let mut c = env.config();
        c.delete_when = bad.into();
        let e = MessageStore::open_with(c, OpenMode::ReadWrite, Arc::new(env.clock.clone()))
            .unwrap_err();
        assert!(
            matches!(&e, StoreError::Config(m) if m.contains("deleteWhen")),
            "{bad:?}: {e}"
        );
        // Nothing was created by the refused open.
        assert!(!env.root().join("commitlog").exists());
    }
}

/// The ratio tiers at 74 / 76 / 86 / 91 % (hour 12, not a deleteWhen hour).
#[test]
fn disk_ratio_tiers() {
    let env = Env::new();
    let store = env.open(env.config());
    fill(&store, &env.clock, 7);
    let segs = segments(&store);
    let now = at(10, 12, 0);
    set_all_mtimes(&store, now - 100 * H);
    set_mtime(&segs[2], now - H); // young
    env.clock.set(now);

    env.probe.set(74.0);
    let r = run(&store);
    let t = r.triggers.clone().unwrap();
    assert!(!t.any() && !t.clean_immediately && !t.disk_full, "{t:?}");
    assert!(r.commitlog_deleted.is_empty());

    env.probe.set(76.0);
    let r = run(&store);
    let t = r.triggers.clone().unwrap();
    assert!(t.space && !t.clean_immediately && !t.disk_full, "{t:?}");
    // Only expired segments, up to the young one.
    assert_eq!(r.commitlog_deleted, segs[..2].to_vec());

    env.probe.set(86.0);
    let r = run(&store);
    let t = r.triggers.clone().unwrap();
    assert!(t.space && t.clean_immediately && t.clean_at_once && !t.disk_full);
    // Forced: the young segment goes too; never the active one.
    assert_eq!(r.commitlog_deleted, segs[2..6].to_vec());
    assert!(!store.is_disk_full());
    assert!(store
        .put_message(&Message::new("T", 0, b"still ok".to_vec()))
        .unwrap()
        .is_ok());

    env.probe.set(91.0);
    let r = run(&store);
    assert!(r.triggers.unwrap().disk_full);
    assert!(
        r.commitlog_deleted.is_empty(),
        "only the active segment is left"
    );
    assert!(store.is_disk_full());
    let refused = store
        .put_message(&Message::new("T", 0, b"refused".to_vec()))
        .unwrap();
    assert_eq!(refused.status, PutMessageStatus::ServiceNotAvailable);
    let reason = refused.reason.unwrap();
    assert!(
        reason.contains("DISK_FULL") && reason.contains("91.0%"),
        "{reason}"
    );
    let batch = rmqstore::MessageBatch {
        topic: "T".into(),
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: 0,
        born_host: rmqstore::format::Host::v4([127, 0, 0, 1], 0),
        store_host: rmqstore::format::Host::v4([127, 0, 0, 1], 10911),
        reconsume_times: 0,
        items: vec![rmqstore::BatchItem {
            flag: 0,
            body: b"x".to_vec(),
            properties: String::new(),
        }],
    };
    assert_eq!(
        store.put_messages(&batch).unwrap().status,
        PutMessageStatus::ServiceNotAvailable
    );

    // Still above 85 %: still full. At 85 %: puts are accepted again.
    env.probe.set(88.0);
    run(&store);
    assert!(store.is_disk_full());
    env.probe.set(85.0);
    run(&store);
    assert!(!store.is_disk_full());
    assert!(store
        .put_message(&Message::new("T", 0, b"ok again".to_vec()))
        .unwrap()
        .is_ok());
}

#[test]
fn forced_cleanup_can_be_disabled_and_the_queue_partition_counts() {
    let env = Env::new();
    let mut c = env.config();
    c.clean_file_forcibly_enable = false;
    let store = env.open(c);
    fill(&store, &env.clock, 4);
    let segs = segments(&store);
    let now = at(10, 12, 0);
    set_all_mtimes(&store, now - H);
    env.clock.set(now);
    // Only the consume-queue partition is full.
    env.probe.set(10.0);
    env.probe
        .set_for(env.root().join("consumequeue"), Some(92.0));
    let r = run(&store);
    let t = r.triggers.unwrap();
    assert!(t.space && t.clean_immediately && !t.clean_at_once && t.disk_full);
    assert!(
        r.commitlog_deleted.is_empty(),
        "young files, forcing disabled"
    );
    assert_eq!(segments(&store), segs);
    // Unreadable usage asks for space (Java's -1).
    env.probe.set_unreadable();
    env.probe.set_for(env.root().join("consumequeue"), None);
    set_all_mtimes(&store, now - 49 * H);
    let r = run(&store);
    assert!(r.triggers.unwrap().space);
    assert_eq!(r.commitlog_deleted, segs[..3].to_vec());
}

#[test]
fn at_most_ten_per_run_with_pauses_between() {
    let env = Env::new();
    let mut c = env.config();
    c.delete_consume_queue_files_interval_ms = 50;
    let store = env.open(c);
    fill(&store, &env.clock, 14);
    let segs = segments(&store);
    set_all_mtimes(&store, at(10, 4, 0) - 100 * H);
    env.clock.set(at(10, 4, 0));
    let r = run(&store);
    assert_eq!(r.commitlog_deleted, segs[..10].to_vec());
    // A pause after each deletion but the tenth (the batch ends before the pause), and one
    // after the consume queue that lost files.
    let mut expected = vec![Duration::from_millis(100); 9];
    expected.push(Duration::from_millis(50));
    assert_eq!(r.pauses, expected);
    assert_eq!(
        env.pauses
            .lock()
            .iter()
            .filter(|d| **d == Duration::from_millis(100))
            .count(),
        9
    );
    let r = run(&store);
    assert_eq!(r.commitlog_deleted, segs[10..13].to_vec());
    // No pause after the last candidate (Java: only while i + 1 < candidates).
    let cl_pauses = r.pauses.iter().filter(|d| d.as_millis() == 100).count();
    assert_eq!(cl_pauses, 2, "{:?}", r.pauses);
}

#[test]
fn manual_deletion_arms_twenty_runs() {
    let env = Env::new();
    let store = env.open(env.config());
    fill(&store, &env.clock, 4);
    let segs = segments(&store);
    let now = at(10, 12, 0);
    set_all_mtimes(&store, now - 100 * H);
    set_mtime(&segs[1], now - H);
    env.clock.set(now);
    assert!(run(&store).commitlog_deleted.is_empty());
    store.execute_delete_files_manually();
    assert_eq!(store.manual_delete_runs_left(), 20);
    let r = run(&store);
    assert!(r.triggers.unwrap().manual);
    // Manual deletion still respects age.
    assert_eq!(r.commitlog_deleted, segs[..1].to_vec());
    assert_eq!(store.manual_delete_runs_left(), 19);
    for _ in 0..19 {
        run(&store);
    }
    assert_eq!(store.manual_delete_runs_left(), 0);
    set_mtime(&segs[1], now - 100 * H);
    assert!(run(&store).commitlog_deleted.is_empty(), "no runs left");
}

#[test]
fn a_segment_being_read_is_not_deleted_under_its_reader() {
    let env = Env::new();
    let mut c = env.config();
    c.destroy_mapped_file_interval_forcibly_ms = 120_000;
    c.redelete_hanged_file_interval_ms = 120_000;
    let store = env.open(c);
    fill(&store, &env.clock, 4);
    let segs = segments(&store);
    let now = at(10, 12, 0);
    set_all_mtimes(&store, now - 100 * H);
    env.clock.set(now);
    env.probe.set(86.0);

    let held = store.get_by_phy_offset(0).unwrap();
    let held_bytes = held.bytes().to_vec();
    let r = run(&store);
    assert!(r.commitlog_deleted.is_empty(), "{r:?}");
    assert!(r.commitlog_stopped.unwrap().contains("still being read"));
    assert!(segs[0].exists());
    // New readers no longer get the segment (Java: the reference cannot be taken), and the
    // minimum already points past it (Java's getMinOffset rolls to the next file).
    assert!(store.get_by_phy_offset(0).is_none());
    assert_eq!(store.min_phy_offset(), SEG as u64);
    assert_eq!(held.bytes(), &held_bytes[..]);

    // The reader lets go: the next run deletes it (space trigger, not forced: the young
    // segment after it stays).
    drop(held);
    set_mtime(&segs[1], now - H);
    env.probe.set(76.0);
    env.clock.advance(1000);
    let r = run(&store);
    assert!(!segs[0].exists(), "{r:?}");
    assert_eq!(segments(&store), segs[1..].to_vec());

    // A reader that never lets go: the file is deleted once destroyMapedFileIntervalForcibly
    // has passed; the holder keeps reading valid bytes.
    let held = store.get_by_phy_offset(SEG as u64).unwrap();
    let held_bytes = held.bytes().to_vec();
    env.probe.set(86.0);
    assert!(run(&store).commitlog_deleted.is_empty());
    env.clock.advance(119_999);
    assert!(run(&store).commitlog_deleted.is_empty());
    assert!(segs[1].exists());
    env.clock.advance(1);
    let r = run(&store);
    assert_eq!(r.commitlog_deleted[0], segs[1]);
    assert!(!segs[1].exists());
    assert_eq!(held.bytes(), &held_bytes[..]);
    assert!(held.decode().is_ok());
}

#[test]
fn a_hanged_first_segment_is_deleted_again_by_the_redelete_interval() {
    let env = Env::new();
    let mut c = env.config();
    c.redelete_hanged_file_interval_ms = 120_000;
    let store = env.open(c);
    fill(&store, &env.clock, 3);
    let segs = segments(&store);
    let now = at(10, 12, 0);
    set_all_mtimes(&store, now - 100 * H);
    env.clock.set(now);
    env.probe.set(86.0);
    let held = store.get_by_phy_offset(0).unwrap();
    run(&store); // starts the deletion, also starts the redelete interval
    drop(held);
    // No trigger any more: only the re-delete can finish it, and only after its interval.
    env.probe.set(50.0);
    env.clock.advance(120_000);
    run(&store);
    assert!(segs[0].exists());
    env.clock.advance(1);
    run(&store);
    assert!(!segs[0].exists());
    assert_eq!(segments(&store), segs[1..].to_vec());
}

fn cq_files(root: &Path, topic: &str, q: i32) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(root.join("consumequeue").join(topic).join(q.to_string()))
            .map(|rd| rd.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
    v.sort();
    v
}

fn index_files(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn last_unit_offset(path: &Path) -> i64 {
    let b = std::fs::read(path).unwrap();
    i64::from_be_bytes(b[b.len() - 20..b.len() - 12].try_into().unwrap())
}

fn index_end_phy(path: &Path) -> i64 {
    let b = std::fs::read(path).unwrap();
    i64::from_be_bytes(b[24..32].try_into().unwrap())
}

#[test]
fn consume_queues_and_index_follow_the_commitlog_minimum() {
    let env = Env::new();
    let store = env.open(env.config());
    fill(&store, &env.clock, 8);
    // A second queue with a single file: its last file is never deleted, even when every unit
    // in it points below the minimum.
    env.clock.advance(1000);
    store
        .put_message(&Message::new("U", 3, b"lonely".to_vec()))
        .unwrap();
    let n = fill(&store, &env.clock, 9);
    store.flush().unwrap();
    let cq_before = cq_files(env.root(), "T", 0);
    let ix_before = index_files(env.root());
    let ix_ends: Vec<i64> = ix_before.iter().map(|p| index_end_phy(p)).collect();
    assert!(cq_before.len() >= 5 && ix_before.len() >= 3);
    set_all_mtimes(&store, at(10, 4, 0) - 100 * H);
    env.clock.set(at(10, 4, 0));
    let r = run(&store);
    assert_eq!(r.commitlog_deleted.len(), 8);
    let min = store.min_phy_offset();
    assert_eq!(min, 8 * SEG as u64);

    // Consume queue: deleted files all ended below the minimum; the first one left does not.
    let cq_after = cq_files(env.root(), "T", 0);
    assert_eq!(
        names(&r.consume_queue_deleted),
        names(&cq_before[..cq_before.len() - cq_after.len()])
    );
    assert!(!r.consume_queue_deleted.is_empty());
    for p in &cq_before[..cq_before.len() - cq_after.len()] {
        assert!(!p.exists());
    }
    assert!(last_unit_offset(&cq_after[0]) >= min as i64);
    assert_eq!(cq_files(env.root(), "U", 3).len(), 1);

    // Index: deleted files ended below the minimum; never the last.
    let ix_after = index_files(env.root());
    assert_eq!(
        names(&r.index_deleted),
        names(&ix_before[..ix_before.len() - ix_after.len()])
    );
    assert!(!r.index_deleted.is_empty());
    for (i, p) in ix_before.iter().enumerate() {
        assert_eq!(
            !p.exists(),
            ix_ends[i] < min as i64 && i + 1 < ix_before.len(),
            "{}",
            p.display()
        );
    }
    assert!(ix_after.len() == 1 || index_end_phy(&ix_after[0]) >= min as i64);

    // Reads: below the queue's new minimum a clear "offset too small"; above it unaffected.
    let qmin = store.min_offset_in_queue("T", 0);
    assert!(qmin > 0);
    let below = store.get_messages("T", 0, qmin - 1, 4);
    assert_eq!(below.status, GetMessageStatus::OffsetTooSmall);
    assert_eq!(below.next_begin_offset, qmin);
    let above = store.get_messages("T", 0, qmin, 4);
    assert_eq!(above.status, GetMessageStatus::Found);
    let first = above.messages[0].decode().unwrap();
    assert_eq!(first.queue_offset as u64, qmin);
    assert_eq!(first.body, &body(qmin as usize)[..]);
    assert!(first.physical_offset as u64 >= min);
    let last = store.get_messages("T", 0, (n - 1) as u64, 1);
    assert_eq!(last.messages[0].decode().unwrap().body, &body(n - 1)[..]);
    // Keys of deleted messages are gone with their index files; kept ones still resolve.
    assert!(
        store
            .query_messages_by_key("T", &format!("k{}", n - 1), 8, 0, i64::MAX)
            .len()
            == 1
    );
    let before_reopen = (
        store.min_phy_offset(),
        qmin,
        store.min_offset_in_queue("U", 3),
    );

    // Reopen: the same minimums.
    store.shutdown().unwrap();
    let store = env.open(env.config());
    assert_eq!(
        (
            store.min_phy_offset(),
            store.min_offset_in_queue("T", 0),
            store.min_offset_in_queue("U", 3)
        ),
        before_reopen
    );
    assert_eq!(
        store.get_messages("T", 0, qmin - 1, 1).status,
        GetMessageStatus::OffsetTooSmall
    );
    assert_eq!(
        store.get_messages("T", 0, qmin, 1).status,
        GetMessageStatus::Found
    );
}

#[test]
fn readers_racing_with_cleanup_never_see_torn_data() {
    for forcibly_ms in [0u64, 120_000] {
        let env = Env::new();
        let mut c = env.config();
        c.destroy_mapped_file_interval_forcibly_ms = forcibly_ms;
        c.delete_commit_log_files_interval_ms = 0;
        let store = Arc::new(env.open(c));
        let n = fill(&store, &env.clock, 24) as u64;
        set_all_mtimes(&store, at(10, 12, 0) - 100 * H);
        env.clock.set(at(10, 12, 0));
        env.probe.set(86.0);
        let stop = Arc::new(AtomicBool::new(false));
        // Readers that have checked a message (cleanup starts once all three have: on a busy
        // machine a reader thread may otherwise first run after cleanup is done).
        let reading = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let readers: Vec<_> = (0..3)
            .map(|t| {
                let store = store.clone();
                let stop = stop.clone();
                let reading = reading.clone();
                std::thread::spawn(move || {
                    let mut checked = 0u64;
                    while !stop.load(Ordering::Acquire) {
                        for off in (t..n).step_by(3) {
                            let r = store.get_messages("T", 0, off, 8);
                            for (k, m) in r.messages.iter().enumerate() {
                                let rec = m.decode().expect("a whole record");
                                let qo = rec.queue_offset as usize;
                                assert!(qo as u64 >= off && k < 8);
                                assert_eq!(rec.body, &body(qo)[..], "torn body at {qo}");
                                if checked == 0 {
                                    reading.fetch_add(1, Ordering::AcqRel);
                                }
                                checked += 1;
                            }
                            if let Some(r) = store.get_by_phy_offset(0) {
                                assert_eq!(r.decode().unwrap().body, &body(0)[..]);
                            }
                        }
                    }
                    checked
                })
            })
            .collect();
        let deadline = SystemTime::now() + Duration::from_secs(30);
        while reading.load(Ordering::Acquire) < 3 {
            assert!(SystemTime::now() < deadline, "the readers did not start");
            std::thread::yield_now();
        }
        let mut deleted = 0;
        for _ in 0..200 {
            let r = store.run_cleanup_once().unwrap();
            assert!(r.errors.is_empty(), "{:?}", r.errors);
            deleted += r.commitlog_deleted.len();
            env.clock.advance(1);
            if store.commit_log().files().len() == 1 {
                break;
            }
            std::thread::yield_now();
        }
        stop.store(true, Ordering::Release);
        let checked: u64 = readers
            .into_iter()
            .map(|h| h.join().expect("reader panicked"))
            .sum();
        assert!(checked > 0);
        if forcibly_ms == 0 {
            assert_eq!(deleted, 23, "forced deletion ignores readers");
        }
        // Whatever happened, what is left reads back exactly.
        let min = store.min_offset_in_queue("T", 0);
        let r = store.get_messages("T", 0, min, 1000);
        for m in &r.messages {
            let rec = m.decode().unwrap();
            assert_eq!(rec.body, &body(rec.queue_offset as usize)[..]);
        }
    }
}

#[test]
fn the_store_runs_cleanup_on_its_own_schedule() {
    let env = Env::new();
    let mut c = env.config();
    c.background_services = true;
    c.clean_resource_interval_ms = 20;
    let store = env.open(c);
    fill(&store, &env.clock, 4);
    set_all_mtimes(&store, at(10, 4, 0) - 100 * H);
    env.clock.set(at(10, 4, 0));
    assert_eq!(store.cleanup_runs(), 0, "first delay is an hour");
    // Now: first run at once, then every 20 ms.
    store.set_cleanup_options(CleanupOptions {
        probe: Arc::new(env.probe.clone()),
        sleep: Arc::new(|_| {}),
        first_delay: Duration::ZERO,
    });
    let deadline = SystemTime::now() + Duration::from_secs(30);
    while store.cleanup_runs() < 3 && SystemTime::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(store.cleanup_runs() >= 3, "the service did not run");
    assert_eq!(store.commit_log().files().len(), 1);
    assert_eq!(store.cleanup_error(), None);
    store.shutdown().unwrap();
}

#[test]
fn read_only_stores_never_clean() {
    let env = Env::new();
    let store = env.open(env.config());
    fill(&store, &env.clock, 3);
    store.shutdown().unwrap();
    let ro = MessageStore::open_with(
        env.config(),
        OpenMode::ReadOnly,
        Arc::new(env.clock.clone()),
    )
    .unwrap();
    assert!(matches!(ro.run_cleanup_once(), Err(StoreError::ReadOnly)));
}

fn write_consumer_offsets(root: &Path, json: &str) {
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::write(root.join("config/consumerOffset.json"), json).unwrap();
}

#[test]
fn dry_run_predicts_the_run_and_the_consumer_losses() {
    let env = Env::new();
    let store = env.open(env.config());
    let n = fill(&store, &env.clock, 6);
    store.flush().unwrap();
    let segs = segments(&store);
    set_all_mtimes(&store, at(10, 4, 0) - 100 * H);
    set_mtime(&segs[4], at(10, 4, 0) - 10 * H);
    write_consumer_offsets(
        env.root(),
        &format!(r#"{{"offsetTable":{{"T@slow":{{0:3}},"T@done":{{0:{n}}},"Gone@x":{{0:1}}}}}}"#),
    );
    store.shutdown().unwrap();
    let digest = common::tree_digest(env.root());

    // Read-only: nothing changes.
    let ro = MessageStore::open_with(
        env.config(),
        OpenMode::ReadOnly,
        Arc::new(env.clock.clone()),
    )
    .unwrap();
    let quiet = ro.cleanup_plan(at(10, 3, 59), &env.probe).unwrap();
    assert_eq!(quiet.commitlog_deleted().count(), 0);
    assert!(quiet.consumers.is_empty());
    assert!(
        quiet.runs[0].stopped.contains("no trigger"),
        "{:?}",
        quiet.runs
    );

    let plan = ro.cleanup_plan(at(10, 4, 0), &env.probe).unwrap();
    let planned: Vec<PathBuf> = plan.commitlog_deleted().map(|f| f.path.clone()).collect();
    assert_eq!(planned, segs[..4].to_vec());
    assert!(plan
        .commitlog_deleted()
        .all(|f| f.rule == "expired" && f.run == Some(1)));
    assert!(
        plan.commitlog[4]
            .reason
            .contains("less than fileReservedTime"),
        "{:?}",
        plan.commitlog[4]
    );
    assert!(plan.commitlog[5].reason.contains("active"));
    assert_eq!(plan.min_phy_offset_after, 4 * SEG as u64);
    assert!(plan.consumer_offsets_found);
    // 86 %: forced, the young one too.
    let forced = ro
        .cleanup_plan(at(10, 12, 0), &FakeDiskProbe::new(86.0))
        .unwrap();
    assert_eq!(forced.commitlog_deleted().count(), 5);
    assert_eq!(forced.commitlog[4].rule, "forced");
    drop(ro);
    assert_eq!(
        common::tree_digest(env.root()),
        digest,
        "the dry run changed the store"
    );

    // The real run does what the plan said.
    let store = env.open(env.config());
    env.clock.set(at(10, 4, 0));
    let r = run(&store);
    assert_eq!(r.commitlog_deleted, planned);
    let plan_cq: Vec<&PathBuf> = plan.consume_queues.iter().map(|f| &f.path).collect();
    assert_eq!(r.consume_queue_deleted.iter().collect::<Vec<_>>(), plan_cq);
    let plan_ix: Vec<&PathBuf> = plan.index.iter().map(|f| &f.path).collect();
    assert_eq!(r.index_deleted.iter().collect::<Vec<_>>(), plan_ix);

    // Consumer losses: "slow" had consumed up to 3; everything before the first surviving
    // message is lost. "done" lost nothing; "Gone" has no queue.
    let qmin = store.min_offset_in_queue("T", 0);
    assert_eq!(plan.consumers.len(), 1, "{:?}", plan.consumers);
    let c = &plan.consumers[0];
    assert_eq!(
        (c.topic.as_str(), c.queue_id, c.group.as_str()),
        ("T", 0, "slow")
    );
    assert_eq!(c.lost, qmin - 3);
    assert_eq!(c.min_offset_after, qmin);
    // Every lost message really is unreadable now.
    assert_eq!(
        store.get_messages("T", 0, 3, 1).status,
        GetMessageStatus::OffsetTooSmall
    );
}

#[test]
fn dry_run_follows_runs_until_the_disk_is_below_the_tiers() {
    let env = Env::new();
    let mut c = env.config();
    c.delete_when = "03".into();
    let store = env.open(c.clone());
    fill(&store, &env.clock, 13);
    set_all_mtimes(&store, at(10, 4, 0) - 100 * H);
    store.shutdown().unwrap();
    let ro = MessageStore::open_with(c, OpenMode::ReadOnly, Arc::new(env.clock.clone())).unwrap();
    // 76 %: space trigger; 12 expired segments go in two runs (10 + 2).
    let plan = ro
        .cleanup_plan(at(10, 4, 0), &FakeDiskProbe::new(76.0))
        .unwrap();
    assert_eq!(plan.commitlog_deleted().count(), 12);
    assert_eq!(
        plan.runs
            .iter()
            .map(|r| r.commitlog_deleted)
            .collect::<Vec<_>>(),
        vec![10, 2, 0]
    );
    assert_eq!(plan.commitlog[10].run, Some(2));
    assert!(plan.runs[0].stopped.contains("at most 10"));
}
