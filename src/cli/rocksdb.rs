//! The tools on a 5.x store whose consume queue is a RocksDB database
//! (`storeType=defaultRocksDB`, `consumequeue/CURRENT`; `src/v5/rocksdb_cq.rs`): `cq` and
//! `topics` read the queues from it, `stat` summarizes it. When it cannot be read (built without
//! the `rocksdb` feature, no RocksDB library) each says so plainly and exits non-zero: it did not
//! see the queues it was asked about.

use std::io::Write;
use std::path::Path;

use super::table::Table;
use super::{CliError, CliResult};
use crate::clock::human_time;
use crate::format::record::{decode_record, Decoded};
use crate::store::MessageStore;
use crate::v5::rocksdb_cq::{self, RocksCq};

/// Is this store's consume queue a RocksDB database?
pub fn is_rocksdb(store: &MessageStore) -> bool {
    rocksdb_cq::is_rocksdb_cq(store.config().root())
}

/// Drops the RocksDB files of `consumequeue/` from the side files left out: they are the
/// consume queue of a RocksDB store, not strays.
pub fn keep_rocksdb_files(root: &Path, left: &mut Vec<crate::left_out::LeftOut>) {
    if !rocksdb_cq::is_rocksdb_cq(root) {
        return;
    }
    let dir = root.join("consumequeue");
    left.retain(|l| {
        !(l.path.parent() == Some(dir.as_path())
            && l.path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(crate::v5::inspect::is_rocksdb_file))
    });
}

fn read(store: &MessageStore) -> CliResult<RocksCq> {
    rocksdb_cq::read(store.config().root()).map_err(|e| {
        CliError::Failed(format!(
            "the RocksDB consume queue (5.x storeType=defaultRocksDB) was not read: {e}"
        ))
    })
}

/// One unit as `cq` shows it, checked against its record.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct UnitView {
    queue_offset: i64,
    commit_log_offset: i64,
    size: i32,
    tags_code: i64,
    store_timestamp: i64,
    /// `match`, or what differs from the record.
    check: String,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct QueueDump {
    topic: String,
    queue_id: i32,
    rocksdb: bool,
    /// The first unit present (cq.schema.json `firstUnit`).
    first_unit: i64,
    min_offset: i64,
    max_offset: i64,
    units: Vec<UnitView>,
}

fn check_unit(store: &MessageStore, u: &rocksdb_cq::RocksUnit) -> String {
    let Some(rec) = u64::try_from(u.phy_offset)
        .ok()
        .and_then(|o| store.get_by_phy_offset(o))
    else {
        return format!("no record at commitlog offset {}", u.phy_offset);
    };
    match decode_record(rec.bytes(), false) {
        Ok(Decoded::Message { record, total_size }) => {
            let mut bad = Vec::new();
            if total_size as i64 != u.size as i64 {
                bad.push(format!("record is {total_size} bytes"));
            }
            if record.topic != u.topic.as_bytes() && !crate::v5::lmq::is_lmq(&u.topic) {
                bad.push(format!(
                    "record topic {}",
                    String::from_utf8_lossy(record.topic)
                ));
            }
            if record.store_timestamp != u.store_time {
                bad.push(format!("record stored at {}", record.store_timestamp));
            }
            if bad.is_empty() {
                "match".into()
            } else {
                bad.join("; ")
            }
        }
        Ok(_) => format!("commitlog offset {} is not a message", u.phy_offset),
        Err(e) => format!("record at {}: {e}", u.phy_offset),
    }
}

/// `cq TOPIC QUEUE` from the RocksDB consume queue.
pub fn cq(
    store: &MessageStore,
    topic: &str,
    queue: i32,
    from: Option<u64>,
    limit: usize,
    json: bool,
) -> CliResult {
    let cq = read(store)?;
    let units = cq.queue_units(topic, queue);
    let q = cq
        .queues()
        .into_iter()
        .find(|q| q.topic == topic && q.queue_id == queue);
    let Some(q) = q else {
        return Err(CliError::Input(format!(
            "{}: no queue {topic} / {queue} in the RocksDB consume queue",
            cq.dir.display()
        )));
    };
    let from = from.map(|f| f as i64).unwrap_or(i64::MIN);
    let dump = QueueDump {
        topic: topic.to_string(),
        queue_id: queue,
        rocksdb: true,
        first_unit: q.first_offset.unwrap_or(0),
        min_offset: q.min.map(|m| m.1).or(q.first_offset).unwrap_or(0),
        max_offset: cq.max_offset_in_queue(topic, queue),
        units: units
            .iter()
            .filter(|u| u.queue_offset >= from)
            .take(limit)
            .map(|u| UnitView {
                queue_offset: u.queue_offset,
                commit_log_offset: u.phy_offset,
                size: u.size,
                tags_code: u.tags_code,
                store_timestamp: u.store_time,
                check: check_unit(store, u),
            })
            .collect(),
    };
    let mut out = super::stdout();
    if json {
        super::json::write_doc(&mut out, "rmqstore.cq/1", &dump)?;
        out.flush()?;
        return Ok(());
    }
    writeln!(
        out,
        "RocksDB consume queue {} / {}: min offset {}, max offset {}",
        dump.topic, dump.queue_id, dump.min_offset, dump.max_offset
    )?;
    let mut t = Table::new(&[
        "Queue Offset>",
        "Commitlog Offset>",
        "Size>",
        "TagsCode>",
        "Record",
        "Store Time",
    ]);
    for u in &dump.units {
        t.row(vec![
            u.queue_offset.to_string(),
            u.commit_log_offset.to_string(),
            u.size.to_string(),
            u.tags_code.to_string(),
            u.check.clone(),
            human_time(u.store_timestamp),
        ]);
    }
    t.write(&mut out, 0)?;
    let bad = dump.units.iter().filter(|u| u.check != "match").count();
    writeln!(
        out,
        "\n{} units shown; {} do not match their record",
        dump.units.len(),
        bad
    )?;
    out.flush()?;
    Ok(())
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicsDoc {
    rocksdb: bool,
    queues: Vec<rocksdb_cq::RocksQueue>,
    max_phy_offset: Option<i64>,
}

/// `topics` from the RocksDB consume queue: every queue with its offsets.
pub fn topics(store: &MessageStore, json: bool) -> CliResult {
    let cq = read(store)?;
    let doc = TopicsDoc {
        rocksdb: true,
        queues: cq.queues(),
        max_phy_offset: cq.max_phy_offset,
    };
    let mut out = super::stdout();
    if json {
        // Not topics.schema.json's shape (no file queues, sizes or topic configs): its own name.
        super::json::write_doc(&mut out, "rmqstore.topics-rocksdb/1", &doc)?;
        out.flush()?;
        return Ok(());
    }
    let mut t = Table::new(&[
        "Topic",
        "Queue>",
        "Min Offset>",
        "Max Offset>",
        "Units>",
        "Last Phy Offset>",
    ]);
    for q in &doc.queues {
        t.row(vec![
            q.topic.clone(),
            q.queue_id.to_string(),
            q.min
                .map(|m| m.1)
                .or(q.first_offset)
                .unwrap_or(0)
                .to_string(),
            q.max.map(|m| m.1 + 1).unwrap_or(0).to_string(),
            q.units.to_string(),
            q.max.map(|m| m.0.to_string()).unwrap_or_else(|| "-".into()),
        ]);
    }
    t.write(&mut out, 0)?;
    let topics: std::collections::BTreeSet<&str> =
        doc.queues.iter().map(|q| q.topic.as_str()).collect();
    writeln!(
        out,
        "\n{} topics, {} queues, {} units in the RocksDB consume queue (consumequeue/, 5.x \
         storeType=defaultRocksDB); built up to commitlog offset {}",
        topics.len(),
        doc.queues.len(),
        cq.units.len(),
        cq.max_phy_offset
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into())
    )?;
    out.flush()?;
    Ok(())
}

/// `stat`'s section on the RocksDB consume queue; `Err` (after the section) when it was not read.
pub fn stat_section(store: &MessageStore, out: &mut impl Write) -> CliResult {
    writeln!(
        out,
        "\nRocksDB consume queue {} (5.x storeType=defaultRocksDB)",
        store.config().root().join("consumequeue").display()
    )?;
    match rocksdb_cq::read(store.config().root()) {
        Ok(cq) => {
            let queues = cq.queues();
            let topics: std::collections::BTreeSet<&str> =
                queues.iter().map(|q| q.topic.as_str()).collect();
            writeln!(
                out,
                "  {} topics, {} queues, {} units; built up to commitlog offset {}",
                topics.len(),
                queues.len(),
                cq.units.len(),
                cq.max_phy_offset
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into())
            )?;
            if !cq.bad.is_empty() {
                writeln!(
                    out,
                    "  {} entries that do not decode (see verify)",
                    cq.bad.len()
                )?;
            }
            Ok(())
        }
        Err(e) => {
            writeln!(out, "  not read: {e}")?;
            Err(CliError::Failed(format!(
                "the RocksDB consume queue was not read: {e}"
            )))
        }
    }
}

/// `cat --topic` on a RocksDB store: `(phy offset, tags code)` of the units of `topic` (queue
/// `queue`, or all) with queue offsets in `from..to`.
pub fn topic_units(
    store: &MessageStore,
    topic: &str,
    queue: Option<i32>,
    from: Option<u64>,
    to: Option<u64>,
) -> CliResult<Vec<(i64, i64)>> {
    let cq = read(store)?;
    let from = from.map_or(i64::MIN, |f| f as i64);
    let to = to.map_or(i64::MAX, |t| t.min(i64::MAX as u64) as i64);
    let units: Vec<(i64, i64)> = cq
        .units
        .iter()
        .filter(|u| u.topic == topic && queue.is_none_or(|q| u.queue_id == q))
        .filter(|u| u.queue_offset >= from && u.queue_offset < to)
        .map(|u| (u.phy_offset, u.tags_code))
        .collect();
    if !cq
        .units
        .iter()
        .any(|u| u.topic == topic && queue.is_none_or(|q| u.queue_id == q))
    {
        return Err(CliError::Input(format!(
            "{}: no queue of topic {topic}{} in the RocksDB consume queue",
            cq.dir.display(),
            queue.map(|q| format!(" queue {q}")).unwrap_or_default()
        )));
    }
    Ok(units)
}
