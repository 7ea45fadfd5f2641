//! Futures for puts and for arrivals, independent of any async runtime (plain
//! `std::future::Future` + `Waker`). A put future is resolved by the group-commit service (or
//! the replication wait) through [`MessageStore::put_message_with_callback`]: no thread is
//! blocked per put in flight.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

use crate::error::Result;
use crate::message::Message;
use crate::store::hooks::Arrival;
use crate::store::{MessageStore, PutMessageResult};

enum Slot {
    Pending(Option<Waker>),
    Done(Result<PutMessageResult>),
    Taken,
}

/// A put in flight ([`MessageStore::put_message_async`]): resolves to what
/// [`put_message`](MessageStore::put_message) would have returned, once the message is
/// durable (SYNC_FLUSH) and replicated (SYNC_MASTER) as the store's modes require.
#[must_use = "the put happens either way; the future tells when it is durable"]
pub struct PutFuture {
    slot: Arc<Mutex<Slot>>,
}

impl std::fmt::Debug for PutFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutFuture").finish_non_exhaustive()
    }
}

fn complete(slot: &Mutex<Slot>, r: Result<PutMessageResult>) {
    let waker = {
        let mut s = slot.lock();
        match std::mem::replace(&mut *s, Slot::Done(r)) {
            Slot::Pending(w) => w,
            _ => None,
        }
    };
    if let Some(w) = waker {
        w.wake();
    }
}

impl Future for PutFuture {
    type Output = Result<PutMessageResult>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.slot.lock();
        match std::mem::replace(&mut *s, Slot::Taken) {
            Slot::Done(r) => Poll::Ready(r),
            Slot::Pending(_) => {
                *s = Slot::Pending(Some(cx.waker().clone()));
                Poll::Pending
            }
            Slot::Taken => panic!("PutFuture polled after it completed"),
        }
    }
}

/// Waits for a consume queue to grow past an offset ([`MessageStore::wait_for_arrival`]);
/// resolves to the queue's max offset then. Never resolves if nothing arrives: combine it with
/// your runtime's timeout.
pub struct ArrivalFuture {
    waiters: Arc<ArrivalWaiters>,
    store_max: Box<dyn Fn() -> u64 + Send + Sync>,
    key: (String, i32),
    offset: u64,
    id: Option<u64>,
}

impl std::fmt::Debug for ArrivalFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrivalFuture")
            .field("topic", &self.key.0)
            .field("queue_id", &self.key.1)
            .field("offset", &self.offset)
            .finish()
    }
}

/// (topic, queue id).
type QueueKey = (String, i32);
/// (waiter id, offset waited past, waker).
type Waiter = (u64, u64, Waker);

/// Wakers of pending [`ArrivalFuture`]s, by queue.
#[derive(Default)]
pub(crate) struct ArrivalWaiters {
    count: AtomicUsize,
    next_id: AtomicU64,
    map: Mutex<HashMap<QueueKey, Vec<Waiter>>>,
}

impl ArrivalWaiters {
    fn on_arrival(&self, a: &Arrival<'_>) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut wake = Vec::new();
        {
            let mut m = self.map.lock();
            if let Some(v) = m.get_mut(&(a.topic.to_string(), a.queue_id)) {
                v.retain(|(_, offset, w)| {
                    if a.queue_offset >= *offset {
                        wake.push(w.clone());
                        false
                    } else {
                        true
                    }
                });
                self.count.fetch_sub(wake.len(), Ordering::AcqRel);
            }
        }
        for w in wake {
            w.wake();
        }
    }

    fn remove(&self, key: &(String, i32), id: u64) {
        let mut m = self.map.lock();
        if let Some(v) = m.get_mut(key) {
            let before = v.len();
            v.retain(|(i, _, _)| *i != id);
            self.count.fetch_sub(before - v.len(), Ordering::AcqRel);
            if v.is_empty() {
                m.remove(key);
            }
        }
    }
}

impl Future for ArrivalFuture {
    type Output = u64;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let max = (self.store_max)();
        if max > self.offset {
            return Poll::Ready(max);
        }
        // Register (or refresh) the waker, then look again: a unit written between the first
        // look and the registration has already run its listener.
        let id = match self.id {
            Some(id) => id,
            None => {
                let id = self.waiters.next_id.fetch_add(1, Ordering::Relaxed);
                self.id = Some(id);
                id
            }
        };
        {
            let mut m = self.waiters.map.lock();
            let v = m.entry(self.key.clone()).or_default();
            match v.iter_mut().find(|(i, _, _)| *i == id) {
                Some(e) => e.2 = cx.waker().clone(),
                None => {
                    v.push((id, self.offset, cx.waker().clone()));
                    self.waiters.count.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        let max = (self.store_max)();
        if max > self.offset {
            let key = self.key.clone();
            self.waiters.remove(&key, id);
            self.id = None;
            return Poll::Ready(max);
        }
        Poll::Pending
    }
}

impl Drop for ArrivalFuture {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.waiters.remove(&self.key, id);
        }
    }
}

impl MessageStore {
    /// Puts one message and returns a future of its result, resolved once the message is as
    /// durable and replicated as [`put_message`](Self::put_message) would have waited for.
    /// The append itself happens before this returns (so puts keep their order); only the
    /// durability wait is deferred, handed to the group-commit service (SYNC_FLUSH) or the
    /// replication wait (SYNC_MASTER), so many puts can be in flight without a thread each.
    /// The future runs on any executor.
    ///
    /// ```
    /// use rmqstore::config::FlushDiskType;
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// config.flush_disk_type = FlushDiskType::SyncFlush;
    /// let store = MessageStore::open(config)?;
    /// let pending: Vec<_> = (0..8u8)
    ///     .map(|i| store.put_message_async(&Message::new("T", 0, vec![i])))
    ///     .collect();
    /// for f in pending {
    ///     // Any executor; here a minimal one that parks the thread.
    ///     let r = rmqstore::store::block_on(f)?;
    ///     assert!(r.is_ok());
    /// }
    /// assert!(store.get_flushed_where() >= store.max_phy_offset());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_message_async(&self, msg: &Message) -> PutFuture {
        let slot = Arc::new(Mutex::new(Slot::Pending(None)));
        let s = slot.clone();
        if let Err(e) = self.put_message_with_callback(msg, move |r| complete(&s, Ok(r))) {
            complete(&slot, Err(e));
        }
        PutFuture { slot }
    }

    /// A future that resolves (to the queue's new max offset) once the queue holds a message
    /// at `offset` or beyond, i.e. when its max offset exceeds `offset`: what a long-polling
    /// pull waits for. Resolves at once if it already does.
    ///
    /// ```
    /// # use rmqstore::{Message, MessageStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut config = StoreConfig::with_root(dir.path());
    /// # config.mapped_file_size_commit_log = 1 << 20;
    /// let store = std::sync::Arc::new(MessageStore::open(config)?);
    /// let wait = store.wait_for_arrival("T", 0, 0);
    /// let s = store.clone();
    /// let producer = std::thread::spawn(move || {
    ///     s.put_message(&Message::new("T", 0, b"hi".to_vec())).unwrap();
    /// });
    /// assert_eq!(rmqstore::store::block_on(wait), 1);
    /// producer.join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_arrival(&self, topic: &str, queue_id: i32, offset: u64) -> ArrivalFuture {
        let waiters = self
            .api
            .waiters
            .get_or_init(|| {
                let w = Arc::new(ArrivalWaiters::default());
                let l = w.clone();
                self.dispatcher
                    .hooks()
                    .add_listener(Arc::new(move |a: &Arrival<'_>| l.on_arrival(a)));
                w
            })
            .clone();
        let cqs = self.dispatcher.clone();
        let (t, q) = (topic.to_string(), queue_id);
        ArrivalFuture {
            waiters,
            store_max: Box::new(move || {
                cqs.consume_queues()
                    .get(&t, q)
                    .map_or(0, |c| c.max_offset_in_queue())
            }),
            key: (topic.to_string(), queue_id),
            offset,
            id: None,
        }
    }
}

/// Runs a future to completion on the current thread, parking it between polls: enough to
/// use the store's futures without a runtime (examples, tests, blocking callers).
///
/// ```
/// let v = rmqstore::store::block_on(async { 6 * 7 });
/// assert_eq!(v, 42);
/// ```
pub fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
