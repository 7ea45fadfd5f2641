//! `rmqstore cat STORE [--json]`: every commitlog record, in physical order.

use std::io::Write;
use std::path::PathBuf;

use base64::Engine as _;
use clap::Args;
use serde::Serialize;

use super::{CliResult, GeometryArgs};
use crate::clock::human_time;
use crate::format::msgid::create_message_id;
use crate::format::MessageRecord;
use crate::inspect::discover_config;
use crate::MessageStore;

#[derive(Debug, Args)]
pub struct CatArgs {
    /// The store root (the folder holding commitlog/, consumequeue/, index/).
    #[arg(value_name = "STORE")]
    pub store: PathBuf,
    /// One JSON object per record and line, with the field names of Java's reader.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub geometry: GeometryArgs,
}

/// A record as Java's `MessageExt` shows it, in `reader.json`'s field names, plus the body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonRecord<'a> {
    topic: &'a str,
    queue_id: i32,
    queue_offset: i64,
    commit_log_offset: i64,
    store_size: usize,
    msg_id: String,
    sys_flag: i32,
    flag: i32,
    born_timestamp: i64,
    born_host: String,
    store_timestamp: i64,
    store_host: String,
    reconsume_times: i32,
    prepared_transaction_offset: i64,
    body_crc: i32,
    body_length: usize,
    properties_string: &'a str,
    /// Standard base64.
    body: String,
}

pub fn run(args: &CatArgs) -> CliResult {
    let config = discover_config(&args.store, &args.geometry.overrides())?;
    let store = MessageStore::open_read_only(config)?;
    let mut out = super::stdout();
    let mut line = Vec::with_capacity(4096);
    for rec in store.records() {
        let rec = rec?;
        let size = rec.size();
        let m = rec.decode()?;
        line.clear();
        if args.json {
            write_json(&mut line, &m, size);
        } else {
            write_text(&mut line, &m, size);
        }
        line.push(b'\n');
        out.write_all(&line)?;
    }
    out.flush()?;
    Ok(())
}

/// The msgId Java's decoder gives a record: its store host and its PHYSICALOFFSET field.
fn msg_id(m: &MessageRecord<'_>) -> String {
    create_message_id(&m.store_host, m.physical_offset)
}

fn write_json(line: &mut Vec<u8>, m: &MessageRecord<'_>, size: usize) {
    let topic = String::from_utf8_lossy(m.topic);
    let props = String::from_utf8_lossy(m.properties);
    let j = JsonRecord {
        topic: &topic,
        queue_id: m.queue_id,
        queue_offset: m.queue_offset,
        commit_log_offset: m.physical_offset,
        store_size: size,
        msg_id: msg_id(m),
        sys_flag: m.sys_flag,
        flag: m.flag,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host.to_string(),
        store_timestamp: m.store_timestamp,
        store_host: m.store_host.to_string(),
        reconsume_times: m.reconsume_times,
        prepared_transaction_offset: m.prepared_transaction_offset,
        body_crc: m.body_crc,
        body_length: m.body.len(),
        properties_string: &props,
        body: base64::engine::general_purpose::STANDARD.encode(m.body),
    };
    serde_json::to_writer(line, &j).expect("serializing to memory cannot fail");
}

fn write_text(line: &mut Vec<u8>, m: &MessageRecord<'_>, size: usize) {
    let _ = write!(
        line,
        "{:>12}  {}  queue={} offset={}  {}  size={}  stored={}",
        m.physical_offset,
        String::from_utf8_lossy(m.topic),
        m.queue_id,
        m.queue_offset,
        msg_id(m),
        size,
        human_time(m.store_timestamp),
    );
}
