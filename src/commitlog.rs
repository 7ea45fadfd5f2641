//! The commitlog: every message record, appended in one sequence of fixed-size segments.
//!
//! A record never spans segments: when a record (or a whole batch) plus an 8-byte blank header
//! does not fit in what is left of a segment, a blank record fills the rest and the record goes
//! to the next segment.

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Result, StoreError};
use crate::format::host::Host;
use crate::format::msgid::create_message_id;
use crate::format::record::{
    decode_record, encode_blank, sysflag, Decoded, MessageRecord, MIN_BLANK_LEN,
};
use crate::format::{get_i32, MAGIC_V1};
use crate::fxhash::FxHashMap;
use crate::mapped_file::{MappedFile, MappedFileQueue};

/// Queue offsets per topic and queue id (`topicQueueTable`).
#[derive(Debug, Default)]
pub struct TopicQueueTable(FxHashMap<String, FxHashMap<i32, i64>>);

impl TopicQueueTable {
    pub fn get(&self, topic: &str, queue_id: i32) -> i64 {
        self.0
            .get(topic)
            .and_then(|m| m.get(&queue_id))
            .copied()
            .unwrap_or(0)
    }
    /// The next queue offset of a queue, for updating in place (one lookup per level).
    pub fn slot(&mut self, topic: &str, queue_id: i32) -> &mut i64 {
        if !self.0.contains_key(topic) {
            self.0.insert(topic.to_string(), FxHashMap::default());
        }
        self.0
            .get_mut(topic)
            .map(|m| m.entry(queue_id).or_insert(0))
            .expect("inserted above")
    }

    pub fn set(&mut self, topic: &str, queue_id: i32, v: i64) {
        match self.0.get_mut(topic) {
            Some(m) => {
                m.insert(queue_id, v);
            }
            None => {
                self.0
                    .entry(topic.to_string())
                    .or_default()
                    .insert(queue_id, v);
            }
        }
    }
    /// Forgets a queue's next offset (its topic is being deleted).
    pub fn remove(&mut self, topic: &str, queue_id: i32) {
        if let Some(m) = self.0.get_mut(topic) {
            m.remove(&queue_id);
            if m.is_empty() {
                self.0.remove(topic);
            }
        }
    }
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// Where a put landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// Physical offset of the first record.
    pub wrote_offset: i64,
    /// Bytes of all records written (not counting a blank that preceded them).
    pub wrote_bytes: i32,
    /// The store timestamp written into the record(s).
    pub store_timestamp: i64,
    /// Queue offset of the first record.
    pub logics_offset: i64,
    /// Messages written (1, or the batch's count).
    pub msg_num: i32,
    /// The store host the records name, for their msgIds.
    pub store_host: Host,
    /// Physical offset of every record after the first (batches only; empty for one record).
    pub more_offsets: Vec<i64>,
}

impl AppendResult {
    /// Offset msgIds, comma-joined for a batch as Java returns them. Built on demand: the put
    /// path does not pay for the hex strings.
    pub fn msg_id(&self) -> String {
        self.msg_ids().join(",")
    }

    /// The offset msgId of each record.
    pub fn msg_ids(&self) -> Vec<String> {
        std::iter::once(self.wrote_offset)
            .chain(self.more_offsets.iter().copied())
            .map(|o| create_message_id(&self.store_host, o))
            .collect()
    }
}

/// The mutable state of the put path, guarded by the put lock.
#[derive(Debug, Default)]
pub struct PutState {
    pub topic_queue_table: TopicQueueTable,
    /// The segment appends go to (only the put path changes the last segment, so caching it
    /// here saves a lookup in the segment list per put). Cleared by truncation.
    pub(crate) active: Option<Arc<MappedFile>>,
}

/// A record that a recovery scan found, with where it is.
pub struct ScannedRecord<'a> {
    pub record: MessageRecord<'a>,
    pub total_size: u32,
    /// The whole record.
    pub bytes: &'a [u8],
}

/// How a scan of the commitlog ended.
#[derive(Debug)]
pub struct ScanEnd {
    /// Offset just past the last valid record.
    pub end: u64,
    /// Why the scan stopped there (None: a clean end of data or the last segment ended).
    pub stopped_by: Option<StoreError>,
}

/// The commitlog.
pub struct CommitLog {
    files: MappedFileQueue,
    put: Mutex<PutState>,
    /// Writable commitlogs prefault ahead of the write position.
    prefaulter: Option<crate::mapped_file::Prefaulter>,
    /// 5.x `enabledAppendPropCRC`: fill each record's reserved `__CRC32#` tail once its
    /// offsets are final (`src/v5/crc.rs`).
    seal_prop_crc: bool,
}

impl std::fmt::Debug for CommitLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitLog")
            .field("files", &self.files)
            .finish()
    }
}

impl CommitLog {
    #[cfg(any(feature = "cli", feature = "internals"))]
    pub fn load(dir: &Path, file_size: usize, writable: bool) -> Result<CommitLog> {
        Self::load_with(dir, file_size, writable, true)
    }

    /// A read-only load for inspection: stray entries of the folder (not segments of this
    /// geometry) are left out and recorded in `left`; a wrong-length segment still fails.
    pub fn load_tolerant(
        dir: &Path,
        file_size: usize,
        left: &mut Vec<crate::left_out::LeftOut>,
    ) -> Result<CommitLog> {
        Ok(CommitLog {
            files: MappedFileQueue::load_tolerant(dir, file_size, false, left)?,
            put: Mutex::new(PutState::default()),
            prefaulter: None,
            seal_prop_crc: false,
        })
    }

    /// [`load`](Self::load); `prefault` allows the prefault thread a writable log with large
    /// segments starts.
    pub(crate) fn load_with(
        dir: &Path,
        file_size: usize,
        writable: bool,
        prefault: bool,
    ) -> Result<CommitLog> {
        Ok(CommitLog {
            files: MappedFileQueue::load(dir, file_size, writable)?,
            put: Mutex::new(PutState::default()),
            // Prefaulting pays off on large segments (production uses 1 GiB); small ones are
            // faulted in by the writer as before.
            prefaulter: (prefault
                && writable
                && file_size >= 4 * crate::mapped_file::PREFAULT_WINDOW)
                .then(crate::mapped_file::Prefaulter::start),
            seal_prop_crc: false,
        })
    }

    /// Seal the 5.x `__CRC32#` property of every appended record that reserved one.
    pub fn set_append_prop_crc(&mut self, on: bool) {
        self.seal_prop_crc = on;
    }

    /// Appends go to the segment files with `pwrite` instead of through their mappings (used
    /// under SYNC_FLUSH, see [`MappedFile::set_write_through`]). The prefault thread then
    /// writes zeros over the holes ahead of the writer instead of populating the mapping
    /// ([`MappedFile::zero_fill_ahead`]), or, without `zero_fill_ahead`, stops: populating
    /// would only map pages writable again.
    pub fn set_write_through(&mut self, on: bool, zero_fill_ahead: bool) {
        self.files.set_write_through(on);
        if on && !zero_fill_ahead {
            self.prefaulter = None;
        }
    }

    /// New segments borrow write buffers from `pool` (transient store pool).
    pub fn set_transient_store_pool(&mut self, pool: Arc<crate::mapped_file::TransientStorePool>) {
        self.files.set_transient_store_pool(pool);
    }

    pub fn files(&self) -> &MappedFileQueue {
        &self.files
    }
    pub fn file_size(&self) -> usize {
        self.files.file_size()
    }
    /// `CommitLog#getMinOffset`: the first segment's offset, or the next segment's while the
    /// first is being deleted.
    pub fn min_offset(&self) -> u64 {
        match self.files.first() {
            Some(f) if !f.is_available() => f.file_from_offset() + self.files.file_size() as u64,
            Some(f) => f.file_from_offset(),
            None => 0,
        }
    }
    pub fn max_offset(&self) -> u64 {
        self.files.max_offset()
    }

    /// Takes the put lock. Appends happen through the returned guard, so the queue offsets,
    /// the physical positions and the dispatch that follows are one atomic step.
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, PutState> {
        self.put.lock()
    }

    /// Appends `records` as one group that lands in a single segment, in order. Each record's
    /// `physical_offset` is set here; everything else must already be final. Returns where the
    /// group went; `on_record` is called for each written record with its segment and position.
    pub fn append_group(
        &self,
        state: &mut PutState,
        records: &mut [MessageRecord<'_>],
    ) -> Result<(Arc<MappedFile>, usize, usize)> {
        let total: usize = records.iter().map(|r| r.encoded_len()).sum();
        let file_size = self.files.file_size();
        if total + MIN_BLANK_LEN > file_size {
            return Err(StoreError::Invalid(format!(
                "{total} bytes of records cannot fit a {file_size}-byte segment"
            )));
        }
        let mut file = match &state.active {
            Some(f) if !f.is_full() => f.clone(),
            _ => {
                let f = self.files.last_or_create(self.files.max_offset())?.0;
                state.active = Some(f.clone());
                f
            }
        };
        if total + MIN_BLANK_LEN > file.remaining() {
            // Fill the rest with a blank record; only its 8-byte header is meaningful (the rest
            // is zeroed, so a write buffer never carries stale bytes into the file).
            let rest = file.remaining();
            file.append_with(rest, |_, buf| {
                encode_blank(buf, rest as u32);
                buf[MIN_BLANK_LEN..].fill(0);
            })?;
            file = self.files.create_next(self.files.max_offset())?.0;
            state.active = Some(file.clone());
        }
        let from = file.file_from_offset();
        let written = file.append_with(total, |pos, buf| -> Result<()> {
            let mut at = 0usize;
            for r in records.iter_mut() {
                r.physical_offset = (from + (pos + at) as u64) as i64;
                let start = at;
                at += r
                    .encode_into(&mut buf[at..])
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                if self.seal_prop_crc && crate::v5::crc::has_tail(&buf[start..at]) {
                    crate::v5::crc::seal(&mut buf[start..at]);
                }
            }
            Ok(())
        })?;
        match written {
            Some((pos, r)) => {
                r?;
                if let Some(last) = records.last() {
                    file.set_last_store_timestamp(last.store_timestamp);
                }
                if let Some(p) = &self.prefaulter {
                    p.after_append(&file, pos, total);
                }
                Ok((file, pos, total))
            }
            None => Err(StoreError::Invalid(
                "segment filled up during an append".to_string(),
            )),
        }
    }

    /// Fills in queue offsets from the table for a group of records of one topic and queue
    /// (PREPARED and ROLLBACK records get 0 and do not advance the queue) and advances it.
    pub fn assign_queue_offsets(state: &mut PutState, records: &mut [MessageRecord<'_>]) {
        for r in records.iter_mut() {
            match sysflag::tran_type(r.sys_flag) {
                sysflag::TRANSACTION_PREPARED_TYPE | sysflag::TRANSACTION_ROLLBACK_TYPE => {
                    r.queue_offset = 0;
                }
                _ => {
                    let topic = crate::format::record::utf8_lossy(r.topic);
                    let slot = state.topic_queue_table.slot(&topic, r.queue_id);
                    r.queue_offset = *slot;
                    *slot += 1;
                }
            }
        }
    }

    /// Builds the result Java's put returns for the records just written.
    pub fn append_result(records: &[MessageRecord<'_>], total: usize) -> AppendResult {
        let first = &records[0];
        AppendResult {
            wrote_offset: first.physical_offset,
            wrote_bytes: total as i32,
            store_timestamp: first.store_timestamp,
            logics_offset: first.queue_offset,
            msg_num: records.len() as i32,
            store_host: first.store_host,
            more_offsets: records[1..].iter().map(|r| r.physical_offset).collect(),
        }
    }

    /// The record at physical `offset`, as the segment and position holding it.
    pub fn record_at(&self, offset: u64) -> Option<(Arc<MappedFile>, usize, usize)> {
        let f = self.files.find_by_offset(offset)?;
        let (pos, size) = record_in(&f, offset)?;
        Some((f, pos, size))
    }

    /// [`CommitLog::record_at`] for a run of reads: `seg` keeps the segment of the previous
    /// call, so reads that stay in one segment look it up (lock, search, reference count) once.
    /// The segment held is the one `record_at` would find; a record is `None` as there.
    pub fn record_at_cached(
        &self,
        offset: u64,
        seg: &mut Option<Arc<MappedFile>>,
    ) -> Option<(Arc<MappedFile>, usize, usize)> {
        let f = self.files.find_by_offset_cached(offset, seg)?;
        let (pos, size) = record_in(f, offset)?;
        Some((f.clone(), pos, size))
    }

    /// Scans from the start of segment `start_index` while records are valid, calling
    /// `on_record` for each one, moving to the next segment at a blank record (the loop of
    /// Java's `recoverNormally`/`recoverAbnormally`), over segments the caller holds
    /// (`self.files().files()`), so the records it is handed may outlive each call (an offline tool passing them to another
    /// thread).
    pub fn scan_files<'a>(
        files: &'a [Arc<MappedFile>],
        start_index: usize,
        check_crc: bool,
        mut on_record: impl FnMut(&ScannedRecord<'a>) -> std::result::Result<(), crate::format::Problem>,
    ) -> ScanEnd {
        if files.is_empty() {
            return ScanEnd {
                end: 0,
                stopped_by: None,
            };
        }
        let mut index = start_index.min(files.len() - 1);
        loop {
            let f = &files[index];
            let data = f.whole();
            let mut pos = 0usize;
            loop {
                let offset = f.file_from_offset() + pos as u64;
                match decode_record(&data[pos..], check_crc) {
                    Ok(Decoded::Message { record, total_size }) => {
                        let sr = ScannedRecord {
                            record,
                            total_size,
                            bytes: &data[pos..pos + total_size as usize],
                        };
                        if let Err(problem) = on_record(&sr) {
                            return ScanEnd {
                                end: offset,
                                stopped_by: Some(StoreError::Corrupt {
                                    path: f.path().to_path_buf(),
                                    offset: pos as u64,
                                    problem,
                                }),
                            };
                        }
                        pos += total_size as usize;
                    }
                    Ok(Decoded::Blank { .. }) => {
                        if index + 1 >= files.len() {
                            return ScanEnd {
                                end: offset,
                                stopped_by: None,
                            };
                        }
                        break;
                    }
                    Ok(Decoded::End) => {
                        return ScanEnd {
                            end: offset,
                            stopped_by: None,
                        }
                    }
                    Err(e) => {
                        return ScanEnd {
                            end: offset,
                            stopped_by: Some(StoreError::corrupt(f.path(), pos as u64, e)),
                        }
                    }
                }
            }
            index += 1;
        }
    }

    /// `isMappedFileMatchedRecover` (4.6.0): a segment can start abnormal recovery when its
    /// first record is a message with a store timestamp, not after `min_timestamp`. The
    /// timestamp is read past the born host as its sysFlag sizes it, as Java 4.6.0 does (byte 56
    /// read the host's bytes for an IPv6 born host, so recovery could start at a later segment
    /// than Java's and leave records out of their consume queues; found by the interop crash
    /// case).
    pub fn segment_matches_recover(f: &MappedFile, min_timestamp: i64) -> bool {
        let data = f.whole();
        let magic = get_i32(data, 4).map(|m| m as u32);
        if magic != Some(MAGIC_V1) && magic != Some(crate::format::MAGIC_V2) {
            return false;
        }
        match crate::format::record::recover_store_timestamp(data) {
            Some(0) | None => false,
            Some(ts) => ts <= min_timestamp,
        }
    }

    /// The start of the record holding `offset` (`offset` itself at a record boundary), walking
    /// its segment from the start: consume-queue units, which recovery derives reput starts
    /// from, can be damaged and point into the middle of a record. Where a record before it
    /// does not decode, the last good boundary.
    pub fn align_to_record(&self, offset: u64) -> u64 {
        let Some(f) = self.files.find_by_offset(offset) else {
            return offset;
        };
        let data = f.readable();
        let target = (offset - f.file_from_offset()) as usize;
        let mut pos = 0usize;
        while pos < target && pos < data.len() {
            match decode_record(&data[pos..], false) {
                Ok(Decoded::Message { total_size, .. })
                    if pos + (total_size as usize) <= target =>
                {
                    pos += total_size as usize
                }
                _ => break, // the record holding `offset`, a blank, or bytes that do not decode
            }
        }
        f.file_from_offset() + pos as u64
    }

    /// Ends the log at `offset` (`truncateDirtyFiles`); later segments are deleted.
    pub fn truncate_dirty(&self, offset: u64) -> Result<()> {
        self.put.lock().active = None;
        self.files.truncate_dirty(offset)
    }

    pub fn flush(&self) -> Result<()> {
        self.files.flush()
    }
}

/// Where the record starting at commitlog `offset` lies in `f` (`(position, size)`): its
/// size field is positive and the whole record is readable.
fn record_in(f: &MappedFile, offset: u64) -> Option<(usize, usize)> {
    let pos = (offset - f.file_from_offset()) as usize;
    let size = get_i32(f.readable(), pos)?;
    if size <= 0 || f.slice(pos, size as usize).is_none() {
        return None;
    }
    Some((pos, size as usize))
}
