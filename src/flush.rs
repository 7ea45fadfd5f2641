//! Flush and commit services: when appended bytes become durable.
//!
//! - ASYNC_FLUSH (`FlushRealTimeService`): a thread flushes every `flushIntervalCommitLog`
//!   when at least `flushCommitLogLeastPages` pages are dirty, and everything every
//!   `flushCommitLogThoroughInterval`. Puts wake it.
//! - SYNC_FLUSH (`GroupCommitService`): a put waits until its bytes are durable. Waiting puts
//!   share syncs: the first waiter becomes the leader and flushes everything appended so far;
//!   the others wait for it, and whoever is still short of its target leads the next sync.
//!   Puts that do not want to block register a callback, completed by the service thread.
//! - Transient store pool (`CommitRealTimeService`): appends go to a write buffer; a thread
//!   commits them into the file every `commitIntervalCommitLog`, then dispatches what became
//!   readable and wakes the flusher.
//! - `FlushConsumeQueueService`: consume queues and the index every second, and every
//!   `flushConsumeQueueThoroughInterval` everything plus the checkpoint.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::checkpoint::StoreCheckpoint;
use crate::commitlog::CommitLog;
use crate::config::StoreConfig;
use crate::dispatch::Dispatcher;
use crate::error::Result;

/// A wakeable sleep shared by a service thread and those who wake it.
#[derive(Debug, Default)]
pub struct Waker {
    flag: Mutex<bool>,
    cond: Condvar,
    /// Set by `wake`, cleared by `wait`: lets a wake that finds the sleeper already woken skip
    /// the lock (every put wakes the flusher, as Java's `wakeup` with its CAS does).
    notified: AtomicBool,
}

impl Waker {
    pub fn wake(&self) {
        if self.notified.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut f = self.flag.lock();
        if !*f {
            *f = true;
            self.cond.notify_one();
        }
    }

    /// Sleeps up to `d`, or less if woken; clears the wake flag.
    pub fn wait(&self, d: Duration) {
        let mut f = self.flag.lock();
        if !*f {
            self.cond.wait_for(&mut f, d);
        }
        *f = false;
        self.notified.store(false, Ordering::Release);
    }
}

/// Why a put's wait for durability ended without success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlushWaitError {
    /// Not durable within `syncFlushTimeout` (the message stays stored).
    Timeout,
    /// The flush failed; the message is stored but may not be durable.
    Failed(String),
}

type Callback = Box<dyn FnOnce(std::result::Result<(), FlushWaitError>) + Send>;

struct GroupState {
    /// Everything below this offset is durable.
    flushed: u64,
    /// A thread is syncing right now.
    leader_busy: bool,
    /// The last flush error, cleared by the next successful flush.
    error: Option<String>,
    /// Non-blocking waiters: (target offset, deadline, completion).
    callbacks: Vec<(u64, Instant, Callback)>,
}

/// Group commit for SYNC_FLUSH.
pub struct GroupCommit {
    commit_log: Arc<CommitLog>,
    checkpoint: Arc<Mutex<StoreCheckpoint>>,
    state: Mutex<GroupState>,
    done: Condvar,
    waker: Waker,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    fn new(commit_log: Arc<CommitLog>, checkpoint: Arc<Mutex<StoreCheckpoint>>) -> GroupCommit {
        let flushed = commit_log.files().flushed_offset();
        GroupCommit {
            commit_log,
            checkpoint,
            state: Mutex::new(GroupState {
                flushed,
                leader_busy: false,
                error: None,
                callbacks: Vec::new(),
            }),
            done: Condvar::new(),
            waker: Waker::default(),
        }
    }

    /// Blocks until every byte below `target` is durable, or `timeout` passes.
    pub fn wait(&self, target: u64, timeout: Duration) -> std::result::Result<(), FlushWaitError> {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock();
        loop {
            if st.flushed >= target {
                return Ok(());
            }
            if !st.leader_busy {
                st.leader_busy = true;
                drop(st);
                let r = self.sync_once();
                st = self.state.lock();
                st.leader_busy = false;
                self.finish_sync(&mut st, r);
                self.done.notify_all();
                if let Some(e) = &st.error {
                    if st.flushed < target {
                        return Err(FlushWaitError::Failed(e.clone()));
                    }
                }
                continue;
            }
            if self.done.wait_until(&mut st, deadline).timed_out() {
                return if st.flushed >= target {
                    Ok(())
                } else {
                    Err(FlushWaitError::Timeout)
                };
            }
        }
    }

    /// Registers `done` to run once every byte below `target` is durable (or at the deadline).
    pub fn wait_async(&self, target: u64, timeout: Duration, done: Callback) {
        let mut st = self.state.lock();
        if st.flushed >= target {
            drop(st);
            done(Ok(()));
            return;
        }
        st.callbacks.push((target, Instant::now() + timeout, done));
        drop(st);
        self.waker.wake();
    }

    /// Wakes the service thread (a put with WAIT=false still wants a prompt flush).
    pub fn wake(&self) {
        self.waker.wake();
    }

    /// Flushes everything appended so far. Returns the new durable end.
    fn sync_once(&self) -> Result<u64> {
        if let Some(ts) = self.commit_log.files().flush_least(0)? {
            self.checkpoint.lock().values.physic_msg_timestamp = ts;
        }
        Ok(self.commit_log.files().flushed_offset())
    }

    fn finish_sync(&self, st: &mut GroupState, r: Result<u64>) {
        match r {
            Ok(f) => {
                st.flushed = st.flushed.max(f);
                st.error = None;
            }
            Err(e) => st.error = Some(e.to_string()),
        }
        let now = Instant::now();
        let flushed = st.flushed;
        let error = st.error.clone();
        let mut i = 0;
        while i < st.callbacks.len() {
            let (target, deadline, _) = &st.callbacks[i];
            let outcome = if *target <= flushed {
                Some(Ok(()))
            } else if let Some(e) = &error {
                Some(Err(FlushWaitError::Failed(e.clone())))
            } else if *deadline <= now {
                Some(Err(FlushWaitError::Timeout))
            } else {
                None
            };
            match outcome {
                Some(o) => {
                    let (_, _, cb) = st.callbacks.swap_remove(i);
                    cb(o);
                }
                None => i += 1,
            }
        }
    }

    /// One round of the service thread: wait up to 10 ms (or a wake-up), then sync if
    /// anything is unflushed and no put is leading a sync already.
    fn service_round(&self) {
        self.waker.wait(Duration::from_millis(10));
        let mut st = self.state.lock();
        if st.leader_busy {
            return;
        }
        let pending = self.commit_log.files().committed_offset() > st.flushed;
        if !pending && st.callbacks.is_empty() {
            return;
        }
        st.leader_busy = true;
        drop(st);
        let r = if pending {
            self.sync_once()
        } else {
            Ok(self.commit_log.files().flushed_offset())
        };
        let mut st = self.state.lock();
        st.leader_busy = false;
        self.finish_sync(&mut st, r);
        self.done.notify_all();
    }
}

/// The running flush services of a store.
pub struct FlushServices {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Woken by every put: the committer (transient store pool), else the flusher (unless
    /// `flushCommitLogTimed`).
    put_waker: Option<Arc<Waker>>,
    /// Every service's sleep, so `stop` can end them promptly.
    all_wakers: Vec<Arc<Waker>>,
    group_commit: Option<Arc<GroupCommit>>,
    errors: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for FlushServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlushServices")
            .field("threads", &self.threads.len())
            .finish()
    }
}

/// What the services work on.
#[derive(Clone)]
pub struct FlushTargets {
    pub commit_log: Arc<CommitLog>,
    pub dispatcher: Arc<Dispatcher>,
    pub checkpoint: Arc<Mutex<StoreCheckpoint>>,
}

impl FlushServices {
    /// Starts the services the configuration asks for.
    pub fn start(config: &StoreConfig, t: FlushTargets) -> FlushServices {
        let stop = Arc::new(AtomicBool::new(false));
        let errors: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let mut threads = Vec::new();
        let mut group_commit = None;
        let mut put_waker = None;
        let mut all_wakers: Vec<Arc<Waker>> = Vec::new();

        if config.is_sync_flush() {
            let gc = Arc::new(GroupCommit::new(t.commit_log.clone(), t.checkpoint.clone()));
            group_commit = Some(gc.clone());
            let stop2 = stop.clone();
            threads.push(spawn("GroupCommitService", move || {
                while !stop2.load(Ordering::Acquire) {
                    gc.service_round();
                }
                gc.service_round();
            }));
        } else {
            let flush_waker = Arc::new(Waker::default());
            all_wakers.push(flush_waker.clone());
            if !config.flush_commit_log_timed {
                put_waker = Some(flush_waker.clone());
            }
            if config.is_transient_store_pool_enable() {
                let commit_waker = Arc::new(Waker::default());
                all_wakers.push(commit_waker.clone());
                put_waker = Some(commit_waker.clone());
                let (t2, stop2, errs, waker, flush_waker) = (
                    t.clone(),
                    stop.clone(),
                    errors.clone(),
                    commit_waker,
                    flush_waker.clone(),
                );
                let interval = Duration::from_millis(config.commit_interval_commit_log_ms);
                let least = config.commit_commit_log_least_pages;
                let thorough = Duration::from_millis(config.commit_commit_log_thorough_interval_ms);
                threads.push(spawn("CommitRealTimeService", move || {
                    let mut last_thorough = Instant::now();
                    loop {
                        let stopping = stop2.load(Ordering::Acquire);
                        let mut pages = least;
                        if stopping || last_thorough.elapsed() >= thorough {
                            last_thorough = Instant::now();
                            pages = 0;
                        }
                        let r = t2
                            .commit_log
                            .files()
                            .commit(pages)
                            .and_then(|_| t2.dispatcher.reput_to_committed(&t2.commit_log));
                        if let Err(e) = r {
                            *errs.lock() = Some(e.to_string());
                        }
                        flush_waker.wake();
                        if stopping {
                            break;
                        }
                        waker.wait(interval);
                    }
                }));
            }
            let (t2, stop2, errs, waker) = (t.clone(), stop.clone(), errors.clone(), flush_waker);
            let interval = Duration::from_millis(config.flush_interval_commit_log_ms);
            let least = config.flush_commit_log_least_pages;
            let thorough = Duration::from_millis(config.flush_commit_log_thorough_interval_ms);
            threads.push(spawn("FlushRealTimeService", move || {
                let mut last_thorough = Instant::now();
                while !stop2.load(Ordering::Acquire) {
                    let mut pages = least;
                    if last_thorough.elapsed() >= thorough {
                        last_thorough = Instant::now();
                        pages = 0;
                    }
                    // With flushCommitLogTimed puts do not wake this sleep; only stop does.
                    waker.wait(interval);
                    match t2.commit_log.files().flush_least(pages) {
                        Ok(Some(ts)) => t2.checkpoint.lock().values.physic_msg_timestamp = ts,
                        Ok(None) => {}
                        Err(e) => *errs.lock() = Some(e.to_string()),
                    }
                }
            }));
        }

        // Consume queues, index and checkpoint.
        {
            let (t2, stop2, errs) = (t.clone(), stop.clone(), errors.clone());
            let interval = Duration::from_millis(config.flush_interval_consume_queue_ms);
            let least = config.flush_consume_queue_least_pages;
            let thorough = Duration::from_millis(config.flush_consume_queue_thorough_interval_ms);
            let w = Arc::new(Waker::default());
            all_wakers.push(w.clone());
            threads.push(spawn("FlushConsumeQueueService", move || {
                let mut last_thorough = Instant::now();
                while !stop2.load(Ordering::Acquire) {
                    w.wait(interval);
                    let thorough_now = last_thorough.elapsed() >= thorough;
                    if thorough_now {
                        last_thorough = Instant::now();
                    }
                    let r = flush_logics(&t2, if thorough_now { 0 } else { least }, thorough_now);
                    if let Err(e) = r {
                        *errs.lock() = Some(e.to_string());
                    }
                }
            }));
        }

        FlushServices {
            stop,
            threads,
            put_waker,
            all_wakers,
            group_commit,
            errors,
        }
    }

    /// Called after every put.
    pub fn on_put(&self) {
        if let Some(w) = &self.put_waker {
            w.wake();
        }
    }

    pub fn group_commit(&self) -> Option<&Arc<GroupCommit>> {
        self.group_commit.as_ref()
    }

    /// The last error a background service met, if any.
    pub fn last_error(&self) -> Option<String> {
        self.errors.lock().clone()
    }

    /// Stops every service, letting each finish its round (the committer commits everything).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for w in &self.all_wakers {
            w.wake();
        }
        if let Some(gc) = &self.group_commit {
            gc.wake();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for FlushServices {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Flushes consume queues and the index; on a thorough round also persists the checkpoint
/// with the logics timestamp captured before the flush, as Java does.
pub fn flush_logics(t: &FlushTargets, least_pages: usize, thorough: bool) -> Result<()> {
    let logics_ts = t.dispatcher.logics_msg_timestamp();
    for cq in t.dispatcher.consume_queues().all() {
        cq.files().flush_least(least_pages)?;
    }
    if thorough {
        t.dispatcher.flush_index()?;
        let mut cp = t.checkpoint.lock();
        cp.values
            .advance(logics_ts, t.dispatcher.index_msg_timestamp());
        cp.flush()?;
    }
    Ok(())
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .expect("spawning a flush service thread")
}
