//! Whole-store recovery over an arbitrary last commitlog segment and consume-queue file.
//!
//! Input layout: byte 0 = flags (bit 0: an abort file, i.e. a crash; bit 1: check body CRCs
//! on recovery; bit 2: message index on), byte 1 = number of 20-byte consume-queue units that
//! follow (0..=100, for `consumequeue/TopicTest/0`), then those units, then the commitlog
//! segment `00000000000000000000` (zero-padded or cut to 64 KiB).
//!
//! The store is opened read-only, then writable, then read-only again after a put. Invariants:
//! nothing panics; the recovered end lies inside the segment; both modes agree on it; every
//! record below the end decodes; reads through the consume queues and the index stay in
//! bounds; a message put after recovery reads back.
#![no_main]

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rmqstore::format::CQ_UNIT_SIZE;
use rmqstore::mapped_file::offset_to_file_name;
use rmqstore::{Message, MessageStore, StoreConfig};

const SEG: usize = 64 * 1024;
const CQ_UNITS: usize = 100;

fn root() -> &'static PathBuf {
    static R: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &R.get_or_init(|| {
        // RAM-backed when possible: the store fsyncs, and exec/s is what finds bugs.
        let t = tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .unwrap();
        let p = t.path().join("store");
        (t, p)
    })
    .1
}

fn config(flags: u8) -> StoreConfig {
    let mut c = StoreConfig::with_root(root());
    c.mapped_file_size_commit_log = SEG;
    c.mapped_file_size_consume_queue_raw = CQ_UNITS * CQ_UNIT_SIZE;
    c.max_hash_slot_num = 16;
    c.max_index_num = 64;
    c.check_crc_on_recover = flags & 2 != 0;
    c.message_index_enable = flags & 4 != 0;
    // No background threads: the flush services, cleanup and prefaulting are not what this
    // target checks, they cost most of an execution, and their timing makes runs less
    // reproducible. The put still goes through dispatch, and shutdown flushes everything.
    c.background_services = false;
    c
}

/// Reads everything the store offers and checks what must hold whatever the input.
fn exercise(store: &MessageStore) -> u64 {
    let min = store.min_phy_offset();
    let max = store.max_phy_offset();
    assert!(min <= max);
    assert!(max <= SEG as u64, "recovered end {max} beyond the segment");
    let mut n = 0;
    for r in store.records() {
        let r = r.expect("every record below the recovered end decodes");
        assert!(r.offset() + r.size() as u64 <= max);
        r.decode().expect("a record from records() decodes");
        n += 1;
        assert!(n <= SEG / 91, "more records than fit the segment");
    }
    for cq in store.consume_queues().all() {
        let (t, q) = (cq.topic().to_string(), cq.queue_id());
        let got = store.get_messages(&t, q, store.min_offset_in_queue(&t, q), 32);
        assert!(got.messages.len() <= 32);
        for m in &got.messages {
            let _ = m.decode();
            let _ = m.bytes().len();
        }
        let _ = store.get_messages(&t, q, u64::MAX, 32);
    }
    for key in ["k", "key-0", "key-1", "UNIQ"] {
        for r in store.query_messages_by_key("TopicTest", key, 64, 0, i64::MAX) {
            r.decode().expect("a key hit is a checked record");
        }
    }
    for off in [0, 1, 8, 91, max.saturating_sub(1), max, u64::MAX] {
        if let Some(r) = store.get_by_phy_offset(off) {
            let _ = r.decode();
        }
    }
    max
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let flags = data[0];
    let units = (data[1] as usize) % (CQ_UNITS + 1);
    let rest = &data[2..];
    let cq_len = (units * CQ_UNIT_SIZE).min(rest.len());
    let (cq_bytes, seg_bytes) = rest.split_at(cq_len);

    let root = root();
    let _ = fs::remove_dir_all(root);
    let cl = root.join("commitlog");
    fs::create_dir_all(&cl).unwrap();
    let mut seg = vec![0u8; SEG];
    let n = seg_bytes.len().min(SEG);
    seg[..n].copy_from_slice(&seg_bytes[..n]);
    fs::write(cl.join(offset_to_file_name(0)), &seg).unwrap();
    if units > 0 {
        let qdir = root.join("consumequeue/TopicTest/0");
        fs::create_dir_all(&qdir).unwrap();
        let mut cq = vec![0u8; CQ_UNITS * CQ_UNIT_SIZE];
        cq[..cq_bytes.len()].copy_from_slice(cq_bytes);
        fs::write(qdir.join(offset_to_file_name(0)), &cq).unwrap();
    }
    if flags & 1 != 0 {
        fs::write(root.join("abort"), b"").unwrap();
    }

    let ro_end = match MessageStore::open_read_only(config(flags)) {
        Ok(s) => exercise(&s),
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let rw_end = {
        let store = MessageStore::open(config(flags)).expect("read-only open worked");
        let end = exercise(&store);
        // The store is usable after recovery: a new message goes in and reads back.
        let body = b"after-recovery".to_vec();
        let r = store
            .put_message(&Message::new("Fz", 0, body.clone()).with_keys("fz-key"))
            .unwrap();
        assert!(r.is_ok(), "{r:?}");
        let off = store.max_offset_in_queue("Fz", 0) - 1;
        let got = store.get_messages("Fz", 0, off, 1);
        assert_eq!(got.messages.len(), 1);
        assert_eq!(got.messages[0].decode().unwrap().body, &body[..]);
        store.shutdown().unwrap();
        end
    };
    assert_eq!(
        ro_end, rw_end,
        "read-only and writable recovery disagree on the end"
    );
    let s = MessageStore::open_read_only(config(flags)).unwrap();
    exercise(&s);
    let off = s.max_offset_in_queue("Fz", 0) - 1;
    let got = s.get_messages("Fz", 0, off, 1);
    assert_eq!(
        got.messages.len(),
        1,
        "a put acknowledged before shutdown is lost"
    );
});
