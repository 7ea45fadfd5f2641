//! `rmqstore verify STORE [--json]`: checks a store offline (exit 0 clean or only warnings,
//! 1 errors found, 2 unusable input).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{CliError, CliResult, GeometryArgs};
use crate::inspect::verify::{verify_with_progress, VerifyOptions, VerifyReport};
use crate::inspect::Severity;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The store root (the folder holding commitlog/, consumequeue/, index/).
    #[arg(value_name = "STORE")]
    pub store: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: super::args::ConfigArg,
    #[command(flatten)]
    pub geometry: GeometryArgs,
}

pub fn run(args: &VerifyArgs) -> CliResult {
    let geometry = args.config.overrides(&args.store, &args.geometry)?;
    let pb = super::args::PhaseBar::new(args.json, &format!("verifying {}", args.store.display()));
    let report = verify_with_progress(
        &args.store,
        &VerifyOptions {
            geometry,
            now_ms: None,
        },
        &|p| pb.report(p),
    );
    pb.finish();
    let report = report?;
    let mut out = super::stdout();
    if args.json {
        super::json::write_doc_renamed(&mut out, "rmqstore.verify/1", &report)?;
    } else {
        print_text(&mut out, &report)?;
    }
    out.flush()?;
    if report.exit_code() != 0 {
        return Err(CliError::Failed(format!(
            "{}: {} errors found",
            args.store.display(),
            report.findings.count(Severity::Error)
        )));
    }
    Ok(())
}

fn print_text(out: &mut impl Write, r: &VerifyReport) -> std::io::Result<()> {
    let s = &r.summary;
    writeln!(out, "store      {}", r.store.display())?;
    writeln!(
        out,
        "commitlog  {} segments of {} bytes in {}; offsets {}..{}; {} records ({} not dispatched)",
        s.segments,
        s.segment_size,
        s.commitlog_dir.display(),
        s.min_offset,
        s.data_end,
        s.records,
        s.not_dispatched
    )?;
    if s.recovery_end != s.data_end {
        writeln!(
            out,
            "recovery   Java's recovery would end the log at {}",
            s.recovery_end
        )?;
    }
    writeln!(
        out,
        "queues     {} consume queues ({} topics); reput from {}; {} records behind",
        s.queues.len(),
        s.topics.len(),
        s.reput_from,
        s.dispatch_behind_records
    )?;
    writeln!(
        out,
        "index      {} files ({} slots, {} entries); {} records behind",
        s.index_files, s.hash_slots, s.index_num, s.index_behind_records
    )?;
    if let Some(c) = &s.checkpoint {
        writeln!(
            out,
            "checkpoint physic {} | logics {} | index {}",
            crate::clock::human_time(c.physic_msg_timestamp),
            crate::clock::human_time(c.logics_msg_timestamp),
            crate::clock::human_time(c.index_msg_timestamp)
        )?;
    }
    writeln!(
        out,
        "state      abort {} | lock {}",
        if s.abort { "present" } else { "absent" },
        if s.locked { "held" } else { "free" }
    )?;
    if let Some(v5) = &s.v5 {
        write!(out, "{}", crate::v5::inspect::render_summary(v5))?;
    }
    for f in r.findings.iter() {
        writeln!(out, "{f}")?;
    }
    writeln!(
        out,
        "result     {} errors, {} warnings, {} info",
        r.findings.count(Severity::Error),
        r.findings.count(Severity::Warning),
        r.findings.count(Severity::Info)
    )
}
