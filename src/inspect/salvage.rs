//! `salvage`: copies every valid record of a store into a new store, including the records
//! after a torn or corrupted region that Java's recovery would throw away.
//!
//! Each commitlog segment is walked record by record; where bytes do not decode, the walk
//! resynchronizes at the next position where a record decodes with a valid body CRC and a
//! PHYSICALOFFSET equal to that position ([`super::scan`]). Records whose body CRC (or 5.x
//! `__CRC32#` property) does not match are skipped. The kept records are appended to a new
//! store with [`MessageStore::replay`], which assigns new physical and queue offsets and builds
//! the consume queues and the index. The source is only read.
//!
//! What changes in the copy: physical offsets and queue offsets (queues are renumbered from 0
//! without the skipped records), offset msgIds, and the 5.x `__CRC32#` property, which is
//! dropped (it covers the old physical offset). `config/` is copied, but its consumer offsets
//! refer to the old queue offsets.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::Serialize;

use super::discover::GeometryOverrides;
use super::rebuild::{check_out_dir, copy_tree};
use super::scan::{carries_property_crc, list_segments_tolerant, walk_segment, Item};
use super::verify::tolerant_config;
use crate::clock::{time_millis_to_human_string, Clock, ManualClock, SystemClock};
use crate::error::{IoContext, Result, StoreError};
use crate::format::record::MessageRecord;
use crate::message::{Message, ReplayMessage};
use crate::store::{MessageStore, OpenMode};

/// Options of [`salvage`].
#[derive(Debug, Clone, Default)]
pub struct SalvageOptions {
    pub geometry: GeometryOverrides,
    pub cancel: Option<Arc<AtomicBool>>,
    /// Clock for index file names (default: the system clock).
    pub now_ms: Option<i64>,
}

/// A region of the source that was not copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub file: PathBuf,
    /// Byte range in `file`.
    pub from: u64,
    pub to: u64,
    /// The same range as commitlog offsets.
    pub commitlog_from: u64,
    pub commitlog_to: u64,
    pub reason: String,
}

/// What [`salvage`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SalvageReport {
    pub store: PathBuf,
    pub output: PathBuf,
    pub records_copied: u64,
    /// Records copied from after the end Java's recovery finds: those a broker would lose
    /// (after the first skipped region when the store cannot be loaded as a whole).
    pub records_after_damage: u64,
    pub skipped: Vec<Skipped>,
    pub bytes_skipped: u64,
    /// Records whose 5.x `__CRC32#` property was dropped.
    pub property_crc_dropped: u64,
    /// Records not copied because their PHYSICALOFFSET field names another position.
    pub misplaced: u64,
    /// Files that could not be read (each also in `skipped`).
    pub unreadable: Vec<PathBuf>,
}

/// Salvages the store at `root` into `out` (which must not exist or be empty).
#[cfg(feature = "internals")]
pub fn salvage(root: &Path, out: &Path, opts: &SalvageOptions) -> Result<SalvageReport> {
    salvage_with_progress(root, out, opts, &super::progress::none)
}

/// [`salvage`], reporting the bytes of the source commitlog walked (phase `copying`) to
/// `progress`.
pub fn salvage_with_progress(
    root: &Path,
    out: &Path,
    opts: &SalvageOptions,
    progress: super::progress::ProgressFn<'_>,
) -> Result<SalvageReport> {
    let config = tolerant_config(root, &opts.geometry)?;
    check_out_dir(root, out)?;
    let clock: Arc<dyn Clock> = match opts.now_ms {
        Some(t) => Arc::new(ManualClock::new(t)),
        None => Arc::new(SystemClock),
    };
    let cancelled = || {
        opts.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::SeqCst))
    };
    let (segs, unreadable) = list_segments_tolerant(&config.commit_log_dir())?;
    // Where Java's recovery ends the log (unknown when the library cannot load the store).
    let recovery_end = super::content::store_content(&config)
        .ok()
        .map(|(c, _)| c.end);
    let build = crate::inspect::rebuild::build_dir_beside(
        out,
        "salvage",
        &time_millis_to_human_string(clock.now_millis()),
    )?;
    fs::create_dir(&build).at(&build)?;
    let result = (|| -> Result<SalvageReport> {
        let mut new_config = config.clone();
        new_config.store_path_root_dir = build.clone();
        new_config.store_path_commit_log = None;
        let store = MessageStore::open_with(new_config, OpenMode::ReadWrite, clock.clone())?;
        let mut report = SalvageReport {
            store: root.to_path_buf(),
            output: out.to_path_buf(),
            records_copied: 0,
            records_after_damage: 0,
            skipped: vec![],
            bytes_skipped: 0,
            property_crc_dropped: 0,
            misplaced: 0,
            unreadable: vec![],
        };
        for p in &unreadable {
            report.unreadable.push(p.0.clone());
            report.skipped.push(Skipped {
                file: p.0.clone(),
                from: 0,
                to: 0,
                commitlog_from: 0,
                commitlog_to: 0,
                reason: format!("cannot be read: {}", p.1),
            });
        }
        let mut failure: Option<StoreError> = None;
        let mut phase =
            super::progress::Phase::start(progress, "copying", segs.iter().map(|s| s.len).sum());
        let mut seg_base = 0u64;
        let mut phase_mib = 0u64;
        for s in &segs {
            phase.set(seg_base);
            let here = seg_base;
            seg_base += s.len;
            if cancelled() {
                return Err(StoreError::Invalid(
                    "interrupted; the partial output was removed".into(),
                ));
            }
            let data = s.data();
            let skip = |pos: usize, to: usize, reason: String, report: &mut SalvageReport| {
                report.bytes_skipped += (to - pos) as u64;
                report.skipped.push(Skipped {
                    file: s.path.clone(),
                    from: pos as u64,
                    to: to as u64,
                    commitlog_from: s.offset + pos as u64,
                    commitlog_to: s.offset + to as u64,
                    reason,
                });
            };
            walk_segment(data, s.offset, |it| {
                if failure.is_some() {
                    return;
                }
                if let Item::Record { pos, .. } = &it {
                    // Every MiB or so.
                    if (here + *pos as u64) >> 20 != phase_mib {
                        phase_mib = (here + *pos as u64) >> 20;
                        phase.set(here + *pos as u64);
                    }
                }
                match it {
                    Item::Record {
                        pos,
                        size,
                        record,
                        crc_ok,
                        prop_crc,
                        ..
                    } => {
                        if !crc_ok {
                            skip(pos, pos + size, "body CRC mismatch".into(), &mut report);
                            return;
                        }
                        let at = s.offset + pos as u64;
                        if record.physical_offset != at as i64 {
                            // Copied or shifted data: the message belongs elsewhere (and is
                            // copied from there when it is still there).
                            report.misplaced += 1;
                            skip(
                                pos,
                                pos + size,
                                format!(
                                    "a record whose PHYSICALOFFSET field says {} (copied or \
                                     shifted data; not copied, so no message is copied twice)",
                                    record.physical_offset
                                ),
                                &mut report,
                            );
                            return;
                        }
                        if let Some(Err(e)) = prop_crc {
                            skip(
                                pos,
                                pos + size,
                                format!("__CRC32# property: {e}"),
                                &mut report,
                            );
                            return;
                        }
                        let (msg, dropped) = replay_message(&record);
                        match store.replay(&[msg]) {
                            Ok(_) => {
                                report.records_copied += 1;
                                if recovery_end.map_or(!report.skipped.is_empty(), |e| at >= e) {
                                    report.records_after_damage += 1;
                                }
                                if dropped {
                                    report.property_crc_dropped += 1;
                                }
                            }
                            Err(e @ (StoreError::InvalidTopic { .. } | StoreError::Invalid(_))) => {
                                skip(
                                    pos,
                                    pos + size,
                                    format!("cannot be stored: {e}"),
                                    &mut report,
                                )
                            }
                            Err(e) => failure = Some(e),
                        }
                    }
                    Item::Damage {
                        pos,
                        to,
                        kind,
                        problem,
                        ..
                    } => skip(
                        pos,
                        to,
                        format!("{}: {problem}", kind.as_str()),
                        &mut report,
                    ),
                    Item::Blank { .. } | Item::End { .. } => {}
                }
            });
            if let Some(e) = failure.take() {
                return Err(e);
            }
        }
        phase.finish();
        store.shutdown()?;
        let cfg = config.config_dir();
        if cfg.is_dir() {
            copy_tree(&cfg, &build.join("config"))?;
        }
        Ok(report)
    })();
    match result {
        Ok(report) => {
            if out.exists() {
                fs::remove_dir(out).at(out)?;
            }
            fs::rename(&build, out).at(out)?;
            Ok(report)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&build);
            Err(e)
        }
    }
}

/// The record as a replay input; the `__CRC32#` tail is dropped (true when it was there).
fn replay_message(r: &MessageRecord<'_>) -> (ReplayMessage, bool) {
    let crc = carries_property_crc(r);
    let props = if crc {
        &r.properties[..r.properties.len() - 20]
    } else {
        r.properties
    };
    (
        ReplayMessage {
            message: Message {
                topic: r.topic_str().into_owned(),
                queue_id: r.queue_id,
                flag: r.flag,
                body: r.body.to_vec(),
                properties: String::from_utf8_lossy(props).into_owned(),
                sys_flag: r.sys_flag,
                born_timestamp: r.born_timestamp,
                born_host: r.born_host,
                store_host: r.store_host,
                reconsume_times: r.reconsume_times,
                prepared_transaction_offset: r.prepared_transaction_offset,
            },
            store_timestamp: r.store_timestamp,
        },
        crc,
    )
}
