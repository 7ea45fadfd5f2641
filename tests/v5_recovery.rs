//! The store's own recovery under target version 5.3.3, rule by rule against what Java 5.3.3's
//! `CommitLog#recoverNormally` / `checkMessageAndReturnSize` and `DefaultMessageStore
//! #createTempFile` do (`src/v5/recovery.rs`). Java's own answer for the `__CRC32#` case is in
//! `tests/v5_java.rs` (`java_5_3_3_truncates_a_record_whose_crc_property_is_wrong`, run by
//! `interop/v5-features/run.sh`).

mod common;

use std::path::Path;

use rmqstore::v5::TargetVersion;
use rmqstore::{Message, MessageStore, StoreConfig};

const SEG: u64 = 64 * 1024;

fn config(root: &Path, target: TargetVersion, crc: bool) -> StoreConfig {
    let mut c = StoreConfig::with_root(root).with_target_version(target);
    c.enabled_append_prop_crc = crc;
    c.mapped_file_size_commit_log = SEG as usize;
    c.mapped_file_size_consume_queue_raw = 4000;
    c.max_hash_slot_num = 100;
    c.max_index_num = 400;
    c
}

/// Writes `n` messages of about 1 KiB; returns every record's offset and the end.
fn write(root: &Path, target: TargetVersion, crc: bool, n: usize) -> (Vec<u64>, u64) {
    let store = MessageStore::open(config(root, target, crc)).unwrap();
    let mut offs = Vec::new();
    for i in 0..n {
        let body = vec![b'a' + (i % 26) as u8; 900 + i % 200];
        let r = store
            .put_message(
                &Message::new("TopicTest", (i % 2) as i32, body).with_keys(&format!("k{i}")),
            )
            .unwrap();
        offs.push(r.append.unwrap().wrote_offset as u64);
    }
    let end = store.max_phy_offset();
    store.shutdown().unwrap();
    (offs, end)
}

fn flip(root: &Path, offset: u64, byte: u64) {
    let seg = root
        .join("commitlog")
        .join(format!("{:020}", offset / SEG * SEG));
    let mut b = std::fs::read(&seg).unwrap();
    b[(offset % SEG + byte) as usize] ^= 1;
    std::fs::write(&seg, b).unwrap();
}

fn reopen(root: &Path, target: TargetVersion, force: bool) -> u64 {
    let mut c = config(root, target, false);
    c.force_verify_prop_crc = force;
    let s = MessageStore::open(c).unwrap();
    let end = s.max_phy_offset();
    s.shutdown().unwrap();
    end
}

#[test]
fn force_verify_prop_crc_truncates_at_a_record_whose_crc_property_is_wrong() {
    // The queueOffset field (record bytes 20..28) is covered by __CRC32#, not by the body CRC:
    // Java 5.3.3 with forceVerifyPropCRC ends recovery at that record (tests/v5_java.rs).
    for (target, force, truncated) in [
        (TargetVersion::V5_3_3, true, true),
        (TargetVersion::V5_3_3, false, false),
        // A 5.x setting: ignored under 4.6.0, whose recovery checks body CRCs only.
        (TargetVersion::V4_6_0, true, false),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (offs, end) = write(tmp.path(), TargetVersion::V5_3_3, true, 200);
        let last = *offs.last().unwrap();
        flip(tmp.path(), last, 27);
        let got = reopen(tmp.path(), target, force);
        assert_eq!(
            got,
            if truncated { last } else { end },
            "{target} forceVerifyPropCRC={force}"
        );
    }
}

#[test]
fn force_verify_prop_crc_ends_recovery_at_a_record_without_the_property() {
    // checkMessageAndReturnSize: "not found CRC in properties" fails the record, so a store
    // written without enabledAppendPropCRC recovers to the start of the scan.
    let tmp = tempfile::tempdir().unwrap();
    let (offs, end) = write(tmp.path(), TargetVersion::V5_3_3, false, 20);
    assert!(end < SEG && offs[0] == 0);
    assert_eq!(reopen(tmp.path(), TargetVersion::V5_3_3, true), 0);
    // With the property on every record, nothing is lost.
    let tmp = tempfile::tempdir().unwrap();
    let (_, end) = write(tmp.path(), TargetVersion::V5_3_3, true, 20);
    assert_eq!(reopen(tmp.path(), TargetVersion::V5_3_3, true), end);
}

#[test]
fn normal_recovery_starts_at_the_segment_holding_the_queue_end_under_5x() {
    // Five segments; a body byte of a record in the third-last segment is broken. 4.6.0's
    // recoverNormally scans the last three segments and truncates there; 5.3.3's starts at the
    // segment holding the consume queues' end (the last) and never sees it.
    let tmp = tempfile::tempdir().unwrap();
    let (offs, end) = write(tmp.path(), TargetVersion::V4_6_0, false, 300);
    let segs = end / SEG + 1;
    assert!(segs >= 5, "{segs} segments");
    let third_last = (segs - 3) * SEG;
    let victim = *offs.iter().find(|&&o| o > third_last + 100).unwrap();
    assert!(victim < third_last + SEG);
    flip(tmp.path(), victim, 200);
    let copy = tempfile::tempdir().unwrap();
    common::copy_tree(tmp.path(), copy.path()).unwrap();
    assert_eq!(reopen(copy.path(), TargetVersion::V5_3_3, false), end);
    let s =
        MessageStore::open_read_only(config(copy.path(), TargetVersion::V5_3_3, false)).unwrap();
    assert_eq!(s.recovery_report().start_offset, (segs - 1) * SEG);
    drop(s);
    assert_eq!(reopen(tmp.path(), TargetVersion::V4_6_0, false), victim);
}

#[test]
fn abort_holds_the_pid_under_5x_and_the_previous_content_goes_to_abort_bak() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), TargetVersion::V5_3_3, false, 3);
    // A clean 5.3.3 stop leaves an empty abort.bak and no abort, as in every 5.3.3 fixture.
    assert!(!tmp.path().join("abort").exists());
    assert_eq!(std::fs::read(tmp.path().join("abort.bak")).unwrap(), b"");
    for f in ["async", "crc", "batchcq", "lmq", "timer", "epoch"] {
        let java = common::fixture(&format!("5.3.3/{f}")).store_dir;
        assert!(!java.join("abort").exists(), "{f}");
        assert_eq!(std::fs::read(java.join("abort.bak")).unwrap(), b"", "{f}");
    }
    // While open: abort holds the PID; a crashed run's PID moves to abort.bak.
    std::fs::write(tmp.path().join("abort"), "4242").unwrap();
    let s = MessageStore::open(config(tmp.path(), TargetVersion::V5_3_3, false)).unwrap();
    assert!(s.recovery_report().abnormal);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("abort")).unwrap(),
        std::process::id().to_string()
    );
    assert_eq!(
        std::fs::read(tmp.path().join("abort.bak")).unwrap(),
        b"4242"
    );
    assert!(!tmp.path().join("abort.tmp").exists());
    s.shutdown().unwrap();
    // 4.6.0 writes an empty abort and no abort.bak.
    let tmp = tempfile::tempdir().unwrap();
    let s = MessageStore::open(config(tmp.path(), TargetVersion::V4_6_0, false)).unwrap();
    assert_eq!(std::fs::read(tmp.path().join("abort")).unwrap(), b"");
    assert!(!tmp.path().join("abort.bak").exists());
    s.shutdown().unwrap();
}

#[test]
fn the_5x_checkpoint_fields_are_kept_through_a_5x_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (first_run, _) = write(tmp.path(), TargetVersion::V5_3_3, false, 3);
    let cp = tmp.path().join("checkpoint");
    let mut b = std::fs::read(&cp).unwrap();
    b[24..32].copy_from_slice(&777i64.to_be_bytes());
    b[32..40].copy_from_slice(&555i64.to_be_bytes());
    std::fs::write(&cp, &b).unwrap();
    write(tmp.path(), TargetVersion::V5_3_3, false, 3);
    let after = std::fs::read(&cp).unwrap();
    // masterFlushedOffset is kept; confirmPhyOffset is what 5.3.3's recovery sets outside
    // controller mode: the start of the last record it found (puts do not move it; §12.1,
    // tests/v5_confirm_offset.rs, tests/v5_java.rs).
    assert_eq!(&after[24..32], &b[24..32]);
    let last = *first_run.last().unwrap() as i64;
    assert_eq!(&after[32..40], &last.to_be_bytes());
    assert_ne!(&after[..8], &b[..8], "the run advanced the checkpoint");
}
