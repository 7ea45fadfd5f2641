//! Flush and commit services: when appended bytes become durable.
//!
//! - ASYNC_FLUSH (`FlushRealTimeService`): a thread flushes every `flushIntervalCommitLog`
//!   when at least `flushCommitLogLeastPages` pages are dirty, and everything every
//!   `flushCommitLogThoroughInterval`. Puts wake it.
//! - SYNC_FLUSH (`GroupCommitService`): a put waits until its bytes are durable. Waiting puts
//!   share syncs: a put that finds no sync running flushes everything appended so far itself;
//!   puts arriving meanwhile sleep, and are then served by the service thread, which syncs
//!   back to back while anyone waits and wakes exactly the puts each sync made durable.
//!   Puts that do not want to block register a callback, completed by the same thread.
//! - Transient store pool (`CommitRealTimeService`): appends go to a write buffer; a thread
//!   commits them into the file every `commitIntervalCommitLog`, then dispatches what became
//!   readable and wakes the flusher.
//! - `FlushConsumeQueueService`: consume queues and the index every second, and every
//!   `flushConsumeQueueThoroughInterval` everything plus the checkpoint.
//!
//! As in Java, the first round of each service is a thorough one (its last thorough time
//! starts at 0): the first checkpoint is written about a second after open.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam::queue::SegQueue;
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

/// A blocked waiter's mailbox: whoever ran the sync writes the outcome here and unparks
/// exactly this thread, so a sync wakes only the puts it decided, not every waiter.
#[derive(Debug)]
struct WaitSlot {
    state: AtomicU8,
    /// Why the sync failed, when `state` is `SLOT_FAILED`.
    failure: Mutex<Option<String>>,
    thread: Thread,
}

const SLOT_PENDING: u8 = 0;
/// Every byte below the waiter's target is durable.
const SLOT_DONE: u8 = 1;
/// A sync that covered the waiter's bytes failed.
const SLOT_FAILED: u8 = 2;

thread_local! {
    /// One slot per thread, reused by each of its waits (a thread waits for one put at a time).
    static SLOT: Arc<WaitSlot> = Arc::new(WaitSlot {
        state: AtomicU8::new(SLOT_PENDING),
        failure: Mutex::new(None),
        thread: std::thread::current(),
    });
}

struct GroupState {
    /// Everything below this offset is durable.
    flushed: u64,
    /// Someone owns the sync: a put leading it, or the service thread.
    leader_busy: bool,
    /// The sync was handed to the service thread (it runs syncs back to back while puts wait).
    service_leads: bool,
    /// The last flush error, cleared by the next successful flush.
    error: Option<String>,
    /// Blocked waiters: (target offset, slot).
    waiters: Vec<(u64, Arc<WaitSlot>)>,
    /// Non-blocking waiters: (target offset, deadline, completion).
    callbacks: Vec<(u64, Instant, Callback)>,
}

/// One sync's result: the end it tried to make durable, and the durable end or the error.
struct SyncOutcome {
    attempted: u64,
    result: Result<u64>,
}

/// Group commit for SYNC_FLUSH.
///
/// A put that finds no sync running leads one itself (a lone writer never waits for another
/// thread). Puts that arrive meanwhile register a wait slot and sleep. When the leader is done
/// and others still wait, it hands the sync to the service thread, which syncs back to back,
/// waking after each sync exactly the puts it made durable (they append their next message
/// while the following sync runs), until nobody waits.
pub struct GroupCommit {
    commit_log: Arc<CommitLog>,
    checkpoint: Arc<Mutex<StoreCheckpoint>>,
    state: Mutex<GroupState>,
    /// `state.waiters.len()`, readable without the lock (the service polls it while gathering).
    waiting: AtomicUsize,
    /// Settled waiters not woken yet. Waking is spread over the woken: whoever syncs wakes
    /// `WAKE_FAN_OUT` of them, and each woken waiter wakes as many more before returning, so
    /// a sync that settles 64 puts does not cost its thread 64 wake-ups in a row.
    to_wake: SegQueue<Thread>,
    waker: Waker,
}

/// Bounds of how long the service waits for the puts it just woken to come back before the
/// next sync: the last sync's duration, within these.
const GATHER_MIN: Duration = Duration::from_micros(10);
const GATHER_MAX: Duration = Duration::from_micros(200);

/// How many settled waiters each thread in the wake-up chain wakes.
const WAKE_FAN_OUT: usize = 2;

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
                service_leads: false,
                error: None,
                waiters: Vec::new(),
                callbacks: Vec::new(),
            }),
            waiting: AtomicUsize::new(0),
            to_wake: SegQueue::new(),
            waker: Waker::default(),
        }
    }

    /// Blocks until every byte below `target` is durable, a sync covering them fails, or
    /// `timeout` passes.
    pub fn wait(&self, target: u64, timeout: Duration) -> std::result::Result<(), FlushWaitError> {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock();
        if st.flushed >= target {
            return Ok(());
        }
        if !st.leader_busy {
            st.leader_busy = true;
            drop(st);
            let outcome = self.sync_once();
            let mut st = self.state.lock();
            let wake = self.finish_sync(&mut st, &outcome);
            let mine = if st.flushed >= target {
                Some(Ok(()))
            } else {
                st.error
                    .clone()
                    .filter(|_| target <= outcome.attempted)
                    .map(|e| Err(FlushWaitError::Failed(e)))
            };
            let slot = if mine.is_none() {
                // Its bytes were not part of the sync (cannot happen while appends are
                // visible at once; kept for safety): wait like the others.
                let slot = SLOT.with(Arc::clone);
                slot.state.store(SLOT_PENDING, Ordering::Relaxed);
                st.waiters.push((target, slot.clone()));
                self.waiting.store(st.waiters.len(), Ordering::Release);
                Some(slot)
            } else {
                None
            };
            self.release_or_hand_over(&mut st);
            drop(st);
            self.wake_settled(wake);
            match (mine, slot) {
                (Some(r), _) => return r,
                (None, Some(slot)) => return self.sleep(slot, target, deadline),
                (None, None) => unreachable!("a leader without an outcome registers a slot"),
            }
        }
        let slot = SLOT.with(Arc::clone);
        slot.state.store(SLOT_PENDING, Ordering::Relaxed);
        st.waiters.push((target, slot.clone()));
        self.waiting.store(st.waiters.len(), Ordering::Release);
        drop(st);
        self.sleep(slot, target, deadline)
    }

    /// Sleeps on `slot` until its outcome arrives or the deadline passes.
    fn sleep(
        &self,
        slot: Arc<WaitSlot>,
        target: u64,
        deadline: Instant,
    ) -> std::result::Result<(), FlushWaitError> {
        loop {
            match slot.state.load(Ordering::Acquire) {
                SLOT_DONE => {
                    self.pass_on_wakes();
                    return Ok(());
                }
                SLOT_FAILED => {
                    self.pass_on_wakes();
                    let e = slot.failure.lock().take();
                    return Err(FlushWaitError::Failed(
                        e.unwrap_or_else(|| "flush failed".into()),
                    ));
                }
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                let mut st = self.state.lock();
                // The outcome may have arrived meanwhile (it is written under this lock).
                if slot.state.load(Ordering::Acquire) != SLOT_PENDING {
                    continue;
                }
                st.waiters.retain(|(_, s)| !Arc::ptr_eq(s, &slot));
                self.waiting.store(st.waiters.len(), Ordering::Release);
                return if st.flushed >= target {
                    Ok(())
                } else {
                    Err(FlushWaitError::Timeout)
                };
            }
            std::thread::park_timeout(deadline - now);
        }
    }

    /// Ends a put's leadership: hands the sync to the service thread when anyone still waits,
    /// else frees it.
    fn release_or_hand_over(&self, st: &mut GroupState) {
        if st.waiters.is_empty() && st.callbacks.is_empty() {
            st.leader_busy = false;
        } else {
            st.service_leads = true;
            self.waker.wake();
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

    /// Flushes everything appended so far.
    fn sync_once(&self) -> SyncOutcome {
        let files = self.commit_log.files();
        let attempted = files.committed_offset();
        let result = files.flush_least(0).map(|ts| {
            // Java sets it only from a positive store timestamp (a slave's segments have none).
            if let Some(ts) = ts.filter(|&ts| ts > 0) {
                self.checkpoint.lock().values.physic_msg_timestamp = ts;
            }
            files.flushed_offset()
        });
        SyncOutcome { attempted, result }
    }

    /// Records a sync's outcome and decides every waiter it settles: durable, or failed when
    /// the failed sync covered its bytes (a later sync retries those; the message stays
    /// stored either way), or timed out (callbacks). Returns the threads to unpark once the
    /// lock is released.
    fn finish_sync(&self, st: &mut GroupState, outcome: &SyncOutcome) -> Vec<Thread> {
        match &outcome.result {
            Ok(f) => {
                st.flushed = st.flushed.max(*f);
                st.error = None;
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit: commitlog sync failed");
                st.error = Some(e.to_string())
            }
        }
        let now = Instant::now();
        let flushed = st.flushed;
        let failed = st.error.clone().map(|e| (e, outcome.attempted));
        let decide = |target: u64| {
            if target <= flushed {
                Some(Ok(()))
            } else {
                match &failed {
                    Some((e, attempted)) if target <= *attempted => {
                        Some(Err(FlushWaitError::Failed(e.clone())))
                    }
                    _ => None,
                }
            }
        };
        let mut i = 0;
        while i < st.callbacks.len() {
            let (target, deadline, _) = &st.callbacks[i];
            let outcome = decide(*target)
                .or_else(|| (*deadline <= now).then_some(Err(FlushWaitError::Timeout)));
            match outcome {
                Some(o) => {
                    let (_, _, cb) = st.callbacks.swap_remove(i);
                    cb(o);
                }
                None => i += 1,
            }
        }
        let mut wake = Vec::new();
        st.waiters.retain(|(target, slot)| {
            let state = match decide(*target) {
                None => return true,
                Some(Ok(())) => SLOT_DONE,
                Some(Err(e)) => {
                    if let FlushWaitError::Failed(e) = e {
                        *slot.failure.lock() = Some(e);
                    }
                    SLOT_FAILED
                }
            };
            slot.state.store(state, Ordering::Release);
            wake.push(slot.thread.clone());
            false
        });
        self.waiting.store(st.waiters.len(), Ordering::Release);
        wake
    }

    /// Queues the settled waiters for waking and starts the chain.
    fn wake_settled(&self, settled: Vec<Thread>) {
        for t in settled {
            self.to_wake.push(t);
        }
        self.pass_on_wakes();
    }

    /// Wakes up to `WAKE_FAN_OUT` queued waiters (each of which does the same when it runs).
    fn pass_on_wakes(&self) {
        for _ in 0..WAKE_FAN_OUT {
            match self.to_wake.pop() {
                Some(t) => t.unpark(),
                None => return,
            }
        }
    }

    /// Waits until `count` puts wait for a sync, or `grace` passes, yielding the CPU to the
    /// puts meanwhile.
    fn gather(&self, count: usize, grace: Duration) {
        let until = Instant::now() + grace;
        while self.waiting.load(Ordering::Acquire) < count && Instant::now() < until {
            std::thread::yield_now();
        }
    }

    /// The service thread's turn: after a wake-up (or 10 ms), sync back to back while anyone
    /// waits, unless a put is leading a sync itself.
    fn service_round(&self) {
        self.waker.wait(Duration::from_millis(10));
        loop {
            let mut st = self.state.lock();
            if st.leader_busy && !st.service_leads {
                return;
            }
            let pending = self.commit_log.files().committed_offset() > st.flushed;
            if !pending && st.callbacks.is_empty() {
                st.leader_busy = false;
                st.service_leads = false;
                return;
            }
            st.leader_busy = true;
            st.service_leads = true;
            drop(st);
            let started = Instant::now();
            let outcome = if pending {
                self.sync_once()
            } else {
                let f = self.commit_log.files().flushed_offset();
                SyncOutcome {
                    attempted: f,
                    result: Ok(f),
                }
            };
            let took = started.elapsed();
            let mut st = self.state.lock();
            let wake = self.finish_sync(&mut st, &outcome);
            let settled = wake.len();
            // Nobody left to serve as a group: at most one put settled and nobody else waits.
            // Leadership goes back to the puts, so a lone writer syncs its next put itself
            // instead of waking this thread and sleeping until it is woken back (two thread
            // switches per put, which made one SYNC writer ~1.5x one fdatasync).
            if !pending || (settled <= 1 && st.waiters.is_empty() && st.callbacks.is_empty()) {
                st.leader_busy = false;
                st.service_leads = false;
                drop(st);
                self.wake_settled(wake);
                return;
            }
            drop(st);
            // Wake the settled puts before the next sync, so they append during it...
            self.wake_settled(wake);
            // ...and give them up to one sync's time to do so: the puts just woken usually
            // come straight back, and one sync for all of them beats one sync each.
            self.gather(settled, took.clamp(GATHER_MIN, GATHER_MAX));
        }
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
                    let mut last_thorough = None;
                    loop {
                        let stopping = stop2.load(Ordering::Acquire);
                        let mut pages = least;
                        if stopping || due(last_thorough, thorough) {
                            last_thorough = Some(Instant::now());
                            pages = 0;
                        }
                        let r = t2
                            .commit_log
                            .files()
                            .commit(pages)
                            .and_then(|_| t2.dispatcher.reput_to_committed(&t2.commit_log));
                        if let Err(e) = r {
                            tracing::error!(error = %e, "commit service: commit failed");
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
                let mut last_thorough = None;
                while !stop2.load(Ordering::Acquire) {
                    let mut pages = least;
                    if due(last_thorough, thorough) {
                        last_thorough = Some(Instant::now());
                        pages = 0;
                    }
                    // With flushCommitLogTimed puts do not wake this sleep; only stop does.
                    waker.wait(interval);
                    match t2.commit_log.files().flush_least(pages) {
                        Ok(Some(ts)) if ts > 0 => {
                            t2.checkpoint.lock().values.physic_msg_timestamp = ts
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "flush service: flush failed");
                            *errs.lock() = Some(e.to_string())
                        }
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
                let mut last_thorough = None;
                while !stop2.load(Ordering::Acquire) {
                    w.wait(interval);
                    let thorough_now = due(last_thorough, thorough);
                    if thorough_now {
                        last_thorough = Some(Instant::now());
                    }
                    let r = flush_logics(&t2, if thorough_now { 0 } else { least }, thorough_now);
                    if let Err(e) = r {
                        tracing::error!(error = %e, "consume-queue flush failed");
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
    if let Some(b) = t.dispatcher.batch_queues() {
        b.flush()?;
    }
    if thorough {
        t.dispatcher.flush_index()?;
        let mut cp = t.checkpoint.lock();
        cp.values
            .advance(logics_ts, t.dispatcher.index_msg_timestamp());
        advance_slave_physic(&mut cp, &t.dispatcher);
        cp.flush()?;
    }
    Ok(())
}

/// On a slave, `physicMsgTimestamp` is the store time of the last record dispatched into a
/// consume queue (Java sets it on the checkpoint at each dispatch; we carry it over whenever
/// the checkpoint is written).
pub fn advance_slave_physic(cp: &mut StoreCheckpoint, dispatcher: &Dispatcher) {
    let ts = dispatcher.slave_physic_msg_timestamp();
    if ts > 0 {
        cp.values.physic_msg_timestamp = ts;
    }
}

/// Whether a thorough round is due. Java's services start with their last thorough time at 0,
/// so the first round of each is thorough: the checkpoint is first written by the consume-queue
/// flusher's first round, `flushIntervalConsumeQueue` (1 s) after start, not a whole
/// `flushConsumeQueueThoroughInterval` (60 s) later.
fn due(last_thorough: Option<Instant>, interval: Duration) -> bool {
    last_thorough.is_none_or(|t| t.elapsed() >= interval)
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .expect("spawning a flush service thread")
}
