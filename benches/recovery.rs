//! Opening a store of 64 MiB of 128 B messages (one 1 GiB segment): normal recovery after a
//! clean shutdown, and abnormal recovery with the abort file present (the whole segment is
//! scanned with CRC checks and re-dispatched). The clean shutdown after each open is not timed.

mod common;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rmqstore::MessageStore;

const STORE_BYTES: u64 = 64 << 20;

fn recovery(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(dir.path(), common::Mode::Async);
    {
        let store = MessageStore::open(config.clone()).unwrap();
        let mut msg = common::message(128);
        let mut n = 0;
        while store.max_phy_offset() < STORE_BYTES {
            common::fill_message(&mut msg, 0, n);
            n += 1;
            assert!(store.put_message(&msg).unwrap().is_ok());
        }
        store.shutdown().unwrap();
    }
    let mut g = c.benchmark_group("recovery");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(STORE_BYTES));
    for abnormal in [false, true] {
        let name = if abnormal { "abnormal" } else { "normal" };
        g.bench_function(BenchmarkId::new(name, "64MiB"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    if abnormal {
                        std::fs::write(config.abort_path(), b"").unwrap();
                    }
                    let t = Instant::now();
                    let store = MessageStore::open(config.clone()).unwrap();
                    total += t.elapsed();
                    assert_eq!(store.recovery_report().abnormal, abnormal);
                    assert!(store.max_phy_offset() >= STORE_BYTES);
                    store.shutdown().unwrap();
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
    targets = recovery
}
criterion_main!(benches);
