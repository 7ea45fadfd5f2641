//! Index files: open an arbitrary index file (read-only and writable) and run queries, whose
//! hash-chain walks must stay bounded whatever the slots and `prev` links say (cycles, links
//! past the end, negative counts); then append keys to the writable copy and find them.
//!
//! Input: byte 0 picks the slot count (1..=16), byte 1 the entry count (2..=64); the rest is
//! the file (zero-padded or cut to the geometry's exact length).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rmqstore::format::index::index_file_size;
use rmqstore::index::{IndexFile, IndexService};

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        // RAM-backed when possible: the store fsyncs, and exec/s is what finds bugs.
        let t = tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .unwrap();
        let p = t.path().join("index");
        (t, p)
    })
    .1
}

const KEYS: [&str; 12] = [
    "T#k0", "T#k1", "T#k2", "T#k3", "T#k4", "T#k5", "T#k6", "T#k7", "T#a", "T#b", "T#c", "T#d",
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let slots = 1 + (data[0] as u32 % 16);
    let entries = 2 + (data[1] as u32 % 63);
    let size = index_file_size(slots, entries);
    let mut content = vec![0u8; size];
    let body = &data[2..];
    let n = body.len().min(size);
    content[..n].copy_from_slice(&body[..n]);

    let dir = dir();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("20240101000000000");
    std::fs::write(&path, &content).unwrap();

    let ro = IndexFile::open(&path, slots, entries, true).unwrap();
    for key in KEYS {
        for (begin, end) in [(0, i64::MAX), (i64::MIN, i64::MAX), (1_000, 2_000)] {
            let got = ro.select_phy_offsets(key, 64, begin, end);
            assert!(got.len() <= 64);
        }
        // A chain can list an entry at most once per link it has.
        assert!(ro.select_phy_offsets(key, usize::MAX, 0, i64::MAX).len() <= entries as usize);
    }
    let _ = ro.disk_header();
    for s in 0..=slots {
        let _ = ro.slot(s);
    }
    for e in 0..=entries {
        let _ = ro.entry(e);
    }
    drop(ro);

    let svc = IndexService::open(dir, slots, entries, true).unwrap();
    for key in ["k0", "k1", "a"] {
        assert!(svc.query("T", key, usize::MAX, 0, i64::MAX).len() <= entries as usize);
    }
    drop(svc);

    let mut rw = IndexFile::open(&path, slots, entries, false).unwrap();
    let room = !rw.is_write_full();
    let put = rw.put_key("T#new", 4242, 1_700_000_000_000);
    assert_eq!(put, room);
    if put {
        let found = rw.select_phy_offsets("T#new", 64, 0, i64::MAX);
        // The new entry heads its chain, so it is found unless the header's begin timestamp
        // (from the input) puts its time outside the range.
        let h = rw.header();
        if h.begin_timestamp > 0 && h.begin_timestamp <= 1_700_000_000_000 {
            assert!(found.contains(&4242), "{found:?} {h:?}");
        }
    }
});
