//! Replaying a Java fixture into an empty store and comparing the bytes (tests/replay.rs for
//! 4.6.0 rules, tests/v5_write.rs for 5.x rules).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rmqstore::clock::ManualClock;
use rmqstore::format::{decode_record, Decoded, Host};
use rmqstore::{Message, MessageStore, OpenMode, ReplayMessage, StoreConfig};
use serde_json::Value;

use super::files_under;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/java")
        .join(name)
}

pub fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

/// The fixture's record at `offset`: its body (the manifest records only its hash).
pub fn body_at(segments: &BTreeMap<u64, Vec<u8>>, offset: u64) -> Vec<u8> {
    let (from, seg) = segments.range(..=offset).next_back().unwrap();
    match decode_record(&seg[(offset - from) as usize..], true).unwrap() {
        Decoded::Message { record, .. } => record.body.to_vec(),
        other => panic!("no record at {offset}: {other:?}"),
    }
}

pub fn load_segments(dir: &Path) -> BTreeMap<u64, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let off: u64 = e.file_name().to_str().unwrap().parse().unwrap();
        m.insert(off, fs::read(e.path()).unwrap());
    }
    m
}

/// Replays fixture `name`'s messages in put order, with their original values and clock, into
/// an empty store opened with `config(root, manifest)`, and checks that the commitlog (up to the
/// max offset), consume-queue files and index contents equal Java's bytes.
pub fn replay_fixture_with(name: &str, config: impl FnOnce(&Path, &Value) -> StoreConfig) {
    let fx = fixture(name);
    let manifest = read_json(&fx.join("manifest.json"));
    let reader = read_json(&fx.join("reader.json"));
    let java_segments = load_segments(&fx.join("store/commitlog"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let clock = ManualClock::new(manifest["writeStartMillis"].as_i64().unwrap());
    let store = MessageStore::open_with(
        config(&root, &manifest),
        OpenMode::ReadWrite,
        Arc::new(clock.clone()),
    )
    .unwrap();

    let msgs = manifest["messages"].as_array().unwrap();
    let mut i = 0;
    while i < msgs.len() {
        // A batch is replayed as one group: it must land in one segment, as Java put it.
        let n = msgs[i]["batchSize"].as_u64().unwrap_or(1) as usize;
        let group: Vec<ReplayMessage> = msgs[i..i + n]
            .iter()
            .map(|m| {
                let offset = m["wroteOffset"].as_u64().unwrap();
                clock.set(m["storeTimestamp"].as_i64().unwrap());
                ReplayMessage {
                    message: Message {
                        topic: m["topic"].as_str().unwrap().into(),
                        queue_id: m["queueId"].as_i64().unwrap() as i32,
                        flag: m["flag"].as_i64().unwrap() as i32,
                        body: body_at(&java_segments, offset),
                        properties: m["propertiesString"].as_str().unwrap().into(),
                        sys_flag: m["sysFlag"].as_i64().unwrap() as i32,
                        born_timestamp: m["bornTimestamp"].as_i64().unwrap(),
                        born_host: Host::parse(m["bornHost"].as_str().unwrap()).unwrap(),
                        store_host: Host::parse(m["storeHost"].as_str().unwrap()).unwrap(),
                        reconsume_times: m["reconsumeTimes"].as_i64().unwrap() as i32,
                        prepared_transaction_offset: m["preparedTransactionOffset"]
                            .as_i64()
                            .unwrap(),
                    },
                    store_timestamp: m["storeTimestamp"].as_i64().unwrap(),
                }
            })
            .collect();
        let r = store.replay(&group).unwrap();
        let first = &msgs[i];
        assert_eq!(
            r.wrote_offset,
            first["wroteOffset"].as_i64().unwrap(),
            "{name}: seq {} landed at the wrong offset",
            first["seq"]
        );
        assert_eq!(
            r.logics_offset,
            first["queueOffset"].as_i64().unwrap(),
            "{name}: seq {}",
            first["seq"]
        );
        assert_eq!(
            r.msg_id().split(',').next().unwrap(),
            first["msgId"].as_str().unwrap()
        );
        i += n;
    }
    assert_eq!(
        store.max_phy_offset(),
        reader["maxPhyOffset"].as_u64().unwrap()
    );
    store.shutdown().unwrap();

    // Commitlog: byte-equal up to the end of data. After a blank record's 8-byte header the
    // bytes are don't-care (4.6.0 copies stale scratch-buffer bytes there).
    let ours = load_segments(&root.join("commitlog"));
    for seg in reader["commitLogSegments"].as_array().unwrap() {
        let from = seg["fileStartOffset"].as_u64().unwrap();
        let meaningful = match seg["blankAtOffset"].as_u64() {
            Some(b) => (b - from + 8) as usize,
            None => seg["getCommitLogDataSize"].as_u64().unwrap() as usize,
        };
        let java = &java_segments[&from];
        let mine = ours
            .get(&from)
            .unwrap_or_else(|| panic!("{name}: no segment {from}"));
        if let Some(pos) = (0..meaningful).find(|&p| java[p] != mine[p]) {
            panic!("{name}: commitlog segment {from} differs at byte {pos}");
        }
    }

    // Consume queues: every file byte-equal, and the same set of files.
    let java_cq = files_under(&fx.join("store/consumequeue"));
    let our_cq = files_under(&root.join("consumequeue"));
    assert_eq!(
        java_cq.keys().collect::<Vec<_>>(),
        our_cq.keys().collect::<Vec<_>>(),
        "{name}: consume-queue files"
    );
    for (path, bytes) in &java_cq {
        if let Some(pos) = (0..bytes.len()).find(|&p| bytes[p] != our_cq[path][p]) {
            panic!("{name}: consumequeue/{path} differs at byte {pos}");
        }
    }

    // Index: the same number of files with equal contents, in name order (names are
    // creation times and differ).
    let java_ix: Vec<Vec<u8>> = files_under(&fx.join("store/index")).into_values().collect();
    let our_ix: Vec<Vec<u8>> = files_under(&root.join("index")).into_values().collect();
    assert_eq!(java_ix.len(), our_ix.len(), "{name}: index file count");
    for (k, (j, o)) in java_ix.iter().zip(&our_ix).enumerate() {
        if let Some(pos) = (0..j.len()).find(|&p| j[p] != o[p]) {
            panic!("{name}: index file #{k} differs at byte {pos}");
        }
    }
}
