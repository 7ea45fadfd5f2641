//! `rmqstore topics STORE`: per topic and queue, the min/max offset, message count and last
//! store time (as `mqadmin topicStatus`), with the topic's `config/topics.json` settings, and
//! the disk each takes (as `kafka-log-dirs.sh`): its consume-queue files' lengths, and the
//! commitlog bytes of its messages (the store sizes its consume-queue units record).

use std::collections::BTreeMap;
use std::io::Write;

use clap::Args;
use serde::Serialize;

use super::args::StoreArgs;
use super::table::Table;
use super::CliResult;
use crate::clock::human_time;
use crate::config_json::{TopicConfigJson, TopicsJson};
use crate::inspect::content::{load_segments, walk_after_end, ContentItem};
use crate::inspect::queues::QueueSummary;

/// Disk use per topic and queue: `CQ Bytes` is the length of its consume-queue files on disk;
/// `Log Bytes` is what its messages take in the commitlog (the sum of the store sizes its
/// consume-queue units record, for the messages still in the commitlog; records in no consume
/// queue, such as PREPARED/ROLLBACK ones, count for no topic).
#[derive(Debug, Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    pub common: StoreArgs,
}

/// The disk one queue (or a topic's queues together) takes.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct DiskUse {
    /// Length of the consume-queue files on disk.
    consume_queue_bytes: u64,
    /// Sum of the store sizes of the messages the queue holds (units in `[min, max)`).
    commit_log_bytes: u64,
}

impl std::ops::AddAssign for DiskUse {
    fn add_assign(&mut self, o: DiskUse) {
        self.consume_queue_bytes += o.consume_queue_bytes;
        self.commit_log_bytes += o.commit_log_bytes;
    }
}

/// The disk use of every consume queue, by topic and queue id.
fn disk_use(store: &crate::MessageStore) -> BTreeMap<(String, i32), DiskUse> {
    let phy_min = store.min_phy_offset() as i64;
    let mut out = BTreeMap::new();
    for cq in store.consume_queues().all() {
        let mut d = DiskUse::default();
        for f in cq.files().files() {
            d.consume_queue_bytes += std::fs::metadata(f.path()).map_or(0, |m| m.len());
        }
        for i in cq.min_offset_in_queue()..cq.max_offset_in_queue() {
            match cq.get_unit(i) {
                Some(u) if u.is_pre_blank() || u.commitlog_offset < phy_min => {}
                Some(u) => d.commit_log_bytes += u.size.max(0) as u64,
                None => break,
            }
        }
        out.insert((cq.topic().to_string(), cq.queue_id()), d);
    }
    out
}

/// One queue: its summary and the disk it takes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonQueue<'a> {
    #[serde(flatten)]
    summary: &'a QueueSummary,
    #[serde(flatten)]
    disk_use: DiskUse,
}

/// The report: every topic, and the side files left out.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonTopics<'a> {
    topics: Vec<JsonTopic<'a>>,
    left_out: &'a [crate::left_out::LeftOut],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonTopic<'a> {
    topic: &'a str,
    /// From `config/topics.json` (or its `.bak`), when the topic is there.
    config: Option<JsonTopicConfig<'a>>,
    queues: Vec<JsonQueue<'a>>,
    /// The topic's queues together.
    disk_use: DiskUse,
    /// Per queue id: valid records of this topic after recovery's end (a broker drops them).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    records_after_recovery_end: BTreeMap<i32, u64>,
    /// 5.x: batch consume queues, LMQ, pending timers (absent for a plain topic).
    #[serde(skip_serializing_if = "Option::is_none")]
    v5: Option<&'a TopicV5>,
}

/// What 5.x keeps of a topic outside its plain consume queues (`topics_v5`).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicV5 {
    /// `batchconsumequeue/<topic>/<queueId>`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    batch_queues: Vec<crate::v5::inspect::BatchQueueSummary>,
    /// A light message queue (`%LMQ%`): its units point at records of other topics.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    lmq: bool,
    /// Timers waiting in the timer wheel whose REAL_TOPIC is this topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_timers: Option<usize>,
}

/// The `TopicConfig` fields, in topics.json's names.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonTopicConfig<'a> {
    read_queue_nums: i32,
    write_queue_nums: i32,
    perm: i32,
    topic_filter_type: &'a str,
    topic_sys_flag: i32,
    order: bool,
}

impl<'a> From<&'a TopicConfigJson> for JsonTopicConfig<'a> {
    fn from(c: &'a TopicConfigJson) -> Self {
        JsonTopicConfig {
            read_queue_nums: c.read_queue_nums,
            write_queue_nums: c.write_queue_nums,
            perm: c.perm,
            topic_filter_type: &c.topic_filter_type,
            topic_sys_flag: c.topic_sys_flag,
            order: c.order,
        }
    }
}

/// The schema of `topics --json` (2: `diskUse` per topic, the same two fields on each
/// queue, `leftOut`).
pub const SCHEMA: &str = "rmqstore.topics/2";

pub fn run(args: &TopicsArgs) -> CliResult {
    let (store, _) = args.common.open()?;
    if super::rocksdb::is_rocksdb(&store) {
        return super::rocksdb::topics(&store, args.common.json);
    }
    let config_dir = store.config().config_dir();
    let topics_json = match TopicsJson::load(&config_dir) {
        Ok(t) => t,
        Err(e) => {
            super::warn(&format!("{e} (settings are left out)"));
            None
        }
    };
    let n = store.consume_queues().all().len() as u64;
    let pb = args.common.progress(n, "reading queues", false);
    let summaries = store.queue_summaries();
    let disk = disk_use(&store);
    pb.finish_and_clear();
    let queue_disk = |s: &QueueSummary| {
        disk.get(&(s.topic.clone(), s.queue_id))
            .copied()
            .unwrap_or_default()
    };
    // What lies after recovery's end: named on stderr, counted per queue. (Only the segments
    // from the end on are read; the queues come from the consume queues.)
    let segs = load_segments(store.config())?;
    let end = store.max_phy_offset();
    let mut after_end: BTreeMap<String, BTreeMap<i32, u64>> = BTreeMap::new();
    let mut skipped = Vec::new();
    let (mut beyond, mut misplaced) = (0u64, 0u64);
    walk_after_end(&segs, end, |it| match it {
        ContentItem::Record {
            record,
            beyond_end,
            placed,
            ..
        } => {
            if !placed {
                misplaced += 1;
            }
            if beyond_end {
                beyond += 1;
                *after_end
                    .entry(String::from_utf8_lossy(record.topic).into_owned())
                    .or_default()
                    .entry(record.queue_id)
                    .or_default() += 1;
            }
        }
        ContentItem::Skipped(s) => skipped.push(s),
    });
    let report = || super::cat::report_extras(&skipped, beyond, misplaced, end);

    let mut by_topic: BTreeMap<&str, Vec<&QueueSummary>> = BTreeMap::new();
    for s in &summaries {
        by_topic.entry(&s.topic).or_default().push(s);
    }
    let table = topics_json
        .as_ref()
        .map(|t| &t.topic_config_table)
        .cloned()
        .unwrap_or_default();
    for t in table.keys() {
        by_topic.entry(t).or_default();
    }
    let v5 = topics_v5(&store);
    for t in v5.keys() {
        by_topic.entry(t).or_default();
    }

    let mut out = super::stdout();
    if args.common.json {
        let list: Vec<JsonTopic<'_>> = by_topic
            .iter()
            .map(|(t, qs)| {
                let queues: Vec<JsonQueue<'_>> = qs
                    .iter()
                    .map(|q| JsonQueue {
                        summary: q,
                        disk_use: queue_disk(q),
                    })
                    .collect();
                let mut total = DiskUse::default();
                for q in &queues {
                    total += q.disk_use;
                }
                JsonTopic {
                    topic: t,
                    config: table.get(*t).map(JsonTopicConfig::from),
                    queues,
                    disk_use: total,
                    records_after_recovery_end: after_end.get(*t).cloned().unwrap_or_default(),
                    v5: v5.get(*t),
                }
            })
            .collect();
        let doc = JsonTopics {
            topics: list,
            left_out: store.left_out(),
        };
        super::json::write_doc(&mut out, SCHEMA, &doc)?;
        out.flush()?;
        return report();
    }

    let mut t = Table::new(&[
        "Topic",
        "Queue>",
        "Min Offset>",
        "Max Offset>",
        "Messages>",
        "Last Updated",
        "R/W Queues",
        "Perm",
        "CQ Bytes>",
        "Log Bytes>",
    ]);
    for (topic, qs) in &by_topic {
        let cfg = table.get(*topic);
        let settings = cfg
            .map(|c| format!("{}/{}", c.read_queue_nums, c.write_queue_nums))
            .unwrap_or_else(|| "-".into());
        let perm = cfg.map(|c| perm_name(c.perm)).unwrap_or_else(|| "-".into());
        if qs.is_empty() {
            t.row(vec![
                topic.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                "0".into(),
                "(no consume queue)".into(),
                settings,
                perm,
                "0".into(),
                "0".into(),
            ]);
            continue;
        }
        for q in qs {
            t.row(vec![
                topic.to_string(),
                q.queue_id.to_string(),
                q.min_offset.to_string(),
                q.max_offset.to_string(),
                q.message_count.to_string(),
                q.last_store_timestamp
                    .map(human_time)
                    .unwrap_or_else(|| "-".into()),
                settings.clone(),
                perm.clone(),
                queue_disk(q).consume_queue_bytes.to_string(),
                queue_disk(q).commit_log_bytes.to_string(),
            ]);
        }
    }
    t.write(&mut out, 0)?;
    let total: u64 = summaries.iter().map(|s| s.message_count).sum();
    let mut all = DiskUse::default();
    for d in disk.values() {
        all += *d;
    }
    writeln!(
        out,
        "\n{} topics, {} queues, {} messages in consume queues; consume queues {} bytes on \
         disk, their messages {} bytes of commitlog{}",
        by_topic.len(),
        summaries.len(),
        total,
        all.consume_queue_bytes,
        all.commit_log_bytes,
        if topics_json.is_some() {
            ""
        } else {
            "; no config/topics.json (settings not recorded in the store)"
        }
    )?;
    write_topics_v5(&mut out, &v5)?;
    for (t, qs) in &after_end {
        for (q, n) in qs {
            writeln!(
                out,
                "{t} queue {q}: {n} more records after recovery's end (a broker drops them)"
            )?;
        }
    }
    out.flush()?;
    report()
}

/// `PermName.perm2String`: `RWX` letters for read (4), write (2), inherit (1).
fn perm_name(perm: i32) -> String {
    let mut s = String::new();
    s.push(if perm & 4 != 0 { 'R' } else { '-' });
    s.push(if perm & 2 != 0 { 'W' } else { '-' });
    s.push(if perm & 1 != 0 { 'X' } else { '-' });
    s
}

/// Per topic, what 5.x keeps outside plain consume queues (docs/format.md §12): batch consume
/// queues, light message queues, pending timers by real topic. Empty for a 4.x store.
fn topics_v5(store: &crate::MessageStore) -> BTreeMap<String, TopicV5> {
    let root = store.config().root().to_path_buf();
    let mut out: BTreeMap<String, TopicV5> = BTreeMap::new();
    if crate::v5::inspect::present(&root).is_empty() {
        return out;
    }
    let rep = match crate::v5::inspect::inspect(&root, store) {
        Ok(r) => r,
        Err(e) => {
            super::warn(&format!("5.x structures left out: {e}"));
            return out;
        }
    };
    for q in rep.batch_queues {
        out.entry(q.topic.clone()).or_default().batch_queues.push(q);
    }
    for (name, _) in rep.lmq_queues {
        out.entry(name).or_default().lmq = true;
    }
    if let Some(t) = rep.timer {
        for (topic, n) in t.pending_by_topic {
            out.entry(topic).or_default().pending_timers = Some(n);
        }
    }
    out
}

fn write_topics_v5(out: &mut impl Write, v5: &BTreeMap<String, TopicV5>) -> std::io::Result<()> {
    for (topic, v) in v5 {
        for q in &v.batch_queues {
            writeln!(
                out,
                "{topic} queue {}: batch consume queue, offsets {}..{}, {} messages in {} units",
                q.queue_id,
                q.min_offset.unwrap_or(0),
                q.max_offset.unwrap_or(0),
                q.messages,
                q.units
            )?;
        }
        if v.lmq {
            writeln!(
                out,
                "{topic}: light message queue (units point at records of other topics)"
            )?;
        }
        if let Some(n) = v.pending_timers {
            writeln!(out, "{topic}: {n} timers pending in the timer wheel")?;
        }
    }
    Ok(())
}
