//! One definition of a store's content, shared by the library's read paths and every offline
//! tool (`verify`, `rebuild`, `salvage`, `stat`, `cat`, `topics`, `msg`).
//!
//! **The content** is what Java's recovery keeps: the commitlog from its first segment up to
//! the end that recovery finds (`recoverNormally` from the third-last segment, or
//! `recoverAbnormally` from the segment the checkpoint names when the abort file is present;
//! body CRCs checked there). The scan is the store's own ([`crate::store::recovery_scan`]), so
//! the library's open and these tools cannot disagree about where a store ends.
//!
//! Everything else the bytes hold is reported **explicitly**, never dropped silently:
//!
//! - [`SkippedRange`]s: bytes that hold no readable record: inside the content (before the
//!   segments recovery scans, which it never checks) and after its end (torn or corrupt
//!   records, garbage, holes), and missing segments. Each names the file, position and length.
//! - records **beyond the end** ([`ContentItem::Record`] with `beyond_end`): valid records
//!   (structure, body CRC, PHYSICALOFFSET equal to their position) after recovery's end, which a
//!   broker would truncate and `salvage` can copy;
//! - **misplaced** records: records that decode but whose PHYSICALOFFSET field names another
//!   position (copied or shifted data). Inside the content they are still content (Java's
//!   recovery does not check that field), but they are reported; `salvage` never copies them,
//!   so the copy holds no message twice.
//!
//! Walking the content, a reader continues past damage at the next valid record, as `salvage`
//! does ([`super::scan::resync`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

#[cfg(any(feature = "cli", feature = "internals"))]
use super::scan::{carries_property_crc, last_non_zero, resync, walk_segment, Item};
use crate::config::StoreConfig;
use crate::error::{Result, StoreError};
#[cfg(any(feature = "cli", feature = "internals"))]
use crate::format::body_crc;
use crate::format::checkpoint::{Checkpoint, CHECKPOINT_FILE_SIZE};
#[cfg(any(feature = "cli", feature = "internals"))]
use crate::format::record::{decode_record, verify_property_crc, Decoded, MessageRecord};
use crate::mapped_file::MappedFile;

/// Bytes of the commitlog that hold no readable record (or a missing segment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRange {
    /// The segment (for a missing segment: the path it would have).
    pub file: PathBuf,
    /// Position in `file`.
    pub pos: u64,
    /// The same position as a commitlog offset.
    pub offset: u64,
    /// Length of the range.
    pub bytes: u64,
    /// Why nothing there is readable.
    pub reason: String,
    /// The range lies at or after recovery's end (a broker truncates it).
    pub beyond_end: bool,
}

impl std::fmt::Display for SkippedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: skipped {} bytes at position {} (commitlog offset {}){}: {}",
            self.file.display(),
            self.bytes,
            self.pos,
            self.offset,
            if self.beyond_end {
                ", after recovery's end"
            } else {
                ""
            },
            self.reason
        )
    }
}

/// One step of a content walk, in physical order.
#[derive(Debug)]
#[cfg(any(feature = "cli", feature = "internals"))]
pub enum ContentItem<'a> {
    Record {
        offset: u64,
        size: usize,
        record: MessageRecord<'a>,
        /// After recovery's end: valid, but a broker would truncate it.
        beyond_end: bool,
        /// The body CRC (and 5.x `__CRC32#`) match.
        crc_ok: bool,
        /// PHYSICALOFFSET equals the position (false: copied or shifted data).
        placed: bool,
    },
    Skipped(SkippedRange),
}

/// Where the content ends, and what lies outside it.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg(any(feature = "cli", feature = "internals"))]
pub struct Content {
    /// The abort file is present: recovery is abnormal.
    pub abnormal: bool,
    pub min_offset: u64,
    /// The segment recovery's scan starts at.
    pub recovery_start: u64,
    /// Recovery's end: the content is `[min_offset, end)`.
    pub end: u64,
    /// Why recovery stopped before the end of the data, if it did.
    pub stopped_by: Option<String>,
    /// Records in the content (as the library's `records()` yields them).
    pub records: u64,
    /// Content records whose body CRC does not match (kept: the reput does not check).
    pub records_bad_crc: u64,
    /// Valid records after the end (`(offset, size)`): a broker drops them, salvage copies them.
    pub beyond_end: Vec<(u64, u32)>,
    /// Records whose PHYSICALOFFSET names another position: `(offset, field value)`.
    pub misplaced: Vec<(u64, i64)>,
    pub skipped: Vec<SkippedRange>,
}

/// The checkpoint as recovery reads it (a missing file, or the bytes after a short one, read
/// as zeros, as Java's does).
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let mut page = match std::fs::read(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![0; CHECKPOINT_FILE_SIZE],
        Err(e) => return Err(StoreError::io(path, e)),
    };
    // A short file reads as zeros after its end, as the library's (and Java's) mapping does.
    if page.len() < CHECKPOINT_FILE_SIZE {
        page.resize(CHECKPOINT_FILE_SIZE, 0);
    }
    Checkpoint::decode(&page).map_err(|e| StoreError::corrupt(path, 0, e))
}

/// The commitlog segments as the library loads them, read-only. Stray entries of the folder
/// (not segments of this geometry) are left out, as an inspection open leaves them out
/// ([`crate::MessageStore::open_inspect`], which names them); a wrong-length segment fails.
pub fn load_segments(config: &StoreConfig) -> Result<Vec<Arc<MappedFile>>> {
    let cl = crate::commitlog::CommitLog::load_tolerant(
        &config.commit_log_dir(),
        config.mapped_file_size_commit_log,
        &mut Vec::new(),
    )?;
    Ok(cl.files().files())
}

/// Finds the content of the store at `config`'s root (read-only; nothing is written).
#[cfg(any(feature = "cli", feature = "internals"))]
pub fn store_content(config: &StoreConfig) -> Result<(Content, Vec<Arc<MappedFile>>)> {
    let files = load_segments(config)?;
    let abnormal = config.abort_path().exists();
    let cp = read_checkpoint(&config.checkpoint_path())?;
    let content = content_of(config, &files, abnormal, &cp)?;
    Ok((content, files))
}

/// Recovery's start and end over `files` (the store's own scan).
pub fn recovery_bounds(
    config: &StoreConfig,
    files: &[Arc<MappedFile>],
    abnormal: bool,
    cp: &Checkpoint,
) -> Result<(u64, u64, Option<String>)> {
    if files.is_empty() {
        return Ok((0, 0, None));
    }
    let delay_levels = config.delay_levels().map_err(StoreError::Config)?;
    // The normal-recovery start: with a 5.x target, the segment holding the consume queues'
    // largest physical end, read from the queues on disk as the store's open does (§12.1); with
    // 4.6.0, the third-last segment.
    let max_phy_of_cq = (config.target_version.is_5x() && !abnormal)
        .then(|| queues_max_physic_offset(config))
        .flatten();
    let start = crate::store::recovery_start_index(files, abnormal, cp, config, max_phy_of_cq);
    let scan = crate::store::recovery_scan(
        files,
        start,
        config.check_crc_on_recover,
        config,
        &delay_levels,
        |_| Ok(()),
    );
    Ok((
        files[start].file_from_offset(),
        scan.end,
        scan.stopped_by.map(|e| e.to_string()),
    ))
}

/// The largest physical offset the consume queues and batch consume queues on disk refer to
/// (as the store's recovery computes it: each queue's valid units), without changing them;
/// `None` when they cannot be read (then the 4.6.0 start rule applies).
fn queues_max_physic_offset(config: &StoreConfig) -> Option<i64> {
    let cqs = crate::consume_queue::ConsumeQueueTable::load(
        &config.consume_queue_dir(),
        config.mapped_file_size_consume_queue(),
        false,
    )
    .ok()?;
    let mut max: i64 = -1;
    for cq in cqs.all() {
        cq.recover().ok()?;
        max = max.max(cq.max_physic_offset());
    }
    for q in crate::v5::batch_cq::read_all_queues(config.root()).ok()? {
        if let Some(u) = q.units.last() {
            max = max.max(u.unit.commitlog_offset);
        }
    }
    Some(max)
}

/// [`store_content`] over segments already loaded.
#[cfg(any(feature = "cli", feature = "internals"))]
pub fn content_of(
    config: &StoreConfig,
    files: &[Arc<MappedFile>],
    abnormal: bool,
    cp: &Checkpoint,
) -> Result<Content> {
    let (recovery_start, end, stopped_by) = recovery_bounds(config, files, abnormal, cp)?;
    let mut c = Content {
        abnormal,
        min_offset: files.first().map_or(0, |f| f.file_from_offset()),
        recovery_start,
        end,
        stopped_by,
        ..Content::default()
    };
    walk_content(files, end, |it| match it {
        ContentItem::Record {
            offset,
            size,
            record,
            beyond_end,
            crc_ok,
            placed,
            ..
        } => {
            if !placed {
                c.misplaced.push((offset, record.physical_offset));
            }
            if beyond_end {
                c.beyond_end.push((offset, size as u32));
            } else {
                c.records += 1;
                if !crc_ok {
                    c.records_bad_crc += 1;
                }
            }
        }
        ContentItem::Skipped(s) => c.skipped.push(s),
    });
    Ok(c)
}

/// [`walk_content`] from the segment holding `end` on: what lies after recovery's end (and the
/// records of that one segment before it), without reading the rest of the log.
#[cfg(any(feature = "cli", feature = "internals"))]
pub fn walk_after_end<'a>(
    files: &'a [Arc<MappedFile>],
    end: u64,
    visit: impl FnMut(ContentItem<'a>),
) {
    let i = files
        .iter()
        .position(|f| f.file_from_offset() + f.file_size() as u64 > end)
        .unwrap_or(files.len());
    walk_content(&files[i..], end, visit)
}

/// Walks every segment in order: the content `[min, end)` record by record (a record that does
/// not decode is skipped up to the next valid one), then what lies after `end`: valid records
/// marked `beyond_end`, everything else as skipped ranges. Misplaced records after `end` are
/// reported as skipped ranges, not as records.
#[cfg(any(feature = "cli", feature = "internals"))]
pub fn walk_content<'a>(
    files: &'a [Arc<MappedFile>],
    end: u64,
    mut visit: impl FnMut(ContentItem<'a>),
) {
    let mut expected: Option<u64> = None;
    for f in files {
        let from = f.file_from_offset();
        let size = f.file_size() as u64;
        if let Some(e) = expected {
            if e < from {
                visit(ContentItem::Skipped(SkippedRange {
                    file: f.path().with_file_name(format!("{e:020}")),
                    pos: 0,
                    offset: e,
                    bytes: from - e,
                    reason: "missing segment(s): no file holds these offsets".into(),
                    beyond_end: e >= end,
                }));
            }
        }
        expected = Some(from + size);
        let data = f.whole();
        let a_end = end.saturating_sub(from).min(data.len() as u64) as usize;
        let mut pos = 0usize;
        // The content part of this segment.
        let mut blank = false;
        while pos < a_end {
            match decode_record(&data[pos..], false) {
                Ok(Decoded::Message { record, total_size }) => {
                    let size = total_size as usize;
                    let bytes = &data[pos..pos + size];
                    let crc_ok = (record.body.is_empty()
                        || body_crc(record.body) == record.body_crc as u32)
                        && (!carries_property_crc(&record) || verify_property_crc(bytes).is_ok());
                    let placed = record.physical_offset == (from + pos as u64) as i64;
                    visit(ContentItem::Record {
                        offset: from + pos as u64,
                        size,
                        record,
                        beyond_end: false,
                        crc_ok,
                        placed,
                    });
                    pos += size;
                }
                Ok(Decoded::Blank { .. }) => {
                    blank = true;
                    break;
                }
                Ok(Decoded::End) | Err(_) => {
                    let reason = match decode_record(&data[pos..], false) {
                        Err(e) => e.to_string(),
                        _ => "zeros where a record should start".into(),
                    };
                    let to = match resync(&data[..a_end], from, pos + 1) {
                        Some(q) => q,
                        None => a_end,
                    };
                    visit(ContentItem::Skipped(SkippedRange {
                        file: f.path().to_path_buf(),
                        pos: pos as u64,
                        offset: from + pos as u64,
                        bytes: (to - pos) as u64,
                        reason,
                        beyond_end: false,
                    }));
                    pos = to;
                }
            }
        }
        if blank || a_end >= data.len() {
            continue;
        }
        // After the end.
        let b = pos.max(a_end);
        if last_non_zero(&data[b..]).is_none() {
            continue;
        }
        let base = from + b as u64;
        walk_segment(&data[b..], base, |it| match it {
            Item::Record {
                pos: p,
                size,
                record,
                crc_ok,
                prop_crc,
                ..
            } => {
                let at = base + p as u64;
                let placed = record.physical_offset == at as i64;
                let crc_ok = crc_ok && !matches!(prop_crc, Some(Err(_)));
                if placed && crc_ok {
                    visit(ContentItem::Record {
                        offset: at,
                        size,
                        record,
                        beyond_end: true,
                        crc_ok,
                        placed,
                    });
                } else {
                    let reason = if !placed {
                        format!(
                            "a record whose PHYSICALOFFSET field says {} (copied or shifted \
                             data)",
                            record.physical_offset
                        )
                    } else {
                        "body CRC mismatch".into()
                    };
                    visit(ContentItem::Skipped(SkippedRange {
                        file: f.path().to_path_buf(),
                        pos: (b + p) as u64,
                        offset: at,
                        bytes: size as u64,
                        reason,
                        beyond_end: true,
                    }));
                }
            }
            Item::Damage {
                pos: p,
                to,
                kind,
                problem,
                ..
            } => visit(ContentItem::Skipped(SkippedRange {
                file: f.path().to_path_buf(),
                pos: (b + p) as u64,
                offset: base + p as u64,
                bytes: (to - p) as u64,
                reason: format!("{}: {problem}", kind.as_str()),
                beyond_end: true,
            })),
            Item::Blank { .. } | Item::End { .. } => {}
        });
    }
}
