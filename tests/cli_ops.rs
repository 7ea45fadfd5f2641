//! The operator queries of issue 17 (`consumers`, `-c` on verify/rebuild/salvage), run as the
//! binary, run as the binary on temp copies of the Java fixtures and checked against
//! the fixtures' manifests.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::{all_fixtures, copy_store_to_temp, fixture, tree_digest};
use serde_json::Value;

/// (group, topic, queue id) and (broker offset, consumer offset, last consumed time).
type Key = (String, String, i32);
type Lag = (u64, u64, Option<i64>);

fn rmqstore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
}

fn run(args: &[&str], store: &Path) -> Output {
    let before = tree_digest(store);
    let out = rmqstore()
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run rmqstore");
    assert_eq!(tree_digest(store), before, "{args:?} changed the store");
    out
}

/// `consumers --json` against the manifest: for every queue Java wrote, a group committed at
/// the middle, another at the end (lag 0), one at 0 and one negative (no last time). The
/// broker offset is the queue's max offset after the write, the diff their difference, and
/// the last consumed time the store timestamp of the message at `committed - 1`.
#[test]
fn consumers_lag_matches_the_manifest_on_every_fixture() {
    for f in all_fixtures() {
        let m = f.manifest();
        let tmp = copy_store_to_temp(&f);
        let store = tmp.path();
        // (topic, queue, queue offset) -> store timestamp, for messages in a consume queue.
        let mut times: BTreeMap<(String, i32, i64), i64> = BTreeMap::new();
        for msg in &m.messages {
            if msg.kind.contains("prepared") || msg.kind.contains("rollback") {
                continue;
            }
            times.insert(
                (msg.topic.clone(), msg.queue_id, msg.queue_offset),
                msg.store_timestamp,
            );
        }
        let mut table = serde_json::Map::new();
        let mut expected: BTreeMap<Key, Lag> = BTreeMap::new();
        for (topic, queues) in &m.queues_after_write {
            for (group, pick) in [("mid", 0), ("end", 1), ("zero", 2), ("neg", 3)] {
                let mut offsets = serde_json::Map::new();
                for (q, mm) in queues {
                    let qid: i32 = q.parse().unwrap();
                    let max = mm.max;
                    let committed: i64 = match pick {
                        0 => max / 2,
                        1 => max,
                        2 => 0,
                        _ => -1,
                    };
                    offsets.insert(q.clone(), committed.into());
                    let c = committed.max(0);
                    let last = (c > 0).then(|| times.get(&(topic.clone(), qid, c - 1)).copied());
                    let last = last.flatten();
                    if c > 0 && mm.min < c {
                        assert!(
                            last.is_some(),
                            "{}: {topic}:{qid}@{} not in manifest",
                            f.name,
                            c - 1
                        );
                    }
                    expected.insert(
                        (group.to_string(), topic.clone(), qid),
                        (max as u64, c as u64, if mm.min < c { last } else { None }),
                    );
                }
                table.insert(format!("{topic}@{group}"), Value::Object(offsets));
            }
        }
        // As fastjson writes it: integer map keys unquoted.
        let mut text =
            serde_json::to_string_pretty(&serde_json::json!({ "offsetTable": table })).unwrap();
        for q in 0..64 {
            text = text.replace(&format!("\"{q}\":"), &format!("{q}:"));
        }
        let cfg = store.join("config");
        fs::create_dir_all(&cfg).unwrap();
        fs::write(cfg.join("consumerOffset.json"), text).unwrap();

        let out = run(&["consumers", store.to_str().unwrap(), "--json"], store);
        assert!(
            out.status.success(),
            "{}: {}",
            f.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["schema"], "rmqstore.consumers/1");
        let mut seen = 0;
        for g in v["groups"].as_array().unwrap() {
            let (group, topic) = (g["group"].as_str().unwrap(), g["topic"].as_str().unwrap());
            let mut total = 0i64;
            for q in g["queues"].as_array().unwrap() {
                let qid = q["queueId"].as_i64().unwrap() as i32;
                let (broker, consumer, last) =
                    expected[&(group.to_string(), topic.to_string(), qid)];
                let ctx = format!("{} {group} {topic}:{qid}", f.name);
                assert_eq!(q["brokerOffset"].as_u64().unwrap(), broker, "{ctx}");
                assert_eq!(q["consumerOffset"].as_u64().unwrap(), consumer, "{ctx}");
                assert_eq!(
                    q["diff"].as_i64().unwrap(),
                    broker as i64 - consumer as i64,
                    "{ctx}"
                );
                assert_eq!(q["lastTimestamp"].as_i64(), last, "{ctx}");
                total += q["diff"].as_i64().unwrap();
                seen += 1;
            }
            assert_eq!(g["diffTotal"].as_i64().unwrap(), total);
        }
        assert_eq!(seen, expected.len(), "{}", f.name);

        // The text table: one header per (group, topic), long topics cut to stay readable.
        let out = run(
            &["consumers", store.to_str().unwrap(), "--group", "mid"],
            store,
        );
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            text.matches("group mid ").count(),
            m.queues_after_write.len(),
            "{text}"
        );
        assert!(text.lines().all(|l| l.chars().count() <= 120), "{text}");
    }
}

#[test]
fn consumers_without_an_offset_file_is_unusable_input() {
    let f = fixture("rocketmq-4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let out = run(&["consumers", tmp.path().to_str().unwrap()], tmp.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("consumerOffset.json"), "{err}");
}

/// `-c broker.properties` on verify/rebuild/salvage: the fixture's own sizes verify clean;
/// the broker defaults (1 GiB segments) do not fit the fixture's 1 MiB segments.
#[test]
fn verify_rebuild_salvage_take_the_brokers_properties() {
    let f = fixture("rocketmq-4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let store = tmp.path();
    let good = store.parent().unwrap().join(format!(
        "{}-good.properties",
        store.file_name().unwrap().to_string_lossy()
    ));
    fs::write(
        &good,
        "mappedFileSizeCommitLog=1048576\nmappedFileSizeConsumeQueue=4000\nmaxHashSlotNum=1000\nmaxIndexNum=4000\n",
    )
    .unwrap();
    let defaults = good.with_file_name("defaults.properties");
    fs::write(&defaults, "brokerName=b\n").unwrap();
    let s = store.to_str().unwrap();
    let out = run(&["verify", s, "-c", good.to_str().unwrap()], store);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["verify", s, "-c", defaults.to_str().unwrap()], store);
    assert_ne!(
        out.status.code(),
        Some(0),
        "1 GiB segments cannot describe 1 MiB files"
    );
    for cmd in ["rebuild", "salvage"] {
        let dest = tempfile::tempdir().unwrap();
        let outdir = dest.path().join("out");
        let out = run(
            &[
                cmd,
                s,
                "--out",
                outdir.to_str().unwrap(),
                "-c",
                good.to_str().unwrap(),
            ],
            store,
        );
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run(&["verify", outdir.to_str().unwrap()], store);
        assert!(out.status.success(), "{cmd} output does not verify");
    }
    let _ = fs::remove_file(good);
    let _ = fs::remove_file(defaults);
}
