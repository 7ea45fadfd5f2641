//! `rmqstore bench --smoke`: the whole pipeline on a tiny run (disk probe, one cell per flush
//! mode, bench.json, the PNG plot, the generated section of a Markdown file). No timing is
//! asserted; only that the report is complete and consistent with what was put.

use std::fs;
use std::process::Command;

use serde_json::Value;

fn rmqstore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
}

#[test]
fn smoke_run_writes_json_plot_and_doc_section_and_removes_its_stores() {
    let out = tempfile::tempdir().unwrap();
    let stores = tempfile::tempdir().unwrap();
    let doc = out.path().join("perf.md");
    fs::write(
        &doc,
        "# Perf\n\nmethod text\n\n<!-- bench:begin -->\nold numbers\n<!-- bench:end -->\n\ntail\n",
    )
    .unwrap();
    let o = rmqstore()
        .args(["bench", "--smoke", "--out"])
        .arg(out.path().join("res"))
        .arg("--store-dir")
        .arg(stores.path())
        .arg("--doc")
        .arg(&doc)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "exit {:?}: {stderr}", o.status);

    let json: Value =
        serde_json::from_slice(&fs::read(out.path().join("res/bench.json")).unwrap()).unwrap();
    assert_eq!(json["plan"]["level"], "smoke");
    let disk = &json["disk"];
    assert!(disk["seq_write_bytes_per_s"].as_f64().unwrap() > 0.0);
    assert!(disk["fdatasync_prealloc_us"]["p50"].as_f64().unwrap() > 0.0);
    assert!(json["machine"]["nproc"].as_u64().unwrap() >= 1);

    let cells = json["cells"].as_array().unwrap();
    let modes: Vec<&str> = cells.iter().map(|c| c["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["async", "transient", "sync"]);
    for c in cells {
        let mode = c["mode"].as_str().unwrap();
        // The smoke plan puts exactly 3000 messages per cell, all acknowledged.
        assert_eq!(c["messages"], 3000, "{mode}");
        assert_eq!(c["not_ok"], 0, "{mode}");
        assert_eq!(c["body_size"], 128, "{mode}");
        // One put in four is timed, per writer from its first (the clock reads would cost a
        // tenth of a fast put): 3000/4 samples, plus at most one per writer for the rounding.
        let threads = c["threads"].as_u64().unwrap();
        let samples = c["latency_us"]["samples"].as_u64().unwrap();
        assert!(
            (750..=750 + threads).contains(&samples),
            "{mode}: {samples} samples"
        );
        let lat = &c["latency_us"];
        let (p50, p99, p999, max) = (
            lat["p50"].as_f64().unwrap(),
            lat["p99"].as_f64().unwrap(),
            lat["p999"].as_f64().unwrap(),
            lat["max"].as_f64().unwrap(),
        );
        assert!(
            0.0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= max,
            "{mode}: {lat}"
        );
        // A 128-byte body with a topic and four properties makes a record of a few hundred
        // bytes, and every one of them is in the commitlog.
        let rec = c["record_bytes"].as_f64().unwrap();
        assert!(
            (250.0..400.0).contains(&rec),
            "{mode}: record of {rec} bytes"
        );
        assert!(c["msgs_per_s"].as_f64().unwrap() > 0.0);
        assert!(c["pct_of_disk_bw"].as_f64().unwrap() > 0.0);
        assert!(c["dispatch_lag"]["messages_behind"].as_u64().unwrap() <= 3000);
        assert_eq!(c.get("p50_over_fdatasync_p50").is_some(), mode == "sync");
    }
    assert_eq!(cells[2]["threads"], 4);

    // SYNC_FLUSH with pipelined puts: one producer, 16 in flight, every callback ran.
    let piped = json["pipelined"].as_array().unwrap();
    assert_eq!(piped.len(), 1);
    let p = &piped[0];
    assert_eq!(p["in_flight"], 16);
    assert_eq!(p["messages"], 3000);
    assert_eq!(p["not_ok"], 0);
    assert_eq!(p["latency_us"]["samples"], 750);
    let lat = &p["latency_us"];
    assert!(0.0 < lat["p50"].as_f64().unwrap() && lat["p50"].as_f64() <= lat["p99"].as_f64());
    assert!(p["fdatasync_p50_before_us"].as_f64().unwrap() > 0.0);

    let png = fs::read(out.path().join("res/bench.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 1000);

    let text = fs::read_to_string(&doc).unwrap();
    assert!(text.starts_with("# Perf\n\nmethod text\n\n<!-- bench:begin -->\n"));
    assert!(text.ends_with("<!-- bench:end -->\n\ntail\n"));
    assert!(!text.contains("old numbers"));
    assert!(text.contains("| transient | 128 | 1 |"), "{text}");
    assert!(text.contains("](res/bench.png)"), "{text}");
    assert!(text.contains("SYNC_FLUSH with pipelined puts"), "{text}");
    assert!(text.contains("| 128 | 16 |"), "{text}");

    // The temporary stores are gone.
    assert_eq!(fs::read_dir(stores.path()).unwrap().count(), 0);
}

#[test]
fn a_doc_without_the_markers_is_refused_with_exit_2() {
    let out = tempfile::tempdir().unwrap();
    let doc = out.path().join("perf.md");
    fs::write(&doc, "# nothing to replace\n").unwrap();
    let o = rmqstore()
        .args(["bench", "--smoke", "--out"])
        .arg(out.path())
        .arg("--store-dir")
        .arg(out.path())
        .arg("--doc")
        .arg(&doc)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("perf.md") && stderr.contains("bench:begin"),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(&doc).unwrap(), "# nothing to replace\n");
}
