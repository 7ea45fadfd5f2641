//! What every inspection command shares: the store, where its settings come from (`-c
//! broker.properties`, geometry flags, or the files themselves), `--json`; and the value
//! types of the filters (times, body encodings).

use std::io::IsTerminal;
use std::path::PathBuf;

use base64::Engine as _;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use super::{CliError, CliResult, GeometryArgs};
use crate::config::StoreConfig;
use crate::inspect::discover::discover_config_tolerant;
use crate::inspect::discover_config;
use crate::left_out::LeftOut;
use crate::MessageStore;

/// The store and its settings, shared by every command that reads a store.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The store root (the folder holding commitlog/, consumequeue/, index/).
    #[arg(value_name = "STORE")]
    pub store: PathBuf,
    /// The broker's properties file: settings (sizes, flush mode, index geometry) come from
    /// it, as the broker would read them. The store path is always STORE; geometry flags win.
    #[arg(short = 'c', long = "config", value_name = "broker.properties")]
    pub config: Option<PathBuf>,
    /// Machine-readable output (JSON); no progress bar.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub geometry: GeometryArgs,
}

/// `-c broker.properties` for the commands that take sizes rather than a whole config
/// (`verify`, `rebuild`, `salvage`): the file's sizes are used as the broker would read them
/// (its defaults for keys it does not set), geometry flags win.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArg {
    /// The broker's properties file: sizes (mappedFileSizeCommitLog,
    /// mappedFileSizeConsumeQueue, maxHashSlotNum, maxIndexNum) come from it instead of
    /// the lengths of the store's files. The store path is always STORE; geometry flags win.
    #[arg(short = 'c', long = "config", value_name = "broker.properties")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    /// The geometry to use: the flags, on top of the file's sizes when `-c` was given.
    pub fn overrides(
        &self,
        store: &std::path::Path,
        geometry: &GeometryArgs,
    ) -> CliResult<crate::inspect::GeometryOverrides> {
        check_geometry(geometry)?;
        let mut o = geometry.overrides();
        let Some(file) = &self.config else {
            return Ok(o);
        };
        let (c, warnings) = StoreConfig::from_properties_file(file)?;
        for w in warnings {
            super::warn(&w);
        }
        if let Some(p) = &c.store_path_commit_log {
            if *p != c.store_path_root_dir.join("commitlog") && o.commitlog_dir.is_none() {
                super::warn(&format!(
                    "{}: storePathCommitLog is {}; reading {} instead (pass --commitlog-dir to \
                     read that folder)",
                    file.display(),
                    p.display(),
                    store.join("commitlog").display()
                ));
            }
        }
        o.commitlog_size
            .get_or_insert(c.mapped_file_size_commit_log);
        o.cq_size
            .get_or_insert(c.mapped_file_size_consume_queue_raw);
        o.hash_slots.get_or_insert(c.max_hash_slot_num);
        o.index_num.get_or_insert(c.max_index_num);
        Ok(o)
    }
}

/// A progress bar on stderr for the commands that report bytes done per phase (verify,
/// rebuild, salvage: [`crate::inspect::progress`]), hidden with `--json` or when stderr is
/// not a terminal. Each new phase restarts the bar with its own total.
pub struct PhaseBar {
    pb: ProgressBar,
    what: String,
    phase: std::sync::Mutex<&'static str>,
}

impl PhaseBar {
    pub fn new(json: bool, what: &str) -> PhaseBar {
        let pb = if json || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let pb = ProgressBar::new(0);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:40}] {bytes}/{total_bytes} ({elapsed}, {eta} left)",
            ) {
                pb.set_style(style.progress_chars("=> "));
            }
            pb.set_message(what.to_string());
            pb
        };
        PhaseBar {
            pb,
            what: what.to_string(),
            phase: std::sync::Mutex::new(""),
        }
    }

    /// Shows one report.
    pub fn report(&self, p: crate::inspect::progress::Progress) {
        if let Ok(mut phase) = self.phase.lock() {
            if *phase != p.phase {
                *phase = p.phase;
                self.pb.set_message(format!("{}: {}", self.what, p.phase));
                self.pb.set_length(p.total);
                self.pb.reset();
            }
        }
        self.pb.set_position(p.done);
    }

    pub fn finish(&self) {
        self.pb.finish_and_clear();
    }
}

/// Where the settings in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `-c FILE`.
    File(PathBuf),
    /// Sizes found from the lengths of the store's files (and flags); the rest are defaults.
    Discovered,
}

impl StoreArgs {
    /// The store config: from `-c` (warnings on stderr) or discovered, flags on top; with
    /// `left` set, discovery goes on past a file whose length the others of its kind do not share, and adds it there.
    fn store_config_tolerant(
        &self,
        left: &mut Option<Vec<LeftOut>>,
    ) -> CliResult<(StoreConfig, ConfigSource)> {
        check_geometry(&self.geometry)?;
        let overrides = self.geometry.overrides();
        let Some(file) = &self.config else {
            let config = match left {
                Some(left) => {
                    let (c, l) = discover_config_tolerant(&self.store, &overrides)?;
                    left.extend(l);
                    c
                }
                None => discover_config(&self.store, &overrides)?,
            };
            return Ok((config, ConfigSource::Discovered));
        };
        let (mut c, warnings) = StoreConfig::from_properties_file(file)?;
        for w in warnings {
            super::warn(&w);
        }
        let own_commitlog = c.store_path_root_dir.join("commitlog");
        if let Some(p) = &c.store_path_commit_log {
            if *p != own_commitlog && overrides.commitlog_dir.is_none() {
                super::warn(&format!(
                    "{}: storePathCommitLog is {}; reading {} instead (pass --commitlog-dir to \
                     read that folder)",
                    file.display(),
                    p.display(),
                    self.store.join("commitlog").display()
                ));
            }
        }
        c.store_path_root_dir = self.store.clone();
        c.store_path_commit_log = overrides.commitlog_dir.clone();
        if let Some(v) = overrides.commitlog_size {
            c.mapped_file_size_commit_log = v;
        }
        if let Some(v) = overrides.cq_size {
            c.mapped_file_size_consume_queue_raw = v;
        }
        if let Some(v) = overrides.hash_slots {
            c.max_hash_slot_num = v;
        }
        if let Some(v) = overrides.index_num {
            c.max_index_num = v;
        }
        Ok((c, ConfigSource::File(file.clone())))
    }

    /// Opens the store read-only: nothing is created, changed or locked.
    /// A side file that cannot be used (a stray entry of `commitlog/`, a consume-queue or
    /// index file of the wrong length) is left out: named in a warning on stderr here, in
    /// `store.left_out()` for `--json`, and the command exits 1 (see [`super::left_out`]).
    pub fn open(&self) -> CliResult<(MessageStore, ConfigSource)> {
        let mut discovered = Some(Vec::new());
        let (config, source) = self.store_config_tolerant(&mut discovered)?;
        if !self.store.is_dir() {
            return Err(CliError::Input(format!(
                "{}: no such store directory",
                self.store.display()
            )));
        }
        let mut store = MessageStore::open_inspect(config)?;
        let mut all = discovered.unwrap_or_default();
        for l in std::mem::take(&mut store.left_out) {
            crate::left_out::push_unique(&mut all, l);
        }
        super::rocksdb::keep_rocksdb_files(store.config().root(), &mut all);
        super::left_out::warn_all(&all);
        store.left_out = all;
        Ok((store, source))
    }

    /// A progress bar on stderr over `total` units, hidden with `--json` or when stderr is
    /// not a terminal.
    pub fn progress(&self, total: u64, what: &str, bytes: bool) -> ProgressBar {
        if self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let template = if bytes {
            "{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})"
        } else {
            "{msg} [{bar:40}] {pos}/{len} ({eta})"
        };
        let pb = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(template) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_message(what.to_string());
        pb
    }
}

/// How a message body is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BodyFormat {
    /// UTF-8, invalid bytes replaced (U+FFFD).
    Text,
    Hex,
    Base64,
    /// Not printed.
    None,
}

impl BodyFormat {
    /// The body in this encoding (`None` for [`BodyFormat::None`]).
    pub fn render(self, body: &[u8]) -> Option<String> {
        match self {
            BodyFormat::Text => Some(String::from_utf8_lossy(body).into_owned()),
            BodyFormat::Hex => Some(hex(body)),
            BodyFormat::Base64 => Some(base64::engine::general_purpose::STANDARD.encode(body)),
            BodyFormat::None => None,
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Parses a time argument: epoch milliseconds (digits only), or local time
/// `YYYY-MM-DD HH:MM[:SS]` (also with `T` between date and time).
pub fn parse_time(flag: &str, s: &str) -> CliResult<i64> {
    let s = s.trim();
    let bad = || {
        CliError::Input(format!(
            "{flag} {s:?}: not a time; give `YYYY-MM-DD HH:MM[:SS]` (local time) or epoch \
             milliseconds"
        ))
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| bad());
    }
    let (date, time) = s.split_once([' ', 'T']).ok_or_else(bad)?;
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.trim().split(':').collect();
    if d.len() != 3 || !(t.len() == 2 || t.len() == 3) {
        return Err(bad());
    }
    let num = |x: &str| x.parse::<i32>().map_err(|_| bad());
    let (year, month, day) = (num(d[0])?, num(d[1])?, num(d[2])?);
    let (hour, minute) = (num(t[0])?, num(t[1])?);
    let second = if t.len() == 3 { num(t[2])? } else { 0 };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
        || !(0..=60).contains(&second)
    {
        return Err(bad());
    }
    local_to_epoch_millis(year, month, day, hour, minute, second).ok_or_else(bad)
}

/// Local time (the process's `TZ`) to epoch milliseconds, with the C library's `mktime`.
fn local_to_epoch_millis(
    year: i32,
    month: i32,
    day: i32,
    hour: i32,
    minute: i32,
    second: i32,
) -> Option<i64> {
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are valid; mktime reads and
    // normalizes only the struct we pass, which lives for the whole call.
    let secs = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_year = year - 1900;
        tm.tm_mon = month - 1;
        tm.tm_mday = day;
        tm.tm_hour = hour;
        tm.tm_min = minute;
        tm.tm_sec = second;
        tm.tm_isdst = -1;
        libc::mktime(&mut tm)
    };
    (secs != -1).then_some(secs as i64 * 1000)
}

// ---------------------------------------------------------------------------------------------
// Value checks, where flags are parsed: sizes Java can hold, ranges that are not empty.
// ---------------------------------------------------------------------------------------------

/// Largest `mappedFileSizeConsumeQueue` Java can use: it rounds up to whole 20-byte units in
/// an `int`.
const MAX_CQ_SIZE: u64 = (i32::MAX as u64 / 20) * 20;
/// An index file is `40 + 4 * maxHashSlotNum + 20 * maxIndexNum` bytes, an `int` in Java.
const INDEX_HEADER: u64 = 40;

fn parse_bounded(s: &str, min: u64, max: u64, what: &str) -> Result<u64, String> {
    let v: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number of {what}"))?;
    if v < min || v > max {
        return Err(format!("{v} is out of range: {what} from {min} to {max}"));
    }
    Ok(v)
}

/// `--commitlog-size`: 4096 bytes (our smallest segment) up to Java's `int`.
pub fn parse_commitlog_size(s: &str) -> Result<usize, String> {
    parse_bounded(s, 4096, i32::MAX as u64, "bytes").map(|v| v as usize)
}

/// `--cq-size`: at least one byte (Java rounds up to a 20-byte unit), at most [`MAX_CQ_SIZE`].
pub fn parse_cq_size(s: &str) -> Result<usize, String> {
    parse_bounded(s, 1, MAX_CQ_SIZE, "bytes").map(|v| v as usize)
}

/// `--hash-slots`: at least 1, and an index file of one entry must fit Java's `int`.
pub fn parse_hash_slots(s: &str) -> Result<u32, String> {
    parse_bounded(s, 1, (i32::MAX as u64 - INDEX_HEADER - 20) / 4, "slots").map(|v| v as u32)
}

/// `--index-num`: at least 1, and an index file of one slot must fit Java's `int`.
pub fn parse_index_num(s: &str) -> Result<u32, String> {
    parse_bounded(s, 1, (i32::MAX as u64 - INDEX_HEADER - 4) / 20, "entries").map(|v| v as u32)
}

/// What no single flag can check: the index file `--hash-slots` and `--index-num` describe
/// together must fit Java's `int`.
pub fn check_geometry(g: &GeometryArgs) -> CliResult {
    if let (Some(slots), Some(num)) = (g.hash_slots, g.index_num) {
        let size = INDEX_HEADER + 4 * slots as u64 + 20 * num as u64;
        if size > i32::MAX as u64 {
            return Err(CliError::Input(format!(
                "--hash-slots {slots} with --index-num {num} describe index files of {size} \
                 bytes; Java's limit is {} (an int)",
                i32::MAX
            )));
        }
    }
    Ok(())
}

/// `[from, to)` must hold something: `to` after `from`.
pub fn check_range<T: PartialOrd + std::fmt::Display>(
    from_flag: &str,
    from: Option<T>,
    to_flag: &str,
    to: Option<T>,
) -> CliResult {
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            return Err(CliError::Input(format!(
                "{from_flag} {f} and {to_flag} {t}: the range [{f}, {t}) is empty \
                 ({to_flag} is exclusive and must be after {from_flag})"
            )));
        }
    }
    Ok(())
}

/// The filters of `cat`: offset and time ranges that are not empty, a queue id that exists.
pub fn check_cat(a: &super::cat::CatArgs) -> CliResult {
    check_range("--from", a.from, "--to", a.to)?;
    let since = a
        .since
        .as_deref()
        .map(|s| parse_time("--since", s))
        .transpose()?;
    let until = a
        .until
        .as_deref()
        .map(|s| parse_time("--until", s))
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until) {
        if u <= s {
            return Err(CliError::Input(format!(
                "--since {:?} and --until {:?}: no time is at or after the first and before \
                 the second",
                a.since.as_deref().unwrap_or_default(),
                a.until.as_deref().unwrap_or_default()
            )));
        }
    }
    if let Some(q) = a.queue.filter(|&q| q < 0) {
        return Err(CliError::Input(format!(
            "--queue {q}: queue ids are not negative"
        )));
    }
    Ok(())
}
