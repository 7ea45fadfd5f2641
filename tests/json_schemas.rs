//! Every `--json` report, run over every Java fixture, is valid against its documented JSON
//! Schema in `docs/schemas/` and names that schema (`"schema": "rmqstore.<cmd>/1"`).
//!
//! The validator covers the subset of JSON Schema the files use: `type` (one or a list),
//! `const`, `required`, `properties`, `items` (`$schema`, `$id`, `title`, `description`
//! are annotations). A keyword outside that subset fails the test, so a schema cannot
//! silently claim more than is checked.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{all_fixtures, copy_store_to_temp};
use serde_json::Value;

const COMMANDS: [&str; 12] = [
    "stat",
    "topics",
    "index",
    "cq",
    "msg",
    "cat",
    "verify",
    "cleanup",
    "preflight",
    "consumers",
    "rebuild",
    "salvage",
];

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        other => panic!("unknown type {other:?} in a schema"),
    }
}

/// The errors of `v` against `s`, each with its JSON path.
fn validate(s: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    let s = s.as_object().expect("a schema is an object");
    for k in s.keys() {
        assert!(
            [
                "$schema",
                "$id",
                "title",
                "description",
                "type",
                "const",
                "required",
                "properties",
                "items"
            ]
            .contains(&k.as_str()),
            "{path}: schema keyword {k:?} is outside the validated subset"
        );
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
            _ => panic!("{path}: bad type keyword"),
        };
        if !ok {
            errors.push(format!("{path}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            errors.push(format!("{path}: {v} is not {c}"));
        }
    }
    if let Some(o) = v.as_object() {
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !o.contains_key(r) {
                errors.push(format!("{path}: missing {r:?}"));
            }
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (k, sub) in props {
                if let Some(x) = o.get(k) {
                    validate(sub, x, &format!("{path}.{k}"), errors);
                }
            }
        }
    }
    if let (Some(items), Some(a)) = (s.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            validate(items, x, &format!("{path}[{i}]"), errors);
        }
    }
}

fn schema(cmd: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/schemas/{cmd}.schema.json"));
    serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap()
}

#[test]
fn the_validator_rejects_what_it_should() {
    let s = schema("consumers");
    let mut e = Vec::new();
    validate(
        &s,
        &serde_json::json!({"schema": "rmqstore.consumers/1"}),
        "$",
        &mut e,
    );
    assert!(e.iter().any(|e| e.contains("missing \"groups\"")), "{e:?}");
    let mut e = Vec::new();
    let bad = serde_json::json!({"schema": "rmqstore.consumers/2", "store": 1,
        "consumerOffsetFile": "f", "groups": [{"group": "g", "topic": "t", "diffTotal": 1.5,
        "queues": []}]});
    validate(&s, &bad, "$", &mut e);
    assert_eq!(e.len(), 3, "{e:?}");
}

#[test]
fn every_json_report_matches_its_schema_on_every_fixture() {
    let schemas: Vec<(&str, Value)> = COMMANDS.iter().map(|c| (*c, schema(c))).collect();
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    let mut errors = Vec::new();
    for f in all_fixtures() {
        let m = f.manifest();
        let tmp = copy_store_to_temp(&f);
        let st = tmp.path();
        let q = &m.messages[0];
        let cfg = st.join("config");
        fs::create_dir_all(&cfg).unwrap();
        fs::write(
            cfg.join("consumerOffset.json"),
            format!(
                "{{\"offsetTable\":{{\"{}@g\":{{{}:1}}}}}}",
                q.topic, q.queue_id
            ),
        )
        .unwrap();
        let outs = tempfile::tempdir().unwrap();
        let s = st.to_str().unwrap().to_string();
        let qid = q.queue_id.to_string();
        for (cmd, sch) in &schemas {
            let args: Vec<String> = match *cmd {
                "index" => vec![s.clone(), "--entries".into()],
                "cq" => vec![s.clone(), q.topic.clone(), qid.clone()],
                "msg" => vec![s.clone(), q.msg_id.clone()],
                "cat" => vec![s.clone(), "--limit".into(), "50".into()],
                "cleanup" => vec![s.clone(), "--dry-run".into()],
                "rebuild" | "salvage" => vec![
                    s.clone(),
                    "--out".into(),
                    outs.path().join(cmd).to_str().unwrap().into(),
                ],
                _ => vec![s.clone()],
            };
            let o = Command::new(env!("CARGO_BIN_EXE_rmqstore"))
                .arg(cmd)
                .args(&args)
                .arg("--json")
                .env("TZ", "UTC")
                .output()
                .unwrap();
            let text = String::from_utf8(o.stdout).unwrap();
            if *cmd == "cq" && f.name.contains("batchcq") {
                // 5.x batch consume queues are not dumped by `cq` (an error, exit 2).
                assert_eq!(o.status.code(), Some(2), "{}", f.name);
                continue;
            }
            assert!(
                !text.trim().is_empty(),
                "{} {cmd}: no output: {}",
                f.name,
                String::from_utf8_lossy(&o.stderr)
            );
            let docs: Vec<Value> = if *cmd == "cat" {
                text.lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect()
            } else {
                vec![serde_json::from_str(&text).unwrap()]
            };
            for d in &docs {
                assert_eq!(d["schema"], format!("rmqstore.{cmd}/1"));
                validate(sch, d, &format!("{} {cmd} $", f.name), &mut errors);
            }
            *checked.entry(cmd).or_default() += docs.len();
        }
    }
    assert!(
        errors.is_empty(),
        "{} errors: {:#?}",
        errors.len(),
        &errors[..errors.len().min(30)]
    );
    for c in COMMANDS {
        assert!(
            checked.get(c).copied().unwrap_or(0) > 0,
            "{c} never checked"
        );
    }
}

/// bench.json (`rmqstore.bench/2`) against docs/schemas/bench.schema.json: a smoke run without
/// Java (every Java field null), and the committed `--vs-java` run in docs/bench/vs-java/,
/// where every write and read cell carries Java's run and the ratio of the two rates.
#[test]
fn bench_json_matches_its_schema_with_and_without_java() {
    let s = schema("bench");
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .args([
            "bench",
            "--smoke",
            "--only",
            "write,read",
            "--mode",
            "async",
        ])
        .arg("--out")
        .arg(out.path().join("r"))
        .arg("--store-dir")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value =
        serde_json::from_str(&fs::read_to_string(out.path().join("r/bench.json")).unwrap())
            .unwrap();
    assert_eq!(v["schema"], "rmqstore.bench/2");
    let mut errors = Vec::new();
    validate(&s, &v, "smoke $", &mut errors);
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(v["java"].is_null());
    let rows = || {
        v["cells"]
            .as_array()
            .unwrap()
            .iter()
            .chain(v["reads"].as_array().unwrap())
    };
    assert!(rows().count() > 2);
    assert!(rows().all(|c| c["java"].is_null() && c["ratio"].is_null()));

    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/bench/vs-java/bench.json");
    let c: Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
    validate(&s, &c, "docs/bench/vs-java $", &mut errors);
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(c["java"]["version"].as_str().unwrap().starts_with("V4_6_0"));
    let f = |v: &Value| v.as_f64().unwrap();
    let rows: Vec<&Value> = c["cells"]
        .as_array()
        .unwrap()
        .iter()
        .chain(c["reads"].as_array().unwrap())
        .collect();
    assert!(rows.len() >= 10, "{} rows", rows.len());
    for r in rows {
        assert!(r["java"].is_object(), "no Java run: {r}");
        let want = f(&r["msgs_per_s"]) / f(&r["java"]["msgs_per_s"]);
        assert!(
            (f(&r["ratio"]["throughput"]) - want).abs() <= 1e-9 * want,
            "ratio: {r}"
        );
    }
}
