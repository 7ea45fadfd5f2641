//! A recording I/O seam: every write, sync, creation, truncation, rename, removal and
//! directory sync the engine does to files under one directory, in order, so a power cut can
//! be simulated afterwards ([`CrashImage`]): a machine that loses power keeps only what
//! `fdatasync`/`msync` made durable, and its unsynced pages come back old, new or torn.
//!
//! Like [`crate::fault`], a recording applies to files under one directory (a test's store),
//! so tests running in parallel do not disturb each other; with no recording running every
//! hook is one atomic load.
//!
//! Writes through a mapping are recorded where the engine writes into the mapping
//! ([`MappedFile`](crate::mapped_file::MappedFile) appends, commits and `write_at`, the index
//! file's slot, entry and header writes), with the bytes written. A sync is recorded as a start
//! (when the kernel begins writing: the content then is what becomes durable) and an end (when
//! it returned: only then is it durable); a write recorded between the two may or may not be in.
//!
//! # The crash model (see docs/format.md, "Power loss")
//! - **Data.** A file's durable content is what its syncs covered, as of each sync's start
//!   (whole 4 KiB pages). Every page whose content differs from the durable one comes back old,
//!   new, or torn: each 512-byte sector old or new, independently.
//! - **Size.** A file's length is durable once a sync of it ended after the change; before
//!   that it comes back old or new.
//! - **Names.** Creations, directory creations, renames and removals reach the disk in order
//!   (a prefix of them survives, as in a journalling file system's ordered metadata), and
//!   everything in directory `D` before a sync of `D` is in that prefix. A file sync alone
//!   does not make its name durable (POSIX; ALICE's "directory entry" vulnerability).

#[cfg(feature = "internals")]
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

/// The page size of the crash model (what the kernel writes back as a unit).
#[cfg(feature = "internals")]
pub const PAGE: usize = 4096;
/// The sector size of the crash model (what a torn page is torn at).
#[cfg(feature = "internals")]
pub const SECTOR: usize = 512;

/// One recorded operation on `path` (relative to the recorded directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A new empty file.
    Create,
    /// A new directory.
    MkDir,
    /// `set_len` (also `O_TRUNC` of an existing file, as `SetLen(0)`).
    SetLen(u64),
    /// Bytes written at `off` (pwrite, or into a mapping).
    Write { off: u64, data: Vec<u8> },
    /// A sync of the file starts: `range` for msync (offset, length), `None` for fdatasync.
    SyncStart { id: u64, range: Option<(u64, u64)> },
    /// The sync `id` returned successfully.
    SyncEnd { id: u64 },
    /// Renamed to `to`.
    #[cfg(any(feature = "cli", feature = "internals"))]
    Rename { to: PathBuf },
    /// A second name `to` (a hard link) for the file.
    #[cfg(any(feature = "cli", feature = "internals"))]
    Link { to: PathBuf },
    /// Removed (a file).
    Remove,
    /// `fsync` of the directory.
    DirSync,
}

/// A recorded operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub path: PathBuf,
    pub op: Op,
}

struct Recording {
    #[cfg(feature = "internals")]
    id: usize,
    under: PathBuf,
    events: Vec<Event>,
    /// The next sync id of this recording (ids count from 1 per recording, so the same run
    /// records the same events whatever else runs in the process).
    next_sync: u64,
}

static ACTIVE: AtomicUsize = AtomicUsize::new(0);
#[cfg(feature = "internals")]
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
static RECORDINGS: Mutex<Vec<Recording>> = Mutex::new(Vec::new());

/// A running recording of the I/O under one directory; dropping it stops the recording.
#[derive(Debug)]
#[must_use = "the recording stops when this guard is dropped"]
#[cfg(feature = "internals")]
pub struct Recorder {
    id: usize,
}

#[cfg(feature = "internals")]
impl Recorder {
    /// Starts recording the I/O on files under `under` (which should be empty or missing:
    /// crash images start from an empty directory).
    pub fn start(under: &Path) -> Recorder {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        RECORDINGS.lock().push(Recording {
            id,
            under: under.to_path_buf(),
            events: Vec::new(),
            next_sync: 1,
        });
        ACTIVE.fetch_add(1, Ordering::AcqRel);
        Recorder { id }
    }

    /// How many events were recorded so far (a crash point: "after the first `len()` events").
    pub fn len(&self) -> usize {
        self.with(|r| r.events.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the events recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.with(|r| r.events.clone())
    }

    fn with<R>(&self, f: impl FnOnce(&Recording) -> R) -> R {
        let recs = RECORDINGS.lock();
        let r = recs
            .iter()
            .find(|r| r.id == self.id)
            .expect("a live recorder is registered");
        f(r)
    }
}

#[cfg(feature = "internals")]
impl Drop for Recorder {
    fn drop(&mut self) {
        let mut recs = RECORDINGS.lock();
        let before = recs.len();
        recs.retain(|r| r.id != self.id);
        if recs.len() < before {
            ACTIVE.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[inline]
fn on() -> bool {
    // Only our own tests (feature `internals`) can start a recording.
    cfg!(feature = "internals") && ACTIVE.load(Ordering::Acquire) != 0
}

/// Whether some recording is running (the engine then takes its deterministic path where it
/// has a parallel one, so a recorded run repeats from its seed: see `inspect::rebuild`).
#[inline]
#[cfg(any(feature = "cli", feature = "internals"))]
pub(crate) fn recording() -> bool {
    on()
}

#[cold]
fn push(path: &Path, op: impl FnOnce() -> Op) {
    let mut recs = RECORDINGS.lock();
    if let Some(r) = recs.iter_mut().find(|r| path.starts_with(&r.under)) {
        let rel = path.strip_prefix(&r.under).unwrap_or(path).to_path_buf();
        r.events.push(Event {
            path: rel,
            op: op(),
        });
    }
}

/// Records `data` written at `off` of `path` (after the write happened).
#[inline]
pub(crate) fn write(path: &Path, off: u64, data: &[u8]) {
    if on() {
        push(path, || Op::Write {
            off,
            data: data.to_vec(),
        });
    }
}

/// Records a new empty file (after it was created).
#[inline]
pub(crate) fn create(path: &Path) {
    if on() {
        push(path, || Op::Create);
    }
}

/// `OpenOptions::open`, recording a creation when the file did not exist before.
pub(crate) fn open(o: &fs::OpenOptions, path: &Path) -> io::Result<fs::File> {
    if !on() {
        return o.open(path);
    }
    let existed = fs::symlink_metadata(path).is_ok();
    let f = o.open(path)?;
    if !existed {
        push(path, || Op::Create);
    }
    Ok(f)
}

/// Records a new length of `path` (after it was set).
#[inline]
pub(crate) fn set_len(path: &Path, len: u64) {
    if on() {
        push(path, || Op::SetLen(len));
    }
}

/// `fs::remove_file`, recorded when it succeeded.
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    fs::remove_file(path)?;
    if on() {
        push(path, || Op::Remove);
    }
    Ok(())
}

/// Records a rename (after it happened).
#[inline]
#[cfg(any(feature = "cli", feature = "internals"))]
pub(crate) fn rename(from: &Path, to: &Path) {
    if on() {
        let to_rel = {
            let recs = RECORDINGS.lock();
            recs.iter()
                .find(|r| to.starts_with(&r.under))
                .map(|r| to.strip_prefix(&r.under).unwrap_or(to).to_path_buf())
        };
        if let Some(to) = to_rel {
            push(from, || Op::Rename { to });
        }
    }
}

/// `fs::hard_link`, recorded when it succeeded.
#[cfg(any(feature = "cli", feature = "internals"))]
pub(crate) fn hard_link(from: &Path, to: &Path) -> io::Result<()> {
    fs::hard_link(from, to)?;
    if on() {
        let to_rel = {
            let recs = RECORDINGS.lock();
            recs.iter()
                .find(|r| to.starts_with(&r.under))
                .map(|r| to.strip_prefix(&r.under).unwrap_or(to).to_path_buf())
        };
        if let Some(to) = to_rel {
            push(from, || Op::Link { to });
        }
    }
    Ok(())
}

/// Runs a sync of `path` (`range` for msync, `None` for fdatasync), recording its start and,
/// when it succeeded, its end.
#[inline]
pub(crate) fn sync<T>(
    path: &Path,
    range: Option<(u64, u64)>,
    f: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    if !on() {
        return f();
    }
    let id = {
        let mut recs = RECORDINGS.lock();
        recs.iter_mut()
            .find(|r| path.starts_with(&r.under))
            .map(|r| {
                let id = r.next_sync;
                r.next_sync += 1;
                let rel = path.strip_prefix(&r.under).unwrap_or(path).to_path_buf();
                r.events.push(Event {
                    path: rel,
                    op: Op::SyncStart { id, range },
                });
                id
            })
    };
    let r = f()?;
    if let Some(id) = id {
        push(path, || Op::SyncEnd { id });
    }
    Ok(r)
}

/// `fs::create_dir`, recorded when it succeeded.
#[cfg(any(feature = "cli", feature = "internals"))]
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir(dir)?;
    if on() {
        push(dir, || Op::MkDir);
    }
    Ok(())
}

/// `fs::create_dir_all`, recording each directory it created. Returns the directories it
/// created, outermost first (see [`sync_new_entry`]).
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<Vec<PathBuf>> {
    if dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut missing = Vec::new();
    let mut d = dir;
    while !d.exists() {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    fs::create_dir_all(dir)?;
    missing.reverse();
    if on() {
        for m in &missing {
            push(m, || Op::MkDir);
        }
    }
    Ok(missing)
}

/// Makes the new file `path` (just created and sized) durable with its length: syncs the file
/// (`file`, when given: its length), its directory, and the parent of every directory in
/// `new_dirs` (those just created for it), so a power cut cannot lose the file or cut it to
/// length 0 once its data is synced. Java never syncs a directory or a new file; this
/// changes no file's bytes.
pub(crate) fn sync_new_entry(
    path: &Path,
    file: Option<&fs::File>,
    new_dirs: &[PathBuf],
) -> io::Result<()> {
    if let Some(f) = file {
        sync(path, None, || f.sync_all())?;
    }
    if let Some(d) = path.parent() {
        sync_dir(d)?;
    }
    for d in new_dirs.iter().rev() {
        if let Some(p) = d.parent() {
            sync_dir(p)?;
        }
    }
    Ok(())
}

/// `fsync` of directory `dir`, so the names created, renamed or removed in it are durable.
/// Changes no byte of any file.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    let d = fs::File::open(dir)?;
    d.sync_all()?;
    if on() {
        push(dir, || Op::DirSync);
    }
    Ok(())
}

/// A tiny deterministic generator (SplitMix64) for choosing crash images from a seed.
#[derive(Debug, Clone)]
#[cfg(feature = "internals")]
pub struct Rng(u64);

#[cfg(feature = "internals")]
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

/// How the unsynced state of a crash image is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg(feature = "internals")]
pub enum Choice {
    /// Nothing unsynced survives: old pages, old lengths, the shortest name prefix allowed.
    AllOld,
    /// Everything written survives (the process was killed rather than the power cut).
    AllNew,
    /// Each unsynced page old, new or torn, each length old or new, any allowed name prefix.
    Random(u64),
}

#[derive(Debug, Clone, Default)]
#[cfg(feature = "internals")]
struct Inode {
    /// Content as written (what a read would return).
    cur: Vec<u8>,
    /// Content made durable by syncs (whole pages, as of each sync's start).
    durable: Vec<u8>,
    len: u64,
    durable_len: u64,
    /// Syncs started and not yet ended: id -> (snapshot offset, snapshot bytes, length then).
    pending: BTreeMap<u64, (usize, Vec<u8>, u64)>,
}

#[derive(Debug, Clone)]
#[cfg(feature = "internals")]
enum NameOp {
    Create(PathBuf, usize),
    MkDir(PathBuf),
    Rename(PathBuf, PathBuf),
    Link(PathBuf, PathBuf),
    Remove(PathBuf),
}

#[cfg(feature = "internals")]
impl NameOp {
    /// The directories whose entries the operation changes.
    fn dirs(&self) -> Vec<PathBuf> {
        let parent = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
        match self {
            NameOp::Create(p, _) | NameOp::MkDir(p) | NameOp::Remove(p) => vec![parent(p)],
            NameOp::Rename(a, b) => vec![parent(a), parent(b)],
            NameOp::Link(_, b) => vec![parent(b)],
        }
    }
}

/// The state of a recorded directory after a prefix of its events, from which crash images
/// are built.
#[derive(Debug, Clone)]
#[cfg(feature = "internals")]
pub struct CrashState {
    inodes: Vec<Inode>,
    /// Current names (as the running process saw them).
    names: BTreeMap<PathBuf, usize>,
    name_ops: Vec<NameOp>,
    /// How many of `name_ops` a directory sync made durable.
    durable_names: usize,
}

#[cfg(feature = "internals")]
impl CrashState {
    /// Replays `events` from an empty directory.
    pub fn replay(events: &[Event]) -> CrashState {
        let mut s = CrashState {
            inodes: Vec::new(),
            names: BTreeMap::new(),
            name_ops: Vec::new(),
            durable_names: 0,
        };
        for e in events {
            s.apply(e);
        }
        s
    }

    /// Replays more events (the state then is that after all events replayed so far).
    pub fn extend(&mut self, events: &[Event]) {
        for e in events {
            self.apply(e);
        }
    }

    fn inode(&mut self, path: &Path) -> Option<&mut Inode> {
        let i = *self.names.get(path)?;
        Some(&mut self.inodes[i])
    }

    fn apply(&mut self, e: &Event) {
        match &e.op {
            Op::Create => {
                let i = self.inodes.len();
                self.inodes.push(Inode::default());
                self.names.insert(e.path.clone(), i);
                self.name_ops.push(NameOp::Create(e.path.clone(), i));
            }
            Op::MkDir => self.name_ops.push(NameOp::MkDir(e.path.clone())),
            Op::SetLen(n) => {
                if let Some(f) = self.inode(&e.path) {
                    f.len = *n;
                    f.cur.resize(*n as usize, 0);
                }
            }
            Op::Write { off, data } => {
                if let Some(f) = self.inode(&e.path) {
                    let end = *off as usize + data.len();
                    if f.cur.len() < end {
                        f.cur.resize(end, 0);
                        f.len = f.len.max(end as u64);
                    }
                    f.cur[*off as usize..end].copy_from_slice(data);
                }
            }
            Op::SyncStart { id, range } => {
                if let Some(f) = self.inode(&e.path) {
                    let (start, end) = match range {
                        Some((o, l)) => {
                            let s = (*o as usize) & !(PAGE - 1);
                            let e = (*o as usize + *l as usize).div_ceil(PAGE) * PAGE;
                            (s, e.min(f.cur.len()))
                        }
                        None => (0, f.cur.len()),
                    };
                    let snap = f.cur.get(start..end.max(start)).unwrap_or(&[]).to_vec();
                    f.pending.insert(*id, (start, snap, f.len));
                }
            }
            Op::SyncEnd { id } => {
                if let Some(f) = self.inode(&e.path) {
                    if let Some((start, snap, len)) = f.pending.remove(id) {
                        f.durable_len = len;
                        let end = start + snap.len();
                        if f.durable.len() < end {
                            f.durable.resize(end, 0);
                        }
                        f.durable[start..end].copy_from_slice(&snap);
                    }
                }
            }
            Op::Rename { to } => {
                rename_in(&mut self.names, &e.path, to);
                self.name_ops
                    .push(NameOp::Rename(e.path.clone(), to.clone()));
            }
            Op::Link { to } => {
                if let Some(&i) = self.names.get(&e.path) {
                    self.names.insert(to.clone(), i);
                }
                self.name_ops.push(NameOp::Link(e.path.clone(), to.clone()));
            }
            Op::Remove => {
                self.names.remove(&e.path);
                self.name_ops.push(NameOp::Remove(e.path.clone()));
            }
            Op::DirSync => {
                if let Some(last) = self
                    .name_ops
                    .iter()
                    .rposition(|op| op.dirs().contains(&e.path))
                {
                    self.durable_names = self.durable_names.max(last + 1);
                }
            }
        }
    }

    /// Whether `[off, off+len)` of the file now named `path` would survive any power cut:
    /// its name is durable, its length covers the range, and every page of it is durable.
    pub fn is_durable(&self, path: &Path, off: u64, len: u64) -> bool {
        let Some(&i) = self.names.get(path) else {
            return false;
        };
        let durable_names = self.names_after(self.durable_names);
        if durable_names.get(path) != Some(&i) {
            return false;
        }
        let f = &self.inodes[i];
        let end = off + len;
        if f.durable_len < end || (f.durable.len() as u64) < end {
            return false;
        }
        f.cur[off as usize..end as usize] == f.durable[off as usize..end as usize]
    }

    /// The names after the first `n` name operations (with the inode each names).
    fn names_after(&self, n: usize) -> BTreeMap<PathBuf, usize> {
        self.tree_after(n).0
    }

    /// The names after the first `n` name operations (with the inode each names), and the
    /// directories created (under their names after renames).
    fn tree_after(&self, n: usize) -> (BTreeMap<PathBuf, usize>, BTreeSet<PathBuf>) {
        let mut names = BTreeMap::new();
        let mut dirs = BTreeSet::new();
        for op in &self.name_ops[..n] {
            match op {
                NameOp::Create(p, i) => {
                    names.insert(p.clone(), *i);
                }
                NameOp::MkDir(d) => {
                    dirs.insert(d.clone());
                }
                NameOp::Rename(a, b) => {
                    rename_in(&mut names, a, b);
                    let moved: Vec<PathBuf> =
                        dirs.iter().filter(|d| d.starts_with(a)).cloned().collect();
                    for d in moved {
                        dirs.remove(&d);
                        let rest = d.strip_prefix(a).unwrap_or(Path::new(""));
                        dirs.insert(b.join(rest));
                    }
                }
                NameOp::Link(a, b) => {
                    if let Some(&i) = names.get(a) {
                        names.insert(b.clone(), i);
                    }
                }
                NameOp::Remove(p) => {
                    names.remove(p);
                }
            }
        }
        (names, dirs)
    }

    /// A deliberately wrong model, to show the checker notices one: page `page` of the file
    /// now named `path` loses what its syncs made durable (it reads as zeros and counts as
    /// never written). Returns whether there was such a durable page.
    pub fn forget_synced_page(&mut self, path: &Path, page: usize) -> bool {
        let Some(&i) = self.names.get(path) else {
            return false;
        };
        let f = &mut self.inodes[i];
        let (s, e) = (page * PAGE, ((page + 1) * PAGE).min(f.durable.len()));
        if s >= e || f.durable[s..e].iter().all(|&b| b == 0) {
            return false;
        }
        f.durable[s..e].fill(0);
        let ce = e.min(f.cur.len());
        f.cur[s..ce].fill(0);
        true
    }

    /// A deliberately wrong model: the file now named `path` is gone for good, as if it had
    /// been removed (durably) although the run never removed it. Returns whether it existed.
    pub fn forget_file(&mut self, path: &Path) -> bool {
        if self.names.remove(path).is_none() {
            return false;
        }
        self.name_ops.push(NameOp::Remove(path.to_path_buf()));
        self.durable_names = self.name_ops.len();
        true
    }

    /// The files (current names) with content not yet durable.
    pub fn dirty_files(&self) -> Vec<PathBuf> {
        self.names
            .iter()
            .filter(|(_, &i)| !dirty_pages(&self.inodes[i]).is_empty())
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// How many pages differ between the durable and the current content (over all files).
    pub fn unsynced_pages(&self) -> usize {
        self.inodes
            .iter()
            .map(|f| dirty_pages(f).len())
            .sum::<usize>()
    }

    /// Writes a crash image into `out` (an empty or missing directory).
    pub fn build(&self, out: &Path, choice: Choice) -> io::Result<()> {
        let mut rng = Rng::new(match choice {
            Choice::Random(s) => s,
            _ => 0,
        });
        let total = self.name_ops.len();
        let cut = match choice {
            Choice::AllOld => self.durable_names,
            Choice::AllNew => total,
            Choice::Random(_) => {
                // Half the time the whole prefix (names are usually durable by the time of a
                // crash), else anywhere allowed.
                if rng.coin() {
                    total
                } else {
                    self.durable_names + rng.below((total - self.durable_names + 1) as u64) as usize
                }
            }
        };
        fs::create_dir_all(out)?;
        let (names, dirs) = self.tree_after(cut);
        for d in &dirs {
            fs::create_dir_all(out.join(d))?;
        }
        for (name, &i) in &names {
            let f = &self.inodes[i];
            let bytes = self.content(f, choice, &mut rng);
            if let Some(p) = out.join(name).parent() {
                fs::create_dir_all(p)?;
            }
            fs::write(out.join(name), bytes)?;
        }
        Ok(())
    }

    fn content(&self, f: &Inode, choice: Choice, rng: &mut Rng) -> Vec<u8> {
        let len = match choice {
            Choice::AllOld => f.durable_len,
            Choice::AllNew => f.len,
            Choice::Random(_) => {
                if rng.coin() {
                    f.len
                } else {
                    f.durable_len
                }
            }
        } as usize;
        let mut out = f.durable.clone();
        out.resize(len, 0);
        for p in dirty_pages(f) {
            let s = p * PAGE;
            if s >= len {
                continue;
            }
            let e = (s + PAGE).min(len).min(f.cur.len());
            if e <= s {
                continue;
            }
            match choice {
                Choice::AllOld => {}
                Choice::AllNew => out[s..e].copy_from_slice(&f.cur[s..e]),
                Choice::Random(_) => match rng.below(3) {
                    0 => {}
                    1 => out[s..e].copy_from_slice(&f.cur[s..e]),
                    _ => {
                        let mut q = s;
                        while q < e {
                            let qe = (q + SECTOR).min(e);
                            if rng.coin() {
                                out[q..qe].copy_from_slice(&f.cur[q..qe]);
                            }
                            q = qe;
                        }
                    }
                },
            }
        }
        out
    }
}

/// Renames `from` to `to` in `names`: the file of that name, or (a directory) every name
/// under it.
#[cfg(feature = "internals")]
fn rename_in(names: &mut BTreeMap<PathBuf, usize>, from: &Path, to: &Path) {
    if let Some(i) = names.remove(from) {
        names.insert(to.to_path_buf(), i);
        return;
    }
    let moved: Vec<(PathBuf, usize)> = names
        .iter()
        .filter(|(p, _)| p.starts_with(from))
        .map(|(p, &i)| (p.clone(), i))
        .collect();
    for (p, i) in moved {
        names.remove(&p);
        let rest = p.strip_prefix(from).unwrap_or(Path::new(""));
        names.insert(to.join(rest), i);
    }
}

/// The pages of `f` whose current content is not its durable content.
#[cfg(feature = "internals")]
fn dirty_pages(f: &Inode) -> Vec<usize> {
    let n = f.cur.len().div_ceil(PAGE);
    (0..n)
        .filter(|&p| {
            let s = p * PAGE;
            let e = (s + PAGE).min(f.cur.len());
            let d = f.durable.get(s..e.min(f.durable.len())).unwrap_or(&[]);
            d.len() < e - s || d != &f.cur[s..e]
        })
        .collect()
}

/// The crash points worth enumerating in `events`: right before and right after every sync
/// ends, and right after every directory sync.
#[cfg(feature = "internals")]
pub fn sync_points(events: &[Event]) -> Vec<usize> {
    let mut pts = BTreeSet::new();
    for (i, e) in events.iter().enumerate() {
        match e.op {
            Op::SyncEnd { .. } => {
                pts.insert(i);
                pts.insert(i + 1);
            }
            Op::DirSync => {
                pts.insert(i + 1);
            }
            _ => {}
        }
    }
    pts.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(path: &str, op: Op) -> Event {
        Event {
            path: PathBuf::from(path),
            op,
        }
    }

    #[test]
    fn durable_pages_survive_unsynced_ones_may_not() {
        let events = vec![
            ev("", Op::MkDir),
            ev("d", Op::MkDir),
            ev("d/f", Op::Create),
            ev("d/f", Op::SetLen(3 * PAGE as u64)),
            ev("", Op::DirSync),
            ev("d", Op::DirSync),
            ev(
                "d/f",
                Op::Write {
                    off: 0,
                    data: vec![1; 10],
                },
            ),
            ev(
                "d/f",
                Op::SyncStart {
                    id: 1,
                    range: Some((0, 10)),
                },
            ),
            ev("d/f", Op::SyncEnd { id: 1 }),
            ev(
                "d/f",
                Op::Write {
                    off: PAGE as u64,
                    data: vec![2; 10],
                },
            ),
            ev("d/g", Op::Create),
        ];
        let s = CrashState::replay(&events);
        assert!(s.is_durable(Path::new("d/f"), 0, 10));
        assert!(!s.is_durable(Path::new("d/f"), PAGE as u64, 10));
        assert!(!s.is_durable(Path::new("d/g"), 0, 0));
        let t = tempfile::tempdir().unwrap();
        let old = t.path().join("old");
        s.build(&old, Choice::AllOld).unwrap();
        let f = fs::read(old.join("d/f")).unwrap();
        assert_eq!(f.len(), 3 * PAGE);
        assert_eq!(&f[..10], &[1; 10]);
        assert_eq!(&f[PAGE..PAGE + 10], &[0; 10]);
        assert!(!old.join("d/g").exists());
        let new = t.path().join("new");
        s.build(&new, Choice::AllNew).unwrap();
        assert_eq!(
            &fs::read(new.join("d/f")).unwrap()[PAGE..PAGE + 10],
            &[2; 10]
        );
        assert!(new.join("d/g").exists());
        // Random images keep the synced page in every case.
        for seed in 0..50 {
            let r = t.path().join(format!("r{seed}"));
            s.build(&r, Choice::Random(seed)).unwrap();
            assert_eq!(&fs::read(r.join("d/f")).unwrap()[..10], &[1; 10]);
        }
    }

    #[test]
    fn a_file_sync_does_not_make_the_name_durable() {
        let events = vec![
            ev("f", Op::Create),
            ev("f", Op::SetLen(PAGE as u64)),
            ev(
                "f",
                Op::Write {
                    off: 0,
                    data: vec![7; 4],
                },
            ),
            ev("f", Op::SyncStart { id: 9, range: None }),
            ev("f", Op::SyncEnd { id: 9 }),
        ];
        let s = CrashState::replay(&events);
        assert!(!s.is_durable(Path::new("f"), 0, 4));
        let t = tempfile::tempdir().unwrap();
        s.build(t.path(), Choice::AllOld).unwrap();
        assert!(!t.path().join("f").exists());
        let mut events = events;
        events.push(ev("", Op::DirSync));
        assert!(CrashState::replay(&events).is_durable(Path::new("f"), 0, 4));
    }

    #[test]
    fn a_directory_rename_moves_its_files() {
        let events = vec![
            ev("new", Op::MkDir),
            ev("new/sub", Op::MkDir),
            ev("new/sub/f", Op::Create),
            ev(
                "new/sub/f",
                Op::Write {
                    off: 0,
                    data: vec![3; 4],
                },
            ),
            ev("new/sub/f", Op::SyncStart { id: 1, range: None }),
            ev("new/sub/f", Op::SyncEnd { id: 1 }),
            ev("new/sub", Op::DirSync),
            ev("", Op::DirSync),
            ev(
                "new",
                Op::Rename {
                    to: PathBuf::from("cur"),
                },
            ),
        ];
        let s = CrashState::replay(&events);
        let t = tempfile::tempdir().unwrap();
        // The rename is not durable: the old name, and nothing under the new one.
        s.build(&t.path().join("old"), Choice::AllOld).unwrap();
        assert_eq!(fs::read(t.path().join("old/new/sub/f")).unwrap(), [3; 4]);
        assert!(!t.path().join("old/cur").exists());
        // Done: the file (and the directories) under the new name only.
        s.build(&t.path().join("new"), Choice::AllNew).unwrap();
        assert_eq!(fs::read(t.path().join("new/cur/sub/f")).unwrap(), [3; 4]);
        assert!(!t.path().join("new/new").exists());
        let mut events = events;
        events.push(ev("", Op::DirSync));
        let s = CrashState::replay(&events);
        assert!(s.is_durable(Path::new("cur/sub/f"), 0, 4));
    }

    #[test]
    fn a_link_then_a_rename_over_keeps_one_of_the_two_under_the_name() {
        // The rebuild's swap of a segment: the old file gets a second name in the backup,
        // then the new one is renamed over it. Every prefix of the names has the segment
        // under its name (old or new content), and the backup once the link is in.
        let events = vec![
            ev("cl", Op::MkDir),
            ev("cl/s", Op::Create),
            ev(
                "cl/s",
                Op::Write {
                    off: 0,
                    data: vec![1; 4],
                },
            ),
            ev("cl/s", Op::SyncStart { id: 1, range: None }),
            ev("cl/s", Op::SyncEnd { id: 1 }),
            ev("bak", Op::MkDir),
            ev("new", Op::MkDir),
            ev("new/s", Op::Create),
            ev(
                "new/s",
                Op::Write {
                    off: 0,
                    data: vec![2; 4],
                },
            ),
            ev("new/s", Op::SyncStart { id: 2, range: None }),
            ev("new/s", Op::SyncEnd { id: 2 }),
            ev(
                "cl/s",
                Op::Link {
                    to: PathBuf::from("bak/s"),
                },
            ),
            ev(
                "new/s",
                Op::Rename {
                    to: PathBuf::from("cl/s"),
                },
            ),
        ];
        let t = tempfile::tempdir().unwrap();
        // From the end of the old segment's sync on (before it, its bytes may be anything).
        for n in 5..=events.len() {
            let s = CrashState::replay(&events[..n]);
            for seed in 0..8 {
                let out = t.path().join(format!("{n}-{seed}"));
                s.build(&out, Choice::Random(seed)).unwrap();
                if !out.join("cl/s").exists() {
                    // Only when the creation of the name itself is not in: nothing after it.
                    assert!(!out.join("bak/s").exists(), "{n}");
                    continue;
                }
                let got = fs::read(out.join("cl/s")).unwrap();
                assert!(got == [1; 4] || got == [2; 4], "{n}: {got:?}");
                if out.join("bak/s").exists() {
                    assert_eq!(fs::read(out.join("bak/s")).unwrap(), [1; 4]);
                }
            }
        }
        // All done: the new content under the name, the old in the backup.
        let s = CrashState::replay(&events);
        let out = t.path().join("all");
        s.build(&out, Choice::AllNew).unwrap();
        assert_eq!(fs::read(out.join("cl/s")).unwrap(), [2; 4]);
        assert_eq!(fs::read(out.join("bak/s")).unwrap(), [1; 4]);
        assert!(!out.join("new/s").exists());
    }

    #[test]
    fn a_write_during_a_sync_is_not_durable_by_it() {
        let events = vec![
            ev("f", Op::Create),
            ev("", Op::DirSync),
            ev("f", Op::SetLen(PAGE as u64)),
            ev("f", Op::SyncStart { id: 1, range: None }),
            ev(
                "f",
                Op::Write {
                    off: 0,
                    data: vec![5; 4],
                },
            ),
            ev("f", Op::SyncEnd { id: 1 }),
        ];
        let s = CrashState::replay(&events);
        assert!(s.is_durable(Path::new("f"), 100, 4));
        assert!(!s.is_durable(Path::new("f"), 0, 4));
        // Before the end the length is not durable either.
        assert!(!CrashState::replay(&events[..5]).is_durable(Path::new("f"), 100, 4));
    }
}
