//! Issue 12 item 8: the first checkpoint is written about a second after a writable open.
//!
//! Java's `FlushConsumeQueueService` starts with `lastFlushTimestamp = 0`, so its first round
//! (after `flushIntervalConsumeQueue`, 1 s) is a thorough one: every consume queue flushed and
//! the checkpoint written with the logics timestamp of what was dispatched. Until that first
//! checkpoint a crash recovers from further back than it need.
//!
//! The store is the 4.6.0 fixture killed with SIGKILL, its checkpoint's logicsMsgTimestamp
//! zeroed (as if the JVM died before writing one): the abnormal recovery dispatches from the
//! first segment and the first checkpoint must then name the last dispatched record's store
//! time. The wait is a liveness bound well below the 60 s thorough interval, not a speed
//! check.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{copy_store_to_temp, fixture, fixture_store_config};
use rmqstore::MessageStore;

fn checkpoint_longs(root: &Path) -> [i64; 3] {
    let b = fs::read(root.join("checkpoint")).unwrap();
    let l = |i: usize| i64::from_be_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
    [l(0), l(1), l(2)]
}

#[test]
fn the_first_checkpoint_follows_the_first_consume_queue_flush_round() {
    let f = fixture("rocketmq-4.6.0/crashed");
    let tmp = copy_store_to_temp(&f);
    let root = tmp.path();
    assert!(root.join("abort").exists());
    let mut cp = fs::read(root.join("checkpoint")).unwrap();
    let [physic, _, index] = checkpoint_longs(root);
    cp[8..16].fill(0);
    fs::write(root.join("checkpoint"), &cp).unwrap();

    // The store time of the last record Java's reader found in a consume queue.
    let reader = f.reader();
    let last = reader
        .queues
        .iter()
        .flat_map(|q| q.messages.iter())
        .max_by_key(|m| m.commit_log_offset)
        .unwrap()
        .store_timestamp;

    let config = fixture_store_config(root);
    assert_eq!(config.flush_interval_consume_queue_ms, 1000);
    assert_eq!(config.flush_consume_queue_thorough_interval_ms, 60_000);
    let store = MessageStore::open(config).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = checkpoint_longs(root);
    while seen[1] != last {
        assert!(
            Instant::now() < deadline,
            "no checkpoint with logicsMsgTimestamp {last} written after open; on disk: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
        seen = checkpoint_longs(root);
    }
    assert_eq!(seen, [physic, last, index], "physic and index as they were");
    // The store is still open: this is the flush service's checkpoint, not shutdown's.
    assert!(root.join("abort").exists());
    store.shutdown().unwrap();
}
