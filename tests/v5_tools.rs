//! The operator tools on 5.x stores (`verify`, `preflight`), and the 5.x rules of the store's
//! own recovery (target version 5.3.3). Stores are copies of the fixtures the 5.3.3 jar wrote
//! (`tests/fixtures/java/rocketmq-5.3.3/`), damaged where a test says so.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::{copy_store_to_temp, fixture};
use rmqstore::inspect::verify::{verify, VerifyOptions, VerifyReport};
use rmqstore::inspect::Severity;
use serde_json::Value;

fn v5(variant: &str) -> tempfile::TempDir {
    let tmp = copy_store_to_temp(&fixture(&format!("5.3.3/{variant}")));
    let gz = tmp.path().join("timerwheel.gz");
    if gz.exists() {
        let mut wheel = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap())
            .read_to_end(&mut wheel)
            .unwrap();
        std::fs::write(tmp.path().join("timerwheel"), wheel).unwrap();
        std::fs::remove_file(gz).unwrap();
    }
    tmp
}

fn run_verify(root: &Path) -> VerifyReport {
    verify(root, &VerifyOptions::default()).unwrap()
}

fn errors(r: &VerifyReport) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.to_string())
        .collect()
}

/// Exit code and stdout.
fn cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn verify_checks_every_5x_structure_of_java_stores_and_finds_no_error() {
    for (variant, want) in [
        ("batchcq", "batchconsumequeue"),
        ("lmq", "lmq"),
        ("timer", "timerlog"),
        ("epoch", "epochFileCheckpoint"),
        ("epoch", "brokerIdentity"),
        ("compaction", "compaction"),
    ] {
        let tmp = v5(variant);
        let before = common::tree_digest(tmp.path());
        let r = run_verify(tmp.path());
        assert!(errors(&r).is_empty(), "{variant}: {:#?}", errors(&r));
        let v5 = r.summary.v5.as_ref().expect(variant);
        assert!(v5.present.iter().any(|p| p == want), "{variant}: {v5:?}");
        assert!(v5.problems.is_empty());
        // Inspection changes nothing (no abort, lock or segment created).
        assert_eq!(before, common::tree_digest(tmp.path()), "{variant}");
    }
    let r = run_verify(v5("batchcq").path());
    let v = r.summary.v5.unwrap();
    assert_eq!(v.batch_queues.len(), 2);
    let manifest: Value = common::read_json(&fixture("5.3.3/batchcq").dir.join("manifest.json"));
    let inner = manifest["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["sysFlag"].as_i64().unwrap() & 0x80 != 0)
        .count() as u64;
    assert!(inner > 0);
    assert_eq!(r.summary.inner_batch_records, inner, "{:?}", v.batch_queues);
    let r = run_verify(v5("timer").path());
    let t = r.summary.v5.unwrap().timer.unwrap();
    assert_eq!((t.pending, t.used_slots), (50, 49));
    // A 4.6.0 store has no 5.x part.
    let tmp = copy_store_to_temp(&fixture("4.6.0/async"));
    assert!(run_verify(tmp.path()).summary.v5.is_none());
}

#[test]
fn verify_names_the_file_and_offset_of_damaged_5x_units() {
    // Batch CQ: the third unit's commitlog offset moved by one byte.
    let tmp = v5("batchcq");
    let file = tmp
        .path()
        .join("batchconsumequeue/BatchTopic/0/00000000000000000000");
    let mut b = std::fs::read(&file).unwrap();
    b[2 * 46 + 7] ^= 1;
    std::fs::write(&file, b).unwrap();
    let r = run_verify(tmp.path());
    let f: Vec<_> = r.findings.of_kind("v5-batch-cq").collect();
    assert!(
        f.iter().any(|f| f.severity == Severity::Error
            && f.file.as_deref() == Some(file.as_path())
            && f.offset == Some(2 * 46)),
        "{f:#?}"
    );
    assert_eq!(r.exit_code(), 1);

    // LMQ: unit 3 of %LMQ%a points at the record of unit 2.
    let tmp = v5("lmq");
    let file = tmp
        .path()
        .join("consumequeue/%LMQ%a/0/00000000000000000000");
    let mut b = std::fs::read(&file).unwrap();
    let prev = b[40..60].to_vec();
    b[60..80].copy_from_slice(&prev);
    std::fs::write(&file, b).unwrap();
    let r = run_verify(tmp.path());
    let f: Vec<_> = r.findings.of_kind("v5-lmq").collect();
    assert!(
        f.iter()
            .any(|f| f.file.as_deref() == Some(file.as_path()) && f.offset == Some(60)),
        "{f:#?}"
    );
    // ...and the LMQ is not also reported as a broken plain queue.
    assert_eq!(r.findings.of_kind("cq-unit-mismatch").count(), 0);

    // Timer log: the fourth unit's offsetPy (bytes 28..36 of a unit) is off by one.
    let tmp = v5("timer");
    let seg = tmp.path().join("timerlog/00000000000000000000");
    let mut b = std::fs::read(&seg).unwrap();
    b[3 * 52 + 35] ^= 1;
    std::fs::write(&seg, b).unwrap();
    let r = run_verify(tmp.path());
    let f: Vec<_> = r.findings.of_kind("v5-timer").collect();
    assert!(
        f.iter()
            .any(|f| f.file.as_deref() == Some(seg.as_path()) && f.offset == Some(3 * 52)),
        "{f:#?}"
    );
    // The real-topic hash (bytes 40..44) is checked against the record's REAL_TOPIC.
    let tmp = v5("timer");
    let seg = tmp.path().join("timerlog/00000000000000000000");
    let mut b = std::fs::read(&seg).unwrap();
    b[5 * 52 + 43] ^= 1;
    std::fs::write(&seg, b).unwrap();
    let r = run_verify(tmp.path());
    assert!(
        r.findings
            .of_kind("v5-timer")
            .any(|f| f.offset == Some(5 * 52) && f.message.contains("REAL_TOPIC")),
        "{:#?}",
        r.findings
    );

    // Broker identity: a line end after the id (Java's Long.valueOf refuses it), and a
    // temp file without its register check code. An absent file is no finding.
    let tmp = v5("epoch");
    let id = tmp.path().join("brokerIdentity");
    std::fs::write(&id, "DefaultCluster#broker-a#1\n").unwrap();
    let temp = tmp.path().join("brokerIdentity-temp");
    std::fs::write(&temp, "DefaultCluster#broker-a#2").unwrap();
    let r = run_verify(tmp.path());
    for (file, what) in [(&id, "broker id"), (&temp, "3 field(s)")] {
        assert!(
            r.findings.of_kind("v5-broker-identity").any(|f| {
                f.severity == Severity::Error
                    && f.file.as_deref() == Some(file.as_path())
                    && f.message.contains(what)
            }),
            "{what}: {:#?}",
            r.findings
        );
    }
    let (code, text) = cli(&["verify", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    std::fs::remove_file(&id).unwrap();
    std::fs::remove_file(&temp).unwrap();
    let r = run_verify(tmp.path());
    assert!(errors(&r).is_empty(), "{:#?}", errors(&r));
    assert_eq!(r.findings.of_kind("v5-broker-identity").count(), 0);

    // Epoch file: an entry changed, so its CRC no longer matches.
    let tmp = v5("epoch");
    let ep = tmp.path().join("epochFileCheckpoint");
    let text = std::fs::read_to_string(&ep)
        .unwrap()
        .replacen("2-", "4-", 1);
    std::fs::write(&ep, text).unwrap();
    let r = run_verify(tmp.path());
    assert!(
        r.findings
            .of_kind("v5-epoch")
            .any(|f| f.file.as_deref() == Some(ep.as_path())),
        "{:#?}",
        r.findings
    );
}

#[test]
fn verify_cli_shows_5x_structures_in_text_and_json() {
    let tmp = v5("timer");
    let root = tmp.path().to_str().unwrap();
    let (code, text) = cli(&["verify", root]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("5.x structures: timerlog, timerwheel, timercheck, timermetrics"));
    assert!(text.contains("timers: 50 pending (1 rolled)"), "{text}");
    let (code, text) = cli(&["verify", "--json", root]);
    assert_eq!(code, 0, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["summary"]["v5"]["timer"]["pending"], 50, "{doc}");
}

fn preflight(root: &Path, target: &str) -> (i32, Value) {
    let (code, text) = cli(&[
        "preflight",
        "--json",
        "--target",
        target,
        root.to_str().unwrap(),
    ]);
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (code, doc)
}

fn finding<'a>(doc: &'a Value, kind: &str) -> Option<&'a Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
}

#[test]
fn preflight_names_what_4x_cannot_read_after_5x_wrote() {
    for (variant, kind, sev) in [
        ("batchcq", "v5-batch-cq", "error"),
        ("lmq", "v5-lmq", "warning"),
        ("timer", "v5-timers", "error"),
        ("epoch", "v5-epoch", "warning"),
        ("epoch", "v5-broker-identity", "info"),
        ("compaction", "v5-compaction", "warning"),
        ("crc", "v5-crc-property", "info"),
        ("async", "v2-records", "error"),
    ] {
        let tmp = v5(variant);
        let (code, doc) = preflight(tmp.path(), "4.6.0");
        let f = finding(&doc, kind).unwrap_or_else(|| panic!("{variant}: {doc}"));
        assert_eq!(f["severity"], sev, "{variant}: {f}");
        assert!(f["file"].as_str().is_some(), "{f}");
        if sev != "info" {
            assert_eq!(code, 1, "{variant}: {doc}");
        }
        // Under 5.x the same facts are no hazard.
        let (code, doc) = preflight(tmp.path(), "5.3.3");
        assert_eq!(
            finding(&doc, kind).unwrap()["severity"],
            "info",
            "{variant}"
        );
        assert_eq!(code, 0, "{variant}: {doc}");
    }
    // The timer store's hazard counts the pending timers.
    let tmp = v5("timer");
    let (_, doc) = preflight(tmp.path(), "4.6.0");
    let msg = finding(&doc, "v5-timers").unwrap()["message"]
        .as_str()
        .unwrap();
    assert!(msg.contains("holds 50 pending timers"), "{msg}");
}

#[test]
fn preflight_names_what_5x_does_differently_on_a_4x_store() {
    let tmp = copy_store_to_temp(&fixture("4.6.0/async"));
    let (code, doc) = preflight(tmp.path(), "5.3.3");
    let f = finding(&doc, "v5-differences").unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(f["severity"], "info");
    assert!(f["message"].as_str().unwrap().contains("zero-length last"));
    assert_eq!(code, 0, "{doc}");
    // Not for a move within 4.x.
    let (_, doc) = preflight(tmp.path(), "4.6.0");
    assert!(finding(&doc, "v5-differences").is_none());
    // A RocksDB store type would not read the existing file queues.
    let props = tmp.path().join("broker.properties");
    std::fs::write(&props, "storeType=defaultRocksDB\n").unwrap();
    let (code, text) = cli(&[
        "preflight",
        "--json",
        "--target",
        "5.3.3",
        "-c",
        props.to_str().unwrap(),
        tmp.path().to_str().unwrap(),
    ]);
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let f = finding(&doc, "v5-rocksdb-consumequeue").unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(f["severity"], "warning");
    assert_eq!(code, 1);
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn cq_dumps_a_batch_consume_queue_unit_by_unit() {
    let tmp = v5("batchcq");
    let root = tmp.path().to_str().unwrap();
    let dir = tmp.path().join("batchconsumequeue/BatchTopic/1");
    let file = dir.join("00000000000000000000");
    // Two files of 10 units: the queue's bytes are their concatenation.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend(std::fs::read(dir.join("00000000000000000460")).unwrap());
    let (code, text) = cli(&["cq", root, "BatchTopic", "1", "--json"]);
    assert_eq!(code, 0, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let units = doc["units"].as_array().unwrap();
    assert_eq!(units.len(), 12);
    for (k, u) in units.iter().enumerate() {
        let b = &bytes[k * 46..];
        let be64 = |at: usize| i64::from_be_bytes(b[at..at + 8].try_into().unwrap());
        assert_eq!(u["commitLogOffset"], be64(0), "{u}");
        assert_eq!(u["queueOffset"], be64(28), "{u}");
        assert_eq!(u["batchSize"], i16::from_be_bytes([b[36], b[37]]), "{u}");
        assert_eq!(u["check"], "match", "{u}");
        assert_eq!(u["pos"], (k % 10) * 46);
    }
    assert_eq!(doc["maxOffset"], 27);
    // --from picks the unit holding that offset.
    let (_, text) = cli(&[
        "cq",
        root,
        "BatchTopic",
        "1",
        "--from",
        "12",
        "--limit",
        "1",
    ]);
    assert!(text.contains("\n          10      5"), "{text}");
    // A unit pointing at another record is shown as such.
    let mut b = std::fs::read(&file).unwrap();
    b.copy_within(0..8, 46);
    std::fs::write(&file, b).unwrap();
    let (_, text) = cli(&["cq", root, "BatchTopic", "1", "--limit", "2"]);
    assert!(text.contains("OTHER RECORD"), "{text}");
    assert!(text.contains("1 do not match their record"), "{text}");
}

#[test]
fn cat_reads_lmq_and_batch_queues_and_notes_timers() {
    // LMQ: the records cat gives for %LMQ%a are those its consume-queue units point at.
    let tmp = v5("lmq");
    let root = tmp.path().to_str().unwrap();
    let cq = std::fs::read(
        tmp.path()
            .join("consumequeue/%LMQ%a/0/00000000000000000000"),
    )
    .unwrap();
    let want: Vec<i64> = cq
        .chunks_exact(20)
        .filter(|u| u.iter().any(|b| *b != 0))
        .map(|u| i64::from_be_bytes(u[..8].try_into().unwrap()))
        .collect();
    assert_eq!(want.len(), 9);
    let (code, text) = cli(&["cat", root, "--topic", "%LMQ%a", "--json", "--body", "none"]);
    assert_eq!(code, 0, "{text}");
    let got: Vec<i64> = json_lines(&text)
        .iter()
        .filter_map(|d| d["commitLogOffset"].as_i64())
        .collect();
    assert_eq!(got, want);
    let (_, text) = cli(&[
        "cat", root, "--topic", "%LMQ%a", "--from", "3", "--to", "5", "--json", "--body", "none",
    ]);
    let got: Vec<i64> = json_lines(&text)
        .iter()
        .filter_map(|d| d["commitLogOffset"].as_i64())
        .collect();
    assert_eq!(got, want[3..5].to_vec());

    // Batch CQ topic: no plain consume queue; the records of the units holding offsets 5..10.
    let tmp = v5("batchcq");
    let root = tmp.path().to_str().unwrap();
    let (code, text) = cli(&[
        "cat",
        root,
        "--topic",
        "BatchTopic",
        "--queue",
        "1",
        "--from",
        "5",
        "--to",
        "10",
        "--body",
        "none",
    ]);
    assert_eq!(code, 0, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("offset=5") && lines[0].contains("[inner batch of 4]"));
    assert!(lines[1].contains("offset=9"));

    // Timers: each timer record says for which topic and when it is due.
    let tmp = v5("timer");
    let (_, text) = cli(&[
        "cat",
        tmp.path().to_str().unwrap(),
        "--topic",
        "rmq_sys_wheel_timer",
        "--limit",
        "1",
        "--body",
        "none",
    ]);
    assert!(text.contains("[timer for TimerUser, due "), "{text}");
}

#[test]
fn topics_lists_batch_queues_lmq_and_pending_timers() {
    let tmp = v5("batchcq");
    let (code, text) = cli(&["topics", tmp.path().to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let bt = doc["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "BatchTopic")
        .unwrap_or_else(|| panic!("{doc}"));
    let qs = bt["v5"]["batchQueues"].as_array().unwrap();
    assert_eq!(qs.len(), 2);
    assert_eq!(qs[1]["messages"], 27);
    let tmp = v5("lmq");
    let (_, text) = cli(&["topics", tmp.path().to_str().unwrap()]);
    assert!(text.contains("%LMQ%b: light message queue"), "{text}");
    let tmp = v5("timer");
    let (_, text) = cli(&["topics", tmp.path().to_str().unwrap()]);
    assert!(text.contains("TimerUser: 50 timers pending"), "{text}");
    // stat: the pending count and the due range.
    let (_, text) = cli(&["stat", tmp.path().to_str().unwrap()]);
    assert!(
        text.contains("timers: 50 pending (1 rolled) in 49 wheel slots, 50 timer-log units, due 1796235335439..1796321435000"),
        "{text}"
    );
}

fn files_named(dir: &Path) -> Vec<Vec<u8>> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, b)| b).collect()
}

#[test]
fn rebuild_of_a_5x_store_uses_the_5x_slot_rule_and_keeps_what_it_does_not_rebuild() {
    use rmqstore::inspect::rebuild::{rebuild, RebuildOptions, RebuildTarget};
    for (variant, kept) in [
        (
            "lmq",
            vec![
                "consumequeue/%LMQ%a",
                "consumequeue/%LMQ%b",
                "consumequeue/%LMQ%c",
            ],
        ),
        // batchconsumequeue/ is regenerated, not kept (checked against Java's bytes below).
        ("batchcq", vec![]),
        (
            "timer",
            vec![
                "timerlog",
                "timerwheel",
                "config/timercheck",
                "config/timermetrics",
            ],
        ),
        (
            "epoch",
            vec![
                "epochFileCheckpoint",
                "epochFileCheckpoint.bak",
                "brokerIdentity",
                "brokerIdentity-temp",
            ],
        ),
        // compaction/ as Java's CompactionLog left it (the plain queues are regenerated).
        ("compaction", vec!["compaction"]),
    ] {
        let tmp = v5(variant);
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("out");
        let r = rebuild(
            tmp.path(),
            &RebuildOptions::new(RebuildTarget::Out(dest.clone())),
        )
        .unwrap();
        assert!(r.index_5x_slot_count, "{variant}");
        assert_eq!(r.kept_5x, kept, "{variant}");
        // The index: byte-identical to the one Java 5.3.3 wrote (5.x hashSlotCount rule).
        assert_eq!(
            files_named(&dest.join("index")),
            files_named(&tmp.path().join("index")),
            "{variant}"
        );
        // What was kept is byte-identical, and the output verifies clean.
        for k in &kept {
            let (a, b) = (dest.join(k), tmp.path().join(k));
            if b.is_dir() {
                assert_eq!(
                    common::tree_digest(&a),
                    common::tree_digest(&b),
                    "{variant} {k}"
                );
            } else {
                assert!(
                    std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
                    "{variant} {k}"
                );
            }
        }
        let v = run_verify(&dest);
        assert!(errors(&v).is_empty(), "{variant}: {:#?}", errors(&v));
        if variant == "batchcq" {
            // No plain queue for a batch-CQ topic, as 5.x keeps none.
            assert!(!dest.join("consumequeue/BatchTopic").exists());
            // The regenerated batch queues are Java's, byte for byte.
            assert_eq!(
                common::tree_digest(&dest.join("batchconsumequeue")),
                common::tree_digest(&tmp.path().join("batchconsumequeue"))
            );
        }
    }
    // In place, compaction/ and the broker identity stay as Java wrote them.
    for (variant, kept) in [("compaction", "compaction"), ("epoch", "brokerIdentity")] {
        let tmp = v5(variant);
        let before = common::tree_digest(tmp.path());
        let r = rebuild(tmp.path(), &RebuildOptions::new(RebuildTarget::InPlace)).unwrap();
        assert!(
            r.kept_5x.iter().any(|k| k == kept),
            "{variant}: {:?}",
            r.kept_5x
        );
        let after = common::tree_digest(tmp.path());
        for (name, digest) in &before {
            if name.starts_with("compaction/") || name.starts_with("brokerIdentity") {
                assert_eq!(after.get(name), Some(digest), "{variant}: {name}");
            }
        }
        assert!(errors(&run_verify(tmp.path())).is_empty(), "{variant}");
    }
    // In place, the kept structures stay where they are.
    let tmp = v5("lmq");
    let before = common::tree_digest(&tmp.path().join("consumequeue/%LMQ%a"));
    let r = rebuild(tmp.path(), &RebuildOptions::new(RebuildTarget::InPlace)).unwrap();
    assert_eq!(r.kept_5x.len(), 3);
    assert_eq!(
        common::tree_digest(&tmp.path().join("consumequeue/%LMQ%a")),
        before
    );
    assert!(errors(&run_verify(tmp.path())).is_empty());
}
