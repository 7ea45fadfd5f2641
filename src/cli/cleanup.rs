//! `rmqstore cleanup STORE --dry-run [-c broker.properties] [--at TIME] [--disk-used PCT]
//! [--json]`: what RocketMQ 4.6.0's cleanup would delete from a store, by rule and why, and
//! which consumer groups would lose unconsumed messages. The store is opened read-only and
//! nothing is changed; deleting from the command line is not offered.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliError, CliResult, GeometryArgs};
use crate::cleanup::{ratio_str, CleanupPlan, DiskUsageProbe, FakeDiskProbe, StatvfsProbe};
use crate::clock::{human_time, local_to_millis, Clock, SystemClock};
use crate::config::StoreConfig;
use crate::inspect::discover_config;
use crate::MessageStore;

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The store root (the folder holding commitlog/, consumequeue/, index/, config/).
    #[arg(value_name = "STORE")]
    pub store: PathBuf,
    /// Only report what a cleanup would delete (required: this command never deletes).
    #[arg(long)]
    pub dry_run: bool,
    /// The broker's .properties file, for the retention settings (deleteWhen, fileReservedTime,
    /// diskMaxUsedSpaceRatio, cleanFileForciblyEnable, cleanResourceInterval). Paths in it
    /// are ignored: STORE is the store.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// When the cleanup runs: "YYYY-MM-DD HH:MM" in local time (TZ) or epoch milliseconds.
    /// Default: now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Assume the store's partitions are this many percent used, instead of asking the file
    /// system (what would happen at 86 %?).
    #[arg(long, value_name = "PERCENT")]
    pub disk_used: Option<f64>,
    /// The plan as one JSON document.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub geometry: GeometryArgs,
}

/// `YYYY-MM-DD HH:MM` (local) or epoch milliseconds.
pub fn parse_at(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .map_err(|_| format!("--at {s:?}: epoch milliseconds out of range"));
    }
    let bad = || format!("--at {s:?}: expected \"YYYY-MM-DD HH:MM\" (local time) or epoch millis");
    let (date, time) = s.split_once([' ', 'T']).ok_or_else(bad)?;
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.trim().split(':').collect();
    if d.len() != 3 || t.len() != 2 {
        return Err(bad());
    }
    let num = |x: &str| -> Result<u32, String> {
        if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        x.parse().map_err(|_| bad())
    };
    let year = num(d[0])? as i32;
    local_to_millis(year, num(d[1])?, num(d[2])?, num(t[0])?, num(t[1])?)
        .ok_or_else(|| format!("{}: no such local time", bad()))
}

/// Copies the retention settings of a broker's properties into `config`.
fn apply_retention_settings(config: &mut StoreConfig, from: &StoreConfig) {
    config.delete_when = from.delete_when.clone();
    config.file_reserved_time_hours = from.file_reserved_time_hours;
    config.disk_max_used_space_ratio = from.disk_max_used_space_ratio;
    config.clean_file_forcibly_enable = from.clean_file_forcibly_enable;
    config.clean_resource_interval_ms = from.clean_resource_interval_ms;
    config.delete_commit_log_files_interval_ms = from.delete_commit_log_files_interval_ms;
    config.delete_consume_queue_files_interval_ms = from.delete_consume_queue_files_interval_ms;
    config.destroy_mapped_file_interval_forcibly_ms = from.destroy_mapped_file_interval_forcibly_ms;
    config.redelete_hanged_file_interval_ms = from.redelete_hanged_file_interval_ms;
}

pub fn run(args: &CleanupArgs) -> CliResult {
    if !args.dry_run {
        return Err(CliError::Input(
            "cleanup: the command line never deletes; add --dry-run to see what a broker's \
             cleanup would delete (a running store cleans on its own schedule)"
                .into(),
        ));
    }
    let at = match &args.at {
        Some(s) => parse_at(s).map_err(CliError::Input)?,
        None => SystemClock.now_millis(),
    };
    if let Some(p) = args.disk_used {
        if !(0.0..=100.0).contains(&p) {
            return Err(CliError::Input(format!(
                "--disk-used {p}: a percentage from 0 to 100"
            )));
        }
    }
    let mut config = discover_config(&args.store, &args.geometry.overrides())?;
    if let Some(path) = &args.config {
        let (props, warnings) = StoreConfig::from_properties_file(path)?;
        for w in warnings {
            let _ = writeln!(std::io::stderr().lock(), "rmqstore: warning: {w}");
        }
        apply_retention_settings(&mut config, &props);
    }
    let store = MessageStore::open_read_only(config)?;
    let probe: Box<dyn DiskUsageProbe> = match args.disk_used {
        Some(p) => Box::new(FakeDiskProbe::new(p)),
        None => Box::new(StatvfsProbe),
    };
    let plan = store.cleanup_plan(at, probe.as_ref())?;
    let mut out = super::stdout();
    if args.json {
        super::json::write_doc_renamed(&mut out, "rmqstore.cleanup/1", &plan)?;
    } else {
        write_text(&mut out, &plan, &args.store)?;
    }
    out.flush()?;
    Ok(())
}

fn rel(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Rows of cells as a table whose columns are as wide as their widest cell (the last column
/// is not padded).
fn write_table(out: &mut impl Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[c] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn write_text(out: &mut impl Write, plan: &CleanupPlan, root: &Path) -> std::io::Result<()> {
    let s = &plan.settings;
    writeln!(
        out,
        "cleanup dry run at {} (deleteWhen={} fileReservedTime={}h diskMaxUsedSpaceRatio={}% \
         cleanFileForciblyEnable={})",
        human_time(plan.at_ms),
        s.delete_when,
        s.file_reserved_time_hours,
        s.disk_max_used_space_ratio,
        s.clean_file_forcibly_enable
    )?;
    for r in &plan.runs {
        let t = &r.triggers;
        writeln!(
            out,
            "run {} at {}: triggers {}; commitlog disk {}, consume-queue disk {}{}{}; deletes {} \
             segment(s); stops: {}",
            r.run,
            human_time(t.at_ms),
            t.names(),
            ratio_str(t.commitlog_used),
            ratio_str(t.consume_queue_used),
            if t.clean_at_once {
                "; forced (> 85%)"
            } else {
                ""
            },
            if t.disk_full {
                "; DISK_FULL: puts refused"
            } else {
                ""
            },
            r.commitlog_deleted,
            r.stopped
        )?;
    }
    writeln!(
        out,
        "commitlog minimum offset: {} -> {}",
        plan.min_phy_offset_before, plan.min_phy_offset_after
    )?;
    writeln!(out)?;
    let mut rows = vec![vec![
        "RULE".to_string(),
        "ACTION".to_string(),
        "RUN".to_string(),
        "FILE".to_string(),
        "MODIFIED".to_string(),
        "REASON".to_string(),
    ]];
    for f in plan
        .commitlog
        .iter()
        .chain(&plan.consume_queues)
        .chain(&plan.index)
        .chain(&plan.timer_log)
    {
        rows.push(vec![
            f.rule.clone(),
            if f.delete { "delete" } else { "keep" }.to_string(),
            f.run.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
            rel(&f.path, root),
            f.mtime_ms.map(human_time).unwrap_or_else(|| "-".into()),
            f.reason.clone(),
        ]);
    }
    write_table(out, &rows)?;
    writeln!(out)?;
    if plan.consumers.is_empty() {
        if plan.consumer_offsets_found {
            writeln!(out, "no consumer group loses unconsumed messages")?;
        }
    } else {
        writeln!(out, "consumer groups that would lose unconsumed messages:")?;
        let mut rows = vec![vec![
            "TOPIC".to_string(),
            "QUEUE".to_string(),
            "GROUP".to_string(),
            "CONSUMED-TO".to_string(),
            "LOST".to_string(),
            "NEW-MIN".to_string(),
            "MAX".to_string(),
        ]];
        for c in &plan.consumers {
            rows.push(vec![
                c.topic.clone(),
                c.queue_id.to_string(),
                c.group.clone(),
                c.consumer_offset.to_string(),
                c.lost.to_string(),
                c.min_offset_after.to_string(),
                c.max_offset.to_string(),
            ]);
        }
        write_table(out, &rows)?;
    }
    for n in &plan.notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_accepts_local_time_and_millis() {
        assert_eq!(parse_at("1773115200000").unwrap(), 1_773_115_200_000);
        let ms = parse_at("2026-03-10 04:00").unwrap();
        let t = crate::clock::local_time(ms);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute),
            (2026, 3, 10, 4, 0)
        );
        for bad in [
            "",
            "2026-03-10",
            "2026-13-01 04:00",
            "2026-03-10 4",
            "tomorrow",
            "-5",
        ] {
            assert!(parse_at(bad).is_err(), "{bad:?}");
        }
    }
}
