//! A quick put-throughput probe for profiling (perf, callgrind): `cargo run --release --example putbench -- 1000000`.
//! The honest numbers come from `rmqstore bench`.
use rmqstore::*;
use std::time::Instant;
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(2_000_000);
    let dir = std::env::temp_dir().join(format!("putbench-{}", std::process::id()));
    let mut c = StoreConfig::with_root(&dir);
    c.mapped_file_size_commit_log = 1 << 30;
    let store = MessageStore::open(c).unwrap();
    let body = vec![b'x'; 128];
    let msgs: Vec<Message> = (0..1000)
        .map(|i| {
            Message::new("BenchTopic", i % 4, body.clone())
                .with_property("UNIQ_KEY", &format!("C0A8000100002A9F{:016X}", i))
                .with_property("TAGS", "TagA")
                .with_keys(&format!("key-{i}"))
        })
        .collect();
    let t = Instant::now();
    for i in 0..n {
        let r = store.put_message(&msgs[i % 1000]).unwrap();
        assert!(r.is_ok());
    }
    let e = t.elapsed();
    println!(
        "{n} puts in {:?}: {:.0} msg/s",
        e,
        n as f64 / e.as_secs_f64()
    );
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}
