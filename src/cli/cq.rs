//! `rmqstore cq STORE TOPIC QUEUE [--from N] [--limit N]`: a consume queue's units, each
//! checked against the commitlog record it points at (like `mqadmin queryCq`).

use std::io::Write;

use clap::Args;

use super::args::StoreArgs;
use super::table::Table;
use super::{CliError, CliResult};
use crate::clock::human_time;
use crate::inspect::queues::UnitCheck;

#[derive(Debug, Args)]
pub struct CqArgs {
    #[command(flatten)]
    pub common: StoreArgs,
    /// The topic whose consume queue to dump (consumequeue/TOPIC/).
    #[arg(value_name = "TOPIC")]
    pub topic: String,
    /// The queue id (consumequeue/TOPIC/QUEUE_ID/).
    #[arg(value_name = "QUEUE_ID")]
    pub queue: i32,
    /// First queue offset (default: the first unit in the files).
    #[arg(long, value_name = "N")]
    pub from: Option<u64>,
    /// At most N units.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub limit: usize,
}

pub fn run(args: &CqArgs) -> CliResult {
    let (store, _) = args.common.open()?;
    if super::rocksdb::is_rocksdb(&store) {
        return super::rocksdb::cq(
            &store,
            &args.topic,
            args.queue,
            args.from,
            args.limit,
            args.common.json,
        );
    }
    if let Some(r) = run_batch(args, &store) {
        return r;
    }
    let Some(dump) = store.dump_consume_queue(&args.topic, args.queue, args.from, args.limit)
    else {
        let dir = store
            .config()
            .consume_queue_dir()
            .join(&args.topic)
            .join(args.queue.to_string());
        if store.left_out().iter().any(|l| l.path.starts_with(&dir)) {
            // Its files were left out (named above): a damaged queue, not a missing one.
            return Err(CliError::Failed(format!(
                "{}: consume queue {} / {} left out",
                dir.display(),
                args.topic,
                args.queue
            )));
        }
        return Err(CliError::Input(format!(
            "{}: no consume queue {} / {}",
            store
                .config()
                .consume_queue_dir()
                .join(&args.topic)
                .join(args.queue.to_string())
                .display(),
            args.topic,
            args.queue
        )));
    };
    let mut out = super::stdout();
    if args.common.json {
        super::json::write_doc(&mut out, "rmqstore.cq/1", &dump)?;
        out.flush()?;
        return Ok(());
    }
    writeln!(
        out,
        "Consume queue {} / {}: min offset {}, max offset {}, first unit in files {}",
        dump.topic, dump.queue_id, dump.min_offset, dump.max_offset, dump.first_unit
    )?;
    let mut t = Table::new(&[
        "Queue Offset>",
        "Commitlog Offset>",
        "Size>",
        "TagsCode>",
        "Record",
        "Store Time",
        "Note",
    ]);
    for u in &dump.units {
        t.row(vec![
            u.queue_offset.to_string(),
            u.commit_log_offset.to_string(),
            u.size.to_string(),
            u.tags_code.to_string(),
            u.check.label().to_string(),
            u.store_timestamp
                .map(human_time)
                .unwrap_or_else(|| "-".into()),
            u.computed_tags_code
                .map(|c| format!("record gives tagsCode {c}"))
                .unwrap_or_default(),
        ]);
    }
    t.write(&mut out, 0)?;
    let bad = dump
        .units
        .iter()
        .filter(|u| !matches!(u.check, UnitCheck::Match | UnitCheck::PreBlank))
        .count();
    let shown_end = dump.units.last().map(|u| u.queue_offset + 1);
    writeln!(
        out,
        "\n{} units shown{}; {} do not match their record",
        dump.units.len(),
        match shown_end {
            Some(e) if e < dump.max_offset => format!(" (more from --from {e})"),
            _ => String::new(),
        },
        bad
    )?;
    out.flush()?;
    Ok(())
}

/// `cq` on a 5.x batch consume queue (`batchconsumequeue/TOPIC/QUEUE_ID`): its 46-byte units
/// with their batch sizes, each checked against its record. `None` when the queue is not one.
fn run_batch(args: &CqArgs, store: &crate::MessageStore) -> Option<CliResult> {
    let root = store.config().root().to_path_buf();
    let dump = match crate::v5::inspect::dump_batch_queue(
        &root,
        store,
        &args.topic,
        args.queue,
        args.from,
        args.limit,
    ) {
        Ok(Some(d)) => d,
        Ok(None) => return None,
        Err(e) => return Some(Err(CliError::Failed(e.to_string()))),
    };
    let write = || -> CliResult {
        let mut out = super::stdout();
        if args.common.json {
            super::json::write_doc(&mut out, "rmqstore.cq/1", &dump)?;
            out.flush()?;
            return Ok(());
        }
        writeln!(
            out,
            "Batch consume queue {} / {}: min offset {}, max offset {}, {} messages",
            dump.topic, dump.queue_id, dump.min_offset, dump.max_offset, dump.messages
        )?;
        let mut t = Table::new(&[
            "Queue Offset>",
            "Batch>",
            "Commitlog Offset>",
            "Size>",
            "TagsCode>",
            "Record",
            "Store Time",
        ]);
        for u in &dump.units {
            t.row(vec![
                u.queue_offset.to_string(),
                u.batch_size.to_string(),
                u.commit_log_offset.to_string(),
                u.size.to_string(),
                u.tags_code.to_string(),
                u.check.label().to_string(),
                u.store_timestamp
                    .map(human_time)
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
        t.write(&mut out, 0)?;
        let bad = dump
            .units
            .iter()
            .filter(|u| !matches!(u.check, UnitCheck::Match))
            .count();
        writeln!(
            out,
            "\n{} units shown; {} do not match their record",
            dump.units.len(),
            bad
        )?;
        out.flush()?;
        Ok(())
    };
    Some(write())
}
