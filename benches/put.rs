//! `put_message` through a real store under each flush mode: ASYNC_FLUSH and the transient
//! store pool with 128 B, 1 KiB and 4 KiB bodies and 1 or 4 writers; SYNC_FLUSH with 1, 4,
//! 16 and 64 writers (128 B) and 1 writer for the larger bodies. One element is one message;
//! with several writers the time is the wall time of all of them together.

mod common;

use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::Mode;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rmqstore::MessageStore;

fn put(c: &mut Criterion) {
    let mut cells = Vec::new();
    for mode in [Mode::Async, Mode::Transient] {
        for size in [128usize, 1024, 4096] {
            for threads in [1usize, 4] {
                cells.push((mode, size, threads));
            }
        }
    }
    for threads in [1usize, 4, 16, 64] {
        cells.push((Mode::Sync, 128, threads));
    }
    for size in [1024usize, 4096] {
        cells.push((Mode::Sync, size, 1));
    }

    let mut g = c.benchmark_group("put");
    g.throughput(Throughput::Elements(1));
    for (mode, size, threads) in cells {
        if mode == Mode::Sync {
            g.sample_size(10);
        } else {
            g.sample_size(20);
        }
        let dir = tempfile::tempdir().unwrap();
        let store = MessageStore::open(common::config(dir.path(), mode)).unwrap();
        let mut next = vec![0u64; threads];
        let id = BenchmarkId::new(mode.name(), format!("{size}B/{threads}w"));
        g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(threads as u64);
                let barrier = Barrier::new(threads + 1);
                let elapsed = std::thread::scope(|s| {
                    for (t, next) in next.iter_mut().enumerate() {
                        let store = &store;
                        let barrier = &barrier;
                        s.spawn(move || {
                            let mut msg = common::message(size);
                            barrier.wait();
                            for _ in 0..per_thread {
                                common::fill_message(&mut msg, t, *next);
                                *next += 1;
                                let r = store.put_message(&msg).unwrap();
                                assert!(r.is_ok(), "{r:?}");
                            }
                        });
                    }
                    barrier.wait();
                    Instant::now()
                });
                // Wall time of all writers, scaled to `iters` messages.
                let wall = elapsed.elapsed();
                let done = per_thread * threads as u64;
                Duration::from_secs_f64(wall.as_secs_f64() * iters as f64 / done as f64)
            })
        });
        store.shutdown().unwrap();
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = put
}
criterion_main!(benches);
