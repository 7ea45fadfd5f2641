//! Retention of the 5.x timer log: 5.3.3's `TimerMessageStore` deletes every `timerlog/`
//! segment but the last whose last unit (`TimerLog#getOffsetForLastUnit`) points below the
//! commitlog's minimum (`MappedFileQueue#deleteExpiredFileByOffsetForTimerLog`); rmqstore's
//! cleanup does the same after the commitlog, and the dry run names the same segments.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use rmqstore::cleanup::{CleanupOptions, FakeDiskProbe};
use rmqstore::clock::{local_to_millis, Clock, ManualClock};
use rmqstore::v5::TargetVersion;
use rmqstore::{Message, MessageStore, OpenMode, PutMessageStatus, StoreConfig};

const SEG: usize = 4096;
const UNIT: u64 = 52;
const LOG_FILE: u64 = 4 * UNIT + 16;
const H: i64 = 3_600_000;

fn at(day: u32, hour: u32) -> i64 {
    local_to_millis(2026, 3, day, hour, 0).unwrap()
}

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root).with_target_version(TargetVersion::V5_3_3);
    c.background_services = false;
    c.mapped_file_size_commit_log = SEG;
    c.mapped_file_size_consume_queue_raw = 200;
    c.timer.log_file_size = LOG_FILE;
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

fn timer_msg(i: usize, deliver_ms: i64) -> Message {
    let mut body = format!("timer-{i:04}-").into_bytes();
    body.resize(300, b't');
    let mut m = Message::new("TimerUser", 0, body);
    m.properties = format!("KEYS\u{1}k{i}\u{2}TIMER_DELIVER_MS\u{1}{deliver_ms}\u{2}");
    m
}

fn log_files(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root.join("timerlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The commitlog offset the last unit of a full segment points at (`None`: not full).
fn last_unit_offset_py(path: &Path) -> Option<i64> {
    let b = fs::read(path).unwrap();
    let at = (LOG_FILE - (LOG_FILE - 16) % UNIT - 16 - UNIT) as usize;
    let u = &b[at..at + UNIT as usize];
    let size = i32::from_be_bytes(u[0..4].try_into().unwrap());
    (size == UNIT as i32).then(|| i64::from_be_bytes(u[28..36].try_into().unwrap()))
}

#[test]
fn timer_log_segments_follow_the_commitlog_minimum() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let clock = ManualClock::new(at(1, 12));
    let store = open(&root, &clock);
    // Timers due within the hour, put until the commitlog has 9 segments and the last holds
    // a few of them.
    let mut n = 0usize;
    let mut in_last = 0;
    while in_last < 8 {
        clock.advance(1000);
        let r = store
            .put_message(&timer_msg(n, clock.now_millis() + 3_000_000))
            .unwrap();
        assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
        if r.append.unwrap().wrote_offset >= 8 * SEG as i64 {
            in_last += 1;
        }
        n += 1;
    }
    store.flush().unwrap();
    assert_eq!(store.commit_log().files().len(), 9);
    let before = log_files(&root);
    assert!(before.len() >= 4, "{before:?}");

    let min_after = 8 * SEG as i64;
    let expected: Vec<PathBuf> = before
        .iter()
        .take(before.len() - 1)
        .take_while(|p| last_unit_offset_py(p).is_some_and(|o| o < min_after))
        .cloned()
        .collect();
    assert!(!expected.is_empty() && expected.len() < before.len() - 1);

    for f in store.commit_log().files().files().iter() {
        fs::File::options()
            .write(true)
            .open(f.path())
            .unwrap()
            .set_modified(UNIX_EPOCH + Duration::from_millis((at(10, 4) - 100 * H) as u64))
            .unwrap();
    }
    clock.set(at(10, 4));
    let plan = store
        .cleanup_plan(at(10, 4), &FakeDiskProbe::new(50.0))
        .unwrap();
    assert_eq!(
        plan.timer_log
            .iter()
            .map(|p| p.path.clone())
            .collect::<Vec<_>>(),
        expected,
        "the dry run names the timer-log segments cleanup deletes"
    );
    assert!(plan.timer_log.iter().all(|p| p.rule == "timer-log"));
    assert!(
        before.iter().all(|p| p.exists()),
        "the dry run deleted nothing"
    );

    let r = store.run_cleanup_once().unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(store.min_phy_offset(), min_after as u64);
    assert_eq!(r.timer_log_deleted, expected);
    assert_eq!(log_files(&root), before[expected.len()..]);
    // The first segment left still points at or past the minimum.
    assert!(last_unit_offset_py(&log_files(&root)[0]).is_some_and(|o| o >= min_after));

    // Reopen: the timer store recovers from the segments left and takes more timers.
    store.shutdown().unwrap();
    let store = open(&root, &clock);
    let r = store
        .put_message(&timer_msg(n, clock.now_millis() + 3_000_000))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
    store.flush().unwrap();
    let after = log_files(&root);
    assert_eq!(
        after[..before.len() - expected.len()],
        before[expected.len()..]
    );
    store.shutdown().unwrap();
}
