//! `rmqstore bench [--out DIR]`: honest numbers for choosing a flush mode.
//!
//! First measures the disk under the bench's temp folder (sequential write bandwidth with a
//! closing fdatasync; fdatasync latency after a 4 KiB write), then runs a real
//! [`MessageStore`] through a matrix of flush mode (ASYNC_FLUSH, SYNC_FLUSH, transient store
//! pool) x body size (128 B, 1 KiB, 4 KiB) x writer threads (1, 4; SYNC_FLUSH also 16 and 64),
//! each cell in a fresh store that is removed afterwards. Every put is timed into a log-linear
//! histogram. Writes `bench.json` and `bench.png` into the output folder, and with `--doc FILE`
//! replaces the generated section of a Markdown file (docs/performance.md).

mod disk;
mod histogram;
mod java;
mod plot;
mod read;

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use clap::Args;
use serde::{Deserialize, Serialize};

use super::{CliError, CliResult};
use crate::config::StoreConfig;
use crate::format::properties;
use crate::message::Message;
use crate::store::PutMessageStatus;
use crate::MessageStore;

pub use disk::DiskProbe;
pub use histogram::Histogram;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Folder for bench.json and bench.png (created if missing; existing files are replaced).
    #[arg(long, value_name = "DIR", default_value = "bench-out")]
    pub out: PathBuf,
    /// A shorter run (about 1 s per cell, a smaller disk probe) that finishes in under a minute.
    #[arg(long)]
    pub quick: bool,
    /// The smallest run, for CI: one cell per mode, a few thousand messages, 4 MiB segments.
    #[arg(long, conflicts_with = "quick")]
    pub smoke: bool,
    /// Commitlog segment size in bytes (default 1 GiB; 4 MiB with --smoke).
    #[arg(long, value_name = "BYTES")]
    pub segment_size: Option<usize>,
    /// Seconds of puts per cell (default 5; 1 with --quick).
    #[arg(long, value_name = "SECS")]
    pub seconds: Option<f64>,
    /// Where to create the temporary stores (default: the system temp dir). Put it on the disk
    /// you want to measure; it is removed afterwards.
    #[arg(long, value_name = "DIR")]
    pub store_dir: Option<PathBuf>,
    /// Run only these flush modes (async, transient, sync; comma-separated).
    #[arg(long, value_name = "MODES", value_delimiter = ',', value_parser = ["async", "transient", "sync"])]
    pub mode: Vec<String>,
    /// Run only these body sizes in bytes (comma-separated; the default matrix has 128, 1024,
    /// 4096; other sizes replace them).
    #[arg(long, value_name = "BYTES", value_delimiter = ',')]
    pub body: Vec<usize>,
    /// Run only these writer-thread counts (comma-separated; other counts replace the matrix's).
    #[arg(long, value_name = "N", value_delimiter = ',')]
    pub threads: Vec<usize>,
    /// Replace the text between `<!-- bench:begin -->` and `<!-- bench:end -->` in this
    /// Markdown file with the machine, disk and results tables.
    #[arg(long, value_name = "FILE")]
    pub doc: Option<PathBuf>,
    /// Run only these sections (write, read, mixed; comma-separated; default all). `read` is
    /// get by queue offset from hot pages and behind the writer; `mixed` is producers,
    /// consumers, an HA slave and retention at once.
    #[arg(long, value_name = "SECTIONS", value_delimiter = ',', value_parser = ["write", "read", "mixed"])]
    pub only: Vec<String>,
    /// After each write and read cell, run Apache RocketMQ's own store (Java, through the
    /// interop drivers) on the same cell, and write its numbers and the ratios into bench.json,
    /// the plot and the Markdown (`--doc` then fills `<!-- bench-vs-java:begin/end -->`).
    /// Needs java and Maven (or --java-classpath).
    #[arg(long)]
    pub vs_java: bool,
    /// The Java store's release: an interop module (4.6.0, 4.9.8, 5.3.3).
    #[arg(
        long,
        value_name = "VERSION",
        default_value = "4.6.0",
        requires = "vs_java"
    )]
    pub java_version: String,
    /// The interop Maven project (default: `interop/` of the current folder or a parent, or
    /// of the source tree rmqstore was built from); built with `mvn package`.
    #[arg(long, value_name = "DIR", requires = "vs_java")]
    pub interop: Option<PathBuf>,
    /// The Java class path to use instead of building the interop project.
    #[arg(long, value_name = "CP", requires = "vs_java")]
    pub java_classpath: Option<String>,
    /// Seconds of unmeasured warm-up in each Java cell before its measured phase.
    #[arg(long, value_name = "SECS", default_value_t = 1.0, requires = "vs_java")]
    pub java_warmup: f64,
}

/// The flush modes an operator chooses between.
pub use crate::config::FlushMode as Mode;

/// The store config of a cell: `mode` with segments of `segment_size`.
fn cell_config(mode: Mode, root: &Path, segment_size: usize) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = segment_size;
    mode.apply(&mut c);
    c
}

/// How big a run is.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub level: &'static str,
    pub segment_size: usize,
    pub seconds_per_cell: f64,
    /// Per cell, at most this many messages (all threads together).
    pub max_messages_per_cell: u64,
    /// Per cell, stop once the commitlog grew by this many bytes (keeps the disk from filling).
    pub max_bytes_per_cell: u64,
    pub disk_probe_mib: usize,
    pub disk_sync_samples: usize,
    pub queues: i32,
    #[serde(skip)]
    pub cells: Vec<(Mode, usize, usize)>,
    /// SYNC_FLUSH with pipelined puts: (body size, puts in flight), one producer thread.
    #[serde(skip)]
    pub pipelined: Vec<(usize, usize)>,
}

impl Plan {
    pub fn from_args(a: &BenchArgs) -> Plan {
        let full_matrix = || {
            let mut v = Vec::new();
            for mode in [Mode::Async, Mode::Transient, Mode::Sync] {
                for size in [128usize, 1024, 4096] {
                    let threads: &[usize] = if mode == Mode::Sync {
                        &[1, 4, 16, 64]
                    } else {
                        &[1, 4]
                    };
                    for &t in threads {
                        v.push((mode, size, t));
                    }
                }
            }
            v
        };
        let mut p = if a.smoke {
            Plan {
                level: "smoke",
                segment_size: 4 << 20,
                seconds_per_cell: 30.0,
                max_messages_per_cell: 3000,
                max_bytes_per_cell: u64::MAX,
                disk_probe_mib: 8,
                disk_sync_samples: 20,
                queues: 4,
                cells: vec![
                    (Mode::Async, 128, 1),
                    (Mode::Transient, 128, 1),
                    (Mode::Sync, 128, 4),
                ],
                pipelined: vec![(128, 16)],
            }
        } else if a.quick {
            Plan {
                level: "quick",
                segment_size: 1 << 30,
                seconds_per_cell: 1.0,
                max_messages_per_cell: u64::MAX,
                max_bytes_per_cell: 512 << 20,
                disk_probe_mib: 256,
                disk_sync_samples: 200,
                queues: 4,
                cells: full_matrix(),
                pipelined: vec![
                    (128, PIPELINE_DEPTH),
                    (1024, PIPELINE_DEPTH),
                    (4096, PIPELINE_DEPTH),
                ],
            }
        } else {
            Plan {
                level: "full",
                segment_size: 1 << 30,
                seconds_per_cell: 5.0,
                max_messages_per_cell: u64::MAX,
                max_bytes_per_cell: 4 << 30,
                disk_probe_mib: 1024,
                disk_sync_samples: 1000,
                queues: 4,
                cells: full_matrix(),
                pipelined: vec![
                    (128, PIPELINE_DEPTH),
                    (1024, PIPELINE_DEPTH),
                    (4096, PIPELINE_DEPTH),
                ],
            }
        };
        if let Some(s) = a.segment_size {
            p.segment_size = s;
        }
        if let Some(s) = a.seconds {
            p.seconds_per_cell = s;
        }
        if !a.mode.is_empty() {
            p.cells
                .retain(|(m, _, _)| a.mode.iter().any(|x| x == m.name()));
            if !a.mode.iter().any(|x| x == Mode::Sync.name()) {
                p.pipelined.clear();
            }
        }
        if !a.body.is_empty() {
            let depth = p.pipelined.first().map(|x| x.1);
            p.pipelined = depth
                .map(|d| a.body.iter().map(|&b| (b, d)).collect())
                .unwrap_or_default();
        }
        if !a.threads.is_empty() {
            // Asking for particular writer counts asks for the matrix cells only.
            p.pipelined.clear();
        }
        if !a.body.is_empty() || !a.threads.is_empty() {
            let modes: Vec<Mode> = p.cells.iter().fold(Vec::new(), |mut v, c| {
                if !v.contains(&c.0) {
                    v.push(c.0);
                }
                v
            });
            let mut cells = Vec::new();
            for m in modes {
                let sizes: Vec<usize> = if a.body.is_empty() {
                    p.cells
                        .iter()
                        .filter(|c| c.0 == m)
                        .map(|c| c.1)
                        .fold(Vec::new(), |mut v, x| {
                            if !v.contains(&x) {
                                v.push(x);
                            }
                            v
                        })
                } else {
                    a.body.clone()
                };
                for s in sizes {
                    let threads: Vec<usize> = if a.threads.is_empty() {
                        p.cells
                            .iter()
                            .filter(|c| c.0 == m && c.1 == s)
                            .map(|c| c.2)
                            .collect()
                    } else {
                        a.threads.clone()
                    };
                    for t in threads {
                        cells.push((m, s, t));
                    }
                }
            }
            p.cells = cells;
        }
        p
    }
}

/// The machine the numbers come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub mem_total_bytes: u64,
    pub kernel: String,
    pub store_dir: String,
    pub fs_type: String,
    /// /proc/loadavg before and after the run: a busy machine shows here.
    pub loadavg_before: String,
    pub loadavg_after: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DispatchLag {
    /// Messages put but not yet in a consume queue when the last put returned.
    pub messages_behind: u64,
    /// Time from the last put until every message was in its consume queue.
    pub catch_up_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    pub mode: &'static str,
    pub body_size: usize,
    pub threads: usize,
    pub messages: u64,
    /// Puts that returned something other than PUT_OK (e.g. FLUSH_DISK_TIMEOUT).
    pub not_ok: u64,
    pub seconds: f64,
    pub msgs_per_s: f64,
    /// Commitlog bytes (whole records) per second.
    pub mb_per_s: f64,
    /// Body bytes per second.
    pub body_mb_per_s: f64,
    /// mb_per_s as a percentage of the disk's sequential write bandwidth.
    pub pct_of_disk_bw: f64,
    pub record_bytes: f64,
    pub latency_us: LatencyUs,
    /// SYNC_FLUSH: the disk's fdatasync p50, measured right before this cell (µs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fdatasync_p50_before_us: Option<f64>,
    /// SYNC_FLUSH: put p50 over `fdatasync_p50_before_us` (a put waits for at least one sync).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_over_fdatasync_p50: Option<f64>,
    pub dispatch_lag: DispatchLag,
    pub open_ms: f64,
    /// Clean shutdown, including the final flush of everything written.
    pub shutdown_ms: f64,
    /// `--vs-java`: the Java store's run of the same cell, right after this one (else null).
    pub java: Option<java::JavaPut>,
    /// `--vs-java`: rmqstore over Java (else null).
    pub ratio: Option<java::Ratio>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyUs {
    /// Puts timed (every put is).
    pub samples: u64,
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LatencyUs {
    /// From a histogram of nanoseconds.
    fn from_nanos(h: &Histogram) -> LatencyUs {
        let us = |v: u64| v as f64 / 1000.0;
        LatencyUs {
            samples: h.count(),
            mean: h.mean() / 1000.0,
            p50: us(h.quantile(0.5)),
            p99: us(h.quantile(0.99)),
            p999: us(h.quantile(0.999)),
            max: us(h.max()),
        }
    }
}

/// The `schema` of bench.json (docs/schemas/bench.schema.json). Version 2 added `schema`,
/// the Java side (`java`, each cell's `java` and `ratio`) and the read cells' `filter`.
pub const SCHEMA: &str = "rmqstore.bench/2";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub tool: String,
    pub unix_time: u64,
    pub plan: Plan,
    pub machine: Machine,
    pub disk: DiskProbe,
    pub cells: Vec<CellResult>,
    /// SYNC_FLUSH, one producer thread keeping puts in flight with `put_message_with_callback`.
    pub pipelined: Vec<PipelinedResult>,
    /// The read and mixed sections' plan (None when neither ran).
    pub read_plan: Option<read::ReadPlan>,
    pub reads: Vec<read::ReadResult>,
    pub mixed: Vec<read::MixedResult>,
    /// `--vs-java`: which Java store ran beside rmqstore, and how (else null).
    pub java: Option<java::JavaInfo>,
}

/// SYNC_FLUSH with pipelined puts: one thread keeps `in_flight` puts outstanding through
/// `put_message_with_callback`, as a broker acknowledging producers asynchronously does; the
/// latency is from the put call to its callback (the message durable).
#[derive(Debug, Clone, Serialize)]
pub struct PipelinedResult {
    pub body_size: usize,
    pub in_flight: usize,
    pub messages: u64,
    pub not_ok: u64,
    pub seconds: f64,
    pub msgs_per_s: f64,
    pub mb_per_s: f64,
    pub latency_us: LatencyUs,
    pub fdatasync_p50_before_us: f64,
}

/// Puts in flight in the pipelined SYNC_FLUSH runs.
const PIPELINE_DEPTH: usize = 64;

/// Removes the temp folder however the bench ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub fn run(args: &BenchArgs) -> CliResult {
    let section = |s: &str| args.only.is_empty() || args.only.iter().any(|x| x == s);
    let mut plan = Plan::from_args(args);
    if !section("write") {
        plan.cells.clear();
        plan.pipelined.clear();
    }
    if plan.segment_size < 64 * 1024 {
        return Err(CliError::Input(format!(
            "--segment-size {} is too small (at least 65536)",
            plan.segment_size
        )));
    }
    if plan.cells.is_empty() && section("write") {
        return Err(CliError::Input("no bench cell left to run".into()));
    }
    if plan.cells.iter().any(|c| c.2 == 0) {
        return Err(CliError::Input("--threads must be at least 1".into()));
    }
    if plan.seconds_per_cell.is_nan() || plan.seconds_per_cell <= 0.0 {
        return Err(CliError::Input("--seconds must be positive".into()));
    }
    if let Some(doc) = &args.doc {
        // Refuse a file without the markers before measuring anything.
        doc_section(doc, markers(args.vs_java))?;
    }
    if args.java_warmup.is_nan() || args.java_warmup < 0.0 {
        return Err(CliError::Input("--java-warmup must be 0 or more".into()));
    }
    // Java is found (and the interop project built) before anything is measured.
    let mut java = if args.vs_java {
        Some(java::JavaRunner::locate(
            args.java_classpath.as_deref(),
            args.interop.as_deref(),
            &args.java_version,
            args.java_warmup,
        )?)
    } else {
        None
    };
    fs::create_dir_all(&args.out)
        .map_err(|e| CliError::Input(format!("{}: {e}", args.out.display())))?;
    let base = args.store_dir.clone().unwrap_or_else(std::env::temp_dir);
    let tmp = base.join(format!(
        "rmqstore-bench-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    ));
    fs::create_dir_all(&tmp).map_err(|e| CliError::Input(format!("{}: {e}", tmp.display())))?;
    let tmp = TempDir(tmp);
    let mut out = super::stdout();
    let loadavg_before = loadavg();
    writeln!(
        out,
        "rmqstore bench ({}): stores under {}",
        plan.level,
        tmp.0.display()
    )?;
    out.flush()?;

    let disk = disk::probe(&tmp.0, plan.disk_probe_mib, plan.disk_sync_samples)
        .map_err(|e| CliError::Input(format!("disk probe in {}: {e}", tmp.0.display())))?;
    writeln!(
        out,
        "disk: sequential write {:.0} MB/s ({} MiB + fdatasync); fdatasync after a 4 KiB write: \
         p50 {:.0} us, p99 {:.0} us (preallocated), p50 {:.0} us, p99 {:.0} us (appending)",
        disk.seq_write_bytes_per_s / 1e6,
        plan.disk_probe_mib,
        disk.fdatasync_prealloc_us.p50,
        disk.fdatasync_prealloc_us.p99,
        disk.fdatasync_append_us.p50,
        disk.fdatasync_append_us.p99,
    )?;
    writeln!(
        out,
        "{:<9} {:>5} {:>3} {:>9} {:>10} {:>8} {:>6} {:>9} {:>9} {:>9} {:>8} {:>9}",
        "mode",
        "body",
        "thr",
        "messages",
        "msg/s",
        "MB/s",
        "%disk",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "lag msg",
        "catch-up"
    )?;
    out.flush()?;

    let mut cells = Vec::new();
    for (i, &(mode, size, threads)) in plan.cells.iter().enumerate() {
        let root = tmp
            .0
            .join(format!("cell-{i}-{}-{size}-{threads}", mode.name()));
        let mut r = run_cell(&root, mode, size, threads, &plan, &disk)?;
        let _ = fs::remove_dir_all(&root);
        if let Some(j) = java.as_mut() {
            let jroot = tmp
                .0
                .join(format!("java-cell-{i}-{}-{size}-{threads}", mode.name()));
            let jr = java_cell(j, &jroot, mode, size, threads, &plan);
            let _ = fs::remove_dir_all(&jroot);
            let jr = jr?;
            r.ratio = Some(java::Ratio::new(
                r.msgs_per_s,
                jr.msgs_per_s,
                r.latency_us.p99,
                jr.latency_us.p99,
            ));
            r.java = Some(jr);
        }
        writeln!(
            out,
            "{:<9} {:>5} {:>3} {:>9} {:>10.0} {:>8.1} {:>5.1}% {:>9.1} {:>9.1} {:>9.1} {:>8} {:>7.1}ms",
            r.mode,
            r.body_size,
            r.threads,
            r.messages,
            r.msgs_per_s,
            r.mb_per_s,
            r.pct_of_disk_bw,
            r.latency_us.p50,
            r.latency_us.p99,
            r.latency_us.p999,
            r.dispatch_lag.messages_behind,
            r.dispatch_lag.catch_up_ms,
        )?;
        if let (Some(x), Some(f)) = (r.p50_over_fdatasync_p50, r.fdatasync_p50_before_us) {
            writeln!(
                out,
                "{:>19} put p50 = {x:.2} x the disk's fdatasync p50 of {f:.1} us just before",
                ""
            )?;
        }
        if let (Some(j), Some(x)) = (&r.java, &r.ratio) {
            writeln!(
                out,
                "{:<9} {:>5} {:>3} {:>9} {:>10.0} {:>8.1} {:>6} {:>9.1} {:>9.1} {:>9.1}   rmqstore = {:.2}x Java's msg/s, Java p99 = {:.2}x rmqstore's",
                "  java",
                r.body_size,
                r.threads,
                j.messages,
                j.msgs_per_s,
                j.mb_per_s,
                "",
                j.latency_us.p50,
                j.latency_us.p99,
                j.latency_us.p999,
                x.throughput,
                x.p99,
            )?;
        }
        out.flush()?;
        cells.push(r);
    }
    let mut pipelined = Vec::new();
    for (i, &(size, depth)) in plan.pipelined.iter().enumerate() {
        let root = tmp.0.join(format!("pipelined-{i}-{size}-{depth}"));
        let r = run_pipelined(&root, size, depth, &plan)?;
        let _ = fs::remove_dir_all(&root);
        writeln!(
            out,
            "{:<9} {:>5} {:>3} {:>9} {:>10.0} {:>8.1} {:>6} {:>9.1} {:>9.1} {:>9.1}   (one thread, {} puts in flight; latency put -> callback)",
            "sync-pipe",
            r.body_size,
            1,
            r.messages,
            r.msgs_per_s,
            r.mb_per_s,
            "",
            r.latency_us.p50,
            r.latency_us.p99,
            r.latency_us.p999,
            r.in_flight,
        )?;
        out.flush()?;
        pipelined.push(r);
    }
    let read_plan = (section("read") || section("mixed"))
        .then(|| read::ReadPlan::for_level(plan.level, args.seconds));
    let (mut reads, mut mixed) = (Vec::new(), Vec::new());
    if let Some(rp) = &read_plan {
        if section("read") {
            writeln!(out, "{}", read::text_header())?;
            out.flush()?;
            for (name, f) in [
                (
                    "read-hot",
                    read::run_hot as fn(&Path, &read::ReadPlan, Option<&mut java::JavaRunner>) -> _,
                ),
                ("read-behind", read::run_behind),
            ] {
                let root = tmp.0.join(name);
                let rows = f(&root, rp, java.as_mut())?;
                let _ = fs::remove_dir_all(&root);
                for r in rows {
                    writeln!(out, "{}", read::text_row(&r))?;
                    if let Some(t) = read::java_text_row(&r) {
                        writeln!(out, "{t}")?;
                    }
                    reads.push(r);
                }
                out.flush()?;
            }
        }
        if section("mixed") {
            let root = tmp.0.join("mixed");
            let m = read::run_mixed(&root, rp)?;
            let _ = fs::remove_dir_all(&root);
            writeln!(out, "{}", read::mixed_text(&m))?;
            out.flush()?;
            mixed.push(m);
        }
    }
    drop(tmp);

    let machine = machine_info(&base, loadavg_before);
    let report = Report {
        schema: SCHEMA,
        tool: format!("rmqstore {}", env!("CARGO_PKG_VERSION")),
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        plan,
        machine,
        disk,
        cells,
        pipelined,
        read_plan,
        reads,
        mixed,
        java: java.map(|j| j.info),
    };
    let json_path = args.out.join("bench.json");
    let json = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
    fs::write(&json_path, json + "\n")
        .map_err(|e| CliError::Input(format!("{}: {e}", json_path.display())))?;
    let png_path = args.out.join("bench.png");
    let plot_cells: Vec<plot::PlotCell> = report
        .cells
        .iter()
        .map(|c| plot::PlotCell {
            mode: c.mode.to_string(),
            body_size: c.body_size,
            threads: c.threads,
            msgs_per_s: c.msgs_per_s,
            p99_us: c.latency_us.p99,
            bytes_per_msg: c.record_bytes,
            in_flight: None,
        })
        .chain(report.pipelined.iter().map(|p| plot::PlotCell {
            mode: "sync".into(),
            body_size: p.body_size,
            threads: 1,
            msgs_per_s: p.msgs_per_s,
            p99_us: p.latency_us.p99,
            bytes_per_msg: 0.0,
            in_flight: Some(p.in_flight),
        }))
        .collect();
    let info = plot::PlotInfo {
        title: format!(
            "rmqstore bench ({}): {} CPUs, {}, disk {:.0} MB/s",
            report.plan.level,
            report.machine.nproc,
            report.machine.fs_type,
            report.disk.seq_write_bytes_per_s / 1e6
        ),
        disk_bytes_per_s: report.disk.seq_write_bytes_per_s,
        fsync_p99_us: report.disk.fdatasync_prealloc_us.p99,
    };
    let svg_path = png_path.with_extension("svg");
    plot::write_plot(&png_path, &svg_path, &plot_cells, &info)
        .map_err(|e| CliError::Input(format!("{}: {e}", png_path.display())))?;
    writeln!(
        out,
        "wrote {}, {} and {}",
        json_path.display(),
        png_path.display(),
        svg_path.display()
    )?;
    if report.java.is_some() {
        let rows = vs_rows(&report);
        let vs_png = args.out.join("bench-vs-java.png");
        let vs_svg = vs_png.with_extension("svg");
        let title = format!(
            "rmqstore vs Java {} ({} run, same cells, one run): msg/s, ratio above each pair",
            report
                .java
                .as_ref()
                .map(|j| j.version.as_str())
                .unwrap_or(""),
            report.plan.level
        );
        plot::write_vs_plot(&vs_png, &vs_svg, &rows, &title)
            .map_err(|e| CliError::Input(format!("{}: {e}", vs_png.display())))?;
        writeln!(out, "wrote {} and {}", vs_png.display(), vs_svg.display())?;
    }
    if let Some(doc) = &args.doc {
        let png = if report.java.is_some() {
            args.out.join("bench-vs-java.png")
        } else {
            png_path.clone()
        };
        update_doc(doc, &report, &png)?;
        writeln!(out, "updated {}", doc.display())?;
    }
    out.flush()?;
    Ok(())
}

/// A message as a producer sends it: TAGS, KEYS, UNIQ_KEY and WAIT, each put with its own keys.
/// The properties string is rewritten in place, without allocating, so the harness costs little
/// next to the put it measures.
fn fill_message(msg: &mut Message, thread: usize, n: u64, queues: i32) {
    msg.queue_id = ((thread as u64 + n) % queues as u64) as i32;
    let p = &mut msg.properties;
    p.clear();
    p.push_str(properties::KEYS);
    p.push('\u{1}');
    p.push_str("order-");
    push_decimal(p, thread as u64);
    p.push('-');
    push_decimal(p, n);
    p.push('\u{2}');
    p.push_str(properties::UNIQ_KEY);
    p.push_str("\u{1}7F0000011234");
    push_hex(p, thread as u64, 8);
    push_hex(p, n, 16);
    p.push('\u{2}');
    p.push_str(properties::WAIT);
    p.push_str("\u{1}true\u{2}");
    p.push_str(properties::TAGS);
    p.push_str("\u{1}TagA\u{2}");
    msg.born_timestamp = 1_700_000_000_000 + n as i64;
}

fn push_decimal(s: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf[i..].iter().for_each(|&b| s.push(b as char));
}

fn push_hex(s: &mut String, v: u64, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for k in (0..digits).rev() {
        s.push(HEX[((v >> (4 * k)) & 0xF) as usize] as char);
    }
}

/// One put in this many has its latency timed (reading the clock twice per put would cost a
/// tenth of a fast put); throughput counts every put.
const LATENCY_SAMPLE_EVERY: u64 = 4;

/// One pipelined SYNC_FLUSH run: this thread puts with `put_message_with_callback`, keeping at
/// most `depth` puts whose callback has not run yet.
fn run_pipelined(
    root: &Path,
    size: usize,
    depth: usize,
    plan: &Plan,
) -> CliResult<PipelinedResult> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let fdatasync_p50_before_us = disk::fdatasync_prealloc(
        root.parent().unwrap_or(root),
        "pipelined-fdatasync-probe",
        (plan.disk_sync_samples / 2).max(100),
    )
    .map(|h| h.quantile(0.5) as f64 / 1000.0)
    .map_err(|e| CliError::Failed(format!("fdatasync probe: {e}")))?;
    let store = MessageStore::open(cell_config(Mode::Sync, root, plan.segment_size))?;
    let start_offset = store.max_phy_offset();
    let done = Arc::new(AtomicU64::new(0));
    let not_ok = Arc::new(AtomicU64::new(0));
    let hist = Arc::new(parking_lot::Mutex::new(Histogram::new()));
    let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let mut msg = Message::new("BenchTopic", 0, body);
    let duration = Duration::from_secs_f64(plan.seconds_per_cell);
    let start = Instant::now();
    let mut n = 0u64;
    while n < plan.max_messages_per_cell && start.elapsed() < duration {
        while n - done.load(Ordering::Acquire) >= depth as u64 {
            std::hint::spin_loop();
            std::thread::yield_now();
        }
        fill_message(&mut msg, 0, n, plan.queues);
        let (done, not_ok, hist) = (done.clone(), not_ok.clone(), hist.clone());
        let timed = n % LATENCY_SAMPLE_EVERY == 0;
        let t0 = Instant::now();
        store.put_message_with_callback(&msg, move |r| {
            if timed {
                hist.lock().record(t0.elapsed().as_nanos() as u64);
            }
            if r.status != PutMessageStatus::PutOk {
                not_ok.fetch_add(1, Ordering::Relaxed);
            }
            done.fetch_add(1, Ordering::AcqRel);
        })?;
        n += 1;
        if n % 256 == 0 && store.max_phy_offset() - start_offset >= plan.max_bytes_per_cell {
            break;
        }
    }
    let wait_until = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::Acquire) < n {
        if Instant::now() > wait_until {
            return Err(CliError::Failed(
                "pipelined puts: callbacks missing after 60 s".into(),
            ));
        }
        std::thread::yield_now();
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    let bytes = store.max_phy_offset() - start_offset;
    store.shutdown()?;
    let h = hist.lock();
    Ok(PipelinedResult {
        body_size: size,
        in_flight: depth,
        messages: n,
        not_ok: not_ok.load(Ordering::Relaxed),
        seconds,
        msgs_per_s: n as f64 / seconds,
        mb_per_s: bytes as f64 / seconds / 1e6,
        latency_us: LatencyUs::from_nanos(&h),
        fdatasync_p50_before_us,
    })
}

fn run_cell(
    root: &Path,
    mode: Mode,
    size: usize,
    threads: usize,
    plan: &Plan,
    disk: &DiskProbe,
) -> CliResult<CellResult> {
    // The disk as it is now, for SYNC_FLUSH's latency ratio (a short probe, ~20-50 ms).
    let fdatasync_p50_before_us = if mode == Mode::Sync {
        let h = disk::fdatasync_prealloc(
            root.parent().unwrap_or(root),
            "cell-fdatasync-probe",
            (plan.disk_sync_samples / 2).max(100),
        )
        .map_err(|e| CliError::Failed(format!("fdatasync probe: {e}")))?;
        Some(h.quantile(0.5) as f64 / 1000.0)
    } else {
        None
    };
    let config = cell_config(mode, root, plan.segment_size);
    let t_open = Instant::now();
    let store = Arc::new(MessageStore::open(config)?);
    let open_ms = t_open.elapsed().as_secs_f64() * 1e3;
    let start_offset = store.max_phy_offset();
    let barrier = Arc::new(Barrier::new(threads + 1));
    let per_thread_cap = (plan.max_messages_per_cell / threads as u64).max(1);
    let byte_cap = plan.max_bytes_per_cell;
    let duration = Duration::from_secs_f64(plan.seconds_per_cell);
    let mut handles = Vec::new();
    for t in 0..threads {
        let store = store.clone();
        let barrier = barrier.clone();
        let queues = plan.queues;
        let builder = std::thread::Builder::new().name(format!("bench-w{t}"));
        let spawned = builder.spawn(move || -> crate::Result<(Histogram, u64, u64, Instant)> {
            let body: Vec<u8> = (0..size).map(|i| b'a' + ((i + t) % 26) as u8).collect();
            let mut msg = Message::new("BenchTopic", 0, body);
            let mut hist = Histogram::new();
            let mut not_ok = 0u64;
            let mut n = 0u64;
            barrier.wait();
            let start = Instant::now();
            let deadline = start + duration;
            let mut now = start;
            while n < per_thread_cap && now < deadline {
                fill_message(&mut msg, t, n, queues);
                let r = if n % LATENCY_SAMPLE_EVERY == 0 {
                    let t0 = Instant::now();
                    let r = store.put_message(&msg)?;
                    now = Instant::now();
                    hist.record((now - t0).as_nanos() as u64);
                    r
                } else {
                    store.put_message(&msg)?
                };
                if r.status != PutMessageStatus::PutOk {
                    not_ok += 1;
                }
                n += 1;
                if n % 256 == 0 && store.max_phy_offset() - start_offset >= byte_cap {
                    break;
                }
            }
            Ok((hist, n, not_ok, now))
        });
        handles.push(spawned.map_err(|e| CliError::Failed(format!("cannot start a writer: {e}")))?);
    }
    barrier.wait();
    let start = Instant::now();
    let mut hist = Histogram::new();
    let mut messages = 0;
    let mut not_ok = 0;
    let mut end = start;
    for h in handles {
        let (th, n, bad, t_end) = h
            .join()
            .map_err(|_| CliError::Failed("a writer thread panicked".into()))??;
        hist.merge(&th);
        messages += n;
        not_ok += bad;
        end = end.max(t_end);
    }
    let seconds = (end - start).as_secs_f64().max(1e-9);
    // Dispatch lag: how far the consume queues trail the puts, and how long they take to
    // catch up (with the transient pool, records are dispatched when committed).
    let dispatched = |s: &MessageStore| -> u64 {
        (0..plan.queues)
            .map(|q| s.max_offset_in_queue("BenchTopic", q))
            .sum()
    };
    let behind = messages.saturating_sub(dispatched(&store));
    let t_lag = Instant::now();
    while dispatched(&store) < messages && t_lag.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_micros(200));
    }
    let catch_up_ms = if behind == 0 {
        0.0
    } else {
        t_lag.elapsed().as_secs_f64() * 1e3
    };
    let bytes = store.max_phy_offset() - start_offset;
    let store = Arc::try_unwrap(store)
        .map_err(|_| CliError::Failed("the store is still shared after the writers".into()))?;
    let t_close = Instant::now();
    store.shutdown()?;
    let shutdown_ms = t_close.elapsed().as_secs_f64() * 1e3;

    let latency_us = LatencyUs::from_nanos(&hist);
    let mb_per_s = bytes as f64 / seconds / 1e6;
    Ok(CellResult {
        mode: mode.name(),
        body_size: size,
        threads,
        messages,
        not_ok,
        seconds,
        msgs_per_s: messages as f64 / seconds,
        mb_per_s,
        body_mb_per_s: (messages * size as u64) as f64 / seconds / 1e6,
        pct_of_disk_bw: 100.0 * mb_per_s * 1e6 / disk.seq_write_bytes_per_s.max(1.0),
        record_bytes: if messages == 0 {
            0.0
        } else {
            bytes as f64 / messages as f64
        },
        p50_over_fdatasync_p50: fdatasync_p50_before_us
            .filter(|&p| p > 0.0)
            .map(|p| latency_us.p50 / p),
        fdatasync_p50_before_us,
        latency_us,
        dispatch_lag: DispatchLag {
            messages_behind: behind,
            catch_up_ms,
        },
        open_ms,
        shutdown_ms,
        java: None,
        ratio: None,
    })
}

/// Java's run of a put cell, in a fresh store under `root`; for SYNC_FLUSH with the same
/// fdatasync probe rmqstore's cell gets, right before it.
fn java_cell(
    j: &mut java::JavaRunner,
    root: &Path,
    mode: Mode,
    size: usize,
    threads: usize,
    plan: &Plan,
) -> CliResult<java::JavaPut> {
    let fdatasync_p50_before_us = if mode == Mode::Sync {
        let h = disk::fdatasync_prealloc(
            root.parent().unwrap_or(root),
            "java-fdatasync-probe",
            (plan.disk_sync_samples / 2).max(100),
        )
        .map_err(|e| CliError::Failed(format!("fdatasync probe: {e}")))?;
        Some(h.quantile(0.5) as f64 / 1000.0)
    } else {
        None
    };
    fs::create_dir_all(root).map_err(|e| CliError::Failed(format!("{}: {e}", root.display())))?;
    let mut r = j.put(
        root,
        mode == Mode::Sync,
        mode == Mode::Transient,
        size,
        threads,
        plan.seconds_per_cell,
        plan.max_messages_per_cell,
        plan.max_bytes_per_cell,
        plan.segment_size,
        plan.queues,
    )?;
    r.fdatasync_p50_before_us = fdatasync_p50_before_us;
    Ok(r)
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn machine_info(dir: &Path, loadavg_before: String) -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mem_total_bytes = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    Machine {
        nproc: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpu_model,
        mem_total_bytes,
        kernel,
        store_dir: dir.display().to_string(),
        fs_type: fs_type(dir),
        loadavg_before,
        loadavg_after: loadavg(),
    }
}

/// The file system type of `dir`, from its mount in /proc/self/mounts (longest prefix).
fn fs_type(dir: &Path) -> String {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut best: Option<(usize, String)> = None;
    for l in mounts.lines() {
        let mut f = l.split_whitespace();
        let (Some(_dev), Some(mnt), Some(ty)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if dir.starts_with(mnt) && best.as_ref().is_none_or(|(n, _)| mnt.len() > *n) {
            best = Some((mnt.len(), ty.to_string()));
        }
    }
    best.map(|b| b.1).unwrap_or_else(|| "unknown".into())
}

const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";
const VS_BEGIN: &str = "<!-- bench-vs-java:begin -->";
const VS_END: &str = "<!-- bench-vs-java:end -->";

/// The markers of the section `--doc` replaces.
fn markers(vs_java: bool) -> (&'static str, &'static str) {
    if vs_java {
        (VS_BEGIN, VS_END)
    } else {
        (BEGIN, END)
    }
}

/// The generated Markdown: machine, disk, and the results table.
pub fn markdown(r: &Report, png_link: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Generated by `rmqstore bench` ({} run) at unix time {}.",
        r.plan.level, r.unix_time
    );
    let _ = writeln!(s);
    machine_tables(r, &mut s);
    results_tables(r, &mut s);
    read::markdown(&r.reads, &r.mixed, &mut s);
    let _ = writeln!(s);
    let _ = writeln!(s, "![throughput and p99 per mode and size]({png_link})");
    s
}

fn machine_tables(r: &Report, s: &mut String) {
    let m = &r.machine;
    let _ = writeln!(s, "| machine | |");
    let _ = writeln!(s, "| --- | --- |");
    let _ = writeln!(s, "| CPUs | {} × {} |", m.nproc, m.cpu_model);
    let _ = writeln!(
        s,
        "| memory | {:.1} GiB |",
        m.mem_total_bytes as f64 / (1u64 << 30) as f64
    );
    let _ = writeln!(s, "| kernel | {} |", m.kernel);
    let _ = writeln!(s, "| store folder | `{}` ({}) |", m.store_dir, m.fs_type);
    let _ = writeln!(
        s,
        "| load average before / after | {} / {} |",
        m.loadavg_before, m.loadavg_after
    );
    let _ = writeln!(
        s,
        "| plan | {} s per cell, segments of {} MiB, {} queues |",
        r.plan.seconds_per_cell,
        r.plan.segment_size >> 20,
        r.plan.queues
    );
    let _ = writeln!(s);
    let d = &r.disk;
    let _ = writeln!(s, "| disk (same folder) | |");
    let _ = writeln!(s, "| --- | --- |");
    let _ = writeln!(
        s,
        "| sequential write, {} MiB + fdatasync | {:.0} MB/s |",
        d.seq_write_bytes >> 20,
        d.seq_write_bytes_per_s / 1e6
    );
    for (what, q) in [
        ("preallocated file", &d.fdatasync_prealloc_us),
        ("appending", &d.fdatasync_append_us),
    ] {
        let _ = writeln!(
            s,
            "| fdatasync after a {} B write, {} ({} samples) | p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs |",
            d.sync_write_size, what, d.sync_samples, q.p50, q.p99, q.p999
        );
    }
    let _ = writeln!(s);
}

fn results_tables(r: &Report, s: &mut String) {
    let _ = writeln!(
        s,
        "| mode | body | writers | msg/s | MB/s | % of disk | p50 µs | p99 µs | p99.9 µs | p50 / fdatasync p50 | dispatch lag (msgs) | catch-up ms |"
    );
    let _ = writeln!(
        s,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for c in &r.cells {
        let ratio = match (c.p50_over_fdatasync_p50, c.fdatasync_p50_before_us) {
            (Some(x), Some(f)) => format!("{x:.2} (of {f:.0} µs)"),
            _ => "".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {:.1} |",
            c.mode,
            c.body_size,
            c.threads,
            c.msgs_per_s,
            c.mb_per_s,
            c.pct_of_disk_bw,
            c.latency_us.p50,
            c.latency_us.p99,
            c.latency_us.p999,
            ratio,
            c.dispatch_lag.messages_behind,
            c.dispatch_lag.catch_up_ms
        );
    }
    if !r.pipelined.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "SYNC_FLUSH with pipelined puts: one thread keeps puts in flight with \
             `put_message_with_callback` (as a broker acknowledging producers asynchronously \
             does); latency is from the put call to its callback, i.e. until the message is durable."
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| body | in flight | msg/s | MB/s | p50 µs | p99 µs | p99.9 µs | fdatasync p50 just before µs |"
        );
        let _ = writeln!(
            s,
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for p in &r.pipelined {
            let _ = writeln!(
                s,
                "| {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
                p.body_size,
                p.in_flight,
                p.msgs_per_s,
                p.mb_per_s,
                p.latency_us.p50,
                p.latency_us.p99,
                p.latency_us.p999,
                p.fdatasync_p50_before_us
            );
        }
    }
}

/// A write cell's name in the side-by-side table and plot.
fn cell_name(c: &CellResult) -> String {
    let s = if c.threads == 1 { "" } else { "s" };
    format!(
        "{} {} B, {} writer{s}",
        c.mode.to_uppercase(),
        c.body_size,
        c.threads
    )
}

/// Issue 18's target for a write cell, and whether this run met it.
fn write_target(c: &CellResult) -> String {
    let (Some(j), Some(x)) = (&c.java, &c.ratio) else {
        return String::new();
    };
    let met = |ok: bool| if ok { "met" } else { "**missed**" };
    match c.mode {
        "sync" if c.threads >= 64 => format!(
            "≥10x and p99 < 5 ms: {} ({:.1}x, p99 {:.2} ms)",
            met(x.throughput >= 10.0 && c.latency_us.p99 < 5000.0),
            x.throughput,
            c.latency_us.p99 / 1e3
        ),
        "sync" if c.threads == 1 => match c.p50_over_fdatasync_p50 {
            Some(p) => format!("p50 ≤ 1.25x one fdatasync: {} ({p:.2}x)", met(p <= 1.25)),
            None => String::new(),
        },
        "sync" => String::new(),
        _ => {
            let _ = j;
            format!("≥5x: {} ({:.1}x)", met(x.throughput >= 5.0), x.throughput)
        }
    }
}

/// The `--vs-java` Markdown: machine, disk, the Java store used, and one table per section
/// with Java and rmqstore side by side (one run, cell after cell).
pub fn vs_markdown(r: &Report, png_link: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Generated by `rmqstore bench --vs-java` ({} run) at unix time {}: for every cell \
         rmqstore ran, then Java's store on the same cell, on the same disk.",
        r.plan.level, r.unix_time
    );
    let _ = writeln!(s);
    machine_tables(r, &mut s);
    if let Some(j) = &r.java {
        let _ = writeln!(
            s,
            "Java: Apache RocketMQ `rocketmq-store` {} (interop module `{}`), {}, flags `{}`; \
             each Java cell is one JVM with {} s of unmeasured warm-up before it is measured.",
            j.version,
            j.module,
            j.jvm,
            j.jvm_flags.join(" "),
            j.warmup_seconds
        );
        let _ = writeln!(s);
    }
    if r.cells.iter().any(|c| c.java.is_some()) {
        let _ = writeln!(
            s,
            "| cell | Java msg/s | rmqstore msg/s | ratio | Java p99 µs | rmqstore p99 µs | \
             fdatasync p50 µs before (rmqstore / Java) | issue 18 target |"
        );
        let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        for c in &r.cells {
            let (Some(j), Some(x)) = (&c.java, &c.ratio) else {
                continue;
            };
            let fsync = match (c.fdatasync_p50_before_us, j.fdatasync_p50_before_us) {
                (Some(a), Some(b)) => format!("{a:.0} / {b:.0}"),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "| {} | {:.0} | {:.0} | {:.2}x | {:.1} | {:.1} | {} | {} |",
                cell_name(c),
                j.msgs_per_s,
                c.msgs_per_s,
                x.throughput,
                j.latency_us.p99,
                c.latency_us.p99,
                fsync,
                write_target(c)
            );
        }
    }
    read::vs_markdown(&r.reads, &mut s);
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "![Java and rmqstore per cell, with the ratio]({png_link})"
    );
    s
}

/// The bars of the side-by-side plot: one pair per cell that has a Java run.
fn vs_rows(r: &Report) -> Vec<plot::VsRow> {
    let writes = r.cells.iter().filter_map(|c| {
        c.java.as_ref().map(|j| plot::VsRow {
            label: format!("{} {}{} ×{}", c.mode, c.body_size, "B", c.threads),
            java: j.msgs_per_s,
            rmqstore: c.msgs_per_s,
        })
    });
    let reads = r.reads.iter().filter_map(|c| {
        c.java.as_ref().map(|j| plot::VsRow {
            label: format!("get {} {} ×{}", c.place, c.filter, c.threads),
            java: j.msgs_per_s,
            rmqstore: c.msgs_per_s,
        })
    });
    writes.chain(reads).collect()
}

/// The file's text and where its generated section begins and ends.
fn doc_section(
    doc: &Path,
    (begin, end): (&'static str, &'static str),
) -> CliResult<(String, usize, usize)> {
    let text =
        fs::read_to_string(doc).map_err(|e| CliError::Input(format!("{}: {e}", doc.display())))?;
    let (Some(b), Some(e)) = (text.find(begin), text.find(end)) else {
        return Err(CliError::Input(format!(
            "{}: no `{begin}` ... `{end}` section to replace",
            doc.display()
        )));
    };
    if e < b {
        return Err(CliError::Input(format!(
            "{}: `{end}` comes before `{begin}`",
            doc.display()
        )));
    }
    Ok((text, b, e))
}

fn update_doc(doc: &Path, r: &Report, png: &Path) -> CliResult {
    let vs = r.java.is_some();
    let (begin, _) = markers(vs);
    let (text, b, e) = doc_section(doc, markers(vs))?;
    let body = if vs {
        vs_markdown(r, &png_link(doc, png))
    } else {
        markdown(r, &png_link(doc, png))
    };
    let new = format!("{}{begin}\n{}{}", &text[..b], body, &text[e..]);
    fs::write(doc, new).map_err(|e| CliError::Input(format!("{}: {e}", doc.display())))?;
    Ok(())
}

/// How the Markdown file at `doc` links to `png`: relative when it lies under the file's folder.
fn png_link(doc: &Path, png: &Path) -> String {
    let abs = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let png = abs(png);
    let base = abs(doc
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new(".")));
    png.strip_prefix(&base)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| png.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_message_writes_what_a_producer_would() {
        let mut m = Message::new("T", 0, b"x".to_vec());
        fill_message(&mut m, 3, 0x1F, 4);
        let uniq = format!("7F000001{:04X}{:08X}{:016X}", 0x1234, 3, 0x1F);
        let want = properties::encode([
            (properties::KEYS, "order-3-31"),
            (properties::UNIQ_KEY, uniq.as_str()),
            (properties::WAIT, "true"),
            (properties::TAGS, "TagA"),
        ]);
        assert_eq!(m.properties, want);
        assert_eq!(m.queue_id, 2);
        fill_message(&mut m, 0, 0, 4);
        assert!(m.properties.starts_with("KEYS\u{1}order-0-0\u{2}"));
    }
}
