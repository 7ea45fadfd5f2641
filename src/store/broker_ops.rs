//! What a broker asks its store beyond put and plain reads, as Java 4.6.0's `MessageStore`
//! names it (in snake case): filtered and size-limited pulls, offsets by time, store
//! timestamps, raw commitlog reads for a replica, dispatch lag, topic deletion and runtime
//! information.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use crate::config::BrokerRole;
use crate::consume_queue::ConsumeQueue;
use crate::error::Result;
use crate::format::cq::{CqUnit, CQ_UNIT_SIZE, SCHEDULE_TOPIC};
use crate::format::record::{decode_record, Decoded};
use crate::mapped_file::MappedFile;
use crate::store::filter::MessageFilter;
use crate::store::{GetMessageResult, GetMessageStatus, MessageStore, StoredRecord};

/// `StoreUtil.TOTAL_PHYSICAL_MEMORY_SIZE`: the machine's physical memory in bytes.
pub fn total_physical_memory() -> u64 {
    static MEM: OnceLock<u64> = OnceLock::new();
    *MEM.get_or_init(|| {
        // SAFETY: sysconf only reads its integer argument.
        let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
        // SAFETY: as above.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if pages > 0 && page > 0 {
            pages as u64 * page as u64
        } else {
            // Java falls back to 24 GiB when the MXBean cannot tell.
            24 * 1024 * 1024 * 1024
        }
    })
}

/// Bytes of the commitlog read by [`MessageStore::get_commit_log_data`]: a view of one
/// segment's mapping from the asked offset to the segment's readable end, held without
/// copying. The segment stays mapped while this lives, even if cleanup deletes its file.
#[derive(Clone)]
pub struct CommitLogData {
    file: Arc<MappedFile>,
    pos: usize,
    len: usize,
}

impl std::fmt::Debug for CommitLogData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitLogData")
            .field("start_offset", &self.start_offset())
            .field("len", &self.len)
            .finish()
    }
}

impl CommitLogData {
    /// Physical offset of the first byte.
    pub fn start_offset(&self) -> u64 {
        self.file.file_from_offset() + self.pos as u64
    }
    /// How many bytes.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether there are no bytes (never, for a value `get_commit_log_data` returned).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        self.file.slice(self.pos, self.len).unwrap_or(&[])
    }
}

/// `getIndexBuffer(startIndex)`: the units from `start_index` to the readable end of the
/// consume-queue file holding it, as (file, position, length). `None` below the queue's
/// minimum or where no file or no unit is.
fn index_buffer(cq: &ConsumeQueue, start_index: u64) -> Option<(Arc<MappedFile>, usize, usize)> {
    let offset = start_index.checked_mul(CQ_UNIT_SIZE as u64)?;
    if offset < cq.min_offset_in_queue() * CQ_UNIT_SIZE as u64 {
        return None;
    }
    let f = cq.files().find_by_offset(offset)?;
    let pos = (offset - f.file_from_offset()) as usize;
    let readable = f.readable().len();
    if pos >= readable {
        return None;
    }
    Some((f, pos, readable - pos))
}

fn unit_at(f: &MappedFile, pos: usize) -> Option<CqUnit> {
    f.slice(pos, CQ_UNIT_SIZE)
        .and_then(|b| CqUnit::decode(b).ok())
}

impl MessageStore {
    fn in_memory_limit(&self) -> u64 {
        (total_physical_memory() as f64
            * (self.config.access_message_in_memory_max_ratio as f64 / 100.0)) as u64
    }

    /// `checkInDiskByCommitOffset`: whether the message at `offset_py` is further behind the
    /// commitlog's end than the in-memory share of physical memory.
    fn in_disk(&self, offset_py: i64, max_offset_py: u64) -> bool {
        (max_offset_py as i64).saturating_sub(offset_py) > self.in_memory_limit() as i64
    }

    /// `isTheBatchFull`.
    fn batch_full(
        &self,
        size_py: i32,
        max_msg_nums: usize,
        buffer_total: usize,
        message_total: usize,
        in_disk: bool,
    ) -> bool {
        if buffer_total == 0 || message_total == 0 {
            return false;
        }
        if max_msg_nums <= message_total {
            return true;
        }
        let (bytes, count) = if in_disk {
            (
                self.config.max_transfer_bytes_on_message_in_disk,
                self.config.max_transfer_count_on_message_in_disk,
            )
        } else {
            (
                self.config.max_transfer_bytes_on_message_in_memory,
                self.config.max_transfer_count_on_message_in_memory,
            )
        };
        (buffer_total as i64 + size_py as i64) > bytes as i64
            || message_total as i64 > count as i64 - 1
    }

    /// `nextOffsetCorrection`: a slave (unless `offsetCheckInSlave`) does not move a
    /// consumer's offset; everyone else does.
    fn next_offset_correction(&self, old: u64, new: u64) -> u64 {
        if self.config.broker_role != BrokerRole::Slave || self.config.offset_check_in_slave {
            new
        } else {
            old
        }
    }

    /// The record slice `[offset, offset + size)` (`CommitLog#getMessage(offset, size)`):
    /// `None` when its segment is gone, being deleted, or the bytes are not all readable.
    fn select_record(&self, offset: i64, size: i32) -> Option<StoredRecord> {
        self.select_record_cached(offset, size, &mut None)
    }

    /// [`Self::select_record`] for a pull: `seg` keeps the segment of the previous record, so
    /// the records of one segment look it up (lock, search, reference count) once.
    fn select_record_cached(
        &self,
        offset: i64,
        size: i32,
        seg: &mut Option<std::sync::Arc<crate::mapped_file::MappedFile>>,
    ) -> Option<StoredRecord> {
        let offset = u64::try_from(offset).ok()?;
        let size = usize::try_from(size).ok()?;
        let f = self.commit_log.files().find_by_offset_cached(offset, seg)?;
        let pos = (offset - f.file_from_offset()) as usize;
        f.slice(pos, size)?;
        Some(StoredRecord {
            file: f.clone(),
            pos,
            size,
        })
    }

    /// Pulls up to `max_msg_nums` messages of a queue from queue offset `offset`, as Java
    /// 4.6.0's `DefaultMessageStore#getMessage` does: every status of `GetMessageStatus`, the
    /// offset to pull from next (corrected on a bad offset, except on a slave without
    /// `offset_check_in_slave`), `filter` asked per unit and then per record, at most 16000
    /// units walked and only within one consume-queue file per call, the batch ended by
    /// `max_transfer_{bytes,count}_on_message_in_{memory,disk}`, and
    /// `suggest_pulling_from_slave` when the last unit looked at is further behind the
    /// commitlog's end than `access_message_in_memory_max_ratio` percent of physical memory.
    ///
    /// `group` names the consumer group (Java uses it for statistics only). The messages are
    /// views of the mapped commitlog, not copies.
    ///
    /// ```
    /// use rmqstore::store::{GetMessageStatus, TagFilter};
    /// use rmqstore::{Message, MessageStore, StoreConfig};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut config = StoreConfig::with_root(dir.path());
    /// config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// for tag in ["A", "B", "A"] {
    ///     store.put_message(&Message::new("T", 0, tag.as_bytes().to_vec()).with_tags(tag))?;
    /// }
    /// let got = store.get_message("g", "T", 0, 0, 32, Some(&TagFilter::parse("A")));
    /// assert_eq!(got.status, GetMessageStatus::Found);
    /// assert_eq!(got.messages.len(), 2);
    /// assert_eq!(got.next_begin_offset, 3);
    /// assert_eq!(got.messages[1].decode()?.body, b"A");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_message(
        &self,
        group: &str,
        topic: &str,
        queue_id: i32,
        offset: u64,
        max_msg_nums: usize,
        filter: Option<&dyn MessageFilter>,
    ) -> GetMessageResult {
        let _ = group;
        let mut result = GetMessageResult {
            status: GetMessageStatus::NoMessageInQueue,
            messages: Vec::new(),
            next_begin_offset: offset,
            min_offset: 0,
            max_offset: 0,
            suggest_pulling_from_slave: false,
            buffer_total_size: 0,
        };
        let max_offset_py = self.commit_log.max_offset();
        let Some(cq) = self.dispatcher.consume_queues().get(topic, queue_id) else {
            result.status = GetMessageStatus::NoMatchedLogicQueue;
            result.next_begin_offset = self.next_offset_correction(offset, 0);
            self.api.stats.record_get(&result);
            return result;
        };
        let min = cq.min_offset_in_queue();
        let max = cq.max_offset_in_queue();
        result.min_offset = min;
        result.max_offset = max;
        if max == 0 {
            result.status = GetMessageStatus::NoMessageInQueue;
            result.next_begin_offset = self.next_offset_correction(offset, 0);
        } else if offset < min {
            result.status = GetMessageStatus::OffsetTooSmall;
            result.next_begin_offset = self.next_offset_correction(offset, min);
        } else if offset == max {
            result.status = GetMessageStatus::OffsetOverflowOne;
            result.next_begin_offset = self.next_offset_correction(offset, offset);
        } else if offset > max {
            result.status = GetMessageStatus::OffsetOverflowBadly;
            let to = if min == 0 { min } else { max };
            result.next_begin_offset = self.next_offset_correction(offset, to);
        } else if let Some((cqf, start, len)) = index_buffer(&cq, offset) {
            result.status = GetMessageStatus::NoMatchedMessage;
            let mut next_phy_file_start: Option<i64> = None;
            let mut max_phy_offset_pulling: i64 = 0;
            let max_filter = 16000usize.max(max_msg_nums.saturating_mul(CQ_UNIT_SIZE));
            let segment = self.commit_log.file_size() as i64;
            let mut seg = None;
            let mut i = 0usize;
            while i < len && i < max_filter {
                let Some(unit) = unit_at(&cqf, start + i) else {
                    break;
                };
                let (offset_py, size_py) = (unit.commitlog_offset, unit.size);
                max_phy_offset_pulling = offset_py;
                if next_phy_file_start.is_some_and(|n| offset_py < n) {
                    i += CQ_UNIT_SIZE;
                    continue;
                }
                let in_disk = self.in_disk(offset_py, max_offset_py);
                if self.batch_full(
                    size_py,
                    max_msg_nums,
                    result.buffer_total_size,
                    result.messages.len(),
                    in_disk,
                ) {
                    break;
                }
                if let Some(f) = filter {
                    if !f.is_matched_by_consume_queue(unit.tags_code) {
                        i += CQ_UNIT_SIZE;
                        continue;
                    }
                }
                let Some(rec) = self.select_record_cached(offset_py, size_py, &mut seg) else {
                    if result.buffer_total_size == 0 {
                        result.status = GetMessageStatus::MessageWasRemoving;
                    }
                    // `rollNextFile`: skip the rest of this commitlog segment.
                    next_phy_file_start = Some(
                        offset_py
                            .saturating_add(segment)
                            .saturating_sub(offset_py.rem_euclid(segment)),
                    );
                    i += CQ_UNIT_SIZE;
                    continue;
                };
                if let Some(f) = filter {
                    if !f.is_matched_by_commit_log(&rec) {
                        if result.buffer_total_size == 0 {
                            result.status = GetMessageStatus::NoMatchedMessage;
                        }
                        i += CQ_UNIT_SIZE;
                        continue;
                    }
                }
                result.buffer_total_size += rec.size();
                result.messages.push(rec);
                result.status = GetMessageStatus::Found;
                next_phy_file_start = None;
                i += CQ_UNIT_SIZE;
            }
            result.next_begin_offset = offset + (i / CQ_UNIT_SIZE) as u64;
            let diff = (max_offset_py as i64).saturating_sub(max_phy_offset_pulling);
            result.suggest_pulling_from_slave = diff > self.in_memory_limit() as i64;
        } else {
            result.status = GetMessageStatus::OffsetFoundNull;
            // `ConsumeQueue#rollNextFile`.
            let per_file = (cq.files().file_size() / CQ_UNIT_SIZE) as u64;
            let next = offset + per_file - offset % per_file;
            result.next_begin_offset = self.next_offset_correction(offset, next);
        }
        self.api.stats.record_get(&result);
        result
    }

    /// The store timestamp of a record, read from the record as its layout says (by the host
    /// flags). Java 4.6.0's `pickupStoreTimestamp` reads byte 56 whatever the layout, which
    /// for a record with an IPv6 born host is inside the host; we read the field.
    fn pickup_store_timestamp(&self, offset: i64, size: i32) -> Option<i64> {
        if offset < self.commit_log.min_offset() as i64 {
            return None;
        }
        let rec = self.select_record(offset, size)?;
        match decode_record(rec.bytes(), false) {
            Ok(Decoded::Message { record, .. }) => Some(record.store_timestamp),
            _ => None,
        }
    }

    /// The store timestamp of the message at a queue offset (`getMessageStoreTimeStamp`);
    /// `None` where the queue, the unit or the record is missing.
    ///
    /// ```
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// let put = store.put_message(&Message::new("T", 0, b"x".to_vec()))?;
    /// let ts = put.append.unwrap().store_timestamp;
    /// assert_eq!(store.get_message_store_timestamp("T", 0, 0), Some(ts));
    /// assert_eq!(store.get_message_store_timestamp("T", 0, 1), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_message_store_timestamp(
        &self,
        topic: &str,
        queue_id: i32,
        consume_queue_offset: u64,
    ) -> Option<i64> {
        let cq = self.dispatcher.consume_queues().get(topic, queue_id)?;
        let (f, pos, _) = index_buffer(&cq, consume_queue_offset)?;
        let u = unit_at(&f, pos)?;
        self.pickup_store_timestamp(u.commitlog_offset, u.size)
    }

    /// The store timestamp of the first message still in a queue
    /// (`getEarliestMessageTime(topic, queueId)`).
    ///
    /// ```
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// assert_eq!(store.get_earliest_message_time_in_queue("T", 0), None);
    /// let put = store.put_message(&Message::new("T", 0, b"x".to_vec()))?;
    /// let ts = put.append.unwrap().store_timestamp;
    /// store.put_message(&Message::new("T", 0, b"y".to_vec()))?;
    /// assert_eq!(store.get_earliest_message_time_in_queue("T", 0), Some(ts));
    /// assert_eq!(store.get_earliest_message_time(), Some(ts));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_earliest_message_time_in_queue(&self, topic: &str, queue_id: i32) -> Option<i64> {
        let cq = self.dispatcher.consume_queues().get(topic, queue_id)?;
        self.get_message_store_timestamp(topic, queue_id, cq.min_offset_in_queue())
    }

    /// The store timestamp of the first record in the commitlog (`getEarliestMessageTime()`).
    /// Java asks for `2 * maxMessageSize` bytes there, which fails (-1) whenever the first
    /// segment has fewer readable bytes than that; we read the record's own length.
    pub fn get_earliest_message_time(&self) -> Option<i64> {
        let mut offset = self.commit_log.min_offset();
        let end = self.commit_log.max_offset();
        // The first record of the first segment (skipping an empty segment's blank).
        while offset < end {
            let f = self.commit_log.files().find_by_offset(offset)?;
            let pos = (offset - f.file_from_offset()) as usize;
            let data = f.readable();
            match data.get(pos..).map(|d| decode_record(d, false)) {
                Some(Ok(Decoded::Message { record, .. })) => return Some(record.store_timestamp),
                Some(Ok(Decoded::Blank { .. })) => {
                    offset = f.file_from_offset() + f.file_size() as u64;
                }
                _ => return None,
            }
        }
        None
    }

    /// The queue offset of the message stored nearest to `timestamp`
    /// (`getOffsetInQueueByTime`, used for CONSUME_FROM_TIMESTAMP and offset resets), with
    /// 4.6.0's search: the first consume-queue file modified at or after `timestamp` (else
    /// the last file) is binary searched by store time; an exact match wins, otherwise the
    /// nearer of the neighbours (the later one on a tie). 0 for an unknown queue.
    ///
    /// ```
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// let mut times = vec![];
    /// for i in 0..5 {
    ///     let r = store.put_message(&Message::new("T", 0, vec![i]))?;
    ///     times.push(r.append.unwrap().store_timestamp);
    /// }
    /// let at = store.get_offset_in_queue_by_time("T", 0, times[3]);
    /// assert_eq!(store.get_message_store_timestamp("T", 0, at), Some(times[3]));
    /// assert_eq!(store.get_offset_in_queue_by_time("T", 0, 0), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_offset_in_queue_by_time(&self, topic: &str, queue_id: i32, timestamp: i64) -> u64 {
        let Some(cq) = self.dispatcher.consume_queues().get(topic, queue_id) else {
            return 0;
        };
        let files = cq.files().files();
        // `getMappedFileByTime`.
        let Some(f) = files
            .iter()
            .find(|f| file_mtime_ms(f) >= timestamp)
            .or(files.last())
        else {
            return 0;
        };
        let min_logic = cq.min_offset_in_queue() * CQ_UNIT_SIZE as u64;
        let mut low: i64 = min_logic.saturating_sub(f.file_from_offset()) as i64;
        let data_len = f.readable().len() as i64;
        if data_len == 0 {
            // Java's `selectMappedBuffer(0)` gives nothing for an empty file: 0.
            return 0;
        }
        let mut high: i64 = data_len - CQ_UNIT_SIZE as i64;
        let unit = CQ_UNIT_SIZE as i64;
        let min_physic = self.commit_log.min_offset() as i64;
        let (mut target, mut left, mut right) = (-1i64, -1i64, -1i64);
        let (mut left_value, mut right_value) = (-1i64, -1i64);
        while high >= low {
            let mid = (low + high) / (2 * unit) * unit;
            let Some(u) = unit_at(f, mid as usize) else {
                return 0;
            };
            if u.commitlog_offset < min_physic {
                low = mid + unit;
                left = mid;
                continue;
            }
            let Some(store_time) = self.pickup_store_timestamp(u.commitlog_offset, u.size) else {
                return 0;
            };
            match store_time.cmp(&timestamp) {
                std::cmp::Ordering::Equal => {
                    target = mid;
                    break;
                }
                std::cmp::Ordering::Greater => {
                    high = mid - unit;
                    right = mid;
                    right_value = store_time;
                }
                std::cmp::Ordering::Less => {
                    low = mid + unit;
                    left = mid;
                    left_value = store_time;
                }
            }
        }
        let offset = if target != -1 {
            target
        } else if left_value == -1 {
            right
        } else if right_value == -1 {
            left
        } else if (timestamp - left_value).abs() > (timestamp - right_value).abs() {
            right
        } else {
            left
        };
        // Java computes (fileFromOffset + offset) / 20 in longs; an offset of -1 (every unit
        // below the commitlog's minimum, or an empty file) gives the unit before the file.
        ((f.file_from_offset() as i64 + offset) / unit).max(0) as u64
    }

    /// The commitlog bytes from physical `offset` to the readable end of its segment
    /// (`getCommitLogData`), what an HA master sends a slave. `offset` 0 reads the first
    /// segment even after cleanup moved the minimum past it (Java's `returnFirstOnNotFound`).
    ///
    /// ```
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// let r = store.put_message(&Message::new("T", 0, b"hello".to_vec()))?;
    /// let data = store.get_commit_log_data(0).expect("bytes at 0");
    /// assert_eq!(data.len() as i32, r.append.unwrap().wrote_bytes);
    /// assert!(store.get_commit_log_data(data.len() as u64).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_commit_log_data(&self, offset: u64) -> Option<CommitLogData> {
        let files = self.commit_log.files();
        let f = match files.find_by_offset(offset) {
            Some(f) => f,
            None if offset == 0 => files.first()?,
            None => return None,
        };
        let pos = offset.checked_sub(f.file_from_offset())? as usize;
        let readable = f.readable().len();
        if pos >= readable {
            return None;
        }
        Some(CommitLogData {
            file: f,
            pos,
            len: readable - pos,
        })
    }

    /// Whether the message at a queue offset counts as "in disk" (`checkInDiskByConsumeOffset`):
    /// further behind the commitlog's end than `access_message_in_memory_max_ratio` percent of
    /// physical memory. `false` for an unknown queue or offset.
    pub fn check_in_disk_by_consume_offset(
        &self,
        topic: &str,
        queue_id: i32,
        consume_offset: u64,
    ) -> bool {
        let max_offset_py = self.commit_log.max_offset();
        let Some(cq) = self.dispatcher.consume_queues().get(topic, queue_id) else {
            return false;
        };
        match index_buffer(&cq, consume_offset).and_then(|(f, pos, _)| unit_at(&f, pos)) {
            Some(u) => self.in_disk(u.commitlog_offset, max_offset_py),
            None => false,
        }
    }

    /// How many commitlog bytes are not yet dispatched to the consume queues and the index
    /// (`dispatchBehindBytes`).
    pub fn dispatch_behind_bytes(&self) -> u64 {
        self.dispatcher.behind(&self.commit_log)
    }

    /// `getConfirmOffset`: the physical offset confirmed by replication, as set by
    /// [`set_confirm_offset`](Self::set_confirm_offset); -1 until then (as in 4.6.0).
    pub fn get_confirm_offset(&self) -> i64 {
        self.api.confirm_offset.load(Ordering::Acquire)
    }

    /// `setConfirmOffset`.
    pub fn set_confirm_offset(&self, phy_offset: i64) {
        self.api.confirm_offset.store(phy_offset, Ordering::Release);
    }

    /// How far the commitlog is durable on disk (`getFlushedWhere`).
    pub fn get_flushed_where(&self) -> u64 {
        self.commit_log.files().flushed_offset()
    }

    /// How far the commitlog is readable (committed; with the transient store pool, behind the
    /// written end until the next commit).
    pub fn get_committed_where(&self) -> u64 {
        self.commit_log.files().committed_offset()
    }

    /// Destroys the consume queues of `topics` (their files and queue directories) and
    /// forgets their queue offsets, so a later put starts the queue at 0 again (`deleteTopics`
    /// of later versions; 4.6.0 does this inside `cleanUnusedTopic`). The commitlog is not
    /// touched. Returns how many queues were destroyed.
    ///
    /// ```
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// store.put_message(&Message::new("Gone", 0, b"x".to_vec()))?;
    /// store.put_message(&Message::new("Kept", 1, b"y".to_vec()))?;
    /// assert_eq!(store.delete_topics(["Gone"])?, 1);
    /// assert_eq!(store.max_offset_in_queue("Gone", 0), 0);
    /// assert_eq!(store.max_offset_in_queue("Kept", 1), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_topics<I, S>(&self, topics: I) -> Result<usize>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.check_writable()?;
        let topics: HashSet<String> = topics.into_iter().map(|t| t.as_ref().to_string()).collect();
        self.destroy_topics(|t| topics.contains(t))
    }

    /// `cleanUnusedTopic`: destroys the consume queues of every topic not in `topics` (the
    /// topics the broker still has), except `SCHEDULE_TOPIC_XXXX`. Returns how many queues
    /// were destroyed (Java returns 0).
    pub fn clean_unused_topic<I, S>(&self, topics: I) -> Result<usize>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.check_writable()?;
        let keep: HashSet<String> = topics.into_iter().map(|t| t.as_ref().to_string()).collect();
        self.destroy_topics(|t| !keep.contains(t) && t != SCHEDULE_TOPIC)
    }

    fn destroy_topics(&self, doomed: impl Fn(&str) -> bool) -> Result<usize> {
        // Under the put lock and the dispatch lock: no put assigns an offset in, and no
        // dispatch writes to, a queue while it goes.
        let mut st = self.commit_log.lock();
        let _d = self.dispatcher.lock();
        let mut n = 0;
        for cq in self.dispatcher.consume_queues().all() {
            if !doomed(cq.topic()) {
                continue;
            }
            let removed = self
                .dispatcher
                .consume_queues()
                .remove(cq.topic(), cq.queue_id());
            if let Some(cq) = removed {
                cq.destroy()?;
                st.topic_queue_table.remove(cq.topic(), cq.queue_id());
                tracing::info!(
                    topic = cq.topic(),
                    queue_id = cq.queue_id(),
                    "consume queue destroyed"
                );
                n += 1;
            }
        }
        Ok(n)
    }

    /// `getRuntimeInfo`: the store's running figures by Java's names (`commitLogMinOffset`,
    /// `commitLogMaxOffset`, `commitLogDiskRatio`, `consumeQueueDiskRatio`,
    /// `putMessageTimesTotal`, `putMessageSizeTotal`, `getMessageTimesTotalFound`, ...), plus
    /// `dispatchBehindBytes`.
    ///
    /// ```
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// store.put_message(&Message::new("T", 0, b"x".to_vec()))?;
    /// let info = store.get_runtime_info();
    /// assert_eq!(info["putMessageTimesTotal"], "1");
    /// assert_eq!(info["commitLogMinOffset"], "0");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_runtime_info(&self) -> BTreeMap<String, String> {
        let s = self.stats();
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        let puts = s.put_message_times_total;
        put("bootTimestamp", s.boot_timestamp.to_string());
        put("putMessageTimesTotal", puts.to_string());
        put("putMessageSizeTotal", s.put_message_size_total.to_string());
        put(
            "putMessageAverageSize",
            (s.put_message_size_total as f64 / puts.max(1) as f64).to_string(),
        );
        put(
            "getMessageTimesTotalFound",
            s.get_message_times_total_found.to_string(),
        );
        put(
            "getMessageTimesTotalMiss",
            s.get_message_times_total_miss.to_string(),
        );
        put(
            "getMessageTransferedMsgCount",
            s.get_message_transfered_msg_count.to_string(),
        );
        put("commitLogMinOffset", self.min_phy_offset().to_string());
        put("commitLogMaxOffset", self.max_phy_offset().to_string());
        put("dispatchBehindBytes", s.dispatch_behind_bytes.to_string());
        put(
            "commitLogDiskRatio",
            s.commit_log_disk_ratio.unwrap_or(-1.0).to_string(),
        );
        put(
            "consumeQueueDiskRatio",
            s.consume_queue_disk_ratio.unwrap_or(-1.0).to_string(),
        );
        m
    }
}

fn file_mtime_ms(f: &MappedFile) -> i64 {
    f.file()
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}
