//! Opening a store with the services above it.
//!
//! The store ([`crate::store`]) is the lower layer and names none of the services above it.
//! Retention ([`crate::cleanup`]) and replication ([`crate::ha`]) import the store, keep their
//! state in a `StorePlugin` and plug it into the store here, as it is opened; the store reaches
//! them only through that trait (`src/store/plugin.rs`). This is the one module that knows both
//! sides, so `MessageStore`'s public constructors live here: the store's own `open_full`
//! (`src/store/open.rs`) loads and recovers, then the plugins go in and a writable store with
//! `background_services` starts its scheduled cleanup.

use std::sync::Arc;

use crate::cleanup::Retention;
use crate::clock::{Clock, SystemClock};
use crate::config::StoreConfig;
use crate::error::Result;
use crate::ha::Replication;
use crate::left_out::LeftOut;
use crate::store::{MessageStore, OpenMode};

impl MessageStore {
    /// Opens (or creates) a store for writing, with the system clock.
    ///
    /// ```
    /// use rmqstore::{MessageStore, StoreConfig};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut config = StoreConfig::with_root(dir.path());
    /// config.mapped_file_size_commit_log = 1 << 20; // 1 GiB by default
    /// let store = MessageStore::open(config)?;
    /// assert!(!store.recovery_report().abnormal);
    /// store.shutdown()?; // flushes, removes the abort file, releases the lock
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(config: StoreConfig) -> Result<MessageStore> {
        Self::open_with(config, OpenMode::ReadWrite, Arc::new(SystemClock))
    }

    /// Opens a store for inspection: nothing on disk is created, changed or locked.
    ///
    /// ```
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let writer = MessageStore::open(config.clone())?;
    /// writer.put_message(&Message::new("T", 0, b"x".to_vec()))?;
    /// // A reader next to a live writer (as `rmqstore stat` next to a broker).
    /// let reader = MessageStore::open_read_only(config)?;
    /// assert_eq!(reader.max_offset_in_queue("T", 0), 1);
    /// assert!(reader.put_message(&Message::new("T", 0, b"y".to_vec())).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_read_only(config: StoreConfig) -> Result<MessageStore> {
        Self::open_with(config, OpenMode::ReadOnly, Arc::new(SystemClock))
    }

    /// Opens a store for inspection, read-only, going on past side files it cannot use: a
    /// stray entry of `commitlog/`, a consume-queue or index file of the wrong length, and
    /// the like are left out and listed by [`left_out`](Self::left_out). What the commitlog
    /// itself needs (a wrong-length segment) still fails, as Java refuses it.
    pub fn open_inspect(config: StoreConfig) -> Result<MessageStore> {
        let mut left = Vec::new();
        let mut store = Self::open_plugged(
            config,
            OpenMode::ReadOnly,
            Arc::new(SystemClock),
            Some(&mut left),
        )?;
        store.left_out = left;
        Ok(store)
    }

    /// Opens with an explicit mode and clock (store timestamps and index file names).
    pub fn open_with(
        config: StoreConfig,
        mode: OpenMode,
        clock: Arc<dyn Clock>,
    ) -> Result<MessageStore> {
        Self::open_plugged(config, mode, clock, None)
    }

    /// The store's own open, then the services above it plug in (every store, whatever the
    /// mode: a read-only store still answers [`is_disk_full`](Self::is_disk_full) and
    /// [`ha`](Self::ha)), in the order their hooks run and their errors are listed.
    fn open_plugged(
        config: StoreConfig,
        mode: OpenMode,
        clock: Arc<dyn Clock>,
        tolerant: Option<&mut Vec<LeftOut>>,
    ) -> Result<MessageStore> {
        let mut store = Self::open_full(config, mode, clock, tolerant)?;
        store.plugins.push(Arc::new(Replication::default()));
        store.plugins.push(Arc::new(Retention::default()));
        if store.mode == OpenMode::ReadWrite && store.config.background_services {
            store.start_cleanup_service()?;
        }
        Ok(store)
    }
}
