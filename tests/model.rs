//! Model-based property test of the store: random sequences of put, batch put, flush, crash
//! (optionally tearing the unflushed tail of the commitlog) and clean reopen, checked after every
//! reopen against an in-memory model of what must be readable.
//!
//! The model is, per topic and queue, the list of acknowledged messages in queue-offset order,
//! with where each record lies in the commitlog. A crash is what a `kill -9` leaves: the store
//! directory is copied while the store is open (segments are shared mappings, so the copy holds
//! every byte written so far), the original is dropped, and the copy is opened (it has the abort
//! file, so recovery is the abnormal one). A torn crash then zeroes or scrambles the commitlog
//! from some point at or above the last explicit flush, as a power cut may; the messages whose
//! records end at or below that point must survive, the later ones are dropped from the model.
//!
//! After each reopen: every queue's offsets are dense and equal to the model's, every model
//! message reads back by queue offset with its body, topic, queue and keys, every key finds its
//! messages through the index, and `records()` walks the whole commitlog.
//!
//! CI runs `model_ci` (a bounded number of cases); `model_long` is the longer run, `#[ignore]`d:
//! `cargo test --test model -- --ignored`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rmqstore::format::properties::{self, StoreProperties};
use rmqstore::mapped_file::file_name_to_offset;
use rmqstore::{BatchItem, Message, MessageBatch, MessageStore, StoreConfig};

const SEGMENT: usize = 64 * 1024;
const TOPICS: [&str; 3] = ["TopicA", "TopicB", "%RETRY%g"];

#[derive(Debug, Clone, Copy)]
struct Tear {
    record: u8,
    within: u8,
    garbage: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Put {
        topic: usize,
        queue: i32,
        body_len: usize,
        key: Option<u8>,
        tags: Option<u8>,
    },
    Batch {
        topic: usize,
        queue: i32,
        lens: Vec<usize>,
        key: Option<u8>,
    },
    Flush,
    /// Crash; with `tear`, the commitlog is zeroed (`garbage` false) or scrambled from the
    /// start, or from a point inside the fixed 84-byte header, of one of the records put since
    /// the last flush (`record` picks it, modulo their number; `within` the point).
    Crash {
        tear: Option<Tear>,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let key = proptest::option::of(0u8..6);
    prop_oneof![
        8 => (0..TOPICS.len(), 0i32..3, 0usize..2000, key.clone(), proptest::option::of(0u8..3))
            .prop_map(|(topic, queue, body_len, key, tags)| Op::Put { topic, queue, body_len, key, tags }),
        3 => (0..TOPICS.len(), 0i32..3, proptest::collection::vec(0usize..600, 1..6), key)
            .prop_map(|(topic, queue, lens, key)| Op::Batch { topic, queue, lens, key }),
        2 => Just(Op::Flush),
        2 => proptest::option::of((any::<u8>(), any::<u8>(), any::<bool>()))
            .prop_map(|t| Op::Crash { tear: t.map(|(record, within, garbage)| Tear { record, within, garbage }) }),
        1 => Just(Op::Reopen),
    ]
}

/// One acknowledged message as the model remembers it.
#[derive(Debug, Clone)]
struct Expected {
    body: Vec<u8>,
    keys: Option<String>,
    /// Physical offset and size of its record.
    offset: u64,
    size: u64,
}

#[derive(Default)]
struct Model {
    queues: BTreeMap<(String, i32), Vec<Expected>>,
    /// Everything below this commitlog offset was flushed explicitly: no tear goes below it.
    flushed: u64,
    /// A counter that makes every body distinct.
    serial: u64,
}

impl Model {
    fn body(&mut self, len: usize) -> Vec<u8> {
        self.serial += 1;
        let seed = self.serial.to_be_bytes();
        (0..len)
            .map(|i| seed[i % 8] ^ (i as u8).wrapping_mul(31))
            .collect()
    }

    /// Where a tear starts: at, or inside the fixed header of, a record put since the last
    /// flush. Not further in: 4.6.0 records protect only the body with a CRC, so a record whose
    /// topic or properties are zeroed past intact length fields is still a valid record to Java
    /// (and to us), with a damaged topic; the model cannot say what such a tear leaves. Inside
    /// the first 84 bytes the length fields themselves are hit, which recovery always detects.
    fn tear_point(&self, t: &Tear) -> Option<u64> {
        let mut unflushed: Vec<u64> = self
            .queues
            .values()
            .flatten()
            .filter(|e| e.offset >= self.flushed)
            .map(|e| e.offset)
            .collect();
        if unflushed.is_empty() {
            return None;
        }
        unflushed.sort_unstable();
        let start = unflushed[t.record as usize % unflushed.len()];
        Some(start + (t.within as u64 % 84))
    }

    /// Keeps only the messages whose records end at or below `cut`.
    fn tear_at(&mut self, cut: u64) {
        for list in self.queues.values_mut() {
            // Queue order is commitlog order, so the survivors are a prefix.
            let keep = list.iter().take_while(|e| e.offset + e.size <= cut).count();
            list.truncate(keep);
        }
    }
}

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = SEGMENT;
    c.mapped_file_size_consume_queue_raw = 50 * 20;
    c.max_hash_slot_num = 64;
    c.max_index_num = 256;
    c
}

fn key_name(k: u8) -> String {
    format!("key-{k}")
}

/// Copies a store tree (regular files and folders), as a kill -9 leaves it on disk.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let ft = entry.file_type().unwrap();
        let dst = to.join(entry.file_name());
        if ft.is_dir() {
            copy_tree(&entry.path(), &dst);
        } else if ft.is_file() {
            fs::copy(entry.path(), &dst).unwrap();
        }
    }
}

/// Zeroes (or fills with a pattern) every commitlog byte at or above `cut`.
fn tear_commitlog(root: &Path, cut: u64, garbage: bool) {
    let dir = root.join("commitlog");
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let from = file_name_to_offset(path.file_name().unwrap().to_str().unwrap()).unwrap();
        let mut data = fs::read(&path).unwrap();
        let end = from + data.len() as u64;
        if end <= cut {
            continue;
        }
        let start = cut.saturating_sub(from) as usize;
        for (i, b) in data[start..].iter_mut().enumerate() {
            *b = if garbage {
                (i as u8).wrapping_mul(167) ^ 0x5A
            } else {
                0
            };
        }
        fs::write(&path, data).unwrap();
    }
}

struct Harness {
    _tmp: tempfile::TempDir,
    /// Each crash moves the store to a new folder (the copy); the old one stays for debugging.
    generation: usize,
    root: PathBuf,
    store: Option<MessageStore>,
    model: Model,
}

impl Harness {
    fn new() -> Harness {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store-0");
        let store = MessageStore::open(config(&root)).unwrap();
        Harness {
            _tmp: tmp,
            generation: 0,
            root,
            store: Some(store),
            model: Model::default(),
        }
    }

    fn store(&self) -> &MessageStore {
        self.store.as_ref().unwrap()
    }

    /// Records what the store says it wrote at `queue_offset` and checks it at once.
    fn learn(
        &mut self,
        topic: &str,
        queue: i32,
        queue_offset: u64,
        body: Vec<u8>,
        keys: Option<String>,
    ) {
        let got = self.store().get_messages(topic, queue, queue_offset, 1);
        assert_eq!(
            got.messages.len(),
            1,
            "{topic}/{queue} @{queue_offset} not readable after put"
        );
        let r = &got.messages[0];
        let rec = r.decode().unwrap();
        assert_eq!(rec.body, &body[..]);
        let e = Expected {
            body,
            keys,
            offset: r.offset(),
            size: r.size() as u64,
        };
        let list = self
            .model
            .queues
            .entry((topic.to_string(), queue))
            .or_default();
        assert_eq!(
            list.len() as u64,
            queue_offset,
            "queue offsets are not dense"
        );
        list.push(e);
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Put {
                topic,
                queue,
                body_len,
                key,
                tags,
            } => {
                let topic = TOPICS[*topic];
                let body = self.model.body(*body_len);
                let keys = key.map(|k| format!("{} u{}", key_name(k), self.model.serial));
                let mut msg = Message::new(topic, *queue, body.clone());
                if let Some(k) = &keys {
                    msg = msg.with_keys(k);
                }
                if let Some(t) = tags {
                    msg = msg.with_tags(&format!("tag{t}"));
                }
                let r = self.store().put_message(&msg).unwrap();
                assert!(r.is_ok(), "{r:?}");
                let qo = r.append.as_ref().unwrap().logics_offset as u64;
                self.learn(topic, *queue, qo, body, keys);
            }
            Op::Batch {
                topic,
                queue,
                lens,
                key,
            } => {
                let topic = TOPICS[*topic];
                let mut items = Vec::new();
                let mut expect = Vec::new();
                for &len in lens {
                    let body = self.model.body(len);
                    let keys = key.map(|k| format!("{} u{}", key_name(k), self.model.serial));
                    let props = match &keys {
                        Some(k) => properties::encode([(properties::KEYS, k.as_str())]),
                        None => String::new(),
                    };
                    items.push(BatchItem {
                        flag: 0,
                        body: body.clone(),
                        properties: props,
                    });
                    expect.push((body, keys));
                }
                let batch = MessageBatch {
                    topic: topic.to_string(),
                    queue_id: *queue,
                    sys_flag: 0,
                    born_timestamp: 1_700_000_000_000,
                    born_host: rmqstore::format::Host::parse("127.0.0.1:5000").unwrap(),
                    store_host: rmqstore::format::Host::parse("127.0.0.1:10911").unwrap(),
                    reconsume_times: 0,
                    items,
                };
                let r = self.store().put_messages(&batch).unwrap();
                assert!(r.is_ok(), "{r:?}");
                let first = r.append.as_ref().unwrap().logics_offset as u64;
                for (i, (body, keys)) in expect.into_iter().enumerate() {
                    self.learn(topic, *queue, first + i as u64, body, keys);
                }
            }
            Op::Flush => {
                self.store().flush().unwrap();
                self.model.flushed = self.store().max_phy_offset();
            }
            Op::Crash { tear } => {
                self.generation += 1;
                let copy = self._tmp.path().join(format!("store-{}", self.generation));
                copy_tree(&self.root, &copy);
                let end = self.store().max_phy_offset();
                drop(self.store.take()); // the original shuts down cleanly; we go on with the copy
                assert!(
                    copy.join("abort").exists(),
                    "a running store has an abort file"
                );
                if let Some(t) = tear {
                    if let Some(cut) = self.model.tear_point(t) {
                        assert!(cut >= self.model.flushed && cut <= end);
                        tear_commitlog(&copy, cut, t.garbage);
                        self.model.tear_at(cut);
                    }
                }
                self.root = copy;
                self.reopen_and_check();
            }
            Op::Reopen => {
                self.store.take().unwrap().shutdown().unwrap();
                assert!(
                    !self.root.join("abort").exists(),
                    "a clean shutdown removes the abort file"
                );
                self.reopen_and_check();
            }
        }
    }

    fn reopen_and_check(&mut self) {
        let store = MessageStore::open(config(&self.root)).unwrap();
        self.store = Some(store);
        // What survived a crash is durable from now on (recovery flushes nothing by itself,
        // but a second crash must not take away what this one kept).
        self.store().flush().unwrap();
        self.model.flushed = self.store().max_phy_offset();
        self.check();
    }

    fn check(&self) {
        let store = self.store();
        let mut by_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for ((topic, queue), list) in &self.model.queues {
            assert_eq!(
                store.max_offset_in_queue(topic, *queue),
                list.len() as u64,
                "{topic}/{queue}: max offset"
            );
            for (i, e) in list.iter().enumerate() {
                let got = store.get_messages(topic, *queue, i as u64, 1);
                assert_eq!(
                    got.messages.len(),
                    1,
                    "{topic}/{queue} @{i}: {:?}",
                    got.status
                );
                let r = &got.messages[0];
                assert_eq!(
                    r.offset(),
                    e.offset,
                    "{topic}/{queue} @{i}: physical offset"
                );
                let rec = r.decode().unwrap();
                assert_eq!(rec.body, &e.body[..], "{topic}/{queue} @{i}: body");
                assert_eq!(rec.topic, topic.as_bytes());
                assert_eq!(rec.queue_id, *queue);
                assert_eq!(rec.queue_offset, i as i64);
                let sp = StoreProperties::parse(rec.properties);
                assert_eq!(
                    sp.keys.as_deref(),
                    e.keys.as_deref(),
                    "{topic}/{queue} @{i}: keys"
                );
                if let Some(keys) = &e.keys {
                    for k in keys.split(' ') {
                        by_key
                            .entry(format!("{topic}\u{0}{k}"))
                            .or_default()
                            .push(e.offset);
                    }
                }
            }
        }
        for (tk, offsets) in &by_key {
            let (topic, key) = tk.split_once('\u{0}').unwrap();
            let found: Vec<u64> = store
                .query_messages_by_key(topic, key, 10_000, 0, i64::MAX)
                .iter()
                .map(|r| r.offset())
                .collect();
            for o in offsets {
                assert!(
                    found.contains(o),
                    "key {key} of {topic}: {o} not in {found:?}"
                );
            }
        }
        let mut n = 0u64;
        for r in store.records() {
            r.expect("every record below the end decodes");
            n += 1;
        }
        let total: u64 = self.model.queues.values().map(|l| l.len() as u64).sum();
        assert_eq!(n, total, "records() count");
    }
}

fn run(cases: u32, max_ops: usize) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(op(), 1..=max_ops), |ops| {
            let mut h = Harness::new();
            for op in &ops {
                h.apply(op);
            }
            h.check();
            // End with a clean shutdown and one more reopen, so every case checks recovery.
            h.apply(&Op::Reopen);
            Ok(())
        })
        .unwrap();
}

#[test]
fn model_ci() {
    run(32, 40);
}

#[test]
#[ignore = "long: cargo test --test model -- --ignored"]
fn model_long() {
    run(512, 150);
}
