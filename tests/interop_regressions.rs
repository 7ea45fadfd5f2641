//! Regressions found by the Java-in-the-loop suite (`interop/run.sh`), pinned here so plain
//! `cargo test` (no Java) keeps them fixed.

use rmqstore::format::properties;
use rmqstore::{Message, MessageStore, StoreConfig};

/// Java 4.6.0 clamps a delay level above the highest (18 by default) and writes the clamped
/// level back into the DELAY property before re-serializing the properties
/// (`msg.setDelayTimeLevel(maxDelayLevel)`); rmqstore kept the caller's level in DELAY.
/// Found by interop seed 1 (`differential 4.6.0`): the record differed in DELAY's value.
#[test]
fn delay_above_the_highest_level_is_written_back_clamped() {
    let tmp = tempfile::tempdir().unwrap();
    let store = MessageStore::open(StoreConfig::with_root(tmp.path())).unwrap();
    let msg = Message::new("TopicTest", 0, b"x".to_vec())
        .with_property("DELAY", "20")
        .with_property("UNIQ_KEY", "ABC");
    let r = store.put_message(&msg).unwrap();
    assert!(r.is_ok(), "{r:?}");
    let off = r.append.unwrap().wrote_offset as u64;
    let rec = store.get_by_phy_offset(off).unwrap();
    let rec = rec.decode().unwrap();
    assert_eq!(rec.topic, b"SCHEDULE_TOPIC_XXXX");
    assert_eq!(rec.queue_id, 17);
    assert_eq!(
        properties::get(rec.properties, "DELAY").as_deref(),
        Some("18")
    );
    store.shutdown().unwrap();
}
