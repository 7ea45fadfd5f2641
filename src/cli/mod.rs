//! The `rmqstore` command-line tool (feature `cli`).
//!
//! Exit codes: 0 success; 1 a check failed (`demo` read back something other than it wrote) or
//! output could not be written; 2 unusable input (a store that cannot be read, a bad
//! argument), reported as one line on stderr naming the file and, where there is one, the
//! byte offset; 70 an internal error (a bug), also one line, never a backtrace.

mod cat;
mod demo;
mod replicate;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::StoreError;
use crate::inspect::GeometryOverrides;

/// Reads and writes Apache RocketMQ broker store directories.
#[derive(Debug, Parser)]
#[command(name = "rmqstore", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every commitlog record of a store, in physical order (opens it read-only).
    Cat(cat::CatArgs),
    /// Write a demo store with the library, read it back and check every message.
    Demo(demo::DemoArgs),
    /// Run as a slave of a master's HA port and pull a copy of its commitlog into a store.
    Replicate(replicate::ReplicateArgs),
}

/// Store geometry, normally discovered from the lengths of the store's files.
#[derive(Debug, Clone, Default, Args)]
pub struct GeometryArgs {
    /// Commitlog segment size in bytes (mappedFileSizeCommitLog).
    #[arg(long, value_name = "BYTES")]
    pub commitlog_size: Option<usize>,
    /// Consume-queue file size in bytes (mappedFileSizeConsumeQueue).
    #[arg(long, value_name = "BYTES")]
    pub cq_size: Option<usize>,
    /// Hash slots per index file (maxHashSlotNum).
    #[arg(long, value_name = "N")]
    pub hash_slots: Option<u32>,
    /// Entries per index file (maxIndexNum).
    #[arg(long, value_name = "N")]
    pub index_num: Option<u32>,
    /// Commitlog folder, when it is not STORE/commitlog (storePathCommitLog).
    #[arg(long, value_name = "DIR")]
    pub commitlog_dir: Option<PathBuf>,
}

impl GeometryArgs {
    pub fn overrides(&self) -> GeometryOverrides {
        GeometryOverrides {
            commitlog_size: self.commitlog_size,
            cq_size: self.cq_size,
            hash_slots: self.hash_slots,
            index_num: self.index_num,
            commitlog_dir: self.commitlog_dir.clone(),
        }
    }
}

/// Why a command failed; decides the exit code.
#[derive(Debug)]
pub enum CliError {
    /// The input cannot be used (exit 2).
    Input(String),
    /// A check failed (exit 1).
    Failed(String),
    /// Writing the output failed (exit 1); a closed pipe is not reported.
    Output(io::Error),
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        CliError::Input(e.to_string())
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        CliError::Output(e)
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// Runs the tool with the process arguments and returns its exit code.
pub fn main() -> ExitCode {
    // A panic is a bug: report it on one line, without a backtrace, and exit 70.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("rmqstore: internal error (a bug){at}: {}", one_line(&msg));
    }));
    let cli = Cli::parse();
    match std::panic::catch_unwind(move || run(cli)) {
        Ok(code) => code,
        Err(_) => ExitCode::from(70),
    }
}

/// Runs one parsed command line and returns its exit code, after reporting any error.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Cat(args) => cat::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Replicate(args) => replicate::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(CliError::Output(e)) => {
            report(&format!("cannot write output: {e}"));
            ExitCode::from(1)
        }
        Err(CliError::Failed(msg)) => {
            report(&msg);
            ExitCode::from(1)
        }
        Err(CliError::Input(msg)) => {
            report(&msg);
            ExitCode::from(2)
        }
    }
}

fn report(msg: &str) {
    let _ = writeln!(io::stderr().lock(), "rmqstore: {}", one_line(msg));
}

/// Keeps an error message on one line.
fn one_line(msg: &str) -> String {
    msg.split(['\n', '\r'])
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// A buffered stdout.
fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}
