//! `MessageStore`: the embeddable API. Opens a store directory (recovering it as Java 4.6.0
//! would), puts messages and batches, and reads them back by queue offset, physical offset,
//! msgId or key.
//!
//! The store is the lower layer. Retention (`crate::cleanup`) and replication (`crate::ha`)
//! sit above it: they import the store, keep their own state and plug it in as a store is
//! opened (`src/services.rs`, where `MessageStore`'s constructors are). The store reaches them
//! only through one small trait, `StorePlugin` (`src/store/plugin.rs`: a put refusal, an
//! append notification, the step after a put's flush, their errors); their threads are
//! [`StoreService`]s it stops at shutdown. The one edge left from here to them is the public
//! re-export of their types below (`CleanupReport`, `HaStatus`, ...), which keeps those types'
//! `rmqstore::store::` paths.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::checkpoint::StoreCheckpoint;
use crate::clock::Clock;
use crate::commitlog::{CommitLog, PutState};
use crate::config::StoreConfig;
use crate::consume_queue::ConsumeQueueTable;
use crate::dispatch::Dispatcher;
use crate::error::{IoContext, Result, StoreError};
use crate::flush::{FlushServices, FlushTargets, FlushWaitError};
use crate::format::cq::{DelayLevels, SCHEDULE_TOPIC};
use crate::format::hash::body_crc;
use crate::format::msgid::decode_message_id;
use crate::format::properties;
use crate::format::record::{decode_record, sysflag, Decoded};
use crate::index::IndexService;
use crate::mapped_file::{MappedFile, TransientStorePool};
use crate::message::{Message, MessageBatch, ReplayMessage};
use crate::topic::{validate_queue_id, validate_topic, MAX_TOPIC_LEN_V1};
use std::time::Duration;

mod async_put;
mod broker_ops;
mod filter;
pub(crate) mod hooks;
mod stats;

pub use async_put::{block_on, ArrivalFuture, PutFuture};
pub use broker_ops::{total_physical_memory, CommitLogData};
pub use disk::{DiskUsage, DiskUsageProbe, StatvfsProbe};
pub use filter::{MessageFilter, TagFilter};
pub use hooks::{Arrival, ArrivalListener, CommitLogDispatcher, PutHook};
pub use stats::{StoreStats, LATENCY_BUCKETS_US};

// Types of the public API that live with the internals (for cleanup and ha, the only place
// the store names them: the paths stay, the state and behaviour are theirs).
pub use crate::cleanup::{
    CleanupOptions, CleanupPlan, CleanupReport, ConsumerLoss, FilePlan, PlanSettings, RunPlan,
    Triggers,
};
pub use crate::commitlog::AppendResult;
pub use crate::dispatch::DispatchRequest;
pub use crate::format::properties::StoreProperties;
pub use crate::format::record::{Magic, MessageRecord};
pub use crate::ha::{ClientStatus, HaHandle, HaStatus, SlaveConnection};
pub use crate::inspect::content::SkippedRange;
pub use crate::left_out::LeftOut;
mod batch_put;
pub(crate) mod disk;
mod lmq_put;
mod open;
pub(crate) mod plugin;
mod powercut;
mod read;
pub use open::is_locked;
pub use read::RecordIter;
mod timer_put;

/// `PutMessageStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PutMessageStatus {
    /// Stored (and as durable/replicated as the configuration asks).
    PutOk,
    /// Stored, but not durable within `syncFlushTimeout` (SYNC_FLUSH).
    FlushDiskTimeout,
    /// Stored, but no slave had it within `syncFlushTimeout` (SYNC_MASTER).
    FlushSlaveTimeout,
    /// Stored, but no slave is close enough to wait for (SYNC_MASTER).
    SlaveNotAvailable,
    /// Refused: the store is read-only, shut down, a slave, or the disk is full.
    ServiceNotAvailable,
    /// Refused: a new segment could not be created.
    CreateMappedFileFailed,
    /// Refused: the topic or the message is too long or malformed.
    MessageIllegal,
    /// Refused: the properties are longer than 32767 bytes.
    PropertiesSizeExceeded,
    /// Refused: the put lock was held too long.
    OsPageCacheBusy,
    /// Refused for another reason (see `reason`).
    UnknownError,
}

/// What a put returned: the status, where the message went (when it was stored) and, for a
/// refused message, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutMessageResult {
    /// What happened.
    pub status: PutMessageStatus,
    /// Where it went, when stored.
    pub append: Option<AppendResult>,
    /// Why it was refused.
    pub reason: Option<String>,
}

impl PutMessageResult {
    /// A put refused with `status` for `reason` (nothing stored).
    pub fn refused(status: PutMessageStatus, reason: String) -> Self {
        PutMessageResult {
            status,
            append: None,
            reason: Some(reason),
        }
    }
    /// The status is [`PutMessageStatus::PutOk`].
    pub fn is_ok(&self) -> bool {
        self.status == PutMessageStatus::PutOk
    }
}

/// A record in the commitlog, held by reference: the segment stays mapped while this lives.
#[derive(Clone)]
pub struct StoredRecord {
    file: Arc<MappedFile>,
    pos: usize,
    size: usize,
}

impl std::fmt::Debug for StoredRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredRecord")
            .field("offset", &self.offset())
            .field("size", &self.size)
            .finish()
    }
}

impl StoredRecord {
    /// Physical offset of the record.
    pub fn offset(&self) -> u64 {
        self.file.file_from_offset() + self.pos as u64
    }
    /// Size of the record in bytes.
    pub fn size(&self) -> usize {
        self.size
    }
    /// The record's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.file.slice(self.pos, self.size).unwrap_or(&[])
    }
    /// Decodes the record (without checking the body CRC).
    pub fn decode(&self) -> Result<MessageRecord<'_>> {
        match decode_record(self.bytes(), false) {
            Ok(Decoded::Message { record, .. }) => Ok(record),
            Ok(_) => Err(StoreError::Corrupt {
                path: self.file.path().to_path_buf(),
                offset: self.pos as u64,
                problem: crate::format::Problem::Invalid("no message record here".into()),
            }),
            Err(e) => Err(StoreError::corrupt(self.file.path(), self.pos as u64, e)),
        }
    }
    /// The segment file holding it.
    pub fn file_path(&self) -> &Path {
        self.file.path()
    }
}

/// `GetMessageStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GetMessageStatus {
    /// Messages were found.
    Found,
    /// Units were there, but the filter matched none of them.
    NoMatchedMessage,
    /// The commitlog segment holding the first unit's message is gone or being deleted.
    MessageWasRemoving,
    /// No such queue.
    NoMatchedLogicQueue,
    /// The queue is empty.
    NoMessageInQueue,
    /// The offset is below the queue's minimum.
    OffsetTooSmall,
    /// The offset is the queue's maximum (nothing new yet).
    OffsetOverflowOne,
    /// The offset is beyond the queue's maximum.
    OffsetOverflowBadly,
    /// No unit at the offset (a hole, e.g. a deleted file).
    OffsetFoundNull,
}

/// What `get_messages` found.
#[derive(Debug, Clone)]
pub struct GetMessageResult {
    /// What happened.
    pub status: GetMessageStatus,
    /// The records found.
    pub messages: Vec<StoredRecord>,
    /// Where the next pull starts.
    pub next_begin_offset: u64,
    /// The queue's minimum offset.
    pub min_offset: u64,
    /// The queue's maximum offset.
    pub max_offset: u64,
    /// The consumer should pull from a slave: the last unit looked at is further behind the
    /// commitlog's end than `access_message_in_memory_max_ratio` percent of physical memory.
    pub suggest_pulling_from_slave: bool,
    /// Bytes of all `messages`.
    pub buffer_total_size: usize,
}

impl GetMessageResult {
    /// The start of a `get_messages` pull of a queue holding offsets `min..max`: `Ok` with
    /// status `Found` and no messages yet when `offset` is in the queue, else `Err` with the
    /// final answer (`NoMessageInQueue`, `OffsetTooSmall`, `OffsetOverflowOne`,
    /// `OffsetOverflowBadly`) and where to pull next.
    pub(crate) fn start_pull(
        offset: u64,
        min: u64,
        max: u64,
    ) -> std::result::Result<GetMessageResult, GetMessageResult> {
        let mut result = GetMessageResult {
            status: GetMessageStatus::Found,
            messages: vec![],
            next_begin_offset: offset,
            min_offset: min,
            max_offset: max,
            suggest_pulling_from_slave: false,
            buffer_total_size: 0,
        };
        let end = if max == 0 {
            Some((GetMessageStatus::NoMessageInQueue, 0))
        } else if offset < min {
            Some((GetMessageStatus::OffsetTooSmall, min))
        } else if offset == max {
            Some((GetMessageStatus::OffsetOverflowOne, offset))
        } else if offset > max {
            Some((GetMessageStatus::OffsetOverflowBadly, max))
        } else {
            None
        };
        match end {
            Some((status, next)) => {
                result.status = status;
                result.next_begin_offset = next;
                Err(result)
            }
            None => Ok(result),
        }
    }
}

/// How the store was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Writer: takes the lock, creates the abort file, recovers and truncates on disk.
    ReadWrite,
    /// Inspection: no file is created, changed or locked; recovery happens in memory only.
    ReadOnly,
}

/// What recovery did at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The abort file was present: the last run did not stop cleanly.
    pub abnormal: bool,
    /// First segment the commitlog scan started at.
    pub start_offset: u64,
    /// The recovered end of the commitlog.
    pub end_offset: u64,
    /// Why the scan stopped where it did, if not at a clean end.
    pub stopped_by: Option<String>,
    /// Offset dispatch (reput) started from after recovery.
    pub reput_from: u64,
}

/// The message store.
pub struct MessageStore {
    pub(crate) config: StoreConfig,
    pub(crate) mode: OpenMode,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) delay_levels: DelayLevels,
    pub(crate) commit_log: Arc<CommitLog>,
    pub(crate) dispatcher: Arc<Dispatcher>,
    pub(crate) checkpoint: Arc<Mutex<StoreCheckpoint>>,
    pub(crate) services: Option<FlushServices>,
    /// With the transient store pool, records are dispatched when committed, not when put.
    pub(crate) dispatch_on_commit: bool,
    pub(crate) lock_file: Option<File>,
    pub(crate) recovery: RecoveryReport,
    pub(crate) shut_down: bool,
    /// Background services beyond flushing (cleanup, replication), stopped in reverse order
    /// before the flush services at shutdown.
    pub(crate) extra_services: Mutex<Vec<Box<dyn StoreService>>>,
    /// The services above the store (retention, replication), plugged in as it is opened;
    /// see [`plugin`].
    pub(crate) plugins: plugin::Plugins,
    /// Put hooks, statistics, the confirm offset, arrival waiters (`src/store/*.rs`).
    pub(crate) api: hooks::ApiState,
    /// Side files an inspection open left out.
    pub(crate) left_out: Vec<crate::left_out::LeftOut>,
    /// The 5.x timer store (`src/store/timer_put.rs`), once a timer message or timer file is
    /// seen by a writable open with timers on.
    pub(crate) timer: Arc<Mutex<Option<crate::v5::timer_write::TimerStore>>>,
}

/// A background service the store owns and stops at shutdown.
pub trait StoreService: Send {
    /// A short name for logs and errors.
    fn name(&self) -> &str;
    /// Stops the service and waits for its threads.
    fn stop(&mut self);
}

impl std::fmt::Debug for MessageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStore")
            .field("root", &self.config.store_path_root_dir)
            .field("mode", &self.mode)
            .finish()
    }
}

impl MessageStore {
    /// Hands a background service to the store, which stops it at shutdown.
    pub fn add_service(&self, service: Box<dyn StoreService>) {
        self.extra_services.lock().push(service);
    }

    /// The last error a background flush or commit service met, if any.
    pub fn background_error(&self) -> Option<String> {
        self.services
            .as_ref()
            .and_then(|s| s.last_error())
            .or_else(|| self.dispatcher.last_error())
            // A plugged-in service's failure (replication's); a cleanup run's error, which the
            // next run clears, is listed by `background_errors` only.
            .or_else(|| {
                self.plugins
                    .errors()
                    .into_iter()
                    .find(|e| !matches!(e, crate::error::BackgroundError::Cleanup(_)))
                    .map(|e| e.to_string())
            })
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }
    /// How the store was opened.
    pub fn mode(&self) -> OpenMode {
        self.mode
    }
    /// What recovery did at open.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }
    internal_fn! {
        /// The commitlog itself (unstable, feature `internals`: its methods can change mapped
        /// bytes and truncate the log).
        #[cfg(any(feature = "cli", feature = "internals"))]
        fn commit_log(&self) -> &CommitLog {
            &self.commit_log
        }
    }
    internal_fn! {
        /// The consume queues themselves (unstable, feature `internals`: their methods can
        /// truncate a queue).
        #[cfg(any(feature = "cli", feature = "internals"))]
        fn consume_queues(&self) -> &ConsumeQueueTable {
            self.dispatcher.consume_queues()
        }
    }

    fn check_writable(&self) -> Result<()> {
        if self.mode != OpenMode::ReadWrite || self.shut_down {
            return Err(StoreError::ReadOnly);
        }
        Ok(())
    }

    /// Puts one message (`CommitLog#putMessage`, 4.6.0): body CRC and the IPv6 host bits are
    /// set by the store, a delayed message (DELAY > 0, not a prepared/rollback record) is moved
    /// to `SCHEDULE_TOPIC_XXXX` with REAL_TOPIC/REAL_QID, and the store timestamp is taken
    /// inside the put lock.
    ///
    /// ```
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// let msg = Message::new("TopicTest", 1, b"hello".to_vec()).with_keys("order-1");
    /// let r = store.put_message(&msg)?;
    /// assert!(r.is_ok());
    /// let at = r.append.unwrap();
    /// assert_eq!((at.wrote_offset, at.logics_offset), (0, 0));
    /// // The offset msgId names the record.
    /// let rec = store.look_message_by_id(&at.msg_id())?.unwrap();
    /// assert_eq!(rec.decode()?.body, b"hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_message(&self, msg: &Message) -> Result<PutMessageResult> {
        let props = StoreProperties::parse_str(&msg.properties);
        let r = self.put_message_inner(msg, &props)?;
        let wait = props.wants_wait();
        match r.append {
            Some(append) => Ok(self.plugins.after_flush(
                &self.config,
                self.handle_disk_flush(append, wait),
                wait,
            )),
            None => Ok(r),
        }
    }

    /// Validates, rewrites a delayed message, and appends; no durability wait. `props` is
    /// `msg.properties` parsed.
    fn put_message_inner(
        &self,
        msg: &Message,
        props: &StoreProperties<'_>,
    ) -> Result<PutMessageResult> {
        self.check_writable()?;
        if let Some(refused) = self.plugins.refuse_put() {
            return Ok(refused);
        }
        if let Some(refused) = self.api.before_put(msg) {
            return Ok(refused);
        }
        if let Some(refused) = self.validate(&msg.topic, msg.queue_id, msg.properties.len()) {
            return Ok(refused);
        }
        let mut topic: &str = &msg.topic;
        let mut queue_id = msg.queue_id;
        let mut props_str: &str = &msg.properties;
        let rewritten;
        let mut rewrote = false;
        let tran = sysflag::tran_type(msg.sys_flag);
        if tran == sysflag::TRANSACTION_NOT_TYPE || tran == sysflag::TRANSACTION_COMMIT_TYPE {
            if let Some(level) = props
                .delay
                .as_deref()
                .and_then(|d| d.parse::<i32>().ok())
                .filter(|&l| l > 0)
            {
                let level = level.min(self.delay_levels.max_level());
                rewritten = delay_rewrite(msg, level);
                topic = SCHEDULE_TOPIC;
                queue_id = level - 1;
                props_str = &rewritten;
                rewrote = true;
                if props_str.len() > i16::MAX as usize {
                    return Ok(PutMessageResult::refused(
                        PutMessageStatus::PropertiesSizeExceeded,
                        format!("properties of {} bytes exceed 32767", props_str.len()),
                    ));
                }
            } else if let Some(t) = self.timer_transform(topic, queue_id, props_str) {
                // 5.x: a timer message goes to the timer topic (HookUtils#transformTimerMessage).
                match t {
                    Err(refused) => return Ok(refused),
                    Ok(p) => {
                        if p.len() > i16::MAX as usize {
                            return Ok(PutMessageResult::refused(
                                PutMessageStatus::PropertiesSizeExceeded,
                                format!("properties of {} bytes exceed 32767", p.len()),
                            ));
                        }
                        rewritten = p;
                        topic = crate::v5::timer::TIMER_TOPIC;
                        queue_id = 0;
                        props_str = &rewritten;
                        rewrote = true;
                    }
                }
            }
        }
        let crc_props;
        if self.config.appends_prop_crc() {
            crc_props = crate::v5::crc::reserve(props_str);
            props_str = &crc_props;
            if props_str.len() > i16::MAX as usize {
                return Ok(PutMessageResult::refused(
                    PutMessageStatus::PropertiesSizeExceeded,
                    format!(
                        "properties of {} bytes (with the __CRC32# property) exceed 32767",
                        props_str.len()
                    ),
                ));
            }
        }
        let mut rec = [self.record_for(
            topic,
            queue_id,
            msg.flag,
            &msg.body,
            props_str,
            msg.sys_flag,
            msg.born_timestamp,
            &msg.born_host,
            &msg.store_host,
            msg.reconsume_times,
            msg.prepared_transaction_offset,
            0,
        )];
        if let Some(refused) = self.check_size(&rec) {
            return Ok(refused);
        }
        if let Some(refused) = lmq_put::refuse_growth(&self.config, &rec[0]) {
            return Ok(refused);
        }
        if let Some(refused) = batch_put::refuse(&self.config, &self.dispatcher, &rec[0]) {
            return Ok(refused);
        }
        let now = || self.clock.now_millis();
        // The parsed properties describe the record unless the delay rewrite replaced them.
        let parsed = (!rewrote).then_some(props);
        let append = self.append(&mut rec, Some(&now), parsed, lmq_put::LmqPut::Broker)?;
        Ok(PutMessageResult {
            status: PutMessageStatus::PutOk,
            append: Some(append),
            reason: None,
        })
    }

    /// Puts one message without blocking for durability: `done` runs with the final result
    /// once the message is durable (SYNC_FLUSH), times out, or right away (ASYNC_FLUSH, a
    /// refused message, or WAIT=false). Lets a broker pipeline acknowledgements. Under
    /// SYNC_MASTER `done` runs once the slave acknowledged the message too (see `src/ha/sync.rs`).
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use rmqstore::config::FlushDiskType;
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// config.flush_disk_type = FlushDiskType::SyncFlush;
    /// let store = MessageStore::open(config)?;
    /// let (tx, rx) = mpsc::channel();
    /// for i in 0..16u8 {
    ///     let tx = tx.clone();
    ///     store.put_message_with_callback(&Message::new("T", 0, vec![i]), move |r| {
    ///         tx.send(r.is_ok()).unwrap();
    ///     })?;
    /// }
    /// drop(tx);
    /// assert_eq!(rx.iter().filter(|ok| *ok).count(), 16);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_message_with_callback(
        &self,
        msg: &Message,
        done: impl FnOnce(PutMessageResult) + Send + 'static,
    ) -> Result<()> {
        let props = StoreProperties::parse_str(&msg.properties);
        let wait = props.wants_wait();
        let done = self
            .plugins
            .after_flush_callback(&self.config, wait, Box::new(done));
        let gc = match (&self.services, wait) {
            (Some(s), true) => s.group_commit().cloned(),
            _ => None,
        };
        let Some(gc) = gc else {
            let r = self.put_message_inner(msg, &props)?;
            done(match r.append {
                Some(append) => self.handle_disk_flush(append, wait),
                None => r,
            });
            return Ok(());
        };
        // Put without waiting, then hand the wait to the group-commit service.
        let r = self.put_message_inner(msg, &props)?;
        let Some(append) = r.append.clone() else {
            done(r);
            return Ok(());
        };
        let target = (append.wrote_offset + append.wrote_bytes as i64) as u64;
        let (stats, started) = (self.api.stats.clone(), std::time::Instant::now());
        gc.wait_async(
            target,
            Duration::from_millis(self.config.sync_flush_timeout_ms),
            Box::new(move |outcome| {
                stats.record_flush_wait(started.elapsed());
                done(flush_outcome(append, outcome));
            }),
        );
        Ok(())
    }

    /// What a put returns after its durability wait, by flush mode (`handleDiskFlush`).
    fn handle_disk_flush(&self, append: AppendResult, wait: bool) -> PutMessageResult {
        let Some(services) = &self.services else {
            // No background services (`background_services` off): a SYNC_FLUSH put that waits
            // makes itself durable, as the group commit would.
            if wait && self.config.is_sync_flush() {
                let started = std::time::Instant::now();
                let outcome = self.sync_commit_log();
                self.api.stats.record_flush_wait(started.elapsed());
                return flush_outcome(append, outcome);
            }
            return flush_outcome(append, Ok(()));
        };
        match services.group_commit() {
            Some(gc) if wait => {
                let target = (append.wrote_offset + append.wrote_bytes as i64) as u64;
                let started = std::time::Instant::now();
                let outcome = gc.wait(
                    target,
                    Duration::from_millis(self.config.sync_flush_timeout_ms),
                );
                self.api.stats.record_flush_wait(started.elapsed());
                flush_outcome(append, outcome)
            }
            Some(gc) => {
                gc.wake();
                flush_outcome(append, Ok(()))
            }
            None => {
                services.on_put();
                flush_outcome(append, Ok(()))
            }
        }
    }

    /// Flushes the commitlog now and records its last store timestamp in the checkpoint, as a
    /// group-commit round does.
    fn sync_commit_log(&self) -> std::result::Result<(), FlushWaitError> {
        match self.commit_log.files().flush_least(0) {
            Ok(Some(ts)) => {
                if ts > 0 {
                    self.checkpoint.lock().values.physic_msg_timestamp = ts;
                }
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(FlushWaitError::Failed(e.to_string())),
        }
    }

    /// Puts a batch (4.6.0 `putMessages`): no delayed or transactional batches; the items
    /// share a store timestamp taken before the put lock (the 4.6.0 encode time); the whole
    /// batch lands in one segment.
    ///
    /// ```
    /// use rmqstore::format::Host;
    /// use rmqstore::{BatchItem, MessageBatch};
    /// # use rmqstore::{MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// let batch = MessageBatch {
    ///     topic: "T".into(),
    ///     queue_id: 0,
    ///     sys_flag: 0,
    ///     born_timestamp: 1,
    ///     born_host: Host::parse("127.0.0.1:5000").unwrap(),
    ///     store_host: Host::parse("127.0.0.1:10911").unwrap(),
    ///     reconsume_times: 0,
    ///     items: (0..3u8)
    ///         .map(|i| BatchItem { flag: 0, body: vec![i], properties: String::new() })
    ///         .collect(),
    /// };
    /// let r = store.put_messages(&batch)?;
    /// assert_eq!(r.append.unwrap().msg_num, 3);
    /// assert_eq!(store.max_offset_in_queue("T", 0), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_messages(&self, batch: &MessageBatch) -> Result<PutMessageResult> {
        self.check_writable()?;
        if let Some(refused) = self.plugins.refuse_put() {
            return Ok(refused);
        }
        if let Some(refused) = self.api.before_put_batch(batch) {
            return Ok(refused);
        }
        if batch.items.is_empty() {
            return Ok(PutMessageResult::refused(
                PutMessageStatus::MessageIllegal,
                "an empty batch".into(),
            ));
        }
        let max_props = batch
            .items
            .iter()
            .map(|i| i.properties.len())
            .max()
            .unwrap_or(0);
        if let Some(refused) = self.validate(&batch.topic, batch.queue_id, max_props) {
            return Ok(refused);
        }
        if sysflag::tran_type(batch.sys_flag) != sysflag::TRANSACTION_NOT_TYPE {
            return Ok(PutMessageResult::refused(
                PutMessageStatus::MessageIllegal,
                "a batch cannot be transactional".into(),
            ));
        }
        if batch
            .items
            .iter()
            .any(|i| properties::get(i.properties.as_bytes(), properties::DELAY).is_some())
        {
            return Ok(PutMessageResult::refused(
                PutMessageStatus::MessageIllegal,
                "a batch cannot be delayed".into(),
            ));
        }
        // 5.x enabledAppendPropCRC: each item reserves its own __CRC32# tail.
        let crc_props: Vec<String> = if self.config.appends_prop_crc() {
            batch
                .items
                .iter()
                .map(|i| crate::v5::crc::reserve(&i.properties))
                .collect()
        } else {
            Vec::new()
        };
        if let Some(p) = crc_props.iter().find(|p| p.len() > i16::MAX as usize) {
            return Ok(PutMessageResult::refused(
                PutMessageStatus::PropertiesSizeExceeded,
                format!(
                    "properties of {} bytes (with the __CRC32# property) exceed 32767",
                    p.len()
                ),
            ));
        }
        let ts = self.clock.now_millis();
        let mut recs: Vec<MessageRecord<'_>> = batch
            .items
            .iter()
            .enumerate()
            .map(|(n, i)| {
                self.record_for(
                    &batch.topic,
                    batch.queue_id,
                    i.flag,
                    &i.body,
                    crc_props
                        .get(n)
                        .map_or(i.properties.as_str(), String::as_str),
                    batch.sys_flag,
                    batch.born_timestamp,
                    &batch.born_host,
                    &batch.store_host,
                    batch.reconsume_times,
                    0,
                    ts,
                )
            })
            .collect();
        if let Some(refused) = self.check_size(&recs) {
            return Ok(refused);
        }
        let append = self.append(&mut recs, None, None, lmq_put::LmqPut::Off)?;
        Ok(self
            .plugins
            .after_flush(&self.config, self.handle_disk_flush(append, true), true))
    }

    /// Appends records exactly as they were once stored (every field verbatim, including the
    /// store timestamp, sysFlag and properties), as one group in one segment. Queue and
    /// physical offsets are assigned by the store, so replaying a store's records in order
    /// into an empty store reproduces its commitlog.
    pub fn replay(&self, group: &[ReplayMessage]) -> Result<AppendResult> {
        self.check_writable()?;
        if let Some(refused) = self.refuse_on_slave() {
            return Err(StoreError::Invalid(refused.reason.unwrap_or_default()));
        }
        if group.is_empty() {
            return Err(StoreError::Invalid("nothing to replay".into()));
        }
        // 5.x enabledAppendPropCRC: an appended record's __CRC32# is recomputed, as a 5.x put
        // does (its own is deleted, a fresh tail reserved and sealed at its new position).
        let crc_props: Vec<String> = if self.config.appends_prop_crc() {
            group
                .iter()
                .map(|r| crate::v5::crc::reserve(&r.message.properties))
                .collect()
        } else {
            Vec::new()
        };
        let mut recs = Vec::with_capacity(group.len());
        for (n, r) in group.iter().enumerate() {
            let m = &r.message;
            validate_topic(&m.topic)?;
            validate_queue_id(m.queue_id)?;
            let mut rec = self.record_for(
                &m.topic,
                m.queue_id,
                m.flag,
                &m.body,
                crc_props
                    .get(n)
                    .map_or(m.properties.as_str(), String::as_str),
                m.sys_flag,
                m.born_timestamp,
                &m.born_host,
                &m.store_host,
                m.reconsume_times,
                m.prepared_transaction_offset,
                r.store_timestamp,
            );
            rec.sys_flag = m.sys_flag; // verbatim
            rec.check_encodable()
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            recs.push(rec);
        }
        let lmq = if recs.len() == 1 {
            lmq_put::LmqPut::InPlace
        } else {
            lmq_put::LmqPut::Off
        };
        self.append(&mut recs, None, None, lmq)
    }

    /// Puts are refused on a slave: its commitlog only takes the master's bytes.
    fn refuse_on_slave(&self) -> Option<PutMessageResult> {
        (self.config.broker_role == crate::config::BrokerRole::Slave).then(|| {
            PutMessageResult::refused(
                PutMessageStatus::ServiceNotAvailable,
                "role SLAVE: a slave's commitlog is written only by replication".into(),
            )
        })
    }

    fn validate(&self, topic: &str, queue_id: i32, props_len: usize) -> Option<PutMessageResult> {
        if let Some(refused) = self.refuse_on_slave() {
            return Some(refused);
        }
        if let Err(e) = validate_topic(topic) {
            return Some(PutMessageResult::refused(
                PutMessageStatus::MessageIllegal,
                e.to_string(),
            ));
        }
        if topic.len() > MAX_TOPIC_LEN_V1 && !self.config.auto_message_version_on_topic_len {
            return Some(PutMessageResult::refused(
                PutMessageStatus::MessageIllegal,
                format!(
                    "topic of {} bytes is longer than 127: a 4.6.0 record holds its length in \
                     one signed byte",
                    topic.len()
                ),
            ));
        }
        if validate_queue_id(queue_id).is_err() {
            return Some(PutMessageResult::refused(
                PutMessageStatus::MessageIllegal,
                format!("queue id {queue_id} is negative"),
            ));
        }
        if props_len > i16::MAX as usize {
            return Some(PutMessageResult::refused(
                PutMessageStatus::PropertiesSizeExceeded,
                format!("properties of {props_len} bytes exceed 32767"),
            ));
        }
        None
    }

    /// 4.6.0 limits the whole encoded record, and for a batch the whole encoded batch (its
    /// encoder's buffer is `maxMessageSize` bytes), to `maxMessageSize`; and nothing can be
    /// larger than a segment less a blank header.
    fn check_size(&self, recs: &[MessageRecord<'_>]) -> Option<PutMessageResult> {
        let total: usize = recs.iter().map(|r| r.encoded_len()).sum();
        let limit = self.config.max_message_size;
        let segment = self.config.mapped_file_size_commit_log;
        let what = if recs.len() > 1 { "batch" } else { "message" };
        let reason = if total > limit {
            format!("{what} of {total} bytes exceeds maxMessageSize {limit}")
        } else if total + 8 > segment {
            format!("{what} of {total} bytes cannot fit a {segment}-byte commitlog segment")
        } else {
            return None;
        };
        Some(PutMessageResult::refused(
            PutMessageStatus::MessageIllegal,
            reason,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn record_for<'a>(
        &self,
        topic: &'a str,
        queue_id: i32,
        flag: i32,
        body: &'a [u8],
        props: &'a str,
        sys_flag: i32,
        born_timestamp: i64,
        born_host: &crate::format::Host,
        store_host: &crate::format::Host,
        reconsume_times: i32,
        prepared_transaction_offset: i64,
        store_timestamp: i64,
    ) -> MessageRecord<'a> {
        let mut sys_flag = sys_flag & !(sysflag::BORNHOST_V6 | sysflag::STOREHOST_V6);
        if born_host.is_v6() {
            sys_flag |= sysflag::BORNHOST_V6;
        }
        if store_host.is_v6() {
            sys_flag |= sysflag::STOREHOST_V6;
        }
        MessageRecord {
            magic: if topic.len() > MAX_TOPIC_LEN_V1 {
                Magic::V2
            } else {
                Magic::V1
            },
            body_crc: body_crc(body) as i32,
            queue_id,
            flag,
            queue_offset: 0,
            physical_offset: 0,
            sys_flag,
            born_timestamp,
            born_host: *born_host,
            store_timestamp,
            store_host: *store_host,
            reconsume_times,
            prepared_transaction_offset,
            body,
            topic: topic.as_bytes(),
            properties: props.as_bytes(),
        }
    }

    /// The critical section: under the put lock, stamp (if asked), assign queue offsets,
    /// append in one segment, and dispatch to the consume queues and the index.
    fn append(
        &self,
        recs: &mut [MessageRecord<'_>],
        stamp: Option<&dyn Fn() -> i64>,
        parsed: Option<&StoreProperties<'_>>,
        lmq: lmq_put::LmqPut,
    ) -> Result<AppendResult> {
        let mut st: parking_lot::MutexGuard<'_, PutState> = self.commit_log.lock();
        if let Some(now) = stamp {
            let ts = now();
            recs.iter_mut().for_each(|r| r.store_timestamp = ts);
        }
        CommitLog::assign_queue_offsets(&mut st, recs);
        // 5.x inner batch: INNER_BASE in its properties, the queue advanced by INNER_NUM.
        if recs.len() == 1 {
            if let Some(p) = batch_put::wrap(&self.config, &self.dispatcher, &mut st, &recs[0], lmq)
            {
                let mut one = [MessageRecord {
                    properties: p.0.as_bytes(),
                    ..recs[0].clone()
                }];
                let r = self.append_locked(st, &mut one, None, &[]);
                recs[0].physical_offset = one[0].physical_offset;
                // Java's result counts the batch's messages (`getMessageNum`).
                return r.map(|mut a| {
                    a.msg_num = i32::from(p.1);
                    a
                });
            }
        }
        // 5.x LMQ: the record is encoded with its LMQ offsets in its properties.
        if let Some(w) = lmq_put::wrap(&self.config, &mut st, &recs[0], lmq) {
            let mut one = [MessageRecord {
                properties: w.properties.as_bytes(),
                ..recs[0].clone()
            }];
            let r = self.append_locked(st, &mut one, None, &w.advance);
            recs[0].physical_offset = one[0].physical_offset;
            return r;
        }
        self.append_locked(st, recs, parsed, &[])
    }

    /// [`append`](Self::append) once the queue offsets are assigned: appends, advances the
    /// LMQ offsets of `advance` if stored, and dispatches.
    fn append_locked(
        &self,
        mut st: parking_lot::MutexGuard<'_, PutState>,
        recs: &mut [MessageRecord<'_>],
        parsed: Option<&StoreProperties<'_>>,
        advance: &[String],
    ) -> Result<AppendResult> {
        let (file, pos, total) = match self.commit_log.append_group(&mut st, recs) {
            Ok(x) => x,
            Err(e) => {
                // Nothing was written: give the queue offsets back.
                for r in recs.iter().rev() {
                    if crate::format::cq::is_dispatched_to_cq(r.sys_flag) {
                        let t = String::from_utf8_lossy(r.topic);
                        st.topic_queue_table.set(&t, r.queue_id, r.queue_offset);
                    }
                }
                return Err(e);
            }
        };
        lmq_put::advance(&mut st, advance);
        if !self.dispatch_on_commit {
            // The records are stored: whatever happens to their dispatch, the put succeeded
            // (a caller retrying would store them twice). A failed dispatch leaves the reput
            // position at the failed record and is retried by the next put, or by the next
            // open (the abort file stays while dispatch is behind), as Java's reput would.
            let group_start = file.file_from_offset() + pos as u64;
            let mut d = self.dispatcher.lock();
            // The log ended at `group_start` before this put, so nothing at or after it can
            // have been dispatched: a reput position beyond it is stale and would skip us.
            if d.reput_from > group_start {
                d.reput_from = group_start;
            }
            if d.reput_from < group_start {
                // Behind (an earlier dispatch failed) or a blank record in between: catch up
                // through the commitlog first.
                drop(d);
                let caught_up = self.dispatcher.reput(&self.commit_log, group_start);
                d = self.dispatcher.lock();
                match caught_up {
                    // A dispatch failed again (an I/O error): stay behind, in order; this group
                    // is dispatched by a later catch-up.
                    Err(e) => self.dispatcher.record_error(&e),
                    // Stuck on bytes that do not decode: skip them, as Java's reput on a master
                    // skips the rest of the readable bytes, so new messages are still
                    // dispatched. The skipped bytes stay in the commitlog (verify reports them).
                    Ok(()) if d.reput_from < group_start => {
                        self.dispatcher.record_error(&StoreError::Invalid(format!(
                            "dispatch skipped commitlog bytes [{}, {}) that do not decode",
                            d.reput_from, group_start
                        )));
                        d.reput_from = group_start;
                    }
                    Ok(()) => {}
                }
            }
            // In order (caught up): dispatch this group now.
            if d.reput_from == group_start {
                let mut at = group_start;
                for r in recs.iter() {
                    let len = r.encoded_len();
                    let req = match parsed {
                        Some(p) => DispatchRequest::from_parts(
                            r,
                            len as u32,
                            p.clone(),
                            &self.delay_levels,
                        ),
                        None => DispatchRequest::from_record(r, len as u32, &self.delay_levels),
                    };
                    // A record Java's check would refuse (a bad DELAY) is skipped, as reput does.
                    if let Ok(req) = req {
                        if let Err(e) = self.dispatcher.dispatch(&mut d, &req) {
                            self.dispatcher.record_error(&e);
                            break;
                        }
                    }
                    at += len as u64;
                    d.reput_from = at;
                }
            }
        }
        drop(st);
        if recs
            .iter()
            .any(|r| r.topic == crate::v5::timer::TIMER_TOPIC.as_bytes())
        {
            // The put succeeded; a timer failure is reported as a background error and the
            // queue is enqueued again by the next put, flush or open.
            if let Err(e) = self.timer_catch_up() {
                self.dispatcher.record_error(&e);
            }
        }
        self.api.stats.record_put(recs.len() as u64, total as u64);
        self.plugins.appended();
        Ok(CommitLog::append_result(recs, total))
    }

    /// Makes everything written durable and persists the checkpoint.
    pub fn flush(&self) -> Result<()> {
        self.check_writable()?;
        let started = std::time::Instant::now();
        self.commit_log.flush()?;
        self.api.stats.record_flush_wait(started.elapsed());
        if self.dispatch_on_commit {
            self.dispatcher.reput_to_committed(&self.commit_log)?;
        }
        for cq in self.dispatcher.consume_queues().all() {
            cq.flush()?;
        }
        if let Some(b) = self.dispatcher.batch_queues() {
            b.flush()?;
        }
        self.open_timer()?;
        self.timer_flush()?;
        self.dispatcher.flush_index()?;
        self.checkpoint.lock().values.advance(
            self.dispatcher.logics_msg_timestamp(),
            self.dispatcher.index_msg_timestamp(),
        );
        let physic = self
            .commit_log
            .files()
            .last()
            .map(|f| f.last_store_timestamp())
            .unwrap_or(0);
        let mut cp = self.checkpoint.lock();
        if physic > 0 {
            cp.values.physic_msg_timestamp = physic;
        }
        crate::flush::advance_slave_physic(&mut cp, &self.dispatcher);
        cp.flush()
    }

    /// Clean shutdown: flush everything, persist the checkpoint, remove the abort file.
    pub fn shutdown(mut self) -> Result<()> {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> Result<()> {
        if self.shut_down || self.mode != OpenMode::ReadWrite {
            self.shut_down = true;
            return Ok(());
        }
        let mut extra = std::mem::take(&mut *self.extra_services.lock());
        while let Some(mut s) = extra.pop() {
            s.stop();
        }
        if let Some(mut s) = self.services.take() {
            s.stop();
        }
        self.flush()?;
        self.shut_down = true;
        // Java keeps the abort file when dispatch has not caught up, so the next start
        // re-dispatches; ours is synchronous, but check all the same.
        let behind = self.dispatcher.behind(&self.commit_log) > 0;
        if !behind {
            let abort = self.config.abort_path();
            match crate::iorecord::remove_file(&abort) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(&abort, e)),
            }
        }
        self.lock_file.take();
        Ok(())
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        let _ = self.shutdown_inner();
    }
}

/// The segment Java's recovery starts its scan at (`recoverNormally`: the third-last segment;
/// `recoverAbnormally`: the last segment whose first record is not newer than the
/// checkpoint). Shared by the store's open and the offline tools ([`crate::inspect::content`]),
/// so both agree on where a store's content ends.
pub(crate) fn recovery_start_index(
    files: &[Arc<MappedFile>],
    abnormal: bool,
    cp: &crate::format::checkpoint::Checkpoint,
    config: &StoreConfig,
    max_phy_of_cq: Option<i64>,
) -> usize {
    // 5.3.3 normal recovery: the segment holding the consume queues' end (src/v5/recovery.rs).
    if let (false, true, Some(m)) = (abnormal, config.target_version.is_5x(), max_phy_of_cq) {
        let starts: Vec<u64> = files.iter().map(|f| f.file_from_offset()).collect();
        return crate::v5::recovery::normal_start_index(&starts, m);
    }
    if abnormal {
        let min_ts = if config.message_index_enable && config.message_index_safe {
            cp.min_timestamp_index()
        } else {
            cp.min_timestamp()
        };
        (0..files.len())
            .rev()
            .find(|&i| CommitLog::segment_matches_recover(&files[i], min_ts))
            .unwrap_or(0)
    } else {
        files.len().saturating_sub(3)
    }
}

/// Recovery's commitlog scan from segment `start_index`: the checks of Java's
/// `checkMessageAndReturnSize` (body CRCs when `check_crc`, a DELAY that parses), each valid
/// record handed to `on_request`. Where it stops is where the store's content ends.
pub(crate) fn recovery_scan(
    files: &[Arc<MappedFile>],
    start_index: usize,
    check_crc: bool,
    config: &StoreConfig,
    delay_levels: &DelayLevels,
    mut on_request: impl FnMut(&DispatchRequest<'_>) -> std::result::Result<(), crate::format::Problem>,
) -> crate::commitlog::ScanEnd {
    // 5.x forceVerifyPropCRC: the __CRC32# property replaces the body CRC (src/v5/recovery.rs).
    let prop_crc = check_crc && config.target_version.is_5x() && config.force_verify_prop_crc;
    CommitLog::scan_files(files, start_index, check_crc && !prop_crc, |sr| {
        if prop_crc {
            crate::v5::recovery::check_prop_crc(&sr.record, sr.bytes)
                .map_err(crate::format::Problem::Invalid)?;
        }
        let req = DispatchRequest::from_record(&sr.record, sr.total_size, delay_levels)?;
        on_request(&req)
    })
}

fn flush_outcome(
    append: AppendResult,
    outcome: std::result::Result<(), FlushWaitError>,
) -> PutMessageResult {
    let (status, reason) = match outcome {
        Ok(()) => (PutMessageStatus::PutOk, None),
        Err(FlushWaitError::Timeout) => (
            PutMessageStatus::FlushDiskTimeout,
            Some("not durable within syncFlushTimeout; the message is stored".to_string()),
        ),
        Err(FlushWaitError::Failed(e)) => (
            PutMessageStatus::FlushDiskTimeout,
            Some(format!(
                "flush failed ({e}); the message is stored but may not be durable"
            )),
        ),
    };
    PutMessageResult {
        status,
        append: Some(append),
        reason,
    }
}

/// The 4.6.0 delay rewrite: REAL_TOPIC and REAL_QID added, the properties re-serialized in
/// Java `HashMap` order.
fn delay_rewrite(msg: &Message, level: i32) -> String {
    let mut entries: Vec<(String, String)> = properties::iter(msg.properties.as_bytes())
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    // A level above the highest is clamped, and Java writes the clamped level back into DELAY
    // (`msg.setDelayTimeLevel(maxDelayLevel)`), in place in the map.
    for (n, v) in entries.iter_mut() {
        if n == properties::DELAY && v.parse::<i32>().is_ok_and(|l| l > level) {
            *v = level.to_string();
        }
    }
    entries.push((properties::REAL_TOPIC.into(), msg.topic.clone()));
    entries.push((properties::REAL_QID.into(), msg.queue_id.to_string()));
    let ordered = properties::java_hashmap_order(entries);
    properties::encode(ordered.iter().map(|(n, v)| (n.as_str(), v.as_str())))
}
