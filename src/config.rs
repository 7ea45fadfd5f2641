//! The store configuration (`MessageStoreConfig`): the keys a broker's `.properties` file sets
//! for the store, with RocketMQ 4.6.0's defaults.

mod properties;

pub use properties::{parse_java_properties, PropertyEntry};
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};
pub use crate::format::cq::DelayLevels;
use crate::format::cq::CQ_UNIT_SIZE;
pub use crate::v5::timer_write::TimerConfig;
pub use crate::v5::TargetVersion;

/// `flushDiskType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushDiskType {
    /// `ASYNC_FLUSH`: a flush thread makes puts durable every `flushIntervalCommitLog` ms.
    #[default]
    AsyncFlush,
    /// `SYNC_FLUSH`: a put returns once its bytes are durable.
    SyncFlush,
}

/// `brokerRole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BrokerRole {
    /// `ASYNC_MASTER`: replicates to slaves without waiting.
    #[default]
    AsyncMaster,
    /// `SYNC_MASTER`: a put waits for a slave to have it.
    SyncMaster,
    /// `SLAVE`: takes the master's commitlog; refuses puts.
    Slave,
}

/// The store's settings. Field names follow the Java keys in snake case.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `storePathRootDir` (Java `MessageStoreConfig`, broker.properties).
    pub store_path_root_dir: PathBuf,
    /// `storePathCommitLog`; `None` means `<root>/commitlog`.
    pub store_path_commit_log: Option<PathBuf>,
    /// `mappedFileSizeCommitLog` (Java `MessageStoreConfig`, broker.properties).
    pub mapped_file_size_commit_log: usize,
    /// As configured; [`mapped_file_size_consume_queue`](Self::mapped_file_size_consume_queue)
    /// rounds it up to whole units as Java's getter does.
    pub mapped_file_size_consume_queue_raw: usize,
    /// `maxHashSlotNum` (Java `MessageStoreConfig`, broker.properties).
    pub max_hash_slot_num: u32,
    /// `maxIndexNum` (Java `MessageStoreConfig`, broker.properties).
    pub max_index_num: u32,
    /// `maxMsgsNumBatch` (Java `MessageStoreConfig`, broker.properties).
    pub max_msgs_num_batch: usize,
    /// `messageIndexEnable` (Java `MessageStoreConfig`, broker.properties).
    pub message_index_enable: bool,
    /// `messageIndexSafe` (Java `MessageStoreConfig`, broker.properties).
    pub message_index_safe: bool,
    /// `maxMessageSize` (Java `MessageStoreConfig`, broker.properties).
    pub max_message_size: usize,
    /// `checkCrcOnRecover` (Java `MessageStoreConfig`, broker.properties).
    pub check_crc_on_recover: bool,
    /// `messageDelayLevel` (Java `MessageStoreConfig`, broker.properties).
    pub message_delay_level: String,
    /// `flushDiskType` (Java `MessageStoreConfig`, broker.properties).
    pub flush_disk_type: FlushDiskType,
    /// `brokerRole` (Java `MessageStoreConfig`, broker.properties).
    pub broker_role: BrokerRole,
    /// `syncFlushTimeoutMs` (Java `MessageStoreConfig`, broker.properties).
    pub sync_flush_timeout_ms: u64,
    /// `flushIntervalCommitLogMs` (Java `MessageStoreConfig`, broker.properties).
    pub flush_interval_commit_log_ms: u64,
    /// `flushCommitLogLeastPages` (Java `MessageStoreConfig`, broker.properties).
    pub flush_commit_log_least_pages: usize,
    /// `flushCommitLogThoroughIntervalMs` (Java `MessageStoreConfig`, broker.properties).
    pub flush_commit_log_thorough_interval_ms: u64,
    /// `flushCommitLogTimed` (Java `MessageStoreConfig`, broker.properties).
    pub flush_commit_log_timed: bool,
    /// `flushIntervalConsumeQueueMs` (Java `MessageStoreConfig`, broker.properties).
    pub flush_interval_consume_queue_ms: u64,
    /// `flushConsumeQueueLeastPages` (Java `MessageStoreConfig`, broker.properties).
    pub flush_consume_queue_least_pages: usize,
    /// `flushConsumeQueueThoroughIntervalMs` (Java `MessageStoreConfig`, broker.properties).
    pub flush_consume_queue_thorough_interval_ms: u64,
    /// `transientStorePoolEnable` (Java `MessageStoreConfig`, broker.properties).
    pub transient_store_pool_enable: bool,
    /// `transientStorePoolSize` (Java `MessageStoreConfig`, broker.properties).
    pub transient_store_pool_size: usize,
    /// `commitIntervalCommitLogMs` (Java `MessageStoreConfig`, broker.properties).
    pub commit_interval_commit_log_ms: u64,
    /// `commitCommitLogLeastPages` (Java `MessageStoreConfig`, broker.properties).
    pub commit_commit_log_least_pages: usize,
    /// `commitCommitLogThoroughIntervalMs` (Java `MessageStoreConfig`, broker.properties).
    pub commit_commit_log_thorough_interval_ms: u64,
    /// 5.x: write V2 records for topics longer than 127 characters. 4.6.0 rejects such topics.
    pub auto_message_version_on_topic_len: bool,
    /// Whose rules the write path follows where 4.6.0 and 5.x differ (`src/v5/target.rs`;
    /// broker.properties key `rmqstoreTargetVersion`, which Java ignores).
    pub target_version: crate::v5::TargetVersion,
    /// 5.x `enabledAppendPropCRC`: append the `__CRC32#` property to every record written.
    /// Only with a 5.x target version.
    pub enabled_append_prop_crc: bool,
    /// 5.x `enableLmq`: a put whose `INNER_MULTI_DISPATCH` names `%LMQ%` queues gets their
    /// queue offsets in `INNER_MULTI_QUEUE_OFFSET` (`src/v5/lmq.rs`). Only with a 5.x target.
    pub enable_lmq: bool,
    /// 5.x `enableMultiDispatch`: dispatch appends a unit to each queue a record's
    /// `INNER_MULTI_DISPATCH` names. Only with a 5.x target.
    pub enable_multi_dispatch: bool,
    /// 5.x `timerWheelEnable` (Java's default true; set by `with_target_version(5.3.3)`): a
    /// put carrying `TIMER_DELIVER_MS` / `TIMER_DELAY_SEC` / `TIMER_DELAY_MS` is stored under
    /// `rmq_sys_wheel_timer` and enqueued into `timerlog/` and `timerwheel`
    /// (`src/v5/timer_write.rs`). Only with a 5.x target.
    pub timer_wheel_enable: bool,
    /// 5.x `timerPrecisionMs`, `timerRollWindowSlot`, `mappedFileSizeTimerLog`,
    /// `timerMaxDelaySec`.
    pub timer: TimerConfig,
    /// 5.x `mapperFileSizeBatchConsumeQueue` (bytes; default 300,000 units of 46 bytes).
    pub mapper_file_size_batch_consume_queue: u64,
    /// 5.x `forceVerifyPropCRC`: recovery (with `check_crc_on_recover`) checks each record's
    /// `__CRC32#` instead of its body CRC and ends at a record without one or with a wrong one.
    /// Only with a 5.x target version.
    pub force_verify_prop_crc: bool,
    /// `deleteWhen` (Java `MessageStoreConfig`, broker.properties).
    pub delete_when: String,
    /// `fileReservedTimeHours` (Java `MessageStoreConfig`, broker.properties).
    pub file_reserved_time_hours: u64,
    /// `diskMaxUsedSpaceRatio` (Java `MessageStoreConfig`, broker.properties).
    pub disk_max_used_space_ratio: u32,
    /// `cleanFileForciblyEnable` (Java `MessageStoreConfig`, broker.properties).
    pub clean_file_forcibly_enable: bool,
    /// `cleanResourceIntervalMs` (Java `MessageStoreConfig`, broker.properties).
    pub clean_resource_interval_ms: u64,
    /// `deleteCommitLogFilesIntervalMs` (Java `MessageStoreConfig`, broker.properties).
    pub delete_commit_log_files_interval_ms: u64,
    /// `deleteConsumeQueueFilesIntervalMs` (Java `MessageStoreConfig`, broker.properties).
    pub delete_consume_queue_files_interval_ms: u64,
    /// `destroyMappedFileIntervalForciblyMs` (Java `MessageStoreConfig`, broker.properties).
    pub destroy_mapped_file_interval_forcibly_ms: u64,
    /// `redeleteHangedFileIntervalMs` (Java `MessageStoreConfig`, broker.properties).
    pub redelete_hanged_file_interval_ms: u64,
    /// `maxTransferBytesOnMessageInMemory`: a `get_message` batch of messages still in the
    /// page cache stops before it would exceed this many bytes (256 KiB).
    pub max_transfer_bytes_on_message_in_memory: usize,
    /// `maxTransferCountOnMessageInMemory`: at most this many messages per batch (32).
    pub max_transfer_count_on_message_in_memory: usize,
    /// `maxTransferBytesOnMessageInDisk`: the byte limit once the messages are "in disk" (64 KiB).
    pub max_transfer_bytes_on_message_in_disk: usize,
    /// `maxTransferCountOnMessageInDisk`: the count limit once the messages are "in disk" (8).
    pub max_transfer_count_on_message_in_disk: usize,
    /// `accessMessageInMemoryMaxRatio`: a message more than this percentage of physical memory
    /// behind the commitlog's end counts as "in disk", and the consumer is told to pull from a
    /// slave (40).
    pub access_message_in_memory_max_ratio: u32,
    /// `offsetCheckInSlave`: whether a slave corrects a consumer's bad offset (false: a slave
    /// answers with the offset it was asked for).
    pub offset_check_in_slave: bool,
    /// `haListenPort`. In 4.x `BrokerStartup` always overrides it with `listenPort + 1`, which is
    /// what [`from_properties`](Self::from_properties) does too.
    pub ha_listen_port: u16,
    /// `haMasterAddress` (`host:port`); `None` means the slave learns it from the name server.
    pub ha_master_address: Option<String>,
    /// `haSendHeartbeatIntervalMs` (Java `MessageStoreConfig`, broker.properties).
    pub ha_send_heartbeat_interval_ms: u64,
    /// `haHousekeepingIntervalMs` (Java `MessageStoreConfig`, broker.properties).
    pub ha_housekeeping_interval_ms: u64,
    /// `haTransferBatchSize` (Java `MessageStoreConfig`, broker.properties).
    pub ha_transfer_batch_size: usize,
    /// `haSlaveFallbehindMax` (Java `MessageStoreConfig`, broker.properties).
    pub ha_slave_fallbehind_max: u64,
    /// Address the HA listener binds (`0.0.0.0`, every interface, as Java's
    /// `new InetSocketAddress(haListenPort)`). Not a Java key; set it in code.
    pub ha_listen_address: String,
    /// Whether a writable open starts the store's background threads: the flush and commit
    /// services, the scheduled cleanup, and the prefaulting of new commitlog segments and index
    /// files. Not a Java key; set it in code (default `true`). With `false` a writable store
    /// runs no thread of its own (for embedders that drive it themselves, tests and fuzzing):
    /// puts still store, dispatch and read back at once; a SYNC_FLUSH put that waits for
    /// durability flushes the commitlog itself before it returns; everything else becomes
    /// durable at [`MessageStore::flush`](crate::MessageStore::flush) or
    /// [`shutdown`](crate::MessageStore::shutdown); cleanup runs only when asked
    /// ([`run_cleanup_once`](crate::MessageStore::run_cleanup_once)); and the transient store
    /// pool is not used (appends go straight to the mapped file, as without the pool).
    /// Replication threads start only with `start_ha`, either way.
    pub background_services: bool,
    /// Under SYNC_FLUSH, whether the prefault thread (segments of 16 MiB or more, with
    /// `background_services`) writes zeros over the holes of the active segment a few MiB
    /// ahead of the writer and syncs them, so each put's sync rewrites blocks the file system
    /// has already allocated instead of allocating one (on ext4 here: a 4 KiB put's sync about
    /// half as long). No byte of the store changes, but the disk writes every SYNC byte twice;
    /// turn it off where the disk's bandwidth, not its sync latency, is the limit. Not a Java
    /// key (Java's nearest is `warmMapedFileEnable`); set it in code (default `true`).
    pub sync_flush_zero_fill_ahead: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        StoreConfig {
            store_path_root_dir: home.join("store"),
            store_path_commit_log: None,
            mapped_file_size_commit_log: 1024 * 1024 * 1024,
            mapped_file_size_consume_queue_raw: 300_000 * CQ_UNIT_SIZE,
            max_hash_slot_num: 5_000_000,
            max_index_num: 5_000_000 * 4,
            max_msgs_num_batch: 64,
            message_index_enable: true,
            message_index_safe: false,
            max_message_size: 4 * 1024 * 1024,
            check_crc_on_recover: true,
            message_delay_level: DelayLevels::DEFAULT.to_string(),
            flush_disk_type: FlushDiskType::AsyncFlush,
            broker_role: BrokerRole::AsyncMaster,
            sync_flush_timeout_ms: 5000,
            flush_interval_commit_log_ms: 500,
            flush_commit_log_least_pages: 4,
            flush_commit_log_thorough_interval_ms: 10_000,
            flush_commit_log_timed: false,
            flush_interval_consume_queue_ms: 1000,
            flush_consume_queue_least_pages: 2,
            flush_consume_queue_thorough_interval_ms: 60_000,
            transient_store_pool_enable: false,
            transient_store_pool_size: 5,
            commit_interval_commit_log_ms: 200,
            commit_commit_log_least_pages: 4,
            commit_commit_log_thorough_interval_ms: 200,
            auto_message_version_on_topic_len: false,
            target_version: crate::v5::TargetVersion::V4_6_0,
            enabled_append_prop_crc: false,
            enable_lmq: false,
            enable_multi_dispatch: false,
            timer_wheel_enable: false,
            timer: crate::v5::timer_write::TimerConfig::default(),
            mapper_file_size_batch_consume_queue: crate::v5::batch_cq::DEFAULT_BCQ_FILE_SIZE,
            force_verify_prop_crc: false,
            delete_when: "04".into(),
            file_reserved_time_hours: 72,
            disk_max_used_space_ratio: 75,
            clean_file_forcibly_enable: true,
            clean_resource_interval_ms: 10_000,
            delete_commit_log_files_interval_ms: 100,
            delete_consume_queue_files_interval_ms: 100,
            destroy_mapped_file_interval_forcibly_ms: 120_000,
            redelete_hanged_file_interval_ms: 120_000,
            max_transfer_bytes_on_message_in_memory: 256 * 1024,
            max_transfer_count_on_message_in_memory: 32,
            max_transfer_bytes_on_message_in_disk: 64 * 1024,
            max_transfer_count_on_message_in_disk: 8,
            access_message_in_memory_max_ratio: 40,
            offset_check_in_slave: false,
            ha_listen_port: 10912,
            ha_master_address: None,
            ha_send_heartbeat_interval_ms: 5000,
            ha_housekeeping_interval_ms: 20_000,
            ha_transfer_batch_size: 32 * 1024,
            ha_slave_fallbehind_max: 256 * 1024 * 1024,
            ha_listen_address: "0.0.0.0".into(),
            background_services: true,
            sync_flush_zero_fill_ahead: true,
        }
    }
}

impl StoreConfig {
    /// Defaults with the store rooted at `root` (and the commitlog at `root/commitlog`).
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        StoreConfig {
            store_path_root_dir: root.into(),
            ..StoreConfig::default()
        }
    }

    /// `<root>/commitlog` (or `storePathCommitLog`).
    pub fn commit_log_dir(&self) -> PathBuf {
        self.store_path_commit_log
            .clone()
            .unwrap_or_else(|| self.store_path_root_dir.join("commitlog"))
    }
    /// `<root>/consumequeue`.
    pub fn consume_queue_dir(&self) -> PathBuf {
        self.store_path_root_dir.join("consumequeue")
    }
    /// `<root>/index`.
    pub fn index_dir(&self) -> PathBuf {
        self.store_path_root_dir.join("index")
    }
    /// `<root>/checkpoint`.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.store_path_root_dir.join("checkpoint")
    }
    /// `<root>/abort`: present while a writer runs.
    pub fn abort_path(&self) -> PathBuf {
        self.store_path_root_dir.join("abort")
    }
    /// `<root>/lock`: the file the writer locks.
    pub fn lock_path(&self) -> PathBuf {
        self.store_path_root_dir.join("lock")
    }
    /// `<root>/config`: the broker's JSON files.
    pub fn config_dir(&self) -> PathBuf {
        self.store_path_root_dir.join("config")
    }
    /// The store root (`storePathRootDir`).
    pub fn root(&self) -> &Path {
        &self.store_path_root_dir
    }

    /// `getMappedFileSizeConsumeQueue`: rounded up to a whole number of 20-byte units.
    pub fn mapped_file_size_consume_queue(&self) -> usize {
        let units = self.mapped_file_size_consume_queue_raw / CQ_UNIT_SIZE;
        let units = if units * CQ_UNIT_SIZE == self.mapped_file_size_consume_queue_raw {
            units
        } else {
            units + 1
        };
        units * CQ_UNIT_SIZE
    }

    /// The parsed `messageDelayLevel` (an error names what does not parse).
    pub fn delay_levels(&self) -> Result<DelayLevels, String> {
        DelayLevels::parse(&self.message_delay_level)
    }
}

impl StoreConfig {
    /// `flushDiskType` is `SYNC_FLUSH`.
    pub fn is_sync_flush(&self) -> bool {
        self.flush_disk_type == FlushDiskType::SyncFlush
    }

    /// Java's `isTransientStorePoolEnable`: only with ASYNC_FLUSH and not on a slave; and here
    /// only with [`background_services`](Self::background_services), whose committer thread
    /// the pool needs.
    pub fn is_transient_store_pool_enable(&self) -> bool {
        self.transient_store_pool_enable
            && self.background_services
            && self.flush_disk_type == FlushDiskType::AsyncFlush
            && self.broker_role != BrokerRole::Slave
    }
}

impl StoreConfig {
    /// `getDiskMaxUsedSpaceRatio`: the ratio clamped to 10..=95.
    pub fn disk_max_used_space_ratio_effective(&self) -> u32 {
        self.disk_max_used_space_ratio.clamp(10, 95)
    }

    /// The hours of `deleteWhen` as 4.6.0's `UtilAll#isItTimeToDo` reads them: `String.split(";")`
    /// (trailing empty entries dropped) then `Integer.parseInt` on each. An entry Java cannot
    /// parse makes every cleanup run throw, so files are never deleted by time: an error here.
    pub fn delete_hours(&self) -> Result<Vec<u32>, String> {
        let mut parts: Vec<&str> = self.delete_when.split(';').collect();
        if !self.delete_when.is_empty() {
            while parts.last() == Some(&"") {
                parts.pop();
            }
        }
        if parts.is_empty() {
            // Java: ";".split(";") is empty, so isItTimeToDo is never true.
            return Err(format!(
                "deleteWhen = {:?} lists no hour, so Java never deletes files by time",
                self.delete_when
            ));
        }
        let mut hours = Vec::with_capacity(parts.len());
        for part in parts {
            let digits = part.strip_prefix(['+', '-']).unwrap_or(part);
            let n = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<i32>().ok())
                .flatten();
            let n = match n {
                Some(n) => n,
                None => {
                    return Err(format!(
                        "deleteWhen = {:?}: entry {part:?} is not an integer for Java's \
                         Integer.parseInt (no spaces allowed around ';'), so every cleanup run \
                         fails and the commitlog is never deleted by time; write e.g. \"04;16\"",
                        self.delete_when
                    ))
                }
            };
            match u32::try_from(n) {
                Ok(h) if h <= 23 => hours.push(h),
                _ => {
                    return Err(format!(
                        "deleteWhen = {:?}: hour {n} is not in 0..=23, so it never matches the \
                         clock and Java never deletes files at that time",
                        self.delete_when
                    ))
                }
            }
        }
        Ok(hours)
    }

    /// Checks the settings the store relies on. Errors (all of them, in one message) for values
    /// Java would choke on or that break the store; warnings for values Java quietly adjusts.
    pub fn validate(&self) -> Result<Vec<String>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let int_max = i32::MAX as usize;
        if self.mapped_file_size_commit_log == 0 {
            errors.push("mappedFileSizeCommitLog must be > 0".to_string());
        } else if self.mapped_file_size_commit_log > int_max {
            errors.push(format!(
                "mappedFileSizeCommitLog = {} exceeds Java's int range",
                self.mapped_file_size_commit_log
            ));
        }
        if self.mapped_file_size_consume_queue_raw == 0 {
            errors.push("mappedFileSizeConsumeQueue must be > 0".to_string());
        } else if self.mapped_file_size_consume_queue() > int_max {
            errors.push(format!(
                "mappedFileSizeConsumeQueue = {} exceeds Java's int range",
                self.mapped_file_size_consume_queue_raw
            ));
        } else if self.mapped_file_size_consume_queue() != self.mapped_file_size_consume_queue_raw {
            warnings.push(format!(
                "mappedFileSizeConsumeQueue = {} is not a multiple of {CQ_UNIT_SIZE}; Java rounds \
                 it up to {}",
                self.mapped_file_size_consume_queue_raw,
                self.mapped_file_size_consume_queue()
            ));
        }
        if self.max_message_size == 0 {
            errors.push("maxMessageSize must be > 0".to_string());
        }
        if let Err(e) = self.delete_hours() {
            errors.push(e);
        }
        let ratio = self.disk_max_used_space_ratio_effective();
        if ratio != self.disk_max_used_space_ratio {
            warnings.push(format!(
                "diskMaxUsedSpaceRatio = {} is outside 10..=95; Java clamps it to {ratio}",
                self.disk_max_used_space_ratio
            ));
        }
        if let Err(e) = self.delay_levels() {
            errors.push(format!(
                "messageDelayLevel = {:?}: {e}",
                self.message_delay_level
            ));
        }
        if self.enabled_append_prop_crc && !self.target_version.is_5x() {
            warnings.push(
                "enabledAppendPropCRC is a 5.x setting and is ignored with target version \
                 4.6.0: set rmqstoreTargetVersion=5.3.3 to write __CRC32#"
                    .to_string(),
            );
        }
        if self.force_verify_prop_crc && !self.target_version.is_5x() {
            warnings.push(
                "forceVerifyPropCRC is a 5.x setting and is ignored with target version 4.6.0: \
                 set rmqstoreTargetVersion=5.3.3 to check __CRC32# on recovery"
                    .to_string(),
            );
        }
        if errors.is_empty() {
            Ok(warnings)
        } else {
            Err(StoreError::Config(errors.join("; ")))
        }
    }
}

/// The three ways an operator makes puts durable: `flushDiskType` plus, for ASYNC_FLUSH,
/// `transientStorePoolEnable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// ASYNC_FLUSH.
    Async,
    /// ASYNC_FLUSH with `transientStorePoolEnable`.
    Transient,
    /// SYNC_FLUSH.
    Sync,
}

impl FlushMode {
    /// The three modes.
    pub const ALL: [FlushMode; 3] = [FlushMode::Async, FlushMode::Transient, FlushMode::Sync];

    /// Short lower-case name (`async`, `transient`, `sync`).
    pub fn name(self) -> &'static str {
        match self {
            FlushMode::Async => "async",
            FlushMode::Transient => "transient",
            FlushMode::Sync => "sync",
        }
    }

    /// Sets `flushDiskType` and `transientStorePoolEnable` for this mode.
    pub fn apply(self, c: &mut StoreConfig) {
        c.flush_disk_type = match self {
            FlushMode::Async | FlushMode::Transient => FlushDiskType::AsyncFlush,
            FlushMode::Sync => FlushDiskType::SyncFlush,
        };
        c.transient_store_pool_enable = self == FlushMode::Transient;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cq_size_rounds_up() {
        let mut c = StoreConfig::with_root("/tmp/x");
        assert_eq!(c.mapped_file_size_consume_queue(), 6_000_000);
        c.mapped_file_size_consume_queue_raw = 4000;
        assert_eq!(c.mapped_file_size_consume_queue(), 4000);
        c.mapped_file_size_consume_queue_raw = 4001;
        assert_eq!(c.mapped_file_size_consume_queue(), 4020);
        assert_eq!(c.commit_log_dir(), PathBuf::from("/tmp/x/commitlog"));
    }

    fn props(text: &str) -> Vec<(String, String, usize)> {
        let (e, w) = parse_java_properties(text).unwrap();
        assert!(w.is_empty(), "{w:?}");
        e.into_iter().map(|e| (e.key, e.value, e.line)).collect()
    }

    fn kv(k: &str, v: &str, line: usize) -> (String, String, usize) {
        (k.to_string(), v.to_string(), line)
    }

    #[test]
    fn properties_syntax_follows_java() {
        let text = "# comment\n! also a comment\n\n   a=1\nb:2\nc 3\nd\t=  4  \n\
                    e = =x\nf\\=g=h\\:i\nmulti=one \\\n     two\\\n\tthree\nuni=\\u0041\\u00e9\\t\\n\\q\n\
                    # comment ending in a backslash \\\nafter=yes\nempty=\nonlykey\n";
        assert_eq!(
            props(text),
            vec![
                kv("a", "1", 4),
                kv("b", "2", 5),
                kv("c", "3", 6),
                kv("d", "4  ", 7),
                kv("e", "=x", 8),
                kv("f=g", "h:i", 9),
                kv("multi", "one twothree", 10),
                kv("uni", "A\u{e9}\t\nq", 13),
                kv("after", "yes", 15),
                kv("empty", "", 16),
                kv("onlykey", "", 17),
            ]
        );
    }

    #[test]
    fn properties_line_ends_and_continuations() {
        // CR LF, lone CR, a continued line whose continuation is blank (that ends it), a
        // backslash at the very end of the text, an escaped backslash (no continuation).
        let text = "a=1\r\nb=2\rc=x\\\r\n\r\nd=y\\\\\ne=z\\";
        assert_eq!(
            props(text),
            vec![
                kv("a", "1", 1),
                kv("b", "2", 2),
                kv("c", "x", 3),
                kv("d", "y\\", 5),
                kv("e", "z", 6)
            ]
        );
        // A continuation line starting with '#' is content, not a comment.
        assert_eq!(props("k=a\\\n  #b"), vec![kv("k", "a#b", 1)]);
        // Surrogate pairs through \u escapes.
        assert_eq!(props("k=\\ud83d\\ude00"), vec![kv("k", "\u{1F600}", 1)]);
    }

    #[test]
    fn properties_bad_unicode_escape_is_an_error() {
        let e = parse_java_properties("a=1\nk=\\u12G4\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("\\u12G4"), "{e}");
        let e = parse_java_properties("k=\\u12").unwrap_err().to_string();
        assert!(e.contains("malformed"), "{e}");
        let (_, w) = parse_java_properties("k=\\ud800x").unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn from_properties_reads_every_store_key() {
        let text = "\
brokerClusterName=DefaultCluster
storePathRootDir=/data/rmq/store
storePathCommitLog=/data/rmq/store/commitlog
mappedFileSizeCommitLog=1048576
mappedFileSizeConsumeQueue=4000
maxHashSlotNum=1000
maxIndexNum=4000
maxMsgsNumBatch=32
messageIndexEnable=false
messageIndexSafe=true
maxMessageSize=524288
checkCRCOnRecover=FALSE
messageDelayLevel=1s 10s
flushDiskType=SYNC_FLUSH
brokerRole=SLAVE
syncFlushTimeout=3000
flushIntervalCommitLog=1000
flushCommitLogLeastPages=8
flushCommitLogThoroughInterval=20000
flushCommitLogTimed=true
flushIntervalConsumeQueue=2000
flushConsumeQueueLeastPages=3
flushConsumeQueueThoroughInterval=30000
transientStorePoolEnable=true
transientStorePoolSize=7
commitIntervalCommitLog=300
commitCommitLogLeastPages=5
commitCommitLogThoroughInterval=400
deleteWhen=04;16
fileReservedTime=48
diskMaxUsedSpaceRatio=88
cleanFileForciblyEnable=false
cleanResourceInterval=11000
deleteCommitLogFilesInterval=101
deleteConsumeQueueFilesInterval=102
destroyMapedFileIntervalForcibly=130000
redeleteHangedFileInterval=140000
listenPort=20911
haMasterAddress=10.0.0.1:10912
haSendHeartbeatInterval=6000
haHousekeepingInterval=21000
haTransferBatchSize=65536
haSlaveFallbehindMax=1000000
";
        let (c, w) = StoreConfig::from_properties(text).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.store_path_root_dir, PathBuf::from("/data/rmq/store"));
        assert_eq!(
            c.commit_log_dir(),
            PathBuf::from("/data/rmq/store/commitlog")
        );
        assert_eq!(c.mapped_file_size_commit_log, 1_048_576);
        assert_eq!(c.mapped_file_size_consume_queue(), 4000);
        assert_eq!(
            (c.max_hash_slot_num, c.max_index_num, c.max_msgs_num_batch),
            (1000, 4000, 32)
        );
        assert!(!c.message_index_enable && c.message_index_safe && !c.check_crc_on_recover);
        assert_eq!(c.max_message_size, 524_288);
        assert_eq!(c.message_delay_level, "1s 10s");
        assert_eq!(c.flush_disk_type, FlushDiskType::SyncFlush);
        assert_eq!(c.broker_role, BrokerRole::Slave);
        assert_eq!(c.sync_flush_timeout_ms, 3000);
        assert_eq!(
            (
                c.flush_interval_commit_log_ms,
                c.flush_commit_log_least_pages,
                c.flush_commit_log_thorough_interval_ms
            ),
            (1000, 8, 20_000)
        );
        assert!(c.flush_commit_log_timed && c.transient_store_pool_enable);
        assert_eq!(
            (
                c.flush_interval_consume_queue_ms,
                c.flush_consume_queue_least_pages,
                c.flush_consume_queue_thorough_interval_ms
            ),
            (2000, 3, 30_000)
        );
        assert_eq!(c.transient_store_pool_size, 7);
        assert_eq!(
            (
                c.commit_interval_commit_log_ms,
                c.commit_commit_log_least_pages,
                c.commit_commit_log_thorough_interval_ms
            ),
            (300, 5, 400)
        );
        assert_eq!(c.delete_hours().unwrap(), vec![4, 16]);
        assert_eq!(
            (c.file_reserved_time_hours, c.disk_max_used_space_ratio),
            (48, 88)
        );
        assert!(!c.clean_file_forcibly_enable);
        assert_eq!(
            (
                c.clean_resource_interval_ms,
                c.delete_commit_log_files_interval_ms,
                c.delete_consume_queue_files_interval_ms
            ),
            (11_000, 101, 102)
        );
        assert_eq!(
            (
                c.destroy_mapped_file_interval_forcibly_ms,
                c.redelete_hanged_file_interval_ms
            ),
            (130_000, 140_000)
        );
        assert_eq!(c.ha_listen_port, 20912);
        assert_eq!(c.ha_master_address.as_deref(), Some("10.0.0.1:10912"));
        assert_eq!(
            (
                c.ha_send_heartbeat_interval_ms,
                c.ha_housekeeping_interval_ms
            ),
            (6000, 21_000)
        );
        assert_eq!(
            (c.ha_transfer_batch_size, c.ha_slave_fallbehind_max),
            (65_536, 1_000_000)
        );
        assert_eq!(c.validate().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn from_properties_keeps_defaults_and_ignores_unknown_keys() {
        let (c, w) = StoreConfig::from_properties("brokerName=b\nnamesrvAddr=x:9876\n").unwrap();
        assert!(w.is_empty(), "{w:?}");
        let d = StoreConfig::default();
        assert_eq!(c.store_path_root_dir, d.store_path_root_dir);
        assert_eq!(c.store_path_commit_log, None);
        assert_eq!(c.mapped_file_size_commit_log, 1 << 30);
        assert_eq!(c.delete_when, "04");
        assert_eq!(c.ha_listen_port, 10912);
        assert!(c.validate().unwrap().is_empty());
    }

    /// The 3.2.6 fixture's run set the sizes under their pre-4.5.2 names.
    #[test]
    fn old_maped_keys_of_the_326_fixture_are_honoured_with_a_warning() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/java/rocketmq-3.2.6/async/manifest.json");
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
        let changed = &m["storeConfigChanged"];
        let cl = changed["mapedFileSizeCommitLog"]
            .as_u64()
            .expect("3.2.6 uses mapedFileSizeCommitLog");
        let cq = changed["mapedFileSizeConsumeQueue"].as_u64().unwrap();
        assert!(changed.get("mappedFileSizeCommitLog").is_none());

        let text = format!(
            "storePathRootDir=/s\nstorePathCommitLog=/s/commitlog\nmapedFileSizeCommitLog={cl}\n\
             mapedFileSizeConsumeQueue={cq}\nbrokerRole={}\nflushDiskType={}\n",
            changed["brokerRole"].as_str().unwrap(),
            changed["flushDiskType"].as_str().unwrap()
        );
        let (c, w) = StoreConfig::from_properties(&text).unwrap();
        assert_eq!(c.mapped_file_size_commit_log as u64, cl);
        assert_eq!(c.mapped_file_size_consume_queue_raw as u64, cq);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("mapedFileSizeCommitLog")
                && w[0].contains("4.5.2")
                && w[0].contains("line 3"),
            "{w:?}"
        );
        assert!(
            w[1].contains("mapedFileSizeConsumeQueue")
                && w[1].contains("mappedFileSizeConsumeQueue"),
            "{w:?}"
        );

        // Both spellings: the new one wins, with a warning.
        let (c, w) = StoreConfig::from_properties(
            "mappedFileSizeCommitLog=2097152\nmapedFileSizeCommitLog=1048576\n",
        )
        .unwrap();
        assert_eq!(c.mapped_file_size_commit_log, 2_097_152);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("ignored because line 1 sets mappedFileSizeCommitLog"),
            "{w:?}"
        );
    }

    #[test]
    fn malformed_numbers_name_key_value_and_line() {
        let e = StoreConfig::from_properties("deleteWhen=04\nfileReservedTime=48 \n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("fileReservedTime") && e.contains("\"48 \""),
            "{e}"
        );
        assert!(e.contains("whitespace") && e.contains("default 72"), "{e}");

        for (text, what) in [
            ("maxMessageSize=4M", "not an integer"),
            ("maxMessageSize=", "not an integer"),
            ("mappedFileSizeCommitLog=4294967296", "int range"),
            ("fileReservedTime=-1", "negative"),
            ("haListenPort=70000", "too large"),
        ] {
            let e = StoreConfig::from_properties(text).unwrap_err().to_string();
            let key = text.split('=').next().unwrap();
            assert!(
                e.contains(key) && e.contains("line 1") && e.contains(what),
                "{text}: {e}"
            );
        }
        // Java's Integer.parseInt takes a sign.
        let (c, _) = StoreConfig::from_properties("fileReservedTime=+48").unwrap();
        assert_eq!(c.file_reserved_time_hours, 48);
    }

    #[test]
    fn booleans_follow_parse_boolean_and_warn() {
        let (c, w) =
            StoreConfig::from_properties("messageIndexEnable=TRUE\ncheckCRCOnRecover=False")
                .unwrap();
        assert!(c.message_index_enable && !c.check_crc_on_recover);
        assert!(w.is_empty(), "{w:?}");
        let (c, w) =
            StoreConfig::from_properties("messageIndexEnable=yes\ncleanFileForciblyEnable=true ")
                .unwrap();
        assert!(!c.message_index_enable && !c.clean_file_forcibly_enable);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("messageIndexEnable") && w[0].contains("false"),
            "{w:?}"
        );
        assert!(w[1].contains("whitespace"), "{w:?}");
    }

    #[test]
    fn enums_must_match_exactly() {
        let (c, _) =
            StoreConfig::from_properties("brokerRole=SYNC_MASTER\nflushDiskType=ASYNC_FLUSH")
                .unwrap();
        assert_eq!(c.broker_role, BrokerRole::SyncMaster);
        for text in [
            "brokerRole=slave",
            "brokerRole=SLAVE ",
            "flushDiskType=SYNC",
        ] {
            let e = StoreConfig::from_properties(text).unwrap_err().to_string();
            assert!(
                e.contains(text.split('=').next().unwrap()) && e.contains("silently ignore"),
                "{e}"
            );
        }
    }

    #[test]
    fn delete_when_is_checked_like_integer_parse_int() {
        let check = |v: &str| {
            let (c, _) = StoreConfig::from_properties(&format!("deleteWhen={v}")).unwrap();
            c.validate()
        };
        assert!(check("04").is_ok());
        assert!(check("04;16").is_ok());
        assert!(check("4;").is_ok());
        let e = check("04; 16").unwrap_err().to_string();
        assert!(
            e.contains("deleteWhen") && e.contains("\" 16\"") && e.contains("never deleted"),
            "{e}"
        );
        let e = check("04 ").unwrap_err().to_string();
        assert!(e.contains("deleteWhen") && e.contains("\"04 \""), "{e}");
        assert!(check("24").unwrap_err().to_string().contains("0..=23"));
        assert!(check("").unwrap_err().to_string().contains("deleteWhen"));
        assert!(check(";").unwrap_err().to_string().contains("no hour"));
        assert!(check(";04").unwrap_err().to_string().contains("deleteWhen"));
    }

    #[test]
    fn validate_checks_sizes_and_clamps_the_ratio() {
        let mut c = StoreConfig::with_root("/tmp/x");
        c.disk_max_used_space_ratio = 99;
        let w = c.validate().unwrap();
        assert_eq!(c.disk_max_used_space_ratio_effective(), 95);
        assert!(w.len() == 1 && w[0].contains("95"), "{w:?}");
        c.disk_max_used_space_ratio = 5;
        assert_eq!(c.disk_max_used_space_ratio_effective(), 10);
        c.disk_max_used_space_ratio = 75;
        c.mapped_file_size_consume_queue_raw = 4001;
        assert!(c.validate().unwrap()[0].contains("4020"));
        c.mapped_file_size_commit_log = 0;
        c.delete_when = "4 ".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("mappedFileSizeCommitLog must be > 0") && e.contains("deleteWhen"),
            "{e}"
        );
        let mut c = StoreConfig::with_root("/tmp/x");
        c.message_delay_level = "1x".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("messageDelayLevel"));
    }

    #[test]
    fn broker_startup_rules_for_paths_and_ha_port() {
        // 4.x: the commitlog stays under $HOME when only the root moves.
        let (c, w) = StoreConfig::from_properties("storePathRootDir=/data/store").unwrap();
        assert_eq!(
            c.commit_log_dir(),
            StoreConfig::default().root().join("commitlog")
        );
        assert!(w.len() == 1 && w[0].contains("storePathCommitLog"), "{w:?}");
        // 4.x: haListenPort = listenPort + 1 whatever the file says.
        let (c, w) = StoreConfig::from_properties("haListenPort=30000").unwrap();
        assert_eq!(c.ha_listen_port, 10912);
        assert!(w.len() == 1 && w[0].contains("listenPort + 1"), "{w:?}");
        let (c, w) = StoreConfig::from_properties("listenPort=20911\nhaListenPort=20912").unwrap();
        assert_eq!(c.ha_listen_port, 20912);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn other_warnings() {
        let (c, w) = StoreConfig::from_properties(
            "storePathIndex=/x\ndeletewhen=05\nfileReservedTime=48\nfileReservedTime=24\nstorePathCommitLog=/c \n",
        )
        .unwrap();
        assert_eq!(c.file_reserved_time_hours, 24);
        assert_eq!(c.delete_when, "04");
        assert_eq!(c.store_path_commit_log, Some(PathBuf::from("/c ")));
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].contains("storePathIndex") && w[0].contains("ignores"));
        assert!(w[1].contains("did you mean deleteWhen"));
        assert!(w[2].contains("line 4") && w[2].contains("line 3"));
        assert!(w[3].contains("whitespace"));
    }

    #[test]
    fn from_properties_file_reads_latin1_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("broker.conf");
        std::fs::write(
            &p,
            b"storePathRootDir=/data/st\xe9\nstorePathCommitLog=/c\n",
        )
        .unwrap();
        let (c, w) = StoreConfig::from_properties_file(&p).unwrap();
        assert_eq!(c.store_path_root_dir, PathBuf::from("/data/st\u{e9}"));
        assert!(
            w.len() == 1 && w[0].contains("ISO-8859-1") && w[0].contains("broker.conf"),
            "{w:?}"
        );
        std::fs::write(&p, b"# x\nmaxIndexNum=lots\n").unwrap();
        let e = StoreConfig::from_properties_file(&p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("broker.conf") && e.contains("line 2") && e.contains("maxIndexNum"),
            "{e}"
        );
        let e = StoreConfig::from_properties_file(dir.path().join("missing.conf")).unwrap_err();
        assert!(matches!(e, StoreError::Io { .. }));
    }
}
