//! Times abnormal recovery (abort file present) of a store of N MiB of 128 B messages, for
//! profiling: `cargo run --release --example recoverbench -- 256`.
use rmqstore::*;
use std::time::Instant;
fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(256);
    let dir = std::env::temp_dir().join(format!("recoverbench-{}", std::process::id()));
    let config = StoreConfig::with_root(&dir);
    {
        let store = MessageStore::open(config.clone()).unwrap();
        let body = vec![b'x'; 128];
        let mut i = 0u64;
        while store.max_phy_offset() < mib << 20 {
            let m = Message::new("BenchTopic", i as i32 % 4, body.clone())
                .with_property("UNIQ_KEY", &format!("C0A8000100002A9F{i:016X}"))
                .with_property("TAGS", "TagA")
                .with_keys(&format!("key-{i}"));
            store.put_message(&m).unwrap();
            i += 1;
        }
        store.shutdown().unwrap();
    }
    std::fs::write(config.abort_path(), b"").unwrap();
    let t = Instant::now();
    let store = MessageStore::open(config.clone()).unwrap();
    let e = t.elapsed();
    let r = store.recovery_report().clone();
    println!(
        "abnormal recovery of {} MiB from offset {}: {:?} ({:.0} MB/s)",
        r.end_offset >> 20,
        r.start_offset,
        e,
        (r.end_offset - r.start_offset) as f64 / e.as_secs_f64() / 1e6
    );
    drop(store);
    if std::env::var_os("KEEP").is_some() {
        println!("kept {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
