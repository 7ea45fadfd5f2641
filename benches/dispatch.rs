//! Dispatch on its own: what one record costs the consume queue (a 20-byte unit) and the
//! index (its UNIQ_KEY and KEYS), without the commitlog append.

mod common;

use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rmqstore::clock::SystemClock;
use rmqstore::consume_queue::ConsumeQueueTable;
use rmqstore::dispatch::{DispatchRequest, Dispatcher};
use rmqstore::format::cq::DelayLevels;
use rmqstore::format::record::{Magic, MessageRecord};
use rmqstore::index::IndexService;
use rmqstore::StoreConfig;

fn dispatch(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig::with_root(dir.path());
    let delay = DelayLevels::parse(&cfg.message_delay_level).unwrap();
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(1));
    for with_index in [false, true] {
        let root = dir.path().join(if with_index { "with" } else { "without" });
        let cqs = ConsumeQueueTable::load(
            &root.join("consumequeue"),
            cfg.mapped_file_size_consume_queue(),
            true,
        )
        .unwrap();
        let index = with_index.then(|| {
            IndexService::open(
                root.join("index"),
                cfg.max_hash_slot_num,
                cfg.max_index_num,
                false,
            )
            .unwrap()
        });
        let d = Dispatcher::new(cqs, index, delay.clone(), Arc::new(SystemClock));
        let mut msg = common::message(128);
        let mut n = 0u64;
        let mut phys = 0i64;
        let mut queue_offsets = [0i64; common::QUEUES as usize];
        let name = if with_index {
            "cq_and_index"
        } else {
            "cq_only"
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    common::fill_message(&mut msg, 0, n);
                    n += 1;
                    let q = msg.queue_id as usize;
                    let rec = MessageRecord {
                        magic: Magic::V1,
                        body_crc: 0,
                        queue_id: msg.queue_id,
                        flag: 0,
                        queue_offset: queue_offsets[q],
                        physical_offset: phys,
                        sys_flag: 0,
                        born_timestamp: msg.born_timestamp,
                        born_host: msg.born_host,
                        store_timestamp: msg.born_timestamp,
                        store_host: msg.store_host,
                        reconsume_times: 0,
                        prepared_transaction_offset: 0,
                        body: &msg.body,
                        topic: msg.topic.as_bytes(),
                        properties: msg.properties.as_bytes(),
                    };
                    let size = rec.encoded_len() as u32;
                    let t = Instant::now();
                    let req = DispatchRequest::from_record(&rec, size, &delay).unwrap();
                    d.dispatch(&mut d.lock(), &req).unwrap();
                    total += t.elapsed();
                    queue_offsets[q] += 1;
                    phys += size as i64;
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = dispatch
}
criterion_main!(benches);
