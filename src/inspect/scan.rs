//! Walking commitlog segments record by record, past damage: the shared core of `verify` and
//! `salvage`. Segments are mapped read-only; nothing is written.
//!
//! Where a record does not decode, the walk resynchronizes: it looks for the next position
//! where a message record decodes with a valid body CRC and a PHYSICALOFFSET equal to that
//! position (or a blank record that runs exactly to the segment end). What lies in between is
//! reported as damage, classified as a torn record (a record header whose bytes stop early,
//! zeros after), garbage, or a hole of zeros followed by data.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{IoContext, Result, StoreError};
use crate::format::record::{decode_record, verify_property_crc, Decoded, MessageRecord};
use crate::format::{body_crc, get_i32, FormatError, BLANK_MAGIC, MAGIC_V1, MAGIC_V2};
use crate::mapped_file::{file_name_to_offset, MappedFile};

/// One file of a segmented log (commitlog or consume queue), mapped read-only.
#[derive(Debug, Clone)]
pub struct SegmentFile {
    pub path: PathBuf,
    /// The offset its name gives.
    pub offset: u64,
    /// Its length on disk.
    pub len: u64,
    map: Option<Arc<MappedFile>>,
}

impl SegmentFile {
    /// The file's bytes (empty for a zero-length file).
    pub fn data(&self) -> &[u8] {
        self.map.as_ref().map_or(&[], |m| m.whole())
    }
}

/// Maps `path` read-only at its actual length.
pub(crate) fn map_read_only(path: &Path, len: u64) -> Result<Option<Arc<MappedFile>>> {
    if len == 0 {
        return Ok(None);
    }
    let len = usize::try_from(len)
        .map_err(|_| StoreError::bad_file(path, format!("file of {len} bytes is too large")))?;
    Ok(Some(Arc::new(MappedFile::open(path, 0, len, false)?)))
}

/// The entries of a segment folder: the 20-digit regular files with their offset and length
/// (or why the length could not be read), and every other entry with why it is not a segment.
/// A missing folder has none.
#[allow(clippy::type_complexity)]
fn read_segment_dir(
    dir: &Path,
) -> Result<(Vec<(u64, PathBuf, std::io::Result<u64>)>, Vec<LeftOut>)> {
    let mut files = Vec::new();
    let mut other = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((files, other)),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    for entry in rd {
        let entry = entry.at(dir)?;
        let path = entry.path();
        let name = entry.file_name();
        let offset = name.to_str().and_then(file_name_to_offset);
        let ft = entry.file_type().at(&path)?;
        match offset {
            Some(offset) if ft.is_file() => {
                let len = entry.metadata().map(|m| m.len());
                files.push((offset, path, len));
            }
            Some(_) => other.push((path, "not a regular file".into())),
            None => other.push((path, "not a segment name (20 decimal digits)".into())),
        }
    }
    files.sort_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
    other.sort();
    Ok((files, other))
}

/// The 20-digit files of `dir`, in offset order, mapped read-only, and the other entries
/// (strays). A missing folder has none.
pub fn list_segments(dir: &Path) -> Result<(Vec<SegmentFile>, Vec<PathBuf>)> {
    let (files, other) = read_segment_dir(dir)?;
    let mut out = Vec::with_capacity(files.len());
    for (offset, path, len) in files {
        let len = len.at(&path)?;
        let map = map_read_only(&path, len)?;
        out.push(SegmentFile {
            path,
            offset,
            len,
            map,
        });
    }
    Ok((out, other.into_iter().map(|(p, _)| p).collect()))
}

/// An entry of a segment folder left out, and why.
pub type LeftOut = (PathBuf, String);

/// [`list_segments`] that goes on past what it cannot use: the 20-digit files it can map, and
/// every other entry with why it was left out (a directory or symlink with a segment's name,
/// a file that cannot be opened or mapped, a stray name).
#[cfg(any(feature = "cli", feature = "internals"))]
pub fn list_segments_tolerant(dir: &Path) -> Result<(Vec<SegmentFile>, Vec<LeftOut>)> {
    let (files, mut other) = read_segment_dir(dir)?;
    let mut out = Vec::with_capacity(files.len());
    for (offset, path, len) in files {
        let len = match len {
            Ok(len) => len,
            Err(e) => {
                other.push((path, e.to_string()));
                continue;
            }
        };
        match map_read_only(&path, len) {
            Ok(map) => out.push(SegmentFile {
                path,
                offset,
                len,
                map,
            }),
            Err(e) => other.push((path, e.to_string())),
        }
    }
    Ok((out, other))
}

/// What a damaged region looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamageKind {
    /// A record header whose record stops early: zeros after the bytes written (a torn write).
    Torn,
    /// Bytes that are neither records nor zeros.
    Garbage,
    /// Zeros (an end of data) followed by more data in the same segment.
    Hole,
}

impl DamageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DamageKind::Torn => "torn record",
            DamageKind::Garbage => "garbage",
            DamageKind::Hole => "zeros followed by data",
        }
    }
}

/// One step of a segment walk. Positions are relative to the segment.
#[derive(Debug)]
pub enum Item<'a> {
    /// A message record whose structure decodes. `crc_ok` is false when a non-empty body does
    /// not match BODYCRC; `prop_crc` is the 5.x `__CRC32#` check when the record carries one.
    Record {
        pos: usize,
        size: usize,
        record: MessageRecord<'a>,
        crc_ok: bool,
        prop_crc: Option<std::result::Result<(), FormatError>>,
    },
    /// A blank end-of-segment record of `declared` bytes.
    Blank { pos: usize, declared: u32 },
    /// Zeros from `pos` to the end of the segment: the end of the data.
    End { pos: usize },
    /// `[pos, to)` holds no valid record. `resynced`: a valid record (or blank) starts at `to`;
    /// otherwise `to` is just past the last non-zero byte and only zeros follow.
    Damage {
        pos: usize,
        to: usize,
        kind: DamageKind,
        problem: String,
        resynced: bool,
    },
}

/// Does the record end with a 5.x `__CRC32#` property?
pub fn carries_property_crc(record: &MessageRecord<'_>) -> bool {
    let p = record.properties;
    p.len() >= 20 && &p[p.len() - 20..p.len() - 11] == b"__CRC32#\x01" && p[p.len() - 1] == 0x02
}

/// Walks one segment, calling `visit` for each step in order.
pub fn walk_segment<'a>(data: &'a [u8], file_from: u64, visit: impl FnMut(Item<'a>)) {
    walk_segment_known_tail(data, file_from, last_non_zero(data), visit)
}

/// [`walk_segment`] for a caller that already knows `last_non_zero(data)`. The walk needs it
/// where the records end, and finding it means reading the zeros after them (often half a
/// segment), so it is found once.
pub(crate) fn walk_segment_known_tail<'a>(
    data: &'a [u8],
    file_from: u64,
    last_nz: Option<usize>,
    mut visit: impl FnMut(Item<'a>),
) {
    // `last_non_zero(&data[pos..])`.
    let last_nz_from = |pos: usize| last_nz.filter(|&n| n >= pos).map(|n| n - pos);
    let mut pos = 0usize;
    while pos < data.len() {
        if data.len() - pos < 8 {
            // Too short for any header: only zeros may remain.
            match last_nz_from(pos) {
                None => visit(Item::End { pos }),
                Some(l) => visit(Item::Damage {
                    pos,
                    to: pos + l + 1,
                    kind: DamageKind::Garbage,
                    problem: "bytes after the last record that are too short for a record header"
                        .into(),
                    resynced: false,
                }),
            }
            return;
        }
        match decode_record(&data[pos..], false) {
            Ok(Decoded::Message { record, total_size }) => {
                let size = total_size as usize;
                let bytes = &data[pos..pos + size];
                let crc_ok =
                    record.body.is_empty() || body_crc(record.body) == record.body_crc as u32;
                let prop_crc = carries_property_crc(&record).then(|| verify_property_crc(bytes));
                visit(Item::Record {
                    pos,
                    size,
                    record,
                    crc_ok,
                    prop_crc,
                });
                pos += size;
            }
            Ok(Decoded::Blank { total_size }) => {
                visit(Item::Blank {
                    pos,
                    declared: total_size,
                });
                return;
            }
            Ok(Decoded::End) => {
                let Some(l) = last_nz_from(pos) else {
                    visit(Item::End { pos });
                    return;
                };
                match resync(data, file_from, pos + 1) {
                    Some(q) => {
                        visit(Item::Damage {
                            pos,
                            to: q,
                            kind: DamageKind::Hole,
                            problem: "zeros (an end of data) followed by more records".into(),
                            resynced: true,
                        });
                        pos = q;
                    }
                    None => {
                        visit(Item::Damage {
                            pos,
                            to: pos + l + 1,
                            kind: DamageKind::Garbage,
                            problem: "non-zero bytes after the end of data".into(),
                            resynced: false,
                        });
                        return;
                    }
                }
            }
            Err(e) => {
                let problem = e.to_string();
                match resync(data, file_from, pos + 1) {
                    Some(q) => {
                        visit(Item::Damage {
                            pos,
                            to: q,
                            kind: DamageKind::Garbage,
                            problem,
                            resynced: true,
                        });
                        pos = q;
                    }
                    None => {
                        let end = pos + last_nz_from(pos).map_or(0, |l| l + 1);
                        let kind = if looks_torn(&data[pos..], end - pos) {
                            DamageKind::Torn
                        } else {
                            DamageKind::Garbage
                        };
                        visit(Item::Damage {
                            pos,
                            to: end.max(pos + 1),
                            kind,
                            problem,
                            resynced: false,
                        });
                        return;
                    }
                }
            }
        }
    }
}

/// A record header (message magic, plausible length) whose non-zero bytes all lie inside the
/// length it declares: a record whose write stopped part-way.
fn looks_torn(buf: &[u8], non_zero_len: usize) -> bool {
    let (Some(total), Some(magic)) = (get_i32(buf, 0), get_i32(buf, 4)) else {
        return false;
    };
    let magic = magic as u32;
    (magic == MAGIC_V1 || magic == MAGIC_V2)
        && total as i64 >= crate::format::record::MIN_RECORD_LEN as i64
        && non_zero_len <= total as usize
}

/// Index of the last non-zero byte.
///
/// Verify and salvage call this over the zeros after the end of the data (half of a segment
/// or more), so it tests 64 bytes at a time (an OR that the compiler vectorizes) before it
/// looks for the byte.
pub fn last_non_zero(buf: &[u8]) -> Option<usize> {
    const CHUNK: usize = 64;
    let chunks = buf.rchunks_exact(CHUNK);
    let head = chunks.remainder().len();
    for (i, c) in chunks.enumerate() {
        if c.iter().fold(0u8, |acc, &b| acc | b) != 0 {
            let start = buf.len() - (i + 1) * CHUNK;
            return c.iter().rposition(|&b| b != 0).map(|p| start + p);
        }
    }
    buf[..head].iter().rposition(|&b| b != 0)
}

/// [`last_non_zero`] over `data`, the bytes of the file at `path` from file offset `base`,
/// skipping the file's holes: the file system reports them (`SEEK_DATA` / `SEEK_HOLE`) and
/// they read as zeros, so a sparse segment's unwritten tail (half a segment or more, which
/// reading would fault in page by page) costs nothing. Regions reported as data are scanned
/// as before; where the file system cannot report holes, or the file cannot be opened, the
/// whole of `data` is scanned.
pub fn last_non_zero_in(path: &Path, data: &[u8], base: usize) -> Option<usize> {
    let Some(extents) = data_extents(path) else {
        return last_non_zero(data);
    };
    let end = base + data.len();
    for &(s, e) in extents.iter().rev() {
        let (s, e) = (s.max(base), e.min(end));
        if s >= e {
            continue;
        }
        if let Some(p) = last_non_zero(&data[s - base..e - base]) {
            return Some(s - base + p);
        }
    }
    None
}

/// The file's data regions `[start, end)` in order (everything else is a hole), or `None`
/// when they cannot be asked for.
fn data_extents(path: &Path) -> Option<Vec<(usize, usize)>> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    // A descriptor of our own: seeking moves its file offset.
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let len = f.metadata().ok()?.len() as i64;
    let fd = f.as_raw_fd();
    let mut extents = Vec::new();
    let mut off = 0i64;
    while off < len {
        // SAFETY: lseek on a descriptor this function owns and keeps open; no memory is passed.
        let start = unsafe { libc::lseek(fd, off, libc::SEEK_DATA) };
        if start < 0 {
            return match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::ENXIO) => Some(extents), // only a hole up to the end
                _ => None,
            };
        }
        // SAFETY: as above.
        let end = unsafe { libc::lseek(fd, start, libc::SEEK_HOLE) };
        if end <= start {
            return None;
        }
        extents.push((start as usize, end.min(len) as usize));
        off = end;
    }
    Some(extents)
}

/// The next position at or after `from` where a message record decodes with a valid body CRC
/// and its PHYSICALOFFSET equals its position, or a blank record runs exactly to the end.
pub fn resync(data: &[u8], file_from: u64, from: usize) -> Option<usize> {
    let mut p = from;
    while p + 8 <= data.len() {
        let magic = u32::from_be_bytes([data[p + 4], data[p + 5], data[p + 6], data[p + 7]]);
        if magic == MAGIC_V1 || magic == MAGIC_V2 {
            if let Ok(Decoded::Message { record, .. }) = decode_record(&data[p..], true) {
                if record.physical_offset as u64 == file_from + p as u64 {
                    return Some(p);
                }
            }
        } else if magic == BLANK_MAGIC {
            if let Some(t) = get_i32(data, p) {
                if t as i64 == (data.len() - p) as i64 {
                    return Some(p);
                }
            }
        }
        p += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Holes are skipped, data regions scanned: the answer is the one a full scan gives,
    /// for the whole file and for a slice of it.
    #[test]
    fn last_non_zero_in_skips_holes() {
        use std::os::unix::fs::FileExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("seg");
        let f = fs::File::create(&p).unwrap();
        let len = 4 << 20;
        f.set_len(len as u64).unwrap();
        let data_of = |p: &Path| fs::read(p).unwrap();
        assert_eq!(last_non_zero_in(&p, &data_of(&p), 0), None);
        f.write_all_at(b"x", 100).unwrap();
        f.write_all_at(b"yz", 1_000_000).unwrap();
        // Zeros written explicitly are data to the file system, and still zeros.
        f.write_all_at(&vec![0u8; 65536], 3 << 20).unwrap();
        let data = data_of(&p);
        assert_eq!(last_non_zero(&data), Some(1_000_001));
        assert_eq!(last_non_zero_in(&p, &data, 0), Some(1_000_001));
        assert_eq!(last_non_zero_in(&p, &data[..1_000_001], 0), Some(1_000_000));
        assert_eq!(
            last_non_zero_in(&p, &data[200..], 200),
            Some(1_000_001 - 200)
        );
        assert_eq!(last_non_zero_in(&p, &data[1_000_002..], 1_000_002), None);
        assert_eq!(last_non_zero_in(&p, &data[..100], 0), None);
        // No file to ask: the bytes are scanned.
        let missing = d.path().join("missing");
        assert_eq!(last_non_zero_in(&missing, &data, 0), Some(1_000_001));
    }

    #[test]
    fn last_non_zero_matches_a_plain_search() {
        let plain = |b: &[u8]| b.iter().rposition(|&x| x != 0);
        for len in [0usize, 1, 7, 63, 64, 65, 127, 128, 129, 1000] {
            let mut buf = vec![0u8; len];
            assert_eq!(last_non_zero(&buf), None, "len {len}");
            for at in [
                0,
                len / 3,
                len / 2,
                len.saturating_sub(65),
                len.saturating_sub(1),
            ] {
                if at < len {
                    buf.iter_mut().for_each(|b| *b = 0);
                    buf[at] = 0x80;
                    assert_eq!(last_non_zero(&buf), plain(&buf), "len {len} at {at}");
                    if at > 0 {
                        buf[at - 1] = 1;
                        assert_eq!(last_non_zero(&buf), Some(at), "len {len} at {at}");
                    }
                }
            }
        }
    }
}
