//! Writing the broker's `config/*.json` as RocketMQ 4.6.0 does: fastjson's
//! `JSON.toJSONString(obj, prettyFormat=true)` text, saved by `ConfigManager#persist`
//! (`MixAll.string2File`: the new text goes to `<f>.tmp`, the old `<f>` is copied to
//! `<f>.bak`, then `<f>.tmp` becomes `<f>`).
//!
//! fastjson's pretty format: a tab per level; `"name":value` without spaces; bean fields in
//! name order; a map with string keys one entry per line; a map with integer keys (queue ids,
//! delay levels) written on one line with bare keys and its closing brace on the next
//! (`{0:250,1:248\n\t\t}`); empty maps as `{}`; no newline at the end. The golden texts in the
//! tests were printed by fastjson 1.2.61 (4.6.0's) from RocketMQ 4.6.0's own classes.
//!
//! Entries of string-keyed maps are written in key order; Java writes them in its
//! `ConcurrentHashMap`'s iteration order, which no reader depends on.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// A value in fastjson's pretty format.
#[derive(Debug, Clone)]
pub(crate) enum Fj {
    /// A number, boolean or already-encoded scalar.
    Raw(String),
    /// A string (quoted and escaped when written).
    Str(String),
    /// A bean or a string-keyed map: entries in the given order.
    Obj(Vec<(String, Fj)>),
    /// An integer-keyed map.
    IntMap(Vec<(i64, Fj)>),
    /// Any JSON value kept from the file (fields this crate does not know).
    Json(serde_json::Value),
}

impl Fj {
    /// A bean: fields sorted by name, as fastjson orders them.
    pub(crate) fn bean(mut fields: Vec<(String, Fj)>) -> Fj {
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        Fj::Obj(fields)
    }
    pub(crate) fn num(n: impl std::fmt::Display) -> Fj {
        Fj::Raw(n.to_string())
    }
    pub(crate) fn string(s: &str) -> Fj {
        Fj::Str(s.to_string())
    }

    /// Renders at nesting `level` (the indent of the line the value starts on).
    pub(crate) fn render(&self, out: &mut String, level: usize) {
        match self {
            Fj::Raw(s) => out.push_str(s),
            Fj::Str(s) => quote(out, s),
            Fj::Obj(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, level + 1);
                    quote(out, k);
                    out.push(':');
                    v.render(out, level + 1);
                }
                if !entries.is_empty() {
                    newline(out, level);
                }
                out.push('}');
            }
            Fj::IntMap(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&k.to_string());
                    out.push(':');
                    v.render(out, level + 1);
                }
                if !entries.is_empty() {
                    newline(out, level);
                }
                out.push('}');
            }
            Fj::Json(v) => json_value(v).render(out, level),
        }
    }
}

/// A JSON value kept from a file, in the same pretty format (object keys sorted).
fn json_value(v: &serde_json::Value) -> Fj {
    use serde_json::Value;
    match v {
        Value::String(s) => Fj::Str(s.clone()),
        Value::Object(m) => Fj::bean(m.iter().map(|(k, v)| (k.clone(), json_value(v))).collect()),
        other => Fj::Raw(other.to_string()),
    }
}

fn newline(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push('\t');
    }
}

/// fastjson's string escaping: `"`, `\` and control characters.
fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Known fields plus the unknown ones kept from the file, as one bean.
pub(crate) fn bean_with_extra(
    mut fields: Vec<(String, Fj)>,
    extra: &BTreeMap<String, serde_json::Value>,
) -> Fj {
    for (k, v) in extra {
        if !fields.iter().any(|(f, _)| f == k) {
            fields.push((k.clone(), Fj::Json(v.clone())));
        }
    }
    Fj::bean(fields)
}

/// The whole text of a file.
pub(crate) fn to_text(v: &Fj) -> String {
    let mut s = String::new();
    v.render(&mut s, 0);
    s
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).at(path)?;
    f.write_all(bytes).at(path)?;
    f.sync_all().at(path)
}

/// `MixAll.string2File(text, path)`: `<path>.tmp` gets the text, the current `<path>` (if
/// any) is copied to `<path>.bak`, and `<path>.tmp` is renamed over `<path>`. Java does not
/// sync; here the new and the backup file are synced before the rename and the directory
/// after it, so a crash leaves either the old or the new file, never a torn one.
pub fn persist_text(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).at(dir)?;
    let tmp = with_suffix(path, ".tmp");
    write_synced(&tmp, text.as_bytes())?;
    match fs::read(path) {
        Ok(prev) => write_synced(&with_suffix(path, ".bak"), &prev)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(crate::error::StoreError::io(path, e)),
    }
    fs::rename(&tmp, path).at(path)?;
    if let Ok(d) = fs::File::open(dir) {
        d.sync_all().at(dir)?;
    }
    Ok(())
}
