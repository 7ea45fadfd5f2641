//! What the files of a store say about its state: the commitlog segments (continuity, data,
//! pre-allocated all-zero ones), the checkpoint, the abort and lock files and the `config/`
//! files. Everything here only lists folders and reads files.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::format::checkpoint::Checkpoint;
use crate::mapped_file::file_name_to_offset;
use crate::store::MessageStore;

/// Where a commitlog segment stands relative to the recovered end of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SegmentState {
    /// Wholly before the recovered end.
    Full,
    /// Holds the recovered end.
    Active,
    /// After the end and all zero: pre-allocated by Java's `AllocateMappedFileService`;
    /// recovery would delete it.
    Preallocated,
    /// After the end but holding non-zero bytes (data that recovery would drop).
    DirtyAfterEnd,
}

/// One commitlog segment file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentInfo {
    pub name: String,
    pub start_offset: u64,
    pub length: u64,
    /// Bytes of this segment before the recovered end (0 after it).
    pub data_bytes: u64,
    pub state: SegmentState,
    /// Bytes missing between the previous segment's end and this one's start (0 when the names
    /// continue).
    pub gap_before: u64,
}

/// A file under `config/` (with its `.bak` when present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigFileInfo {
    pub name: String,
    /// `None` when only the `.bak` exists.
    pub length: Option<u64>,
    pub bak_length: Option<u64>,
}

/// The commitlog segments of `dir`, by name, classified against the recovered end `end`.
/// The all-zero test reads only what is not a hole (`SEEK_DATA`), so a sparse pre-allocated
/// gigabyte costs nothing; `progress` is called with the bytes examined.
pub fn commitlog_segments(
    dir: &Path,
    end: u64,
    mut progress: impl FnMut(u64),
) -> Result<Vec<SegmentInfo>> {
    let mut files: Vec<(u64, String, PathBuf, u64)> = Vec::new();
    match fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let e = e.map_err(|err| StoreError::io(dir, err))?;
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(start) = file_name_to_offset(&name) else {
                    continue;
                };
                let path = e.path();
                let len = e
                    .metadata()
                    .map_err(|err| StoreError::io(&path, err))?
                    .len();
                files.push((start, name, path, len));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(dir, e)),
    }
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    let mut prev_end: Option<u64> = None;
    for (start, name, path, len) in files {
        let seg_end = start + len;
        let (data_bytes, state) = if seg_end <= end {
            (len, SegmentState::Full)
        } else if start < end {
            (end - start, SegmentState::Active)
        } else if is_all_zero(&path, &mut progress)? {
            (0, SegmentState::Preallocated)
        } else {
            (0, SegmentState::DirtyAfterEnd)
        };
        out.push(SegmentInfo {
            name,
            start_offset: start,
            length: len,
            data_bytes,
            state,
            gap_before: prev_end.map(|p| start.saturating_sub(p)).unwrap_or(0),
        });
        prev_end = Some(seg_end);
    }
    Ok(out)
}

/// Whether every byte of the file is zero.
pub fn is_all_zero(path: &Path, progress: &mut impl FnMut(u64)) -> Result<bool> {
    let mut f = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let len = f.metadata().map_err(|e| StoreError::io(path, e))?.len();
    // SAFETY: lseek on a descriptor we own for the duration of the call; it reads no memory.
    let data = unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_DATA) };
    if data < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ENXIO) {
            progress(len); // no data after offset 0: a hole all the way
            return Ok(true);
        }
        // SEEK_DATA unsupported: read from the start.
    } else if data as u64 >= len {
        progress(len);
        return Ok(true);
    } else {
        // The file position is now at the first data byte; everything before it is a hole.
        progress(data as u64);
    }
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| StoreError::io(path, e))?;
        if n == 0 {
            return Ok(true);
        }
        progress(n as u64);
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
}

/// The files of `config/`, a `.bak` reported beside its file.
pub fn config_files(config_dir: &Path) -> Result<Vec<ConfigFileInfo>> {
    let mut names: std::collections::BTreeMap<String, ConfigFileInfo> = Default::default();
    let rd = match fs::read_dir(config_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(config_dir, e)),
    };
    for e in rd {
        let e = e.map_err(|err| StoreError::io(config_dir, err))?;
        let path = e.path();
        let md = e.metadata().map_err(|err| StoreError::io(&path, err))?;
        if !md.is_file() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let (base, is_bak) = match name.strip_suffix(".bak") {
            Some(b) => (b.to_string(), true),
            None => (name, false),
        };
        let entry = names.entry(base.clone()).or_insert(ConfigFileInfo {
            name: base,
            length: None,
            bak_length: None,
        });
        if is_bak {
            entry.bak_length = Some(md.len());
        } else {
            entry.length = Some(md.len());
        }
    }
    Ok(names.into_values().collect())
}

impl MessageStore {
    internal_fn! {
        /// The checkpoint values as read at open (all zero when the file is missing).
        fn checkpoint_values(&self) -> Checkpoint {
            self.checkpoint.lock().values
        }
    }
}
