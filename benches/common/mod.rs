//! Shared by the criterion benches: stores in temp folders and messages as a producer sends
//! them (TAGS, KEYS, UNIQ_KEY, WAIT).

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use criterion::Criterion;
use rmqstore::format::properties;
use rmqstore::{Message, StoreConfig};

pub const TOPIC: &str = "BenchTopic";
pub const QUEUES: i32 = 4;

/// Short measurements, so that `cargo bench` finishes in minutes on a small machine.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

pub use rmqstore::config::FlushMode as Mode;

/// A store config for `mode` under `root` (1 GiB segments, as a broker has by default).
pub fn config(root: &Path, mode: Mode) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    mode.apply(&mut c);
    c
}

pub fn body(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Message `n` of writer `thread`: round-robin over the queues, unique UNIQ_KEY and KEYS.
pub fn fill_message(msg: &mut Message, thread: usize, n: u64) {
    msg.queue_id = ((thread as u64 + n) % QUEUES as u64) as i32;
    let uniq = format!("7F000001{:04X}{:08X}{:016X}", 0x1234, thread, n);
    let keys = key_of(thread, n);
    msg.properties = properties::encode([
        (properties::KEYS, keys.as_str()),
        (properties::UNIQ_KEY, uniq.as_str()),
        (properties::WAIT, "true"),
        (properties::TAGS, "TagA"),
    ]);
    msg.born_timestamp = 1_700_000_000_000 + n as i64;
}

pub fn key_of(thread: usize, n: u64) -> String {
    format!("order-{thread}-{n}")
}

pub fn message(size: usize) -> Message {
    Message::new(TOPIC, 0, body(size))
}
