//! Consume-queue units and `ConsumeQueue::recover` over arbitrary files.
//!
//! Input: byte 0 picks the file size (1..=16 units of 20 bytes), byte 1 the number of files
//! (1..=3), bytes 2..10 a commitlog offset to truncate at; the rest fills the files in order
//! (zero-padded). The queue is loaded writable from a per-process temp dir, recovered, read,
//! truncated and appended to; a read-only load of the same files must recover to the same end.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rmqstore::consume_queue::ConsumeQueue;
use rmqstore::format::{CqUnit, CQ_UNIT_SIZE};
use rmqstore::mapped_file::offset_to_file_name;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        // RAM-backed when possible: the store fsyncs, and exec/s is what finds bugs.
        let t = tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .unwrap();
        let p = t.path().join("cq");
        (t, p)
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    for chunk in data.chunks(CQ_UNIT_SIZE) {
        match CqUnit::decode(chunk) {
            Ok(u) => assert_eq!(&u.encode()[..], chunk),
            Err(_) => assert!(chunk.len() < CQ_UNIT_SIZE),
        }
    }
    if data.len() < 10 {
        return;
    }
    let units = 1 + (data[0] as usize % 16);
    let file_size = units * CQ_UNIT_SIZE;
    let nfiles = 1 + (data[1] as usize % 3);
    let cut = i64::from_be_bytes(data[2..10].try_into().unwrap());
    let body = &data[10..];

    let dir = dir();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..nfiles {
        let mut content = vec![0u8; file_size];
        let from = (i * file_size).min(body.len());
        let to = ((i + 1) * file_size).min(body.len());
        content[..to - from].copy_from_slice(&body[from..to]);
        let name = offset_to_file_name((i * file_size) as u64);
        std::fs::write(dir.join(name), content).unwrap();
    }

    let ro = ConsumeQueue::load(dir, "T", 0, file_size, false).unwrap();
    ro.recover().unwrap();
    let ro_max = ro.max_offset_in_queue();
    drop(ro);

    let q = ConsumeQueue::load(dir, "T", 0, file_size, true).unwrap();
    q.recover().unwrap();
    let max = q.max_offset_in_queue();
    assert_eq!(max, ro_max, "read-only and writable recovery disagree");
    assert!(max as usize <= nfiles * units);
    for i in 0..max {
        let u = q
            .get_unit(i)
            .expect("a unit below the recovered end is readable");
        assert!(u.is_valid(), "recovery kept an invalid unit at {i}: {u:?}");
    }
    assert!(q.get_unit(max).is_none());
    assert!(q.get_unit(u64::MAX).is_none());
    q.correct_min_offset(cut);
    assert!(q.min_offset_in_queue() <= q.max_offset_in_queue().max(q.min_offset_in_queue()));
    q.truncate_dirty_logic_files(cut).unwrap();
    let after = q.max_offset_in_queue();
    assert!(after <= max);
    let next = q.max_physic_offset().max(0).saturating_add(1);
    if next < i64::MAX / 2 {
        let _ = q.put_position_info(next, 10, 0, after as i64).unwrap();
    }
});
