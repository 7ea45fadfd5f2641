//! Torn and corrupted tails at random byte positions: inside a record's header, body or
//! properties, inside a segment's blank record, and a consume queue's tail. Recovery must end
//! at or after the start of the damaged record, keep every record before it intact, never keep
//! anything after a cut, and never panic.

mod common;

use std::fs;

use common::{copy_store_to_temp, fixture, fixture_store_config, sha256_hex, ReaderMessage};
use proptest::prelude::*;
use rmqstore::MessageStore;

const SEG: u64 = 1_048_576;

fn records() -> Vec<ReaderMessage> {
    let r = fixture("4.6.0/async").reader();
    let mut v: Vec<ReaderMessage> = r
        .queues
        .iter()
        .flat_map(|q| q.messages.iter().cloned())
        .chain(r.messages_not_in_consume_queue.iter().cloned())
        .collect();
    v.sort_by_key(|m| m.commit_log_offset);
    v
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Everything from the position to the segment end reads as zeros (a write that never
    /// reached the disk in a pre-allocated file).
    Cut,
    /// One byte changed (a disk that returned garbage).
    Flip(u8),
}

/// Damages a copy of the 4.6.0 async store at physical offset `at`, recovers it writable, and
/// checks the invariants. `at` lies in record `target` or, if `None`, in a blank record.
fn damage_and_recover(at: u64, damage: Damage) {
    let all = records();
    let fx = fixture("4.6.0/async");
    let max = fx.reader().max_phy_offset as u64;
    let tmp = copy_store_to_temp(&fx);
    let seg_start = at / SEG * SEG;
    let seg_path = tmp.path().join(format!("commitlog/{seg_start:020}"));
    let mut bytes = fs::read(&seg_path).unwrap();
    let pos = (at - seg_start) as usize;
    match damage {
        Damage::Cut => bytes[pos..].fill(0),
        Damage::Flip(x) => bytes[pos] ^= x.max(1),
    }
    fs::write(&seg_path, &bytes).unwrap();

    let store = MessageStore::open(fixture_store_config(tmp.path()))
        .unwrap_or_else(|e| panic!("damage at {at} ({damage:?}): open failed: {e}"));
    let end = store.recovery_report().end_offset;
    // The record (or blank) the damage hit.
    let hit = all.iter().find(|m| {
        (m.commit_log_offset as u64) <= at && at < (m.commit_log_offset + m.store_size) as u64
    });
    let (start, stop) = match hit {
        Some(m) => (
            m.commit_log_offset as u64,
            (m.commit_log_offset + m.store_size) as u64,
        ),
        None => {
            // In a blank record: it ends its segment; recovery ends at its start or, if the
            // damage left a readable blank (e.g. in the bytes after its header), goes on.
            let blank_start = all
                .iter()
                .map(|m| (m.commit_log_offset + m.store_size) as u64)
                .filter(|&e| e <= at)
                .max()
                .unwrap_or(seg_start);
            (blank_start, seg_start + SEG)
        }
    };
    assert!(end >= start, "damage at {at} ({damage:?}): recovery ended at {end}, before the damaged record at {start}");
    match damage {
        // Nothing after a cut can be kept: the damaged record at most.
        Damage::Cut => assert!(
            end <= stop.min(max),
            "damage at {at}: cut, but recovery kept up to {end}"
        ),
        // A flip is kept only where Java's checks cannot see it; then everything after stays.
        Damage::Flip(_) => assert!(
            end == start || end == max,
            "damage at {at} ({damage:?}): recovery ended at {end}, expected {start} or {max}"
        ),
    }
    // Every record before the damaged one is intact and readable.
    for m in all
        .iter()
        .filter(|m| ((m.commit_log_offset + m.store_size) as u64) <= start)
    {
        let rec = store
            .get_by_phy_offset(m.commit_log_offset as u64)
            .unwrap_or_else(|| panic!("damage at {at}: record at {} lost", m.commit_log_offset));
        assert_eq!(
            sha256_hex(rec.bytes()),
            m.record_sha256,
            "damage at {at}: record at {}",
            m.commit_log_offset
        );
    }
    assert_eq!(store.max_phy_offset(), end);
}

/// The last segment's records, and the blank records that end the earlier segments.
fn damage_targets() -> Vec<(u64, u64)> {
    let all = records();
    let mut spans: Vec<(u64, u64)> = all
        .iter()
        .filter(|m| m.commit_log_offset as u64 >= 2 * SEG)
        .map(|m| {
            (
                m.commit_log_offset as u64,
                (m.commit_log_offset + m.store_size) as u64,
            )
        })
        .collect();
    for seg in 1..=2u64 {
        let blank = all
            .iter()
            .map(|m| (m.commit_log_offset + m.store_size) as u64)
            .filter(|&e| e <= seg * SEG)
            .max()
            .unwrap();
        spans.push((blank, (blank + 8).min(seg * SEG))); // the meaningful 8-byte header
    }
    spans
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn torn_or_flipped_anywhere_in_a_record(pick in any::<prop::sample::Index>(), within in 0.0f64..1.0, flip in any::<u8>(), cut in any::<bool>()) {
        let spans = damage_targets();
        let (s, e) = spans[pick.index(spans.len())];
        let at = s + ((e - s) as f64 * within) as u64;
        damage_and_recover(at.min(e - 1), if cut { Damage::Cut } else { Damage::Flip(flip) });
    }
}

#[test]
fn every_field_boundary_of_the_last_record() {
    // Header fields, the body, the properties: cut at each boundary of the last record.
    let last = records().pop().unwrap();
    let s = last.commit_log_offset as u64;
    let size = last.store_size as u64;
    for at in [
        0,
        4,
        8,
        20,
        28,
        36,
        56,
        84,
        88,
        size / 2,
        size - 20,
        size - 1,
    ] {
        damage_and_recover(s + at, Damage::Cut);
        damage_and_recover(s + at, Damage::Flip(0x55));
    }
}

#[test]
fn consume_queue_tail_cut_is_rebuilt_by_reput() {
    let fx = fixture("4.6.0/async");
    let reader = fx.reader();
    let tmp = copy_store_to_temp(&fx);
    let q = reader.queues.iter().max_by_key(|q| q.max_offset).unwrap();
    let dir = tmp
        .path()
        .join(format!("consumequeue/{}/{}", q.topic, q.queue_id));
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let last = files.last().unwrap();
    let mut b = fs::read(last).unwrap();
    let used = b
        .chunks(20)
        .take_while(|u| u.iter().any(|&x| x != 0))
        .count();
    // Tear the last 7 units: zeros, as a write that never reached the disk.
    b[(used - 7) * 20..used * 20].fill(0);
    fs::write(last, &b).unwrap();
    let store = MessageStore::open(fixture_store_config(tmp.path())).unwrap();
    assert_eq!(
        store.max_offset_in_queue(&q.topic, q.queue_id),
        q.max_offset as u64
    );
    let got = store.get_messages(&q.topic, q.queue_id, 0, usize::MAX);
    let want: Vec<i64> = q.messages.iter().map(|m| m.commit_log_offset).collect();
    let have: Vec<i64> = got.messages.iter().map(|r| r.offset() as i64).collect();
    assert_eq!(have, want);
}
