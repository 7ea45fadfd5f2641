//! Every `--json` report, run over every Java fixture, is valid against its documented JSON
//! Schema in `docs/schemas/` and names that schema (`"schema"` is the file's `$id`,
//! `rmqstore.<cmd>/<version>`).
//!
//! The validator covers the subset of JSON Schema the files use: `type` (one or a list),
//! `const`, `enum`, `required`, `properties`, `items`, and `oneOf` (exactly one branch
//! valid: the line kinds of `cat`) (`$schema`, `$id`, `title`, `description` are
//! annotations). A keyword outside that subset fails the test, so a schema cannot silently
//! claim more than is checked.

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
                "items",
                "enum",
                "oneOf"
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
    if let Some(branches) = s.get("oneOf") {
        let branches = branches.as_array().expect("oneOf takes a list");
        let mut valid = Vec::new();
        let mut why = Vec::new();
        for (i, b) in branches.iter().enumerate() {
            let mut e = Vec::new();
            validate(b, v, &format!("{path}<oneOf {i}>"), &mut e);
            if e.is_empty() {
                valid.push(i);
            } else {
                why.push(e.join("; "));
            }
        }
        match valid.len() {
            1 => {}
            0 => errors.push(format!(
                "{path}: matches no branch of oneOf: {}",
                why.join(" | ")
            )),
            _ => errors.push(format!(
                "{path}: matches branches {valid:?} of oneOf, not one"
            )),
        }
    }
    if let Some(list) = s.get("enum") {
        if !list.as_array().expect("enum takes a list").contains(v) {
            errors.push(format!("{path}: {v} is not one of {list}"));
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
    for (c, s) in &schemas {
        let id = s["$id"].as_str().unwrap();
        assert!(id.starts_with(&format!("rmqstore.{c}/")), "{c}: $id {id}");
        assert_eq!(
            s["properties"]["schema"]["const"]
                .as_str()
                .or_else(|| { s["oneOf"][0]["properties"]["schema"]["const"].as_str() }),
            Some(id),
            "{c}: the schema const is the $id"
        );
    }
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
                assert_eq!(d["schema"], sch["$id"], "{} {cmd}", f.name);
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

/// The `cat` lines of one run, each validated; returns them.
fn cat_lines(args: &[&str], errors: &mut Vec<String>) -> Vec<Value> {
    let s = schema("cat");
    let o = Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .arg("cat")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let docs: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for d in &docs {
        validate(&s, d, &format!("cat {args:?} $"), errors);
    }
    docs
}

#[test]
fn every_cat_line_kind_matches_the_cat_schema() {
    let f = common::fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let st = tmp.path();
    let s = st.to_str().unwrap();
    let key = f.manifest().messages[0].keys.clone().unwrap();
    let mut errors = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    let mut note = |docs: &[Value]| {
        for d in docs {
            for k in ["commitLogOffset", "notice", "skipped", "leftOut"] {
                if d.get(k).is_some() {
                    kinds.insert(k);
                }
            }
        }
    };
    note(&cat_lines(
        &[s, "--tag", "TagA", "--limit", "3"],
        &mut errors,
    ));
    note(&cat_lines(
        &[s, "--key", &key, "--body", "none"],
        &mut errors,
    ));
    // No index: a notice line.
    fs::remove_dir_all(st.join("index")).unwrap();
    note(&cat_lines(&[s, "--key", &key], &mut errors));
    // A stray file in commitlog/: a leftOut line.
    fs::write(st.join("commitlog").join("stray.tmp"), b"x").unwrap();
    note(&cat_lines(&[s, "--limit", "1"], &mut errors));
    // A damaged segment dumped with --file: a skipped line.
    let seg = st.join("commitlog").join("00000000000000000000");
    let mut bytes = fs::read(&seg).unwrap();
    bytes[201 + 9] ^= 0xff; // the second record's BODYCRC
    let copy = tempfile::tempdir().unwrap();
    let bad = copy.path().join("00000000000000000000");
    fs::write(&bad, &bytes).unwrap();
    note(&cat_lines(
        &[bad.to_str().unwrap(), "--file", "--limit", "2"],
        &mut errors,
    ));
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["commitLogOffset", "leftOut", "notice", "skipped"]
    );
}

#[test]
fn the_validator_rejects_a_wrong_cat_line() {
    let s = schema("cat");
    let check = |v: Value| {
        let mut e = Vec::new();
        validate(&s, &v, "$", &mut e);
        e
    };
    // A notice of an unknown kind.
    let e = check(
        serde_json::json!({"schema": "rmqstore.cat/2", "notice": {"kind": "guess",
        "message": "m", "scannedFrom": 0, "scannedTo": 1}}),
    );
    assert!(e.iter().any(|e| e.contains("no branch of oneOf")), "{e:?}");
    assert!(e.iter().any(|e| e.contains("is not one of")), "{e:?}");
    // A skipped range with the old snake_case key.
    let e = check(
        serde_json::json!({"schema": "rmqstore.cat/2", "skipped": {"file": "f",
        "pos": 0, "offset": 0, "bytes": 1, "reason": "r", "beyond_end": false}}),
    );
    assert!(
        e.iter().any(|e| e.contains("missing \"beyondEnd\"")),
        "{e:?}"
    );
    // A line that is two kinds at once.
    let e = check(serde_json::json!({"schema": "rmqstore.cat/2",
        "leftOut": {"path": "p", "reason": "r"},
        "notice": {"kind": "indexMissing", "message": "m", "scannedFrom": 0, "scannedTo": 1}}));
    assert!(e.iter().any(|e| e.contains("not one")), "{e:?}");
    // A record from version 1.
    let e = check(
        serde_json::json!({"schema": "rmqstore.cat/1", "leftOut": {"path": "p",
        "reason": "r"}}),
    );
    assert_eq!(e.len(), 1, "{e:?}");
    // A good one passes.
    assert!(check(serde_json::json!({"schema": "rmqstore.cat/2",
        "leftOut": {"path": "p", "reason": "r"}}))
    .is_empty());
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

/// The 5.x feature stores whose reports carry `v5` fields the 4.x/5.x base fixtures do not:
/// controller-mode `brokerIdentity` (epoch) and a compacted `compaction/` (compaction).
#[test]
fn stat_verify_and_preflight_json_of_5x_feature_stores_match_their_schemas() {
    let mut errors = Vec::new();
    for variant in ["epoch", "compaction"] {
        let f = common::fixture(&format!("5.3.3/{variant}"));
        let tmp = copy_store_to_temp(&f);
        let s = tmp.path().to_str().unwrap();
        for cmd in ["stat", "verify", "preflight"] {
            let o = Command::new(env!("CARGO_BIN_EXE_rmqstore"))
                .args([cmd, s, "--json"])
                .env("TZ", "UTC")
                .output()
                .unwrap();
            let d: Value = serde_json::from_slice(&o.stdout)
                .unwrap_or_else(|e| panic!("{variant} {cmd}: {e}"));
            let sch = schema(cmd);
            assert_eq!(d["schema"], sch["$id"], "{variant} {cmd}");
            validate(&sch, &d, &format!("{variant} {cmd} $"), &mut errors);
            if cmd == "stat" && variant == "epoch" {
                assert_eq!(
                    d["v5"]["brokerIdentity"].as_array().unwrap().len(),
                    2,
                    "{d}"
                );
            }
        }
    }
    assert!(errors.is_empty(), "{errors:#?}");
}
