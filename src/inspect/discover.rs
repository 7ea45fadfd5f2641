//! Store-geometry discovery: the segment sizes a store was written with, read from the lengths
//! of its files, so that a store can be opened without the broker's `.properties` file.
//!
//! - commitlog segment size: the common length of the 20-digit files of `commitlog/`;
//! - consume-queue file size: the common length of the files of `consumequeue/<topic>/<queue>/`;
//! - index geometry: from the common length of the 17-digit files of `index/`, which is
//!   `40 + 4 * slots + 20 * entries`: RocketMQ's default (5,000,000 slots, 20,000,000 entries)
//!   when it matches, else `slots = (len - 40) / 84` with `entries = 4 * slots` (the ratio of
//!   the defaults) when that divides exactly.
//!
//! Where a folder holds no file, the RocketMQ default stays. Entries whose names are not those
//! of a segment are skipped here: opening the store reports them, naming the file. Discovery
//! only lists folders and reads file lengths; it never creates, opens for writing or locks
//! anything.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::StoreConfig;
use crate::error::{Result, StoreError};
use crate::format::cq::CQ_UNIT_SIZE;
use crate::format::index::{index_file_size, HASH_SLOT_SIZE, INDEX_ENTRY_SIZE, INDEX_HEADER_SIZE};
use crate::left_out::LeftOut;
use crate::mapped_file::file_name_to_offset;

/// Values given explicitly (command-line flags); each one replaces what discovery would find,
/// and the corresponding files are then not examined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeometryOverrides {
    /// `mappedFileSizeCommitLog`.
    pub commitlog_size: Option<usize>,
    /// `mappedFileSizeConsumeQueue` (bytes, as configured).
    pub cq_size: Option<usize>,
    /// `maxHashSlotNum`.
    pub hash_slots: Option<u32>,
    /// `maxIndexNum`.
    pub index_num: Option<u32>,
    /// `storePathCommitLog`, when the commitlog is not `<root>/commitlog`.
    pub commitlog_dir: Option<PathBuf>,
}

/// Builds the [`StoreConfig`] of the store rooted at `root` from the lengths of its files and
/// `overrides`. Every other setting keeps RocketMQ 4.6.0's default.
///
/// Errors name the file: a store root that is not a directory, a commitlog segment,
/// consume-queue file or index file whose length differs from the others of its kind, a
/// consume-queue length that is not whole 20-byte units, or an index length from which the
/// slot and entry counts cannot be told (then `--hash-slots`/`--index-num` are needed).
pub fn discover_config(root: &Path, overrides: &GeometryOverrides) -> Result<StoreConfig> {
    discover_inner(root, overrides, None)
}

/// [`discover_config`] for an inspection open: where the files of a kind agree but for a few
/// (one length is more common than any other, or the only plausible one among the most
/// common), the geometry comes from them and each odd file is returned as left out. Where
/// nothing agrees, the same error as [`discover_config`].
#[cfg(any(feature = "cli", feature = "internals"))]
pub fn discover_config_tolerant(
    root: &Path,
    overrides: &GeometryOverrides,
) -> Result<(StoreConfig, Vec<LeftOut>)> {
    let mut left = Vec::new();
    let config = discover_inner(root, overrides, Some(&mut left))?;
    Ok((config, left))
}

fn discover_inner(
    root: &Path,
    overrides: &GeometryOverrides,
    mut left: Option<&mut Vec<LeftOut>>,
) -> Result<StoreConfig> {
    match fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(StoreError::bad_file(
                root,
                "not a directory (expected a store root)",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StoreError::bad_file(root, "no such store directory"))
        }
        Err(e) => return Err(StoreError::io(root, e)),
    }
    let mut config = StoreConfig::with_root(root);
    config.store_path_commit_log = overrides.commitlog_dir.clone();

    config.mapped_file_size_commit_log = match overrides.commitlog_size {
        Some(size) => size,
        None => {
            let dir = config.commit_log_dir();
            let files = list_files(&dir, |n| file_name_to_offset(n).is_some())?;
            // Whether the files of that length are named as segments of that length.
            let spaced = |len: u64| {
                let same: Vec<_> = files.iter().filter(|f| f.1 == len).cloned().collect();
                names_spaced_by(&same, len)
            };
            let what = "commitlog segment";
            match common_length(
                &files,
                what,
                "--commitlog-size",
                spaced,
                left.as_deref_mut(),
            )? {
                Some(len) => usize::try_from(len).map_err(|_| {
                    StoreError::bad_file(&files[0].0, format!("segment length {len} is too large"))
                })?,
                None => config.mapped_file_size_commit_log,
            }
        }
    };

    config.mapped_file_size_consume_queue_raw = match overrides.cq_size {
        Some(size) => size,
        None => {
            let files = consume_queue_files(&config.consume_queue_dir())?;
            // A length of whole 20-byte units.
            let plausible = |len: u64| len > 0 && len % CQ_UNIT_SIZE as u64 == 0;
            let what = "consume-queue file";
            match common_length(&files, what, "--cq-size", plausible, left.as_deref_mut())? {
                Some(len) => {
                    if len == 0 || len % CQ_UNIT_SIZE as u64 != 0 {
                        let path = &files
                            .iter()
                            .find(|(_, l)| *l == len)
                            .expect("a file has it")
                            .0;
                        return Err(StoreError::bad_file(
                            path,
                            format!(
                                "consume-queue file length {len} is not a whole number of \
                                 {CQ_UNIT_SIZE}-byte units (pass --cq-size to override)"
                            ),
                        ));
                    }
                    len as usize
                }
                None => config.mapped_file_size_consume_queue_raw,
            }
        }
    };

    let (slots, entries) = match (overrides.hash_slots, overrides.index_num) {
        (Some(s), Some(n)) => (s, n),
        (s, n) => {
            let files = list_files(&config.index_dir(), is_index_file_name)?;
            let default = (config.max_hash_slot_num, config.max_index_num);
            let plausible = |len: u64| index_geometry(len, s, n, default).is_some();
            let flag = "--hash-slots/--index-num";
            match common_length(&files, "index file", flag, plausible, left)? {
                None => (
                    s.unwrap_or(config.max_hash_slot_num),
                    n.unwrap_or(config.max_index_num),
                ),
                Some(len) => {
                    let path = &files
                        .iter()
                        .find(|(_, l)| *l == len)
                        .expect("a file has it")
                        .0;
                    index_geometry(len, s, n, default).ok_or_else(|| {
                        StoreError::bad_file(
                            path,
                            format!(
                                "index file length {len} does not tell its geometry \
                                     (it is not 40 + 84 * slots, the default ratio of 4 entries \
                                     per slot, nor fits the given counts); pass --hash-slots and \
                                     --index-num"
                            ),
                        )
                    })?
                }
            }
        }
    };
    config.max_hash_slot_num = slots;
    config.max_index_num = entries;
    Ok(config)
}

/// The (slots, entries) of an index file of `len` bytes. Given one of the two, the other is
/// what fills the length; given neither, the default when it fits, else 4 entries per slot.
fn index_geometry(
    len: u64,
    slots: Option<u32>,
    entries: Option<u32>,
    default: (u32, u32),
) -> Option<(u32, u32)> {
    let body = len.checked_sub(INDEX_HEADER_SIZE as u64)?;
    let (slot, entry) = (HASH_SLOT_SIZE as u64, INDEX_ENTRY_SIZE as u64);
    let (s, n) = match (slots, entries) {
        (Some(s), Some(n)) => (s as u64, n as u64),
        (Some(s), None) => {
            let rest = body.checked_sub(s as u64 * slot)?;
            (rest % entry == 0).then_some((s as u64, rest / entry))?
        }
        (None, Some(n)) => {
            let rest = body.checked_sub(n as u64 * entry)?;
            (rest % slot == 0).then_some((rest / slot, n as u64))?
        }
        (None, None) => {
            if len == index_file_size(default.0, default.1) as u64 {
                (default.0 as u64, default.1 as u64)
            } else {
                let per_slot = slot + 4 * entry;
                if body == 0 || body % per_slot != 0 {
                    return None;
                }
                (body / per_slot, 4 * (body / per_slot))
            }
        }
    };
    let s = u32::try_from(s).ok().filter(|&s| s > 0)?;
    let n = u32::try_from(n).ok().filter(|&n| n >= 2)?;
    Some((s, n))
}

/// Whether segment names (start offsets) fit a segment size of `len`: each a multiple of it,
/// and consecutive ones `len` apart.
fn names_spaced_by(files: &[(PathBuf, u64)], len: u64) -> bool {
    let offsets: Vec<u64> = files
        .iter()
        .filter_map(|(p, _)| file_name_to_offset(p.file_name()?.to_str()?))
        .collect();
    len > 0
        && offsets.iter().all(|o| o % len == 0)
        && offsets.windows(2).all(|w| w[1] - w[0] == len)
}

fn is_index_file_name(name: &str) -> bool {
    name.len() == 17 && name.bytes().all(|b| b.is_ascii_digit())
}

/// The regular files of `dir` whose names pass `keep`, with their lengths, sorted by name.
/// A missing folder has none.
fn list_files(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<(PathBuf, u64)>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !keep(name) {
            continue;
        }
        let ft = entry.file_type().map_err(|e| StoreError::io(&path, e))?;
        if !ft.is_file() {
            continue;
        }
        let len = entry
            .metadata()
            .map_err(|e| StoreError::io(&path, e))?
            .len();
        out.push((path, len));
    }
    out.sort();
    Ok(out)
}

/// Every segment file under `consumequeue/<topic>/<queue>/`.
fn consume_queue_files(root: &Path) -> Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    for topic_dir in list_dirs(root)? {
        for queue_dir in list_dirs(&topic_dir)? {
            out.extend(list_files(&queue_dir, |n| {
                file_name_to_offset(n).is_some()
            })?);
        }
    }
    Ok(out)
}

/// The sub-folders of `dir`, sorted (none when it is missing).
fn list_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let path = entry.path();
        if entry
            .file_type()
            .map_err(|e| StoreError::io(&path, e))?
            .is_dir()
        {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The length every file shares, `None` when there is no file. When they differ, the error
/// names the first file (in name order) whose length is not the most common one; between
/// equally common lengths, one that is `plausible` for the kind of file wins, then the larger
/// (a damaged file is more likely short than long).
fn common_length(
    files: &[(PathBuf, u64)],
    what: &str,
    flag: &str,
    plausible: impl Fn(u64) -> bool,
    left: Option<&mut Vec<LeftOut>>,
) -> Result<Option<u64>> {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for (_, len) in files {
        *counts.entry(*len).or_default() += 1;
    }
    let Some((&common, _)) = counts
        .iter()
        .max_by_key(|(len, n)| (**n, plausible(**len), **len))
    else {
        return Ok(None);
    };
    let n = counts[&common];
    // The others agree: one length more common than any other, or the only plausible one
    // among the most common.
    let agree = plausible(common)
        && counts
            .iter()
            .all(|(l, c)| *l == common || *c < n || (*c == n && !plausible(*l)));
    if let (Some(left), true) = (left, agree) {
        for (path, len) in files.iter().filter(|(_, l)| *l != common) {
            left.push(LeftOut::new(
                path,
                format!(
                    "length {len} differs from the other {what}s ({common} bytes): damaged or \
                     not part of the store"
                ),
            ));
        }
        return Ok(Some(common));
    }
    if let Some((path, len)) = files.iter().find(|(_, l)| *l != common) {
        return Err(StoreError::bad_file(
            path,
            format!(
                "length {len} differs from the other {what}s ({common} bytes): every {what} of \
                 a store has the same size, so this one is damaged or does not belong here \
                 (pass {flag} to set the size explicitly)"
            ),
        ));
    }
    Ok(Some(common))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_geometry_rules() {
        let def = (5_000_000, 20_000_000);
        assert_eq!(index_geometry(420_000_040, None, None, def), Some(def));
        assert_eq!(index_geometry(84_040, None, None, def), Some((1000, 4000)));
        assert_eq!(index_geometry(84_041, None, None, def), None);
        assert_eq!(index_geometry(40, None, None, def), None);
        // 100 slots, 50 entries: 40 + 400 + 1000.
        assert_eq!(index_geometry(1440, Some(100), None, def), Some((100, 50)));
        assert_eq!(index_geometry(1440, None, Some(50), def), Some((100, 50)));
        assert_eq!(index_geometry(1440, None, None, def), None);
    }

    #[test]
    fn discovers_lengths_and_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("commitlog")).unwrap();
        fs::create_dir_all(root.join("consumequeue/T/0")).unwrap();
        fs::create_dir_all(root.join("index")).unwrap();
        let mk = |p: &str, len: u64| {
            fs::File::create(root.join(p))
                .unwrap()
                .set_len(len)
                .unwrap();
        };
        mk("commitlog/00000000000000000000", 8192);
        mk("commitlog/00000000000000008192", 8192);
        mk("consumequeue/T/0/00000000000000000000", 4000);
        mk("index/20240101000000000", 84_040);
        let c = discover_config(root, &GeometryOverrides::default()).unwrap();
        assert_eq!(c.mapped_file_size_commit_log, 8192);
        assert_eq!(c.mapped_file_size_consume_queue(), 4000);
        assert_eq!((c.max_hash_slot_num, c.max_index_num), (1000, 4000));

        // Two segments, one damaged: the names say which length is right.
        mk("commitlog/00000000000000000000", 100);
        let e = discover_config(root, &GeometryOverrides::default()).unwrap_err();
        assert!(e.to_string().contains("00000000000000000000"), "{e}");
        mk("commitlog/00000000000000000000", 8192);
        mk("commitlog/00000000000000016384", 100);
        let e = discover_config(root, &GeometryOverrides::default()).unwrap_err();
        assert!(e.to_string().contains("00000000000000016384"), "{e}");
        let o = GeometryOverrides {
            commitlog_size: Some(8192),
            ..Default::default()
        };
        assert_eq!(
            discover_config(root, &o)
                .unwrap()
                .mapped_file_size_commit_log,
            8192
        );

        mk("index/20240101000000001", 84_041);
        let e = discover_config(root, &o).unwrap_err();
        assert!(e.to_string().contains("20240101000000001"), "{e}");

        let empty = tempfile::tempdir().unwrap();
        let c = discover_config(empty.path(), &GeometryOverrides::default()).unwrap();
        assert_eq!(c.mapped_file_size_commit_log, 1024 * 1024 * 1024);
        assert_eq!(fs::read_dir(empty.path()).unwrap().count(), 0);
        assert!(discover_config(&empty.path().join("nope"), &o).is_err());
    }
}
