//! `rmqstore rebuild STORE (--out DIR | --in-place [--force])`: regenerates the consume queues,
//! index and checkpoint from the commitlog.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{CliError, CliResult, GeometryArgs};
use crate::error::StoreError;
use crate::inspect::rebuild::{rebuild_with_progress, RebuildOptions, RebuildTarget};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["out", "in_place"])))]
pub struct RebuildArgs {
    /// The store root.
    #[arg(value_name = "STORE")]
    pub store: PathBuf,
    /// Write a complete new store here (must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the store's consume queues, index and checkpoint; the old ones are kept as
    /// `*.bak-<ts>` until you remove them.
    #[arg(long)]
    pub in_place: bool,
    /// With --in-place: rebuild even though the abort file is present.
    #[arg(long)]
    pub force: bool,
    /// With --in-place: also remove the valid records that lie after the end Java's recovery
    /// finds (a broker would drop them at its next start); says how many and where. Without
    /// it, a store holding such records is refused (use `salvage` or --out).
    #[arg(long, requires = "in_place")]
    pub truncate_at_damage: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: super::args::ConfigArg,
    #[command(flatten)]
    pub geometry: GeometryArgs,
}

pub fn run(args: &RebuildArgs) -> CliResult {
    let target = match &args.out {
        Some(out) => RebuildTarget::Out(out.clone()),
        None => RebuildTarget::InPlace,
    };
    let mut opts = RebuildOptions::new(target);
    opts.geometry = args.config.overrides(&args.store, &args.geometry)?;
    opts.force = args.force;
    opts.truncate_at_damage = args.truncate_at_damage;
    opts.cancel = Some(super::interrupt_flag());
    let pb = super::args::PhaseBar::new(args.json, &format!("rebuilding {}", args.store.display()));
    let report = rebuild_with_progress(&args.store, &opts, &|p| pb.report(p));
    pb.finish();
    let report = report.map_err(|e| match e {
        StoreError::Locked { .. } => CliError::Input(format!(
            "{e}; stop the broker before rebuilding in place (or use --out)"
        )),
        e => CliError::from(e),
    })?;
    let mut out = super::stdout();
    if args.json {
        super::json::write_doc_renamed(&mut out, "rmqstore.rebuild/1", &report)?;
    } else {
        writeln!(out, "rebuilt    {}", report.output.display())?;
        writeln!(
            out,
            "commitlog  ends at {} ({} records){}",
            report.commitlog_end,
            report.records,
            report
                .stopped_by
                .as_deref()
                .map(|s| format!("; stopped by: {s}"))
                .unwrap_or_default()
        )?;
        writeln!(
            out,
            "queues     {} consume queues, {} units; {} 3.x delivery times kept",
            report.queues, report.consume_queue_units, report.kept_legacy_delay_times
        )?;
        writeln!(out, "index      {}", report.index_files.join(" "))?;
        if let Some(n) = report.rocksdb_cq_units {
            writeln!(
                out,
                "5.x        RocksDB consume queue (storeType=defaultRocksDB) regenerated: {n} units"
            )?;
        }
        write_kept_5x(&mut out, &report)?;
        for p in &report.commitlog_truncated {
            writeln!(out, "dropped    data after the end in {}", p.display())?;
        }
        if report.records_removed > 0 {
            writeln!(
                out,
                "removed    {} records after commitlog offset {} (--truncate-at-damage)",
                report.records_removed, report.commitlog_end
            )?;
        }
        for p in &report.removed_leftovers {
            writeln!(
                out,
                "cleaned    {} (left by an interrupted rebuild)",
                p.display()
            )?;
        }
        for b in &report.backups {
            writeln!(out, "backup     {} (remove it when satisfied)", b.display())?;
        }
    }
    out.flush()?;
    super::left_out::warn_all(&report.left_out);
    for s in &report.skipped {
        super::warn(&s.to_string());
    }
    if report.not_dispatched > 0 {
        super::warn(&format!(
            "{} records are in no consume queue (their DELAY does not parse; the reput skips them)",
            report.not_dispatched
        ));
    }
    if report.records_beyond_end > report.records_removed {
        return Err(CliError::Failed(format!(
            "{} valid records lie after commitlog offset {} (where Java's recovery ends the log) \
             and are not in the rebuilt store; `rmqstore salvage` copies them",
            report.records_beyond_end - report.records_removed,
            report.commitlog_end
        )));
    }
    Ok(())
}

/// The 5.x lines of the report: the index slot rule and the 5.x structures kept as they were.
fn write_kept_5x(
    out: &mut impl Write,
    report: &crate::inspect::rebuild::RebuildReport,
) -> std::io::Result<()> {
    if report.index_5x_slot_count {
        writeln!(out, "5.x        index hashSlotCount counted the 5.x way")?;
    }
    if !report.kept_5x.is_empty() {
        writeln!(
            out,
            "5.x        kept as they were (not rebuilt): {}",
            report.kept_5x.join(", ")
        )?;
    }
    Ok(())
}
