//! `rebuild`: regenerates a store's consume queues, index and checkpoint from its commitlog,
//! keeping what Java's recovery would keep.
//!
//! The commitlog ends where Java's recovery ends it ([`super::content`]: the store's own
//! recovery scan, normal or abnormal by the abort file). Every record before that end goes,
//! without a body CRC check (as the reput reads it), through the engine's own [`Dispatcher`] into fresh
//! [`ConsumeQueue`](crate::consume_queue::ConsumeQueue)s and a fresh [`IndexService`], exactly
//! as a broker's recovery dispatches it: PREPARED/ROLLBACK records stay out of the consume
//! queues, delayed records get their delivery time as tagsCode, a queue whose first record is
//! not at queue offset 0 gets pre-blank units, the index takes UNIQ_KEY then KEYS (4.6.0
//! rules). Two things are carried over from the old files rather than recomputed:
//!
//! - a delayed record's delivery time that a 3.x broker computed from its pre-lock clock (up to
//!   a few ms off the 4.x rule) is kept when the old unit for the same record holds one;
//! - when the old index files count `hashSlotCount` the 5.x way (only slots that were empty),
//!   the new files do too.
//!
//! The checkpoint is written so that a broker starting without an abort file runs its normal
//! recovery: physicMsgTimestamp and logicsMsgTimestamp are the store times of the last record
//! and of the last record put into a consume queue; indexMsgTimestamp is the end time of the
//! last index file (every file is flushed).
//!
//! Output goes to a temporary place first; nothing of the original changes until the end, and
//! an error or an interruption removes the temporary output.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::Serialize;

use super::content::{
    read_checkpoint, recovery_bounds, walk_after_end, walk_content, Content, ContentItem,
    SkippedRange,
};
use super::discover::GeometryOverrides;
use super::scan::last_non_zero_in;
use super::verify::legacy_delay_window;
use crate::clock::{time_millis_to_human_string, Clock, ManualClock, SystemClock};
use crate::commitlog::CommitLog;
use crate::config::StoreConfig;
use crate::consume_queue::ConsumeQueueTable;
use crate::dispatch::{DispatchRequest, Dispatcher};
use crate::error::{IoContext, Result, StoreError};
use crate::format::checkpoint::{Checkpoint, CHECKPOINT_FILE_SIZE};
use crate::format::index::IndexHeader;
use crate::format::Problem;
use crate::index::IndexService;
use crate::mapped_file::MappedFile;

/// Where the rebuilt files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebuildTarget {
    /// A complete new store in this folder (which must not exist or be empty).
    Out(PathBuf),
    /// Beside the old files, swapped in by renames; the old ones are kept as `*.bak-<ts>`.
    InPlace,
}

/// Options of [`rebuild`].
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    pub target: RebuildTarget,
    pub geometry: GeometryOverrides,
    /// In place: rebuild a store whose abort file is present (it is then kept as
    /// `abort.bak-<ts>`, since the rebuilt files are what recovery would produce).
    pub force: bool,
    /// In place: remove the records that lie after recovery's end (otherwise their presence
    /// is refused: a broker would drop them, `salvage` keeps them).
    pub truncate_at_damage: bool,
    /// Set from another thread (a Ctrl-C handler) to stop; the output is then removed.
    pub cancel: Option<Arc<AtomicBool>>,
    /// The clock for index file names and the `<ts>` suffixes (default: the system clock).
    pub now_ms: Option<i64>,
}

impl RebuildOptions {
    pub fn new(target: RebuildTarget) -> RebuildOptions {
        RebuildOptions {
            target,
            geometry: GeometryOverrides::default(),
            force: false,
            truncate_at_damage: false,
            cancel: None,
            now_ms: None,
        }
    }
}

/// What [`rebuild`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RebuildReport {
    /// Entries of `commitlog/` that are not segments, left out of the new store (`--out`).
    pub left_out: Vec<crate::left_out::LeftOut>,
    pub store: PathBuf,
    /// The new store root (`--out`) or the store itself (in place).
    pub output: PathBuf,
    /// Where the commitlog ends (what Java's recovery keeps).
    pub commitlog_end: u64,
    /// Why the scan stopped before the end of the data, if it did.
    pub stopped_by: Option<String>,
    pub records: u64,
    pub consume_queue_units: u64,
    pub queues: usize,
    pub index_files: Vec<String>,
    /// Delayed units whose 3.x delivery time was kept from the old consume queue.
    pub kept_legacy_delay_times: u64,
    /// The index was built with 5.x `hashSlotCount` semantics (target 5.x, an old index
    /// counting that way, or a store a 5.x broker wrote).
    pub index_5x_slot_count: bool,
    /// 5.x structures not regenerated and kept as they were (`keep_5x_structures`).
    pub kept_5x: Vec<String>,
    /// The store's consume queue is 5.x's RocksDB database: it was regenerated (units written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rocksdb_cq_units: Option<usize>,
    /// Commitlog segments (or tails) dropped because they lie after the end.
    pub commitlog_truncated: Vec<PathBuf>,
    /// Valid records after recovery's end (a broker drops them; `salvage` copies them). With
    /// `--out` they are not copied; in place they are removed only with `truncate_at_damage`.
    pub records_beyond_end: u64,
    /// Records removed from the live store (in place, `truncate_at_damage`).
    pub records_removed: u64,
    /// Records in the content that no consume queue gets (a DELAY that does not parse).
    pub not_dispatched: u64,
    /// Ranges of the commitlog that hold no readable record, inside the content and after it.
    pub skipped: Vec<SkippedRange>,
    /// Leftovers of an earlier, interrupted rebuild that were removed first.
    pub removed_leftovers: Vec<PathBuf>,
    /// In place: the old files, kept until the user removes them.
    pub backups: Vec<PathBuf>,
    pub checkpoint: super::verify::CheckpointSummary,
}

/// Removes a path on drop unless disarmed.
struct Cleanup(Vec<PathBuf>);

impl Cleanup {
    fn disarm(&mut self) {
        self.0.clear();
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in self.0.drain(..) {
            if p.is_dir() {
                let _ = fs::remove_dir_all(&p);
            } else {
                let _ = fs::remove_file(&p);
            }
        }
    }
}

fn interrupted() -> StoreError {
    StoreError::Invalid(
        "interrupted; nothing was changed and the partial output was removed".into(),
    )
}
/// The hidden folder beside `out` that a command builds in before renaming it to `out`, so an
/// interruption never leaves a half-written `out`: `.<name>.<tag>-<ts>`.
pub(crate) fn build_dir_beside(out: &Path, tag: &str, ts: &str) -> Result<PathBuf> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .ok_or_else(|| StoreError::bad_file(out, "not a folder name"))?
        .to_string_lossy();
    Ok(parent.join(format!(".{name}.{tag}-{ts}")))
}

/// Rebuilds the consume queues, index and checkpoint of the store at `root`.
#[cfg(feature = "internals")]
pub fn rebuild(root: &Path, opts: &RebuildOptions) -> Result<RebuildReport> {
    rebuild_with_progress(root, opts, &super::progress::none)
}

/// [`rebuild`], reporting the commitlog bytes replayed (phase `replaying`) to `progress`.
pub fn rebuild_with_progress(
    root: &Path,
    opts: &RebuildOptions,
    report_progress: super::progress::ProgressFn<'_>,
) -> Result<RebuildReport> {
    // A consume-queue or index file of the wrong length does not stop a rebuild (it replaces
    // them): the sizes are the most common lengths, as verify finds them.
    let config = super::verify::tolerant_config(root, &opts.geometry)?;
    let clock: Arc<dyn Clock> = match opts.now_ms {
        Some(t) => Arc::new(ManualClock::new(t)),
        None => Arc::new(SystemClock),
    };
    let ts = time_millis_to_human_string(clock.now_millis());
    let cancelled = || {
        opts.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::SeqCst))
    };

    // Refusals first: nothing is written before them.
    let in_place = opts.target == RebuildTarget::InPlace;
    if in_place {
        if crate::store::is_locked(root)? {
            return Err(StoreError::Locked {
                path: config.lock_path(),
            });
        }
        if config.abort_path().exists() && !opts.force {
            return Err(StoreError::bad_file(
                config.abort_path(),
                "the abort file is present (the last run did not stop cleanly); a broker would \
                 run abnormal recovery. Pass --force to rebuild anyway (the abort file is then \
                 kept as abort.bak-<ts>), or use --out",
            ));
        }
    }
    let mut removed_leftovers = Vec::new();
    {
        let cl_dir = config.commit_log_dir();
        let cl_parent = cl_dir.parent().unwrap_or(Path::new(".")).to_path_buf();
        let cl_name = cl_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match &opts.target {
            RebuildTarget::InPlace => {
                let mut dirs = vec![(root, String::new())];
                if cl_parent != root {
                    dirs.push((cl_parent.as_path(), String::new()));
                }
                let dirs: Vec<(&Path, String)> = dirs
                    .into_iter()
                    .map(|(d, _)| (d, cl_name.clone()))
                    .collect();
                remove_leftovers(&dirs, &cl_dir, &mut removed_leftovers)?;
            }
            RebuildTarget::Out(out) => {
                let parent = out
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let name = out
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if let Ok(rd) = fs::read_dir(parent) {
                    for e in rd.flatten() {
                        let n = e.file_name().to_string_lossy().into_owned();
                        if n.starts_with(&format!(".{name}.rebuild-")) && is_rebuild_leftover(&n) {
                            let p = e.path();
                            fs::remove_dir_all(&p).at(&p)?;
                            removed_leftovers.push(p);
                        }
                    }
                }
            }
        }
    }
    let (build_root, out_final) = match &opts.target {
        RebuildTarget::Out(out) => {
            check_out_dir(root, out)?;
            (build_dir_beside(out, "rebuild", &ts)?, Some(out.clone()))
        }
        RebuildTarget::InPlace => (root.to_path_buf(), None),
    };
    let suffix = |name: &str| {
        if in_place {
            build_root.join(format!("{name}.rebuild-{ts}"))
        } else {
            build_root.join(name)
        }
    };
    let new_cq = suffix("consumequeue");
    let new_index = suffix("index");
    let new_checkpoint = suffix("checkpoint");
    // 5.x batch consume queues, regenerated with the writer (src/v5/batch_cq_write.rs).
    let new_bcq = suffix("batchconsumequeue");
    let mut cleanup = Cleanup(vec![]);
    if in_place {
        for p in [&new_cq, &new_index, &new_checkpoint, &new_bcq] {
            if p.exists() {
                return Err(StoreError::bad_file(
                    p,
                    "already exists (a rebuild in progress?)",
                ));
            }
            cleanup.0.push(p.clone());
        }
    } else {
        fs::create_dir(&build_root).at(&build_root)?;
        cleanup.0.push(build_root.clone());
    }

    // The source, read-only. With --out, a stray entry of commitlog/ (not a segment of this
    // geometry) is left out and named; in place it is refused, as the writable open that
    // follows would refuse it.
    let mut left_out = Vec::new();
    let commit_log = if in_place {
        CommitLog::load(
            &config.commit_log_dir(),
            config.mapped_file_size_commit_log,
            false,
        )?
    } else {
        CommitLog::load_tolerant(
            &config.commit_log_dir(),
            config.mapped_file_size_commit_log,
            &mut left_out,
        )?
    };
    let old_cqs = ConsumeQueueTable::load(
        &config.consume_queue_dir(),
        config.mapped_file_size_consume_queue(),
        false,
    )
    .ok();
    // 5.x rules when the target is 5.x, the old index counts the 5.x way, or a 5.x broker
    // left its structures (src/v5/inspect.rs `present`).
    let index_5x = config.target_version.is_5x()
        || old_index_counts_5x(&config)
        || !crate::v5::inspect::present(root).is_empty();
    let delay_levels = config.delay_levels().map_err(StoreError::Config)?;

    // The engine's dispatcher over fresh consume queues and a fresh index.
    let dispatcher = Dispatcher::new(
        ConsumeQueueTable::load(&new_cq, config.mapped_file_size_consume_queue(), true)?,
        Some({
            let mut ix = IndexService::open(
                &new_index,
                config.max_hash_slot_num,
                config.max_index_num,
                false,
            )?;
            ix.set_slot_count_5x(index_5x);
            ix
        }),
        delay_levels.clone(),
        clock.clone(),
    );
    dispatcher.configure_multi_dispatch(&config);
    if let Some(table) = super::rebuild_bcq::fresh_table(root, &config, &new_bcq) {
        dispatcher.set_batch_queues(table);
    }
    let mut records = 0u64;
    let mut not_dispatched = 0u64;
    let mut skipped: Vec<SkippedRange> = Vec::new();
    let mut units = 0u64;
    let mut kept_legacy = 0u64;
    let mut last_ts = 0i64;
    let mut failure: Option<StoreError> = None;
    let segs = commit_log.files().files();
    // Where the content ends: recovery's end, as the library's open finds it, and the valid
    // records after it (only the segments from the end on are read for those).
    let content = {
        let abnormal = config.abort_path().exists();
        // A checkpoint that does not decode is one of the things a rebuild replaces.
        let cp = read_checkpoint(&config.checkpoint_path()).unwrap_or_default();
        let (_, end, stopped_by) = recovery_bounds(&config, &segs, abnormal, &cp)?;
        let mut beyond_end = Vec::new();
        walk_after_end(&segs, end, |it| {
            if let ContentItem::Record {
                offset,
                size,
                beyond_end: true,
                ..
            } = it
            {
                beyond_end.push((offset, size as u32));
            }
        });
        Content {
            abnormal,
            end,
            stopped_by,
            beyond_end,
            ..Content::default()
        }
    };
    if in_place && !content.beyond_end.is_empty() && !opts.truncate_at_damage {
        let (first, _) = content.beyond_end[0];
        return Err(StoreError::Invalid(format!(
            "{}: {} valid records lie after the end Java's recovery finds ({}; the first at \
             commitlog offset {first}); a broker starting on this store drops them. Nothing was \
             changed. Copy them with `rmqstore salvage`, rebuild with --out, or pass \
             --truncate-at-damage to remove them from this store (the removed segments are kept \
             in commitlog.bak-<ts>)",
            config.commit_log_dir().display(),
            content.beyond_end.len(),
            content.end,
        )));
    }
    let seg_size = config.mapped_file_size_commit_log as u64;
    // Three threads: this one scans the commitlog and turns records into requests; another
    // applies them to the dispatcher in commitlog order (as one thread would); with --out, a
    // third copies the commitlog as far as the scan has accepted it.
    let cl_out = out_final.as_ref().map(|_| build_root.join("commitlog"));
    if let Some(dir) = &cl_out {
        fs::create_dir(dir).at(dir)?;
    }
    let dispatch_failed = AtomicBool::new(false);
    let (scan, copied, applied) = std::thread::scope(|scope| {
        let (progress, copier_rx) = crossbeam::channel::unbounded::<CopyTo>();
        let copier = cl_out.as_ref().map(|dir| {
            let segs = &segs;
            let cancelled = &cancelled;
            scope.spawn(move || copy_commitlog(segs, seg_size, dir, copier_rx, cancelled))
        });
        let (to_dispatch, requests) = crossbeam::channel::bounded::<Vec<DispatchRequest>>(4);
        let (spare_batches, spares) = crossbeam::channel::unbounded::<Vec<DispatchRequest>>();
        let applier = {
            let (dispatcher, dispatch_failed) = (&dispatcher, &dispatch_failed);
            scope.spawn(move || -> Result<()> {
                let mut d = dispatcher.lock();
                for mut batch in requests {
                    for req in &batch {
                        if let Err(e) = dispatcher.dispatch(&mut d, req) {
                            dispatch_failed.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                    batch.clear();
                    let _ = spare_batches.send(batch);
                }
                Ok(())
            })
        };
        let mut batch = Vec::with_capacity(DISPATCH_BATCH);
        let mut next_progress = 0u64;
        // The content: every record up to recovery's end, past damage (a record the reput
        // cannot read is skipped to the next valid one and reported).
        let mut stop = false;
        let base = content.min_offset;
        let mut phase = super::progress::Phase::start(
            report_progress,
            "replaying",
            content.end.saturating_sub(base),
        );
        walk_content(&segs, content.end, |it| {
            let (offset, total_size, record) = match it {
                ContentItem::Record {
                    offset,
                    size,
                    record,
                    beyond_end: false,
                    ..
                } => (offset, size as u32, record),
                ContentItem::Record { .. } => return,
                ContentItem::Skipped(s) => {
                    skipped.push(s);
                    return;
                }
            };
            if stop {
                return;
            }
            let mut on_record = || -> std::result::Result<(), Problem> {
                if cancelled() {
                    failure = Some(interrupted());
                    return Err(Problem::Invalid("interrupted".into()));
                }
                if dispatch_failed.load(Ordering::Relaxed) {
                    return Err(Problem::Invalid("dispatch failed".into()));
                }
                if offset >= next_progress {
                    // Everything below an accepted record is kept. (A copier that stopped on an
                    // error no longer listens; its error is reported after the scan.)
                    let _ = progress.send(CopyTo::Below(offset));
                    next_progress = offset + COPY_STEP;
                    phase.set(offset.saturating_sub(base));
                }
                // The properties are parsed once, for the request and the 3.x delay window.
                let props = record.store_properties();
                let legacy = legacy_delay_window(&record, &props, &delay_levels);
                let req = DispatchRequest::from_parts(&record, total_size, props, &delay_levels);
                let Ok(mut req) = req else {
                    // The reput skips a record it cannot turn into a request (a bad DELAY).
                    not_dispatched += 1;
                    return Ok(());
                };
                if let (Some((lo, hi)), Some(old)) = (legacy, old_cqs.as_ref()) {
                    let unit = old
                        .get(&req.topic, req.queue_id)
                        .and_then(|q| q.get_unit(req.consume_queue_offset.max(0) as u64));
                    if let Some(u) = unit {
                        if u.commitlog_offset == req.commitlog_offset
                            && u.size == req.msg_size
                            && u.tags_code != req.tags_code
                            && (lo..=hi).contains(&u.tags_code)
                        {
                            req.tags_code = u.tags_code;
                            kept_legacy += 1;
                        }
                    }
                }
                if req.goes_to_consume_queue() {
                    units += 1;
                }
                records += 1;
                last_ts = record.store_timestamp;
                // Owned from here: the request outlives this call on the dispatching thread.
                batch.push(req);
                if batch.len() == DISPATCH_BATCH {
                    let next = spares
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(DISPATCH_BATCH));
                    // Fails only when the applier stopped on an error, reported below.
                    let _ = to_dispatch.send(std::mem::replace(&mut batch, next));
                }
                Ok(())
            };
            if on_record().is_err() {
                stop = true;
            }
        });
        if !stop {
            phase.finish();
        }
        let scan = (content.end, content.stopped_by.clone());
        if !batch.is_empty() {
            let _ = to_dispatch.send(batch);
        }
        drop(to_dispatch);
        if failure.is_none() {
            let _ = progress.send(CopyTo::End(scan.0));
        }
        drop(progress);
        let applied: Result<()> = join(applier);
        (scan, copier.map(join), applied)
    });
    // A dispatch error concerns a record before any the scan stopped at.
    applied?;
    if let Some(e) = failure {
        return Err(e);
    }
    if cancelled() {
        return Err(interrupted());
    }
    let end = scan.0;
    // The consume queues and the index go to disk at the same time (the time is the disk's).
    // Under an I/O recording (the power-loss checker) one after the other, so the recorded
    // events do not depend on thread timing: a crash image's unsynced pages are chosen old or
    // new independently, which covers the states an interleaving could leave.
    let flush_queues = || -> Result<()> {
        for cq in dispatcher.consume_queues().all() {
            cq.flush()?;
        }
        if let Some(b) = dispatcher.batch_queues() {
            b.flush()?;
        }
        Ok(())
    };
    if crate::iorecord::recording() {
        flush_queues().and_then(|()| dispatcher.flush_index())?;
    } else {
        std::thread::scope(|scope| {
            let queues = scope.spawn(flush_queues);
            let index = dispatcher.flush_index();
            join(queues).and(index)
        })?;
    }
    let logics_ts = dispatcher.logics_msg_timestamp();
    let queues = dispatcher.consume_queues().all().len()
        + dispatcher.batch_queues().map_or(0, |b| b.queue_count());
    let (index_files, index_end_ts) = {
        let d = dispatcher.lock();
        let ix = d.index.as_ref().expect("index enabled");
        (
            ix.files()
                .iter()
                .map(|f| f.name().to_string())
                .collect::<Vec<_>>(),
            ix.last_timestamp(),
        )
    };
    drop(dispatcher);
    // 5.x structures this rebuild does not regenerate, kept as they were.
    let kept_5x = keep_5x_structures(
        root,
        &new_cq,
        out_final.as_ref().map(|_| &build_root),
        new_bcq.exists(),
    )?;
    // 5.x storeType=defaultRocksDB: the consume queue is a RocksDB database (src/v5/rocksdb_cq.rs).
    let rocksdb_cq_units = crate::v5::rocksdb_cq::rebuild_into(root, &config, &new_cq, end)?;

    // Checkpoint: the source's page (5.x fields kept), with the new timestamps.
    let mut page = fs::read(config.checkpoint_path()).unwrap_or_default();
    page.resize(CHECKPOINT_FILE_SIZE, 0);
    let old = Checkpoint::decode(&page).unwrap_or_default();
    let cp = Checkpoint {
        physic_msg_timestamp: last_ts,
        logics_msg_timestamp: logics_ts,
        index_msg_timestamp: index_end_ts,
        master_flushed_offset: old.master_flushed_offset,
        confirm_phy_offset: if old.confirm_phy_offset != 0 {
            end as i64
        } else {
            0
        },
    };
    cp.encode_into(&mut page, true);
    write_synced(&new_checkpoint, &page)?;
    if cancelled() {
        return Err(interrupted());
    }

    // The commitlog: what lies after the end goes (a broker's recovery drops it too).
    let mut truncated = Vec::new();
    let mut report = RebuildReport {
        left_out,
        store: root.to_path_buf(),
        output: out_final.clone().unwrap_or_else(|| root.to_path_buf()),
        commitlog_end: end,
        stopped_by: scan.1,
        records,
        consume_queue_units: units,
        queues,
        index_files,
        kept_legacy_delay_times: kept_legacy,
        index_5x_slot_count: index_5x,
        kept_5x,
        rocksdb_cq_units,
        commitlog_truncated: vec![],
        records_beyond_end: content.beyond_end.len() as u64,
        records_removed: 0,
        not_dispatched,
        skipped,
        removed_leftovers,
        backups: vec![],
        checkpoint: super::verify::CheckpointSummary {
            physic_msg_timestamp: cp.physic_msg_timestamp,
            logics_msg_timestamp: cp.logics_msg_timestamp,
            index_msg_timestamp: cp.index_msg_timestamp,
        },
    };

    if let Some(out) = out_final {
        truncated = match copied {
            Some(Ok(Some(t))) => t,
            Some(Err(e)) => return Err(e),
            // The copier stops without an end only when the scan failed, returned above.
            _ => return Err(interrupted()),
        };
        let cfg = config.config_dir();
        if cfg.is_dir() {
            copy_tree(&cfg, &build_root.join("config"))?;
        }
        if cancelled() {
            return Err(interrupted());
        }
        if out.exists() {
            fs::remove_dir(&out).at(&out)?; // empty: checked above
        }
        fs::rename(&build_root, &out).at(&out)?;
        cleanup.disarm();
        report.commitlog_truncated = truncated;
        return Ok(report);
    }

    // In place: prepare the commitlog tail, then swap by renames.
    let cl_dir = config.commit_log_dir();
    let cl_name = cl_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "commitlog".into());
    let cl_parent = cl_dir.parent().unwrap_or(Path::new(".")).to_path_buf();
    let cl_new = cl_parent.join(format!("{cl_name}.rebuild-{ts}"));
    let cl_bak = cl_parent.join(format!("{cl_name}.bak-{ts}"));
    let mut replace: Vec<(PathBuf, Option<PathBuf>)> = Vec::new(); // (old, replacement)
    for f in &segs {
        let from = f.file_from_offset();
        let data = f.whole();
        if from > end {
            if last_non_zero_in(f.path(), data, 0).is_some() {
                replace.push((f.path().to_path_buf(), None));
            }
            continue;
        }
        let keep = ((end - from).min(seg_size)) as usize;
        if keep < data.len() && last_non_zero_in(f.path(), &data[keep..], keep).is_some() {
            if !cl_new.exists() {
                crate::iorecord::create_dir(&cl_new).at(&cl_new)?;
                cleanup.0.push(cl_new.clone());
            }
            let dst = cl_new.join(f.path().file_name().expect("segment name"));
            let mut copy = data.to_vec();
            copy[keep..].iter_mut().for_each(|b| *b = 0);
            write_synced(&dst, &copy)?;
            replace.push((f.path().to_path_buf(), Some(dst)));
        }
    }
    drop(segs);
    drop(commit_log);
    drop(old_cqs);
    if cancelled() {
        return Err(interrupted());
    }
    // The swap: from here on, an error rolls back the renames done so far.
    let mut done: Vec<(PathBuf, PathBuf)> = Vec::new();
    // Segments linked into the backup before their replacement was renamed over them.
    let mut linked: Vec<(PathBuf, PathBuf)> = Vec::new();
    let swap = (|| -> Result<()> {
        let mv = |from: &Path, to: &Path, done: &mut Vec<(PathBuf, PathBuf)>| -> Result<()> {
            crate::fault::rename(from, to).at(from)?;
            done.push((from.to_path_buf(), to.to_path_buf()));
            Ok(())
        };
        for (name, new) in [
            ("consumequeue", &new_cq),
            ("index", &new_index),
            ("checkpoint", &new_checkpoint),
            ("batchconsumequeue", &new_bcq),
        ] {
            let cur = root.join(name);
            // batchconsumequeue/ is replaced only when the rebuild regenerated it.
            if name == "batchconsumequeue" && !new.exists() {
                continue;
            }
            if cur.exists() {
                let bak = root.join(format!("{name}.bak-{ts}"));
                mv(&cur, &bak, &mut done)?;
                report.backups.push(bak);
            }
            if new.exists() {
                mv(new, &cur, &mut done)?;
            }
        }
        if !replace.is_empty() {
            crate::iorecord::create_dir(&cl_bak).at(&cl_bak)?;
            report.backups.push(cl_bak.clone());
            // Last segment first, and a segment with a replacement keeps its name throughout
            // (the old file gets a second name in the backup, then the new one is renamed over
            // it): a cut at any point leaves the commitlog a prefix of its segments, with no
            // hole and no segment below the end missing (§8.5).
            for (old, new) in replace.iter().rev() {
                let bak = cl_bak.join(old.file_name().expect("segment name"));
                match new {
                    None => mv(old, &bak, &mut done)?,
                    Some(new) => {
                        crate::iorecord::hard_link(old, &bak).at(old)?;
                        linked.push((old.clone(), bak));
                        mv(new, old, &mut done)?;
                    }
                }
                truncated.push(old.clone());
            }
            truncated.reverse();
            let _ = fs::remove_dir(&cl_new);
        }
        let abort = config.abort_path();
        if abort.exists() {
            let bak = root.join(format!("abort.bak-{ts}"));
            mv(&abort, &bak, &mut done)?;
            report.backups.push(bak);
        }
        Ok(())
    })();
    if let Err(e) = swap {
        for (from, to) in done.iter().rev() {
            // A replacement renamed over a linked segment goes back beside it first.
            let _ = fs::rename(to, from);
        }
        for (seg, bak) in linked.iter().rev() {
            // The old segment back under its name (where the rename above left none), or
            // just the backup name dropped.
            if seg.exists() {
                let _ = fs::remove_file(bak);
            } else {
                let _ = fs::rename(bak, seg);
            }
        }
        if cl_bak.exists() {
            let _ = fs::remove_dir(&cl_bak);
        }
        return Err(e);
    }
    cleanup.disarm();
    // The swap is durable before the rebuild reports it (Java has no rebuild): the renames in
    // the store folder and the commitlog's (§8.5). A power cut before this keeps a prefix of
    // the renames, each of which leaves a store a writable open recovers in full.
    crate::iorecord::sync_dir(root).at(root)?;
    if !replace.is_empty() {
        crate::iorecord::sync_dir(&cl_dir).at(&cl_dir)?;
        crate::iorecord::sync_dir(&cl_bak).at(&cl_bak)?;
        if cl_parent != root {
            crate::iorecord::sync_dir(&cl_parent).at(&cl_parent)?;
        }
    }
    if !truncated.is_empty() {
        report.records_removed = report.records_beyond_end;
    }
    report.commitlog_truncated = truncated;
    Ok(report)
}

/// Removes what an interrupted rebuild left: `<name>.rebuild-<ts>` beside the store's files
/// (in place) or `.<out>.rebuild-<ts>` beside an `--out` folder. An interrupted swap that
/// left a hole (a segment moved to `commitlog.bak-<ts>` with a segment above it still in the
/// commitlog, or with its replacement still staged) is refused: its files must be moved back
/// by hand, which the error says. Segments moved away from the top of the commitlog are what
/// the rebuild was removing, and stay in the backup.
fn remove_leftovers(
    dirs: &[(&Path, String)],
    cl_dir: &Path,
    removed: &mut Vec<PathBuf>,
) -> Result<()> {
    for (dir, prefix) in dirs {
        let Ok(rd) = fs::read_dir(dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            if let Some(rest) = name.strip_prefix(prefix.as_str()) {
                if !rest.starts_with(".bak-") {
                    continue;
                }
                // A backup of the commitlog: a segment in it missing from the commitlog must be
                // one the rebuild was removing whole (after the end: no segment above it is
                // left, and no replacement of it waits in `<commitlog>.rebuild-<ts>`). A
                // missing segment below another, or one whose replacement was not moved in
                // (an interrupted swap of an older rmqstore), is a hole and is refused.
                if p.is_dir() {
                    let ts = &rest[".bak-".len()..];
                    let staged = dir.join(format!("{prefix}.rebuild-{ts}"));
                    let highest = fs::read_dir(cl_dir)
                        .at(cl_dir)?
                        .flatten()
                        .map(|e| e.file_name())
                        .max();
                    for s in fs::read_dir(&p).at(&p)?.flatten() {
                        let name = s.file_name();
                        if !cl_dir.join(&name).exists()
                            && (highest.as_ref().is_some_and(|h| *h > name)
                                || staged.join(&name).exists())
                        {
                            return Err(StoreError::bad_file(
                                s.path(),
                                format!(
                                    "an interrupted rebuild moved this segment out of {} and \
                                     did not put its replacement in place; move it back, then \
                                     run the rebuild again",
                                    cl_dir.display()
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
    for (dir, _) in dirs {
        let Ok(rd) = fs::read_dir(dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if is_rebuild_leftover(&name) {
                let p = e.path();
                if p.is_dir() {
                    fs::remove_dir_all(&p).at(&p)?;
                } else {
                    fs::remove_file(&p).at(&p)?;
                }
                removed.push(p);
            }
        }
    }
    Ok(())
}

pub use super::rebuild_names::{is_rebuild_backup, is_rebuild_leftover};

/// How far the scan has got, for the commitlog copier.
enum CopyTo {
    /// Every byte below this commitlog offset is kept.
    Below(u64),
    /// The scan ended here: the commitlog ends here.
    End(u64),
}

/// A scoped thread's result; its panic goes on in the caller.
fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// How many requests the scan hands to the dispatching thread at a time.
const DISPATCH_BATCH: usize = 512;

/// How many bytes the scan moves on between two messages to the copier.
const COPY_STEP: u64 = 8 << 20;

/// Copies the commitlog segments into `dir` for `--out`, each as far as the scan has
/// accepted it (so nothing past the end is ever written), and gives every kept segment its
/// full length: the bytes after the end read as zeros, as a broker's recovery leaves them,
/// and stay a hole rather than being written. Returns the segments that held data after the
/// end, or `None` when the scan stopped without an end (it failed or was interrupted).
///
/// A segment with data after the end is synced (its copy differs from the source); the
/// others get the source's permissions, as a plain copy would.
fn copy_commitlog(
    segs: &[Arc<MappedFile>],
    seg_size: u64,
    dir: &Path,
    progress: crossbeam::channel::Receiver<CopyTo>,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<Vec<PathBuf>>> {
    // Each segment's last non-zero byte, found while the scan runs rather than after it.
    let last_nz: Vec<Option<usize>> = segs
        .iter()
        .map(|f| last_non_zero_in(f.path(), f.whole(), 0))
        .collect();
    let mut outs: Vec<Option<(fs::File, usize)>> = segs.iter().map(|_| None).collect();
    // Writes the segment's bytes up to `upto` into its copy (created on first use).
    fn copy(
        out: &mut Option<(fs::File, usize)>,
        f: &MappedFile,
        dir: &Path,
        upto: usize,
    ) -> Result<()> {
        let dst = dir.join(f.path().file_name().expect("segment name"));
        if out.is_none() {
            let file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&dst)
                .at(&dst)?;
            *out = Some((file, 0));
        }
        let (file, done) = out.as_mut().expect("opened above");
        if upto > *done {
            file.write_all(&f.whole()[*done..upto]).at(&dst)?;
            *done = upto;
        }
        Ok(())
    }
    let end = loop {
        let Ok(mut msg) = progress.recv() else {
            return Ok(None);
        };
        // Only the latest word counts.
        while let Ok(m) = progress.try_recv() {
            msg = m;
        }
        if cancelled() {
            return Err(interrupted());
        }
        match msg {
            CopyTo::Below(below) => {
                for (i, f) in segs.iter().enumerate() {
                    let from = f.file_from_offset();
                    if from >= below {
                        break;
                    }
                    let upto = ((below - from).min(seg_size) as usize).min(f.whole().len());
                    copy(&mut outs[i], f, dir, upto)?;
                }
            }
            CopyTo::End(end) => break end,
        }
    };
    let mut truncated = Vec::new();
    for (i, f) in segs.iter().enumerate() {
        if cancelled() {
            return Err(interrupted());
        }
        let from = f.file_from_offset();
        let len = f.whole().len();
        if from > end {
            if last_nz[i].is_some() {
                truncated.push(f.path().to_path_buf());
            }
            continue;
        }
        let keep = ((end - from).min(seg_size) as usize).min(len);
        copy(&mut outs[i], f, dir, keep)?;
        let dst = dir.join(f.path().file_name().expect("segment name"));
        let (file, _) = outs[i].take().expect("copied above");
        file.set_len(len as u64).at(&dst)?;
        if last_nz[i].is_some_and(|n| n >= keep) {
            truncated.push(f.path().to_path_buf());
            file.sync_all().at(&dst)?;
        } else {
            let perms = fs::metadata(f.path()).at(f.path())?.permissions();
            fs::set_permissions(&dst, perms).at(&dst)?;
        }
    }
    Ok(Some(truncated))
}

/// `--out` must not exist or be an empty folder, and must not be inside the store.
pub(crate) fn check_out_dir(root: &Path, out: &Path) -> Result<()> {
    if out.exists() {
        let empty = fs::read_dir(out).at(out)?.next().is_none();
        if !out.is_dir() || !empty {
            return Err(StoreError::bad_file(
                out,
                "the output folder exists and is not empty (choose a new folder)",
            ));
        }
    }
    let abs = |p: &Path| {
        fs::canonicalize(p).unwrap_or_else(|_| {
            std::env::current_dir()
                .map(|d| d.join(p))
                .unwrap_or_else(|_| p.to_path_buf())
        })
    };
    let (r, o) = (abs(root), abs(out));
    let o_parent = o.parent().map(abs).unwrap_or_default();
    if o.starts_with(&r) || o_parent.starts_with(&r) {
        return Err(StoreError::bad_file(
            out,
            "the output folder is inside the store; choose a folder outside it",
        ));
    }
    Ok(())
}

/// Whether the store's index files count hash slots the 5.x way (only slots that were
/// empty): some file with entries has fewer counted slots than entries.
fn old_index_counts_5x(config: &StoreConfig) -> bool {
    let Ok(ix) = IndexService::open(
        config.index_dir(),
        config.max_hash_slot_num,
        config.max_index_num,
        true,
    ) else {
        return false;
    };
    ix.files().iter().any(|f| {
        let h: IndexHeader = f.disk_header();
        h.index_count >= 2 && h.hash_slot_count < h.index_count - 1
    })
}

/// The 5.x structures a rebuild does not regenerate (docs/format.md §12), kept as they were:
/// light message queues (`consumequeue/%LMQ%*`, copied into the new consume queues unless the
/// dispatch wrote them), and with `--out` (`out_root`) `batchconsumequeue/` (unless
/// `bcq_rebuilt`: the rebuild regenerated it, see `rebuild_bcq.rs`), `timerlog/`,
/// `timerwheel`, `epochFileCheckpoint` (and `.bak`), `brokerIdentity` (and `-temp`),
/// `compaction/` copied to the output (in
/// place they stay where they are; `config/` holds timercheck and timermetrics and is copied
/// with the rest of config/). Returns what was kept, as `rebuild` reports it.
fn keep_5x_structures(
    root: &Path,
    new_cq: &Path,
    out_root: Option<&PathBuf>,
    bcq_rebuilt: bool,
) -> Result<Vec<String>> {
    let mut kept = Vec::new();
    let old_cq = root.join("consumequeue");
    if let Ok(rd) = fs::read_dir(&old_cq) {
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| crate::v5::lmq::is_lmq(n))
            .collect();
        names.sort();
        for n in names {
            let dst = new_cq.join(&n);
            if !dst.exists() {
                copy_tree(&old_cq.join(&n), &dst)?;
                kept.push(format!("consumequeue/{n}"));
            }
        }
    }
    // A batch-CQ topic's units live in batchconsumequeue/ only (5.x `queue.type=BatchCQ`):
    // the plain queues the dispatch just wrote for it are not the store's.
    for t in crate::v5::inspect::batch_topic_names(root) {
        let (old, new) = (old_cq.join(&t), new_cq.join(&t));
        if !old.exists() && new.is_dir() {
            fs::remove_dir_all(&new).at(&new)?;
        }
    }
    for name in [
        "batchconsumequeue",
        "timerlog",
        "timerwheel",
        crate::v5::epoch::FILE_NAME,
        "epochFileCheckpoint.bak",
        crate::v5::identity::FILE_NAME,
        crate::v5::identity::TEMP_FILE_NAME,
        crate::v5::compaction::DIR,
        "config/timercheck",
        "config/timermetrics",
    ] {
        let src = root.join(name);
        if !src.exists() || (name == "batchconsumequeue" && bcq_rebuilt) {
            continue;
        }
        if let (Some(out), false) = (out_root, name.starts_with("config/")) {
            let dst = out.join(name);
            if src.is_dir() {
                copy_tree(&src, &dst)?;
            } else {
                fs::copy(&src, &dst).at(&src)?;
            }
        }
        kept.push(name.to_string());
    }
    Ok(kept)
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    let mut f = crate::iorecord::open(&o, path).at(path)?;
    f.write_all(data).at(path)?;
    crate::iorecord::write(path, 0, data);
    crate::iorecord::sync(path, None, || f.sync_all()).at(path)
}

/// Copies a folder recursively (regular files and folders).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).at(to)?;
    for e in fs::read_dir(from).at(from)? {
        let e = e.at(from)?;
        let src = e.path();
        let dst = to.join(e.file_name());
        let ft = e.file_type().at(&src)?;
        if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ft.is_file() {
            fs::copy(&src, &dst).at(&src)?;
        }
    }
    Ok(())
}
