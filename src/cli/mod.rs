//! The `rmqstore` command-line tool (feature `cli`).
//!
//! Exit codes: 0 success; 1 a check failed (`demo` read back something other than it wrote) or
//! output could not be written; 2 unusable input (a store that cannot be read, a bad
//! argument), reported as one line on stderr naming the file and, where there is one, the
//! byte offset; 70 an internal error (a bug), also one line, never a backtrace.

mod args;
mod bench;
mod cat;
mod cat_query;
mod cleanup;
mod consumers;
mod cq;
mod demo;
mod index;
mod json;
mod left_out;
mod msg;
mod stat;
mod table;
mod topics;

mod preflight;
mod rebuild;
mod replicate;
mod rocksdb;
mod salvage;
mod verify;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::StoreError;
use crate::inspect::GeometryOverrides;

/// Reads and writes Apache RocketMQ broker store directories.
#[derive(Debug, Parser)]
#[command(name = "rmqstore", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print commitlog records in physical order, optionally filtered (opens it read-only).
    Cat(cat::CatArgs),
    /// Show what RocketMQ's retention cleanup would delete (--dry-run; never deletes).
    Cleanup(cleanup::CleanupArgs),
    /// Summarize a store: segments, offsets, abort/lock, checkpoint, config files, recovery.
    Stat(stat::StatArgs),
    /// Per topic and queue: min/max offset, message count, last store time.
    Topics(topics::TopicsArgs),
    /// Consumer lag per group, topic and queue from config/consumerOffset.json (as mqadmin
    /// consumerProgress): broker offset, consumer offset, diff, last consumed store time.
    Consumers(consumers::ConsumersArgs),
    /// Show one message by offset msgId, UNIQ_KEY, key or commitlog offset.
    Msg(msg::MsgArgs),
    /// Dump a consume queue's units and check each against its record.
    Cq(cq::CqArgs),
    /// Show index file headers, entries and hash-slot chains.
    Index(index::IndexArgs),
    /// Measure the disk, then put messages under each flush mode, body size and writer count;
    /// writes bench.json and bench.png.
    Bench(bench::BenchArgs),
    /// Write a demo store with the library, read it back and check every message.
    Demo(demo::DemoArgs),
    /// Check a store offline: records, CRCs, consume queues, index, checkpoint (exit 0 clean,
    /// 1 errors found, 2 unusable input).
    Verify(verify::VerifyArgs),
    /// Regenerate the consume queues, index and checkpoint from the commitlog.
    Rebuild(rebuild::RebuildArgs),
    /// Copy every valid record, including those after damage, into a new store.
    Salvage(salvage::SalvageArgs),
    /// Report upgrade hazards of one or more stores (one per broker) before an upgrade.
    Preflight(preflight::PreflightArgs),
    /// Run as a slave of a master's HA port and pull a copy of its commitlog into a store.
    Replicate(replicate::ReplicateArgs),
}

/// Store geometry, normally discovered from the lengths of the store's files.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct GeometryArgs {
    /// Commitlog segment size in bytes (mappedFileSizeCommitLog).
    #[arg(long, value_name = "BYTES", value_parser = args::parse_commitlog_size)]
    pub commitlog_size: Option<usize>,
    /// Consume-queue file size in bytes (mappedFileSizeConsumeQueue).
    #[arg(long, value_name = "BYTES", value_parser = args::parse_cq_size)]
    pub cq_size: Option<usize>,
    /// Hash slots per index file (maxHashSlotNum).
    #[arg(long, value_name = "N", value_parser = args::parse_hash_slots)]
    pub hash_slots: Option<u32>,
    /// Entries per index file (maxIndexNum).
    #[arg(long, value_name = "N", value_parser = args::parse_index_num)]
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
pub(crate) enum CliError {
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

pub(crate) type CliResult<T = ()> = Result<T, CliError>;

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
pub(crate) fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Bench(args) => bench::run(&args),
        Command::Cat(args) => cat::run(&args),
        Command::Cleanup(args) => cleanup::run(&args),
        Command::Stat(args) => stat::run(&args),
        Command::Topics(args) => topics::run(&args),
        Command::Msg(args) => msg::run(&args),
        Command::Consumers(args) => consumers::run(&args),
        Command::Cq(args) => cq::run(&args),
        Command::Index(args) => index::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Rebuild(args) => rebuild::run(&args),
        Command::Salvage(args) => salvage::run(&args),
        Command::Preflight(args) => preflight::run(&args),
        Command::Replicate(args) => replicate::run(&args),
    };
    let result = left_out::fail_if_any(result);
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

/// A warning on stderr (one line); the command goes on.
fn warn(msg: &str) {
    let _ = writeln!(io::stderr().lock(), "rmqstore: warning: {}", one_line(msg));
}

/// Keeps an error message on one line.
fn one_line(msg: &str) -> String {
    msg.split(['\n', '\r'])
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// A flag set by Ctrl-C (SIGINT) or SIGTERM once [`interrupt_flag`] installed the handler, so
/// long-running commands stop and remove their partial output.
pub(crate) fn interrupt_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, OnceLock};
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    extern "C" fn on_signal(_: libc::c_int) {
        if let Some(f) = FLAG.get() {
            f.store(true, Ordering::SeqCst);
        }
    }
    FLAG.get_or_init(|| {
        let handler = on_signal as extern "C" fn(libc::c_int);
        // SAFETY: the handler only performs an atomic load and store, which are
        // async-signal-safe; `signal` is called with a valid function pointer.
        unsafe {
            libc::signal(libc::SIGINT, handler as libc::sighandler_t);
            libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
        }
        Arc::new(AtomicBool::new(false))
    })
    .clone()
}

/// A buffered stdout.
fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Walks clap's command tree: every argument of every command (and the commands
    /// themselves) has help text.
    #[test]
    fn every_argument_and_command_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, bare: &mut Vec<String>, n: &mut usize) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                *n += 1;
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    bare.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let p = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    bare.push(p.clone());
                }
                walk(sub, &p, bare, n);
            }
        }
        let (mut bare, mut n) = (Vec::new(), 0);
        walk(&super::Cli::command(), "rmqstore", &mut bare, &mut n);
        assert!(n > 50, "only {n} arguments seen");
        assert!(bare.is_empty(), "without help: {bare:#?}");
    }
}
