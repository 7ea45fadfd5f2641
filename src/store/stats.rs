//! Running figures of a store: puts, gets, bytes, dispatch lag, durability-wait latencies and
//! disk usage, read as one [`StoreStats`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::disk::{DiskUsageProbe, StatvfsProbe};
use crate::store::{GetMessageResult, GetMessageStatus, MessageStore};

/// Upper bounds (microseconds) of the latency histogram's buckets; the last bucket takes the
/// rest.
pub const LATENCY_BUCKETS_US: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 1_000_000, 5_000_000,
];

/// Counters the store updates as it runs.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) boot_timestamp: AtomicU64,
    puts: AtomicU64,
    put_messages: AtomicU64,
    put_bytes: AtomicU64,
    gets_found: AtomicU64,
    gets_miss: AtomicU64,
    got_messages: AtomicU64,
    got_bytes: AtomicU64,
    flush_wait: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
}

impl Stats {
    pub(crate) fn record_put(&self, messages: u64, bytes: u64) {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.put_messages.fetch_add(messages, Ordering::Relaxed);
        self.put_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn record_get(&self, r: &GetMessageResult) {
        if r.status == GetMessageStatus::Found {
            self.gets_found.fetch_add(1, Ordering::Relaxed);
        } else {
            self.gets_miss.fetch_add(1, Ordering::Relaxed);
        }
        self.got_messages
            .fetch_add(r.messages.len() as u64, Ordering::Relaxed);
        self.got_bytes
            .fetch_add(r.buffer_total_size as u64, Ordering::Relaxed);
    }

    /// Records how long a put waited for its flush (or a `flush()` call took).
    pub(crate) fn record_flush_wait(&self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.flush_wait[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of the store's running figures ([`MessageStore::stats`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoreStats {
    /// When the store was opened (ms since the epoch).
    pub boot_timestamp: u64,
    /// Successful appends (a batch counts once), Java's `putMessageTimesTotal`.
    pub put_message_times_total: u64,
    /// Messages appended (each batch item counts).
    pub put_messages: u64,
    /// Record bytes appended, Java's `putMessageSizeTotal`.
    pub put_message_size_total: u64,
    /// `get_message` calls that found messages.
    pub get_message_times_total_found: u64,
    /// `get_message` calls that found none.
    pub get_message_times_total_miss: u64,
    /// Messages returned by `get_message`.
    pub get_message_transfered_msg_count: u64,
    /// Bytes returned by `get_message`.
    pub get_message_transfered_bytes: u64,
    /// Commitlog bytes not yet dispatched to the consume queues and the index.
    pub dispatch_behind_bytes: u64,
    /// How long SYNC_FLUSH puts waited for the flush that made them durable (blocking,
    /// callback and async puts alike; and how long `flush()` calls took): counts per bucket, bounds in [`LATENCY_BUCKETS_US`], the last
    /// count being everything slower.
    pub flush_latency_histogram: Vec<u64>,
    /// Used fraction (0..=1) of the commitlog's partition, if it can be read.
    pub commit_log_disk_ratio: Option<f64>,
    /// Used fraction of the consume queues' partition.
    pub consume_queue_disk_ratio: Option<f64>,
}

impl MessageStore {
    /// The store's running figures now.
    ///
    /// ```
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// store.put_message(&Message::new("T", 0, b"abc".to_vec()))?;
    /// store.get_message("g", "T", 0, 0, 32, None);
    /// let s = store.stats();
    /// assert_eq!((s.put_message_times_total, s.get_message_times_total_found), (1, 1));
    /// assert_eq!(s.dispatch_behind_bytes, 0);
    /// assert!(s.commit_log_disk_ratio.is_some_and(|r| (0.0..=1.0).contains(&r)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> StoreStats {
        let s = &self.api.stats;
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let ratio = |p: &std::path::Path| StatvfsProbe.usage(p).map(|u| u.used_ratio());
        StoreStats {
            boot_timestamp: ld(&s.boot_timestamp),
            put_message_times_total: ld(&s.puts),
            put_messages: ld(&s.put_messages),
            put_message_size_total: ld(&s.put_bytes),
            get_message_times_total_found: ld(&s.gets_found),
            get_message_times_total_miss: ld(&s.gets_miss),
            get_message_transfered_msg_count: ld(&s.got_messages),
            get_message_transfered_bytes: ld(&s.got_bytes),
            dispatch_behind_bytes: self.dispatch_behind_bytes(),
            flush_latency_histogram: s.flush_wait.iter().map(ld).collect(),
            commit_log_disk_ratio: ratio(&self.config.commit_log_dir()),
            consume_queue_disk_ratio: ratio(&self.config.consume_queue_dir()),
        }
    }
}

impl MessageStore {
    /// One `tracing` event with what recovery decided at open.
    pub(crate) fn trace_recovery(&self) {
        let r = &self.recovery;
        let root = self.config.root().display();
        if r.abnormal || r.stopped_by.is_some() {
            tracing::warn!(
                %root,
                abnormal = r.abnormal,
                start_offset = r.start_offset,
                end_offset = r.end_offset,
                stopped_by = r.stopped_by.as_deref().unwrap_or(""),
                reput_from = r.reput_from,
                "recovered after an unclean stop or at damaged bytes"
            );
        } else {
            tracing::info!(
                %root,
                start_offset = r.start_offset,
                end_offset = r.end_offset,
                reput_from = r.reput_from,
                "recovered"
            );
        }
    }
}

impl MessageStore {
    /// The failures the background services are carrying now, by service: the flush and
    /// commit services' last error, a dispatch failure not yet caught up, a replication
    /// divergence or fatal error, the last cleanup run's error. Empty when all is well.
    /// ([`background_error`](Self::background_error) gives the first as text.)
    ///
    /// ```
    /// # use rmqstore::{MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = MessageStore::open(config)?;
    /// for e in store.background_errors() {
    ///     match e {
    ///         rmqstore::error::BackgroundError::Flush(why) => eprintln!("not durable: {why}"),
    ///         other => eprintln!("{other}"),
    ///     }
    /// }
    /// assert!(store.background_errors().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn background_errors(&self) -> Vec<crate::error::BackgroundError> {
        use crate::error::BackgroundError as B;
        let mut v = Vec::new();
        if let Some(e) = self.services.as_ref().and_then(|s| s.last_error()) {
            v.push(B::Flush(e));
        }
        if let Some(e) = self.dispatcher.last_error() {
            v.push(B::Dispatch(e));
        }
        v.extend(self.plugins.errors());
        v
    }
}
