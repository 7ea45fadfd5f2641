//! The inspection commands of the `rmqstore` binary (`stat`, `topics`, `msg`, `cq`, `index`,
//! `cat` filters), run as an operator runs them on temp copies of the Java fixtures, checked
//! against what Java read back (`reader.json`) and against the files' own bytes. Every run
//! also checks that the store tree is byte-for-byte unchanged.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use common::{
    all_fixtures, copy_store_to_temp, fixture, numbered_files, sha256_hex, tree_digest, Failures,
    Fixture, ReaderMessage,
};
use serde_json::Value;

fn rmqstore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `rmqstore <cmd> <store> <args..>` and asserts the store tree is unchanged by it.
fn run_on(store: &Path, cmd: &str, args: &[&str]) -> Output {
    let before = tree_digest(store);
    let out = rmqstore()
        .arg(cmd)
        .arg(store)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run rmqstore");
    assert_eq!(
        tree_digest(store),
        before,
        "`{cmd} {args:?}` changed the store tree"
    );
    out
}

/// Runs a command that must succeed and print one JSON document.
fn json_of(store: &Path, cmd: &str, args: &[&str]) -> Value {
    let mut all: Vec<&str> = args.to_vec();
    all.push("--json");
    let out = run_on(store, cmd, &all);
    assert!(
        out.status.success(),
        "`{cmd} {args:?}`: exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("`{cmd} {args:?}` did not print JSON: {e}"));
    let version = if cmd == "topics" { 2 } else { 1 };
    assert_eq!(
        v["schema"],
        format!("rmqstore.{cmd}/{version}"),
        "`{cmd} {args:?}`"
    );
    // List reports carry their list under a named key.
    match cmd {
        "topics" => v["topics"].clone(),
        "index" => v["files"].clone(),
        "msg" => v["messages"].clone(),
        _ => v,
    }
}

/// Runs `cat --json` with filters: one object per line.
fn cat_lines(store: &Path, args: &[&str]) -> Vec<Value> {
    let mut all: Vec<&str> = args.to_vec();
    all.push("--json");
    let out = run_on(store, "cat", &all);
    assert!(out.status.success(), "cat {args:?}: {}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Exit 2 and exactly one line on stderr naming `name`.
fn assert_unusable(out: &Output, name: &str, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    assert!(out.stdout.is_empty(), "{what}: nothing on stdout");
    assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
    assert!(err.contains(name), "{what}: names {name}: {err}");
}

/// Every record Java read back, by commitlog offset.
fn reader_by_offset(f: &Fixture) -> BTreeMap<i64, ReaderMessage> {
    let r = f.reader();
    r.queues
        .into_iter()
        .flat_map(|q| q.messages)
        .chain(r.messages_not_in_consume_queue)
        .map(|m| (m.commit_log_offset, m))
        .collect()
}

/// The properties of a stored properties string (last value of a name wins).
fn props(s: &str) -> BTreeMap<String, String> {
    s.split('\u{2}')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('\u{1}')?;
            (!v.is_empty()).then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn offsets_of(v: &Value) -> Vec<i64> {
    let mut o: Vec<i64> = v
        .as_array()
        .expect("an array")
        .iter()
        .map(|m| m["commitLogOffset"].as_i64().unwrap())
        .collect();
    o.sort_unstable();
    o
}

#[test]
fn topics_match_java_per_queue() {
    let mut fails = Failures::new("topics --json vs reader.json");
    for f in all_fixtures() {
        let tmp = copy_store_to_temp(&f);
        let got = json_of(tmp.path(), "topics", &[]);
        let mut seen = BTreeMap::new();
        for t in got.as_array().unwrap() {
            for q in t["queues"].as_array().unwrap() {
                seen.insert(
                    (
                        q["topic"].as_str().unwrap().to_string(),
                        q["queueId"].as_i64().unwrap(),
                    ),
                    q.clone(),
                );
            }
        }
        let reader = f.reader();
        fails.eq(&f.name, "queue count", &seen.len(), &reader.queues.len());
        for rq in &reader.queues {
            let at = format!("{} {}/{}", f.name, rq.topic, rq.queue_id);
            let Some(q) = seen.get(&(rq.topic.clone(), rq.queue_id as i64)) else {
                fails.push(format!("{at}: missing"));
                continue;
            };
            fails.eq(
                &at,
                "minOffset",
                &q["minOffset"].as_i64(),
                &Some(rq.min_offset),
            );
            fails.eq(
                &at,
                "maxOffset",
                &q["maxOffset"].as_i64(),
                &Some(rq.max_offset),
            );
            fails.eq(
                &at,
                "messageCount",
                &q["messageCount"].as_i64(),
                &Some(rq.max_offset - rq.min_offset),
            );
            fails.eq(
                &at,
                "lastStoreTimestamp",
                &q["lastStoreTimestamp"].as_i64(),
                &rq.messages.last().map(|m| m.store_timestamp),
            );
        }
    }
    fails.finish();
}

#[test]
fn topics_show_topics_json_settings() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    fs::write(
        tmp.path().join("config/topics.json"),
        r#"{"topicConfigTable":{"TopicTest":{"topicName":"TopicTest","readQueueNums":8,
        "writeQueueNums":4,"perm":6,"order":false},"OnlyConfigured":{"topicName":"OnlyConfigured",
        "readQueueNums":2,"writeQueueNums":2,"perm":4}},"dataVersion":{"timestamp":1,"counter":2}}"#,
    )
    .unwrap();
    let got = json_of(tmp.path(), "topics", &[]);
    let by_name: BTreeMap<&str, &Value> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["topic"].as_str().unwrap(), t))
        .collect();
    let tt = by_name["TopicTest"];
    assert_eq!(tt["config"]["readQueueNums"], 8);
    assert_eq!(tt["config"]["writeQueueNums"], 4);
    assert_eq!(tt["queues"].as_array().unwrap().len(), 4);
    let only = by_name["OnlyConfigured"];
    assert_eq!(only["config"]["perm"], 4);
    assert!(only["queues"].as_array().unwrap().is_empty());
    assert!(by_name["T"]["config"].is_null());

    let text = run_on(tmp.path(), "topics", &[]);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("TopicTest "))
        .expect("a TopicTest row");
    assert!(line.contains("8/4") && line.contains("RW-"), "{line}");
    assert!(text.contains("OnlyConfigured"), "{text}");
}

#[test]
fn msg_finds_the_right_record_by_id_offset_uniq_key_and_key() {
    let mut fails = Failures::new("msg lookups");
    for f in all_fixtures() {
        let tmp = copy_store_to_temp(&f);
        let store = tmp.path();
        let by_off = reader_by_offset(&f);
        // A sample of records: every 150th, and the last one.
        let sample: Vec<&ReaderMessage> = by_off
            .values()
            .step_by(150)
            .chain(by_off.values().last())
            .collect();
        for m in &sample {
            let at = format!("{} @{}", f.name, m.commit_log_offset);
            let got = json_of(store, "msg", &[&m.msg_id, "--body", "none"]);
            fails.eq(
                &at,
                "by msgId",
                &offsets_of(&got),
                &vec![m.commit_log_offset],
            );
            fails.eq(
                &at,
                "foundBy",
                &got[0]["foundBy"].as_str(),
                &Some("offset msgId"),
            );
            fails.eq(
                &at,
                "msgId field",
                &got[0]["msgId"].as_str(),
                &Some(&*m.msg_id),
            );
            let got = json_of(
                store,
                "msg",
                &["--offset", &m.commit_log_offset.to_string()],
            );
            fails.eq(
                &at,
                "by offset",
                &offsets_of(&got),
                &vec![m.commit_log_offset],
            );
            match got[0]["body"]
                .as_str()
                .map(|b| base64::engine::general_purpose::STANDARD.decode(b))
            {
                Some(Ok(body)) => fails.eq(&at, "body", &sha256_hex(&body), &m.body_sha256),
                other => fails.push(format!("{at}: body not base64: {other:?}")),
            }
            fails.eq(
                &at,
                "propertiesString",
                &got[0]["propertiesString"].as_str(),
                &Some(&*m.properties_string),
            );
            let Some(uniq) = props(&m.properties_string).get("UNIQ_KEY").cloned() else {
                continue;
            };
            let is_rollback = m.sys_flag & 0xC == 0xC;
            if is_rollback {
                continue; // rollback records are not indexed
            }
            // With --topic: exactly the records of that topic with this UNIQ_KEY.
            let want: Vec<i64> = by_off
                .values()
                .filter(|r| {
                    r.topic == m.topic
                        && r.sys_flag & 0xC != 0xC
                        && props(&r.properties_string).get("UNIQ_KEY") == Some(&uniq)
                })
                .map(|r| r.commit_log_offset)
                .collect();
            let got = json_of(
                store,
                "msg",
                &[&uniq, "--topic", &m.topic, "--body", "none"],
            );
            fails.eq(&at, "by UNIQ_KEY in topic", &offsets_of(&got), &want);
            fails.eq(
                &at,
                "foundBy",
                &got[0]["foundBy"].as_str(),
                &Some("UNIQ_KEY"),
            );
            // Without --topic: every topic with a consume queue is searched.
            let in_cq = f.reader().queues.iter().any(|q| q.topic == m.topic);
            if in_cq {
                let got = json_of(store, "msg", &[&uniq, "--body", "none"]);
                fails.check(offsets_of(&got).contains(&m.commit_log_offset), || {
                    format!(
                        "{at}: UNIQ_KEY {uniq} over all topics: {:?}",
                        offsets_of(&got)
                    )
                });
            }
        }

        // Keys through the index: Java's offsets for the key, hash collisions dropped.
        let reader = f.reader();
        let mut checked = 0;
        for (topic, keys) in &reader.queries {
            for (key, java) in keys.iter().step_by(7) {
                if java.len() >= 64 || key.len() == 32 {
                    continue; // capped by Java's maxMsgsNumBatch, or a UNIQ_KEY (above)
                }
                let want: Vec<i64> = java
                    .iter()
                    .copied()
                    .filter(|o| {
                        by_off.get(o).is_some_and(|r| {
                            let p = props(&r.properties_string);
                            r.topic == *topic
                                && (p.get("UNIQ_KEY") == Some(key)
                                    || p.get("KEYS")
                                        .is_some_and(|k| k.split(' ').any(|t| t == key)))
                        })
                    })
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let out = run_on(store, "msg", &["--key", key, "--topic", topic, "--json"]);
                let at = format!("{} key {topic}#{key}", f.name);
                if want.is_empty() {
                    fails.eq(&at, "exit (not found)", &out.status.code(), &Some(1));
                    continue;
                }
                let got: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
                fails.eq(
                    &at,
                    "schema",
                    &got["schema"],
                    &Value::from("rmqstore.msg/1"),
                );
                fails.eq(&at, "offsets", &offsets_of(&got["messages"]), &want);
                checked += 1;
            }
        }
        fails.check(checked > 5, || {
            format!("{}: only {checked} keys checked", f.name)
        });
    }
    fails.finish();
}

#[test]
fn msg_text_output_and_not_found() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let m = reader_by_offset(&f).into_values().nth(10).unwrap();
    let out = run_on(tmp.path(), "msg", &[&m.msg_id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("Commitlog Offset    {}", m.commit_log_offset)),
        "{text}"
    );
    assert!(
        text.contains("Properties:") && text.contains("UNIQ_KEY"),
        "{text}"
    );
    assert!(text.contains("(matches the body)"), "{text}");

    // No record at this offset, and an id that is neither a msgId here nor a UNIQ_KEY.
    let out = run_on(tmp.path(), "msg", &["--offset", "5"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1);
    let out = run_on(tmp.path(), "msg", &["7F00000100002A9F00000000000000FF"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("UNIQ_KEY"), "{}", stderr(&out));
}

#[test]
fn cq_units_equal_java_and_the_files() {
    let mut fails = Failures::new("cq --json");
    for f in all_fixtures() {
        let tmp = copy_store_to_temp(&f);
        let reader = f.reader();
        for rq in &reader.queues {
            let at = format!("{} {}/{}", f.name, rq.topic, rq.queue_id);
            let got = json_of(
                tmp.path(),
                "cq",
                &[&rq.topic, &rq.queue_id.to_string(), "--limit", "100000"],
            );
            let units = got["units"].as_array().unwrap();
            fails.eq(
                &at,
                "maxOffset",
                &got["maxOffset"].as_i64(),
                &Some(rq.max_offset),
            );
            fails.eq(
                &at,
                "unit count",
                &(units.len() as i64),
                &(rq.max_offset - rq.min_offset),
            );
            for (u, m) in units.iter().zip(&rq.messages) {
                let want = serde_json::json!({
                    "queueOffset": m.queue_offset,
                    "commitLogOffset": m.commit_log_offset,
                    "size": m.store_size,
                    "tagsCode": m.cq_tags_code,
                    "check": "match",
                    "storeTimestamp": m.store_timestamp,
                });
                // 3.2.6 computed delayed messages' delivery time 1-2 ms early (docs/format.md
                // §5.2): the unit keeps it, and cq shows what the record gives today.
                let mut u = u.clone();
                if let Some(c) = u.as_object_mut().unwrap().remove("computedTagsCode") {
                    let diff = c.as_i64().unwrap() - m.cq_tags_code.unwrap();
                    fails.check(
                        f.version == "3.2.6"
                            && rq.topic == "SCHEDULE_TOPIC_XXXX"
                            && (1..=2).contains(&diff.abs()),
                        || format!("{at}: computed tagsCode {c} vs unit {:?}", m.cq_tags_code),
                    );
                }
                fails.eq(&at, "unit", &u, &want);
            }
            // The units are the files' bytes (every fixture's queues are complete on disk).
            let dir = tmp
                .path()
                .join("consumequeue")
                .join(&rq.topic)
                .join(rq.queue_id.to_string());
            let mut bytes = Vec::new();
            for (_, p) in numbered_files(&dir) {
                bytes.extend(fs::read(p).unwrap());
            }
            for (i, u) in units.iter().enumerate() {
                let b = &bytes[i * 20..i * 20 + 20];
                let raw = (
                    i64::from_be_bytes(b[0..8].try_into().unwrap()),
                    i32::from_be_bytes(b[8..12].try_into().unwrap()) as i64,
                    i64::from_be_bytes(b[12..20].try_into().unwrap()),
                );
                let shown = (
                    u["commitLogOffset"].as_i64().unwrap(),
                    u["size"].as_i64().unwrap(),
                    u["tagsCode"].as_i64().unwrap(),
                );
                fails.eq(&at, &format!("unit {i} vs file bytes"), &shown, &raw);
            }
        }
    }
    fails.finish();

    // --from/--limit, and the table form.
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let got = json_of(
        tmp.path(),
        "cq",
        &["TopicTest", "1", "--from", "10", "--limit", "3"],
    );
    let qo: Vec<i64> = got["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["queueOffset"].as_i64().unwrap())
        .collect();
    assert_eq!(qo, [10, 11, 12]);
    let out = run_on(tmp.path(), "cq", &["TopicTest", "1", "--limit", "3"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines()
            .filter(|l| l.ends_with(" ok") || l.contains(" ok "))
            .count(),
        3,
        "{text}"
    );
    let out = run_on(tmp.path(), "cq", &["NoSuchTopic", "0"]);
    assert_unusable(&out, "NoSuchTopic", "cq of a missing queue");
}

#[test]
fn index_headers_equal_the_files() {
    let mut fails = Failures::new("index --json");
    for f in all_fixtures() {
        let tmp = copy_store_to_temp(&f);
        let got = json_of(tmp.path(), "index", &["--chains"]);
        let files = got.as_array().unwrap();
        let on_disk: Vec<_> = fs::read_dir(tmp.path().join("index"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        fails.eq(&f.name, "file count", &files.len(), &on_disk.len());
        for (j, p) in files.iter().zip(&on_disk) {
            let b = fs::read(p).unwrap();
            let l = |o: usize| i64::from_be_bytes(b[o..o + 8].try_into().unwrap());
            let i = |o: usize| i32::from_be_bytes(b[o..o + 4].try_into().unwrap()) as i64;
            let name = p.file_name().unwrap().to_str().unwrap();
            let at = format!("{} {name}", f.name);
            fails.eq(&at, "name", &j["name"].as_str(), &Some(name));
            let got = [
                "beginTimestamp",
                "endTimestamp",
                "beginPhyOffset",
                "endPhyOffset",
                "hashSlotCount",
                "indexCount",
            ]
            .map(|k| j[k].as_i64().unwrap());
            fails.eq(
                &at,
                "header",
                &got,
                &[l(0), l(8), l(16), l(24), i(32), i(36)],
            );
            // Every written entry is on exactly one slot's chain.
            let chains = j["chains"].as_array().unwrap();
            let total: i64 = chains.iter().map(|c| c["length"].as_i64().unwrap()).sum();
            fails.eq(&at, "sum of chain lengths", &total, &(i(36).max(1) - 1));
            fails.check(chains.iter().all(|c| c["broken"] == false), || {
                format!("{at}: a broken chain")
            });
        }
    }
    fails.finish();

    // --file and --entries: the entries point at records that exist.
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let by_off = reader_by_offset(&f);
    let all = json_of(tmp.path(), "index", &[]);
    let first = all[0]["name"].as_str().unwrap().to_string();
    let got = json_of(tmp.path(), "index", &["--file", &first, "--entries"]);
    assert_eq!(got.as_array().unwrap().len(), 1);
    let entries = got[0]["entries"].as_array().unwrap();
    assert_eq!(
        entries.len() as i64,
        got[0]["indexCount"].as_i64().unwrap() - 1
    );
    assert!(entries
        .iter()
        .all(|e| by_off.contains_key(&e["phyOffset"].as_i64().unwrap())));
    let out = run_on(tmp.path(), "index", &["--file", "20000101000000000"]);
    assert_unusable(&out, "20000101000000000", "index --file of a missing file");
}

#[test]
fn stat_reports_segments_abort_checkpoint_and_recovery() {
    let mut fails = Failures::new("stat --json");
    for f in all_fixtures() {
        let tmp = copy_store_to_temp(&f);
        let got = json_of(tmp.path(), "stat", &[]);
        let reader = f.reader();
        let at = &f.name;
        let segs = f.commitlog_segments();
        fails.eq(
            at,
            "segmentCount",
            &got["segmentCount"].as_u64(),
            &Some(segs.len() as u64),
        );
        fails.eq(
            at,
            "abortFile",
            &got["abortFile"].as_bool(),
            &Some(f.store_dir.join("abort").exists()),
        );
        fails.eq(
            at,
            "minPhyOffset",
            &got["minPhyOffset"].as_i64(),
            &Some(reader.min_phy_offset),
        );
        fails.eq(
            at,
            "maxPhyOffset",
            &got["maxPhyOffset"].as_i64(),
            &Some(reader.max_phy_offset),
        );
        fails.eq(
            at,
            "recovery end",
            &got["recovery"]["endOffset"].as_i64(),
            &Some(reader.max_phy_offset),
        );
        let cp = fs::read(f.store_dir.join("checkpoint")).unwrap();
        let l = |o: usize| i64::from_be_bytes(cp[o..o + 8].try_into().unwrap());
        fails.eq(
            at,
            "checkpoint",
            &[
                got["checkpoint"]["physicMsgTimestamp"].as_i64(),
                got["checkpoint"]["logicsMsgTimestamp"].as_i64(),
                got["checkpoint"]["indexMsgTimestamp"].as_i64(),
            ],
            &[Some(l(0)), Some(l(8)), Some(l(16))],
        );
        // Segments after the data that are all zero are pre-allocated.
        let prealloc = segs
            .iter()
            .filter(|(start, p)| {
                *start as i64 >= reader.max_phy_offset
                    && fs::read(p).unwrap().iter().all(|&b| b == 0)
            })
            .count();
        fails.eq(
            at,
            "preallocatedSegments",
            &got["preallocatedSegments"].as_u64(),
            &Some(prealloc as u64),
        );
        fails.eq(at, "gaps", &got["gaps"].as_u64(), &Some(0));
        fails.eq(
            at,
            "flushDiskType (not recorded)",
            &got["flushDiskType"],
            &Value::Null,
        );
        fails.eq(at, "lockHeld", &got["lockHeld"].as_bool(), &Some(false));
    }
    fails.finish();

    // The crashed store, as a person reads it.
    let f = fixture("4.6.0/crashed");
    let tmp = copy_store_to_temp(&f);
    let got = json_of(tmp.path(), "stat", &[]);
    assert_eq!(got["abortFile"], true);
    assert_eq!(got["recovery"]["mode"], "abnormal");
    assert_eq!(got["preallocatedSegments"], 1, "{got}");
    let cfg = &got["configFiles"][0];
    assert_eq!(cfg["name"], "delayOffset.json");
    assert_eq!(cfg["bakLength"], 21);
    let out = run_on(tmp.path(), "stat", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "Abort file          PRESENT",
        "pre-allocated, all zero",
        "not recorded in the store",
        "abnormal (recoverAbnormally)",
        "physicMsgTimestamp  2026-",
        "delayOffset.json",
    ] {
        assert!(text.contains(want), "stat text lacks {want:?}:\n{text}");
    }
}

#[test]
fn config_file_gives_settings_and_warnings() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let props = tmp.path().join("broker.properties");
    let base = "mappedFileSizeCommitLog=1048576\nmappedFileSizeConsumeQueue=4000\n\
                maxHashSlotNum=1000\nmaxIndexNum=4000\n";
    fs::write(
        &props,
        format!("{base}flushDiskType=SYNC_FLUSH\nstorePathRootDir=/data/rocketmq/store\n"),
    )
    .unwrap();
    let p = props.to_str().unwrap();
    let out = run_on(tmp.path(), "stat", &["-c", p, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["flushDiskType"], "SYNC_FLUSH");
    assert_eq!(got["configSource"], format!("-c {p}"));
    assert_eq!(
        got["maxPhyOffset"].as_i64(),
        Some(f.reader().max_phy_offset)
    );
    // from_properties_file's warning (no storePathCommitLog) is on stderr; the store is read
    // from STORE all the same.
    assert!(
        stderr(&out).contains("storePathCommitLog"),
        "{}",
        stderr(&out)
    );

    // A config whose sizes do not fit the files: the broker would refuse, so do we.
    fs::write(&props, "flushDiskType=ASYNC_FLUSH\n").unwrap();
    let out = run_on(tmp.path(), "topics", &["-c", p]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("commitlog"), "{}", stderr(&out));
    // A config that does not exist, or does not parse.
    let missing = tmp.path().join("nope.properties");
    let out = run_on(tmp.path(), "stat", &["-c", missing.to_str().unwrap()]);
    assert_unusable(&out, "nope.properties", "missing -c file");
    fs::write(&props, "mappedFileSizeCommitLog=1 048 576\n").unwrap();
    let out = run_on(tmp.path(), "stat", &["-c", p]);
    assert_unusable(&out, "broker.properties", "malformed -c file");
}

#[test]
fn cat_filters() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let store = tmp.path();
    let by_off = reader_by_offset(&f);
    let reader = f.reader();

    // A queue range, by queue offset.
    let got = cat_lines(
        store,
        &[
            "--topic",
            "TopicTest",
            "--queue",
            "1",
            "--from",
            "10",
            "--to",
            "20",
        ],
    );
    let q = reader
        .queues
        .iter()
        .find(|q| q.topic == "TopicTest" && q.queue_id == 1)
        .unwrap();
    let want: Vec<i64> = q.messages[10..20]
        .iter()
        .map(|m| m.commit_log_offset)
        .collect();
    let got_off: Vec<i64> = got
        .iter()
        .map(|v| v["commitLogOffset"].as_i64().unwrap())
        .collect();
    assert_eq!(got_off, want);

    // A whole topic through its consume queues, in physical order.
    let got = cat_lines(store, &["--topic", "T", "--body", "none"]);
    let want: Vec<i64> = reader
        .queues
        .iter()
        .filter(|q| q.topic == "T")
        .flat_map(|q| q.messages.iter().map(|m| m.commit_log_offset))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let got_off: Vec<i64> = got
        .iter()
        .map(|v| v["commitLogOffset"].as_i64().unwrap())
        .collect();
    assert_eq!(got_off, want);
    assert!(got.iter().all(|v| v.get("body").is_none()));

    // A physical range starting inside a segment, past a segment boundary.
    let (from, to) = (1_000_000i64, 1_100_000i64);
    let got = cat_lines(
        store,
        &["--from", &from.to_string(), "--to", &to.to_string()],
    );
    let want: Vec<i64> = by_off.range(from..to).map(|(o, _)| *o).collect();
    let got_off: Vec<i64> = got
        .iter()
        .map(|v| v["commitLogOffset"].as_i64().unwrap())
        .collect();
    assert!(want.len() > 50);
    assert_eq!(got_off, want);

    // Store time, as epoch ms and as local time (TZ=UTC for the child).
    let times: Vec<i64> = by_off.values().map(|m| m.store_timestamp).collect();
    let (since, until) = (times[times.len() / 3], times[times.len() / 2]);
    let want: Vec<i64> = by_off
        .values()
        .filter(|m| m.store_timestamp >= since && m.store_timestamp < until)
        .map(|m| m.commit_log_offset)
        .collect();
    let got = cat_lines(
        store,
        &["--since", &since.to_string(), "--until", &until.to_string()],
    );
    let got_off: Vec<i64> = got
        .iter()
        .map(|v| v["commitLogOffset"].as_i64().unwrap())
        .collect();
    assert_eq!(got_off, want);
    let s = since / 1000 * 1000;
    let u = (until + 999) / 1000 * 1000;
    let want_n = by_off
        .values()
        .filter(|m| m.store_timestamp >= s && m.store_timestamp < u)
        .count();
    let got = cat_lines(store, &["--since", &utc(s), "--until", &utc(u)]);
    assert_eq!(got.len(), want_n, "--since {} --until {}", utc(s), utc(u));

    // --limit and --body hex.
    let got = cat_lines(store, &["--limit", "5", "--body", "hex"]);
    assert_eq!(got.len(), 5);
    for v in &got {
        let m = &by_off[&v["commitLogOffset"].as_i64().unwrap()];
        let hex = v["body"].as_str().unwrap();
        let body: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(sha256_hex(&body), m.body_sha256);
    }
    // The text form: one line per record with the body.
    let out = run_on(
        store,
        "cat",
        &["--topic", "TopicTest", "--queue", "0", "--limit", "4"],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 4);
    assert!(
        text.lines()
            .all(|l| l.contains("TopicTest") && l.contains("body=")),
        "{text}"
    );

    // Bad filters are unusable input.
    let out = run_on(store, "cat", &["--since", "yesterday"]);
    assert_unusable(&out, "--since", "bad --since");
    let out = run_on(store, "cat", &["--topic", "NoSuchTopic"]);
    assert_unusable(&out, "NoSuchTopic", "unknown topic");
}

/// `YYYY-MM-DD HH:MM:SS` of epoch milliseconds in UTC.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// With another open file description holding the `lock` file's lock (as a running broker
/// does), every command reads the store, changes nothing, and `stat` says the lock is held.
#[test]
fn every_command_reads_a_locked_store_and_changes_nothing() {
    let f = fixture("4.6.0/crashed");
    let tmp = copy_store_to_temp(&f);
    let holder = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(tmp.path().join("lock"))
        .expect("open lock");
    // SAFETY: a zeroed flock is valid; the fields we need are set before the call, which only
    // reads it, on a descriptor that stays open for the whole test.
    let rc = unsafe {
        let mut fl: libc::flock = std::mem::zeroed();
        fl.l_type = libc::F_WRLCK as _;
        fl.l_whence = libc::SEEK_SET as _;
        fl.l_len = 1;
        libc::fcntl(holder.as_raw_fd(), libc::F_OFD_SETLK, &fl)
    };
    assert_eq!(rc, 0, "take the lock: {}", std::io::Error::last_os_error());
    let store = tmp.path();
    let m = reader_by_offset(&f).into_values().nth(3).unwrap();
    let runs: [(&str, Vec<&str>); 9] = [
        ("stat", vec![]),
        ("topics", vec![]),
        ("cat", vec!["--limit", "10"]),
        ("msg", vec![&m.msg_id]),
        ("msg", vec!["--key", "order-1", "--topic", "order-topic"]),
        ("cq", vec!["TopicTest", "0"]),
        ("index", vec!["--entries", "--chains"]),
        ("stat", vec!["--json"]),
        ("topics", vec!["--json"]),
    ];
    for (cmd, args) in &runs {
        let out = run_on(store, cmd, args); // asserts the tree is unchanged
        assert!(
            out.status.success() || (*cmd == "msg" && out.status.code() == Some(1)),
            "{cmd} {args:?}: {:?} {}",
            out.status,
            stderr(&out)
        );
    }
    let got = json_of(store, "stat", &[]);
    assert_eq!(got["lockHeld"], true);
    assert!(
        rmqstore::store::is_locked(store).unwrap(),
        "still held by us"
    );
    drop(holder);
}

#[test]
fn unusable_stores_exit_2_naming_the_file() {
    let missing = Path::new("/nonexistent/rmqstore-store");
    for cmd in ["stat", "topics", "index"] {
        let out = rmqstore().arg(cmd).arg(missing).output().unwrap();
        assert_unusable(&out, "/nonexistent/rmqstore-store", cmd);
    }
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let victim = tmp.path().join("commitlog/00000000000001048576");
    fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_len(1000)
        .unwrap();
    for (cmd, args) in [
        ("stat", vec![]),
        ("topics", vec!["--json"]),
        ("cq", vec!["TopicTest", "0"]),
        ("msg", vec!["--offset", "0"]),
        ("index", vec![]),
    ] {
        let out = run_on(tmp.path(), cmd, &args);
        assert_unusable(&out, &victim.display().to_string(), cmd);
    }
}
