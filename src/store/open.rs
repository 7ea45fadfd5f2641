//! Opening a store: the open modes, the lock file, loading every file, and recovery (normal
//! and abnormal, 4.6.0 and 5.x rules) up to a store ready for puts and reads. The public
//! constructors (`open`, `open_read_only`, `open_inspect`, `open_with`) are in
//! `src/services.rs`: they call [`open_full`](MessageStore::open_full) here, then plug in the
//! services above the store ([`plugin`](super::plugin)).

use super::*;

impl MessageStore {
    /// The side files an [`open_inspect`](Self::open_inspect) left out (none otherwise).
    pub fn left_out(&self) -> &[crate::left_out::LeftOut] {
        &self.left_out
    }

    /// Loads and recovers a store: everything of opening but the services above the store,
    /// which `crate::services` plugs in afterwards (the public constructors are there).
    pub(crate) fn open_full(
        config: StoreConfig,
        mode: OpenMode,
        clock: Arc<dyn Clock>,
        mut tolerant: Option<&mut Vec<crate::left_out::LeftOut>>,
    ) -> Result<MessageStore> {
        let writable = mode == OpenMode::ReadWrite;
        debug_assert!(
            !(writable && tolerant.is_some()),
            "a writable open never leaves out"
        );
        let delay_levels = config.delay_levels().map_err(StoreError::Config)?;
        if writable {
            // A deleteWhen Java cannot parse stops every cleanup run: refuse it up front.
            config.delete_hours().map_err(StoreError::Config)?;
        }
        if config.mapped_file_size_commit_log < 4096 {
            return Err(StoreError::Config(format!(
                "mappedFileSizeCommitLog {} is too small",
                config.mapped_file_size_commit_log
            )));
        }
        let root = config.root().to_path_buf();
        if !writable && !root.is_dir() {
            return Err(StoreError::bad_file(&root, "no such store directory"));
        }
        let lock_file = if writable {
            crate::iorecord::create_dir_all(&root).at(&root)?;
            Some(take_lock(&config.lock_path())?)
        } else {
            None
        };
        if writable {
            // A store opened for writing has its commitlog folder from the start, made durable
            // with its name, so a power cut before the first segment still leaves a store that
            // every tool recognises (Java creates it with the first segment; an empty folder
            // changes nothing Java reads).
            let dir = config.commit_log_dir();
            let created = crate::iorecord::create_dir_all(&dir).at(&dir)?;
            if let Some(first) = created.first() {
                crate::iorecord::sync_new_entry(first, None, &created[1..]).at(first)?;
            }
        }
        let abnormal = config.abort_path().exists();
        let mut commit_log = match tolerant.as_mut() {
            Some(left) => CommitLog::load_tolerant(
                &config.commit_log_dir(),
                config.mapped_file_size_commit_log,
                left,
            )?,
            None => CommitLog::load_with(
                &config.commit_log_dir(),
                config.mapped_file_size_commit_log,
                writable,
                config.background_services,
            )?,
        };
        if writable && config.is_sync_flush() {
            commit_log.set_write_through(true, config.sync_flush_zero_fill_ahead);
        }
        if writable && config.appends_prop_crc() {
            commit_log.set_append_prop_crc(true);
        }
        let dispatch_on_commit = writable && config.is_transient_store_pool_enable();
        if dispatch_on_commit {
            commit_log.set_transient_store_pool(TransientStorePool::new(
                config.transient_store_pool_size.max(1),
                config.mapped_file_size_commit_log,
            ));
        }
        let consume_queues = match tolerant.as_mut() {
            Some(left) => ConsumeQueueTable::load_tolerant(
                &config.consume_queue_dir(),
                config.mapped_file_size_consume_queue(),
                left,
            )?,
            None => ConsumeQueueTable::load(
                &config.consume_queue_dir(),
                config.mapped_file_size_consume_queue(),
                writable,
            )?,
        };
        let checkpoint = StoreCheckpoint::open(&config.checkpoint_path(), writable)?;
        let index = if config.message_index_enable {
            let mut ix = match tolerant.as_mut() {
                Some(left) => IndexService::open_tolerant(
                    config.index_dir(),
                    config.max_hash_slot_num,
                    config.max_index_num,
                    left,
                )?,
                None => IndexService::open(
                    config.index_dir(),
                    config.max_hash_slot_num,
                    config.max_index_num,
                    !writable,
                )?,
            };
            ix.set_prefault(config.background_services);
            ix.set_slot_count_5x(config.target_version.is_5x());
            Some(ix)
        } else {
            None
        };
        let dispatcher = Arc::new(Dispatcher::new(
            consume_queues,
            index,
            delay_levels.clone(),
            clock.clone(),
        ));
        dispatcher.set_slave(config.broker_role == crate::config::BrokerRole::Slave);
        dispatcher.configure_multi_dispatch(&config);
        if config.target_version.is_5x() {
            dispatcher.set_batch_queues(batch_put::load_table(&config, tolerant)?);
        }
        let boot_ms = clock.now_millis();
        let mut store = MessageStore {
            config,
            mode,
            clock,
            delay_levels,
            commit_log: Arc::new(commit_log),
            dispatcher,
            checkpoint: Arc::new(Mutex::new(checkpoint)),
            services: None,
            dispatch_on_commit,
            lock_file,
            extra_services: Mutex::new(Vec::new()),
            plugins: plugin::Plugins::default(),
            api: hooks::ApiState::new(boot_ms),
            recovery: RecoveryReport {
                abnormal,
                start_offset: 0,
                end_offset: 0,
                stopped_by: None,
                reput_from: 0,
            },
            shut_down: false,
            left_out: Vec::new(),
            timer: Arc::new(Mutex::new(None)),
        };
        store.recover(abnormal)?;
        store.trace_recovery();
        if writable {
            store.open_timer()?;
        }
        let services = writable && store.config.background_services;
        if services {
            store.services = Some(FlushServices::start(
                &store.config,
                FlushTargets {
                    commit_log: store.commit_log.clone(),
                    dispatcher: store.dispatcher.clone(),
                    checkpoint: store.checkpoint.clone(),
                },
            ));
        }
        if writable {
            let abort = store.config.abort_path();
            // 5.3.3 keeps what abort held (a crashed run's PID) in abort.bak.
            let prev_abort = store.config.target_version.is_5x().then(|| {
                match std::fs::symlink_metadata(&abort) {
                    Ok(m) if m.is_file() => std::fs::read(&abort).unwrap_or_default(),
                    _ => Vec::new(),
                }
            });
            let mut o = crate::mapped_file::open_options_no_follow();
            o.write(true).create(true).truncate(true);
            crate::iorecord::open(&o, &abort).at(&abort)?;
            crate::iorecord::sync_new_entry(&abort, None, &[]).at(&abort)?;
            if let Some(prev) = prev_abort {
                // 5.3.3 writes its PID into abort (and the previous content into abort.bak).
                crate::v5::recovery::write_abort_with_pid(&abort, &prev).at(&abort)?;
            }
        }
        Ok(store)
    }

    /// `DefaultMessageStore#recover` and the reput that `start()` waits for.
    fn recover(&mut self, abnormal: bool) -> Result<()> {
        let writable = self.mode == OpenMode::ReadWrite;
        let mut max_phy_of_cq: i64 = -1;
        for cq in self.dispatcher.consume_queues().all() {
            cq.recover()?;
            max_phy_of_cq = max_phy_of_cq.max(cq.max_physic_offset());
        }
        let batch = self.dispatcher.batch_queues();
        if let Some(b) = batch {
            max_phy_of_cq = max_phy_of_cq.max(b.max_physic_offset());
        }
        let files = self.commit_log.files().files();
        if files.is_empty() {
            // No commitlog at all: the consume queues describe nothing.
            for cq in self.dispatcher.consume_queues().all() {
                cq.truncate_dirty_logic_files(0)?;
            }
            if let (Some(b), true) = (batch, writable) {
                b.truncate(0)?;
            }
            self.recover_topic_queue_table();
            return Ok(());
        }
        let start_index = {
            let cp = self.checkpoint.lock().values;
            recovery_start_index(&files, abnormal, &cp, &self.config, Some(max_phy_of_cq))
        };
        self.recovery.start_offset = files[start_index].file_from_offset();
        if abnormal && writable {
            // Index files written after the last checkpoint may be torn: Java removes them and
            // re-indexes only from the recovery start segment, losing the keys in between. We
            // remove them too, then rebuild the index from where the kept files end.
            let cp_index_ts = self.checkpoint.lock().values.index_msg_timestamp;
            // After a power cut the last file can also be torn with a header that looks old
            // (see `store/powercut.rs`): then it goes too, and the index is always rebuilt from
            // where the kept files end.
            let rebuild_from = match self.dispatcher.lock().index.as_mut() {
                Some(ix) => {
                    ix.remove_newer_than(cp_index_ts)?;
                    ix.remove_last_if(powercut::index_file_is_torn)?;
                    Some(ix.end_phy_offset())
                }
                None => None,
            };
            if let Some(from) = rebuild_from {
                self.dispatcher.reindex(
                    &self.commit_log,
                    from.max(0) as u64,
                    self.recovery.start_offset,
                )?;
            }
        }
        let check_crc = self.config.check_crc_on_recover;
        let delay_levels = self.delay_levels.clone();
        let mut torn = powercut::TornUnits::default();
        // 5.x: the start of the last valid record becomes the confirm offset (below).
        let mut last_valid: Option<i64> = None;
        let scan = {
            let dispatcher = &self.dispatcher;
            let do_dispatch = abnormal && writable;
            let config = &self.config;
            recovery_scan(
                &files,
                start_index,
                check_crc,
                config,
                &delay_levels,
                |req| {
                    last_valid = Some(req.commitlog_offset);
                    if do_dispatch {
                        torn.note(dispatcher, req);
                        dispatcher
                            .dispatch(&mut dispatcher.lock(), req)
                            .map_err(|e| crate::format::Problem::Invalid(e.to_string()))?;
                    }
                    Ok(())
                },
            )
        };
        self.recovery.end_offset = scan.end;
        if writable && self.config.target_version.is_5x() && !files.is_empty() {
            let initial = if self.config.is_sync_flush() {
                0
            } else {
                files
                    .last()
                    .map_or(0, |f| f.file_from_offset() + f.file_size() as u64)
                    as i64
            };
            self.checkpoint
                .lock()
                .set_confirm_phy_offset(last_valid.unwrap_or(initial));
        }
        self.recovery.stopped_by = scan.stopped_by.map(|e| e.to_string());
        self.commit_log.truncate_dirty(scan.end)?;
        if abnormal && writable {
            powercut::zero_commitlog_tail(&self.commit_log, scan.end)?;
        }
        // After a power cut a torn last unit can hide units beyond the end behind a small
        // maximum: abnormal recovery always truncates (a no-op when nothing is beyond).
        if max_phy_of_cq >= scan.end as i64 || (abnormal && writable) {
            for cq in self.dispatcher.consume_queues().all() {
                cq.truncate_dirty_logic_files(scan.end as i64)?;
            }
            if let (Some(b), true) = (self.dispatcher.batch_queues(), writable) {
                b.truncate(scan.end as i64)?;
            }
        }
        if abnormal && writable {
            torn.repair(&self.dispatcher, &self.commit_log, scan.end)?;
        }
        self.recover_topic_queue_table();
        // Reput: dispatch what the consume queues do not have yet. Java starts at the furthest
        // point any queue reached, so a queue whose tail was torn stays short for good (its
        // messages are in the commitlog, but no consumer sees them). We also start from the
        // earliest end among queues that end within the last three segments (the span normal
        // recovery scans anyway); dispatch skips every unit a queue already has.
        let min = self.commit_log.min_offset() as i64;
        let segs = self.commit_log.files().files();
        let window = segs
            .get(segs.len().saturating_sub(3))
            .map_or(0, |f| f.file_from_offset() as i64);
        let mut java_from = min;
        let mut earliest_recent = i64::MAX;
        for cq in self.dispatcher.consume_queues().all() {
            let end = cq.max_physic_offset();
            java_from = java_from.max(end);
            if end >= window.max(min) {
                earliest_recent = earliest_recent.min(end);
            }
        }
        for (_, _, _, end) in self.dispatcher.batch_queues().map_or(vec![], |b| b.ends()) {
            java_from = java_from.max(end);
            if end >= window.max(min) {
                earliest_recent = earliest_recent.min(end);
            }
        }
        // A damaged unit can claim a message ending beyond the log (Java would then dispatch
        // nothing new until the log grew past it): never start past the recovered end.
        let end = self.commit_log.max_offset();
        let java_from = (java_from.max(0) as u64).min(end);
        // ...and never inside a record (a damaged unit can claim any end).
        let java_from = if java_from < end {
            self.commit_log.align_to_record(java_from)
        } else {
            java_from
        };
        let requeue_from = java_from.min(earliest_recent.max(min).max(0) as u64);
        let requeue_from = self.commit_log.align_to_record(requeue_from).min(java_from);
        if writable && requeue_from < java_from {
            // Only the queues: the index gets exactly what Java's reput gives it.
            self.dispatcher
                .requeue(&self.commit_log, requeue_from, java_from)?;
        }
        let from = java_from;
        self.recovery.reput_from = from;
        self.dispatcher.lock().reput_from = from;
        if writable {
            self.dispatcher.reput_to_committed(&self.commit_log)?;
            self.recover_topic_queue_table();
        }
        Ok(())
    }

    /// `recoverTopicQueueTable`: queue offsets continue from each consume queue's end.
    fn recover_topic_queue_table(&self) {
        let min_phy = self.commit_log.min_offset() as i64;
        let mut st = self.commit_log.lock();
        st.topic_queue_table.clear();
        for cq in self.dispatcher.consume_queues().all() {
            st.topic_queue_table
                .set(cq.topic(), cq.queue_id(), cq.max_offset_in_queue() as i64);
            cq.correct_min_offset(min_phy);
        }
        for (topic, qid, next, _) in self.dispatcher.batch_queues().map_or(vec![], |b| b.ends()) {
            st.topic_queue_table.set(&topic, qid, next);
        }
    }
}

/// Takes the store's `lock` file with an exclusive OFD lock on byte 0, which conflicts with the
/// `FileChannel.tryLock` a Java broker holds and with another open of ours in this process,
/// and with an exclusive `flock()`, which conflicts with tools (`flock(1)`, scripts) that lock
/// the file that way. On Linux the two kinds of lock do not see each other, so both are taken.
fn take_lock(path: &Path) -> Result<File> {
    let mut o = crate::mapped_file::open_options_no_follow();
    o.read(true).write(true).create(true).truncate(false);
    let mut f = crate::iorecord::open(&o, path).at(path)?;
    let fl = libc::flock {
        l_type: libc::F_WRLCK as _,
        l_whence: libc::SEEK_SET as _,
        l_start: 0,
        l_len: 1,
        l_pid: 0,
    };
    // SAFETY: `f` is an open file descriptor for the duration of the call and `fl` is a fully
    // initialized flock struct that fcntl only reads.
    let rc = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => Err(StoreError::Locked {
                path: path.to_path_buf(),
            }),
            _ => Err(StoreError::io(path, err)),
        };
    }
    // A few short retries: `is_locked` probes with an instant shared flock.
    let mut tries = 0;
    while !try_flock(&f, libc::LOCK_EX).at(path)? {
        tries += 1;
        if tries == 10 {
            return Err(StoreError::Locked {
                path: path.to_path_buf(),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    f.write_all(b"lock").at(path)?;
    Ok(f)
}

/// `flock(op | LOCK_NB)`: Ok(false) when another open file holds a conflicting lock.
fn try_flock(f: &File, op: libc::c_int) -> std::io::Result<bool> {
    loop {
        // SAFETY: `f` is an open file descriptor for the duration of the call.
        let rc = unsafe { libc::flock(f.as_raw_fd(), op | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}

/// Whether another process (or another open store) holds the lock on `root/lock`, either
/// Java's fcntl lock or an exclusive `flock()`, tested without creating the file (an flock is
/// probed by taking a shared one for an instant, which no writer waits on: they use LOCK_NB).
pub fn is_locked(root: &Path) -> Result<bool> {
    let path = root.join("lock");
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let mut fl = libc::flock {
        l_type: libc::F_WRLCK as _,
        l_whence: libc::SEEK_SET as _,
        l_start: 0,
        l_len: 1,
        l_pid: 0,
    };
    // SAFETY: valid descriptor; F_OFD_GETLK reads and writes only the flock struct we own.
    let rc = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
    if rc != 0 {
        return Err(StoreError::io(&path, std::io::Error::last_os_error()));
    }
    if fl.l_type != libc::F_UNLCK as libc::c_short {
        return Ok(true);
    }
    // An flock() held by another tool (or by a writer of ours): there is no query for it, so
    // take a shared one for an instant on our own read-only open. It conflicts with any
    // exclusive flock, and being shared it never blocks another reader's probe.
    if !try_flock(&f, libc::LOCK_SH).at(&path)? {
        return Ok(true);
    }
    try_flock(&f, libc::LOCK_UN).at(&path)?;
    Ok(false)
}
