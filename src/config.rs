//! The store configuration (`MessageStoreConfig`): the keys a broker's `.properties` file sets
//! for the store, with RocketMQ 4.6.0's defaults.

use std::path::{Path, PathBuf};

use crate::format::cq::{DelayLevels, CQ_UNIT_SIZE};

/// `flushDiskType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushDiskType {
    #[default]
    AsyncFlush,
    SyncFlush,
}

/// `brokerRole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BrokerRole {
    #[default]
    AsyncMaster,
    SyncMaster,
    Slave,
}

/// The store's settings. Field names follow the Java keys in snake case.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub store_path_root_dir: PathBuf,
    /// `storePathCommitLog`; `None` means `<root>/commitlog`.
    pub store_path_commit_log: Option<PathBuf>,
    pub mapped_file_size_commit_log: usize,
    /// As configured; [`mapped_file_size_consume_queue`](Self::mapped_file_size_consume_queue)
    /// rounds it up to whole units as Java's getter does.
    pub mapped_file_size_consume_queue_raw: usize,
    pub max_hash_slot_num: u32,
    pub max_index_num: u32,
    pub max_msgs_num_batch: usize,
    pub message_index_enable: bool,
    pub message_index_safe: bool,
    pub max_message_size: usize,
    pub check_crc_on_recover: bool,
    pub message_delay_level: String,
    pub flush_disk_type: FlushDiskType,
    pub broker_role: BrokerRole,
    pub sync_flush_timeout_ms: u64,
    pub flush_interval_commit_log_ms: u64,
    pub flush_commit_log_least_pages: usize,
    pub flush_commit_log_thorough_interval_ms: u64,
    pub flush_commit_log_timed: bool,
    pub flush_interval_consume_queue_ms: u64,
    pub flush_consume_queue_least_pages: usize,
    pub flush_consume_queue_thorough_interval_ms: u64,
    pub transient_store_pool_enable: bool,
    pub transient_store_pool_size: usize,
    pub commit_interval_commit_log_ms: u64,
    pub commit_commit_log_least_pages: usize,
    pub commit_commit_log_thorough_interval_ms: u64,
    /// 5.x: write V2 records for topics longer than 127 characters. 4.6.0 rejects such topics.
    pub auto_message_version_on_topic_len: bool,
    pub delete_when: String,
    pub file_reserved_time_hours: u64,
    pub disk_max_used_space_ratio: u32,
    pub clean_file_forcibly_enable: bool,
    pub clean_resource_interval_ms: u64,
    pub delete_commit_log_files_interval_ms: u64,
    pub delete_consume_queue_files_interval_ms: u64,
    pub destroy_mapped_file_interval_forcibly_ms: u64,
    pub redelete_hanged_file_interval_ms: u64,
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
            delete_when: "04".into(),
            file_reserved_time_hours: 72,
            disk_max_used_space_ratio: 75,
            clean_file_forcibly_enable: true,
            clean_resource_interval_ms: 10_000,
            delete_commit_log_files_interval_ms: 100,
            delete_consume_queue_files_interval_ms: 100,
            destroy_mapped_file_interval_forcibly_ms: 120_000,
            redelete_hanged_file_interval_ms: 120_000,
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

    pub fn commit_log_dir(&self) -> PathBuf {
        self.store_path_commit_log
            .clone()
            .unwrap_or_else(|| self.store_path_root_dir.join("commitlog"))
    }
    pub fn consume_queue_dir(&self) -> PathBuf {
        self.store_path_root_dir.join("consumequeue")
    }
    pub fn index_dir(&self) -> PathBuf {
        self.store_path_root_dir.join("index")
    }
    pub fn checkpoint_path(&self) -> PathBuf {
        self.store_path_root_dir.join("checkpoint")
    }
    pub fn abort_path(&self) -> PathBuf {
        self.store_path_root_dir.join("abort")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.store_path_root_dir.join("lock")
    }
    pub fn config_dir(&self) -> PathBuf {
        self.store_path_root_dir.join("config")
    }
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

    pub fn delay_levels(&self) -> Result<DelayLevels, String> {
        DelayLevels::parse(&self.message_delay_level)
    }
}

impl StoreConfig {
    pub fn is_sync_flush(&self) -> bool {
        self.flush_disk_type == FlushDiskType::SyncFlush
    }

    /// Java's `isTransientStorePoolEnable`: only with ASYNC_FLUSH and not on a slave.
    pub fn is_transient_store_pool_enable(&self) -> bool {
        self.transient_store_pool_enable
            && self.flush_disk_type == FlushDiskType::AsyncFlush
            && self.broker_role != BrokerRole::Slave
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
}
