//! The one JSON style of every `--json` report (issue 17), stable from here on:
//!
//! * keys are camelCase, as Java's `MessageExt`/`TopicConfig` getters, `mqadmin` and the Java
//!   fixtures' `reader.json` spell them, so a report can be compared with what Java tools
//!   print without renaming. Reports whose structs are shared with the library in snake_case
//!   (verify, cleanup, rebuild, salvage, preflight) are renamed here, at the edge;
//! * every document is a JSON object whose first key is `schema`, `rmqstore.<command>/<n>`;
//!   `n` goes up only when a field is removed or changes meaning (added fields do not);
//! * a report that is a list is an object with the list under a named key (`topics`,
//!   `files`, `messages`); `cat --json` prints one such object per line (JSON lines);
//! * each schema is a JSON Schema file in `docs/schemas/<command>.schema.json`, and
//!   `tests/json_schemas.rs` validates every report over the Java fixtures against it.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

/// A report with its schema name first, the body's own fields after it.
#[derive(Serialize)]
struct Doc<'a, T: Serialize> {
    schema: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

/// Writes `body` (a struct already in camelCase) as one pretty document with `schema`.
pub fn write_doc<T: Serialize>(
    out: &mut impl Write,
    schema: &str,
    body: &T,
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &Doc { schema, body }).map_err(std::io::Error::from)?;
    writeln!(out)
}

/// A list under a named key, after `schema` (fields of each item in their own order).
struct List<'a, T: Serialize> {
    schema: &'a str,
    key: &'a str,
    items: &'a [T],
}

impl<T: Serialize> Serialize for List<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("schema", self.schema)?;
        m.serialize_entry(self.key, self.items)?;
        m.end()
    }
}

/// Writes a list as `{"schema": .., "<key>": [..]}`.
pub fn write_list<T: Serialize>(
    out: &mut impl Write,
    schema: &str,
    key: &str,
    items: &[T],
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &List { schema, key, items })
        .map_err(std::io::Error::from)?;
    writeln!(out)
}

/// Writes a report whose structs use snake_case field names, renamed to camelCase.
pub fn write_doc_renamed<T: Serialize>(
    out: &mut impl Write,
    schema: &str,
    body: &T,
) -> std::io::Result<()> {
    let v = camel_keys(serde_json::to_value(body).map_err(std::io::Error::from)?);
    write_doc(out, schema, &v)
}

/// One line of a JSON-lines report.
pub fn write_line<T: Serialize>(
    out: &mut impl Write,
    schema: &str,
    body: &T,
) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &Doc { schema, body }).map_err(std::io::Error::from)?;
    writeln!(out)
}

/// `queue_id` → `queueId`, for field names only: a key is renamed when it is lower-case
/// snake_case (`[a-z][a-z0-9]*(_[a-z0-9]+)+`); anything else (topics, property names, file
/// names used as keys) is kept as it is.
pub fn camel_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (camel(&k), camel_keys(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(camel_keys).collect()),
        v => v,
    }
}

fn camel(k: &str) -> String {
    let snake = k.contains('_')
        && k.starts_with(|c: char| c.is_ascii_lowercase())
        && k.split('_').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !snake {
        return k.to_string();
    }
    let mut s = String::with_capacity(k.len());
    for (i, p) in k.split('_').enumerate() {
        if i == 0 {
            s.push_str(p);
        } else {
            let mut c = p.chars();
            if let Some(f) = c.next() {
                s.push(f.to_ascii_uppercase());
                s.extend(c);
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_become_camel_case_and_data_keys_stay() {
        assert_eq!(camel("queue_id"), "queueId");
        assert_eq!(camel("at_ms"), "atMs");
        assert_eq!(camel("file_reserved_time_hours"), "fileReservedTimeHours");
        assert_eq!(camel("queueId"), "queueId");
        assert_eq!(camel("UNIQ_KEY"), "UNIQ_KEY");
        assert_eq!(camel("%RETRY%g_1"), "%RETRY%g_1");
        assert_eq!(camel("a__b"), "a__b");
        let v = camel_keys(serde_json::json!({"min_offset": 1, "q": [{"queue_id": 2}]}));
        assert_eq!(
            v,
            serde_json::json!({"minOffset": 1, "q": [{"queueId": 2}]})
        );
        let mut out = Vec::new();
        write_doc_renamed(&mut out, "rmqstore.x/1", &serde_json::json!({"at_ms": 3})).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("{\n  \"schema\": \"rmqstore.x/1\""),
            "{text}"
        );
        assert!(text.contains("\"atMs\": 3"));
    }
}
