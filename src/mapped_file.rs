//! Memory-mapped segments (`MappedFile`) and the ordered queue of segments of one log
//! (`MappedFileQueue`), as used by the commitlog and every consume queue.
//!
//! A segment is a fixed-size file named by the 20-digit offset of its first byte. Appends go
//! through the mapping; readers see bytes up to the published write position only. All writes
//! to a segment happen under its own append lock, so a reader never sees a byte being written.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};
use parking_lot::{Mutex, RwLock};

use crate::error::{IoContext, Result, StoreError};

/// `UtilAll.offset2FileName`: the offset, zero-padded to 20 decimal digits.
pub fn offset_to_file_name(offset: u64) -> String {
    format!("{offset:020}")
}

/// Parses a 20-digit segment name; anything else is `None`.
pub fn file_name_to_offset(name: &str) -> Option<u64> {
    if name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    }
}

/// One fixed-size memory-mapped segment.
pub struct MappedFile {
    path: PathBuf,
    file: File,
    map: MmapRaw,
    file_from_offset: u64,
    file_size: usize,
    writable: bool,
    /// Bytes appended so far; readers may read `[0, wrote_position)`.
    wrote_position: AtomicUsize,
    /// Bytes known to be durable.
    flushed_position: AtomicUsize,
    /// Store timestamp of the last message appended (for the checkpoint).
    last_store_timestamp: AtomicI64,
    /// Serializes every write to the mapping and every change of the write position.
    append_lock: Mutex<()>,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("from", &self.file_from_offset)
            .field("size", &self.file_size)
            .field("wrote", &self.wrote_position())
            .finish()
    }
}

impl MappedFile {
    /// Creates a new zero-filled segment of `file_size` bytes. Fails if the file exists.
    pub fn create(path: &Path, file_from_offset: u64, file_size: usize) -> Result<MappedFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .at(path)?;
        if let Err(e) = file.set_len(file_size as u64) {
            let _ = fs::remove_file(path);
            return Err(StoreError::io(path, e));
        }
        Self::map(path.to_path_buf(), file, file_from_offset, file_size, true, 0)
    }

    /// Opens an existing segment whose length must be exactly `file_size`. Its write position
    /// starts at the end (a loaded segment counts as full until recovery says otherwise).
    pub fn open(
        path: &Path,
        file_from_offset: u64,
        file_size: usize,
        writable: bool,
    ) -> Result<MappedFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .at(path)?;
        let len = file.metadata().at(path)?.len();
        if len != file_size as u64 {
            return Err(StoreError::bad_file(
                path,
                format!(
                    "length {len} does not match the configured segment size {file_size} \
                     (Java refuses to start: \"length not matched message store config value\")"
                ),
            ));
        }
        Self::map(
            path.to_path_buf(),
            file,
            file_from_offset,
            file_size,
            writable,
            file_size,
        )
    }

    fn map(
        path: PathBuf,
        file: File,
        file_from_offset: u64,
        file_size: usize,
        writable: bool,
        wrote: usize,
    ) -> Result<MappedFile> {
        if file_size == 0 {
            return Err(StoreError::bad_file(&path, "segment size 0"));
        }
        let map = if writable {
            MmapOptions::new().len(file_size).map_raw(&file)
        } else {
            MmapOptions::new().len(file_size).map_raw_read_only(&file)
        }
        .at(&path)?;
        Ok(MappedFile {
            path,
            file,
            map,
            file_from_offset,
            file_size,
            writable,
            wrote_position: AtomicUsize::new(wrote),
            flushed_position: AtomicUsize::new(wrote),
            last_store_timestamp: AtomicI64::new(0),
            append_lock: Mutex::new(()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn file_from_offset(&self) -> u64 {
        self.file_from_offset
    }
    pub fn file_size(&self) -> usize {
        self.file_size
    }
    pub fn is_writable(&self) -> bool {
        self.writable
    }
    pub fn wrote_position(&self) -> usize {
        self.wrote_position.load(Ordering::Acquire)
    }
    pub fn flushed_position(&self) -> usize {
        self.flushed_position.load(Ordering::Acquire)
    }
    pub fn is_full(&self) -> bool {
        self.wrote_position() >= self.file_size
    }
    pub fn remaining(&self) -> usize {
        self.file_size - self.wrote_position()
    }
    pub fn last_store_timestamp(&self) -> i64 {
        self.last_store_timestamp.load(Ordering::Acquire)
    }
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The bytes `[pos, pos+len)`, which must lie below the write position.
    pub fn slice(&self, pos: usize, len: usize) -> Option<&[u8]> {
        let end = pos.checked_add(len)?;
        if end > self.wrote_position() {
            return None;
        }
        // SAFETY: the mapping is `file_size` bytes long and lives as long as `self`;
        // `end <= wrote_position <= file_size`. Bytes below the published write position are
        // never written again while the segment is shared (appends only write at or above it,
        // under `append_lock`; `set_wrote_position` below it is only used by recovery and
        // truncation, which run before readers exist or on a segment being dropped).
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) })
    }

    /// Every readable byte: `[0, wrote_position)`.
    pub fn readable(&self) -> &[u8] {
        let w = self.wrote_position();
        self.slice(0, w).unwrap_or(&[])
    }

    /// The whole mapping regardless of the write position, for recovery scans and offline
    /// tools that must look past the recorded end. Only for segments nobody appends to.
    pub(crate) fn whole(&self) -> &[u8] {
        // SAFETY: the mapping is `file_size` bytes and lives as long as `self`. This view may
        // include bytes above the write position; callers use it only while no append can
        // happen (during load/recovery, or on a read-only store), so no byte changes under it.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), self.file_size) }
    }

    /// Appends `len` bytes written by `fill` at the write position, then publishes them.
    /// Returns the position written at, or `None` (nothing written) if `len` does not fit.
    pub fn append_with<R>(
        &self,
        len: usize,
        fill: impl FnOnce(usize, &mut [u8]) -> R,
    ) -> Result<Option<(usize, R)>> {
        if !self.writable {
            return Err(StoreError::ReadOnly);
        }
        let _g = self.append_lock.lock();
        let pos = self.wrote_position.load(Ordering::Acquire);
        if len > self.file_size - pos {
            return Ok(None);
        }
        // SAFETY: `[pos, pos+len)` lies inside the mapping (checked above) and above the
        // published write position, so no reader can be looking at it; `append_lock` makes us
        // the only writer. The mapping is writable (checked above) and outlives the borrow.
        let buf = unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(pos), len) };
        let r = fill(pos, buf);
        self.wrote_position.store(pos + len, Ordering::Release);
        Ok(Some((pos, r)))
    }

    /// Appends `data` if it fits; returns whether it did.
    pub fn append(&self, data: &[u8]) -> Result<bool> {
        Ok(self
            .append_with(data.len(), |_, buf| buf.copy_from_slice(data))?
            .is_some())
    }

    pub fn set_last_store_timestamp(&self, ts: i64) {
        self.last_store_timestamp.store(ts, Ordering::Release);
    }

    /// Moves the write (and flushed) position, as recovery and truncation do. Bytes above the
    /// new position are left as they are, as Java leaves them.
    pub fn set_wrote_position(&self, pos: usize) {
        let _g = self.append_lock.lock();
        let pos = pos.min(self.file_size);
        self.wrote_position.store(pos, Ordering::Release);
        self.flushed_position.store(pos, Ordering::Release);
    }

    /// Writes `data` at `pos` (below or above the write position) without moving it. Used only
    /// for in-place header updates of files with a fixed layout (checkpoint, index).
    pub fn write_at(&self, pos: usize, data: &[u8]) -> Result<()> {
        if !self.writable {
            return Err(StoreError::ReadOnly);
        }
        let end = pos
            .checked_add(data.len())
            .filter(|&e| e <= self.file_size)
            .ok_or_else(|| StoreError::Invalid(format!("write past the end of {}", self.path.display())))?;
        let _g = self.append_lock.lock();
        // SAFETY: `[pos, end)` is inside the writable mapping; `append_lock` excludes other
        // writers. Files written this way are never read through `slice` concurrently.
        let buf = unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(pos), end - pos) };
        buf.copy_from_slice(data);
        Ok(())
    }

    /// Makes everything written so far durable (msync). Returns the new flushed position.
    pub fn flush(&self) -> Result<usize> {
        let wrote = self.wrote_position();
        let flushed = self.flushed_position();
        if self.writable && wrote > flushed {
            // msync needs a page-aligned start; flush from the page holding `flushed`.
            let start = flushed & !4095;
            self.map.flush_range(start, wrote - start).at(&self.path)?;
            self.flushed_position.fetch_max(wrote, Ordering::AcqRel);
        }
        Ok(self.flushed_position())
    }

    /// Flushes the whole mapping, for files updated in place.
    pub fn flush_all(&self) -> Result<()> {
        if self.writable {
            self.map.flush().at(&self.path)?;
        }
        Ok(())
    }

    /// Number of whole 4 KiB pages written but not yet flushed.
    pub fn dirty_pages(&self) -> usize {
        (self.wrote_position() / 4096).saturating_sub(self.flushed_position() / 4096)
    }
}

/// The ordered segments of one log directory.
pub struct MappedFileQueue {
    dir: PathBuf,
    file_size: usize,
    writable: bool,
    files: RwLock<Vec<Arc<MappedFile>>>,
}

impl std::fmt::Debug for MappedFileQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFileQueue")
            .field("dir", &self.dir)
            .field("file_size", &self.file_size)
            .field("files", &self.files.read().len())
            .finish()
    }
}

impl MappedFileQueue {
    /// Opens the segments of `dir` (a missing directory is an empty queue; it is created only
    /// when writable). Every entry must be a regular file with a 20-digit name and exactly
    /// `file_size` bytes, otherwise the load fails naming the file.
    pub fn load(dir: &Path, file_size: usize, writable: bool) -> Result<MappedFileQueue> {
        let mut found: Vec<(u64, PathBuf)> = Vec::new();
        match fs::read_dir(dir) {
            Ok(rd) => {
                for entry in rd {
                    let entry = entry.at(dir)?;
                    let path = entry.path();
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    let ft = entry.file_type().at(&path)?;
                    let offset = file_name_to_offset(&name).ok_or_else(|| {
                        StoreError::bad_file(
                            &path,
                            "stray entry: segment names are 20 decimal digits (move it out of the store)",
                        )
                    })?;
                    if !ft.is_file() {
                        return Err(StoreError::bad_file(
                            &path,
                            "not a regular file (symlinks and directories are not segments)",
                        ));
                    }
                    found.push((offset, path));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(dir, e)),
        }
        found.sort();
        let mut files = Vec::with_capacity(found.len());
        for (offset, path) in found {
            files.push(Arc::new(MappedFile::open(&path, offset, file_size, writable)?));
        }
        Ok(MappedFileQueue {
            dir: dir.to_path_buf(),
            file_size,
            writable,
            files: RwLock::new(files),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn file_size(&self) -> usize {
        self.file_size
    }
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// A snapshot of the segments, oldest first.
    pub fn files(&self) -> Vec<Arc<MappedFile>> {
        self.files.read().clone()
    }

    pub fn len(&self) -> usize {
        self.files.read().len()
    }
    pub fn is_empty(&self) -> bool {
        self.files.read().is_empty()
    }

    pub fn first(&self) -> Option<Arc<MappedFile>> {
        self.files.read().first().cloned()
    }
    pub fn last(&self) -> Option<Arc<MappedFile>> {
        self.files.read().last().cloned()
    }

    /// Offset of the first byte of the first segment (0 when empty).
    pub fn min_offset(&self) -> u64 {
        self.first().map(|f| f.file_from_offset()).unwrap_or(0)
    }

    /// Offset just past the last written byte.
    pub fn max_offset(&self) -> u64 {
        self.last()
            .map(|f| f.file_from_offset() + f.wrote_position() as u64)
            .unwrap_or(0)
    }

    /// The segment holding `offset`, found by binary search (gaps in the names are tolerated).
    pub fn find_by_offset(&self, offset: u64) -> Option<Arc<MappedFile>> {
        let files = self.files.read();
        let idx = files.partition_point(|f| f.file_from_offset() <= offset);
        if idx == 0 {
            return None;
        }
        let f = &files[idx - 1];
        (offset < f.file_from_offset() + f.file_size() as u64).then(|| f.clone())
    }

    /// The last segment, or a new one if there is none or the last is full. A new segment
    /// starts at `start_offset` rounded down to the segment size when the queue is empty,
    /// else right after the last one. Returns the segment and whether it was just created.
    pub fn last_or_create(&self, start_offset: u64) -> Result<(Arc<MappedFile>, bool)> {
        if let Some(last) = self.last() {
            if !last.is_full() {
                return Ok((last, false));
            }
        }
        self.create_next(start_offset)
    }

    /// Creates the next segment after the last (or at `start_offset`, rounded down, when empty).
    pub fn create_next(&self, start_offset: u64) -> Result<(Arc<MappedFile>, bool)> {
        if !self.writable {
            return Err(StoreError::ReadOnly);
        }
        let mut files = self.files.write();
        let first_in_queue = files.is_empty();
        let from = match files.last() {
            Some(l) if !l.is_full() => return Ok((l.clone(), false)),
            Some(l) => l.file_from_offset() + self.file_size as u64,
            None => start_offset - start_offset % self.file_size as u64,
        };
        fs::create_dir_all(&self.dir).at(&self.dir)?;
        let path = self.dir.join(offset_to_file_name(from));
        let f = Arc::new(MappedFile::create(&path, from, self.file_size)?);
        files.push(f.clone());
        Ok((f, first_in_queue))
    }

    /// `truncateDirtyFiles`: the segment holding `offset` ends there; later segments are
    /// deleted (only when writable; a read-only queue just forgets them).
    pub fn truncate_dirty(&self, offset: u64) -> Result<()> {
        let mut files = self.files.write();
        let mut keep = Vec::with_capacity(files.len());
        for f in files.drain(..) {
            let tail = f.file_from_offset() + f.file_size() as u64;
            if tail > offset {
                if offset >= f.file_from_offset() {
                    f.set_wrote_position((offset - f.file_from_offset()) as usize);
                    keep.push(f);
                } else if self.writable {
                    fs::remove_file(f.path()).at(f.path())?;
                }
            } else {
                keep.push(f);
            }
        }
        *files = keep;
        Ok(())
    }

    /// Removes the segment from the queue and deletes its file. The mapping stays valid for
    /// whoever still holds an `Arc` to it.
    pub fn remove_first(&self) -> Result<Option<Arc<MappedFile>>> {
        let mut files = self.files.write();
        if files.is_empty() {
            return Ok(None);
        }
        let f = files.remove(0);
        if self.writable {
            fs::remove_file(f.path()).at(f.path())?;
        }
        Ok(Some(f))
    }

    /// Removes the last segment from the queue and deletes its file (when writable).
    pub fn remove_last(&self) -> Result<Option<Arc<MappedFile>>> {
        let mut files = self.files.write();
        let Some(f) = files.pop() else {
            return Ok(None);
        };
        if self.writable {
            fs::remove_file(f.path()).at(f.path())?;
        }
        Ok(Some(f))
    }

    /// Flushes every segment with unflushed bytes.
    pub fn flush(&self) -> Result<()> {
        for f in self.files() {
            f.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(offset_to_file_name(1048576), "00000000000001048576");
        assert_eq!(file_name_to_offset("00000000000001048576"), Some(1048576));
        assert_eq!(file_name_to_offset("0000000000000104857"), None);
        assert_eq!(file_name_to_offset("0000000000000104857x"), None);
    }

    #[test]
    fn append_read_truncate() {
        let d = tempfile::tempdir().unwrap();
        let q = MappedFileQueue::load(d.path(), 64, true).unwrap();
        assert!(q.is_empty());
        let (f, first) = q.last_or_create(0).unwrap();
        assert!(first);
        assert!(f.append(&[1u8; 40]).unwrap());
        assert!(!f.append(&[2u8; 40]).unwrap());
        assert_eq!(f.slice(0, 40).unwrap(), &[1u8; 40]);
        assert!(f.slice(30, 20).is_none());
        f.set_wrote_position(64);
        let (g, first) = q.last_or_create(0).unwrap();
        assert!(!first);
        assert_eq!(g.file_from_offset(), 64);
        assert!(g.append(&[3u8; 10]).unwrap());
        assert_eq!(q.max_offset(), 74);
        assert_eq!(q.find_by_offset(70).unwrap().file_from_offset(), 64);
        assert!(q.find_by_offset(128).is_none());
        q.truncate_dirty(50).unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q.max_offset(), 50);
        assert!(!d.path().join(offset_to_file_name(64)).exists());
        g.flush().unwrap();
    }

    #[test]
    fn load_rejects_stray_and_wrong_size() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(offset_to_file_name(0)), vec![0u8; 64]).unwrap();
        assert_eq!(MappedFileQueue::load(d.path(), 64, false).unwrap().len(), 1);
        fs::write(d.path().join(offset_to_file_name(64)), vec![0u8; 63]).unwrap();
        let e = MappedFileQueue::load(d.path(), 64, false).unwrap_err().to_string();
        assert!(e.contains("00000000000000000064") && e.contains("length 63"), "{e}");
        fs::remove_file(d.path().join(offset_to_file_name(64))).unwrap();
        fs::write(d.path().join("notes.txt"), b"x").unwrap();
        let e = MappedFileQueue::load(d.path(), 64, false).unwrap_err().to_string();
        assert!(e.contains("notes.txt") && e.contains("stray"), "{e}");
    }

    #[test]
    fn read_only_cannot_append() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(offset_to_file_name(0)), vec![0u8; 64]).unwrap();
        let q = MappedFileQueue::load(d.path(), 64, false).unwrap();
        let f = q.first().unwrap();
        f.set_wrote_position(0);
        assert!(matches!(f.append(b"x"), Err(StoreError::ReadOnly)));
        assert!(matches!(q.create_next(0), Err(StoreError::ReadOnly)));
    }
}
