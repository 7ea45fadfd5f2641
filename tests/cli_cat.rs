//! `cat --tag/--key/--msg-id/--file` (issue 17), run over temp copies of the Java fixtures.
//! Every expected set is computed from the fixture's `manifest.json` (what each put returned:
//! topic, tags, keys, store time, offset) and, for keys, checked against what Java's own
//! `queryMessage` returned (`reader.json` `queries`); nothing is hard-coded.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::{all_fixtures, copy_store_to_temp, fixture, tree_digest, Fixture, ManifestMessage};
use serde_json::Value;

const PREPARED: i32 = 0x4;
const ROLLBACK: i32 = 0xC;

fn tran_type(sys_flag: i32) -> i32 {
    sys_flag & 0xC
}

/// Runs `rmqstore cat <args..> --json --body none`; the store tree must not change.
fn cat(store: &Path, target: &Path, args: &[&str]) -> (Output, Vec<Value>) {
    let before = tree_digest(store);
    let out = Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .arg("cat")
        .arg(target)
        .args(args)
        .args(["--json", "--body", "none"])
        .env("TZ", "UTC")
        .output()
        .expect("run rmqstore");
    assert_eq!(
        tree_digest(store),
        before,
        "`cat {args:?}` changed the store"
    );
    let lines = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .collect::<Vec<_>>();
    for l in &lines {
        assert_eq!(l["schema"], "rmqstore.cat/2", "{l}");
    }
    (out, lines)
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The commitlog offsets of the record lines.
fn offsets(lines: &[Value]) -> BTreeSet<i64> {
    lines
        .iter()
        .filter_map(|l| l["commitLogOffset"].as_i64())
        .collect()
}

/// The manifest's messages that are in the store as Java read it back.
fn stored(f: &Fixture) -> Vec<ManifestMessage> {
    let max = f.reader().max_phy_offset;
    f.manifest()
        .messages
        .into_iter()
        .filter(|m| m.wrote_offset < max)
        .collect()
}

fn uniq_key(m: &ManifestMessage) -> Option<String> {
    m.properties_string.split('\u{2}').find_map(|p| {
        p.strip_prefix("UNIQ_KEY\u{1}")
            .map(|v| v.to_string())
            .filter(|v| !v.is_empty())
    })
}

fn has_key(m: &ManifestMessage, key: &str) -> bool {
    uniq_key(m).as_deref() == Some(key)
        || m.keys
            .as_deref()
            .is_some_and(|k| k.split(' ').any(|t| t == key))
}

fn tagged(m: &ManifestMessage, tags: &[&str]) -> bool {
    m.tags.as_deref().is_some_and(|t| tags.contains(&t))
}

#[test]
fn tag_filter_reads_the_consume_queues_and_matches_the_manifest() {
    for f in all_fixtures() {
        let tmp = copy_store_to_temp(&f);
        let st = tmp.path();
        let msgs = stored(&f);
        let tags = ["TagA", "标签"];
        // In a consume queue: not PREPARED, not ROLLBACK.
        let in_cq = |m: &&ManifestMessage| {
            m.topic == "TopicTest" && ![PREPARED, ROLLBACK].contains(&tran_type(m.sys_flag))
        };
        let want: BTreeSet<i64> = msgs
            .iter()
            .filter(in_cq)
            .filter(|m| tagged(m, &tags))
            .map(|m| m.wrote_offset)
            .collect();
        assert!(want.len() > 20, "{}: too few to test", f.name);
        let (out, lines) = cat(st, st, &["--topic", "TopicTest", "--tag", "TagA,标签"]);
        ok(&out, &f.name);
        assert_eq!(offsets(&lines), want, "{}: --topic TopicTest --tag", f.name);
        // Repeated --tag, one queue.
        let want_q1: BTreeSet<i64> = msgs
            .iter()
            .filter(in_cq)
            .filter(|m| m.queue_id == 1 && tagged(m, &tags))
            .map(|m| m.wrote_offset)
            .collect();
        let (out, lines) = cat(
            st,
            st,
            &[
                "--topic",
                "TopicTest",
                "--queue",
                "1",
                "--tag",
                "TagA",
                "--tag",
                "标签",
            ],
        );
        ok(&out, &f.name);
        assert_eq!(offsets(&lines), want_q1, "{}: --queue 1", f.name);
        assert!(!want_q1.is_empty());
    }
}

#[test]
fn tag_filter_without_topic_walks_the_log_with_time_bounds() {
    for f in all_fixtures() {
        let tmp = copy_store_to_temp(&f);
        let st = tmp.path();
        let msgs = stored(&f);
        let mut times: Vec<i64> = msgs.iter().map(|m| m.store_timestamp).collect();
        times.sort();
        let (since, until) = (times[times.len() / 4], times[times.len() * 3 / 4]);
        let want: BTreeSet<i64> = msgs
            .iter()
            .filter(|m| tagged(m, &["TagB"]))
            .filter(|m| (since..until).contains(&m.store_timestamp))
            .map(|m| m.wrote_offset)
            .collect();
        assert!(want.len() > 20, "{}", f.name);
        let (s, u) = (since.to_string(), until.to_string());
        let (out, lines) = cat(st, st, &["--tag", "TagB", "--since", &s, "--until", &u]);
        ok(&out, &f.name);
        assert_eq!(
            offsets(&lines),
            want,
            "{}: --tag TagB --since --until",
            f.name
        );
        // --limit keeps the first ones in physical order.
        let (out, lines) = cat(st, st, &["--tag", "TagB", "--since", &s, "--limit", "5"]);
        ok(&out, &f.name);
        let first5: BTreeSet<i64> = msgs
            .iter()
            .filter(|m| tagged(m, &["TagB"]) && m.store_timestamp >= since)
            .map(|m| m.wrote_offset)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .take(5)
            .collect();
        assert_eq!(offsets(&lines), first5, "{}: --limit 5", f.name);
    }
}

/// Keys of TopicTest to ask for: the most used KEYS tokens and a few UNIQ_KEYs.
fn sample_keys(msgs: &[ManifestMessage]) -> Vec<String> {
    let mut count = std::collections::BTreeMap::<String, usize>::new();
    for m in msgs.iter().filter(|m| m.topic == "TopicTest") {
        for k in m.keys.as_deref().unwrap_or_default().split(' ') {
            if !k.is_empty() {
                *count.entry(k.to_string()).or_default() += 1;
            }
        }
    }
    let mut by: Vec<(usize, String)> = count.into_iter().map(|(k, n)| (n, k)).collect();
    by.sort_by(|a, b| b.cmp(a));
    let mut keys: Vec<String> = by.into_iter().take(4).map(|(_, k)| k).collect();
    keys.extend(
        msgs.iter()
            .filter(|m| m.topic == "TopicTest")
            .step_by(97)
            .filter_map(uniq_key)
            .take(3),
    );
    keys
}

/// Java's index answer for `topic#key`, dropping its hash collisions: the messages of the
/// topic that carry the key, ROLLBACK records excluded (Java does not index them).
fn want_key(msgs: &[ManifestMessage], topic: Option<&str>, key: &str) -> BTreeSet<i64> {
    msgs.iter()
        .filter(|m| topic.is_none_or(|t| m.topic == t))
        .filter(|m| tran_type(m.sys_flag) != ROLLBACK && has_key(m, key))
        .map(|m| m.wrote_offset)
        .collect()
}

#[test]
fn key_filter_uses_the_index_and_agrees_with_java_query_message() {
    for f in all_fixtures() {
        let tmp = copy_store_to_temp(&f);
        let st = tmp.path();
        let msgs = stored(&f);
        let reader = f.reader();
        for key in sample_keys(&msgs) {
            let want = want_key(&msgs, Some("TopicTest"), &key);
            assert!(!want.is_empty(), "{}: {key}", f.name);
            let (out, lines) = cat(st, st, &["--topic", "TopicTest", "--key", &key]);
            ok(&out, &f.name);
            assert!(
                lines.iter().all(|l| l.get("notice").is_none()),
                "{}: the index answers alone: {lines:?}",
                f.name
            );
            let got = offsets(&lines);
            assert_eq!(got, want, "{}: --topic TopicTest --key {key}", f.name);
            // Every one is among what Java's queryMessage returned (it keeps collisions).
            let java: BTreeSet<i64> = reader.queries["TopicTest"][&key].iter().copied().collect();
            assert!(
                got.is_subset(&java),
                "{}: {key}: {got:?} vs {java:?}",
                f.name
            );
        }
        // Without --topic: every topic with a consume queue.
        let key = &sample_keys(&msgs)[0];
        let queue_topics: BTreeSet<&str> = reader.queues.iter().map(|q| q.topic.as_str()).collect();
        let want: BTreeSet<i64> = msgs
            .iter()
            .filter(|m| queue_topics.contains(m.topic.as_str()))
            .filter(|m| tran_type(m.sys_flag) != ROLLBACK && has_key(m, key))
            .map(|m| m.wrote_offset)
            .collect();
        let (out, lines) = cat(st, st, &["--key", key]);
        ok(&out, &f.name);
        assert_eq!(offsets(&lines), want, "{}: --key {key}", f.name);
        // With a time window (index time bounds, then exact on the record).
        let times: Vec<i64> = msgs
            .iter()
            .filter(|m| want.contains(&m.wrote_offset))
            .map(|m| m.store_timestamp)
            .collect();
        if times.len() >= 2 {
            let since = times[times.len() / 2];
            let want_t: BTreeSet<i64> = msgs
                .iter()
                .filter(|m| want.contains(&m.wrote_offset) && m.store_timestamp >= since)
                .map(|m| m.wrote_offset)
                .collect();
            let (out, lines) = cat(st, st, &["--key", key, "--since", &since.to_string()]);
            ok(&out, &f.name);
            assert_eq!(offsets(&lines), want_t, "{}: --key --since", f.name);
        }
    }
}

#[test]
fn key_filter_scans_where_the_index_is_missing_or_ends_early_and_says_so() {
    let f = fixture("4.6.0/async");
    let msgs = stored(&f);
    let keys = sample_keys(&msgs);
    // The newest index file gone: the index ends early, the rest of the log is scanned.
    let tmp = copy_store_to_temp(&f);
    let st = tmp.path();
    let mut files: Vec<_> = fs::read_dir(st.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "the fixture has several index files");
    fs::remove_file(files.last().unwrap()).unwrap();
    let mut behind = 0;
    for key in &keys {
        let (out, lines) = cat(st, st, &["--topic", "TopicTest", "--key", key]);
        ok(&out, key);
        assert_eq!(
            offsets(&lines),
            want_key(&msgs, Some("TopicTest"), key),
            "{key}"
        );
        let notice: Vec<&Value> = lines.iter().filter_map(|l| l.get("notice")).collect();
        assert_eq!(notice.len(), 1, "{key}: {lines:?}");
        assert_eq!(notice[0]["kind"], "indexBehind");
        assert!(notice[0]["scannedFrom"].as_u64().unwrap() > 0);
        assert!(String::from_utf8_lossy(&out.stderr).contains("the index ends at commitlog offset"));
        behind += 1;
    }
    assert!(behind > 0);
    // No index at all: the whole log is scanned.
    for p in &files {
        let _ = fs::remove_file(p);
    }
    for key in &keys {
        let (out, lines) = cat(st, st, &["--topic", "TopicTest", "--key", key]);
        ok(&out, key);
        assert_eq!(
            offsets(&lines),
            want_key(&msgs, Some("TopicTest"), key),
            "{key}"
        );
        let n: Vec<&Value> = lines.iter().filter_map(|l| l.get("notice")).collect();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0]["kind"], "indexMissing");
        assert_eq!(
            n[0]["scannedFrom"].as_i64(),
            Some(f.reader().min_phy_offset)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("no index file"));
    }
}

#[test]
fn msg_id_filter_finds_the_one_message() {
    for f in all_fixtures() {
        let tmp = copy_store_to_temp(&f);
        let st = tmp.path();
        let msgs = stored(&f);
        for m in msgs.iter().step_by(301) {
            let (out, lines) = cat(st, st, &["--msg-id", &m.msg_id]);
            ok(&out, &f.name);
            assert_eq!(
                offsets(&lines),
                BTreeSet::from([m.wrote_offset]),
                "{}",
                f.name
            );
        }
    }
}

#[test]
fn file_dumps_one_segment_inside_or_outside_a_store() {
    for f in all_fixtures() {
        let tmp = copy_store_to_temp(&f);
        let st = tmp.path();
        let msgs = f.manifest().messages;
        for (base, path) in f.commitlog_segments() {
            let seg = st.join("commitlog").join(path.file_name().unwrap());
            let len = fs::metadata(&seg).unwrap().len() as i64;
            let want: BTreeSet<i64> = msgs
                .iter()
                .map(|m| m.wrote_offset)
                .filter(|o| (base as i64..base as i64 + len).contains(o))
                .collect();
            let (out, lines) = cat(st, &seg, &["--file"]);
            ok(&out, &seg.display().to_string());
            assert_eq!(offsets(&lines), want, "{}", seg.display());
            // The same file outside any store.
            let alone = tempfile::tempdir().unwrap();
            let copy = alone.path().join(path.file_name().unwrap());
            fs::copy(&seg, &copy).unwrap();
            let (out, lines) = cat(alone.path(), &copy, &["--file", "--tag", "TagC"]);
            ok(&out, &copy.display().to_string());
            let want_c: BTreeSet<i64> = msgs
                .iter()
                .filter(|m| want.contains(&m.wrote_offset) && tagged(m, &["TagC"]))
                .map(|m| m.wrote_offset)
                .collect();
            assert_eq!(offsets(&lines), want_c, "{} --tag TagC", copy.display());
        }
    }
}

#[test]
fn file_names_damage_and_bad_names() {
    let f = fixture("4.6.0/async");
    let msgs = f.manifest().messages;
    let (base, path) = f.commitlog_segments()[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let seg = dir.path().join(path.file_name().unwrap());
    let mut bytes = fs::read(&path).unwrap();
    let m = msgs
        .iter()
        .filter(|m| m.wrote_offset as u64 >= base && m.body_length > 8)
        .nth(10)
        .unwrap();
    // The BODYCRC field (bytes 8..12 of the record) no longer matches the body.
    bytes[(m.wrote_offset as u64 - base) as usize + 9] ^= 0xff;
    fs::write(&seg, &bytes).unwrap();
    let (out, lines) = cat(dir.path(), &seg, &["--file"]);
    assert_eq!(out.status.code(), Some(1), "damage exits 1");
    let err = String::from_utf8_lossy(&out.stderr);
    let pos = m.wrote_offset as u64 - base;
    assert!(
        err.contains(&seg.display().to_string()) && err.contains(&format!("position {pos}")),
        "{err}"
    );
    let skipped: Vec<&Value> = lines.iter().filter_map(|l| l.get("skipped")).collect();
    assert_eq!(skipped.len(), 1, "{lines:?}");
    assert_eq!(skipped[0]["offset"].as_i64(), Some(m.wrote_offset));
    // Every other record of the segment is still there.
    let want: BTreeSet<i64> = msgs
        .iter()
        .map(|x| x.wrote_offset)
        .filter(|&o| o as u64 >= base && (o as u64) < base + bytes.len() as u64)
        .filter(|&o| o != m.wrote_offset)
        .collect();
    assert_eq!(offsets(&lines), want);
    // A file whose name is not a segment name: exit 2, named.
    let bad = dir.path().join("segment.bin");
    fs::write(&bad, &bytes).unwrap();
    let (out, _) = cat(dir.path(), &bad, &["--file"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a segment name"));
}

#[test]
fn tag_filter_confirms_the_tag_when_tags_codes_collide() {
    // "Aa" and "BB" have the same Java String.hashCode (2112): their consume-queue units
    // carry the same tags code, and only the record tells them apart.
    use rmqstore::{Message, MessageStore, StoreConfig};
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::with_root(dir.path());
    config.mapped_file_size_commit_log = 1 << 20;
    let store = MessageStore::open(config).unwrap();
    let mut want = BTreeSet::new();
    for i in 0..20u8 {
        let tag = if i % 3 == 0 { "BB" } else { "Aa" };
        let r = store
            .put_message(&Message::new("T", 0, vec![i]).with_tags(tag))
            .unwrap();
        if tag == "BB" {
            want.insert(r.append.unwrap().wrote_offset);
        }
    }
    store.flush().unwrap();
    drop(store);
    let (out, lines) = cat(dir.path(), dir.path(), &["--topic", "T", "--tag", "BB"]);
    ok(&out, "collision");
    assert_eq!(offsets(&lines), want);
}
