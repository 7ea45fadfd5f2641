//! 5.x write semantics against Java 5.3.3's bytes: replaying the 5.3.3 fixtures' messages (in
//! put order, with their original values) into an empty store opened with target version 5.3.3
//! must reproduce Java's commitlog (V2 records for long topics, and with `enabledAppendPropCRC`
//! every record's `__CRC32#` recomputed at its position), consume queues, and index files
//! (5.x hashSlotCount rule).

use rmqstore::format::{decode_record, Decoded};
use rmqstore::v5::TargetVersion;
use rmqstore::{Message, MessageStore};
use serde_json::Value;

mod common;
use common::fixture_store_config;
use common::replay::replay_fixture_with;

/// Was the fixture written with `enabledAppendPropCRC=true`?
fn fx_crc(manifest: &Value) -> bool {
    manifest["storeConfigChanged"]["enabledAppendPropCRC"] == Value::Bool(true)
}

fn replay_fixture_5x(name: &str) {
    replay_fixture_with(name, |root, manifest| {
        let mut config = fixture_store_config(root).with_target_version(TargetVersion::V5_3_3);
        config.enabled_append_prop_crc = fx_crc(manifest);
        config
    });
}

#[test]
fn replay_5_3_3_crc_in_5x_mode_reproduces_java_bytes() {
    replay_fixture_5x("rocketmq-5.3.3/crc");
}

#[test]
fn replay_5_3_3_async_in_5x_mode_reproduces_java_bytes() {
    replay_fixture_5x("rocketmq-5.3.3/async");
}

#[test]
fn broker_properties_choose_the_target_version() {
    let (c, w) = rmqstore::StoreConfig::from_properties(
        "rmqstoreTargetVersion=5.3.3\nenabledAppendPropCRC=true\n",
    )
    .unwrap();
    assert_eq!(c.target_version, TargetVersion::V5_3_3);
    assert!(c.auto_message_version_on_topic_len, "5.x default");
    assert!(c.appends_prop_crc());
    assert!(w.is_empty(), "{w:?}");
    assert!(c.validate().unwrap().is_empty());

    // Without the target version, the 5.x key is read but has no effect, and says so.
    let (c, _) = rmqstore::StoreConfig::from_properties("enabledAppendPropCRC=true\n").unwrap();
    assert_eq!(c.target_version, TargetVersion::V4_6_0);
    assert!(!c.appends_prop_crc() && !c.auto_message_version_on_topic_len);
    assert!(c
        .validate()
        .unwrap()
        .iter()
        .any(|w| w.contains("enabledAppendPropCRC")));

    // An explicit autoMessageVersionOnTopicLen wins over the 5.x default.
    let (c, _) = rmqstore::StoreConfig::from_properties(
        "rmqstoreTargetVersion=5.3.3\nautoMessageVersionOnTopicLen=false\n",
    )
    .unwrap();
    assert!(!c.auto_message_version_on_topic_len);

    let e = rmqstore::StoreConfig::from_properties("rmqstoreTargetVersion=4.9.8\n").unwrap_err();
    assert!(e.to_string().contains("4.9.8"), "{e}");
}

#[test]
fn puts_in_5x_mode_carry_a_valid_crc_property_and_4x_mode_none() {
    for (target, crc) in [(TargetVersion::V5_3_3, true), (TargetVersion::V4_6_0, true)] {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = fixture_store_config(tmp.path()).with_target_version(target);
        c.enabled_append_prop_crc = crc;
        let store = MessageStore::open(c.clone()).unwrap();
        let m = Message::new("T", 0, b"hello".to_vec())
            .with_keys("k1")
            .with_property("__CRC32#", "9999999999");
        let r = store.put_message(&m).unwrap();
        let off = r.append.unwrap().wrote_offset as u64;
        let rec = store.get_by_phy_offset(off).unwrap();
        let bytes = rec.bytes().to_vec();
        let Decoded::Message { record, .. } = decode_record(&bytes, true).unwrap() else {
            panic!("not a message");
        };
        let props = String::from_utf8_lossy(record.properties).into_owned();
        if c.appends_prop_crc() {
            rmqstore::format::record::verify_property_crc(&bytes).unwrap();
            assert_eq!(props.matches("__CRC32#").count(), 1, "{props:?}");
            assert!(!props.contains("9999999999"), "{props:?}");
        } else {
            // 4.6.0 stores what it was given.
            assert!(props.contains("__CRC32#\u{1}9999999999"), "{props:?}");
        }
        store.shutdown().unwrap();
    }
}
