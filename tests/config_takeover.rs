//! Takeover of a Java broker's `config/*.json`: what we write is the text fastjson 1.2.61
//! (RocketMQ 4.6.0's) writes, byte for byte, and `persist` rotates the old file to `.bak` as
//! `ConfigManager#persist` does; the fixtures' files read, write and read back unchanged.
//!
//! The golden texts were printed with `JSON.toJSONString(obj, true)` by a small Java program
//! against rocketmq-common/rocketmq-store 4.6.0 and fastjson 1.2.61 from Maven Central
//! (`TopicConfigSerializeWrapper`, a class with `ConsumerOffsetManager`'s one getter,
//! `DelayOffsetSerializeWrapper`, `SubscriptionGroupWrapper`), with sorted maps as input.

mod common;

use std::collections::BTreeMap;
use std::fs;

use common::{all_fixtures, copy_store_to_temp, fixture, fixture_store_config};
use rmqstore::config_json::{
    parse_fastjson, ConfigJsonFile, ConsumerOffsetJson, DataVersion, DelayOffsetJson,
    SubscriptionGroupConfigJson, SubscriptionGroupJson, TopicConfigJson, TopicsJson,
};
use rmqstore::{Message, MessageStore};

/// Printed by fastjson 1.2.61 from RocketMQ 4.6.0's classes (see the module doc).
const TOPICS: &str = "{\n\
\t\"dataVersion\":{\n\
\t\t\"counter\":3,\n\
\t\t\"timestamp\":1574130000000\n\
\t},\n\
\t\"topicConfigTable\":{\n\
\t\t\"%RETRY%g\":{\n\
\t\t\t\"order\":true,\n\
\t\t\t\"perm\":6,\n\
\t\t\t\"readQueueNums\":1,\n\
\t\t\t\"topicFilterType\":\"SINGLE_TAG\",\n\
\t\t\t\"topicName\":\"%RETRY%g\",\n\
\t\t\t\"topicSysFlag\":3,\n\
\t\t\t\"writeQueueNums\":1\n\
\t\t},\n\
\t\t\"TopicTest\":{\n\
\t\t\t\"order\":false,\n\
\t\t\t\"perm\":6,\n\
\t\t\t\"readQueueNums\":4,\n\
\t\t\t\"topicFilterType\":\"SINGLE_TAG\",\n\
\t\t\t\"topicName\":\"TopicTest\",\n\
\t\t\t\"topicSysFlag\":0,\n\
\t\t\t\"writeQueueNums\":4\n\
\t\t}\n\
\t}\n\
}";

/// Printed by fastjson 1.2.61 from RocketMQ 4.6.0's classes (see the module doc).
const OFFSETS: &str = "{\n\
\t\"offsetTable\":{\n\
\t\t\"%RETRY%g@g\":{0:0\n\
\t\t},\n\
\t\t\"TopicTest@please_rename_unique_group_name_4\":{0:250,1:248,2:251,3:249\n\
\t\t}\n\
\t}\n\
}";

/// Printed by fastjson 1.2.61 from RocketMQ 4.6.0's classes (see the module doc).
const DELAY: &str = "{\n\
\t\"offsetTable\":{6:0,7:12,8:0,9:0,10:0,11:0,12:0,13:0,14:0,15:0,16:0,17:0,18:0\n\
\t}\n\
}";

/// Printed by fastjson 1.2.61 from RocketMQ 4.6.0's classes (see the module doc).
const DELAY_EMPTY: &str = "{\n\
\t\"offsetTable\":{}\n\
}";

/// Printed by fastjson 1.2.61 from RocketMQ 4.6.0's classes (see the module doc).
const SUBS: &str = "{\n\
\t\"dataVersion\":{\n\
\t\t\"counter\":3,\n\
\t\t\"timestamp\":1574130000000\n\
\t},\n\
\t\"subscriptionGroupTable\":{\n\
\t\t\"SELF_TEST_C_GROUP\":{\n\
\t\t\t\"brokerId\":1,\n\
\t\t\t\"consumeBroadcastEnable\":false,\n\
\t\t\t\"consumeEnable\":true,\n\
\t\t\t\"consumeFromMinEnable\":true,\n\
\t\t\t\"groupName\":\"SELF_TEST_C_GROUP\",\n\
\t\t\t\"notifyConsumerIdsChangedEnable\":true,\n\
\t\t\t\"retryMaxTimes\":3,\n\
\t\t\t\"retryQueueNums\":1,\n\
\t\t\t\"whichBrokerWhenConsumeSlowly\":1\n\
\t\t},\n\
\t\t\"g1\":{\n\
\t\t\t\"brokerId\":0,\n\
\t\t\t\"consumeBroadcastEnable\":true,\n\
\t\t\t\"consumeEnable\":true,\n\
\t\t\t\"consumeFromMinEnable\":true,\n\
\t\t\t\"groupName\":\"g1\",\n\
\t\t\t\"notifyConsumerIdsChangedEnable\":true,\n\
\t\t\t\"retryMaxTimes\":16,\n\
\t\t\t\"retryQueueNums\":1,\n\
\t\t\t\"whichBrokerWhenConsumeSlowly\":1\n\
\t\t}\n\
\t}\n\
}";

fn dv() -> Option<DataVersion> {
    Some(DataVersion {
        timestamp: 1_574_130_000_000,
        counter: 3,
    })
}

#[test]
fn writes_what_fastjson_writes() {
    let mut topics = TopicsJson {
        data_version: dv(),
        ..Default::default()
    };
    topics
        .topic_config_table
        .insert("TopicTest".into(), TopicConfigJson::new("TopicTest", 4));
    let mut retry = TopicConfigJson::new("%RETRY%g", 1);
    retry.order = true;
    retry.topic_sys_flag = 3;
    topics.topic_config_table.insert("%RETRY%g".into(), retry);
    assert_eq!(topics.to_fastjson(), TOPICS);

    let mut offsets = ConsumerOffsetJson::default();
    for (q, o) in [(0, 250), (1, 248), (2, 251), (3, 249)] {
        offsets.commit_offset("TopicTest", "please_rename_unique_group_name_4", q, o);
    }
    offsets.commit_offset("%RETRY%g", "g", 0, 0);
    assert_eq!(offsets.to_fastjson(), OFFSETS);
    assert_eq!(
        offsets.query_offset("TopicTest", "please_rename_unique_group_name_4", 2),
        251
    );
    assert_eq!(offsets.query_offset("TopicTest", "nobody", 2), -1);

    let delay = DelayOffsetJson {
        offset_table: (6..=18).map(|l| (l, if l == 7 { 12 } else { 0 })).collect(),
        ..Default::default()
    };
    assert_eq!(delay.to_fastjson(), DELAY);
    assert_eq!(DelayOffsetJson::default().to_fastjson(), DELAY_EMPTY);

    let mut subs = SubscriptionGroupJson {
        data_version: dv(),
        ..Default::default()
    };
    subs.subscription_group_table
        .insert("g1".into(), SubscriptionGroupConfigJson::new("g1"));
    let mut selftest = SubscriptionGroupConfigJson::new("SELF_TEST_C_GROUP");
    selftest.retry_max_times = 3;
    selftest.consume_broadcast_enable = false;
    selftest.broker_id = 1;
    subs.subscription_group_table
        .insert("SELF_TEST_C_GROUP".into(), selftest);
    assert_eq!(subs.to_fastjson(), SUBS);

    // And each golden text reads back to the same content.
    assert_eq!(parse_fastjson::<TopicsJson>(TOPICS).unwrap(), topics);
    assert_eq!(
        parse_fastjson::<ConsumerOffsetJson>(OFFSETS).unwrap(),
        offsets
    );
    assert_eq!(parse_fastjson::<DelayOffsetJson>(DELAY).unwrap(), delay);
    assert_eq!(parse_fastjson::<SubscriptionGroupJson>(SUBS).unwrap(), subs);
}

/// Fields a later version added survive a read and a write.
#[test]
fn unknown_fields_are_kept() {
    let text = "{\"topicConfigTable\":{\"T\":{\"topicName\":\"T\",\"attributes\":{\"queue.type\":\"SimpleCQ\"}}},\"mappingDataVersion\":{\"counter\":1,\"timestamp\":2}}";
    let t: TopicsJson = parse_fastjson(text).unwrap();
    let out = t.to_fastjson();
    assert!(
        out.contains("\t\t\t\"attributes\":{\n\t\t\t\t\"queue.type\":\"SimpleCQ\"\n\t\t\t},\n"),
        "{out}"
    );
    assert_eq!(parse_fastjson::<TopicsJson>(&out).unwrap(), t);
    assert!(t.extra.contains_key("mappingDataVersion"));
}

/// Every config file of every fixture: read, persisted into a copy of the store, read back
/// the same; the file it replaced is now the `.bak`, byte for byte.
#[test]
fn fixture_config_files_round_trip_with_bak_rotation() {
    let mut n = 0;
    for f in all_fixtures() {
        let config = f.store_dir.join("config");
        if !config.is_dir() {
            continue;
        }
        let tmp = copy_store_to_temp(&f);
        let dir = tmp.path().join("config");
        let original = fs::read(dir.join("delayOffset.json")).unwrap();
        let d = DelayOffsetJson::load(&dir).unwrap().unwrap();
        d.persist(&dir).unwrap();
        assert_eq!(
            fs::read(dir.join("delayOffset.json.bak")).unwrap(),
            original,
            "{}",
            f.name
        );
        assert!(!dir.join("delayOffset.json.tmp").exists());
        assert_eq!(
            DelayOffsetJson::load(&dir).unwrap().unwrap(),
            d,
            "{}",
            f.name
        );
        // Persisting again keeps the text: what we wrote is stable.
        let ours = fs::read(dir.join("delayOffset.json")).unwrap();
        d.persist(&dir).unwrap();
        assert_eq!(fs::read(dir.join("delayOffset.json.bak")).unwrap(), ours);
        assert_eq!(fs::read(dir.join("delayOffset.json")).unwrap(), ours);
        n += 1;
    }
    assert!(n >= 5, "{n}");
    let sync = fixture("4.6.0/sync").store_dir.join("config");
    let d = DelayOffsetJson::load(&sync).unwrap().unwrap();
    assert_eq!(
        d.to_fastjson(),
        "{\n\t\"offsetTable\":{6:0,7:0,8:0,9:0,10:0,11:0,12:0,13:0,14:0,15:0,16:0,17:0,18:0\n\t}\n}"
    );
}

/// A Rust broker takes over a Java 4.6.0 store root: opens it, continues writing, records
/// consumer offsets, topics and groups next to Java's delayOffset.json, and leaves files that
/// read back (by our reader, which follows Java's) with everything it wrote.
#[test]
fn takeover_of_a_java_store_root() {
    let f = fixture("4.6.0/crashed");
    let tmp = copy_store_to_temp(&f);
    let root = tmp.path();
    let mut cfg = fixture_store_config(root);
    cfg.background_services = false;
    let store = MessageStore::open(cfg.clone()).unwrap();
    let config_dir = store.config().config_dir();
    let delay_before = DelayOffsetJson::load(&config_dir).unwrap().unwrap();
    let before = store.max_offset_in_queue("TopicTest", 0);
    let r = store
        .put_message(&Message::new("TopicTest", 0, b"after takeover".to_vec()).with_tags("TagA"))
        .unwrap();
    assert_eq!(r.append.unwrap().logics_offset as u64, before);

    let mut topics = TopicsJson::load(&config_dir).unwrap().unwrap_or_default();
    let mut offsets = ConsumerOffsetJson::load(&config_dir)
        .unwrap()
        .unwrap_or_default();
    let mut queues: BTreeMap<String, i32> = BTreeMap::new();
    for cq in store.consume_queues().all() {
        let e = queues.entry(cq.topic().to_string()).or_default();
        *e = (*e).max(cq.queue_id() + 1);
        offsets.commit_offset(
            cq.topic(),
            "takeover_group",
            cq.queue_id(),
            cq.max_offset_in_queue() as i64,
        );
    }
    for (t, n) in &queues {
        topics
            .topic_config_table
            .insert(t.clone(), TopicConfigJson::new(t, *n));
    }
    topics
        .data_version
        .get_or_insert_with(DataVersion::default)
        .next_version(1_795_700_000_000);
    topics.persist(&config_dir).unwrap();
    offsets.persist(&config_dir).unwrap();
    let mut subs = SubscriptionGroupJson::default();
    subs.subscription_group_table.insert(
        "takeover_group".into(),
        SubscriptionGroupConfigJson::new("takeover_group"),
    );
    subs.persist(&config_dir).unwrap();
    store.shutdown().unwrap();

    // Java's file is untouched; ours read back.
    assert_eq!(
        DelayOffsetJson::load(&config_dir).unwrap().unwrap(),
        delay_before
    );
    let back = ConsumerOffsetJson::load(&config_dir).unwrap().unwrap();
    assert_eq!(
        back.query_offset("TopicTest", "takeover_group", 0),
        before as i64 + 1
    );
    let t = TopicsJson::load(&config_dir).unwrap().unwrap();
    assert_eq!(t.topic_config_table["TopicTest"].read_queue_nums, 4);
    assert_eq!(t.data_version.unwrap().counter, 1);
    assert!(SubscriptionGroupJson::load(&config_dir)
        .unwrap()
        .unwrap()
        .subscription_group_table
        .contains_key("takeover_group"));
    // A first persist leaves no .bak (there was no previous file).
    assert!(!config_dir.join("topics.json.bak").exists());
    // The store reopens cleanly with the message we added.
    let ro = MessageStore::open_read_only(cfg).unwrap();
    assert_eq!(ro.max_offset_in_queue("TopicTest", 0), before + 1);
}
