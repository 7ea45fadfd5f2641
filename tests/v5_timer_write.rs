//! Writing 5.x timer messages (`src/v5/timer_write.rs`, `src/store/timer_put.rs`): the timer
//! store's enqueue reproduces the timer log and wheel the 5.3.3 jar wrote for the same timer
//! queue and write times, a put under target 5.3.3 lands as 5.3.3 lands it, and recovery
//! follows a torn timer-log tail as `TimerMessageStore#recover` does.

mod common;

use std::cell::Cell;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use rmqstore::clock::ManualClock;
use rmqstore::config::FlushDiskType;
use rmqstore::format::properties;
use rmqstore::inspect::verify::{verify, VerifyOptions};
use rmqstore::inspect::Severity;
use rmqstore::v5::timer::{self, TIMER_TOPIC};
use rmqstore::v5::timer_write::{TimerConfig, TimerSource, TimerStore};
use rmqstore::v5::TargetVersion;
use rmqstore::{Message, MessageStore, OpenMode, PutMessageStatus, StoreConfig};
use serde_json::Value;

fn v5_fixture(variant: &str) -> common::Fixture {
    match std::env::var_os("RMQSTORE_V5_FIXTURE_ROOT") {
        Some(root) => {
            let dir = Path::new(&root).join(variant);
            common::Fixture {
                name: format!("fresh 5.3.3/{variant}"),
                store_dir: dir.join("store"),
                dir,
                version: "5.3.3".into(),
                variant: variant.into(),
            }
        }
        None => common::fixture(&format!("5.3.3/{variant}")),
    }
}

fn unpack_wheel(store: &Path) -> Vec<u8> {
    let mut wheel = Vec::new();
    let gz = store.join("timerwheel.gz");
    if gz.exists() {
        flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap())
            .read_to_end(&mut wheel)
            .unwrap();
    } else {
        wheel = std::fs::read(store.join("timerwheel")).unwrap();
    }
    wheel
}

/// The timer queue of the fixture as Java's manifest records it, offered unit by unit.
struct ManifestSource {
    /// (queue offset, commitlog offset, size, properties)
    msgs: Vec<(i64, i64, i32, String)>,
    limit: Cell<u64>,
}

impl TimerSource for ManifestSource {
    fn cq_range(&self) -> (u64, u64) {
        (0, self.limit.get())
    }
    fn cq_unit(&self, q: u64) -> Option<(i64, i32)> {
        let m = self.msgs.iter().find(|m| m.0 == q as i64)?;
        Some((m.1, m.2))
    }
    fn message(&self, offset: i64, size: i32) -> Option<(i64, String)> {
        let m = self.msgs.iter().find(|m| m.1 == offset && m.2 == size)?;
        Some((m.0, m.3.clone()))
    }
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Java's timer queue, enqueued by our timer store with the write time Java had for each unit
/// (the `currWriteTimeMs` each unit records): the timer-log segments (with the blank that ends
/// the first) and the 38,707,200-byte wheel are byte-identical to what the 5.3.3 jar wrote.
#[test]
fn enqueue_writes_the_timer_log_and_wheel_java_wrote() {
    let f = v5_fixture("timer");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(f.dir.join("manifest.json")).unwrap()).unwrap();
    let msgs: Vec<(i64, i64, i32, String)> = manifest["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["topic"] == TIMER_TOPIC)
        .map(|m| {
            (
                m["queueOffset"].as_i64().unwrap(),
                m["wroteOffset"].as_i64().unwrap(),
                m["wroteBytes"].as_i64().unwrap() as i32,
                m["propertiesString"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let cfg = manifest["storeConfigChanged"].clone();
    let tc = TimerConfig {
        precision_ms: cfg["timerPrecisionMs"].as_i64().unwrap(),
        roll_window_slot: cfg["timerRollWindowSlot"].as_i64().unwrap(),
        log_file_size: cfg["mappedFileSizeTimerLog"].as_u64().unwrap(),
        ..TimerConfig::default()
    };
    let java_log = timer::read_log(&f.store_dir).unwrap().unwrap();
    assert_eq!(java_log.units.len(), msgs.len());
    assert!(
        java_log.files.len() > 1,
        "the fixture rolls the timer log over"
    );

    let tmp = tempfile::tempdir().unwrap();
    let src = ManifestSource {
        msgs,
        limit: Cell::new(0),
    };
    let first_write = java_log.units[0].1.curr_write_time_ms;
    let mut ts = TimerStore::open(tmp.path(), tc, first_write, &src).unwrap();
    for (i, (_, unit)) in java_log.units.iter().enumerate() {
        src.limit.set(i as u64 + 1);
        assert_eq!(ts.catch_up(&src, unit.curr_write_time_ms).unwrap(), 1);
    }
    assert_eq!(ts.queue_offset(), java_log.units.len() as u64);
    assert_eq!(ts.log_end(), java_log.end as u64);
    ts.flush(first_write).unwrap();
    drop(ts);

    let ours = files_of(&tmp.path().join("timerlog"));
    let java = files_of(&f.store_dir.join("timerlog"));
    assert_eq!(ours.len(), java.len());
    for ((n1, b1), (n2, b2)) in ours.iter().zip(&java) {
        assert_eq!(n1, n2);
        let diff = b1.iter().zip(b2.iter()).position(|(a, b)| a != b);
        assert_eq!(diff, None, "timer-log segment {n1} differs from Java's");
        assert_eq!(b1.len(), b2.len());
    }
    let wheel = std::fs::read(tmp.path().join("timerwheel")).unwrap();
    let java_wheel = unpack_wheel(&f.store_dir);
    assert_eq!(wheel.len(), java_wheel.len());
    let diff = wheel.iter().zip(&java_wheel).position(|(a, b)| a != b);
    assert_eq!(diff, None, "wheel differs from Java's at byte {diff:?}");
    // The pending count per real topic, as Java's metrics count it.
    let m = timer::read_metrics(tmp.path()).unwrap().unwrap();
    let jm = timer::read_metrics(&f.store_dir).unwrap().unwrap();
    assert_eq!(
        m.timing_count["TimerUser"].count,
        jm.timing_count["TimerUser"].count
    );
}

const T0: i64 = 1_796_235_000_123;

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root).with_target_version(TargetVersion::V5_3_3);
    c.mapped_file_size_commit_log = 1 << 20;
    c.flush_disk_type = FlushDiskType::SyncFlush;
    c.timer.log_file_size = 10 * 52 + 16;
    c
}

fn open(root: &Path, clock: &ManualClock) -> MessageStore {
    MessageStore::open_with(config(root), OpenMode::ReadWrite, Arc::new(clock.clone())).unwrap()
}

fn timer_msg(i: i64, prop: &str, value: &str) -> Message {
    let mut m = Message::new("TimerUser", 1, format!("body-{i}").into_bytes());
    m.properties = format!("KEYS\u{1}k{i}\u{2}{prop}\u{1}{value}\u{2}");
    m
}

/// 12 timers through the put path (a roll-over of the 10-unit segments, two in one slot, one
/// past the roll window), pinned clock.
fn put_timers(store: &MessageStore) {
    for i in 0..12i64 {
        let deliver = match i {
            3 | 4 => T0 + 600_000,            // one slot, a chain of two
            5 => T0 + 2 * 86_400_000 + 5_000, // beyond the 2-day roll window
            _ => T0 + 60_000 * (i + 1),
        };
        let m = if i == 6 {
            timer_msg(i, "TIMER_DELAY_SEC", "90")
        } else {
            timer_msg(i, "TIMER_DELIVER_MS", &deliver.to_string())
        };
        let r = store.put_message(&m).unwrap();
        assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
    }
}

#[test]
fn a_timer_put_lands_on_the_timer_topic_and_in_the_wheel() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open(tmp.path(), &clock);
    put_timers(&store);
    // The stored record: topic rmq_sys_wheel_timer queue 0, the deliver time floored to the
    // precision (an exact multiple moves one slot earlier), the real topic and queue.
    let got = store.get_messages(TIMER_TOPIC, 0, 0, 32);
    assert_eq!(got.messages.len(), 12);
    let rec = got.messages[0].decode().unwrap();
    let p = rec.properties;
    let out = |p: &[u8]| properties::get(p, "TIMER_OUT_MS").unwrap().into_owned();
    assert_eq!(out(p), ((T0 + 60_000) / 1000 * 1000).to_string());
    assert_eq!(properties::get(p, "REAL_TOPIC").unwrap(), "TimerUser");
    assert_eq!(properties::get(p, "REAL_QID").unwrap(), "1");
    let rec6 = got.messages[6].decode().unwrap();
    assert_eq!(
        out(rec6.properties),
        ((T0 + 90_000) / 1000 * 1000).to_string()
    );
    assert_eq!(store.max_offset_in_queue("TimerUser", 1), 0);
    // Java's broker serializes the properties from its HashMap(128).
    let want = rmqstore::v5::props::java_serialize(
        &rmqstore::v5::props::java_parse(&String::from_utf8_lossy(p)),
        rmqstore::v5::props::BROKER_MAP_CAPACITY,
    );
    assert_eq!(String::from_utf8_lossy(p), want);

    // Under SYNC_FLUSH the timer files are durable after each put.
    let log = timer::read_log(tmp.path()).unwrap().unwrap();
    assert_eq!(log.units.len(), 12);
    assert_eq!(log.files.len(), 2, "10 units per segment: rolled over");
    let cp = timer::read_checkpoint(tmp.path()).unwrap().unwrap();
    assert_eq!(cp.last_timer_queue_offset, 12);
    assert_eq!(cp.master_timer_queue_offset, 12);
    assert_eq!(cp.last_timer_log_flush_pos, log.end);
    for (i, (_, u)) in log.units.iter().enumerate() {
        let rec = got.messages[i].decode().unwrap();
        assert_eq!(u.offset_py, got.messages[i].offset() as i64);
        assert_eq!(u.size_py as usize, got.messages[i].size());
        assert_eq!(u.curr_write_time_ms, T0 / 1000 * 1000);
        assert_eq!(
            u.hash_code_of_real_topic,
            timer::java_string_hash("TimerUser")
        );
        if i == 5 {
            assert!(u.is_roll(), "past the roll window");
        } else {
            assert!(!u.is_roll());
            assert_eq!(u.deliver_time_ms().to_string(), out(rec.properties));
        }
    }
    assert_eq!(
        log.units[4].1.prev_pos, log.units[3].0,
        "same slot: chained"
    );
    store.shutdown().unwrap();

    // verify and stat see the pending timers, with no error.
    let r = verify(tmp.path(), &VerifyOptions::default()).unwrap();
    let errors: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let t = r.summary.v5.unwrap().timer.unwrap();
    assert_eq!(t.pending, 12);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .args(["stat", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("timers: 12 pending (1 rolled)"), "{text}");
    let m = timer::read_metrics(tmp.path()).unwrap().unwrap();
    assert_eq!(m.timing_count["TimerUser"].count, 12);
}

#[test]
fn refused_and_untouched_timer_puts() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open(tmp.path(), &clock);
    // Beyond timerMaxDelaySec (3 days): WHEEL_TIMER_MSG_ILLEGAL.
    let far = (T0 + 4 * 86_400_000).to_string();
    let r = store
        .put_message(&timer_msg(0, "TIMER_DELIVER_MS", &far))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::MessageIllegal);
    assert!(r.reason.unwrap().contains("WHEEL_TIMER_MSG_ILLEGAL"));
    let r = store
        .put_message(&timer_msg(0, "TIMER_DELAY_MS", "soon"))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::MessageIllegal);
    // Already due: stored under its own topic as it is.
    let past = (T0 - 1).to_string();
    let r = store
        .put_message(&timer_msg(0, "TIMER_DELIVER_MS", &past))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::PutOk);
    assert_eq!(store.max_offset_in_queue("TimerUser", 1), 1);
    assert!(!tmp.path().join("timerlog").exists());
    store.shutdown().unwrap();
    // timerWheelEnable=false: WHEEL_TIMER_NOT_ENABLE.
    let mut c = config(tmp.path());
    c.timer_wheel_enable = false;
    let store = MessageStore::open_with(c, OpenMode::ReadWrite, Arc::new(clock.clone())).unwrap();
    let soon = (T0 + 5000).to_string();
    let r = store
        .put_message(&timer_msg(0, "TIMER_DELIVER_MS", &soon))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::ServiceNotAvailable);
    assert!(r.reason.unwrap().contains("WHEEL_TIMER_NOT_ENABLE"));
    store.shutdown().unwrap();
    // Target 4.6.0: no timers at all.
    let mut c = config(tmp.path()).with_target_version(TargetVersion::V4_6_0);
    c.timer_wheel_enable = true;
    let store = MessageStore::open_with(c, OpenMode::ReadWrite, Arc::new(clock.clone())).unwrap();
    let r = store
        .put_message(&timer_msg(0, "TIMER_DELIVER_MS", &soon))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::PutOk);
    assert_eq!(store.max_offset_in_queue("TimerUser", 1), 2);
    assert!(!tmp.path().join("timerlog").exists());
}

/// A crash after the last timer message was stored but before its unit was complete: the
/// timer log ends in a torn unit, and the wheel and timercheck are those of the flush before
/// (Java flushes them after the log). Recovery cuts the torn tail, takes the queue offset from
/// the last whole unit's message, and the enqueue writes the lost unit again: the timer log and
/// wheel end byte-identical to the run that did not crash.
#[test]
fn recovery_follows_a_torn_timer_log_tail() {
    let clean = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    {
        let s = open(clean.path(), &clock);
        put_timers(&s);
        s.shutdown().unwrap();
    }
    // The crashed store: the clean one's commitlog and queues, its timer files torn below.
    let _ = std::fs::remove_dir_all(crashed.path());
    copy_dir(clean.path(), crashed.path());
    let seg = crashed.path().join("timerlog/00000000000000000536");
    let mut b = std::fs::read(&seg).unwrap();
    let last = 52; // the 12th unit is the second of the second segment
    let want_log = files_of(&clean.path().join("timerlog"));
    // Tear it: 20 bytes of it written, the rest garbage.
    for x in &mut b[last + 20..last + 52] {
        *x = 0xAB;
    }
    b[last..last + 4].copy_from_slice(&[0, 0, 0, 0x55]);
    std::fs::write(&seg, &b).unwrap();
    // The wheel and checkpoint as they were before the 12th unit.
    let mut wheel = std::fs::read(crashed.path().join("timerwheel")).unwrap();
    let units = timer::read_log(clean.path()).unwrap().unwrap().units;
    let (pos12, u12) = units[11];
    let slot = timer::slot_index(u12.deliver_time_ms(), 1000) as usize * 32;
    let prev = if u12.prev_pos == -1 {
        [0u8; 32].to_vec()
    } else {
        let mut s = wheel[slot..slot + 32].to_vec();
        s[16..24].copy_from_slice(&u12.prev_pos.to_be_bytes());
        let n = i32::from_be_bytes(s[24..28].try_into().unwrap()) - 1;
        s[24..28].copy_from_slice(&n.to_be_bytes());
        s
    };
    wheel[slot..slot + 32].copy_from_slice(&prev);
    std::fs::write(crashed.path().join("timerwheel"), &wheel).unwrap();
    let cpp = crashed.path().join("config/timercheck");
    let mut cp = std::fs::read(&cpp).unwrap();
    cp[8..16].copy_from_slice(&pos12.to_be_bytes());
    cp[16..24].copy_from_slice(&11i64.to_be_bytes());
    cp[24..32].copy_from_slice(&11i64.to_be_bytes());
    std::fs::write(&cpp, &cp).unwrap();
    std::fs::write(crashed.path().join("abort"), b"").unwrap();
    // The torn state is what verify reports.
    assert!(timer::read_log(crashed.path()).is_err());

    let s = open(crashed.path(), &clock);
    s.shutdown().unwrap();
    assert_eq!(files_of(&crashed.path().join("timerlog")), want_log);
    let w1 = std::fs::read(crashed.path().join("timerwheel")).unwrap();
    let w2 = std::fs::read(clean.path().join("timerwheel")).unwrap();
    assert!(w1 == w2, "wheel differs after recovery");
    let cp = timer::read_checkpoint(crashed.path()).unwrap().unwrap();
    assert_eq!(cp.last_timer_queue_offset, 12);
    // Opened again: nothing is enqueued twice.
    let s = open(crashed.path(), &clock);
    s.shutdown().unwrap();
    assert_eq!(files_of(&crashed.path().join("timerlog")), want_log);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &p);
        } else {
            std::fs::copy(e.path(), &p).unwrap();
        }
    }
}
