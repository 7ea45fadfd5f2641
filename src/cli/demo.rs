//! `rmqstore demo [--out DIR]`: the library's main job on a built-in default. Writes a store
//! with small segments (so every kind of file rolls over), shuts it down cleanly, reopens it
//! read-only with discovered geometry, reads every message back by queue offset and by key,
//! and checks each one against what was written.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;

use super::{CliError, CliResult};
use crate::config::StoreConfig;
use crate::format::cq::SCHEDULE_TOPIC;
use crate::format::hash::body_crc;
use crate::format::host::Host;
use crate::format::msgid::create_message_id;
use crate::format::properties::{self, REAL_QID, REAL_TOPIC};
use crate::inspect::{discover_config, GeometryOverrides};
use crate::message::{BatchItem, Message, MessageBatch};
use crate::MessageStore;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder to create the demo store in (must not exist or be empty). Default: a new folder
    /// under the system temp dir, printed.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// How many single messages to put (plus one batch and one delayed message).
    #[arg(long, default_value_t = 3000, value_name = "N")]
    pub messages: usize,
}

use crate::config::FlushMode as Mode;

/// The store variants the demo runs, each in its own sub-folder of the output folder: the
/// three flush modes an operator chooses between, in this order.
const MODES: [Mode; 3] = [Mode::Async, Mode::Sync, Mode::Transient];

/// The store config of a mode: small files so that everything rolls over.
fn mode_config(mode: Mode, root: &Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 1024 * 1024;
    c.mapped_file_size_consume_queue_raw = 4000;
    c.max_hash_slot_num = 1000;
    c.max_index_num = 4000;
    mode.apply(&mut c);
    if mode == Mode::Transient {
        c.transient_store_pool_size = 2;
    }
    c
}

pub fn run(args: &DemoArgs) -> CliResult {
    let out_dir = prepare_out_dir(args.out.as_deref())?;
    let mut stdout = super::stdout();
    writeln!(stdout, "demo folder: {}", out_dir.display())?;
    stdout.flush()?;
    let mut failed = Vec::new();
    for mode in MODES {
        let root = out_dir.join(mode.name());
        let summary = run_mode(mode, &root, args.messages)?;
        writeln!(
            stdout,
            "{}: {} messages, {} commitlog segments, {} consume-queue files, {} index files, \
             {} bytes; written in {} ms, verified in {} ms: {}",
            mode.name(),
            summary.messages,
            summary.segments,
            summary.cq_files,
            summary.index_files,
            summary.bytes,
            summary.write_time.as_millis(),
            summary.verify_time.as_millis(),
            if summary.mismatches.is_empty() {
                "OK"
            } else {
                "FAILED"
            },
        )?;
        for m in summary.mismatches.iter().take(20) {
            writeln!(stdout, "  mismatch: {m}")?;
        }
        if !summary.mismatches.is_empty() {
            failed.push(format!(
                "{}: {} mismatches",
                mode.name(),
                summary.mismatches.len()
            ));
        }
        writeln!(stdout, "store: {}", root.display())?;
    }
    stdout.flush()?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "demo read back differs: {}",
            failed.join(", ")
        )))
    }
}

/// Creates the output folder: the given one (absent or empty), or a fresh one under temp.
fn prepare_out_dir(out: Option<&Path>) -> CliResult<PathBuf> {
    match out {
        Some(dir) => {
            match fs::read_dir(dir) {
                Ok(mut rd) => {
                    if rd.next().is_some() {
                        return Err(CliError::Input(format!(
                            "{}: the folder is not empty; the demo writes into a new or empty folder",
                            dir.display()
                        )));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    fs::create_dir_all(dir)
                        .map_err(|e| CliError::Input(format!("{}: {e}", dir.display())))?;
                }
                Err(e) => return Err(CliError::Input(format!("{}: {e}", dir.display()))),
            }
            Ok(dir.to_path_buf())
        }
        None => {
            let base = std::env::temp_dir();
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            for attempt in 0..100u32 {
                let dir = base.join(format!(
                    "rmqstore-demo-{}-{:08x}",
                    std::process::id(),
                    nanos.wrapping_add(attempt)
                ));
                match fs::create_dir(&dir) {
                    Ok(()) => return Ok(dir),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(CliError::Input(format!("{}: {e}", dir.display()))),
                }
            }
            Err(CliError::Input(format!(
                "{}: cannot create a fresh demo folder",
                base.display()
            )))
        }
    }
}

/// One message as it should read back.
#[derive(Debug, Clone)]
struct Expected {
    /// Where the store files it (a delayed message: SCHEDULE_TOPIC_XXXX, queue level - 1).
    topic: String,
    queue_id: i32,
    queue_offset: i64,
    phy_offset: i64,
    msg_id: String,
    /// What the producer sent.
    sent: Message,
    /// A key that only this message has, to look it up through the index.
    unique_key: String,
}

struct Summary {
    messages: usize,
    segments: usize,
    cq_files: usize,
    index_files: usize,
    bytes: u64,
    write_time: Duration,
    verify_time: Duration,
    mismatches: Vec<String>,
}

/// xorshift64*: a deterministic mix, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const TOPICS: [(&str, i32); 3] = [("DemoTopic", 4), ("DemoOrders", 2), ("DemoEvents", 1)];
const TAGS: [&str; 4] = ["TagA", "TagB", "TagC", "order"];
const DELAY_LEVEL: i32 = 3;

/// The messages to put, in order: `n` singles, one batch, one delayed message.
fn workload(n: usize) -> (Vec<Message>, MessageBatch) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let born_v4 = Host::v4([127, 0, 0, 1], 40_000);
    let born_v6 = Host::parse("[fe80::c2]:34182").expect("valid");
    let store_host = Host::v4([127, 0, 0, 1], 10911);
    let mut singles = Vec::with_capacity(n + 1);
    for i in 0..n {
        let (topic, queues) = TOPICS[i % TOPICS.len()];
        let queue_id = (rng.below(queues as u64)) as i32;
        // Mostly small bodies, some of a few KiB, a few of 40 KiB; some empty.
        let len = match rng.below(100) {
            0..=4 => 0,
            5..=79 => rng.below(600) as usize,
            80..=97 => 1000 + rng.below(4000) as usize,
            _ => 40_000,
        };
        let body: Vec<u8> = (0..len)
            .map(|j| (i as u8).wrapping_add((j * 31) as u8))
            .collect();
        let mut keys = format!("demo-{i}");
        if i % 2 == 0 {
            // A key shared by many messages: more index entries, so the index rolls over.
            keys.push_str(&format!(" order-{}", i % 50));
        }
        let mut m = Message::new(topic, queue_id, body)
            .with_tags(TAGS[i % TAGS.len()])
            .with_keys(&keys)
            .with_property("seq", &i.to_string())
            .with_born(
                1_700_000_000_000 + i as i64,
                if i % 11 == 0 { born_v6 } else { born_v4 },
            );
        m.store_host = store_host;
        m.flag = (i % 3) as i32;
        singles.push(m);
    }
    let mut delayed = Message::new("DemoTopic", 1, b"delayed by level 3".to_vec())
        .with_tags("TagDelay")
        .with_keys("demo-delayed")
        .with_property(properties::DELAY, &DELAY_LEVEL.to_string());
    delayed.store_host = store_host;
    singles.push(delayed);
    let batch = MessageBatch {
        topic: "DemoBatch".into(),
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: 1_700_000_100_000,
        born_host: born_v4,
        store_host,
        reconsume_times: 0,
        items: (0..16)
            .map(|k| BatchItem {
                flag: 0,
                body: format!("batch item {k}").into_bytes(),
                properties: properties::encode([
                    (properties::KEYS, format!("demo-batch-{k}").as_str()),
                    (properties::TAGS, "TagBatch"),
                ]),
            })
            .collect(),
    };
    (singles, batch)
}

fn run_mode(mode: Mode, root: &Path, n: usize) -> CliResult<Summary> {
    let written_config = mode_config(mode, root);
    let (singles, batch) = workload(n);
    let fail = |what: &str, e: &dyn std::fmt::Display| CliError::Failed(format!("{what}: {e}"));

    let started = Instant::now();
    let mut expected: Vec<Expected> = Vec::with_capacity(singles.len() + batch.items.len());
    {
        let store = MessageStore::open(written_config.clone())
            .map_err(|e| fail("opening the demo store", &e))?;
        let put_batch_after = singles.len() / 2;
        for (i, m) in singles.iter().enumerate() {
            if i == put_batch_after {
                put_batch(&store, &batch, &mut expected)?;
            }
            let r = store.put_message(m).map_err(|e| fail("put", &e))?;
            let a = match (r.is_ok(), r.append) {
                (true, Some(a)) => a,
                _ => {
                    return Err(CliError::Failed(format!(
                        "put of message {i} returned {:?}: {}",
                        r.status,
                        r.reason.unwrap_or_default()
                    )))
                }
            };
            let delayed = properties::get(m.properties.as_bytes(), properties::DELAY).is_some();
            let (topic, queue_id) = if delayed {
                (SCHEDULE_TOPIC.to_string(), DELAY_LEVEL - 1)
            } else {
                (m.topic.clone(), m.queue_id)
            };
            let unique_key = properties::StoreProperties::parse(m.properties.as_bytes())
                .key_tokens()
                .next()
                .unwrap_or_default()
                .to_string();
            expected.push(Expected {
                topic,
                queue_id,
                queue_offset: a.logics_offset,
                phy_offset: a.wrote_offset,
                msg_id: a.msg_id(),
                sent: m.clone(),
                unique_key,
            });
        }
        store
            .shutdown()
            .map_err(|e| fail("shutting the demo store down", &e))?;
    }
    let write_time = started.elapsed();

    let started = Instant::now();
    // Reopen as an inspector would: geometry from the files, read-only.
    let config = discover_config(root, &GeometryOverrides::default())?;
    let mut mismatches = Vec::new();
    let geometry = |c: &StoreConfig| {
        (
            c.mapped_file_size_commit_log,
            c.mapped_file_size_consume_queue(),
            c.max_hash_slot_num,
            c.max_index_num,
        )
    };
    if geometry(&config) != geometry(&written_config) {
        mismatches.push(format!(
            "discovered geometry {:?}, written with {:?}",
            geometry(&config),
            geometry(&written_config)
        ));
    }
    let store = MessageStore::open_read_only(config)?;
    if store.recovery_report().abnormal {
        mismatches.push("the abort file is still there after a clean shutdown".into());
    }
    verify(&store, &expected, &mut mismatches);
    let summary = Summary {
        messages: expected.len(),
        segments: store.commit_log().files().len(),
        cq_files: store
            .consume_queues()
            .all()
            .iter()
            .map(|q| q.files().len())
            .sum(),
        index_files: count_files(&store.config().index_dir()),
        bytes: store.max_phy_offset() - store.min_phy_offset(),
        write_time,
        verify_time: started.elapsed(),
        mismatches,
    };
    Ok(summary)
}

fn put_batch(
    store: &MessageStore,
    batch: &MessageBatch,
    expected: &mut Vec<Expected>,
) -> CliResult {
    let r = store
        .put_messages(batch)
        .map_err(|e| CliError::Failed(format!("batch put: {e}")))?;
    let a = match (r.is_ok(), r.append) {
        (true, Some(a)) => a,
        _ => {
            return Err(CliError::Failed(format!(
                "batch put returned {:?}: {}",
                r.status,
                r.reason.unwrap_or_default()
            )))
        }
    };
    let ids: Vec<String> = a.msg_ids();
    for (k, item) in batch.items.iter().enumerate() {
        // Each item's offset msgId carries its physical offset (reading the record back here
        // would not work with the transient store pool, where it is not committed yet).
        let phy = ids
            .get(k)
            .and_then(|id| crate::format::msgid::decode_message_id(id).ok())
            .map(|(_, offset)| offset)
            .unwrap_or(-1);
        let mut sent = Message::new(batch.topic.clone(), batch.queue_id, item.body.clone());
        sent.properties = item.properties.clone();
        sent.flag = item.flag;
        sent.born_timestamp = batch.born_timestamp;
        sent.born_host = batch.born_host;
        sent.store_host = batch.store_host;
        let unique_key = format!("demo-batch-{k}");
        expected.push(Expected {
            topic: batch.topic.clone(),
            queue_id: batch.queue_id,
            queue_offset: a.logics_offset + k as i64,
            phy_offset: phy,
            msg_id: ids.get(k).cloned().unwrap_or_default(),
            sent,
            unique_key,
        });
    }
    Ok(())
}

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir).map(|rd| rd.count()).unwrap_or(0)
}

/// Reads every expected message back by queue offset and by key, and the commitlog as a
/// whole, recording each difference.
fn verify(store: &MessageStore, expected: &[Expected], mismatches: &mut Vec<String>) {
    // By queue offset: each queue read from its start, in one go.
    let mut queues: BTreeMap<(&str, i32), Vec<&Expected>> = BTreeMap::new();
    for e in expected {
        queues.entry((&e.topic, e.queue_id)).or_default().push(e);
    }
    for ((topic, queue_id), mut want) in queues {
        want.sort_by_key(|e| e.queue_offset);
        let got = store.get_messages(topic, queue_id, 0, usize::MAX);
        if got.messages.len() != want.len() {
            mismatches.push(format!(
                "{topic}/{queue_id}: read {} messages by queue offset, wrote {} ({:?})",
                got.messages.len(),
                want.len(),
                got.status
            ));
        }
        for (i, (rec, e)) in got.messages.iter().zip(&want).enumerate() {
            if e.queue_offset != i as i64 {
                mismatches.push(format!(
                    "{topic}/{queue_id}: queue offset {} expected at {i}",
                    e.queue_offset
                ));
            }
            compare(rec, e, "by queue offset", mismatches);
        }
    }
    // By key: every message has a key no other message has.
    for e in expected {
        let found = store.query_messages_by_key(&e.topic, &e.unique_key, 64, 0, i64::MAX);
        match found.as_slice() {
            [one] => compare(one, e, "by key", mismatches),
            other => mismatches.push(format!(
                "key {:?} of {}: found {} messages, want 1",
                e.unique_key,
                e.topic,
                other.len()
            )),
        }
    }
    // The commitlog: exactly the records written, all decodable.
    let mut count = 0usize;
    for r in store.records() {
        match r {
            Ok(_) => count += 1,
            Err(e) => {
                mismatches.push(format!("commitlog: {e}"));
                break;
            }
        }
    }
    if count != expected.len() {
        mismatches.push(format!(
            "commitlog holds {count} records, wrote {}",
            expected.len()
        ));
    }
}

/// Compares a stored record with what was sent.
fn compare(rec: &crate::StoredRecord, e: &Expected, how: &str, mismatches: &mut Vec<String>) {
    let at = format!(
        "{} ({how}, {}/{} offset {})",
        e.unique_key, e.topic, e.queue_id, e.queue_offset
    );
    let m = match rec.decode() {
        Ok(m) => m,
        Err(err) => {
            mismatches.push(format!("{at}: {err}"));
            return;
        }
    };
    let mut check = |field: &str, ok: bool| {
        if !ok {
            mismatches.push(format!("{at}: {field} differs"));
        }
    };
    check(
        "physical offset",
        rec.offset() as i64 == e.phy_offset && m.physical_offset == e.phy_offset,
    );
    check("topic", m.topic == e.topic.as_bytes());
    check("queue id", m.queue_id == e.queue_id);
    check("queue offset", m.queue_offset == e.queue_offset);
    check("body", m.body == e.sent.body.as_slice());
    check("body crc", m.body_crc == body_crc(m.body) as i32);
    check("flag", m.flag == e.sent.flag);
    check("born timestamp", m.born_timestamp == e.sent.born_timestamp);
    check("born host", m.born_host == e.sent.born_host);
    check("store host", m.store_host == e.sent.store_host);
    check(
        "msgId",
        create_message_id(&m.store_host, m.physical_offset) == e.msg_id,
    );
    // The store keeps the properties verbatim, except that it rewrites a delayed message's:
    // then every original property stays, with REAL_TOPIC and REAL_QID added.
    if e.topic == e.sent.topic {
        check("properties", m.properties == e.sent.properties.as_bytes());
    } else {
        let stored: BTreeMap<&[u8], &[u8]> = properties::iter(m.properties).collect();
        let sent_ok =
            properties::iter(e.sent.properties.as_bytes()).all(|(n, v)| stored.get(n) == Some(&v));
        let qid = e.sent.queue_id.to_string();
        check("properties", sent_ok);
        check(
            "REAL_TOPIC",
            stored.get(REAL_TOPIC.as_bytes()) == Some(&e.sent.topic.as_bytes()),
        );
        check(
            "REAL_QID",
            stored.get(REAL_QID.as_bytes()) == Some(&qid.as_bytes()),
        );
    }
}
