//! Memory-mapped segments (`MappedFile`) and the ordered queue of segments of one log
//! (`MappedFileQueue`), as used by the commitlog and every consume queue.
//!
//! A segment is a fixed-size file named by the 20-digit offset of its first byte. Appends go
//! through the mapping; readers see bytes up to the published write position only. All writes
//! to a segment happen under its own append lock, so a reader never sees a byte being written.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};
use parking_lot::{Mutex, RwLock};

use crate::error::{IoContext, Result, StoreError};

/// Options that refuse to open a symlink (`O_NOFOLLOW`): every file of a store is opened this
/// way, so a link planted in the store directory (`abort`, `checkpoint`, a segment) can never
/// make the engine read or write a file outside it. The open fails with ELOOP instead.
pub fn open_options_no_follow() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = OpenOptions::new();
    o.custom_flags(libc::O_NOFOLLOW);
    o
}

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

/// A file is created empty and then sized, so a crash in between leaves a zero-length file.
/// For the last file of a log (the only one that can be in creation) that means nothing was
/// ever written to it: it is removed when `writable`, skipped otherwise (as RocketMQ 5.x's
/// `MappedFileQueue#doLoad` removes a zero-length last commitlog file). Returns whether the
/// file is such a leftover.
pub fn drop_interrupted_creation(path: &Path, read_only: bool) -> Result<bool> {
    let len = fs::symlink_metadata(path).at(path)?.len();
    if len != 0 {
        return Ok(false);
    }
    if !read_only {
        crate::iorecord::remove_file(path).at(path)?;
    }
    Ok(true)
}

thread_local! {
    /// Where a write-through append is encoded before its `pwrite` (one per appending thread;
    /// grows to the largest group that thread appended).
    static WRITE_THROUGH_SCRATCH: std::cell::RefCell<Vec<u8>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// One fixed-size memory-mapped segment.
pub struct MappedFile {
    path: PathBuf,
    file: File,
    map: MmapRaw,
    file_from_offset: u64,
    file_size: usize,
    writable: bool,
    /// Bytes appended so far (into the write buffer when there is one).
    wrote_position: AtomicUsize,
    /// Bytes in the file itself; readers may read `[0, committed_position)`. Without a write
    /// buffer this equals the write position.
    committed_position: AtomicUsize,
    /// Bytes known to be durable.
    flushed_position: AtomicUsize,
    /// Store timestamp of the last message appended (for the checkpoint).
    last_store_timestamp: AtomicI64,
    /// Serializes every write and every change of the positions. Holds the transient-store-pool
    /// write buffer while the segment has one (appends go there until committed).
    append_lock: Mutex<Option<Vec<u8>>>,
    /// Java's `ReferenceResource#available`: cleared when deletion of the segment starts; an
    /// unavailable segment is no longer handed to new readers.
    available: AtomicBool,
    /// When deletion first started (store clock), for `destroyMapedFileIntervalForcibly`.
    first_shutdown_ms: AtomicI64,
    /// Appends are written with `pwrite` rather than through the mapping (see
    /// [`set_write_through`](Self::set_write_through)).
    write_through: AtomicBool,
    /// Where [`zero_fill_ahead`](Self::zero_fill_ahead) is writing a chunk of zeros right now
    /// (`usize::MAX`: nowhere); a write-through append reaching into it waits.
    zero_fill_at: AtomicUsize,
    /// The file has been deleted from disk (the mapping lives on for whoever holds it).
    destroyed: AtomicBool,
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
        let file = open_options_no_follow()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .at(path)?;
        crate::iorecord::create(path);
        let sized = crate::fault::check(crate::fault::FaultPoint::CreateFile, path)
            .and_then(|()| file.set_len(file_size as u64))
            .inspect(|()| crate::iorecord::set_len(path, file_size as u64));
        if let Err(e) = sized {
            let _ = crate::iorecord::remove_file(path);
            return Err(StoreError::io(path, e));
        }
        Self::map(
            path.to_path_buf(),
            file,
            file_from_offset,
            file_size,
            true,
            0,
        )
    }

    /// Opens an existing segment whose length must be exactly `file_size`. Its write position
    /// starts at the end (a loaded segment counts as full until recovery says otherwise).
    pub fn open(
        path: &Path,
        file_from_offset: u64,
        file_size: usize,
        writable: bool,
    ) -> Result<MappedFile> {
        let file = open_options_no_follow()
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
            committed_position: AtomicUsize::new(wrote),
            flushed_position: AtomicUsize::new(wrote),
            last_store_timestamp: AtomicI64::new(0),
            append_lock: Mutex::new(None),
            available: AtomicBool::new(true),
            first_shutdown_ms: AtomicI64::new(0),
            destroyed: AtomicBool::new(false),
            write_through: AtomicBool::new(false),
            zero_fill_at: AtomicUsize::new(usize::MAX),
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
    /// End of the bytes that are in the file (and readable).
    pub fn committed_position(&self) -> usize {
        self.committed_position.load(Ordering::Acquire)
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
        if end > self.committed_position() {
            return None;
        }
        // SAFETY: the mapping is `file_size` bytes long and lives as long as `self`;
        // `end <= committed_position <= file_size`. Bytes below the published committed
        // position are never written again while the segment is shared (appends and commits
        // only write at or above it, under `append_lock`; `set_wrote_position` below it is only
        // used by recovery and truncation, before readers exist).
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) })
    }

    /// Every readable byte: `[0, committed_position)`.
    pub fn readable(&self) -> &[u8] {
        let w = self.committed_position();
        self.slice(0, w).unwrap_or(&[])
    }

    /// Gives the segment a write buffer (transient store pool): appends go there and reach the
    /// file only through [`commit`](Self::commit). Only for a fresh, empty segment.
    pub fn set_write_buffer(&self, buf: Vec<u8>) {
        let mut g = self.append_lock.lock();
        debug_assert!(buf.len() >= self.file_size);
        if self.wrote_position.load(Ordering::Acquire) == 0 {
            *g = Some(buf);
        }
    }

    /// Copies appended bytes from the write buffer into the file when at least `least_pages`
    /// whole pages are waiting (any byte when 0, everything when the segment is full). Returns
    /// the buffer once the segment is fully committed, so the pool can lend it again.
    pub fn commit(&self, least_pages: usize) -> Result<Option<Vec<u8>>> {
        let mut g = self.append_lock.lock();
        let Some(buf) = g.as_ref() else {
            return Ok(None);
        };
        let wrote = self.wrote_position.load(Ordering::Acquire);
        let committed = self.committed_position.load(Ordering::Acquire);
        let full = wrote >= self.file_size;
        let ready = wrote > committed
            && (full
                || least_pages == 0
                || (wrote / 4096).saturating_sub(committed / 4096) >= least_pages);
        if ready {
            // `pwrite` rather than a copy into the mapping: the committed range is above every
            // byte written before, so through the mapping each of its pages would fault, and on
            // a sparse segment be zeroed by the kernel before being overwritten whole. The bytes
            // and the page cache readers map are the same either way. A failed write publishes
            // nothing; the next commit writes the same range again.
            crate::fault::write_all_at(
                &self.file,
                &self.path,
                &buf[committed..wrote],
                committed as u64,
            )
            .at(&self.path)?;
            self.committed_position.store(wrote, Ordering::Release);
        }
        if self.committed_position.load(Ordering::Acquire) >= self.file_size {
            return Ok(g.take());
        }
        Ok(None)
    }

    /// Asks the kernel to fault in `[pos, pos+len)` of the mapping for writing now
    /// (`MADV_POPULATE_WRITE`), so appends there do not stop for page faults. Contents are not
    /// changed, but like any write fault it updates the file's mtime: only the active segment
    /// is ever prefaulted. Best effort: an older kernel without the advice, or a read-only segment, is
    /// simply not prefaulted.
    pub fn populate(&self, pos: usize, len: usize) {
        if !self.writable || pos >= self.file_size {
            return;
        }
        let start = pos & !4095;
        let end = (pos + len).min(self.file_size);
        if end <= start {
            return;
        }
        // Contents are unchanged by the advice; failure only means no prefault.
        let _ = self
            .map
            .advise_range(memmap2::Advice::PopulateWrite, start, end - start);
    }

    /// Writes zeros over the holes of `[pos, pos+len)` and makes them durable, so that later
    /// appends there rewrite blocks the file system has already allocated (Java's
    /// `warmMappedFile` writes zeros ahead too, when `warmMapedFileEnable` is on). Under
    /// SYNC_FLUSH every put syncs: a put into a hole of the sparse segment makes its sync
    /// allocate the block and write the file system's metadata too, about twice the cost of a
    /// sync that rewrites an allocated block.
    ///
    /// No byte changes: only holes are written (`SEEK_DATA` finds none in the chunk), only
    /// above the write position, a chunk at a time, each checked and claimed under the append
    /// lock so no append can land in a chunk between the check and the write. Only for
    /// write-through segments (whose appends honour the claim). A hole reads as zeros, so
    /// neither the file's bytes nor the power-loss model (`iorecord`, which these writes
    /// bypass) see a difference. Best effort: an error only means the range is not prepared.
    pub fn zero_fill_ahead(&self, pos: usize, len: usize) {
        use std::os::unix::fs::FileExt;
        use std::os::unix::io::AsRawFd;
        const CHUNK: usize = 256 * 1024;
        static ZEROS: [u8; CHUNK] = [0; CHUNK];
        if !self.writable || !self.write_through.load(Ordering::Relaxed) {
            return;
        }
        let start = pos & !4095;
        let end = pos.saturating_add(len).min(self.file_size);
        let mut at = start;
        let mut first_filled = None;
        while at < end {
            let n = CHUNK.min(end - at);
            {
                let g = self.append_lock.lock();
                if g.is_some() {
                    break;
                }
                if self.wrote_position.load(Ordering::Acquire) > at {
                    // The writer is already here (a new segment's first window, say).
                    drop(g);
                    at += n;
                    continue;
                }
                // SAFETY: `lseek` on a file descriptor this `MappedFile` owns for its whole
                // life; it only reads the file's extent map and moves the offset of a
                // descriptor nothing else seeks (all I/O here is positional).
                let data = unsafe {
                    libc::lseek(self.file.as_raw_fd(), at as libc::off_t, libc::SEEK_DATA)
                };
                let hole_to = if data < 0 {
                    // ENXIO: no data at or after `at`; any other error: leave the file alone.
                    if std::io::Error::last_os_error().raw_os_error() != Some(libc::ENXIO) {
                        break;
                    }
                    end
                } else {
                    (data as usize).min(end)
                };
                if hole_to < at + n {
                    break;
                }
                // Claim the chunk while still holding the lock: an append that reaches into
                // it from now on waits until the zeros are written (see `append_with`). The
                // write itself runs without the lock, so appends below it go on meanwhile.
                self.zero_fill_at.store(at, Ordering::Release);
            }
            let wrote = self.file.write_all_at(&ZEROS[..n], at as u64);
            self.zero_fill_at.store(usize::MAX, Ordering::Release);
            if wrote.is_err() {
                break;
            }
            first_filled.get_or_insert(at);
            at += n;
        }
        if let Some(from) = first_filled {
            let _ = self.map.flush_range(from, at - from);
        }
    }

    /// Waits (holding the append lock) until no chunk of zeros is being written below `end`.
    fn wait_for_zero_fill_below(&self, end: usize) {
        while end > self.zero_fill_at.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
    }

    /// Whether appends still go to a write buffer.
    #[cfg(test)]
    pub fn has_write_buffer(&self) -> bool {
        self.append_lock.lock().is_some()
    }

    /// The whole mapping regardless of the write position, for recovery scans and offline
    /// tools that must look past the recorded end. Only for segments nobody appends to.
    pub(crate) fn whole(&self) -> &[u8] {
        // SAFETY: the mapping is `file_size` bytes and lives as long as `self`. This view may
        // include bytes above the write position; callers use it only while no append can
        // happen (during load/recovery, or on a read-only store), so no byte changes under it.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), self.file_size) }
    }

    /// Writes appends with `pwrite` into the file instead of through the mapping (readers
    /// still read the mapping: both are the same page cache). Under SYNC_FLUSH every put is
    /// followed by a sync: writing through the mapping makes each sync write-protect the
    /// page again (`page_mkclean`, with a TLB shootdown) and the next put fault on it while
    /// it may still be under writeback; a `pwrite` does neither, and syncs under concurrent
    /// puts get markedly shorter. Nothing else changes: the bytes, the positions, the flush.
    pub fn set_write_through(&self, on: bool) {
        self.write_through.store(on, Ordering::Relaxed);
    }

    /// Whether appends are `pwrite`s (see [`set_write_through`](Self::set_write_through)).
    pub fn is_write_through(&self) -> bool {
        self.write_through.load(Ordering::Relaxed)
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
        let mut g = self.append_lock.lock();
        let pos = self.wrote_position.load(Ordering::Acquire);
        if len > self.file_size - pos {
            return Ok(None);
        }
        if let Some(wb) = g.as_mut() {
            let r = fill(pos, &mut wb[pos..pos + len]);
            self.wrote_position.store(pos + len, Ordering::Release);
            return Ok(Some((pos, r)));
        }
        if self.write_through.load(Ordering::Relaxed) {
            // A chunk of zeros being written where this append goes (only if the writer has
            // caught up with the zero-filler, which runs windows ahead): wait for it, so the
            // zeros land before the record, never after.
            self.wait_for_zero_fill_below(pos + len);
            return WRITE_THROUGH_SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                scratch.clear();
                scratch.resize(len, 0);
                let r = fill(pos, &mut scratch[..]);
                if let Err(e) =
                    crate::fault::write_all_at(&self.file, &self.path, &scratch, pos as u64)
                {
                    // Not published, so never read; and what a short write left above the
                    // write position is zeroed again (best effort: the disk is failing), so
                    // no half record lingers there for a later recovery to look at.
                    scratch.fill(0);
                    let _ =
                        std::os::unix::fs::FileExt::write_all_at(&self.file, &scratch, pos as u64);
                    return Err(e).at(&self.path);
                }
                self.wrote_position.store(pos + len, Ordering::Release);
                self.committed_position.store(pos + len, Ordering::Release);
                Ok(Some((pos, r)))
            });
        }
        // SAFETY: `[pos, pos+len)` lies inside the mapping (checked above) and above the
        // published write position, so no reader can be looking at it; `append_lock` makes us
        // the only writer. The mapping is writable (checked above) and outlives the borrow.
        let buf = unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(pos), len) };
        let r = fill(pos, buf);
        crate::iorecord::write(&self.path, pos as u64, buf);
        self.wrote_position.store(pos + len, Ordering::Release);
        self.committed_position.store(pos + len, Ordering::Release);
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
        // Zeros being written above the old position must not land below the new one.
        self.wait_for_zero_fill_below(usize::MAX);
        let pos = pos.min(self.file_size);
        self.wrote_position.store(pos, Ordering::Release);
        self.committed_position.store(pos, Ordering::Release);
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
            .ok_or_else(|| {
                StoreError::Invalid(format!("write past the end of {}", self.path.display()))
            })?;
        let _g = self.append_lock.lock();
        // SAFETY: `[pos, end)` is inside the writable mapping; `append_lock` excludes other
        // writers. Files written this way are never read through `slice` concurrently.
        let buf =
            unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(pos), end - pos) };
        buf.copy_from_slice(data);
        crate::iorecord::write(&self.path, pos as u64, data);
        Ok(())
    }

    /// Makes everything in the file so far durable (msync of the unflushed range). Returns
    /// the new flushed position.
    pub fn flush(&self) -> Result<usize> {
        self.flush_if(0)
    }

    /// Flushes when at least `least_pages` whole 4 KiB pages are unflushed (any byte when 0;
    /// always when the segment is full), as Java's `MappedFile#isAbleToFlush` decides.
    pub fn flush_if(&self, least_pages: usize) -> Result<usize> {
        let committed = self.committed_position();
        let flushed = self.flushed_position();
        let able = committed > flushed
            && (committed >= self.file_size
                || least_pages == 0
                || (committed / 4096).saturating_sub(flushed / 4096) >= least_pages);
        if self.writable && able {
            // msync needs a page-aligned start; flush from the page holding `flushed`.
            let start = flushed & !4095;
            crate::fault::check(crate::fault::FaultPoint::Flush, &self.path).at(&self.path)?;
            let range = Some((start as u64, (committed - start) as u64));
            crate::iorecord::sync(&self.path, range, || {
                self.map.flush_range(start, committed - start)
            })
            .at(&self.path)?;
            self.flushed_position.fetch_max(committed, Ordering::AcqRel);
        }
        Ok(self.flushed_position())
    }

    /// Makes `[pos, pos+len)` durable (msync from the page holding `pos`), whatever the
    /// flushed position says; for bytes rewritten below or above it in place.
    pub fn sync_range(&self, pos: usize, len: usize) -> Result<()> {
        let start = pos & !4095;
        let end = pos.saturating_add(len).min(self.file_size);
        if self.writable && end > start {
            let range = Some((start as u64, (end - start) as u64));
            crate::iorecord::sync(&self.path, range, || {
                self.map.flush_range(start, end - start)
            })
            .at(&self.path)?;
        }
        Ok(())
    }

    /// Whether the segment is still handed to readers (deletion has not started).
    pub fn is_available(&self) -> bool {
        self.available.load(Ordering::Acquire)
    }

    /// Whether the segment's file has been deleted from disk.
    pub fn is_destroyed(&self) -> bool {
        self.destroyed.load(Ordering::Acquire)
    }

    /// `ReferenceResource#shutdown`'s first step: no new readers from now on; remembers when
    /// (only the first call counts). Returns the time deletion first started.
    pub fn shutdown(&self, now_ms: i64) -> i64 {
        if self.available.swap(false, Ordering::AcqRel) {
            self.first_shutdown_ms.store(now_ms, Ordering::Release);
            now_ms
        } else {
            self.first_shutdown_ms.load(Ordering::Acquire)
        }
    }

}

/// Prefaults commitlog pages ahead of the write position on its own thread, so the put path
/// does not pay for first-touch page faults (Java warms files in `AllocateMappedFileService`).
#[derive(Debug)]
pub struct Prefaulter {
    tx: Option<crossbeam::channel::Sender<(Arc<MappedFile>, usize, usize)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How far apart prefault requests are, and how much each populates.
pub const PREFAULT_WINDOW: usize = 4 * 1024 * 1024;

impl Prefaulter {
    pub fn start() -> Prefaulter {
        let (tx, rx) = crossbeam::channel::unbounded::<(Arc<MappedFile>, usize, usize)>();
        let thread = std::thread::Builder::new()
            .name("Prefaulter".into())
            .spawn(move || {
                for (f, pos, len) in rx {
                    // A request the writer has overtaken, or for a segment that filled up, is
                    // dropped: prefaulting would gain nothing and would bump the mtime of a
                    // segment retention ages by its mtime.
                    if f.is_full() || f.wrote_position() >= pos + len {
                        continue;
                    }
                    // A segment written with `pwrite` (SYNC_FLUSH) gets its holes zero-filled;
                    // populating its mapping would only map pages writable again.
                    if f.is_write_through() {
                        f.zero_fill_ahead(pos, len);
                    } else {
                        f.populate(pos, len);
                    }
                }
            })
            .expect("spawning the prefault thread");
        Prefaulter {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Called after appending `[pos, pos+len)` to `f`: when the append entered a new window,
    /// the window after the next one is prefaulted (the next was asked for at the last
    /// crossing, or when the segment was new).
    pub fn after_append(&self, f: &Arc<MappedFile>, pos: usize, len: usize) {
        let (before, after) = (pos / PREFAULT_WINDOW, (pos + len) / PREFAULT_WINDOW);
        if pos == 0 {
            self.request(f, 0, 2 * PREFAULT_WINDOW);
        }
        if after != before {
            self.request(f, (after + 1) * PREFAULT_WINDOW, PREFAULT_WINDOW);
        }
    }

    fn request(&self, f: &Arc<MappedFile>, pos: usize, len: usize) {
        if pos < f.file_size() {
            if let Some(tx) = &self.tx {
                let _ = tx.send((f.clone(), pos, len));
            }
        }
    }
}

impl Drop for Prefaulter {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `TransientStorePool`: write buffers of one segment each, lent to new commitlog segments
/// so appends go to memory and a commit service moves them into the file.
#[derive(Debug)]
pub struct TransientStorePool {
    file_size: usize,
    free: Mutex<Vec<Vec<u8>>>,
}

impl TransientStorePool {
    /// A pool of `count` buffers of `file_size` bytes, allocated up front.
    pub fn new(count: usize, file_size: usize) -> Arc<TransientStorePool> {
        let free = (0..count)
            .map(|_| {
                let mut b = vec![0u8; file_size];
                // Touch every page now, as Java's pool `mlock`s its buffers when the store
                // starts: a fresh zeroed allocation is only reserved, and the writer would
                // otherwise take a page fault (and the kernel zero a page) every 4 KiB of
                // appends into the buffer. `black_box` keeps the compiler from dropping stores
                // of zeros into memory it knows is zeroed.
                for i in (0..file_size).step_by(4096) {
                    *std::hint::black_box(&mut b[i]) = 0;
                }
                b
            })
            .collect();
        Arc::new(TransientStorePool {
            file_size,
            free: Mutex::new(free),
        })
    }

    /// A buffer, or `None` when all are lent out (the segment then appends through its mapping).
    pub fn borrow(&self) -> Option<Vec<u8>> {
        self.free.lock().pop()
    }

    pub fn give_back(&self, buf: Vec<u8>) {
        if buf.len() == self.file_size {
            self.free.lock().push(buf);
        }
    }

    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.free.lock().len()
    }
}

/// The ordered segments of one log directory.
pub struct MappedFileQueue {
    dir: PathBuf,
    file_size: usize,
    writable: bool,
    files: RwLock<Vec<Arc<MappedFile>>>,
    pool: Option<Arc<TransientStorePool>>,
    /// Every segment, loaded or created, appends with `pwrite` (see
    /// [`MappedFile::set_write_through`]).
    write_through: bool,
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
        Self::load_inner(dir, file_size, writable, None)
    }

    /// A read-only [`load`](Self::load) for inspection that leaves side files out instead of
    /// failing, recording each in `left` (see [`crate::left_out`]): stray names, and files
    /// that cannot be a segment of this geometry (a name that is not a multiple of
    /// `file_size` and a length other than it). With `lengths`, (consume queues) a file of the
    /// wrong length is left out too, with every later file of the folder (the queue must stay
    /// contiguous). Without it (the commitlog), a wrong-length segment still fails as in Java.
    pub fn load_tolerant(
        dir: &Path,
        file_size: usize,
        lengths: bool,
        left: &mut Vec<crate::left_out::LeftOut>,
    ) -> Result<MappedFileQueue> {
        Self::load_inner(dir, file_size, false, Some((left, lengths)))
    }

    fn load_inner(
        dir: &Path,
        file_size: usize,
        writable: bool,
        mut tolerant: Option<(&mut Vec<crate::left_out::LeftOut>, bool)>,
    ) -> Result<MappedFileQueue> {
        use crate::left_out::LeftOut;
        let mut found: Vec<(u64, PathBuf)> = Vec::new();
        match fs::read_dir(dir) {
            Ok(rd) => {
                for entry in rd {
                    let entry = entry.at(dir)?;
                    let path = entry.path();
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    let ft = entry.file_type().at(&path)?;
                    let stray = "stray entry: segment names are 20 decimal digits (move it out of the store)";
                    let Some(offset) = file_name_to_offset(&name) else {
                        if let Some((left, _)) = tolerant.as_mut() {
                            left.push(LeftOut::new(&path, stray));
                            continue;
                        }
                        return Err(StoreError::bad_file(&path, stray));
                    };
                    if !ft.is_file() {
                        return Err(StoreError::bad_file(
                            &path,
                            "not a regular file (symlinks and directories are not segments)",
                        ));
                    }
                    if let Some((left, lengths)) = tolerant.as_mut() {
                        let len = entry.metadata().at(&path)?.len();
                        if len != file_size as u64
                            && len != 0
                            && (*lengths || offset % file_size as u64 != 0)
                        {
                            left.push(LeftOut::new(
                                &path,
                                format!(
                                    "{len} bytes, not {file_size}: not a segment of this folder"
                                ),
                            ));
                            continue;
                        }
                    }
                    // Offsets are Java longs, and every position in the segment must be one:
                    // a name near u64::MAX would overflow `offset + size` everywhere.
                    if offset
                        .checked_add(file_size as u64)
                        .is_none_or(|end| end > i64::MAX as u64)
                    {
                        return Err(StoreError::bad_file(
                            &path,
                            "segment name is an offset too large for a Java long",
                        ));
                    }
                    found.push((offset, path));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(dir, e)),
        }
        found.sort();
        if let Some((left, true)) = tolerant.as_mut() {
            // A consume queue must stay contiguous: after a left-out file, the rest go too.
            if let Some(i) =
                (1..found.len()).find(|&i| found[i].0 != found[i - 1].0 + file_size as u64)
            {
                for (_, p) in found.drain(i..) {
                    left.push(LeftOut::new(p, "follows a gap left by a left-out file"));
                }
            }
        }
        if let Some((_, last)) = found.last() {
            if drop_interrupted_creation(last, !writable)? {
                found.pop();
            }
        }
        let mut files = Vec::with_capacity(found.len());
        for (offset, path) in found {
            files.push(Arc::new(MappedFile::open(
                &path, offset, file_size, writable,
            )?));
        }
        Ok(MappedFileQueue {
            dir: dir.to_path_buf(),
            file_size,
            writable,
            files: RwLock::new(files),
            pool: None,
            write_through: false,
        })
    }

    /// New segments will borrow write buffers from `pool`.
    pub fn set_transient_store_pool(&mut self, pool: Arc<TransientStorePool>) {
        self.pool = Some(pool);
    }

    /// Makes every segment, those loaded and those created later, append with `pwrite`
    /// (see [`MappedFile::set_write_through`]).
    pub fn set_write_through(&mut self, on: bool) {
        self.write_through = on;
        for f in self.files.read().iter() {
            f.set_write_through(on);
        }
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

    /// Offset just past the last appended byte.
    pub fn max_offset(&self) -> u64 {
        self.last()
            .map(|f| f.file_from_offset() + f.wrote_position() as u64)
            .unwrap_or(0)
    }

    /// Offset just past the last byte in the files (readable): below `max_offset` only while a
    /// write buffer holds uncommitted appends.
    pub fn committed_offset(&self) -> u64 {
        self.last()
            .map(|f| f.file_from_offset() + f.committed_position() as u64)
            .unwrap_or(0)
    }

    /// Offset up to which everything is durable.
    pub fn flushed_offset(&self) -> u64 {
        let files = self.files.read();
        for f in files.iter() {
            if f.flushed_position() < f.file_size() {
                return f.file_from_offset() + f.flushed_position() as u64;
            }
        }
        files
            .last()
            .map(|f| f.file_from_offset() + f.file_size() as u64)
            .unwrap_or(0)
    }

    /// Flushes every segment holding unflushed bytes when it has at least `least_pages` dirty
    /// pages (see [`MappedFile::flush_if`]). Returns the store timestamp of the last segment
    /// flushed, for the checkpoint.
    pub fn flush_least(&self, least_pages: usize) -> Result<Option<i64>> {
        let mut ts = None;
        for f in self.files() {
            if f.flushed_position() < f.committed_position() {
                let before = f.flushed_position();
                if f.flush_if(least_pages)? > before {
                    ts = Some(f.last_store_timestamp());
                }
            }
        }
        Ok(ts)
    }

    /// Commits write buffers into their files (transient store pool). Returns whether any
    /// byte was committed.
    pub fn commit(&self, least_pages: usize) -> Result<bool> {
        let mut moved = false;
        for f in self.files() {
            let before = f.committed_position();
            if let Some(buf) = f.commit(least_pages)? {
                if let Some(p) = &self.pool {
                    p.give_back(buf);
                }
            }
            moved |= f.committed_position() > before;
        }
        Ok(moved)
    }

    /// The segment holding `offset`, found by binary search (gaps in the names are tolerated).
    pub fn find_by_offset(&self, offset: u64) -> Option<Arc<MappedFile>> {
        let files = self.files.read();
        let idx = files.partition_point(|f| f.file_from_offset() <= offset);
        if idx == 0 {
            return None;
        }
        let f = &files[idx - 1];
        (offset < f.file_from_offset() + f.file_size() as u64 && f.is_available())
            .then(|| f.clone())
    }

    /// [`MappedFileQueue::find_by_offset`] for a run of lookups (the records or units of one
    /// pull): `cache` keeps the file found last and is searched again (lock, search, reference
    /// count) only when `offset` lies outside it or it is no longer available.
    pub fn find_by_offset_cached<'c>(
        &self,
        offset: u64,
        cache: &'c mut Option<Arc<MappedFile>>,
    ) -> Option<&'c Arc<MappedFile>> {
        let hit = cache.as_ref().is_some_and(|f| {
            offset >= f.file_from_offset()
                && offset < f.file_from_offset() + f.file_size() as u64
                && f.is_available()
        });
        if !hit {
            *cache = Some(self.find_by_offset(offset)?);
        }
        cache.as_ref()
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
        let new_dirs = crate::iorecord::create_dir_all(&self.dir).at(&self.dir)?;
        let path = self.dir.join(offset_to_file_name(from));
        let f = Arc::new(MappedFile::create(&path, from, self.file_size)?);
        crate::iorecord::sync_new_entry(&path, Some(f.file()), &new_dirs).at(&path)?;
        f.set_write_through(self.write_through);
        if let Some(buf) = self.pool.as_ref().and_then(|p| p.borrow()) {
            f.set_write_buffer(buf);
        }
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
                    crate::iorecord::remove_file(f.path()).at(f.path())?;
                }
            } else {
                keep.push(f);
            }
        }
        *files = keep;
        Ok(())
    }

    /// The segment at position `i` (0 = oldest).
    pub fn get(&self, i: usize) -> Option<Arc<MappedFile>> {
        self.files.read().get(i).cloned()
    }

    /// `MappedFile#destroy(intervalForcibly)` for a segment of this queue, with `Arc` counts as
    /// the reference count: the segment stops being handed to readers, and its file is deleted
    /// once nobody but the queue and the caller (who must hold exactly one `Arc` of it) refers
    /// to it, or regardless once `interval_forcibly_ms` have passed since deletion first
    /// started. A forced delete is safe: the mapping stays valid for the remaining holders and
    /// is unmapped when the last one lets go. Returns whether the file is gone; the segment
    /// stays in the queue until [`remove_destroyed`](Self::remove_destroyed).
    pub fn destroy(
        &self,
        f: &Arc<MappedFile>,
        now_ms: i64,
        interval_forcibly_ms: u64,
    ) -> Result<bool> {
        if f.is_destroyed() {
            return Ok(true);
        }
        let first = f.shutdown(now_ms);
        {
            // Under the write lock nobody is between reading `available` and cloning the Arc
            // (`find_by_offset` clones under the read lock), so the count is settled.
            let files = self.files.write();
            let in_queue = files.iter().any(|g| Arc::ptr_eq(g, f)) as usize;
            let holders = Arc::strong_count(f).saturating_sub(1 + in_queue);
            let forced = now_ms.saturating_sub(first) >= interval_forcibly_ms as i64;
            if holders > 0 && !forced {
                return Ok(false);
            }
        }
        if self.writable {
            match crate::iorecord::remove_file(f.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(f.path(), e)),
            }
        }
        f.destroyed.store(true, Ordering::Release);
        Ok(true)
    }

    /// Drops destroyed segments from the queue (Java's `deleteExpiredFile(files)`). Returns how
    /// many were dropped.
    pub fn remove_destroyed(&self) -> usize {
        let mut files = self.files.write();
        let before = files.len();
        files.retain(|f| !f.is_destroyed());
        before - files.len()
    }

    /// Removes the last segment from the queue and deletes its file (when writable).
    pub fn remove_last(&self) -> Result<Option<Arc<MappedFile>>> {
        let mut files = self.files.write();
        let Some(f) = files.pop() else {
            return Ok(None);
        };
        if self.writable {
            crate::iorecord::remove_file(f.path()).at(f.path())?;
        }
        Ok(Some(f))
    }

    /// Commits and flushes every segment with unflushed bytes.
    pub fn flush(&self) -> Result<()> {
        self.commit(0)?;
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

    /// Write-through appends (pwrite) land in the file and are read through the mapping,
    /// exactly as appends through the mapping are; flushing works the same.
    #[test]
    fn write_through_appends_reach_file_and_mapping() {
        let d = tempfile::tempdir().unwrap();
        let mut q = MappedFileQueue::load(d.path(), 4096, true).unwrap();
        q.set_write_through(true);
        let (f, _) = q.last_or_create(0).unwrap();
        assert!(f.is_write_through());
        assert!(f.append(b"hello, ").unwrap());
        let (pos, ()) = f
            .append_with(6, |pos, buf| {
                assert_eq!(pos, 7);
                buf.copy_from_slice(b"world!");
            })
            .unwrap()
            .unwrap();
        assert_eq!(pos, 7);
        assert_eq!(f.wrote_position(), 13);
        assert_eq!(f.committed_position(), 13);
        assert_eq!(f.slice(0, 13).unwrap(), b"hello, world!");
        assert_eq!(f.flush_if(0).unwrap(), 13);
        let on_disk = std::fs::read(f.path()).unwrap();
        assert_eq!(on_disk.len(), 4096);
        assert_eq!(&on_disk[..13], b"hello, world!");
        assert!(on_disk[13..].iter().all(|&b| b == 0));
        // Too big for what is left: nothing written, nothing moved.
        assert!(!f.append(&[1u8; 4090]).unwrap());
        assert_eq!(f.wrote_position(), 13);
        // A segment created later is write-through too.
        f.set_wrote_position(4096);
        let (g, _) = q.last_or_create(0).unwrap();
        assert_eq!(g.file_from_offset(), 4096);
        assert!(g.is_write_through());
    }

    /// Blocks of the file: a hole (sparse) has none; zero-filling allocates them.
    fn allocated_blocks(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).unwrap().blocks()
    }

    /// Zero-fill ahead writes only holes above the write position: the chunk with bytes in it
    /// above the write position (a torn tail recovery left there, say) and everything below
    /// the write position stay as they are, byte for byte.
    #[test]
    fn zero_fill_ahead_fills_only_holes_above_the_write_position() {
        const MIB: usize = 1 << 20;
        let d = tempfile::tempdir().unwrap();
        let mut q = MappedFileQueue::load(d.path(), 2 * MIB, true).unwrap();
        q.set_write_through(true);
        let (f, _) = q.last_or_create(0).unwrap();
        assert!(f.append(&[7u8; 5000]).unwrap());
        // Bytes above the write position, 1.5 MiB in: not the store's, but not ours to erase.
        f.write_at(MIB + MIB / 2, b"torn tail").unwrap();
        f.flush_if(0).unwrap();
        f.sync_range(MIB + MIB / 2, 9).unwrap();
        let before = std::fs::read(f.path()).unwrap();
        let blocks_before = allocated_blocks(f.path());

        // Below (and across) the write position: nothing is written.
        f.zero_fill_ahead(0, 8192);
        assert_eq!(allocated_blocks(f.path()), blocks_before);
        // Above it: the holes of the first MiB are filled, up to the chunk holding the tail.
        f.zero_fill_ahead(8192, 2 * MIB);
        let after = std::fs::read(f.path()).unwrap();
        assert_eq!(after, before, "zero-filling changed a byte");
        let filled = allocated_blocks(f.path()) - blocks_before;
        // 512-byte units: the 256 KiB chunks from 8 KiB on that end before the tail at
        // 1.5 MiB (five; the sixth would reach past it, so it and the rest are left alone).
        assert_eq!(filled as usize * 512, 5 * 256 * 1024, "filled blocks");
        assert_eq!(&after[MIB + MIB / 2..MIB + MIB / 2 + 9], b"torn tail");
        // Appends after it land as before.
        assert!(f.append(&[9u8; 3000]).unwrap());
        assert_eq!(f.slice(5000, 3000).unwrap(), &[9u8; 3000][..]);
    }

    /// Appends racing the zero-filler are never overwritten by its zeros: the filler keeps
    /// claiming the chunk right above the write position, so appends keep reaching into a
    /// chunk while its zeros are being written (and must wait for them).
    #[test]
    fn zero_fill_ahead_never_overwrites_a_racing_append() {
        const MIB: usize = 1 << 20;
        let d = tempfile::tempdir().unwrap();
        let mut q = MappedFileQueue::load(d.path(), 32 * MIB, true).unwrap();
        q.set_write_through(true);
        let (f, _) = q.last_or_create(0).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let filler = {
            let (f, done) = (f.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Acquire) {
                    let next_page = (f.wrote_position() + 4095) & !4095;
                    f.zero_fill_ahead(next_page, 256 * 1024);
                }
            })
        };
        let mut n = 0u32;
        while f.append(&[(n % 251) as u8 + 1; 1000]).unwrap() {
            n += 1;
        }
        done.store(true, Ordering::Release);
        filler.join().unwrap();
        let on_disk = std::fs::read(f.path()).unwrap();
        for i in 0..n as usize {
            let want = (i as u32 % 251) as u8 + 1;
            assert!(
                on_disk[i * 1000..(i + 1) * 1000].iter().all(|&b| b == want),
                "append {i} was overwritten"
            );
        }
    }

    /// A failed write-through append (an injected short write) publishes nothing and leaves
    /// no half-written bytes behind; the next append goes to the same place.
    #[test]
    fn write_through_short_write_publishes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let mut q = MappedFileQueue::load(d.path(), 4096, true).unwrap();
        q.set_write_through(true);
        let (f, _) = q.last_or_create(0).unwrap();
        assert!(f.append(b"first").unwrap());
        let guard =
            crate::fault::inject(crate::fault::FaultPoint::Write, d.path(), libc::EIO, 0, 1);
        let e = f.append(&[0xAB; 100]).unwrap_err().to_string();
        drop(guard);
        assert!(e.contains(&f.path().display().to_string()), "{e}");
        assert_eq!(f.wrote_position(), 5);
        assert!(std::fs::read(f.path()).unwrap()[5..]
            .iter()
            .all(|&b| b == 0));
        assert!(f.append(b"second").unwrap());
        assert_eq!(f.slice(0, 11).unwrap(), b"firstsecond");
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
        let e = MappedFileQueue::load(d.path(), 64, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("00000000000000000064") && e.contains("length 63"),
            "{e}"
        );
        fs::remove_file(d.path().join(offset_to_file_name(64))).unwrap();
        fs::write(d.path().join("notes.txt"), b"x").unwrap();
        let e = MappedFileQueue::load(d.path(), 64, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("notes.txt") && e.contains("stray"), "{e}");
    }

    #[test]
    fn write_buffer_is_readable_only_after_commit() {
        let d = tempfile::tempdir().unwrap();
        let pool = TransientStorePool::new(1, 8192);
        let mut q = MappedFileQueue::load(d.path(), 8192, true).unwrap();
        q.set_transient_store_pool(pool.clone());
        let (f, _) = q.last_or_create(0).unwrap();
        assert_eq!(pool.available(), 0);
        assert!(f.append(&[7u8; 100]).unwrap());
        assert_eq!(q.max_offset(), 100);
        assert_eq!(q.committed_offset(), 0);
        assert!(f.slice(0, 100).is_none());
        // Fewer than 4 whole pages: a commit with leastPages 4 waits.
        assert!(!q.commit(4).unwrap());
        assert!(q.commit(0).unwrap());
        assert_eq!(f.slice(0, 100).unwrap(), &[7u8; 100]);
        assert_eq!(fs::read(f.path()).unwrap()[..100], [7u8; 100]);
        // Filling the segment and committing gives the buffer back to the pool.
        assert!(f.append(&vec![1u8; 8192 - 100]).unwrap());
        q.commit(4).unwrap();
        assert_eq!(pool.available(), 1);
        assert!(!f.has_write_buffer());
        assert_eq!(q.flush_least(0).unwrap(), Some(0));
        assert_eq!(q.flushed_offset(), 8192);
    }

    /// The commit writes the buffer's bytes into the file with `pwrite`: the file and the
    /// mapping hold exactly what was appended, zeros after it; a commit whose write fails
    /// publishes nothing, and the next one writes the same range again.
    #[test]
    fn commit_writes_the_buffer_into_file_and_mapping() {
        let d = tempfile::tempdir().unwrap();
        let pool = TransientStorePool::new(1, 3 * 4096);
        let mut q = MappedFileQueue::load(d.path(), 3 * 4096, true).unwrap();
        q.set_transient_store_pool(pool);
        let (f, _) = q.last_or_create(0).unwrap();
        let a: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8 + 1).collect();
        assert!(f.append(&a).unwrap());
        assert!(q.commit(0).unwrap());
        let b = vec![0x5Au8; 3000];
        assert!(f.append(&b).unwrap());
        let guard =
            crate::fault::inject(crate::fault::FaultPoint::Write, d.path(), libc::EIO, 0, 1);
        let e = q.commit(0).unwrap_err().to_string();
        drop(guard);
        assert!(e.contains(&f.path().display().to_string()), "{e}");
        assert_eq!(f.committed_position(), 5000);
        assert!(f.slice(0, 5001).is_none());
        assert!(q.commit(0).unwrap());
        assert_eq!(f.committed_position(), 8000);
        let mut want = a.clone();
        want.extend_from_slice(&b);
        assert_eq!(f.slice(0, 8000).unwrap(), &want[..]);
        let on_disk = fs::read(f.path()).unwrap();
        assert_eq!(on_disk.len(), 3 * 4096);
        assert_eq!(&on_disk[..8000], &want[..]);
        assert!(on_disk[8000..].iter().all(|&x| x == 0));
    }

    /// Pool buffers come touched but zero, of the segment size.
    #[test]
    fn pool_buffers_are_zeroed_and_full_size() {
        let pool = TransientStorePool::new(2, 5 * 4096 + 100);
        for _ in 0..2 {
            let b = pool.borrow().unwrap();
            assert_eq!(b.len(), 5 * 4096 + 100);
            assert!(b.iter().all(|&x| x == 0));
        }
        assert!(pool.borrow().is_none());
    }

    #[test]
    fn zero_length_last_file_is_an_interrupted_creation() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(offset_to_file_name(0)), vec![0u8; 64]).unwrap();
        fs::write(d.path().join(offset_to_file_name(64)), b"").unwrap();
        // Read-only: skipped, left in place.
        assert_eq!(MappedFileQueue::load(d.path(), 64, false).unwrap().len(), 1);
        assert!(d.path().join(offset_to_file_name(64)).exists());
        // Writable: removed.
        assert_eq!(MappedFileQueue::load(d.path(), 64, true).unwrap().len(), 1);
        assert!(!d.path().join(offset_to_file_name(64)).exists());
        // A zero-length file that is not the last is damage, not a creation in progress.
        fs::write(d.path().join(offset_to_file_name(0)), b"").unwrap();
        fs::write(d.path().join(offset_to_file_name(64)), vec![0u8; 64]).unwrap();
        assert!(MappedFileQueue::load(d.path(), 64, false).is_err());
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
