//! `rmqstore cat STORE [filters] [--json]`: commitlog records, in physical order.
//!
//! Without `--topic`, the commitlog is walked physically (from the segment holding `--from`),
//! and every record is a candidate, including PREPARED/ROLLBACK records that are in no consume
//! queue. With `--topic`, the topic's consume queues say where its messages are, and
//! `--from/--to` are queue offsets; `--tag` then compares each unit's tags code (the Java
//! `String.hashCode` of the tag) before the record is read, and confirms the tag on the record.
//! `--key` and `--msg-id` go through the index (see [`super::cat_query`]); `--file` dumps one
//! segment file, store or not.

use std::io::Write;

use clap::Args;
use serde::Serialize;

use super::args::{parse_time, BodyFormat, StoreArgs};
use super::{CliError, CliResult};
use crate::clock::human_time;
use crate::format::cq::SCHEDULE_TOPIC;
use crate::format::hash::tags_code;
use crate::format::msgid::create_message_id;
use crate::format::properties::StoreProperties;
use crate::format::MessageRecord;
use crate::inspect::content::{load_segments, walk_content, ContentItem, SkippedRange};
use crate::store::StoredRecord;
use crate::MessageStore;

/// The schema of each `cat --json` line (2: the `notice` line and the filters).
pub const SCHEMA: &str = "rmqstore.cat/2";

#[derive(Debug, Args)]
pub struct CatArgs {
    #[command(flatten)]
    pub common: StoreArgs,
    /// Only this topic (read through its consume queues).
    #[arg(long, value_name = "TOPIC")]
    pub topic: Option<String>,
    /// Only this queue id.
    #[arg(long, value_name = "QUEUE_ID")]
    pub queue: Option<i32>,
    /// First offset (inclusive): a queue offset with --topic/--queue, else a physical
    /// commitlog offset.
    #[arg(long, value_name = "OFFSET")]
    pub from: Option<u64>,
    /// End offset (exclusive), same kind as --from.
    #[arg(long, value_name = "OFFSET")]
    pub to: Option<u64>,
    /// Only records stored at or after this time: `YYYY-MM-DD HH:MM[:SS]` (local) or epoch ms.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only records stored before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// How to print bodies. Default: text (lossy UTF-8, cut at 200 characters per line);
    /// base64 in JSON.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub body: Option<BodyFormat>,
    /// Print at most N records.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Only messages with this tag (TAGS property; as `mqadmin printMsg -s`). Repeat it or give
    /// a comma list for any of several. With --topic the consume queue's tags codes are
    /// compared first, so only records whose tag hash matches are read.
    #[arg(long, value_name = "TAG", value_delimiter = ',')]
    pub tag: Vec<String>,
    /// Only messages with this key (a KEYS token or the UNIQ_KEY), looked up through the index
    /// (topic#key, as `queryMsgByKey`); scans the commitlog only where the index is missing or
    /// ends early, and says so. Without --topic every topic with a consume queue is searched.
    #[arg(long, value_name = "KEY", conflicts_with = "msg_id")]
    pub key: Option<String>,
    /// Only the message with this offset msgId or UNIQ_KEY (as `msg ID`).
    #[arg(long, value_name = "ID")]
    pub msg_id: Option<String>,
    /// STORE is one commitlog segment file (inside a store or not): dump its records from its
    /// start, the base offset taken from its 20-digit name (as `kafka-dump-log.sh --files`).
    /// Damage in it is named and the command exits 1.
    #[arg(long, conflicts_with_all = ["topic", "queue", "key", "msg_id"])]
    pub file: bool,
}

/// A record as Java's `MessageExt` shows it, in `reader.json`'s field names, plus the body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JsonRecord<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    pub store_size: usize,
    pub msg_id: String,
    pub sys_flag: i32,
    pub flag: i32,
    pub born_timestamp: i64,
    pub born_host: String,
    pub store_timestamp: i64,
    pub store_host: String,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body_crc: i32,
    pub body_length: usize,
    pub properties_string: &'a str,
    /// The record lies after the end Java's recovery finds (a broker drops it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub after_recovery_end: bool,
    /// Standard base64 unless `--body` says otherwise; absent with `--body none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl<'a> JsonRecord<'a> {
    pub fn new(
        m: &MessageRecord<'_>,
        size: usize,
        topic: &'a str,
        props: &'a str,
        body: BodyFormat,
    ) -> Self {
        JsonRecord {
            topic,
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
            properties_string: props,
            after_recovery_end: false,
            body: body.render(m.body),
        }
    }
}

/// The filters, resolved.
pub(super) struct Filter {
    pub(super) topic: Option<String>,
    pub(super) queue: Option<i32>,
    pub(super) from: Option<u64>,
    pub(super) to: Option<u64>,
    pub(super) since: Option<i64>,
    pub(super) until: Option<i64>,
    /// `from/to` are queue offsets.
    pub(super) queue_offsets: bool,
    /// Any of these tags (empty: every record).
    pub(super) tags: Vec<String>,
    /// A KEYS token or UNIQ_KEY.
    pub(super) key: Option<String>,
}

impl Filter {
    pub(super) fn keeps(&self, m: &MessageRecord<'_>) -> bool {
        if !self.tags.is_empty() || self.key.is_some() {
            let sp = StoreProperties::parse(m.properties);
            if !self.tags.is_empty()
                && !sp
                    .tags
                    .as_deref()
                    .is_some_and(|t| self.tags.iter().any(|x| x == t))
            {
                return false;
            }
            if let Some(k) = &self.key {
                if sp.uniq_key.as_deref() != Some(k.as_str()) && !sp.key_tokens().any(|x| x == k) {
                    return false;
                }
            }
        }
        if let Some(keep) = self.keeps_v5(m) {
            return keep;
        }
        if let Some(t) = &self.topic {
            if m.topic != t.as_bytes() {
                return false;
            }
        }
        if let Some(q) = self.queue {
            if m.queue_id != q {
                return false;
            }
        }
        if self.queue_offsets {
            let qo = m.queue_offset.max(0) as u64;
            if self.from.is_some_and(|f| qo < f) || self.to.is_some_and(|t| qo >= t) {
                return false;
            }
        }
        if self.since.is_some_and(|s| m.store_timestamp < s)
            || self.until.is_some_and(|u| m.store_timestamp >= u)
        {
            return false;
        }
        true
    }
}

pub fn run(args: &CatArgs) -> CliResult {
    super::args::check_cat(args)?;
    let since = args
        .since
        .as_deref()
        .map(|s| parse_time("--since", s))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_time("--until", s))
        .transpose()?;
    let filter = Filter {
        topic: args.topic.clone(),
        queue: args.queue,
        from: args.from,
        to: args.to,
        since,
        until,
        queue_offsets: args.topic.is_some() || args.queue.is_some(),
        tags: args.tag.iter().map(|t| t.trim().to_string()).collect(),
        key: args.key.clone(),
    };
    if args.file {
        return super::cat_query::dump_file(args, &filter);
    }
    let (store, _) = args.common.open()?;
    let json = args.common.json;
    let body = args.body.unwrap_or(if json {
        BodyFormat::Base64
    } else {
        BodyFormat::Text
    });
    let limit = args.limit.unwrap_or(usize::MAX);
    let mut out = super::stdout();
    let mut line = Vec::with_capacity(4096);
    let mut printed = 0usize;
    let mut beyond = 0u64;
    let mut emit = |m: &MessageRecord<'_>,
                    size: usize,
                    beyond_end: bool,
                    out: &mut dyn Write|
     -> CliResult<bool> {
        if !filter.keeps(m) {
            return Ok(true);
        }
        line.clear();
        write_record_line(&mut line, m, size, beyond_end, json, body);
        out.write_all(&line)?;
        printed += 1;
        if beyond_end {
            beyond += 1;
        }
        Ok(printed < limit)
    };
    if limit == 0 {
        return Ok(());
    }
    let mut skipped: Vec<SkippedRange> = Vec::new();
    let mut misplaced = 0u64;
    let by_index = args.key.is_some() || args.msg_id.is_some();
    match &args.topic {
        _ if by_index => {
            let (records, notice) =
                super::cat_query::indexed_records(&store, args, &filter, &mut skipped)?;
            if let Some(n) = &notice {
                super::warn(&n.message);
                if json {
                    super::json::write_line(&mut out, SCHEMA, &JsonNotice { notice: n })?;
                }
            }
            for rec in &records {
                let m = rec.decode()?;
                if !emit(&m, rec.size(), false, &mut out)? {
                    break;
                }
            }
        }
        Some(topic) => {
            let records = topic_records(&store, topic, &filter)?;
            let pb = args.common.progress(records.len() as u64, "reading", false);
            for rec in &records {
                pb.inc(1);
                let m = rec.decode()?;
                if !emit(&m, rec.size(), false, &mut out)? {
                    break;
                }
            }
            pb.finish_and_clear();
        }
        None => {
            let (from, to) = if filter.queue_offsets {
                (0, u64::MAX)
            } else {
                (args.from.unwrap_or(0), args.to.unwrap_or(u64::MAX))
            };
            // The content up to recovery's end, then what a broker would drop: every record
            // past damage, each skipped range named.
            let segs = load_segments(store.config())?;
            let end = store.max_phy_offset();
            let last = segs
                .last()
                .map_or(0, |f| f.file_from_offset() + f.file_size() as u64);
            let start = from.max(store.min_phy_offset());
            let pb = args
                .common
                .progress(to.min(last).saturating_sub(start), "scanning", true);
            let mut done_at = 0u64;
            let mut result: CliResult<()> = Ok(());
            let mut stop = false;
            // Only the segments that can hold the range.
            let first = segs
                .iter()
                .position(|f| f.file_from_offset() + f.file_size() as u64 > start)
                .unwrap_or(segs.len());
            walk_content(&segs[first..], end, |it| {
                if stop {
                    return;
                }
                match it {
                    ContentItem::Record {
                        offset,
                        size,
                        record,
                        beyond_end,
                        placed,
                        ..
                    } => {
                        if offset < start {
                            return;
                        }
                        if offset >= to {
                            stop = true;
                            return;
                        }
                        if !placed {
                            misplaced += 1;
                        }
                        if offset - done_at >= 1 << 20 {
                            pb.set_position(offset - start);
                            done_at = offset;
                        }
                        match emit(&record, size, beyond_end, &mut out) {
                            Ok(true) => {}
                            Ok(false) => stop = true,
                            Err(e) => {
                                result = Err(e);
                                stop = true;
                            }
                        }
                    }
                    ContentItem::Skipped(s) => {
                        if s.offset + s.bytes > start && s.offset < to {
                            skipped.push(s);
                        }
                    }
                }
            });
            pb.finish_and_clear();
            result?;
        }
    }
    if json {
        for s in &skipped {
            super::json::write_line(&mut out, SCHEMA, &JsonSkipped { skipped: s })?;
        }
        for l in store.left_out() {
            super::json::write_line(
                &mut out,
                SCHEMA,
                &super::left_out::JsonLeftOut { left_out: l },
            )?;
        }
    }
    out.flush()?;
    report_extras(&skipped, beyond, misplaced, store.max_phy_offset())
}

/// One record as `cat` prints it (a JSON line or a text line), with its newline.
pub(super) fn write_record_line(
    line: &mut Vec<u8>,
    m: &MessageRecord<'_>,
    size: usize,
    beyond_end: bool,
    json: bool,
    body: BodyFormat,
) {
    if json {
        let topic = String::from_utf8_lossy(m.topic);
        let props = String::from_utf8_lossy(m.properties);
        let mut j = JsonRecord::new(m, size, &topic, &props, body);
        j.after_recovery_end = beyond_end;
        super::json::write_line(&mut *line, SCHEMA, &j).expect("serializing to memory cannot fail");
    } else {
        write_text(line, m, size, body);
        v5_note(line, m);
        if beyond_end {
            line.extend_from_slice(b"  [after recovery's end]");
        }
        line.push(b'\n');
    }
}

/// How a query was answered when it could not use the index as asked (`--json` line).
#[derive(Serialize)]
pub(super) struct JsonNotice<'a> {
    pub notice: &'a super::cat_query::Notice,
}

/// A skipped range as a `--json` line of its own (its fields in camelCase).
pub(super) struct JsonSkipped<'a> {
    pub skipped: &'a SkippedRange,
}

impl Serialize for JsonSkipped<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let v = serde_json::to_value(self.skipped).map_err(serde::ser::Error::custom)?;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("skipped", &super::json::camel_keys(v))?;
        m.end()
    }
}

/// Warns about every range a read command skipped, the records it showed from after
/// recovery's end and the misplaced records; exit 1 when there was any.
pub(super) fn report_extras(
    skipped: &[SkippedRange],
    beyond: u64,
    misplaced: u64,
    end: u64,
) -> CliResult {
    for s in skipped {
        super::warn(&s.to_string());
    }
    if misplaced > 0 {
        super::warn(&format!(
            "{misplaced} records carry a PHYSICALOFFSET other than their position (copied or \
             shifted data; their messages may appear twice)"
        ));
    }
    if beyond > 0 {
        super::warn(&format!(
            "{beyond} records lie after commitlog offset {end}, where Java's recovery ends the \
             log: a broker starting on this store drops them (`rmqstore salvage` copies them)"
        ));
    }
    if !skipped.is_empty() || beyond > 0 || misplaced > 0 {
        return Err(CliError::Failed(format!(
            "{} ranges skipped, {beyond} records after recovery's end, {misplaced} misplaced \
             records",
            skipped.len()
        )));
    }
    Ok(())
}

/// The records of `topic` (queue `filter.queue` or all its queues) in the queue-offset range,
/// through the consume queues, in physical order. With a tag filter, a unit whose tags code
/// is none of the tags' codes is passed over without reading its record (the record's tag is
/// still checked by [`Filter::keeps`]: codes collide). `SCHEDULE_TOPIC_XXXX` units carry a
/// delivery time instead, so there every record is read.
fn topic_records(
    store: &MessageStore,
    topic: &str,
    filter: &Filter,
) -> CliResult<Vec<StoredRecord>> {
    if super::rocksdb::is_rocksdb(store) {
        // 5.x storeType=defaultRocksDB: the units live in the RocksDB database.
        let codes: Option<Vec<i64>> = (!filter.tags.is_empty() && topic != SCHEDULE_TOPIC)
            .then(|| filter.tags.iter().map(|t| tags_code(Some(t))).collect());
        let units =
            super::rocksdb::topic_units(store, topic, filter.queue, filter.from, filter.to)?;
        let mut out: Vec<StoredRecord> = units
            .into_iter()
            .filter(|(_, tc)| codes.as_ref().is_none_or(|c| c.contains(tc)))
            .filter_map(|(phy, _)| store.get_by_phy_offset(u64::try_from(phy).ok()?))
            .collect();
        out.sort_by_key(|r| r.offset());
        out.dedup_by_key(|r| r.offset());
        return Ok(out);
    }
    let queues: Vec<_> = store
        .consume_queues()
        .all()
        .into_iter()
        .filter(|q| q.topic() == topic && filter.queue.is_none_or(|id| q.queue_id() == id))
        .collect();
    if queues.is_empty() {
        if let Some(r) = batch_topic_records(store, topic, filter)? {
            return Ok(r);
        }
        return Err(CliError::Input(format!(
            "{}: no consume queue for topic {topic}{}",
            store.config().consume_queue_dir().display(),
            filter
                .queue
                .map(|q| format!(" queue {q}"))
                .unwrap_or_default()
        )));
    }
    let codes: Option<Vec<i64>> = (!filter.tags.is_empty() && topic != SCHEDULE_TOPIC)
        .then(|| filter.tags.iter().map(|t| tags_code(Some(t))).collect());
    let phy_min = store.min_phy_offset() as i64;
    let mut out = Vec::new();
    for q in queues {
        let start = filter.from.unwrap_or(0).max(q.min_offset_in_queue());
        let end = filter.to.unwrap_or(u64::MAX).min(q.max_offset_in_queue());
        for i in start..end {
            let Some(u) = q.get_unit(i) else { break };
            if u.is_pre_blank() || u.commitlog_offset < phy_min {
                continue;
            }
            if codes.as_ref().is_some_and(|c| !c.contains(&u.tags_code)) {
                continue;
            }
            if let Some(r) = store.get_by_phy_offset(u.commitlog_offset as u64) {
                out.push(r);
            }
        }
    }
    out.sort_by_key(|r| r.offset());
    out.dedup_by_key(|r| r.offset());
    Ok(out)
}

/// The msgId Java's decoder gives a record: its store host and its PHYSICALOFFSET field.
pub(super) fn msg_id(m: &MessageRecord<'_>) -> String {
    create_message_id(&m.store_host, m.physical_offset)
}

/// Longest body shown on a `cat` line; `msg` shows whole bodies.
const LINE_BODY_MAX: usize = 200;

pub(super) fn write_text(line: &mut Vec<u8>, m: &MessageRecord<'_>, size: usize, body: BodyFormat) {
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
    if let Some(b) = body.render(m.body) {
        let total = b.chars().count();
        let mut b: String = b
            .chars()
            .take(LINE_BODY_MAX)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if total > LINE_BODY_MAX {
            b.push_str(&format!(
                "... (+{} chars; see `msg`)",
                total - LINE_BODY_MAX
            ));
        }
        let _ = write!(line, "  body={b}");
    }
}

// ---- 5.x: light message queues, batch consume queues, timers (docs/format.md §12) ----

impl Filter {
    /// The filter for records of 5.x queues, where the plain rule does not apply: a light
    /// message queue (`--topic %LMQ%x`) holds records of other topics that name it in
    /// `INNER_MULTI_DISPATCH` (queue offsets from `INNER_MULTI_QUEUE_OFFSET`), and an inner
    /// batch takes queue offsets `base..base + INNER_NUM`. `None`: the plain rule decides.
    fn keeps_v5(&self, m: &MessageRecord<'_>) -> Option<bool> {
        use crate::format::record::sysflag::INNER_BATCH;
        use crate::v5::lmq;
        let in_time = !(self.since.is_some_and(|s| m.store_timestamp < s)
            || self.until.is_some_and(|u| m.store_timestamp >= u));
        let in_range = |lo: u64, hi: u64| {
            !self.queue_offsets
                || (self.from.is_none_or(|f| hi > f) && self.to.is_none_or(|t| lo < t))
        };
        match &self.topic {
            Some(t) if lmq::is_lmq(t) => {
                if self.queue.is_some_and(|q| q != lmq::LMQ_QUEUE_ID) {
                    return Some(false);
                }
                let off = match lmq::targets(m.properties) {
                    Some(Ok(ts)) => ts
                        .into_iter()
                        .find(|(name, _)| name == t)
                        .and_then(|(_, o)| o),
                    _ => None,
                };
                Some(off.is_some_and(|o| in_range(o.max(0) as u64, o.max(0) as u64 + 1)) && in_time)
            }
            _ if m.sys_flag & INNER_BATCH != 0 => {
                if self.topic.as_ref().is_some_and(|t| m.topic != t.as_bytes())
                    || self.queue.is_some_and(|q| m.queue_id != q)
                {
                    return Some(false);
                }
                let n = crate::format::properties::get(m.properties, "INNER_NUM")
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                let base = m.queue_offset.max(0) as u64;
                Some(in_range(base, base + n) && in_time)
            }
            _ => None,
        }
    }
}

/// The records of a 5.x batch-CQ topic (no plain consume queue), through its batch
/// consume queue's units; `None` when the topic has none either.
fn batch_topic_records(
    store: &MessageStore,
    topic: &str,
    filter: &Filter,
) -> CliResult<Option<Vec<StoredRecord>>> {
    let root = store.config().root().to_path_buf();
    let queues =
        crate::v5::batch_cq::read_all_queues(&root).map_err(|e| CliError::Failed(e.to_string()))?;
    let mut out = Vec::new();
    let mut any = false;
    for q in queues
        .iter()
        .filter(|q| q.topic == topic && filter.queue.is_none_or(|id| q.queue_id == id))
    {
        any = true;
        for pu in &q.units {
            let (lo, hi) = (pu.unit.msg_base_offset, pu.unit.next_offset());
            if filter.from.is_some_and(|f| hi <= f as i64)
                || filter.to.is_some_and(|t| lo >= t as i64)
            {
                continue;
            }
            if let Some(r) = u64::try_from(pu.unit.commitlog_offset)
                .ok()
                .and_then(|o| store.get_by_phy_offset(o))
            {
                out.push(r);
            }
        }
    }
    if !any {
        return Ok(None);
    }
    out.sort_by_key(|r| r.offset());
    out.dedup_by_key(|r| r.offset());
    Ok(Some(out))
}

/// A text line's 5.x note: an inner batch's message count, a timer's due time and real topic.
fn v5_note(line: &mut Vec<u8>, m: &MessageRecord<'_>) {
    use crate::format::properties::get;
    if m.sys_flag & crate::format::record::sysflag::INNER_BATCH != 0 {
        if let Some(n) = get(m.properties, "INNER_NUM") {
            line.extend_from_slice(format!("  [inner batch of {n}]").as_bytes());
        }
    }
    if m.topic == crate::v5::timer::TIMER_TOPIC.as_bytes() {
        let due = get(m.properties, "TIMER_OUT_MS").and_then(|v| v.parse::<i64>().ok());
        let real = get(m.properties, "REAL_TOPIC");
        if let (Some(due), Some(real)) = (due, real) {
            line.extend_from_slice(
                format!("  [timer for {real}, due {}]", human_time(due)).as_bytes(),
            );
        }
    }
}
