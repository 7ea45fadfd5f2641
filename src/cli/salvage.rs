//! `rmqstore salvage STORE --out DIR`: copies every valid record, including those after
//! damage, into a new store, and reports what was skipped.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{CliError, CliResult, GeometryArgs};
use crate::inspect::salvage::{salvage_with_progress, SalvageOptions};

#[derive(Debug, Args)]
pub struct SalvageArgs {
    /// The damaged store root (only read).
    #[arg(value_name = "STORE")]
    pub store: PathBuf,
    /// Folder for the new store (must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: super::args::ConfigArg,
    #[command(flatten)]
    pub geometry: GeometryArgs,
}

pub fn run(args: &SalvageArgs) -> CliResult {
    let opts = SalvageOptions {
        geometry: args.config.overrides(&args.store, &args.geometry)?,
        cancel: Some(super::interrupt_flag()),
        now_ms: None,
    };
    let pb = super::args::PhaseBar::new(args.json, &format!("salvaging {}", args.store.display()));
    let r = salvage_with_progress(&args.store, &args.out, &opts, &|p| pb.report(p));
    pb.finish();
    let r = r?;
    let mut out = super::stdout();
    if args.json {
        super::json::write_doc_renamed(&mut out, "rmqstore.salvage/1", &r)?;
    } else {
        writeln!(
            out,
            "salvaged   {} -> {}",
            r.store.display(),
            r.output.display()
        )?;
        writeln!(
            out,
            "records    {} copied, {} of them after damage (Java's recovery would lose those)",
            r.records_copied, r.records_after_damage
        )?;
        for s in &r.skipped {
            writeln!(
                out,
                "skipped    {} bytes {}..{} (commitlog {}..{}): {}",
                s.file.display(),
                s.from,
                s.to,
                s.commitlog_from,
                s.commitlog_to,
                s.reason
            )?;
        }
        if r.misplaced > 0 {
            writeln!(
                out,
                "note       {} records carry another position's PHYSICALOFFSET (copied or shifted data) and were not copied",
                r.misplaced
            )?;
        }
        if r.property_crc_dropped > 0 {
            writeln!(
                out,
                "note       dropped the __CRC32# property of {} records (it covers the old offsets)",
                r.property_crc_dropped
            )?;
        }
        writeln!(
            out,
            "note       queue offsets are renumbered; consumer offsets in config/ refer to the old ones"
        )?;
    }
    out.flush()?;
    if !r.unreadable.is_empty() {
        return Err(CliError::Failed(format!(
            "{} files could not be read (the rest was salvaged): {}",
            r.unreadable.len(),
            r.unreadable
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}
