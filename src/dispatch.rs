//! Dispatch: what a commitlog record contributes to the consume queues and the index
//! (Java's `DispatchRequest`, built by `checkMessageAndReturnSize`).

use std::borrow::Cow;

use crate::format::cq::{is_dispatched_to_cq, record_tags_code, DelayLevels};
use crate::format::properties::StoreProperties;
use crate::format::record::MessageRecord;
use crate::format::Problem;

/// The facts of one record that the consume queue and index builders need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchRequest<'a> {
    /// The topic (the real one for a delayed message: its schedule topic).
    pub topic: Cow<'a, str>,
    /// The queue id.
    pub queue_id: i32,
    /// Physical offset of the record.
    pub commitlog_offset: i64,
    /// Size of the record.
    pub msg_size: i32,
    /// The tags code the consume-queue unit gets (the delivery time for a delayed message).
    pub tags_code: i64,
    /// The store timestamp.
    pub store_timestamp: i64,
    /// The record's queue offset.
    pub consume_queue_offset: i64,
    /// The KEYS property.
    pub keys: Option<Cow<'a, str>>,
    /// The UNIQ_KEY property.
    pub uniq_key: Option<Cow<'a, str>>,
    /// The record's sysFlag.
    pub sys_flag: i32,
    /// The prepared-transaction offset.
    pub prepared_transaction_offset: i64,
    /// The record's raw properties (5.x multi-dispatch reads its LMQ targets from them).
    pub properties: &'a [u8],
}

impl<'a> DispatchRequest<'a> {
    /// Builds the request for a decoded record of `total_size` bytes. Fails where Java's check
    /// throws (a DELAY property that is not a number in the schedule topic).
    pub fn from_record(
        rec: &MessageRecord<'a>,
        total_size: u32,
        delay_levels: &DelayLevels,
    ) -> Result<DispatchRequest<'a>, Problem> {
        Self::from_parts(rec, total_size, rec.store_properties(), delay_levels)
    }

    /// The same, with the record's properties already parsed (the put path parses them once).
    pub fn from_parts(
        rec: &MessageRecord<'a>,
        total_size: u32,
        props: StoreProperties<'a>,
        delay_levels: &DelayLevels,
    ) -> Result<DispatchRequest<'a>, Problem> {
        let tags_code = record_tags_code(rec, &props, delay_levels)?;
        Ok(DispatchRequest {
            topic: rec.topic_str(),
            queue_id: rec.queue_id,
            commitlog_offset: rec.physical_offset,
            msg_size: total_size as i32,
            tags_code,
            store_timestamp: rec.store_timestamp,
            consume_queue_offset: rec.queue_offset,
            keys: props.keys,
            uniq_key: props.uniq_key,
            sys_flag: rec.sys_flag,
            prepared_transaction_offset: rec.prepared_transaction_offset,
            properties: rec.properties,
        })
    }

    /// PREPARED and ROLLBACK records are not put in a consume queue.
    pub fn goes_to_consume_queue(&self) -> bool {
        is_dispatched_to_cq(self.sys_flag)
    }
}

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crate::clock::Clock;
use crate::commitlog::CommitLog;
use crate::consume_queue::{queue_offset_fits, ConsumeQueueTable};
use crate::error::Result;
use crate::format::record::{decode_record, Decoded};
use crate::index::{IndexRequest, IndexService};
use crate::topic::{validate_queue_id, validate_topic};

/// What a walk over the commitlog dispatches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Both,
    IndexOnly,
    QueuesOnly,
}

/// State that only one dispatcher may touch at a time.
pub struct DispatchInner {
    pub index: Option<IndexService>,
    /// Next commitlog offset to dispatch (Java's `reputFromOffset`).
    pub reput_from: u64,
}

/// Builds consume queues and the index from commitlog records, in commitlog order.
pub struct Dispatcher {
    /// The last dispatch failure (cleared by a successful catch-up), for health reporting.
    last_error: Mutex<Option<String>>,
    cqs: ConsumeQueueTable,
    inner: Mutex<DispatchInner>,
    delay_levels: DelayLevels,
    clock: Arc<dyn Clock>,
    logics_msg_timestamp: AtomicI64,
    /// On a slave: the store timestamp of the last record put into a consume queue, for the
    /// checkpoint's `physicMsgTimestamp` (0: none yet, or not a slave).
    slave_physic_msg_timestamp: AtomicI64,
    slave: std::sync::atomic::AtomicBool,
    /// 5.x `enableMultiDispatch` / `enableLmq` (see [`set_multi_dispatch`](Self::set_multi_dispatch)).
    multi_dispatch: std::sync::atomic::AtomicBool,
    lmq: std::sync::atomic::AtomicBool,
    /// Records skipped by the consume queues because their topic or queue id cannot name one.
    undispatchable: AtomicU64,
    /// The first of them, described.
    first_undispatchable: Mutex<Option<String>>,
    /// Arrival listeners and extra dispatchers (`src/store/hooks.rs`).
    hooks: crate::store::hooks::DispatchHooks,
    /// 5.x batch consume queues (empty unless the store targets 5.x).
    batch: std::sync::OnceLock<crate::v5::batch_cq_table::BatchCqTable>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

impl Dispatcher {
    pub fn new(
        cqs: ConsumeQueueTable,
        index: Option<IndexService>,
        delay_levels: DelayLevels,
        clock: Arc<dyn Clock>,
    ) -> Dispatcher {
        Dispatcher {
            last_error: Mutex::new(None),
            cqs,
            inner: Mutex::new(DispatchInner {
                index,
                reput_from: 0,
            }),
            delay_levels,
            clock,
            logics_msg_timestamp: AtomicI64::new(0),
            slave_physic_msg_timestamp: AtomicI64::new(0),
            slave: std::sync::atomic::AtomicBool::new(false),
            multi_dispatch: std::sync::atomic::AtomicBool::new(false),
            lmq: std::sync::atomic::AtomicBool::new(false),
            undispatchable: AtomicU64::new(0),
            first_undispatchable: Mutex::new(None),
            hooks: Default::default(),
            batch: std::sync::OnceLock::new(),
        }
    }

    /// Gives the dispatcher the store's batch consume queues (5.x); once, at open.
    pub fn set_batch_queues(&self, table: crate::v5::batch_cq_table::BatchCqTable) {
        let _ = self.batch.set(table);
    }

    /// The batch consume queues, if the store has them (5.x target).
    pub fn batch_queues(&self) -> Option<&crate::v5::batch_cq_table::BatchCqTable> {
        self.batch.get()
    }

    /// Does a record of `topic`/`queue_id` go to a batch consume queue? As Java's
    /// `findOrCreateConsumeQueue`: an existing queue keeps its kind, a new one follows the
    /// topic's `queue.type`.
    pub fn is_batch_queue(&self, topic: &str, queue_id: i32) -> bool {
        let Some(b) = self.batch.get() else {
            return false;
        };
        b.has_queue(topic, queue_id)
            || (b.is_batch_topic(topic) && self.cqs.get(topic, queue_id).is_none())
    }

    pub fn consume_queues(&self) -> &ConsumeQueueTable {
        &self.cqs
    }
    #[cfg(feature = "internals")]
    pub fn delay_levels(&self) -> &DelayLevels {
        &self.delay_levels
    }
    pub fn lock(&self) -> MutexGuard<'_, DispatchInner> {
        self.inner.lock()
    }

    pub(crate) fn hooks(&self) -> &crate::store::hooks::DispatchHooks {
        &self.hooks
    }

    /// Store timestamp of the last record put into a consume queue.
    /// How many records were kept out of the consume queues because their topic or queue id
    /// cannot name a consume-queue directory (see [`dispatch`](Self::dispatch)).
    pub fn undispatchable(&self) -> u64 {
        self.undispatchable.load(Ordering::Relaxed)
    }

    /// The count of [`undispatchable`](Self::undispatchable) records and the first of them, in
    /// words; None when there are none.
    pub fn undispatchable_report(&self) -> Option<String> {
        let n = self.undispatchable();
        let first = self.first_undispatchable.lock().clone()?;
        Some(format!(
            "{n} record(s) kept out of the consume queues (still in the commitlog); the first: \
             {first}"
        ))
    }

    pub fn logics_msg_timestamp(&self) -> i64 {
        self.logics_msg_timestamp.load(Ordering::Acquire)
    }

    /// Dispatch for a SLAVE: each record put into a consume queue also sets the checkpoint's
    /// `physicMsgTimestamp`, as `ConsumeQueue#putMessagePositionInfoWrapper` does for that role
    /// (a slave's replicated segments carry no store timestamp for its commitlog flush to set).
    pub fn set_slave(&self, slave: bool) {
        self.slave.store(slave, Ordering::Release);
    }

    /// 5.x multi-dispatch (`enableMultiDispatch`): a record whose `INNER_MULTI_DISPATCH` and
    /// `INNER_MULTI_QUEUE_OFFSET` list queues also gets a unit in each of them, at the offset
    /// its put recorded (`ConsumeQueue#multiDispatchLmqQueue`); with `enable_lmq` an `%LMQ%`
    /// name means queue 0, any other name the record's own queue id.
    pub fn set_multi_dispatch(&self, multi_dispatch: bool, enable_lmq: bool) {
        self.multi_dispatch.store(multi_dispatch, Ordering::Release);
        self.lmq.store(enable_lmq, Ordering::Release);
    }

    /// The settings of [`set_multi_dispatch`](Self::set_multi_dispatch) for `config`: only
    /// with a 5.x target version.
    pub fn configure_multi_dispatch(&self, config: &crate::StoreConfig) {
        let v5 = config.target_version.is_5x();
        self.set_multi_dispatch(v5 && config.enable_multi_dispatch, v5 && config.enable_lmq);
    }

    /// On a slave, the store timestamp of the last record put into a consume queue (0: none).
    pub fn slave_physic_msg_timestamp(&self) -> i64 {
        self.slave_physic_msg_timestamp.load(Ordering::Acquire)
    }

    /// Puts one record into its consume queue (unless PREPARED/ROLLBACK) and the index.
    ///
    /// A record read from disk whose topic or queue id cannot name a consume-queue directory
    /// (an empty topic, `.`, `..`, one containing `/` or NUL, or a negative queue id; see
    /// [`validate_topic`]), or whose queue offset no consume queue can hold (negative, or near
    /// 2^63 / 20), goes to no consume queue: creating its directory could write outside
    /// the store, and failing would stop recovery there and truncate every record after it. The
    /// record stays in the commitlog (readable by physical offset and by `records()`) and is
    /// counted and described in [`undispatchable_report`](Self::undispatchable_report). The put
    /// path refuses such topics before they reach the commitlog, so only damaged or foreign
    /// files have them. Any other topic, whatever its characters, gets its consume queue, as
    /// in Java (topic bytes that are not UTF-8 are decoded lossily, as Java's `new String`).
    pub fn dispatch(&self, d: &mut DispatchInner, req: &DispatchRequest<'_>) -> Result<()> {
        self.put_in_queue(req)?;
        self.build_index(d, req)?;
        self.hooks.dispatched(req);
        Ok(())
    }

    /// [`put_in_queue`](Self::put_in_queue) for a queue the table already has: a recovery
    /// refill never brings back the queue of a deleted topic (`delete_topics`) whose messages
    /// are still in the commitlog.
    fn put_in_existing_queue(&self, req: &DispatchRequest<'_>) -> Result<()> {
        if self.cqs.get(&req.topic, req.queue_id).is_none()
            && !self
                .batch
                .get()
                .is_some_and(|b| b.has_queue(&req.topic, req.queue_id))
        {
            return Ok(());
        }
        self.put_in_queue(req)
    }

    /// The consume-queue half of [`dispatch`](Self::dispatch).
    fn put_in_queue(&self, req: &DispatchRequest<'_>) -> Result<()> {
        if req.goes_to_consume_queue()
            && (validate_topic(&req.topic).is_err()
                || validate_queue_id(req.queue_id).is_err()
                || !queue_offset_fits(req.consume_queue_offset, self.cqs.file_size()))
        {
            self.undispatchable.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first_undispatchable.lock();
            if first.is_none() {
                let why = match validate_topic(&req.topic) {
                    Err(e) => e.to_string(),
                    Ok(()) if validate_queue_id(req.queue_id).is_err() => {
                        "negative queue id".to_string()
                    }
                    Ok(()) => format!(
                        "queue offset {} does not fit a consume queue",
                        req.consume_queue_offset
                    ),
                };
                *first = Some(format!(
                    "commitlog offset {}, topic {:?}, queue {}: {why}",
                    req.commitlog_offset,
                    req.topic.chars().take(300).collect::<String>(),
                    req.queue_id
                ));
            }
        } else if req.goes_to_consume_queue() && self.is_batch_queue(&req.topic, req.queue_id) {
            self.put_in_batch_queue(req)?;
        } else if req.goes_to_consume_queue() {
            let cq = self.cqs.find_or_create(&req.topic, req.queue_id)?;
            let put = cq.put_position_info(
                req.commitlog_offset,
                req.msg_size,
                req.tags_code,
                req.consume_queue_offset,
            )?;
            if self.slave.load(Ordering::Acquire) {
                self.slave_physic_msg_timestamp
                    .store(req.store_timestamp, Ordering::Release);
            }
            self.logics_msg_timestamp
                .store(req.store_timestamp, Ordering::Release);
            if put == crate::consume_queue::PutUnit::Written {
                self.hooks.arrived(req);
            }
            if self.multi_dispatch.load(Ordering::Acquire) {
                self.put_in_lmq_queues(req)?;
            }
        }
        Ok(())
    }

    /// The batch-queue half of [`put_in_queue`](Self::put_in_queue) (5.x
    /// `BatchConsumeQueue#putMessagePositionInfoWrapper`): one 46-byte unit per record, an inner
    /// batch covering `INNER_NUM` messages from `INNER_BASE`. A record whose `INNER_NUM` or
    /// `INNER_BASE` does not parse is in no queue (Java's dispatch check fails on it).
    fn put_in_batch_queue(&self, req: &DispatchRequest<'_>) -> Result<()> {
        let (Some(b), Some(unit)) = (
            self.batch.get(),
            crate::v5::batch_cq_write::unit_for_request(req),
        ) else {
            return Ok(());
        };
        let written = b.put(&req.topic, req.queue_id, &unit)?;
        if self.slave.load(Ordering::Acquire) {
            self.slave_physic_msg_timestamp
                .store(req.store_timestamp, Ordering::Release);
        }
        self.logics_msg_timestamp
            .store(req.store_timestamp, Ordering::Release);
        if written {
            self.hooks.arrived(req);
        }
        Ok(())
    }

    /// The multi-dispatch half of [`put_in_queue`](Self::put_in_queue) (5.x): one plain unit
    /// per queue the record names, at the queue offset its put assigned there. A queue that
    /// already holds the unit skips it (recovery and reput redo this safely); a name that
    /// cannot be a consume-queue directory is skipped.
    fn put_in_lmq_queues(&self, req: &DispatchRequest<'_>) -> Result<()> {
        let lmq = self.lmq.load(Ordering::Acquire);
        for (name, offset) in crate::v5::lmq::dispatch_targets(&req.topic, req.properties) {
            let queue_id = if lmq && crate::v5::lmq::is_lmq(&name) {
                crate::v5::lmq::LMQ_QUEUE_ID
            } else {
                req.queue_id
            };
            if validate_topic(&name).is_err()
                || validate_queue_id(queue_id).is_err()
                || !queue_offset_fits(offset, self.cqs.file_size())
            {
                continue;
            }
            let cq = self.cqs.find_or_create(&name, queue_id)?;
            cq.put_position_info(req.commitlog_offset, req.msg_size, req.tags_code, offset)?;
        }
        Ok(())
    }

    fn build_index(&self, d: &mut DispatchInner, req: &DispatchRequest<'_>) -> Result<()> {
        if let Some(ix) = d.index.as_mut() {
            ix.build_index_with(
                &IndexRequest {
                    topic: &req.topic,
                    commitlog_offset: req.commitlog_offset,
                    store_timestamp: req.store_timestamp,
                    sys_flag: req.sys_flag,
                    uniq_key: req.uniq_key.as_deref(),
                    keys: req.keys.as_deref(),
                },
                &|| self.clock.now_millis(),
            )?;
        }
        Ok(())
    }

    /// `ReputMessageService`: dispatches every readable record from the reput position up to
    /// `to`, without CRC checks. A blank moves to the next segment; a record whose length
    /// field disagrees with its fields is skipped by that length (as Java does); a record
    /// with a bad DELAY is skipped too (Java would stall on it for good); anything else that
    /// does not decode stops the reput there.
    pub fn reput(&self, commit_log: &CommitLog, to: u64) -> Result<()> {
        let mut d = self.inner.lock();
        let from = d.reput_from;
        let mut at = from;
        let r = self.walk(&mut d, commit_log, from, to, Target::Both, &mut at);
        d.reput_from = at;
        if r.is_ok() {
            self.last_error.lock().take();
        }
        r.map(|_| ())
    }

    /// Remembers a dispatch failure for [`last_error`](Self::last_error).
    pub fn record_error(&self, e: &crate::error::StoreError) {
        tracing::warn!(error = %e, "dispatch failed");
        *self.last_error.lock() = Some(format!("dispatch: {e}"));
    }

    /// The last dispatch failure, if it has not been caught up since.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// How far dispatch trails the commitlog's readable end, in bytes.
    pub fn behind(&self, commit_log: &CommitLog) -> u64 {
        commit_log
            .files()
            .committed_offset()
            .saturating_sub(self.inner.lock().reput_from)
    }

    /// Builds only the index for the records in `[from, to)` (rebuilding index files that
    /// recovery removed); the consume queues and the reput position are left alone.
    pub fn reindex(&self, commit_log: &CommitLog, from: u64, to: u64) -> Result<()> {
        let mut d = self.inner.lock();
        let mut at = from;
        self.walk(&mut d, commit_log, from, to, Target::IndexOnly, &mut at)?;
        Ok(())
    }

    /// Puts the records in `[from, to)` into their consume queues only (units a queue already
    /// has are skipped); the index and the reput position are left alone.
    pub fn requeue(&self, commit_log: &CommitLog, from: u64, to: u64) -> Result<()> {
        let mut d = self.inner.lock();
        let mut at = from;
        self.walk(&mut d, commit_log, from, to, Target::QueuesOnly, &mut at)?;
        Ok(())
    }

    /// Walks readable records from `from` to `to`, dispatching each; returns where it stopped.
    fn walk(
        &self,
        d: &mut DispatchInner,
        commit_log: &CommitLog,
        from: u64,
        to: u64,
        target: Target,
        at: &mut u64,
    ) -> Result<u64> {
        let mut offset = from.max(commit_log.min_offset());
        *at = offset;
        while offset < to {
            let Some(f) = commit_log.files().find_by_offset(offset) else {
                break;
            };
            let next_file = f.file_from_offset() + f.file_size() as u64;
            let data = f.readable();
            let pos = (offset - f.file_from_offset()) as usize;
            if pos >= data.len() {
                if f.committed_position() >= f.file_size() {
                    offset = next_file;
                    *at = offset;
                    continue;
                }
                break;
            }
            match decode_record(&data[pos..], false) {
                Ok(Decoded::Message { record, total_size }) => {
                    if let Ok(req) =
                        DispatchRequest::from_record(&record, total_size, &self.delay_levels)
                    {
                        match target {
                            Target::Both => self.dispatch(d, &req)?,
                            Target::IndexOnly => self.build_index(d, &req)?,
                            Target::QueuesOnly => self.put_in_existing_queue(&req)?,
                        }
                    }
                    offset += total_size as u64;
                    *at = offset;
                }
                Ok(Decoded::Blank { .. }) => {
                    offset = next_file;
                    *at = offset;
                }
                Ok(Decoded::End) => break,
                Err(e) => match e.problem {
                    Problem::LengthMismatch { declared, .. } if declared > 0 => offset += declared,
                    _ => break,
                },
            }
        }
        Ok(offset)
    }

    /// Dispatches up to what the commitlog's files hold (the committed end).
    pub fn reput_to_committed(&self, commit_log: &CommitLog) -> Result<()> {
        self.reput(commit_log, commit_log.files().committed_offset())
    }

    /// Offsets the index holds for `topic#key` (unfiltered, as Java's `queryMessage`).
    pub fn query(&self, topic: &str, key: &str, max_num: usize, begin: i64, end: i64) -> Vec<i64> {
        match &self.inner.lock().index {
            Some(ix) => ix.query(topic, key, max_num, begin, end),
            None => vec![],
        }
    }

    /// `checkpoint.indexMsgTimestamp`: end time of the last index file that filled up and
    /// was flushed (0 if none this run).
    pub fn index_msg_timestamp(&self) -> i64 {
        self.inner
            .lock()
            .index
            .as_ref()
            .map_or(0, |ix| ix.flushed_index_msg_timestamp())
    }

    pub fn flush_index(&self) -> Result<()> {
        if let Some(ix) = &self.inner.lock().index {
            ix.flush()?;
        }
        Ok(())
    }
}
