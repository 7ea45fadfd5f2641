//! `rmqstore stat STORE`: the state of a store at a glance: segments and their continuity,
//! physical offsets, abort/lock state, checkpoint, settings, `config/` files, and where
//! recovery would end and why.

use std::io::Write;

use clap::Args;
use serde::Serialize;

use super::args::{ConfigSource, StoreArgs};
use super::table::{write_fields, Table};
use super::CliResult;
use crate::clock::human_time;
use crate::config::FlushDiskType;
use crate::inspect::layout::{
    commitlog_segments, config_files, ConfigFileInfo, SegmentInfo, SegmentState,
};
use crate::store::is_locked;

#[derive(Debug, Args)]
pub struct StatArgs {
    #[command(flatten)]
    pub common: StoreArgs,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonStat {
    /// Side files left out (issue 12 item 5).
    left_out: Vec<crate::left_out::LeftOut>,
    store: String,
    /// `-c <file>` or `discovered`.
    config_source: String,
    abort_file: bool,
    lock_file: bool,
    lock_held: bool,
    /// `ASYNC_FLUSH` / `SYNC_FLUSH`; absent without `-c` (not recorded in the store).
    flush_disk_type: Option<&'static str>,
    transient_store_pool_enable: Option<bool>,
    mapped_file_size_commit_log: usize,
    mapped_file_size_consume_queue: usize,
    max_hash_slot_num: u32,
    max_index_num: u32,
    commit_log_dir: String,
    segments: Vec<SegmentInfo>,
    segment_count: usize,
    preallocated_segments: usize,
    gaps: usize,
    min_phy_offset: u64,
    max_phy_offset: u64,
    checkpoint: JsonCheckpoint,
    topics: usize,
    consume_queues: usize,
    index_files: usize,
    config_files: Vec<ConfigFileInfo>,
    recovery: JsonRecovery,
    /// 5.x structures (batch CQ, LMQ, timers, epochs, compaction): src/v5/inspect.rs.
    #[serde(skip_serializing_if = "Option::is_none")]
    v5: Option<crate::v5::inspect::V5Report>,
    /// What an interrupted rebuild left (`*.rebuild-<ts>`) and a rebuild's backups
    /// (`*.bak-<ts>`).
    rebuild_leftovers: Vec<String>,
    rebuild_backups: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonCheckpoint {
    present: bool,
    physic_msg_timestamp: i64,
    logics_msg_timestamp: i64,
    index_msg_timestamp: i64,
    master_flushed_offset: i64,
    confirm_phy_offset: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonRecovery {
    /// `abnormal` (abort file present) or `normal`.
    mode: &'static str,
    start_offset: u64,
    end_offset: u64,
    /// Why the scan ended where it did.
    reason: String,
    /// Dispatch to the consume queues and the index would resume here.
    reput_from: u64,
}

pub fn run(args: &StatArgs) -> CliResult {
    let (store, source) = args.common.open()?;
    let config = store.config().clone();
    let root = config.root().to_path_buf();
    let report = store.recovery_report().clone();
    let lock_held = is_locked(&root)?;

    // Reading segments after the end to see whether they are all zero may take a while.
    let seg_bytes: u64 = std::fs::read_dir(config.commit_log_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    let pb = args.common.progress(seg_bytes, "checking segments", true);
    let segments = commitlog_segments(&config.commit_log_dir(), report.end_offset, |n| pb.inc(n))?;
    pb.finish_and_clear();
    let cp = store.checkpoint_values();
    let cqs = store.consume_queues().all();
    let mut topics: Vec<&str> = cqs.iter().map(|q| q.topic()).collect();
    topics.dedup();
    let index_names: Vec<String> =
        store.with_index_files(|f| f.iter().map(|f| f.name().to_string()).collect());
    let cfg_files = config_files(&config.config_dir())?;
    let from_file = matches!(source, ConfigSource::File(_));
    let source_text = match &source {
        ConfigSource::File(p) => format!("-c {}", p.display()),
        ConfigSource::Discovered => "discovered".to_string(),
    };
    let flush = from_file.then_some(match config.flush_disk_type {
        FlushDiskType::AsyncFlush => "ASYNC_FLUSH",
        FlushDiskType::SyncFlush => "SYNC_FLUSH",
    });
    let reason = recovery_reason(&report, &segments);
    let start_name = segments
        .iter()
        .find(|s| s.start_offset == report.start_offset)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| report.start_offset.to_string());
    let prealloc = segments
        .iter()
        .filter(|s| s.state == SegmentState::Preallocated)
        .count();
    let gaps = segments.iter().filter(|s| s.gap_before > 0).count();

    let (leftovers, backups) = rebuild_files(&config);
    for p in &leftovers {
        super::warn(&format!(
            "{p}: left by an interrupted rebuild (the next rebuild removes it)"
        ));
    }
    let mut out = super::stdout();
    if args.common.json {
        let j = JsonStat {
            left_out: store.left_out().to_vec(),
            rebuild_leftovers: leftovers,
            rebuild_backups: backups,
            store: root.display().to_string(),
            config_source: source_text,
            abort_file: report.abnormal,
            lock_file: config.lock_path().exists(),
            lock_held,
            flush_disk_type: flush,
            transient_store_pool_enable: from_file.then_some(config.transient_store_pool_enable),
            mapped_file_size_commit_log: config.mapped_file_size_commit_log,
            mapped_file_size_consume_queue: config.mapped_file_size_consume_queue(),
            max_hash_slot_num: config.max_hash_slot_num,
            max_index_num: config.max_index_num,
            commit_log_dir: config.commit_log_dir().display().to_string(),
            segment_count: segments.len(),
            preallocated_segments: prealloc,
            gaps,
            segments,
            min_phy_offset: store.min_phy_offset(),
            max_phy_offset: store.max_phy_offset(),
            checkpoint: JsonCheckpoint {
                present: config.checkpoint_path().exists(),
                physic_msg_timestamp: cp.physic_msg_timestamp,
                logics_msg_timestamp: cp.logics_msg_timestamp,
                index_msg_timestamp: cp.index_msg_timestamp,
                master_flushed_offset: cp.master_flushed_offset,
                confirm_phy_offset: cp.confirm_phy_offset,
            },
            topics: topics.len(),
            consume_queues: cqs.len(),
            index_files: index_names.len(),
            config_files: cfg_files,
            recovery: JsonRecovery {
                mode: if report.abnormal {
                    "abnormal"
                } else {
                    "normal"
                },
                start_offset: report.start_offset,
                end_offset: report.end_offset,
                reason,
                reput_from: report.reput_from,
            },
            v5: stat_v5(&root, &store),
        };
        super::json::write_doc(&mut out, "rmqstore.stat/1", &j)?;
        out.flush()?;
        if super::rocksdb::is_rocksdb(&store) {
            return super::rocksdb::stat_section(&store, &mut std::io::sink());
        }
        return Ok(());
    }

    let sizes_from = if from_file {
        "from -c"
    } else {
        "found from file lengths"
    };
    writeln!(out, "Store 存储 {}", root.display())?;
    write_fields(
        &mut out,
        &[
            ("Settings from", source_text.clone()),
            (
                "Abort file",
                if report.abnormal {
                    "PRESENT: the last run did not stop cleanly (abnormal recovery)".into()
                } else {
                    "absent: clean shutdown".into()
                },
            ),
            (
                "Lock",
                match (config.lock_path().exists(), lock_held) {
                    (_, true) => "HELD by another process (a broker may be running on this store)"
                        .to_string(),
                    (true, false) => "lock file present, not held".into(),
                    (false, false) => "no lock file".into(),
                },
            ),
            (
                "Flush mode",
                match flush {
                    Some(f) => format!(
                        "{f}{} (from -c)",
                        if config.transient_store_pool_enable {
                            " + transientStorePoolEnable"
                        } else {
                            ""
                        }
                    ),
                    None => "not recorded in the store (give -c broker.properties)".into(),
                },
            ),
            (
                "Commitlog segment",
                format!(
                    "{} bytes ({sizes_from})",
                    config.mapped_file_size_commit_log
                ),
            ),
            (
                "Consume-queue file",
                format!(
                    "{} bytes ({sizes_from})",
                    config.mapped_file_size_consume_queue()
                ),
            ),
            (
                "Index file",
                format!(
                    "{} slots x {} entries ({sizes_from})",
                    config.max_hash_slot_num, config.max_index_num
                ),
            ),
        ],
        2,
    )?;

    writeln!(
        out,
        "\nCommitlog 提交日志 {}: {} segments, {} pre-allocated, {} gaps",
        config.commit_log_dir().display(),
        segments.len(),
        prealloc,
        gaps
    )?;
    let mut t = Table::new(&["Segment", "Length>", "Data>", "State", "Gap Before>"]);
    for s in &segments {
        t.row(vec![
            s.name.clone(),
            s.length.to_string(),
            s.data_bytes.to_string(),
            match s.state {
                SegmentState::Full => "full",
                SegmentState::Active => "active (holds the end)",
                SegmentState::Preallocated => "pre-allocated, all zero",
                SegmentState::DirtyAfterEnd => "AFTER THE END, NOT ZERO",
            }
            .to_string(),
            if s.gap_before > 0 {
                s.gap_before.to_string()
            } else {
                String::new()
            },
        ]);
    }
    if !t.is_empty() {
        t.write(&mut out, 2)?;
    }
    write_fields(
        &mut out,
        &[
            ("Min physical offset", store.min_phy_offset().to_string()),
            ("Max physical offset", store.max_phy_offset().to_string()),
        ],
        2,
    )?;

    writeln!(
        out,
        "\nCheckpoint 检查点 {}",
        if config.checkpoint_path().exists() {
            config.checkpoint_path().display().to_string()
        } else {
            format!(
                "{} (missing: reads as zero)",
                config.checkpoint_path().display()
            )
        }
    )?;
    let ts = |v: i64| format!("{}  ({v})", human_time(v));
    let mut cp_fields = vec![
        ("physicMsgTimestamp", ts(cp.physic_msg_timestamp)),
        ("logicsMsgTimestamp", ts(cp.logics_msg_timestamp)),
        ("indexMsgTimestamp", ts(cp.index_msg_timestamp)),
    ];
    if cp.master_flushed_offset != 0 || cp.confirm_phy_offset != 0 {
        cp_fields.push(("masterFlushedOffset", cp.master_flushed_offset.to_string()));
        cp_fields.push(("confirmPhyOffset", cp.confirm_phy_offset.to_string()));
    }
    write_fields(&mut out, &cp_fields, 2)?;

    writeln!(
        out,
        "\nConsume queues 消费队列: {} topics, {} queues · Index 索引: {} files{}",
        topics.len(),
        cqs.len(),
        index_names.len(),
        match (index_names.first(), index_names.last()) {
            (Some(a), Some(b)) if a != b => format!(" ({a} .. {b})"),
            (Some(a), _) => format!(" ({a})"),
            _ => String::new(),
        }
    )?;

    writeln!(out, "\nConfig files {}:", config.config_dir().display())?;
    if cfg_files.is_empty() {
        writeln!(out, "  (none)")?;
    } else {
        let mut t = Table::new(&["File", "Size>", ".bak Size>"]);
        for f in &cfg_files {
            t.row(vec![
                f.name.clone(),
                f.length.map(|l| l.to_string()).unwrap_or("missing".into()),
                f.bak_length.map(|l| l.to_string()).unwrap_or("-".into()),
            ]);
        }
        t.write(&mut out, 2)?;
    }

    writeln!(
        out,
        "\nRecovery 恢复 (what a 4.6.0 broker would do on start):"
    )?;
    write_fields(
        &mut out,
        &[
            (
                "Mode",
                if report.abnormal {
                    "abnormal (recoverAbnormally): abort file present".to_string()
                } else {
                    "normal (recoverNormally): from the last three segments".to_string()
                },
            ),
            (
                "Scan starts",
                format!("segment {start_name} (offset {})", report.start_offset),
            ),
            ("Ends at", report.end_offset.to_string()),
            ("Why", reason),
            (
                "Dispatch resumes",
                format!(
                    "at {} ({} bytes to dispatch to consume queues and index)",
                    report.reput_from,
                    report.end_offset.saturating_sub(report.reput_from)
                ),
            ),
        ],
        2,
    )?;
    for p in &leftovers {
        writeln!(out, "\nLeft by an interrupted rebuild: {p}")?;
    }
    for p in &backups {
        writeln!(
            out,
            "\nBackup kept by a rebuild: {p} (remove it when satisfied)"
        )?;
    }
    // 5.x structures (batch CQ, LMQ, timers, epochs): src/v5/inspect.rs.
    let v5 = crate::v5::inspect::inspect(&root, &store)?;
    write!(out, "{}", crate::v5::inspect::render_text(&v5))?;
    if super::rocksdb::is_rocksdb(&store) {
        let r = super::rocksdb::stat_section(&store, &mut out);
        out.flush()?;
        return r;
    }
    out.flush()?;
    Ok(())
}

/// `*.rebuild-<ts>` and `*.bak-<ts>` beside the store's files (and the commitlog's).
fn rebuild_files(config: &crate::StoreConfig) -> (Vec<String>, Vec<String>) {
    use crate::inspect::rebuild::{is_rebuild_backup, is_rebuild_leftover};
    let root = config.root().to_path_buf();
    let mut dirs = vec![root.clone()];
    if let Some(p) = config.commit_log_dir().parent() {
        if p != root {
            dirs.push(p.to_path_buf());
        }
    }
    let (mut left, mut bak) = (Vec::new(), Vec::new());
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path().display().to_string();
            if is_rebuild_leftover(&name) {
                left.push(p);
            } else if is_rebuild_backup(&name) {
                bak.push(p);
            }
        }
    }
    left.sort();
    bak.sort();
    (left, bak)
}

/// Why the recovery scan ended where it did.
fn recovery_reason(report: &crate::store::RecoveryReport, segments: &[SegmentInfo]) -> String {
    if let Some(why) = &report.stopped_by {
        return format!("stopped at an invalid record: {why}");
    }
    let end = report.end_offset;
    match segments
        .iter()
        .find(|s| s.start_offset <= end && end < s.start_offset + s.length)
    {
        Some(s) => format!(
            "end of data: never-written (zero) bytes at position {} of segment {}",
            end - s.start_offset,
            s.name
        ),
        None if segments.is_empty() => "no commitlog segment".to_string(),
        None => "end of the last segment".to_string(),
    }
}

/// The 5.x report for `stat --json` (absent for a store without 5.x structures).
fn stat_v5(
    root: &std::path::Path,
    store: &crate::MessageStore,
) -> Option<crate::v5::inspect::V5Report> {
    if crate::v5::inspect::present(root).is_empty() {
        return None;
    }
    match crate::v5::inspect::inspect(root, store) {
        Ok(r) => Some(r),
        Err(e) => {
            super::warn(&format!("5.x structures left out: {e}"));
            None
        }
    }
}
