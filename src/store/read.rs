//! The read side of [`MessageStore`]: pulls by queue offset, records by physical offset or
//! msgId, key lookups through the index, queue and commitlog bounds, and the iterator over
//! every record of the commitlog.

use super::*;

impl MessageStore {
    /// Reads up to `max_count` messages of a queue from queue offset `offset`
    /// (`DefaultMessageStore#getMessage`, without filtering).
    ///
    /// ```
    /// use rmqstore::store::GetMessageStatus;
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// for i in 0..5u8 {
    ///     store.put_message(&Message::new("T", 0, vec![i]))?;
    /// }
    /// let got = store.get_messages("T", 0, 2, 32);
    /// assert_eq!(got.status, GetMessageStatus::Found);
    /// assert_eq!((got.messages.len(), got.next_begin_offset), (3, 5));
    /// assert_eq!(store.get_messages("T", 0, 5, 32).status, GetMessageStatus::OffsetOverflowOne);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_messages(
        &self,
        topic: &str,
        queue_id: i32,
        offset: u64,
        max_count: usize,
    ) -> GetMessageResult {
        if let Some(r) = batch_put::get_messages(self, topic, queue_id, offset, max_count) {
            return r;
        }
        let Some(cq) = self.dispatcher.consume_queues().get(topic, queue_id) else {
            return GetMessageResult {
                status: GetMessageStatus::NoMatchedLogicQueue,
                messages: vec![],
                next_begin_offset: 0,
                min_offset: 0,
                max_offset: 0,
                suggest_pulling_from_slave: false,
                buffer_total_size: 0,
            };
        };
        let max = cq.max_offset_in_queue();
        let mut result = match GetMessageResult::start_pull(offset, cq.min_offset_in_queue(), max) {
            Ok(r) => r,
            Err(done) => return done,
        };
        let phy_min = self.commit_log.min_offset() as i64;
        let mut i = offset;
        // The batch's consume-queue file and commitlog segment, looked up again only when a
        // unit or record lies outside them (Java holds one buffer of the queue per pull too).
        let (mut cq_file, mut segment) = (None, None);
        result
            .messages
            .reserve(max_count.min((max - offset) as usize));
        while i < max && result.messages.len() < max_count {
            match cq.get_unit_cached(i, &mut cq_file) {
                Some(u) if u.is_pre_blank() || u.commitlog_offset < phy_min => {}
                Some(u) => {
                    if let Some((file, pos, size)) = self
                        .commit_log
                        .record_at_cached(u.commitlog_offset as u64, &mut segment)
                    {
                        result.buffer_total_size += size;
                        result.messages.push(StoredRecord { file, pos, size });
                    }
                }
                None => break,
            }
            i += 1;
        }
        result.next_begin_offset = i;
        if result.messages.is_empty() {
            result.status = GetMessageStatus::OffsetFoundNull;
        }
        result
    }

    /// The record at physical offset `offset`, if one starts there.
    pub fn get_by_phy_offset(&self, offset: u64) -> Option<StoredRecord> {
        let (file, pos, size) = self.commit_log.record_at(offset)?;
        Some(StoredRecord { file, pos, size })
    }

    /// The record named by an offset msgId (`queryMsgById`).
    pub fn look_message_by_id(&self, msg_id: &str) -> Result<Option<StoredRecord>> {
        let (_host, offset) = decode_message_id(msg_id)
            .map_err(|e| StoreError::Invalid(format!("msgId {msg_id:?}: {e}")))?;
        if offset < 0 {
            return Ok(None);
        }
        Ok(self.get_by_phy_offset(offset as u64))
    }

    /// Physical offsets the index holds for `topic#key` (hash collisions included, as Java's
    /// `queryMessage` returns them), newest file first, at most `max_num`.
    pub fn query_offsets_by_key(
        &self,
        topic: &str,
        key: &str,
        max_num: usize,
        begin: i64,
        end: i64,
    ) -> Vec<i64> {
        self.dispatcher.query(topic, key, max_num, begin, end)
    }

    /// Messages of `topic` whose UNIQ_KEY or one of whose KEYS is `key`, through the index;
    /// hash collisions are filtered out. Sorted by physical offset.
    ///
    /// ```
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// store.put_message(&Message::new("T", 0, b"a".to_vec()).with_keys("order-1 order-2"))?;
    /// store.put_message(&Message::new("T", 0, b"b".to_vec()).with_keys("order-3"))?;
    /// let found = store.query_messages_by_key("T", "order-2", 32, 0, i64::MAX);
    /// assert_eq!(found.len(), 1);
    /// assert_eq!(found[0].decode()?.body, b"a");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn query_messages_by_key(
        &self,
        topic: &str,
        key: &str,
        max_num: usize,
        begin: i64,
        end: i64,
    ) -> Vec<StoredRecord> {
        let mut offsets = self.query_offsets_by_key(topic, key, max_num, begin, end);
        offsets.sort_unstable();
        offsets.dedup();
        offsets
            .into_iter()
            .filter_map(|o| self.get_by_phy_offset(o.max(0) as u64))
            .filter(|r| match r.decode() {
                Ok(rec) => {
                    let sp = StoreProperties::parse(rec.properties);
                    rec.topic == topic.as_bytes()
                        && (sp.uniq_key.as_deref() == Some(key)
                            || sp.key_tokens().any(|k| k == key))
                }
                Err(_) => false,
            })
            .collect()
    }

    /// `getMinOffsetInQueue`: the first offset of a queue still there (0 if no queue).
    pub fn min_offset_in_queue(&self, topic: &str, queue_id: i32) -> u64 {
        if let Some((min, _)) = self.batch_offsets(topic, queue_id) {
            return min;
        }
        self.dispatcher
            .consume_queues()
            .get(topic, queue_id)
            .map(|q| q.min_offset_in_queue())
            .unwrap_or(0)
    }

    /// `getMaxOffsetInQueue`: the offset the next message of the queue gets (0 if no queue).
    pub fn max_offset_in_queue(&self, topic: &str, queue_id: i32) -> u64 {
        if let Some((_, max)) = self.batch_offsets(topic, queue_id) {
            return max;
        }
        self.dispatcher
            .consume_queues()
            .get(topic, queue_id)
            .map(|q| q.max_offset_in_queue())
            .unwrap_or(0)
    }

    /// `getMinPhyOffset`: the commitlog's first offset still on disk.
    pub fn min_phy_offset(&self) -> u64 {
        self.commit_log.min_offset()
    }
    /// `getMaxPhyOffset`: the commitlog's end.
    pub fn max_phy_offset(&self) -> u64 {
        self.commit_log.max_offset()
    }

    /// How many records dispatch kept out of the consume queues because their topic or queue
    /// id cannot name a consume-queue folder (they stay readable by physical offset); see
    /// [`undispatchable_report`](Self::undispatchable_report) for which.
    pub fn undispatchable(&self) -> u64 {
        self.dispatcher.undispatchable()
    }

    /// What [`undispatchable`](Self::undispatchable) counts, in words (None when nothing was
    /// kept out): how many, and the first such record's offset, topic, queue and why.
    pub fn undispatchable_report(&self) -> Option<String> {
        self.dispatcher.undispatchable_report()
    }

    /// Every record of the commitlog in physical order, from the minimum to the recovered end,
    /// continuing past damage (each skipped range is yielded as one error; see [`RecordIter`]).
    pub fn records(&self) -> RecordIter<'_> {
        RecordIter {
            store: self,
            offset: self.commit_log.min_offset(),
            end: self.commit_log.max_offset(),
            skipped: Vec::new(),
        }
    }
}

/// Iterates the commitlog's records in physical order, from the minimum offset to the
/// recovered end. Where bytes do not decode (or a segment is missing), the iteration yields
/// one error naming the file, position and number of bytes skipped, and continues at the next
/// valid record (as `salvage` finds it); [`skipped`](RecordIter::skipped) lists the ranges.
pub struct RecordIter<'a> {
    store: &'a MessageStore,
    offset: u64,
    end: u64,
    skipped: Vec<crate::inspect::content::SkippedRange>,
}

impl RecordIter<'_> {
    /// The ranges skipped so far (file, position, bytes, why).
    pub fn skipped(&self) -> &[crate::inspect::content::SkippedRange] {
        &self.skipped
    }

    fn skip(
        &mut self,
        file: &Path,
        file_from: u64,
        pos: usize,
        to: u64,
        reason: String,
    ) -> StoreError {
        let bytes = to - (file_from + pos as u64);
        let r = crate::inspect::content::SkippedRange {
            file: file.to_path_buf(),
            pos: pos as u64,
            offset: file_from + pos as u64,
            bytes,
            reason,
            beyond_end: false,
        };
        let e = StoreError::Corrupt {
            path: r.file.clone(),
            offset: r.pos,
            problem: crate::format::Problem::Invalid(format!(
                "{} bytes skipped to the next valid record: {}",
                r.bytes, r.reason
            )),
        };
        self.skipped.push(r);
        self.offset = to;
        e
    }
}

impl Iterator for RecordIter<'_> {
    type Item = Result<StoredRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.offset >= self.end {
                return None;
            }
            let Some(f) = self.store.commit_log.files().find_by_offset(self.offset) else {
                // A missing segment: go on at the next one there is.
                let next = self
                    .store
                    .commit_log
                    .files()
                    .files()
                    .into_iter()
                    .map(|f| f.file_from_offset())
                    .find(|&o| o > self.offset)
                    .unwrap_or(self.end)
                    .min(self.end);
                let at = self.offset;
                let missing = self
                    .store
                    .commit_log
                    .files()
                    .dir()
                    .join(format!("{at:020}"));
                return Some(Err(self.skip(
                    &missing,
                    at,
                    0,
                    next,
                    "missing segment(s): no file holds these offsets".into(),
                )));
            };
            let from = f.file_from_offset();
            let next_file = from + f.file_size() as u64;
            let pos = (self.offset - from) as usize;
            let data = f.readable();
            if pos >= data.len() {
                self.offset = next_file;
                continue;
            }
            match decode_record(&data[pos..], false) {
                Ok(Decoded::Message { total_size, .. }) => {
                    self.offset += total_size as u64;
                    return Some(Ok(StoredRecord {
                        file: f,
                        pos,
                        size: total_size as usize,
                    }));
                }
                Ok(Decoded::Blank { .. }) => self.offset = next_file,
                other => {
                    let reason = match other {
                        Err(e) => e.to_string(),
                        _ => "zeros where a record should start".into(),
                    };
                    let to = match crate::inspect::scan::resync(data, from, pos + 1) {
                        Some(q) => from + q as u64,
                        None => next_file,
                    }
                    .min(self.end.max(from + pos as u64 + 1));
                    let path = f.path().to_path_buf();
                    return Some(Err(self.skip(&path, from, pos, to, reason)));
                }
            }
        }
    }
}
