//! The offline tools over a store of 64 MiB of 128 B messages (one 1 GiB segment, 4 queues,
//! the index on): `verify` (read-only: every record, consume-queue unit and index entry
//! cross-checked), and `rebuild` of the consume queues, index and checkpoint into a new
//! folder (`--out`, including the copy of the commitlog) and in place. The store is written
//! once; each rebuild's output is removed outside the timing.

mod common;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rmqstore::inspect::rebuild::{rebuild, RebuildOptions, RebuildTarget};
use rmqstore::inspect::verify::{verify, VerifyOptions};
use rmqstore::MessageStore;

const STORE_BYTES: u64 = 64 << 20;

fn inspect(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let config = common::config(&root, common::Mode::Async);
    let mut messages = 0u64;
    {
        let store = MessageStore::open(config.clone()).unwrap();
        let mut msg = common::message(128);
        while store.max_phy_offset() < STORE_BYTES {
            common::fill_message(&mut msg, 0, messages);
            messages += 1;
            assert!(store.put_message(&msg).unwrap().is_ok());
        }
        store.shutdown().unwrap();
    }
    let mut g = c.benchmark_group("inspect");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(STORE_BYTES));
    g.bench_function(BenchmarkId::new("verify", "64MiB"), |b| {
        b.iter(|| {
            let r = verify(&root, &VerifyOptions::default()).unwrap();
            assert_eq!(r.exit_code(), 0, "{:?}", r.findings);
            r
        })
    });
    g.bench_function(BenchmarkId::new("rebuild_out", "64MiB"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let out = dir.path().join("rebuilt");
                let opts = RebuildOptions::new(RebuildTarget::Out(out.clone()));
                let t = Instant::now();
                let r = rebuild(&root, &opts).unwrap();
                total += t.elapsed();
                assert_eq!(r.records, messages);
                std::fs::remove_dir_all(&out).unwrap();
            }
            total
        })
    });
    g.bench_function(BenchmarkId::new("rebuild_in_place", "64MiB"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let opts = RebuildOptions::new(RebuildTarget::InPlace);
                let t = Instant::now();
                let r = rebuild(&root, &opts).unwrap();
                total += t.elapsed();
                assert_eq!(r.records, messages);
                for b in r.backups {
                    if b.is_dir() {
                        std::fs::remove_dir_all(&b).unwrap();
                    } else {
                        std::fs::remove_file(&b).unwrap();
                    }
                }
            }
            total
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = inspect
}
criterion_main!(benches);
