//! `rmqstore preflight STORE... [-c broker.properties] [--target VERSION]`: upgrade hazards
//! (exit 0 none, 1 hazards found, 2 unusable input).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{CliError, CliResult, GeometryArgs};
use crate::inspect::preflight::{preflight, PreflightOptions, TargetVersion};

#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// Store roots, one per broker.
    #[arg(value_name = "STORE", required = true)]
    pub stores: Vec<PathBuf>,
    /// The broker's .properties file (applied to every store given).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The version the stores are about to run under (3.2.6, 4.6.0, 5.3.3).
    #[arg(long, default_value = "4.6.0", value_name = "VERSION")]
    pub target: TargetVersion,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub geometry: GeometryArgs,
}

pub fn run(args: &PreflightArgs) -> CliResult {
    let opts = PreflightOptions {
        properties: args.config.clone(),
        target: args.target,
        geometry: args.geometry.overrides(),
    };
    let r = preflight(&args.stores, &opts)?;
    let mut out = super::stdout();
    if args.json {
        super::json::write_doc_renamed(&mut out, "rmqstore.preflight/1", &r)?;
    } else {
        for f in r.findings.iter() {
            writeln!(out, "{f}")?;
        }
    }
    let hazards = r.hazards().count();
    if !args.json {
        writeln!(out, "result     {hazards} hazards for {}", r.target)?;
    }
    out.flush()?;
    if hazards > 0 {
        return Err(CliError::Failed(format!("{hazards} upgrade hazards found")));
    }
    Ok(())
}
