//! `compaction/` (5.x compaction topics, docs/format.md §12.6), read from stores the published
//! 5.3.3 jar wrote: the `compaction` fixture (`interop/v5-features`, a `cleanup.policy=COMPACTION`
//! topic on a master with `enableCompaction`, compacted by Java's own `CompactionLog`), and the
//! empty position checkpoint every 5.3.3 start writes (`async`, `crc`). Expectations come from
//! the fixture's `reader.json`: what Java's `DefaultMessageStore#getMessage` served per queue
//! after a reopen. With `RMQSTORE_V5_FIXTURE_ROOT` set (`interop/v5-features/run.sh`) the same
//! tests run on a store the 5.3.3 jar has just written. The last test lays a log out by hand
//! from the `async` fixture's records, for damage cases on a second layout.

mod common;

use std::path::Path;

use common::{copy_store_to_temp, fixture, fixture_store_config, read_json};
use rmqstore::format::properties;
use rmqstore::format::record::{decode_record, Decoded};
use rmqstore::v5::batch_cq::{BatchCqUnit, INVALID_POS};
use rmqstore::v5::compaction;
use rmqstore::MessageStore;
use serde_json::Value;
use sha2::Digest;

/// The `compaction` fixture: committed, or the one `RMQSTORE_V5_FIXTURE_ROOT` names.
fn compaction_fixture() -> common::Fixture {
    match std::env::var_os("RMQSTORE_V5_FIXTURE_ROOT") {
        Some(root) => {
            let dir = Path::new(&root).join("compaction");
            assert!(dir.is_dir(), "no {}", dir.display());
            common::Fixture {
                name: "fresh 5.3.3/compaction".into(),
                store_dir: dir.join("store"),
                dir,
                version: "5.3.3".into(),
                variant: "compaction".into(),
            }
        }
        None => fixture("5.3.3/compaction"),
    }
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

fn sha256_hex(b: &[u8]) -> String {
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn cli(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn compaction_queues_are_what_java_get_message_serves() {
    let f = compaction_fixture();
    let reader: Value = read_json(&f.dir.join("reader.json"));
    let manifest: Value = read_json(&f.dir.join("manifest.json"));
    let r = compaction::read(&f.store_dir).unwrap().unwrap();
    assert!(r.problems.is_empty(), "{}: {:?}", f.name, r.problems);
    // position-checkpoint: Java's JSON (with its `"empty":false`), queue by queue.
    let cp: Value = serde_json::from_str(reader["positionCheckpoint"].as_str().unwrap()).unwrap();
    let java_cp: std::collections::BTreeMap<String, i64> = cp["queueOffsetMap"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), i(v)))
        .collect();
    assert_eq!(r.positions, java_cp);
    assert!(!java_cp.is_empty(), "Java compacted nothing");

    let java_queues = reader["compactionQueues"].as_array().unwrap();
    assert_eq!(r.queues.len(), java_queues.len());
    let mut failures = Vec::new();
    for jq in java_queues {
        let (topic, qid) = (jq["topic"].as_str().unwrap(), i(&jq["queueId"]) as i32);
        let q = r
            .queues
            .iter()
            .find(|q| q.topic == topic && q.queue_id == qid)
            .unwrap_or_else(|| panic!("no queue {topic}:{qid}"));
        let first = &jq["fetches"][0];
        assert_eq!(q.min_offset, Some(i(&first["minOffset"])), "{topic}:{qid}");
        assert_eq!(q.max_offset, Some(i(&first["maxOffset"])), "{topic}:{qid}");
        assert_eq!(
            q.compacted_to,
            java_cp.get(&format!("{topic}_{qid}")).copied()
        );
        let java_msgs = jq["messages"].as_array().unwrap();
        assert_eq!(
            (q.entries.len(), q.records, q.units),
            (java_msgs.len(), java_msgs.len(), java_msgs.len()),
            "{topic}:{qid}"
        );
        // The committed store has segments that rolled after the compacted one (blank end
        // records, queue end markers); a fresh one may have been compacted again before its
        // shutdown, depending on the random delays of Java's schedule.
        if std::env::var_os("RMQSTORE_V5_FIXTURE_ROOT").is_none() {
            assert!(q.log_files >= 3, "{topic}:{qid}: {} segments", q.log_files);
        }
        // Java compacted this queue: offsets are missing below the checkpoint.
        assert!(
            (java_msgs.len() as i64) < i(&first["maxOffset"]),
            "{topic}:{qid} was not compacted"
        );
        for (e, j) in q.entries.iter().zip(java_msgs) {
            let at = format!("{topic}:{qid}@{}", e.queue_offset);
            let mut eq = |what: &str, java: String, ours: String| {
                if java != ours {
                    failures.push(format!("{at} {what}: java {java}, ours {ours}"));
                }
            };
            eq(
                "queueOffset",
                j["queueOffset"].to_string(),
                e.queue_offset.to_string(),
            );
            eq(
                "compactionLogOffset",
                j["compactionLogOffset"].to_string(),
                e.log_offset.to_string(),
            );
            eq("size", j["size"].to_string(), e.size.to_string());
            eq(
                "storeTimestamp",
                j["storeTimestamp"].to_string(),
                e.store_timestamp.to_string(),
            );
            let bytes = std::fs::read(&e.file).unwrap();
            let rec = &bytes[e.pos as usize..e.pos as usize + e.size as usize];
            let Ok(Decoded::Message { record, .. }) = decode_record(rec, true) else {
                failures.push(format!("{at}: does not decode"));
                continue;
            };
            let prop = |n: &str| properties::get(record.properties, n).map(|c| c.into_owned());
            eq(
                "keys",
                j["keys"].to_string(),
                Value::from(prop("KEYS")).to_string(),
            );
            eq(
                "tags",
                j["tags"].to_string(),
                Value::from(prop("TAGS")).to_string(),
            );
            eq(
                "uniqKey",
                j["uniqKey"].to_string(),
                Value::from(prop("UNIQ_KEY")).to_string(),
            );
            eq(
                "bodyLength",
                j["bodyLength"].to_string(),
                record.body.len().to_string(),
            );
            eq(
                "bodySha256",
                j["bodySha256"].as_str().unwrap().to_string(),
                sha256_hex(record.body),
            );
            eq(
                "physical offset field",
                j["compactionLogOffset"].to_string(),
                record.physical_offset.to_string(),
            );
            eq(
                "queue offset field",
                j["queueOffset"].to_string(),
                record.queue_offset.to_string(),
            );
        }
    }
    assert!(failures.is_empty(), "{}:\n{}", f.name, failures.join("\n"));

    // The puts: keys repeat and tombstones (empty bodies) went in; what Java kept of them is
    // above. A tombstone below the compaction point is gone with every older value of its key.
    let msgs = manifest["messages"].as_array().unwrap();
    let tombstones: Vec<&Value> = msgs.iter().filter(|m| m["kind"] == "tombstone").collect();
    assert!(tombstones.iter().all(|m| i(&m["bodyLength"]) == 0));
    for t in &tombstones {
        let key = format!("{}_{}", t["topic"].as_str().unwrap(), i(&t["queueId"]));
        let q = r
            .queues
            .iter()
            .find(|q| format!("{}_{}", q.topic, q.queue_id) == key)
            .unwrap();
        if i(&t["queueOffset"]) <= java_cp[&key] {
            assert!(
                q.entries
                    .iter()
                    .all(|e| e.queue_offset != i(&t["queueOffset"])),
                "tombstone {t} was kept"
            );
        }
    }
}

#[test]
fn verify_stat_and_preflight_read_the_java_compaction_store() {
    let f = compaction_fixture();
    let tmp = copy_store_to_temp(&f);
    let before = common::tree_digest(tmp.path());
    let root = tmp.path().to_str().unwrap();
    let (code, text) = cli(&["verify", root]);
    assert_eq!(code, 0, "{text}");
    let r = compaction::read(tmp.path()).unwrap().unwrap();
    let (code, text) = cli(&["stat", root]);
    assert_eq!(code, 0, "{text}");
    for q in &r.queues {
        let line = format!(
            "compaction queue {}:{}  records {}  units {}  offsets {}..{}  compacted to {}",
            q.topic,
            q.queue_id,
            q.records,
            q.units,
            q.min_offset.unwrap(),
            q.max_offset.unwrap(),
            q.compacted_to.unwrap()
        );
        assert!(text.contains(&line), "{line}\n{text}");
    }
    let (_, json) = cli(&["stat", "--json", root]);
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        doc["v5"]["compaction"]["queues"].as_array().unwrap().len(),
        r.queues.len(),
        "{doc}"
    );
    let (code, json) = cli(&["preflight", "--json", "--target", "4.6.0", root]);
    let doc: Value = serde_json::from_str(&json).unwrap();
    let finding = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "v5-compaction")
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(finding["severity"], "warning", "{finding}");
    assert_eq!(code, 1);
    // Inspection wrote nothing.
    assert_eq!(before, common::tree_digest(tmp.path()));
}

#[test]
fn damage_to_a_java_compaction_log_or_queue_is_named_by_file_and_offset() {
    let f = compaction_fixture();
    let r = compaction::read(&f.store_dir).unwrap().unwrap();
    let q = &r.queues[0];
    let verify =
        |root: &Path| rmqstore::inspect::verify::verify(root, &Default::default()).unwrap();

    // A torn tail: the last record of the current segment half written (its second half zeros).
    let tmp = copy_store_to_temp(&f);
    let last = q.entries.last().unwrap();
    let seg = tmp
        .path()
        .join(last.file.strip_prefix(&f.store_dir).unwrap());
    let mut b = std::fs::read(&seg).unwrap();
    let (pos, size) = (last.pos as usize, last.size as usize);
    b[pos + size / 2..pos + size].fill(0);
    std::fs::write(&seg, &b).unwrap();
    let v = verify(tmp.path());
    assert!(
        v.findings
            .of_kind("v5-compaction")
            .any(|x| x.file.as_deref() == Some(seg.as_path()) && x.offset == Some(last.pos)),
        "{:#?}",
        v.findings
    );
    assert!(v.findings.has_errors());

    // A segment cut short (Java's MappedFileQueue would refuse to load it).
    let tmp = copy_store_to_temp(&f);
    let seg = tmp
        .path()
        .join(last.file.strip_prefix(&f.store_dir).unwrap());
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    let c = compaction::read(tmp.path()).unwrap().unwrap();
    assert!(
        c.problems
            .iter()
            .any(|(p, _, w)| p == &seg && w.contains(&format!("{} bytes", len - 100))),
        "{:?}",
        c.problems
    );

    // A flipped bit in a unit of the sparse consume queue (its size field).
    let tmp = copy_store_to_temp(&f);
    let e = &q.entries[1];
    // Its unit's place in the queue file named like the record's log segment.
    let unit = q.entries[..1].iter().filter(|x| x.file == e.file).count() as u64 * 46;
    let cq = tmp
        .path()
        .join(format!(
            "compaction/compactionCq/{}/{}",
            q.topic, q.queue_id
        ))
        .join(e.file.file_name().unwrap());
    let mut b = std::fs::read(&cq).unwrap();
    b[unit as usize + 11] ^= 0x04;
    std::fs::write(&cq, &b).unwrap();
    let v = verify(tmp.path());
    assert!(
        v.findings.of_kind("v5-compaction").any(|x| {
            x.file.as_deref() == Some(cq.as_path())
                && x.offset == Some(unit)
                && x.message.contains("size")
        }),
        "{:#?}",
        v.findings
    );
    let (code, _) = cli(&["verify", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 1);

    // A queue file without its log segment (Java's sanityCheck refuses to load).
    let tmp = copy_store_to_temp(&f);
    let seg = tmp
        .path()
        .join(last.file.strip_prefix(&f.store_dir).unwrap());
    std::fs::remove_file(&seg).unwrap();
    let c = compaction::read(tmp.path()).unwrap().unwrap();
    assert!(
        c.problems
            .iter()
            .any(|(p, _, w)| p.file_name() == seg.file_name()
                && w.contains("no compaction-log segment")),
        "{:?}",
        c.problems
    );
}

#[test]
fn the_position_checkpoint_java_writes_is_read() {
    for f in ["async", "crc"] {
        let f = fixture(&format!("5.3.3/{f}"));
        let r = compaction::read(&f.store_dir).unwrap().unwrap();
        assert!(r.positions.is_empty() && r.queues.is_empty() && r.problems.is_empty());
    }
    assert!(compaction::read(&fixture("4.6.0/async").store_dir)
        .unwrap()
        .is_none());
}

/// Copies the first `n` records of `topic` queue 0 into a compaction log and queue.
fn lay_out(root: &Path, topic: &str, n: usize) -> Vec<(i64, i64)> {
    let store = MessageStore::open_read_only(fixture_store_config(root)).unwrap();
    let got = store.get_messages(topic, 0, 0, n);
    let mut log = Vec::new();
    let mut cq = Vec::new();
    let mut placed = Vec::new();
    for rec in got.messages.iter().take(n) {
        let mut bytes = rec.bytes().to_vec();
        let (qo, ts) = match decode_record(&bytes, false).unwrap() {
            Decoded::Message { record, .. } => (record.queue_offset, record.store_timestamp),
            _ => unreachable!(),
        };
        let at = log.len() as i64;
        bytes[28..36].copy_from_slice(&at.to_be_bytes());
        log.extend_from_slice(&bytes);
        cq.extend_from_slice(
            &BatchCqUnit {
                commitlog_offset: at,
                size: bytes.len() as i32,
                tags_code: 0,
                store_time: ts,
                msg_base_offset: qo,
                batch_size: 1,
                compacted_offset: INVALID_POS,
                reserved: 0,
            }
            .encode(),
        );
        placed.push((at, qo));
    }
    drop(store);
    log.resize(1 << 16, 0);
    cq.resize(46 * 100, 0);
    let base = root.join("compaction");
    let ld = base.join("compactionLog").join(topic).join("0");
    let qd = base.join("compactionCq").join(topic).join("0");
    std::fs::create_dir_all(&ld).unwrap();
    std::fs::create_dir_all(&qd).unwrap();
    std::fs::write(ld.join(format!("{:020}", 0)), log).unwrap();
    std::fs::write(qd.join(format!("{:020}", 0)), cq).unwrap();
    std::fs::write(
        base.join("position-checkpoint"),
        format!("{{\"queueOffsetMap\":{{\"{topic}_0\":{}}}}}", n),
    )
    .unwrap();
    placed
}

#[test]
fn a_compaction_log_and_its_sparse_queue_are_read_and_checked() {
    let tmp = copy_store_to_temp(&fixture("5.3.3/async"));
    let placed = lay_out(tmp.path(), "TopicTest", 12);
    let r = compaction::read(tmp.path()).unwrap().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.queues.len(), 1);
    let q = &r.queues[0];
    assert_eq!((q.records, q.units), (12, 12));
    assert_eq!(q.min_offset, Some(placed[0].1));
    assert_eq!(q.max_offset, Some(placed[11].1 + 1));
    assert_eq!(q.compacted_to, Some(12));
    assert_eq!(r.positions.get("TopicTest_0"), Some(&12));

    // verify shows it and finds nothing wrong; stat lists the queue.
    let v = rmqstore::inspect::verify::verify(tmp.path(), &Default::default()).unwrap();
    assert!(!v.findings.has_errors(), "{:#?}", v.findings);
    assert_eq!(v.summary.v5.unwrap().compaction.unwrap().queues.len(), 1);

    // A unit whose base offset is wrong is named by file and offset.
    let qf = tmp
        .path()
        .join("compaction/compactionCq/TopicTest/0/00000000000000000000");
    let mut b = std::fs::read(&qf).unwrap();
    b[5 * 46 + 35] ^= 1;
    std::fs::write(&qf, &b).unwrap();
    let v = rmqstore::inspect::verify::verify(tmp.path(), &Default::default()).unwrap();
    assert!(
        v.findings
            .of_kind("v5-compaction")
            .any(|f| f.file.as_deref() == Some(qf.as_path()) && f.offset == Some(5 * 46)),
        "{:#?}",
        v.findings
    );
    // A log record whose physical-offset field is not its position.
    b[5 * 46 + 35] ^= 1;
    std::fs::write(&qf, &b).unwrap();
    let lf = tmp
        .path()
        .join("compaction/compactionLog/TopicTest/0/00000000000000000000");
    let mut l = std::fs::read(&lf).unwrap();
    let at = placed[3].0 as usize;
    l[at + 35] ^= 1;
    std::fs::write(&lf, &l).unwrap();
    let r = compaction::read(tmp.path()).unwrap().unwrap();
    assert!(
        r.problems
            .iter()
            .any(|(f, o, w)| f == &lf && *o == Some(at as u64) && w.contains("physical offset")),
        "{:?}",
        r.problems
    );
}
