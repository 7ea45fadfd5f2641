//! The message index: the files under `<root>/index`, with RocketMQ **4.6.0** semantics.
//!
//! An [`IndexFile`] is one fixed-size, memory-mapped file (header, hash slots, entries; see
//! [`crate::format::index`]). [`IndexService`] is the directory of them, ordered by name, with
//! the write path of `IndexService#buildIndex` and the read path of `IndexService#queryOffset`.
//!
//! Byte compatibility notes (4.6.0):
//! - The in-memory index count of a fresh file is 1 while the file still says 0; the first put
//!   writes entry number 1 and stores 2.
//! - `hashSlotCount` is incremented on every put (5.x increments it only for empty slots).
//! - A new file inherits begin = end = the previous file's end offset/timestamp, so its first
//!   entry's time difference is computed against the inherited timestamp before begin is
//!   overwritten with the first message's values.
//! - Every header field is written through to the mapping when it changes, field by field, as
//!   `IndexHeader`'s setters do; nothing else writes the header.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut};

use crate::clock::time_millis_to_human_string;
use crate::error::{IoContext, Result, StoreError};
use crate::format::hash::{index_hash_of, index_key_hash, java_hash_extend, java_string_hash};
use crate::format::index::{
    entry_pos, index_file_size, slot_pos, time_diff_secs, IndexEntry, IndexHeader,
    INDEX_ENTRY_SIZE, INDEX_HEADER_SIZE,
};
use crate::format::{get_i32, put_i32, put_i64};

/// `MessageSysFlag.TRANSACTION_ROLLBACK_TYPE`: the transaction bits of a rolled-back record.
const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;
/// `MessageSysFlag.TRANSACTION_ROLLBACK_TYPE` is also the mask of the transaction bits.
const TRANSACTION_MASK: i32 = 0xC;
/// Length of an index file name: `yyyyMMddHHmmssSSS`.
const INDEX_FILE_NAME_LEN: usize = 17;

// Header field positions (`IndexHeader`).
const BEGIN_TIMESTAMP_POS: usize = 0;
const END_TIMESTAMP_POS: usize = 8;
const BEGIN_PHY_OFFSET_POS: usize = 16;
const END_PHY_OFFSET_POS: usize = 24;
const HASH_SLOT_COUNT_POS: usize = 32;
const INDEX_COUNT_POS: usize = 36;

enum Map {
    Rw(MmapMut),
    Ro(Mmap),
}

impl Map {
    fn bytes(&self) -> &[u8] {
        match self {
            Map::Rw(m) => m,
            Map::Ro(m) => m,
        }
    }
}

/// Checks a geometry the way the store needs it: non-zero slots, room for at least one entry
/// besides the never-used entry 0, and a file size Java's `int` arithmetic can express.
fn check_geometry(hash_slot_num: u32, index_num: u32) -> Result<usize> {
    if hash_slot_num == 0 {
        return Err(StoreError::Config(
            "index hash slot number must be at least 1".into(),
        ));
    }
    if index_num < 2 {
        return Err(StoreError::Config(format!(
            "index number {index_num} leaves no room for an entry (entry 0 is never used; at least 2)"
        )));
    }
    let size = index_file_size(hash_slot_num, index_num);
    if size > i32::MAX as usize {
        return Err(StoreError::Config(format!(
            "index file of {hash_slot_num} slots and {index_num} entries would be {size} bytes, \
             more than Java can map"
        )));
    }
    Ok(size)
}

/// Fills the page cache for a new index file's hash-slot table and first entries on a
/// short-lived thread, through a read-only mapping of its own: `MADV_POPULATE_READ` allocates
/// the (zero) pages without dirtying them, so the put path's random slot writes take minor
/// faults instead of zero-filling pages. Best effort; failures only mean no prefault.
fn prefault_in_background(file: &File, size: usize, hash_slot_num: u32) {
    let Ok(file) = file.try_clone() else {
        return;
    };
    let len = (crate::format::index::slot_pos(hash_slot_num) + 16 * 1024 * 1024).min(size);
    let _ = std::thread::Builder::new()
        .name("IndexPrefault".into())
        .spawn(move || {
            // SAFETY: a read-only, shared mapping of a file the store owns; nothing truncates an
            // index file while the store runs, and this mapping is only advised, never read.
            if let Ok(map) = unsafe { memmap2::MmapOptions::new().len(len).map(&file) } {
                let _ = map.advise_range(memmap2::Advice::PopulateRead, 0, len);
            }
        });
}

/// One index file, mapped writable (`MmapMut`) or read-only (`Mmap`).
pub struct IndexFile {
    path: PathBuf,
    map: Map,
    hash_slot_num: u32,
    index_num: u32,
    /// The in-memory header, as Java's `IndexHeader` atomics hold it (index count at least 1).
    header: IndexHeader,
    /// 5.x rule: hashSlotCount counts only keys that take an empty slot (4.6.0: every key).
    slot_count_5x: bool,
}

impl std::fmt::Debug for IndexFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFile")
            .field("path", &self.path)
            .field("writable", &self.is_writable())
            .field("hash_slot_num", &self.hash_slot_num)
            .field("index_num", &self.index_num)
            .field("header", &self.header)
            .finish()
    }
}

impl IndexFile {
    /// Creates a new, zero-filled index file (`new IndexFile(name, slots, num, endPhyOffset,
    /// endTimestamp)`): when `end_phy_offset` / `end_timestamp` are positive, both the begin and
    /// the end of the header are set to them and written to the file at once.
    ///
    /// Fails if `path` already exists.
    #[cfg(feature = "internals")]
    pub fn create(
        path: impl Into<PathBuf>,
        hash_slot_num: u32,
        index_num: u32,
        end_phy_offset: i64,
        end_timestamp: i64,
    ) -> Result<IndexFile> {
        Self::create_with(
            path,
            hash_slot_num,
            index_num,
            end_phy_offset,
            end_timestamp,
            true,
        )
    }

    /// [`create`](Self::create), prefaulting the new file on a background thread or not.
    pub(crate) fn create_with(
        path: impl Into<PathBuf>,
        hash_slot_num: u32,
        index_num: u32,
        end_phy_offset: i64,
        end_timestamp: i64,
        prefault: bool,
    ) -> Result<IndexFile> {
        let path = path.into();
        let size = check_geometry(hash_slot_num, index_num)?;
        let file = crate::mapped_file::open_options_no_follow()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .at(&path)?;
        crate::iorecord::create(&path);
        let made = (|| -> Result<IndexFile> {
            crate::fault::check(crate::fault::FaultPoint::CreateFile, &path)
                .and_then(|()| file.set_len(size as u64))
                .inspect(|()| crate::iorecord::set_len(&path, size as u64))
                .and_then(|()| crate::iorecord::sync_new_entry(&path, Some(&file), &[]))
                .at(&path)?;
            if prefault {
                prefault_in_background(&file, size, hash_slot_num);
            }
            // SAFETY: the file was just created by us with its final length; the store owns the
            // index directory, and nothing truncates an index file while it is mapped.
            let map = unsafe { MmapMut::map_mut(&file) }.at(&path)?;
            let mut f = IndexFile {
                path: path.clone(),
                map: Map::Rw(map),
                hash_slot_num,
                index_num,
                header: IndexHeader {
                    index_count: 1,
                    ..IndexHeader::default()
                },
                slot_count_5x: false,
            };
            if end_phy_offset > 0 {
                f.set_begin_phy_offset(end_phy_offset);
                f.set_end_phy_offset(end_phy_offset);
            }
            if end_timestamp > 0 {
                f.set_begin_timestamp(end_timestamp);
                f.set_end_timestamp(end_timestamp);
            }
            Ok(f)
        })();
        if made.is_err() {
            drop(file);
            let _ = crate::iorecord::remove_file(&path);
        }
        made
    }

    /// Opens an existing index file and loads its header (`IndexFile#load`). The file must be
    /// exactly `index_file_size(hash_slot_num, index_num)` bytes. Read-only opens never write.
    pub fn open(
        path: impl Into<PathBuf>,
        hash_slot_num: u32,
        index_num: u32,
        read_only: bool,
    ) -> Result<IndexFile> {
        let path = path.into();
        let size = check_geometry(hash_slot_num, index_num)?;
        let file = crate::mapped_file::open_options_no_follow()
            .read(true)
            .write(!read_only)
            .open(&path)
            .at(&path)?;
        let len = file.metadata().at(&path)?.len();
        if len != size as u64 {
            return Err(StoreError::bad_file(
                &path,
                format!(
                    "index file is {len} bytes, expected {size} \
                     ({hash_slot_num} hash slots, {index_num} entries)"
                ),
            ));
        }
        let map = if read_only {
            // SAFETY: a read-only private view; the file's length was checked above, and the
            // store does not truncate index files while they are mapped.
            Map::Ro(unsafe { Mmap::map(&file) }.at(&path)?)
        } else {
            // SAFETY: as above; the store owns the index directory while writing.
            Map::Rw(unsafe { MmapMut::map_mut(&file) }.at(&path)?)
        };
        let mut header =
            IndexHeader::decode(map.bytes()).map_err(|e| StoreError::corrupt(&path, 0, e))?;
        header.index_count = header.effective_index_count();
        Ok(IndexFile {
            path,
            map,
            hash_slot_num,
            index_num,
            header,
            slot_count_5x: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file name (the creation time, `yyyyMMddHHmmssSSS`).
    pub fn name(&self) -> &str {
        self.path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
    }

    /// The header as Java holds it in memory: the index count is at least 1 (the number of the
    /// next entry to write). A fresh file's bytes still say 0 until the first put.
    #[cfg(feature = "internals")]
    pub fn header(&self) -> IndexHeader {
        self.header
    }

    /// The header exactly as the file's bytes hold it.
    pub fn disk_header(&self) -> IndexHeader {
        // The mapping is at least a header long (checked when the file was opened or created).
        IndexHeader::decode(self.map.bytes()).unwrap_or_default()
    }

    pub fn hash_slot_num(&self) -> u32 {
        self.hash_slot_num
    }

    pub fn index_num(&self) -> u32 {
        self.index_num
    }

    pub fn is_writable(&self) -> bool {
        matches!(self.map, Map::Rw(_))
    }

    /// The whole file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.bytes()
    }

    pub fn begin_timestamp(&self) -> i64 {
        self.header.begin_timestamp
    }

    pub fn end_timestamp(&self) -> i64 {
        self.header.end_timestamp
    }

    #[cfg(feature = "internals")]
    pub fn begin_phy_offset(&self) -> i64 {
        self.header.begin_phy_offset
    }

    pub fn end_phy_offset(&self) -> i64 {
        self.header.end_phy_offset
    }

    /// `IndexFile#isWriteFull`: the index count has reached the number of entries.
    pub fn is_write_full(&self) -> bool {
        self.header.index_count as i64 >= self.index_num as i64
    }

    /// Entry number `n`, if it lies inside the file.
    pub fn entry(&self, n: u32) -> Option<IndexEntry> {
        if n >= self.index_num {
            return None;
        }
        let pos = entry_pos(self.hash_slot_num, n);
        IndexEntry::decode(self.map.bytes().get(pos..pos + INDEX_ENTRY_SIZE)?).ok()
    }

    /// The raw value of hash slot `slot`, if it lies inside the file.
    pub fn slot(&self, slot: u32) -> Option<i32> {
        if slot >= self.hash_slot_num {
            return None;
        }
        get_i32(self.map.bytes(), slot_pos(slot))
    }

    /// `IndexFile#isTimeMatched`: does `[begin, end]` overlap the file's time range?
    pub fn is_time_matched(&self, begin: i64, end: i64) -> bool {
        let (b, e) = (self.header.begin_timestamp, self.header.end_timestamp);
        (begin < b && end > e) || (begin >= b && begin <= e) || (end >= b && end <= e)
    }

    /// Count hashSlotCount the 5.x way (only keys that take an empty slot).
    pub fn set_slot_count_5x(&mut self, on: bool) {
        self.slot_count_5x = on;
    }

    /// `IndexFile#putKey` of 4.6.0 (of 5.x after [`set_slot_count_5x`](Self::set_slot_count_5x)).
    /// Returns false when the file is full (or read-only).
    #[cfg(feature = "internals")]
    pub fn put_key(&mut self, key: &str, phy_offset: i64, store_timestamp: i64) -> bool {
        self.put_hash(index_key_hash(key), phy_offset, store_timestamp)
    }

    fn put_hash(&mut self, key_hash: i32, phy_offset: i64, store_timestamp: i64) -> bool {
        if !self.is_writable() || self.is_write_full() {
            return false;
        }
        let index_count = self.header.index_count;
        let slot = key_hash as u32 % self.hash_slot_num;
        let spos = slot_pos(slot);
        let mut slot_value = get_i32(self.map.bytes(), spos).unwrap_or(0);
        if slot_value <= 0 || slot_value > index_count {
            slot_value = 0;
        }
        let entry = IndexEntry {
            key_hash,
            phy_offset,
            time_diff_secs: time_diff_secs(store_timestamp, self.header.begin_timestamp),
            prev_index: slot_value,
        };
        // 1 <= index_count < index_num here, so the entry lies inside the file.
        let epos = entry_pos(self.hash_slot_num, index_count as u32);
        {
            let buf = self.buf_mut();
            buf[epos..epos + INDEX_ENTRY_SIZE].copy_from_slice(&entry.encode());
            put_i32(buf, spos, index_count);
        }
        self.recorded(epos, INDEX_ENTRY_SIZE);
        self.recorded(spos, 4);
        if index_count <= 1 {
            self.set_begin_phy_offset(phy_offset);
            self.set_begin_timestamp(store_timestamp);
        }
        // 4.6.0 counts every put; 5.x (`IndexFile#putKey`) only a key whose slot was empty.
        if !self.slot_count_5x || slot_value == 0 {
            self.header.hash_slot_count = self.header.hash_slot_count.wrapping_add(1);
            let hsc = self.header.hash_slot_count;
            put_i32(self.buf_mut(), HASH_SLOT_COUNT_POS, hsc);
        }
        self.header.index_count = index_count + 1;
        put_i32(self.buf_mut(), INDEX_COUNT_POS, index_count + 1);
        self.recorded(0, INDEX_HEADER_SIZE);
        self.set_end_phy_offset(phy_offset);
        self.set_end_timestamp(store_timestamp);
        true
    }

    /// `IndexFile#selectPhyOffset` of 4.6.0 for one key: the commitlog offsets of entries whose
    /// hash equals the key's and whose time lies in `[begin, end]`, newest first, at most
    /// `max_num`. Hash collisions are included, as in Java.
    #[cfg(feature = "internals")]
    pub fn select_phy_offsets(&self, key: &str, max_num: usize, begin: i64, end: i64) -> Vec<i64> {
        let mut out = Vec::new();
        self.select_into(&mut out, index_key_hash(key), max_num, begin, end);
        out
    }

    /// Walks the chain of `key_hash`, appending to `out` until it holds `max_num` offsets.
    ///
    /// Stop rules are Java's (prev <= 0, prev > index count, prev == current, time < begin,
    /// negative time difference), plus two for hostile files that Java would loop on or fail
    /// with an exception: a link must point to an older entry (prev < current; the put path
    /// always links to the slot's previous head, which was written earlier, so every chain a
    /// broker wrote strictly decreases, while a crafted cycle ends at its first backward step),
    /// and the walk stops at an entry outside the file. A walk is therefore at most `slot value`
    /// steps, itself below the file's entry count.
    fn select_into(&self, out: &mut Vec<i64>, key_hash: i32, max_num: usize, begin: i64, end: i64) {
        let index_count = self.header.index_count;
        let slot = key_hash as u32 % self.hash_slot_num;
        let slot_value = match get_i32(self.map.bytes(), slot_pos(slot)) {
            Some(v) => v,
            None => return,
        };
        if slot_value <= 0 || slot_value > index_count || index_count <= 1 {
            return;
        }
        let mut next = slot_value;
        for _ in 0..index_count {
            if out.len() >= max_num {
                break;
            }
            let entry = match self.entry(next as u32) {
                Some(e) => e,
                None => break,
            };
            if entry.time_diff_secs < 0 {
                break;
            }
            let time_read = self
                .header
                .begin_timestamp
                .wrapping_add(entry.time_diff_secs as i64 * 1000);
            if entry.key_hash == key_hash && time_read >= begin && time_read <= end {
                out.push(entry.phy_offset);
            }
            let prev = entry.prev_index;
            if prev <= 0 || prev > index_count || prev >= next || time_read < begin {
                break;
            }
            next = prev;
        }
    }

    /// Forces the mapping to disk (msync). The header is already written through, so this
    /// writes the same bytes Java's `IndexFile#flush` would. A read-only file has nothing to do.
    pub fn flush(&self) -> Result<()> {
        match &self.map {
            Map::Rw(m) => crate::iorecord::sync(&self.path, None, || m.flush()).at(&self.path),
            Map::Ro(_) => Ok(()),
        }
    }

    fn buf_mut(&mut self) -> &mut [u8] {
        match &mut self.map {
            Map::Rw(m) => m,
            // Callers check `is_writable` first; a read-only map never reaches here.
            Map::Ro(_) => unreachable!("write to a read-only index file"),
        }
    }

    /// Records `[pos, pos+len)`, just written through the mapping, with the I/O recorder.
    fn recorded(&self, pos: usize, len: usize) {
        crate::iorecord::write(&self.path, pos as u64, &self.map.bytes()[pos..pos + len]);
    }

    fn set_begin_timestamp(&mut self, v: i64) {
        self.header.begin_timestamp = v;
        put_i64(self.buf_mut(), BEGIN_TIMESTAMP_POS, v);
        self.recorded(BEGIN_TIMESTAMP_POS, 8);
    }

    fn set_end_timestamp(&mut self, v: i64) {
        self.header.end_timestamp = v;
        put_i64(self.buf_mut(), END_TIMESTAMP_POS, v);
        self.recorded(END_TIMESTAMP_POS, 8);
    }

    fn set_begin_phy_offset(&mut self, v: i64) {
        self.header.begin_phy_offset = v;
        put_i64(self.buf_mut(), BEGIN_PHY_OFFSET_POS, v);
        self.recorded(BEGIN_PHY_OFFSET_POS, 8);
    }

    fn set_end_phy_offset(&mut self, v: i64) {
        self.header.end_phy_offset = v;
        put_i64(self.buf_mut(), END_PHY_OFFSET_POS, v);
        self.recorded(END_PHY_OFFSET_POS, 8);
    }
}

/// What the index needs of one dispatched record (`DispatchRequest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexRequest<'a> {
    pub topic: &'a str,
    pub commitlog_offset: i64,
    pub store_timestamp: i64,
    pub sys_flag: i32,
    /// The `UNIQ_KEY` property.
    pub uniq_key: Option<&'a str>,
    /// The `KEYS` property (space-separated).
    pub keys: Option<&'a str>,
}

/// The index directory: its files in name order, the last one being the one written.
#[derive(Debug)]
pub struct IndexService {
    dir: PathBuf,
    hash_slot_num: u32,
    index_num: u32,
    read_only: bool,
    /// New files are prefaulted on a short-lived thread (see [`Self::set_prefault`]).
    prefault: bool,
    files: Vec<IndexFile>,
    /// End timestamp of the last file that became full and was flushed (0 if none yet).
    flushed_index_msg_timestamp: i64,
    /// 5.x hashSlotCount rule for every file (see [`IndexFile::set_slot_count_5x`]).
    slot_count_5x: bool,
}

/// Is `name` an index file name (17 ASCII digits)?
fn is_index_file_name(name: &str) -> bool {
    name.len() == INDEX_FILE_NAME_LEN && name.bytes().all(|b| b.is_ascii_digit())
}

impl IndexService {
    /// Opens the index directory `dir` (normally `<root>/index`) and loads every file in it,
    /// in name order. A missing directory is an empty index (created only when writable).
    /// Anything in the directory that is not a 17-digit file is an error naming it.
    pub fn open(
        dir: impl Into<PathBuf>,
        hash_slot_num: u32,
        index_num: u32,
        read_only: bool,
    ) -> Result<IndexService> {
        Self::open_inner(dir.into(), hash_slot_num, index_num, read_only, None)
    }

    /// A read-only [`open`](Self::open) for inspection: a stray entry or an index file that
    /// does not open (wrong length, unreadable header) is left out and recorded in `left`
    /// instead of failing; each index file stands alone, so the others still answer.
    pub fn open_tolerant(
        dir: impl Into<PathBuf>,
        hash_slot_num: u32,
        index_num: u32,
        left: &mut Vec<crate::left_out::LeftOut>,
    ) -> Result<IndexService> {
        Self::open_inner(dir.into(), hash_slot_num, index_num, true, Some(left))
    }

    fn open_inner(
        dir: PathBuf,
        hash_slot_num: u32,
        index_num: u32,
        read_only: bool,
        mut left: Option<&mut Vec<crate::left_out::LeftOut>>,
    ) -> Result<IndexService> {
        // In an inspection open, what would fail the open is left out instead.
        macro_rules! refuse {
            ($path:expr, $why:expr) => {{
                match left.as_mut() {
                    Some(l) => {
                        l.push(crate::left_out::LeftOut::new($path, $why));
                        continue;
                    }
                    None => return Err(StoreError::bad_file($path, $why)),
                }
            }};
        }
        check_geometry(hash_slot_num, index_num)?;
        let mut names = Vec::new();
        match fs::read_dir(&dir) {
            Ok(rd) => {
                for ent in rd {
                    let ent = ent.at(&dir)?;
                    let path = ent.path();
                    let name = match ent.file_name().into_string() {
                        Ok(n) => n,
                        Err(_) => {
                            refuse!(
                                path,
                                "stray entry in the index directory (name is not UTF-8)"
                            )
                        }
                    };
                    if !is_index_file_name(&name) {
                        refuse!(
                            path,
                            "stray entry in the index directory (index files are named by 17 digits, yyyyMMddHHmmssSSS)"
                        );
                    }
                    if !ent.file_type().at(&path)?.is_file() {
                        refuse!(
                            path,
                            "stray entry in the index directory (not a regular file)"
                        );
                    }
                    names.push(name);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !read_only {
                    let new_dirs = crate::iorecord::create_dir_all(&dir).at(&dir)?;
                    crate::iorecord::sync_new_entry(&dir, None, &new_dirs).at(&dir)?;
                }
            }
            Err(e) => return Err(StoreError::io(&dir, e)),
        }
        names.sort();
        if let Some(last) = names.last() {
            let path = dir.join(last);
            if crate::mapped_file::drop_interrupted_creation(&path, read_only)? {
                names.pop();
            }
        }
        let mut files = Vec::with_capacity(names.len());
        for name in names {
            match IndexFile::open(dir.join(&name), hash_slot_num, index_num, read_only) {
                Ok(f) => files.push(f),
                Err(e) => match left.as_mut() {
                    Some(l) => {
                        let why = match &e {
                            StoreError::BadFile { what, .. } => what.clone(),
                            other => other.to_string(),
                        };
                        l.push(crate::left_out::LeftOut::new(dir.join(&name), why));
                    }
                    None => return Err(e),
                },
            }
        }
        Ok(IndexService {
            dir,
            hash_slot_num,
            index_num,
            read_only,
            prefault: true,
            files,
            flushed_index_msg_timestamp: 0,
            slot_count_5x: false,
        })
    }

    /// Whether new index files are prefaulted on a short-lived background thread (the
    /// default), or left to fault in as they are written (no thread).
    pub fn set_prefault(&mut self, on: bool) {
        self.prefault = on;
    }

    #[cfg(feature = "internals")]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The files, oldest first (each with `header()`, `path()`, `bytes()` for inspection).
    pub fn files(&self) -> &[IndexFile] {
        &self.files
    }

    /// `IndexService#load(false)` after an unclean stop: removes every file whose end
    /// timestamp is after the checkpoint's `indexMsgTimestamp` (the file may be torn). Java
    /// then loses the keys of every message between the removed file's start and the segment
    /// recovery starts from; we return the commitlog offset from which the index must be
    /// rebuilt to keep them: the end of the last file kept before the first one removed (0 if
    /// none). `None` when nothing was removed.
    pub fn remove_newer_than(&mut self, index_msg_timestamp: i64) -> Result<Option<i64>> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let mut rebuild_from: Option<i64> = None;
        let mut kept: Vec<IndexFile> = Vec::with_capacity(self.files.len());
        for f in std::mem::take(&mut self.files) {
            if f.end_timestamp() > index_msg_timestamp {
                if rebuild_from.is_none() {
                    rebuild_from = Some(kept.last().map_or(0, |k| k.end_phy_offset()));
                }
                let path = f.path().to_path_buf();
                drop(f);
                crate::iorecord::remove_file(&path).at(&path)?;
            } else {
                kept.push(f);
            }
        }
        self.files = kept;
        Ok(rebuild_from)
    }

    /// Removes the last file when `torn` says so (abnormal recovery after a power cut: see
    /// `src/store/powercut.rs`). Returns whether it did.
    pub fn remove_last_if(&mut self, torn: impl Fn(&IndexFile) -> bool) -> Result<bool> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        match self.files.last() {
            Some(f) if torn(f) => {}
            _ => return Ok(false),
        }
        let f = self.files.pop().expect("checked above");
        let path = f.path().to_path_buf();
        drop(f);
        crate::iorecord::remove_file(&path).at(&path)?;
        Ok(true)
    }

    /// `IndexService#deleteExpiredFile(offset)`: deletes the oldest files whose end physical
    /// offset is below `offset` (the commitlog minimum), oldest first, stopping at the first
    /// one that is not, and never the last file. Returns the deleted paths.
    pub fn delete_expired(&mut self, offset: i64) -> Result<Vec<PathBuf>> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let n = self
            .files
            .iter()
            .take(self.files.len().saturating_sub(1))
            .take_while(|f| f.end_phy_offset() < offset)
            .count();
        let mut deleted = Vec::with_capacity(n);
        for f in self.files.drain(..n) {
            let path = f.path().to_path_buf();
            drop(f);
            match crate::iorecord::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(&path, e)),
            }
            deleted.push(path);
        }
        Ok(deleted)
    }

    /// End physical offset of the last file (0 when there is none).
    pub fn end_phy_offset(&self) -> i64 {
        self.files.last().map_or(0, |f| f.end_phy_offset())
    }

    /// End timestamp of the last file (0 when there is none).
    #[cfg(any(feature = "cli", feature = "internals"))]
    pub fn last_timestamp(&self) -> i64 {
        self.files.last().map_or(0, |f| f.end_timestamp())
    }

    /// End timestamp of the most recent file that became full and was flushed by a rollover:
    /// what Java then stores as `checkpoint.indexMsgTimestamp` (0 when none in this session).
    pub fn flushed_index_msg_timestamp(&self) -> i64 {
        self.flushed_index_msg_timestamp
    }

    /// `IndexService#buildIndex` of 4.6.0 for one dispatched record. `now_ms` names a file that
    /// has to be created (`UtilAll.timeMillisToHumanString`).
    #[cfg(feature = "internals")]
    pub fn build_index(&mut self, req: &IndexRequest<'_>, now_ms: i64) -> Result<()> {
        self.build_index_with(req, &|| now_ms)
    }

    /// [`build_index`](Self::build_index) asking for the time only when a file is created,
    /// which keeps a clock read off the hot path.
    pub fn build_index_with(
        &mut self,
        req: &IndexRequest<'_>,
        now_ms: &dyn Fn() -> i64,
    ) -> Result<()> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        // Java gets (or creates) the last file before any of the skip rules.
        self.last_file_for_write(now_ms)?;
        if req.commitlog_offset < self.end_phy_offset() {
            return Ok(());
        }
        if req.sys_flag & TRANSACTION_MASK == TRANSACTION_ROLLBACK_TYPE {
            return Ok(());
        }
        // The key is `topic#key`; only its hash is stored, and the hash of `topic#` is shared.
        let prefix = java_hash_extend(java_string_hash(req.topic), "#");
        if let Some(uniq) = req.uniq_key {
            self.put_topic_key(prefix, req, uniq, now_ms)?;
        }
        if let Some(keys) = req.keys {
            for key in keys.split(' ').filter(|k| !k.is_empty()) {
                self.put_topic_key(prefix, req, key, now_ms)?;
            }
        }
        Ok(())
    }

    fn put_topic_key(
        &mut self,
        topic_prefix_hash: i32,
        req: &IndexRequest<'_>,
        key: &str,
        now_ms: &dyn Fn() -> i64,
    ) -> Result<()> {
        let hash = index_hash_of(java_hash_extend(topic_prefix_hash, key));
        let last = self.last_file_for_write(now_ms)?;
        if self.files[last].put_hash(hash, req.commitlog_offset, req.store_timestamp) {
            return Ok(());
        }
        // The file is full: roll over and retry once (a fresh file always has room).
        let last = self.last_file_for_write(now_ms)?;
        if self.files[last].put_hash(hash, req.commitlog_offset, req.store_timestamp) {
            return Ok(());
        }
        Err(StoreError::bad_file(
            self.files[last].path(),
            "a fresh index file refused a key",
        ))
    }

    /// `getAndCreateLastIndexFile`: the last file if it is not full, else a new file that
    /// inherits the previous one's end offset and timestamp. The full file is flushed (Java does
    /// this on a background thread and then records its end timestamp in the checkpoint).
    fn last_file_for_write(&mut self, now_ms: &dyn Fn() -> i64) -> Result<usize> {
        let (end_phy, end_ts) = match self.files.last() {
            Some(f) if !f.is_write_full() => return Ok(self.files.len() - 1),
            Some(f) => (f.end_phy_offset(), f.end_timestamp()),
            None => (0, 0),
        };
        let mut name = time_millis_to_human_string(now_ms());
        let mut tries = 0u32;
        let file = loop {
            // Keep the new file last in name order, and never reuse an existing name.
            if let Some(last) = self.files.last() {
                if name.as_str() <= last.name() {
                    name = next_name(last.name()).ok_or_else(|| {
                        StoreError::bad_file(last.path(), "no index file name sorts after this one")
                    })?;
                }
            }
            let path = self.dir.join(&name);
            let made = IndexFile::create_with(
                &path,
                self.hash_slot_num,
                self.index_num,
                end_phy,
                end_ts,
                self.prefault,
            );
            match made {
                Ok(f) => break f,
                Err(StoreError::Io { source, .. })
                    if source.kind() == io::ErrorKind::AlreadyExists && tries < 1000 =>
                {
                    tries += 1;
                    name = next_name(&name)
                        .ok_or_else(|| StoreError::bad_file(&path, "no free index file name"))?;
                }
                Err(e) => return Err(e),
            }
        };
        if let Some(prev) = self.files.last() {
            prev.flush()?;
            if prev.is_write_full() {
                self.flushed_index_msg_timestamp = prev.end_timestamp();
            }
        }
        let mut file = file;
        file.set_slot_count_5x(self.slot_count_5x);
        self.files.push(file);
        Ok(self.files.len() - 1)
    }

    /// Put keys by the 5.x hashSlotCount rule (see [`IndexFile::set_slot_count_5x`]), in the
    /// loaded files and every file created from now on.
    pub fn set_slot_count_5x(&mut self, on: bool) {
        self.slot_count_5x = on;
        for f in &mut self.files {
            f.set_slot_count_5x(on);
        }
    }

    /// `IndexService#queryOffset` of 4.6.0: offsets of `topic#key` stored in `[begin, end]`,
    /// newest file first, at most `max_num` (Java's `queryOffset` additionally caps at
    /// `maxMsgsNumBatch` of `MessageStoreConfig`, 64 by default). Not filtered: hash collisions are included, as in Java.
    pub fn query(&self, topic: &str, key: &str, max_num: usize, begin: i64, end: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut full = String::with_capacity(topic.len() + 1 + key.len());
        full.push_str(topic);
        full.push('#');
        full.push_str(key);
        let hash = index_key_hash(&full);
        for f in self.files.iter().rev() {
            if f.is_time_matched(begin, end) {
                f.select_into(&mut out, hash, max_num, begin, end);
            }
            if f.begin_timestamp() < begin || out.len() >= max_num {
                break;
            }
        }
        out
    }

    /// Forces every writable file to disk.
    pub fn flush(&self) -> Result<()> {
        for f in &self.files {
            f.flush()?;
        }
        Ok(())
    }
}

/// The 17-digit name one greater than `name`, if there is one.
fn next_name(name: &str) -> Option<String> {
    let n: u64 = name.parse().ok()?;
    let next = n.checked_add(1)?;
    let s = format!("{next:0width$}", width = INDEX_FILE_NAME_LEN);
    (s.len() == INDEX_FILE_NAME_LEN).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOTS: u32 = 10;

    fn req<'a>(
        topic: &'a str,
        off: i64,
        ts: i64,
        uniq: Option<&'a str>,
        keys: Option<&'a str>,
    ) -> IndexRequest<'a> {
        IndexRequest {
            topic,
            commitlog_offset: off,
            store_timestamp: ts,
            sys_flag: 0,
            uniq_key: uniq,
            keys,
        }
    }

    /// Hand-written file bytes: a header and entries (number, entry), slots set as given.
    fn write_raw(
        path: &Path,
        header: IndexHeader,
        slots: &[(u32, i32)],
        entries: &[(u32, IndexEntry)],
        index_num: u32,
    ) {
        let mut b = vec![0u8; index_file_size(SLOTS, index_num)];
        header.encode_into(&mut b);
        for &(s, v) in slots {
            put_i32(&mut b, slot_pos(s), v);
        }
        for &(n, e) in entries {
            let p = entry_pos(SLOTS, n);
            b[p..p + INDEX_ENTRY_SIZE].copy_from_slice(&e.encode());
        }
        fs::write(path, b).unwrap();
    }

    #[test]
    fn first_put_writes_java_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = IndexFile::create(dir.path().join("f"), SLOTS, 8, 0, 0).unwrap();
        // Fresh: memory says index count 1, the file still says 0.
        assert_eq!(f.header().index_count, 1);
        assert_eq!(f.disk_header(), IndexHeader::default());
        assert!(f.put_key("T#k", 100, 5_000));
        let h = f.disk_header();
        assert_eq!(h, f.header());
        assert_eq!(
            h,
            IndexHeader {
                begin_timestamp: 5_000,
                end_timestamp: 5_000,
                begin_phy_offset: 100,
                end_phy_offset: 100,
                hash_slot_count: 1,
                index_count: 2,
            }
        );
        let hash = index_key_hash("T#k");
        let slot = hash as u32 % SLOTS;
        assert_eq!(f.slot(slot), Some(1));
        assert_eq!(
            f.entry(1),
            Some(IndexEntry {
                key_hash: hash,
                phy_offset: 100,
                time_diff_secs: 0,
                prev_index: 0
            })
        );
        // Second put to the same key chains to entry 1; hashSlotCount counts every put (4.6.0).
        assert!(f.put_key("T#k", 200, 9_999));
        assert_eq!(
            f.entry(2),
            Some(IndexEntry {
                key_hash: hash,
                phy_offset: 200,
                time_diff_secs: 4,
                prev_index: 1
            })
        );
        assert_eq!(f.slot(slot), Some(2));
        assert_eq!(f.disk_header().hash_slot_count, 2);
        assert_eq!(f.disk_header().begin_phy_offset, 100);
        assert_eq!(f.select_phy_offsets("T#k", 10, 0, i64::MAX), vec![200, 100]);
        assert_eq!(f.select_phy_offsets("T#k", 1, 0, i64::MAX), vec![200]);
        // Time filter: entry 2 reads back as 5000 + 4*1000 = 9000.
        assert_eq!(f.select_phy_offsets("T#k", 10, 6_000, 9_000), vec![200]);
        assert_eq!(f.select_phy_offsets("T#k", 10, 0, 8_999), vec![100]);
        assert!(f.select_phy_offsets("T#other", 10, 0, i64::MAX).is_empty());
    }

    #[test]
    fn new_file_inherits_previous_end_and_first_diff_uses_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = IndexFile::create(dir.path().join("f"), SLOTS, 8, 777, 10_000).unwrap();
        let h = f.disk_header();
        assert_eq!((h.begin_phy_offset, h.end_phy_offset), (777, 777));
        assert_eq!((h.begin_timestamp, h.end_timestamp), (10_000, 10_000));
        assert_eq!((h.hash_slot_count, h.index_count), (0, 0));
        assert!(f.put_key("T#k", 800, 13_500));
        // Diff against the inherited begin, then begin is overwritten by this message.
        assert_eq!(f.entry(1).unwrap().time_diff_secs, 3);
        assert_eq!(f.begin_timestamp(), 13_500);
        assert_eq!(f.begin_phy_offset(), 800);
    }

    #[test]
    fn hash_collisions_are_returned_and_full_file_refuses() {
        // "Aa" and "BB" have the same Java hash.
        assert_eq!(index_key_hash("Aa"), index_key_hash("BB"));
        let dir = tempfile::tempdir().unwrap();
        let mut f = IndexFile::create(dir.path().join("f"), SLOTS, 3, 0, 0).unwrap();
        assert!(f.put_key("Aa", 1, 1000));
        assert!(!f.is_write_full());
        assert!(f.put_key("BB", 2, 1000));
        assert!(f.is_write_full());
        assert!(!f.put_key("Aa", 3, 1000));
        assert_eq!(f.select_phy_offsets("Aa", 10, 0, i64::MAX), vec![2, 1]);
    }

    #[test]
    fn hostile_chains_terminate() {
        let dir = tempfile::tempdir().unwrap();
        let hash = index_key_hash("k");
        let slot = hash as u32 % SLOTS;
        let e = |prev, off| IndexEntry {
            key_hash: hash,
            phy_offset: off,
            time_diff_secs: 0,
            prev_index: prev,
        };
        let header = IndexHeader {
            begin_timestamp: 1000,
            end_timestamp: 1000,
            index_count: 4,
            ..Default::default()
        };

        // A two-entry loop (Java would walk it until maxNum): ends at the first link that does
        // not point to an older entry, so each entry is listed once.
        let p = dir.path().join("loop");
        write_raw(&p, header, &[(slot, 2)], &[(1, e(2, 10)), (2, e(1, 20))], 8);
        let f = IndexFile::open(&p, SLOTS, 8, true).unwrap();
        let got = f.select_phy_offsets("k", 1000, 0, i64::MAX);
        assert_eq!(got, vec![20, 10]);

        // Self loop, prev beyond the count, and a slot beyond the count.
        let p = dir.path().join("self");
        write_raw(&p, header, &[(slot, 3)], &[(3, e(3, 30))], 8);
        let f = IndexFile::open(&p, SLOTS, 8, true).unwrap();
        assert_eq!(f.select_phy_offsets("k", 1000, 0, i64::MAX), vec![30]);
        let p = dir.path().join("beyond");
        write_raw(&p, header, &[(slot, 1)], &[(1, e(9, 10))], 8);
        let f = IndexFile::open(&p, SLOTS, 8, true).unwrap();
        assert_eq!(f.select_phy_offsets("k", 1000, 0, i64::MAX), vec![10]);
        let p = dir.path().join("slot");
        write_raw(&p, header, &[(slot, 5)], &[(1, e(0, 10))], 8);
        let f = IndexFile::open(&p, SLOTS, 8, true).unwrap();
        assert!(f.select_phy_offsets("k", 1000, 0, i64::MAX).is_empty());

        // An index count far beyond the file: entries outside the file end the walk.
        let p = dir.path().join("count");
        let big = IndexHeader {
            index_count: i32::MAX,
            ..header
        };
        write_raw(&p, big, &[(slot, 100)], &[], 8);
        let f = IndexFile::open(&p, SLOTS, 8, false).unwrap();
        assert!(f.select_phy_offsets("k", 1000, 0, i64::MAX).is_empty());
        // ... and the file counts as full, so a put is refused rather than written out of range.
        let mut f = f;
        assert!(!f.put_key("k", 1, 1));

        // Negative counts load as 1; a slot value pointing at garbage is treated as empty on put.
        let p = dir.path().join("neg");
        let neg = IndexHeader {
            index_count: -5,
            ..header
        };
        write_raw(&p, neg, &[(slot, 7)], &[], 8);
        let mut f = IndexFile::open(&p, SLOTS, 8, false).unwrap();
        assert_eq!(f.header().index_count, 1);
        assert!(f.put_key("k", 1, 2000));
        assert_eq!(f.entry(1).unwrap().prev_index, 0);
    }

    #[test]
    fn open_checks_size_and_read_only_never_writes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("20260101000000000");
        fs::write(&p, vec![0u8; 100]).unwrap();
        match IndexFile::open(&p, SLOTS, 8, true) {
            Err(StoreError::BadFile { path, what }) => {
                assert_eq!(path, p);
                assert!(what.contains("100 bytes"), "{what}");
            }
            other => panic!("{other:?}"),
        }
        let mut f = IndexFile::create(dir.path().join("w"), SLOTS, 8, 0, 0).unwrap();
        assert!(f.put_key("k", 1, 1000));
        f.flush().unwrap();
        let before = fs::read(f.path()).unwrap();
        let mut ro = IndexFile::open(f.path(), SLOTS, 8, true).unwrap();
        assert!(!ro.is_writable());
        assert!(!ro.put_key("k", 2, 2000));
        ro.flush().unwrap();
        assert_eq!(ro.select_phy_offsets("k", 4, 0, i64::MAX), vec![1]);
        drop(ro);
        assert_eq!(fs::read(f.path()).unwrap(), before);
        assert!(IndexFile::create(dir.path().join("w"), SLOTS, 8, 0, 0).is_err());
        assert!(matches!(
            IndexFile::create(dir.path().join("x"), SLOTS, 1, 0, 0),
            Err(StoreError::Config(_))
        ));
        assert!(matches!(
            IndexFile::create(dir.path().join("x"), 0, 8, 0, 0),
            Err(StoreError::Config(_))
        ));
    }

    #[test]
    fn service_open_rejects_strays_and_read_only_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("index");
        let svc = IndexService::open(&missing, SLOTS, 8, true).unwrap();
        assert!(svc.files().is_empty());
        assert!(!missing.exists());
        let mut svc = svc;
        assert!(matches!(
            svc.build_index(&req("T", 0, 1, Some("u"), None), 1),
            Err(StoreError::ReadOnly)
        ));

        fs::create_dir(&missing).unwrap();
        let stray = missing.join("20260101000000000.bak");
        fs::write(&stray, b"x").unwrap();
        match IndexService::open(&missing, SLOTS, 8, true) {
            Err(StoreError::BadFile { path, .. }) => assert_eq!(path, stray),
            other => panic!("{other:?}"),
        }
        fs::remove_file(&stray).unwrap();
        let sub = missing.join("12345678901234567");
        fs::create_dir(&sub).unwrap();
        match IndexService::open(&missing, SLOTS, 8, true) {
            Err(StoreError::BadFile { path, .. }) => assert_eq!(path, sub),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn build_rolls_over_inherits_and_queries_newest_first() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("index");
        // index_num 4: entries 1..=3 per file.
        let mut svc = IndexService::open(&dir, SLOTS, 4, false).unwrap();
        let now = 1_700_000_000_000;
        // Two keys per message: UNIQ_KEY then each KEYS token.
        svc.build_index(&req("T", 0, 1_000, Some("u0"), Some("a")), now)
            .unwrap();
        svc.build_index(&req("T", 100, 2_000, Some("u1"), Some(" a  b ")), now)
            .unwrap();
        // A rolled-back record is skipped; one below the end offset too.
        let mut rb = req("T", 200, 3_000, Some("u2"), Some("a"));
        rb.sys_flag = 0xC | 0x10;
        svc.build_index(&rb, now).unwrap();
        svc.build_index(&req("T", 50, 3_000, Some("u3"), Some("a")), now)
            .unwrap();

        let files = svc.files();
        assert_eq!(files.len(), 2);
        // Same clock reading: the second name is made unique and sorts after the first.
        assert_eq!(files[0].name(), time_millis_to_human_string(now));
        assert!(files[1].name() > files[0].name());
        assert_eq!(files[0].header().index_count, 4);
        assert!(files[0].is_write_full());
        // The second file got "a" (the key that did not fit) and "b": begin re-set by its first put.
        let h1 = files[1].disk_header();
        assert_eq!((h1.index_count, h1.hash_slot_count), (3, 2));
        assert_eq!((h1.begin_phy_offset, h1.end_phy_offset), (100, 100));
        assert_eq!((h1.begin_timestamp, h1.end_timestamp), (2_000, 2_000));
        assert_eq!(svc.end_phy_offset(), 100);
        assert_eq!(svc.last_timestamp(), 2_000);
        assert_eq!(svc.flushed_index_msg_timestamp(), 2_000);

        assert_eq!(svc.query("T", "a", 10, 0, i64::MAX), vec![100, 0]);
        assert_eq!(svc.query("T", "b", 10, 0, i64::MAX), vec![100]);
        assert_eq!(svc.query("T", "u2", 10, 0, i64::MAX), Vec::<i64>::new());
        assert_eq!(svc.query("T", "u3", 10, 0, i64::MAX), Vec::<i64>::new());
        assert_eq!(svc.query("T", "a", 1, 0, i64::MAX), vec![100]);
        assert_eq!(svc.query("T", "a", 10, 1_500, i64::MAX), vec![100]);
        assert_eq!(svc.query("Other", "a", 10, 0, i64::MAX), Vec::<i64>::new());
        svc.flush().unwrap();

        // The next file, with a clock that went backwards, still sorts last.
        svc.build_index(&req("T", 300, 4_000, Some("u4"), None), now)
            .unwrap();
        assert_eq!(svc.files().len(), 2);
        svc.build_index(&req("T", 400, 5_000, Some("u5"), None), now - 3_600_000)
            .unwrap();
        assert_eq!(svc.files().len(), 3);
        let names: Vec<&str> = svc.files().iter().map(|f| f.name()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        // The third file inherited the second's end before its first put.
        let h2 = svc.files()[2].disk_header();
        assert_eq!(h2.begin_phy_offset, 400);
        assert_eq!(svc.files()[2].entry(1).unwrap().time_diff_secs, 1);
    }

    #[test]
    fn reopening_continues_with_the_same_bytes() {
        let msgs: Vec<(i64, i64, String)> = (0..40)
            .map(|i| (i * 100, 1_000 + i * 700, format!("k{}", i % 7)))
            .collect();
        let build = |dir: &Path, split: usize| {
            let mut svc = IndexService::open(dir, SLOTS, 16, false).unwrap();
            for (i, (off, ts, k)) in msgs.iter().enumerate() {
                if i == split {
                    drop(svc);
                    svc = IndexService::open(dir, SLOTS, 16, false).unwrap();
                }
                svc.build_index(
                    &req("T", *off, *ts, Some(k), Some(k)),
                    1_700_000_000_000 + i as i64,
                )
                .unwrap();
            }
            svc.flush().unwrap();
            svc.files()
                .iter()
                .map(|f| f.bytes().to_vec())
                .collect::<Vec<_>>()
        };
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let one_go = build(a.path(), usize::MAX);
        assert_eq!(one_go.len(), 6);
        assert_eq!(build(b.path(), 17), one_go);
    }
}
