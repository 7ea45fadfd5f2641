//! SYNC_MASTER: a put completes when a slave has acknowledged its end offset
//! (`HAService.GroupTransferService` and `CommitLog#handleHA`, 4.6.0).
//!
//! A put whose bytes end at `target` waits until the largest offset any slave acknowledged
//! (`push2SlaveMaxOffset`) reaches it, up to `syncFlushTimeout` (then FLUSH_SLAVE_TIMEOUT). When
//! no slave is connected, or the slave is more than `haSlaveFallbehindMax` bytes behind, the put
//! does not wait and returns SLAVE_NOT_AVAILABLE (the message is stored either way). Blocking
//! waiters share one condition variable; non-blocking waiters register a callback that the
//! acknowledging thread (or, at the deadline, the expiry thread) completes, so many puts share
//! one round trip to the slave either way.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::config::{BrokerRole, StoreConfig};
use crate::error::BackgroundError;
use crate::ha::Replication;
use crate::store::plugin::{PutCallback, StorePlugin};
use crate::store::{PutMessageResult, PutMessageStatus, StoreService};

/// Why a wait for the slave ended without its acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferWaitError {
    /// Not acknowledged within the timeout.
    Timeout,
    /// The HA service stopped.
    Stopped,
}

type Callback = Box<dyn FnOnce(Result<(), TransferWaitError>) + Send>;

struct Waiters {
    callbacks: Vec<(u64, Instant, Callback)>,
    stopped: bool,
}

/// Acknowledged offsets and the puts waiting for them.
pub struct GroupTransfer {
    /// `push2SlaveMaxOffset`: the largest offset a slave acknowledged. Only grows.
    acked: AtomicU64,
    /// Open slave connections (`connectionCount`).
    connections: AtomicUsize,
    fallbehind_max: u64,
    waiters: Mutex<Waiters>,
    acked_cond: Condvar,
    /// Generation counter bumped by every put, so the master's stream threads wake on new data.
    data_gen: Mutex<u64>,
    data_cond: Condvar,
}

impl std::fmt::Debug for GroupTransfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupTransfer")
            .field("acked", &self.acked())
            .field("connections", &self.connections())
            .finish()
    }
}

impl GroupTransfer {
    pub fn new(fallbehind_max: u64) -> GroupTransfer {
        GroupTransfer {
            acked: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            fallbehind_max,
            waiters: Mutex::new(Waiters {
                callbacks: Vec::new(),
                stopped: false,
            }),
            acked_cond: Condvar::new(),
            data_gen: Mutex::new(0),
            data_cond: Condvar::new(),
        }
    }

    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Acquire)
    }
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }
    pub(crate) fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::AcqRel);
    }
    pub(crate) fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
    }

    /// `isSlaveOK`: a slave is connected and less than `haSlaveFallbehindMax` behind.
    pub fn is_slave_ok(&self, master_put_where: u64) -> bool {
        self.connections() > 0
            && master_put_where.saturating_sub(self.acked()) < self.fallbehind_max
    }

    /// `notifyTransferSome`: a slave acknowledged `offset`; wakes whoever it satisfies.
    pub fn notify_transfer_some(&self, offset: u64) {
        let prev = self.acked.fetch_max(offset, Ordering::AcqRel);
        if offset <= prev {
            return;
        }
        let mut ready = Vec::new();
        {
            let mut w = self.waiters.lock();
            let mut i = 0;
            while i < w.callbacks.len() {
                if w.callbacks[i].0 <= offset {
                    ready.push(w.callbacks.swap_remove(i).2);
                } else {
                    i += 1;
                }
            }
            self.acked_cond.notify_all();
        }
        for cb in ready {
            cb(Ok(()));
        }
    }

    /// Blocks until a slave acknowledged `target`, or `timeout` passes.
    pub fn wait(&self, target: u64, timeout: Duration) -> Result<(), TransferWaitError> {
        let deadline = Instant::now() + timeout;
        let mut w = self.waiters.lock();
        loop {
            if self.acked() >= target {
                return Ok(());
            }
            if w.stopped {
                return Err(TransferWaitError::Stopped);
            }
            if self.acked_cond.wait_until(&mut w, deadline).timed_out() {
                return if self.acked() >= target {
                    Ok(())
                } else {
                    Err(TransferWaitError::Timeout)
                };
            }
        }
    }

    /// Runs `done` once a slave acknowledged `target` (or at the deadline, or at stop).
    pub fn wait_async(&self, target: u64, timeout: Duration, done: Callback) {
        let mut w = self.waiters.lock();
        if self.acked() >= target {
            drop(w);
            done(Ok(()));
            return;
        }
        if w.stopped {
            drop(w);
            done(Err(TransferWaitError::Stopped));
            return;
        }
        w.callbacks.push((target, Instant::now() + timeout, done));
    }

    /// Completes the callbacks whose deadline passed.
    fn expire(&self) {
        let now = Instant::now();
        let mut late = Vec::new();
        {
            let mut w = self.waiters.lock();
            let mut i = 0;
            while i < w.callbacks.len() {
                if w.callbacks[i].1 <= now {
                    late.push(w.callbacks.swap_remove(i).2);
                } else {
                    i += 1;
                }
            }
        }
        for cb in late {
            cb(Err(TransferWaitError::Timeout));
        }
    }

    /// Releases every waiter: the HA service is going away.
    fn stop(&self) {
        let pending = {
            let mut w = self.waiters.lock();
            w.stopped = true;
            self.acked_cond.notify_all();
            std::mem::take(&mut w.callbacks)
        };
        for (_, _, cb) in pending {
            cb(Err(TransferWaitError::Stopped));
        }
        self.notify_new_data();
    }

    /// A put appended bytes: wake the master's stream threads.
    pub fn notify_new_data(&self) {
        let mut g = self.data_gen.lock();
        *g += 1;
        self.data_cond.notify_all();
    }

    /// The current data generation, read before looking for data.
    pub fn data_generation(&self) -> u64 {
        *self.data_gen.lock()
    }

    /// Sleeps until the generation moves past `seen` or `timeout` passes.
    pub fn wait_new_data(&self, seen: u64, timeout: Duration) {
        let mut g = self.data_gen.lock();
        if *g != seen {
            return;
        }
        self.data_cond.wait_for(&mut g, timeout);
    }
}

/// `GroupTransferService`'s thread: expires non-blocking waiters at their deadline.
pub(crate) struct TransferService {
    transfer: Arc<GroupTransfer>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TransferService {
    pub(crate) fn start(transfer: Arc<GroupTransfer>) -> std::io::Result<TransferService> {
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (transfer.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("GroupTransferService".into())
            .spawn(move || {
                while !s.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(10));
                    t.expire();
                }
            })?;
        Ok(TransferService {
            transfer,
            stop,
            thread: Some(thread),
        })
    }
}

impl StoreService for TransferService {
    fn name(&self) -> &str {
        "GroupTransferService"
    }
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.transfer.stop();
    }
}

impl Drop for TransferService {
    fn drop(&mut self) {
        StoreService::stop(self);
    }
}

/// What the put returns after its replication wait (4.6.0 `handleHA`): a replication failure
/// replaces the flush outcome, a success keeps it.
fn ha_outcome(mut r: PutMessageResult, outcome: Result<(), TransferWaitError>) -> PutMessageResult {
    match outcome {
        Ok(()) => {}
        Err(TransferWaitError::Timeout) => {
            r.status = PutMessageStatus::FlushSlaveTimeout;
            r.reason = Some(
                "the slave did not acknowledge within syncFlushTimeout; the message is stored"
                    .into(),
            );
        }
        Err(TransferWaitError::Stopped) => {
            r.status = PutMessageStatus::FlushSlaveTimeout;
            r.reason = Some("replication stopped before the slave acknowledged".into());
        }
    }
    r
}

fn slave_not_available(mut r: PutMessageResult, why: &str) -> PutMessageResult {
    r.status = PutMessageStatus::SlaveNotAvailable;
    r.reason = Some(format!("{why}; the message is stored"));
    r
}

/// What a SYNC_MASTER put must wait for, or why it cannot.
enum HaNeed {
    Nothing,
    NotAvailable(&'static str),
    Wait(Arc<crate::ha::HaShared>, u64),
}

impl Replication {
    fn ha_need(&self, config: &StoreConfig, r: &PutMessageResult, wait: bool) -> HaNeed {
        let ha = self.shared.get();
        if config.broker_role != BrokerRole::SyncMaster || !wait {
            return HaNeed::Nothing;
        }
        let Some(a) = &r.append else {
            return HaNeed::Nothing;
        };
        let Some(ha) = ha else {
            return HaNeed::NotAvailable("SYNC_MASTER without a started HA service");
        };
        let target = (a.wrote_offset + a.wrote_bytes as i64) as u64;
        if !ha.transfer.is_slave_ok(target) {
            return HaNeed::NotAvailable(
                "no slave connected, or the slave is more than haSlaveFallbehindMax behind",
            );
        }
        HaNeed::Wait(ha.clone(), target)
    }
}

/// Replication's hooks in the store's put path (`CommitLog#handleHA`) and background errors.
impl StorePlugin for Replication {
    /// Bytes were appended: the master's stream threads may send them.
    fn appended(&self) {
        if let Some(ha) = self.shared.get() {
            ha.transfer.notify_new_data();
        }
    }

    /// The replication step of a put, after its flush step (blocking form).
    fn after_flush(
        &self,
        config: &StoreConfig,
        r: PutMessageResult,
        wait: bool,
    ) -> PutMessageResult {
        match self.ha_need(config, &r, wait) {
            HaNeed::Nothing => r,
            HaNeed::NotAvailable(why) => slave_not_available(r, why),
            HaNeed::Wait(ha, target) => {
                let timeout = Duration::from_millis(config.sync_flush_timeout_ms);
                let outcome = ha.transfer.wait(target, timeout);
                ha_outcome(r, outcome)
            }
        }
    }

    /// Wraps a put callback so it runs after the replication step (non-blocking form).
    fn after_flush_callback(
        &self,
        config: &StoreConfig,
        wait: bool,
        done: PutCallback,
    ) -> PutCallback {
        if config.broker_role != BrokerRole::SyncMaster || !wait {
            return done;
        }
        let ha = self.shared.get().cloned();
        let timeout = Duration::from_millis(config.sync_flush_timeout_ms);
        Box::new(move |r: PutMessageResult| {
            let Some(a) = &r.append else {
                return done(r);
            };
            let Some(ha) = ha else {
                return done(slave_not_available(
                    r,
                    "SYNC_MASTER without a started HA service",
                ));
            };
            let target = (a.wrote_offset + a.wrote_bytes as i64) as u64;
            if !ha.transfer.is_slave_ok(target) {
                return done(slave_not_available(
                    r,
                    "no slave connected, or the slave is more than haSlaveFallbehindMax behind",
                ));
            }
            ha.transfer.wait_async(
                target,
                timeout,
                Box::new(move |outcome| done(ha_outcome(r, outcome))),
            );
        })
    }

    /// A divergence or a failure that stopped replication for good.
    fn error(&self) -> Option<BackgroundError> {
        let ha = self.shared.get()?;
        let d = ha.divergence.lock().clone();
        d.or_else(|| ha.fatal.lock().clone())
            .map(BackgroundError::Replication)
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_complete_on_ack_timeout_and_stop() {
        let t = Arc::new(GroupTransfer::new(1000));
        assert!(!t.is_slave_ok(10), "no connection");
        t.connection_opened();
        assert!(t.is_slave_ok(999));
        assert!(!t.is_slave_ok(1000), "1000 behind is too far");
        let (tx, rx) = std::sync::mpsc::channel();
        let tx2 = tx.clone();
        t.wait_async(
            50,
            Duration::from_secs(60),
            Box::new(move |o| tx.send(o).unwrap()),
        );
        t.wait_async(
            80,
            Duration::from_secs(60),
            Box::new(move |o| tx2.send(o).unwrap()),
        );
        t.notify_transfer_some(60);
        assert_eq!(rx.try_recv().unwrap(), Ok(()));
        assert!(rx.try_recv().is_err(), "80 not yet acknowledged");
        t.notify_transfer_some(40); // acked never goes back
        assert_eq!(t.acked(), 60);
        assert_eq!(t.wait(60, Duration::from_millis(1)), Ok(()));
        assert_eq!(
            t.wait(61, Duration::from_millis(1)),
            Err(TransferWaitError::Timeout)
        );
        let t2 = t.clone();
        let h = std::thread::spawn(move || t2.wait(100, Duration::from_secs(60)));
        t.notify_transfer_some(100);
        assert_eq!(h.join().unwrap(), Ok(()));
        assert_eq!(rx.recv().unwrap(), Ok(()), "80 completed by the ack of 100");
        let (tx, rx) = std::sync::mpsc::channel();
        t.wait_async(500, Duration::ZERO, Box::new(move |o| tx.send(o).unwrap()));
        t.expire();
        assert_eq!(rx.recv().unwrap(), Err(TransferWaitError::Timeout));
        let (tx, rx) = std::sync::mpsc::channel();
        t.wait_async(
            500,
            Duration::from_secs(60),
            Box::new(move |o| tx.send(o).unwrap()),
        );
        t.stop();
        assert_eq!(rx.recv().unwrap(), Err(TransferWaitError::Stopped));
        assert_eq!(
            t.wait(500, Duration::from_secs(60)),
            Err(TransferWaitError::Stopped)
        );
    }
}
