//! `rmqstore consumers STORE [--group G] [--topic T]`: consumer lag per group, topic and queue
//! from `config/consumerOffset.json`, as `mqadmin consumerProgress` shows it: the broker
//! offset (the queue's max offset), the consumer offset (the committed next offset), their
//! difference, and the store time of the last consumed message.
//!
//! The numbers follow the broker's `AdminBrokerProcessor#getConsumeStats`: a negative
//! committed offset counts as 0, and the last consumed time is the store timestamp of the
//! message at `consumerOffset - 1` (absent when the offset is 0 or that message is gone).

use std::io::Write;

use clap::Args;
use serde::Serialize;

use super::args::StoreArgs;
use super::table::{ellipsize, Table};
use super::{CliError, CliResult};
use crate::clock::human_time;
use crate::config_json::ConsumerOffsetJson;
use crate::MessageStore;

/// The schema name and version of `consumers --json`.
pub const SCHEMA: &str = "rmqstore.consumers/1";

#[derive(Debug, Args)]
pub struct ConsumersArgs {
    #[command(flatten)]
    pub common: StoreArgs,
    /// Only this consumer group.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Only this topic.
    #[arg(long, value_name = "TOPIC")]
    pub topic: Option<String>,
}

/// One queue of one group, as a row of `mqadmin consumerProgress`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueLag {
    pub queue_id: i32,
    /// The queue's max offset (next offset the broker will assign).
    pub broker_offset: u64,
    /// The committed offset (next offset the group will consume); 0 if negative in the file.
    pub consumer_offset: u64,
    /// `brokerOffset - consumerOffset` (negative if the queue was truncated below the
    /// committed offset).
    pub diff: i64,
    /// Store time (epoch ms) of the message at `consumerOffset - 1`.
    pub last_timestamp: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupTopic {
    pub group: String,
    pub topic: String,
    /// Sum of the queues' diffs.
    pub diff_total: i64,
    pub queues: Vec<QueueLag>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    schema: &'static str,
    store: String,
    consumer_offset_file: String,
    groups: &'a [GroupTopic],
}

/// The lag of every (group, topic) in `offsets`, filtered.
pub fn lag(
    store: &MessageStore,
    offsets: &ConsumerOffsetJson,
    group: Option<&str>,
    topic: Option<&str>,
) -> Vec<GroupTopic> {
    let mut out: Vec<GroupTopic> = Vec::new();
    for (t, g, table) in offsets.entries() {
        if group.is_some_and(|x| x != g) || topic.is_some_and(|x| x != t) {
            continue;
        }
        let queues: Vec<QueueLag> = table
            .iter()
            .map(|(&queue_id, &committed)| {
                let broker_offset = store.max_offset_in_queue(t, queue_id);
                let consumer_offset = committed.max(0) as u64;
                let last_timestamp = consumer_offset.checked_sub(1).and_then(|at| {
                    let r = store.get_messages(t, queue_id, at, 1);
                    r.messages
                        .first()
                        .and_then(|m| m.decode().ok().map(|m| m.store_timestamp))
                        .filter(|&ts| ts > 0)
                });
                QueueLag {
                    queue_id,
                    broker_offset,
                    consumer_offset,
                    diff: broker_offset as i64 - consumer_offset as i64,
                    last_timestamp,
                }
            })
            .collect();
        out.push(GroupTopic {
            group: g.to_string(),
            topic: t.to_string(),
            diff_total: queues.iter().map(|q| q.diff).sum(),
            queues,
        });
    }
    out.sort_by(|a, b| (&a.group, &a.topic).cmp(&(&b.group, &b.topic)));
    out
}

pub fn run(args: &ConsumersArgs) -> CliResult {
    let (store, _) = args.common.open()?;
    let dir = store.config().config_dir();
    let file = dir.join("consumerOffset.json");
    let offsets = ConsumerOffsetJson::load(&dir)?.ok_or_else(|| {
        CliError::Input(format!(
            "{}: no such file (nor a .bak): the broker has no committed consumer offsets",
            file.display()
        ))
    })?;
    let groups = lag(
        &store,
        &offsets,
        args.group.as_deref(),
        args.topic.as_deref(),
    );
    let mut out = super::stdout();
    if args.common.json {
        let report = Report {
            schema: SCHEMA,
            store: args.common.store.display().to_string(),
            consumer_offset_file: file.display().to_string(),
            groups: &groups,
        };
        serde_json::to_writer_pretty(&mut out, &report).map_err(std::io::Error::from)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(());
    }
    if groups.is_empty() {
        writeln!(out, "no consumer offsets match in {}", file.display())?;
    }
    for g in &groups {
        writeln!(
            out,
            "group {}  topic {}  diff total {}",
            g.group,
            ellipsize(&g.topic, 80),
            g.diff_total
        )?;
        let mut t = Table::new(&[
            "queue>",
            "broker offset>",
            "consumer offset>",
            "diff>",
            "last consumed (store time)",
        ]);
        for q in &g.queues {
            t.row(vec![
                q.queue_id.to_string(),
                q.broker_offset.to_string(),
                q.consumer_offset.to_string(),
                q.diff.to_string(),
                q.last_timestamp.map(human_time).unwrap_or("-".into()),
            ]);
        }
        t.write(&mut out, 2)?;
    }
    out.flush()?;
    Ok(())
}
