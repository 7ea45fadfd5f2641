//! Crash test: a child process writes under SYNC_FLUSH from several threads and reports each
//! acknowledged put; the parent kills it with SIGKILL at random moments, reopens the store and
//! checks that every acknowledged message is present and intact, that queue offsets are dense,
//! and that consume queues and commitlog agree.
//!
//! The child is this test binary re-run with `--ignored --exact crash_child` and the store
//! directory in an environment variable.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rmqstore::config::FlushDiskType;
use rmqstore::format::{decode_record, Decoded};
use rmqstore::{Message, MessageStore, PutMessageStatus, StoreConfig};

const CHILD_DIR: &str = "RMQSTORE_CRASH_CHILD_DIR";
const THREADS: i32 = 4;
const TOPIC: &str = "CrashTopic";

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.flush_disk_type = FlushDiskType::SyncFlush;
    c.mapped_file_size_commit_log = 256 * 1024;
    c.mapped_file_size_consume_queue_raw = 2000;
    c.max_hash_slot_num = 500;
    c.max_index_num = 2000;
    c
}

/// The body of the message at `queue_offset` of queue `q`: derivable, so any record can be
/// checked, acknowledged or not.
fn body(q: i32, queue_offset: u64) -> Vec<u8> {
    let len = 10 + ((queue_offset * 7919 + q as u64 * 104_729) % 3000) as usize;
    let seed = format!("{q}:{queue_offset}:");
    seed.bytes().cycle().take(len).collect()
}

/// The child: writes until killed. Each acknowledged put is one line on stdout.
#[test]
#[ignore = "run by crash tests as a child process"]
fn crash_child() {
    let dir = std::env::var(CHILD_DIR).expect("child needs its store directory");
    let store = Arc::new(MessageStore::open(config(Path::new(&dir))).unwrap());
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let handles: Vec<_> = (0..THREADS)
        .map(|q| {
            let (store, out) = (store.clone(), out.clone());
            std::thread::spawn(move || {
                let mut next = store.max_offset_in_queue(TOPIC, q);
                loop {
                    let m =
                        Message::new(TOPIC, q, body(q, next)).with_keys(&format!("k{q}-{next}"));
                    let r = store.put_message(&m).unwrap();
                    if r.status != PutMessageStatus::PutOk {
                        continue; // not acknowledged; it may or may not survive
                    }
                    let a = r.append.unwrap();
                    assert_eq!(a.logics_offset as u64, next);
                    let mut o = out.lock().unwrap();
                    writeln!(o, "ACK {q} {next} {} {}", a.wrote_offset, a.wrote_bytes).unwrap();
                    o.flush().unwrap();
                    next += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// A tiny deterministic generator (xorshift) for kill times.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

struct Ack {
    queue: i32,
    queue_offset: u64,
    phy: u64,
    size: usize,
}

fn run_child_and_kill(dir: &Path, millis: u64) -> Vec<Ack> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() == 5 && f[0] == "ACK" {
                acks.push(Ack {
                    queue: f[1].parse().unwrap(),
                    queue_offset: f[2].parse().unwrap(),
                    phy: f[3].parse().unwrap(),
                    size: f[4].parse().unwrap(),
                });
            }
        }
        acks
    });
    std::thread::sleep(Duration::from_millis(millis));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap()
}

/// Every acknowledged message is intact; every queue is dense and agrees with the commitlog.
fn check_store(store: &MessageStore, acks: &[Ack], round: usize) {
    for a in acks {
        let rec = store
            .get_by_phy_offset(a.phy)
            .unwrap_or_else(|| panic!("round {round}: acknowledged record at {} lost", a.phy));
        assert_eq!(rec.size(), a.size, "round {round}: size at {}", a.phy);
        let r = rec.decode().unwrap();
        assert_eq!(r.topic, TOPIC.as_bytes());
        assert_eq!(r.queue_id, a.queue);
        assert_eq!(r.queue_offset as u64, a.queue_offset);
        assert_eq!(
            r.body,
            &body(a.queue, a.queue_offset)[..],
            "round {round}: body at {}",
            a.phy
        );
    }
    let mut acked_max: HashMap<i32, u64> = HashMap::new();
    for a in acks {
        let e = acked_max.entry(a.queue).or_default();
        *e = (*e).max(a.queue_offset + 1);
    }
    for q in 0..THREADS {
        let max = store.max_offset_in_queue(TOPIC, q);
        assert!(
            max >= acked_max.get(&q).copied().unwrap_or(0),
            "round {round}: queue {q} ends at {max}, below what was acknowledged"
        );
        let got = store.get_messages(TOPIC, q, 0, usize::MAX);
        assert_eq!(
            got.messages.len() as u64,
            max,
            "round {round}: queue {q} not dense"
        );
        for (i, rec) in got.messages.iter().enumerate() {
            let r = rec.decode().unwrap();
            assert_eq!(
                r.queue_offset, i as i64,
                "round {round}: queue {q} offset {i}"
            );
            assert_eq!(
                r.body,
                &body(q, i as u64)[..],
                "round {round}: queue {q} offset {i}"
            );
        }
    }
    // The commitlog verifies with CRCs from its first byte to its recovered end.
    let mut offset = store.min_phy_offset();
    let end = store.max_phy_offset();
    while offset < end {
        let f = store.commit_log().files().find_by_offset(offset).unwrap();
        let pos = (offset - f.file_from_offset()) as usize;
        match decode_record(&f.readable()[pos..], true) {
            Ok(Decoded::Message { total_size, .. }) => offset += total_size as u64,
            Ok(Decoded::Blank { .. }) => offset = f.file_from_offset() + f.file_size() as u64,
            other => panic!("round {round}: bad record at {offset}: {other:?}"),
        }
    }
}

fn crash_rounds(rounds: usize, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let mut all_acks: Vec<Ack> = Vec::new();
    for round in 0..rounds {
        let millis = 40 + rng.next() % 260;
        let acks = run_child_and_kill(dir.path(), millis);
        all_acks.extend(acks);
        assert!(
            dir.path().join("abort").exists(),
            "round {round}: a killed store leaves abort"
        );
        if round % 2 == 0 {
            // Recover here (abnormal recovery on disk), check, and stop cleanly.
            let store = MessageStore::open(config(dir.path())).unwrap();
            assert!(store.recovery_report().abnormal);
            check_store(&store, &all_acks, round);
            store.shutdown().unwrap();
        } else {
            // Check without touching the store; the next child recovers it.
            let store = MessageStore::open_read_only(config(dir.path())).unwrap();
            check_store(&store, &all_acks, round);
        }
    }
    assert!(!all_acks.is_empty(), "the children acknowledged nothing");
}

#[test]
fn sync_flush_survives_sigkill() {
    crash_rounds(20, 0x9E37_79B9_7F4A_7C15);
}

#[test]
#[ignore = "long: 1000 kill rounds"]
fn sync_flush_survives_sigkill_1000_rounds() {
    crash_rounds(1000, 0xD1B5_4A32_D192_ED03);
}
