//! `rmqstore bench --smoke --only read,mixed`: the read and mixed cells run and their rows
//! agree with what was read and put (counts, bytes, batches). No timing is asserted.

use std::fs;
use std::process::Command;

use serde_json::Value;

fn rmqstore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
}

/// Smallest and largest record of a 1 KiB body with the bench's properties (topic
/// `BenchTopic`, KEYS/UNIQ_KEY/WAIT/TAGS): 99 bytes of 4.x fixed fields and lengths, the
/// 1024 B body, the 10 B topic and 60-120 B of properties.
const RECORD_MIN: u64 = 99 + 1024 + 10 + 60;
const RECORD_MAX: u64 = 99 + 1024 + 10 + 120;

#[test]
fn read_and_mixed_cells_run_and_their_rows_match_what_was_read() {
    let out = tempfile::tempdir().unwrap();
    let stores = tempfile::tempdir().unwrap();
    let doc = out.path().join("perf.md");
    fs::write(
        &doc,
        "# Perf\n\n<!-- bench:begin -->\nold\n<!-- bench:end -->\n",
    )
    .unwrap();
    let o = rmqstore()
        .args(["bench", "--smoke", "--only", "read,mixed", "--out"])
        .arg(out.path().join("res"))
        .arg("--store-dir")
        .arg(stores.path())
        .arg("--doc")
        .arg(&doc)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let json: Value =
        serde_json::from_slice(&fs::read(out.path().join("res/bench.json")).unwrap()).unwrap();
    // `--only read,mixed`: no write cell ran.
    assert_eq!(json["cells"].as_array().unwrap().len(), 0);
    assert_eq!(json["pipelined"].as_array().unwrap().len(), 0);

    let plan = &json["read_plan"];
    let batch = plan["batch"].as_u64().unwrap();
    assert_eq!(batch, 32);
    let cap = plan["max_batches_per_thread"].as_u64().unwrap();
    let reads = json["reads"].as_array().unwrap();
    let rows: Vec<(&str, u64, &str)> = reads
        .iter()
        .map(|r| {
            (
                r["place"].as_str().unwrap(),
                r["threads"].as_u64().unwrap(),
                r["filter"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("hot", 1, "none"),
            ("hot", 1, "tag"),
            ("hot", 4, "none"),
            ("hot", 4, "tag"),
            ("behind", 4, "none"),
            ("behind", 4, "tag")
        ]
    );
    for r in reads {
        let what = format!("{} {} x{}", r["place"], r["filter"], r["threads"]);
        let threads = r["threads"].as_u64().unwrap();
        let messages = r["messages"].as_u64().unwrap();
        let batches = r["batches"].as_u64().unwrap();
        // The smoke plan reads exactly `cap` batches that returned messages per consumer (its
        // 30 s limit is far away): unfiltered, every batch returned 32 messages, each counted
        // once; with the tag filter (a quarter of the messages) at most 32, at least one.
        assert_eq!(batches, cap * threads, "{what}");
        if r["filter"] == "none" {
            assert_eq!(messages, batches * batch, "{what}");
        } else {
            assert!(
                (batches..=batches * batch).contains(&messages),
                "{what}: {messages} messages in {batches} batches"
            );
        }
        assert_eq!(
            r["latency_us"]["samples"].as_u64().unwrap(),
            batches,
            "{what}"
        );
        let bytes = r["bytes"].as_u64().unwrap();
        assert!(
            (messages * RECORD_MIN..=messages * RECORD_MAX).contains(&bytes),
            "{what}: {bytes} bytes for {messages} records"
        );
        // Without --vs-java there is no Java side.
        assert!(r["java"].is_null() && r["ratio"].is_null(), "{what}");
        let store = r["store_bytes"].as_u64().unwrap();
        let want = if r["place"] == "hot" {
            plan["hot_bytes"].as_u64().unwrap()
        } else {
            plan["behind_bytes"].as_u64().unwrap()
        };
        assert!(store >= want, "{what}: store of {store} bytes");
        assert!(r["msgs_per_s"].as_f64().unwrap() > 0.0, "{what}");
    }

    let mixed = json["mixed"].as_array().unwrap();
    assert_eq!(mixed.len(), 1);
    let m = &mixed[0];
    let puts_per_producer = plan["mixed_max_puts_per_producer"].as_u64().unwrap();
    let puts = m["puts"].as_u64().unwrap();
    assert_eq!(puts, puts_per_producer * m["producers"].as_u64().unwrap());
    assert_eq!(m["puts_not_ok"], 0);
    // Every message put was either got by a consumer or deleted by retention before it was.
    let got = m["got"].as_u64().unwrap();
    let skipped = m["skipped_by_cleanup"].as_u64().unwrap();
    assert_eq!(got + skipped, puts, "got {got}, skipped {skipped}");
    // 3000 x ~1.2 KB in 256 KiB segments: more than the 4 kept, so retention deleted some.
    assert!(m["segments_deleted"].as_u64().unwrap() > 0);
    assert_eq!(m["ha_slave"], true);
    assert!(m["slave_catch_up_ms"].as_f64().is_some());

    assert!(stdout.contains("mixed:"), "{stdout}");
    let text = fs::read_to_string(&doc).unwrap();
    assert!(text.contains("| place | filter | consumers |"), "{text}");
    assert!(text.contains("| behind | none | 4 |"), "{text}");
    assert!(text.contains("Mixed load: 1 producers"), "{text}");
    // The stores are gone.
    assert_eq!(fs::read_dir(stores.path()).unwrap().count(), 0);
}
