//! The offline tools' recovery end (`inspect::content`, used by `verify`, `stat`, `rebuild`)
//! follows the target version's normal-recovery start: with 5.3.3, the segment holding the
//! consume queues' largest physical end (`CommitLog#recoverNormally(maxPhyOffsetOfConsumeQueue)`),
//! read from the queues on disk; with 4.6.0, the third-last segment. On a copy of the 3-segment
//! store Java 5.3.3 wrote (`tests/fixtures/java/rocketmq-5.3.3/async`) with a broken record in
//! its first segment: 5.x keeps the whole log, 4.6.0 ends at the broken record, as the store's
//! own open does for each target (`tests/v5_recovery.rs`, `tests/v5_java.rs`).

mod common;

use common::{copy_store_to_temp, fixture};
use rmqstore::inspect::content::store_content;
use rmqstore::inspect::{discover_config, GeometryOverrides};
use rmqstore::v5::TargetVersion;
use rmqstore::MessageStore;

#[test]
fn offline_recovery_end_follows_the_target_versions_start_rule() {
    let tmp = copy_store_to_temp(&fixture("5.3.3/async"));
    let base = discover_config(tmp.path(), &GeometryOverrides::default()).unwrap();
    let seg = base.mapped_file_size_commit_log as u64;
    let (whole, files) = store_content(&base).unwrap();
    assert_eq!(files.len(), 3, "three segments");
    let full_end = whole.end;
    assert!(full_end > 2 * seg, "the log reaches the third segment");
    // A record in the middle of the first segment: flip one body byte (its body CRC breaks).
    let store = MessageStore::open_read_only(base.clone()).unwrap();
    let victim = store
        .records()
        .map(|r| r.unwrap().offset())
        .find(|o| *o > seg / 2)
        .unwrap();
    let rec = store.get_by_phy_offset(victim).unwrap();
    let size = rec.size() as u64;
    let d = rec.decode().unwrap();
    // The body's last byte: after it come the topic (1-byte length for V1) and properties.
    assert!(d.topic.len() <= 127 && !d.body.is_empty());
    let tail = 1 + d.topic.len() as u64 + 2 + d.properties.len() as u64;
    let body_last = victim + size - tail - 1;
    drop(store);
    drop(files);
    let path = tmp.path().join("commitlog/00000000000000000000");
    let mut b = std::fs::read(&path).unwrap();
    b[body_last as usize] ^= 1; // its body CRC no longer matches
    std::fs::write(&path, b).unwrap();
    for (target, want) in [
        (TargetVersion::V5_3_3, full_end),
        (TargetVersion::V4_6_0, victim),
    ] {
        let c = base.clone().with_target_version(target);
        let (content, _) = store_content(&c).unwrap();
        assert_eq!(content.end, want, "offline end with target {target}");
        // The store's own read-only open agrees.
        let s = MessageStore::open_read_only(c).unwrap();
        assert_eq!(s.max_phy_offset(), want, "store open with target {target}");
    }
}
