//! Reads from a filled store (200 000 messages of 128 B over 4 queues, ASYNC_FLUSH):
//! `get_messages` by queue offset (1 and 32 messages at random offsets; 32 tailing a queue
//! forward; 32 with every record copied out; 32 with a consumer-side tag check),
//! `query_offsets_by_key` (index only) and `query_messages_by_key` through the index, and
//! `look_message_by_id`.
//!
//! The store has no filtered get yet (`get_message` with a tag filter is coming from the api
//! branch); `get_messages_32_tag_check` is what a consumer does with the batch meanwhile
//! (decode each record, compare its TAGS). When the filtered get lands, bench it beside
//! `get_messages_32` with a matching and a non-matching tag.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rmqstore::format::msgid::create_message_id;
use rmqstore::format::properties;
use rmqstore::MessageStore;

const MESSAGES: u64 = 200_000;

/// A small xorshift, so the offsets read are spread without a dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn read(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(common::config(dir.path(), common::Mode::Async)).unwrap();
    let mut msg = common::message(128);
    let mut offsets = Vec::with_capacity(MESSAGES as usize);
    for n in 0..MESSAGES {
        common::fill_message(&mut msg, 0, n);
        let r = store.put_message(&msg).unwrap();
        offsets.push(r.append.unwrap().wrote_offset);
    }
    let per_queue = MESSAGES / common::QUEUES as u64;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(1));
    g.bench_function("get_messages_1", |b| {
        b.iter(|| {
            let q = rng.below(common::QUEUES as u64) as i32;
            let r = store.get_messages(common::TOPIC, q, rng.below(per_queue), 1);
            assert_eq!(r.messages.len(), 1);
        })
    });
    g.throughput(Throughput::Elements(32));
    g.bench_function("get_messages_32", |b| {
        b.iter(|| {
            let q = rng.below(common::QUEUES as u64) as i32;
            let r = store.get_messages(common::TOPIC, q, rng.below(per_queue - 32), 32);
            assert_eq!(r.messages.len(), 32);
        })
    });
    let mut tail = [0u64; common::QUEUES as usize];
    let mut tq = 0usize;
    g.bench_function("get_messages_32_tail", |b| {
        b.iter(|| {
            tq = (tq + 1) % tail.len();
            if tail[tq] + 32 > per_queue {
                tail[tq] = 0;
            }
            let r = store.get_messages(common::TOPIC, tq as i32, tail[tq], 32);
            assert_eq!(r.messages.len(), 32);
            tail[tq] = r.next_begin_offset;
        })
    });
    let mut buf = Vec::with_capacity(32 * 512);
    g.bench_function("get_messages_32_copy", |b| {
        b.iter(|| {
            let q = rng.below(common::QUEUES as u64) as i32;
            let r = store.get_messages(common::TOPIC, q, rng.below(per_queue - 32), 32);
            buf.clear();
            for m in &r.messages {
                buf.extend_from_slice(m.bytes());
            }
            assert_eq!(r.messages.len(), 32);
            buf.len()
        })
    });
    g.bench_function("get_messages_32_tag_check", |b| {
        b.iter(|| {
            let q = rng.below(common::QUEUES as u64) as i32;
            let r = store.get_messages(common::TOPIC, q, rng.below(per_queue - 32), 32);
            let matched = r
                .messages
                .iter()
                .filter(|m| {
                    let rec = m.decode().unwrap();
                    properties::get(rec.properties, properties::TAGS).as_deref() == Some("TagA")
                })
                .count();
            assert_eq!(matched, 32);
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("query_offsets_by_key", |b| {
        b.iter(|| {
            let key = common::key_of(0, rng.below(MESSAGES));
            let r = store.query_offsets_by_key(common::TOPIC, &key, 32, 0, i64::MAX);
            assert!(!r.is_empty());
        })
    });
    g.bench_function("query_by_key", |b| {
        b.iter(|| {
            let key = common::key_of(0, rng.below(MESSAGES));
            let r = store.query_messages_by_key(common::TOPIC, &key, 32, 0, i64::MAX);
            assert_eq!(r.len(), 1);
        })
    });
    let host = msg.store_host;
    g.bench_function("look_message_by_id", |b| {
        b.iter(|| {
            let id = create_message_id(&host, offsets[rng.below(MESSAGES) as usize]);
            assert!(store.look_message_by_id(&id).unwrap().is_some());
        })
    });
    g.finish();
    store.shutdown().unwrap();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = read
}
criterion_main!(benches);
