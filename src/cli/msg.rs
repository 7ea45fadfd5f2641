//! `rmqstore msg STORE ID | --key KEY [--topic T] | --offset PHY`: one message with every
//! field, its properties as a table and its body (like `mqadmin queryMsgById/queryMsgByKey`).
//!
//! ID is tried as an offset msgId first (32 or 56 hex digits naming the store host and the
//! commitlog offset); when no record of that host starts there, it is looked up as a UNIQ_KEY
//! through the index, in `--topic` or in every topic that has a consume queue.

use std::collections::BTreeMap;
use std::io::Write;

use clap::Args;
use serde::Serialize;

use super::args::{BodyFormat, StoreArgs};
use super::cat::{msg_id, JsonRecord};
use super::table::{write_fields, Table};
use super::{CliError, CliResult};
use crate::clock::human_time;
use crate::format::hash::body_crc;
use crate::format::properties;
use crate::format::record::{sysflag, Magic};
use crate::inspect::lookup::LOOKUP_MAX;
use crate::store::StoredRecord;

#[derive(Debug, Args)]
pub struct MsgArgs {
    #[command(flatten)]
    pub common: StoreArgs,
    /// An offset msgId (32/56 hex digits) or a UNIQ_KEY (client message id).
    #[arg(value_name = "ID", conflicts_with_all = ["key", "offset"],
          required_unless_present_any = ["key", "offset"])]
    pub id: Option<String>,
    /// A KEYS token (or UNIQ_KEY), looked up through the index; hash collisions are dropped.
    #[arg(long, value_name = "KEY", conflicts_with = "offset")]
    pub key: Option<String>,
    /// The topic to look the key or UNIQ_KEY up in (default: every topic with a consume queue).
    #[arg(long, value_name = "TOPIC")]
    pub topic: Option<String>,
    /// The commitlog offset a record starts at.
    #[arg(long, value_name = "PHY")]
    pub offset: Option<u64>,
    /// How to print the body (default: text, invalid UTF-8 replaced; base64 in JSON).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub body: Option<BodyFormat>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonMsg<'a> {
    #[serde(flatten)]
    record: JsonRecord<'a>,
    found_by: &'a str,
    magic: &'a str,
    /// The properties as Java parses them (the last of a repeated name wins).
    properties: BTreeMap<String, String>,
    body_crc_ok: bool,
    file: String,
    position: u64,
}

pub fn run(args: &MsgArgs) -> CliResult {
    let (store, _) = args.common.open()?;
    let topic = args.topic.as_deref();
    let (how, found): (String, Vec<StoredRecord>) = if let Some(off) = args.offset {
        (
            "commitlog offset".into(),
            store.get_by_phy_offset(off).into_iter().collect(),
        )
    } else if let Some(key) = &args.key {
        let topics = store.lookup_topics(topic);
        let mut v: Vec<StoredRecord> = topics
            .iter()
            .flat_map(|t| store.query_messages_by_key(t, key, LOOKUP_MAX, 0, i64::MAX))
            .collect();
        v.sort_by_key(|r| r.offset());
        v.dedup_by_key(|r| r.offset());
        ("key (index)".into(), v)
    } else {
        let id = args.id.as_deref().unwrap_or_default();
        let (by, v) = store.find_by_id(id, topic);
        (by.label().to_string(), v)
    };
    // Only records that decode are messages (an offset inside a blank record is not one).
    let mut records = Vec::new();
    for r in found {
        if r.decode().is_ok() {
            records.push(r);
        }
    }
    if records.is_empty() {
        if let Some(off) = args.offset {
            // After recovery's end: a valid record there is shown (a broker would drop it).
            if beyond_end(&store, off, args.common.json, args.body)? {
                return Err(CliError::Failed(format!(
                    "{}: the record at commitlog offset {off} lies after commitlog offset {}, \
                     where Java's recovery ends the log: a broker starting on this store drops \
                     it (`rmqstore salvage` copies it)",
                    store.config().root().display(),
                    store.max_phy_offset()
                )));
            }
        }
        let what = if let Some(off) = args.offset {
            format!("no message record starts at commitlog offset {off}")
        } else if let Some(k) = &args.key {
            format!(
                "no message with key {k:?} in {}",
                topic
                    .map(|t| format!("topic {t}"))
                    .unwrap_or("any topic".into())
            )
        } else {
            format!(
                "no message with id {:?}: not an offset msgId of this store, and no UNIQ_KEY \
                 match in {}",
                args.id.as_deref().unwrap_or_default(),
                topic
                    .map(|t| format!("topic {t}"))
                    .unwrap_or("any topic".into())
            )
        };
        return Err(CliError::Failed(format!(
            "{}: {what}",
            store.config().root().display()
        )));
    }

    let mut out = super::stdout();
    let json = args.common.json;
    let body_fmt = args.body.unwrap_or(if json {
        BodyFormat::Base64
    } else {
        BodyFormat::Text
    });
    if json {
        let mut list = Vec::new();
        let decoded: Vec<_> = records.iter().map(|r| (r, r.decode())).collect();
        let texts: Vec<(String, String)> = decoded
            .iter()
            .map(|(_, m)| {
                let m = m.as_ref().expect("checked above");
                (
                    String::from_utf8_lossy(m.topic).into_owned(),
                    String::from_utf8_lossy(m.properties).into_owned(),
                )
            })
            .collect();
        for ((r, m), (topic, props)) in decoded.iter().zip(&texts) {
            let m = m.as_ref().expect("checked above");
            list.push(JsonMsg {
                record: JsonRecord::new(m, r.size(), topic, props, body_fmt),
                found_by: &how,
                magic: magic_name(m.magic),
                properties: properties::iter(m.properties)
                    .map(|(n, v)| {
                        (
                            String::from_utf8_lossy(n).into_owned(),
                            String::from_utf8_lossy(v).into_owned(),
                        )
                    })
                    .collect(),
                body_crc_ok: body_crc(m.body) as i32 == m.body_crc,
                file: r.file_path().display().to_string(),
                position: r.offset() - file_start(r),
            });
        }
        super::json::write_list(&mut out, "rmqstore.msg/1", "messages", &list)?;
        out.flush()?;
        return Ok(());
    }

    let n = records.len();
    for (i, r) in records.iter().enumerate() {
        let m = r.decode()?;
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "Message {} of {n} (found by {how})", i + 1)?;
        let sp = m.store_properties();
        let computed = body_crc(m.body) as i32;
        let fields: Vec<(&str, String)> = vec![
            ("Topic", m.topic_str().into_owned()),
            ("Queue ID", m.queue_id.to_string()),
            ("Queue Offset", m.queue_offset.to_string()),
            ("Commitlog Offset", m.physical_offset.to_string()),
            ("Store Size", r.size().to_string()),
            ("Offset MsgId", msg_id(&m)),
            (
                "UNIQ_KEY",
                sp.uniq_key.as_deref().unwrap_or("-").to_string(),
            ),
            ("Tags", sp.tags.as_deref().unwrap_or("-").to_string()),
            ("Keys", sp.keys.as_deref().unwrap_or("-").to_string()),
            ("Sys Flag", sys_flag_text(m.sys_flag)),
            ("Flag", m.flag.to_string()),
            (
                "Born Time",
                format!("{} ({})", human_time(m.born_timestamp), m.born_timestamp),
            ),
            ("Born Host", m.born_host.to_string()),
            (
                "Store Time",
                format!("{} ({})", human_time(m.store_timestamp), m.store_timestamp),
            ),
            ("Store Host", m.store_host.to_string()),
            ("Reconsume Times", m.reconsume_times.to_string()),
            (
                "Prepared Tx Offset",
                m.prepared_transaction_offset.to_string(),
            ),
            (
                "Body CRC",
                if computed == m.body_crc {
                    format!("{} (matches the body)", m.body_crc)
                } else {
                    format!("{} (MISMATCH: the body's CRC is {computed})", m.body_crc)
                },
            ),
            ("Body Length", m.body.len().to_string()),
            ("Record Version", magic_name(m.magic).to_string()),
            (
                "File",
                format!(
                    "{} @ {}",
                    r.file_path().display(),
                    r.offset() - file_start(r)
                ),
            ),
        ];
        write_fields(&mut out, &fields, 2)?;
        writeln!(out, "  Properties:")?;
        let mut t = Table::new(&["Name", "Value"]);
        for (name, value) in properties::iter(m.properties) {
            t.row(vec![
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            ]);
        }
        if t.is_empty() {
            writeln!(out, "    (none)")?;
        } else {
            t.write(&mut out, 4)?;
        }
        match body_fmt.render(m.body) {
            Some(b) => {
                writeln!(
                    out,
                    "  Body ({} bytes, {}):",
                    m.body.len(),
                    format!("{body_fmt:?}").to_lowercase()
                )?;
                writeln!(out, "{b}")?;
            }
            None => writeln!(out, "  Body: {} bytes (not shown)", m.body.len())?,
        }
    }
    out.flush()?;
    Ok(())
}

fn file_start(r: &StoredRecord) -> u64 {
    r.file_path()
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(crate::mapped_file::file_name_to_offset)
        .unwrap_or(0)
}

fn magic_name(m: Magic) -> &'static str {
    match m {
        Magic::V1 => "V1",
        Magic::V2 => "V2",
    }
}

/// The sysFlag in hex with what its bits say.
fn sys_flag_text(f: i32) -> String {
    let mut parts = vec![match sysflag::tran_type(f) {
        sysflag::TRANSACTION_PREPARED_TYPE => "PREPARED",
        sysflag::TRANSACTION_COMMIT_TYPE => "COMMIT",
        sysflag::TRANSACTION_ROLLBACK_TYPE => "ROLLBACK",
        _ => "not transactional",
    }];
    if f & sysflag::COMPRESSED != 0 {
        parts.push("COMPRESSED");
    }
    if f & sysflag::MULTI_TAGS != 0 {
        parts.push("MULTI_TAGS");
    }
    if f & sysflag::BORNHOST_V6 != 0 {
        parts.push("born host IPv6");
    }
    if f & sysflag::STOREHOST_V6 != 0 {
        parts.push("store host IPv6");
    }
    if f & sysflag::NEED_UNWRAP != 0 {
        parts.push("NEED_UNWRAP");
    }
    if f & sysflag::INNER_BATCH != 0 {
        parts.push("INNER_BATCH");
    }
    format!("{f:#x} ({})", parts.join(", "))
}

/// Prints the valid record starting at `off` after recovery's end, if there is one (as
/// `cat` shows it); false when none starts there.
fn beyond_end(
    store: &crate::MessageStore,
    off: u64,
    json: bool,
    body: Option<BodyFormat>,
) -> CliResult<bool> {
    use crate::inspect::content::{load_segments, walk_content, ContentItem};
    if off < store.max_phy_offset() {
        return Ok(false);
    }
    let segs = load_segments(store.config())?;
    let Some(i) = segs.iter().position(|f| {
        f.file_from_offset() <= off && off < f.file_from_offset() + f.file_size() as u64
    }) else {
        return Ok(false);
    };
    let body = body.unwrap_or(if json {
        BodyFormat::Base64
    } else {
        BodyFormat::Text
    });
    let mut line = Vec::new();
    walk_content(&segs[i..=i], store.max_phy_offset(), |it| {
        if let ContentItem::Record {
            offset,
            size,
            record,
            beyond_end: true,
            ..
        } = it
        {
            if offset == off && line.is_empty() {
                if json {
                    let topic = String::from_utf8_lossy(record.topic);
                    let props = String::from_utf8_lossy(record.properties);
                    let mut j = JsonRecord::new(&record, size, &topic, &props, body);
                    j.after_recovery_end = true;
                    super::json::write_list(
                        &mut line,
                        "rmqstore.msg/1",
                        "messages",
                        std::slice::from_ref(&j),
                    )
                    .expect("serializing to memory cannot fail");
                    line.pop(); // the newline, added below
                } else {
                    super::cat::write_text(&mut line, &record, size, body);
                    line.extend_from_slice(b"  [after recovery's end]");
                }
                line.push(b'\n');
            }
        }
    });
    if line.is_empty() {
        return Ok(false);
    }
    let mut out = super::stdout();
    out.write_all(&line)?;
    out.flush()?;
    Ok(true)
}
