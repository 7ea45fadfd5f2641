//! The `cat` queries that do not walk the whole log: `--key` and `--msg-id` through the index,
//! and `--file`, one segment file on its own.
//!
//! `--key` asks the index for `topic#key` (as `mqadmin queryMsgByKey` / Java's
//! `queryMessage`), in `--topic` or in every topic with a consume queue, with `--since/--until`
//! as the index's time bounds; each offset's record must then carry the topic and the key (hash
//! collisions are dropped). The index only answers for records up to its last entry: the part of
//! the log after it is scanned, and when the index is missing the whole log is; a scan that
//! covers records the index should have held is said on stderr and as a `notice` line.

use std::io::Write;

use serde::Serialize;

use super::args::BodyFormat;
use super::cat::{report_extras, write_record_line, CatArgs, Filter, JsonSkipped, SCHEMA};
use super::{CliError, CliResult};
use crate::format::properties::StoreProperties;
use crate::inspect::content::{load_segments, walk_content, ContentItem, SkippedRange};
use crate::inspect::lookup::LOOKUP_MAX;
use crate::inspect::scan::{walk_segment, Item};
use crate::inspect::verify::index_keys;
use crate::store::{MessageStore, StoredRecord};

/// How a `--key` query was answered when the index alone could not answer it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// `indexMissing` (no index file: the whole log was scanned) or `indexBehind` (the index
    /// ends before the log does: the rest was scanned).
    pub kind: &'static str,
    pub message: String,
    /// The commitlog range scanned, `[scannedFrom, scannedTo)`.
    pub scanned_from: u64,
    pub scanned_to: u64,
}

/// The records `--key` or `--msg-id` names (with `filter` applied by the caller), in physical
/// order; the skipped ranges a scan met go to `skipped`.
pub(super) fn indexed_records(
    store: &MessageStore,
    args: &CatArgs,
    filter: &Filter,
    skipped: &mut Vec<SkippedRange>,
) -> CliResult<(Vec<StoredRecord>, Option<Notice>)> {
    let topic = filter.topic.as_deref();
    let mut notice = None;
    let mut found: Vec<StoredRecord> = if let Some(id) = &args.msg_id {
        store.find_by_id(id, topic).1
    } else {
        let key = filter.key.as_deref().unwrap_or_default();
        // An entry's time is its file's begin time plus whole seconds (rounded down): a record
        // stored at `since` can read up to 999 ms earlier.
        let begin = filter.since.map_or(0, |s| s.saturating_sub(1000));
        let end = filter.until.unwrap_or(i64::MAX);
        let (files, index_end) = store.with_index_files(|fs| {
            (
                fs.len(),
                fs.iter().map(|f| f.disk_header().end_phy_offset).max(),
            )
        });
        let mut v: Vec<StoredRecord> = if files == 0 {
            Vec::new()
        } else {
            store
                .lookup_topics(topic)
                .iter()
                .flat_map(|t| store.query_messages_by_key(t, key, LOOKUP_MAX, begin, end))
                .collect()
        };
        // The log after the index's last entry (all of it without an index).
        let max = store.max_phy_offset();
        let from = match index_end.filter(|_| files > 0) {
            Some(e) if e >= 0 => match store.get_by_phy_offset(e as u64) {
                Some(r) => r.offset() + r.size() as u64,
                None => e as u64,
            },
            _ => store.min_phy_offset(),
        };
        if from < max {
            let (tail, indexed_tail) = scan_for_key(store, from, max, filter, skipped)?;
            v.extend(tail);
            let dir = store.config().index_dir();
            if files == 0 {
                notice = Some(Notice {
                    kind: "indexMissing",
                    message: format!(
                        "{}: no index file; scanned the commitlog [{from}, {max}) for key \
                         {key:?} instead",
                        dir.display()
                    ),
                    scanned_from: from,
                    scanned_to: max,
                });
            } else if indexed_tail > 0 {
                notice = Some(Notice {
                    kind: "indexBehind",
                    message: format!(
                        "{}: the index ends at commitlog offset {}, before the log's end {max}: \
                         {indexed_tail} records with keys after it are in no index file; \
                         scanned [{from}, {max}) for key {key:?}",
                        dir.display(),
                        index_end.unwrap_or(0)
                    ),
                    scanned_from: from,
                    scanned_to: max,
                });
            }
        }
        v
    };
    if !filter.queue_offsets {
        let (lo, hi) = (filter.from.unwrap_or(0), filter.to.unwrap_or(u64::MAX));
        found.retain(|r| (lo..hi).contains(&r.offset()));
    }
    found.sort_by_key(|r| r.offset());
    found.dedup_by_key(|r| r.offset());
    Ok((found, notice))
}

/// The records of `[from, to)` that `filter` keeps, and how many records there carry a key
/// (KEYS or UNIQ_KEY) an index would hold. Damage is added to `skipped`.
fn scan_for_key(
    store: &MessageStore,
    from: u64,
    to: u64,
    filter: &Filter,
    skipped: &mut Vec<SkippedRange>,
) -> CliResult<(Vec<StoredRecord>, u64)> {
    let segs = load_segments(store.config())?;
    let first = segs
        .iter()
        .position(|f| f.file_from_offset() + f.file_size() as u64 > from)
        .unwrap_or(segs.len());
    let mut offsets = Vec::new();
    let mut keyed = 0u64;
    let mut stop = false;
    walk_content(&segs[first..], to, |it| {
        if stop {
            return;
        }
        match it {
            ContentItem::Record {
                offset,
                record,
                beyond_end,
                ..
            } => {
                if beyond_end || offset >= to {
                    stop = true;
                    return;
                }
                if offset < from {
                    return;
                }
                // What Java's index holds for the record (nothing for a ROLLBACK record): the
                // scan answers as the index would have.
                let sp = StoreProperties::parse(record.properties);
                if index_keys(&record, &sp).is_empty() {
                    return;
                }
                keyed += 1;
                if filter.keeps(&record) {
                    offsets.push(offset);
                }
            }
            ContentItem::Skipped(s) => {
                if s.offset + s.bytes > from && s.offset < to {
                    skipped.push(s);
                }
            }
        }
    });
    let records = offsets
        .into_iter()
        .filter_map(|o| store.get_by_phy_offset(o))
        .collect();
    Ok((records, keyed))
}

/// `cat --file SEGMENT`: the records of one commitlog segment file from its start, the file's
/// base offset taken from its name. A record that does not decode, whose body CRC does not
/// match or whose PHYSICALOFFSET is not its position is named as a skipped range (exit 1); the
/// walk goes on at the next valid record.
pub(super) fn dump_file(args: &CatArgs, filter: &Filter) -> CliResult {
    let path = &args.common.store;
    let meta =
        std::fs::metadata(path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(CliError::Input(format!(
            "{}: --file takes a commitlog segment file, not a directory",
            path.display()
        )));
    }
    let base = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(crate::mapped_file::file_name_to_offset)
        .ok_or_else(|| {
            CliError::Input(format!(
                "{}: not a segment name (20 decimal digits, the offset of its first byte); \
                 --file takes the base offset from the name",
                path.display()
            ))
        })?;
    let map = crate::inspect::scan::map_read_only(path, meta.len())?;
    let data = map.as_ref().map_or(&[][..], |m| m.whole());
    let json = args.common.json;
    let body = args.body.unwrap_or(if json {
        BodyFormat::Base64
    } else {
        BodyFormat::Text
    });
    let limit = args.limit.unwrap_or(usize::MAX);
    let (lo, hi) = (filter.from.unwrap_or(0), filter.to.unwrap_or(u64::MAX));
    let mut out = super::stdout();
    let mut line = Vec::with_capacity(4096);
    let mut printed = 0usize;
    let mut skipped = Vec::new();
    let mut result: CliResult = Ok(());
    let skip = |pos: usize, bytes: usize, reason: String| SkippedRange {
        file: path.clone(),
        pos: pos as u64,
        offset: base + pos as u64,
        bytes: bytes as u64,
        reason,
        beyond_end: false,
    };
    if limit > 0 {
        walk_segment(data, base, |it| match it {
            Item::Record {
                pos,
                size,
                record,
                crc_ok,
                prop_crc,
                ..
            } => {
                let at = base + pos as u64;
                if record.physical_offset != at as i64 {
                    skipped.push(skip(
                        pos,
                        size,
                        format!(
                            "a record whose PHYSICALOFFSET field says {} (copied or shifted \
                             data, or a file named for another offset)",
                            record.physical_offset
                        ),
                    ));
                    return;
                }
                if !crc_ok || matches!(prop_crc, Some(Err(_))) {
                    skipped.push(skip(pos, size, "body CRC mismatch".into()));
                    return;
                }
                if printed >= limit || result.is_err() || at < lo || at >= hi {
                    return;
                }
                if !filter.keeps(&record) {
                    return;
                }
                line.clear();
                write_record_line(&mut line, &record, size, false, json, body);
                if let Err(e) = out.write_all(&line) {
                    result = Err(e.into());
                }
                printed += 1;
            }
            Item::Damage {
                pos,
                to,
                kind,
                problem,
                ..
            } => skipped.push(skip(pos, to - pos, format!("{}: {problem}", kind.as_str()))),
            Item::Blank { .. } | Item::End { .. } => {}
        });
    }
    result?;
    if json {
        for s in &skipped {
            super::json::write_line(&mut out, SCHEMA, &JsonSkipped { skipped: s })?;
        }
    }
    out.flush()?;
    report_extras(&skipped, 0, 0, 0)
}
