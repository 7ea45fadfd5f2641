//! Hooks a broker plugs into the store: an arrival listener for long polling (Java's
//! `MessageArrivingListener`), extra dispatchers that see every dispatched record (Java's
//! `CommitLogDispatcher`), and put hooks that may refuse a message before it is stored (5.x
//! `PutMessageHook`).
//!
//! Listeners and dispatchers run on the dispatching thread, inside the store's dispatch lock
//! (for a put, before the put returns): they must be quick and must not call back into the
//! store's put or dispatch paths. Hand work to another thread (or wake a future) instead.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::dispatch::DispatchRequest;
use crate::message::{Message, MessageBatch};
use crate::store::stats::Stats;
use crate::store::{MessageStore, PutMessageResult};

/// A unit that dispatch just added to a consume queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Arrival<'a> {
    /// The queue's topic.
    pub topic: &'a str,
    /// The queue id.
    pub queue_id: i32,
    /// The queue offset of the new unit; the queue's max offset is now `queue_offset + 1`
    /// (what Java passes as `logicOffset`).
    pub queue_offset: u64,
    /// The unit's tags code (see [`MessageFilter`](crate::store::MessageFilter)).
    pub tags_code: i64,
    /// The message's store timestamp.
    pub store_timestamp: i64,
    /// Physical offset of the message.
    pub commitlog_offset: i64,
    /// Size of the message's record.
    pub msg_size: i32,
}

/// Called when dispatch adds a unit to a consume queue (`MessageArrivingListener`): what a
/// long-polling pull waits for. Any `Fn(&Arrival) + Send + Sync` is one.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// # use rmqstore::{Message, MessageStore, StoreConfig};
/// # let dir = tempfile::tempdir()?;
/// # let mut config = StoreConfig::with_root(dir.path());
/// # config.mapped_file_size_commit_log = 1 << 20;
/// let store = MessageStore::open(config)?;
/// let seen = Arc::new(AtomicU64::new(0));
/// let s = seen.clone();
/// store.add_arrival_listener(Arc::new(move |a: &rmqstore::store::Arrival<'_>| {
///     assert_eq!((a.topic, a.queue_id), ("T", 2));
///     s.store(a.queue_offset + 1, Ordering::SeqCst);
/// }));
/// store.put_message(&Message::new("T", 2, b"x".to_vec()))?;
/// store.put_message(&Message::new("T", 2, b"y".to_vec()))?;
/// assert_eq!(seen.load(Ordering::SeqCst), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ArrivalListener: Send + Sync {
    /// A unit arrived.
    fn arriving(&self, arrival: &Arrival<'_>);
}

impl<F: Fn(&Arrival<'_>) + Send + Sync> ArrivalListener for F {
    fn arriving(&self, arrival: &Arrival<'_>) {
        self(arrival)
    }
}

/// Sees every record dispatch processes, after the consume queue and the index
/// (`CommitLogDispatcher`): PREPARED and ROLLBACK records too
/// ([`DispatchRequest::goes_to_consume_queue`] tells). Any
/// `Fn(&DispatchRequest) + Send + Sync` is one.
///
/// ```
/// use std::sync::Mutex;
/// use std::sync::Arc;
/// # use rmqstore::{Message, MessageStore, StoreConfig};
/// # let dir = tempfile::tempdir()?;
/// # let mut config = StoreConfig::with_root(dir.path());
/// # config.mapped_file_size_commit_log = 1 << 20;
/// let store = MessageStore::open(config)?;
/// let keys = Arc::new(Mutex::new(Vec::new()));
/// let k = keys.clone();
/// store.add_dispatcher(Arc::new(move |r: &rmqstore::dispatch::DispatchRequest<'_>| {
///     k.lock().unwrap().push(r.keys.as_deref().unwrap_or("").to_string());
/// }));
/// store.put_message(&Message::new("T", 0, b"x".to_vec()).with_keys("order-7"))?;
/// assert_eq!(*keys.lock().unwrap(), ["order-7"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait CommitLogDispatcher: Send + Sync {
    /// A record was dispatched.
    fn dispatch(&self, request: &DispatchRequest<'_>);
}

impl<F: Fn(&DispatchRequest<'_>) + Send + Sync> CommitLogDispatcher for F {
    fn dispatch(&self, request: &DispatchRequest<'_>) {
        self(request)
    }
}

/// Asked before a message or batch is stored (5.x `PutMessageHook`); returning a result
/// refuses the put with it (nothing is stored).
///
/// ```
/// use std::sync::Arc;
/// use rmqstore::store::{PutHook, PutMessageResult, PutMessageStatus};
/// # use rmqstore::{Message, MessageStore, StoreConfig};
/// # let dir = tempfile::tempdir()?;
/// # let mut config = StoreConfig::with_root(dir.path());
/// # config.mapped_file_size_commit_log = 1 << 20;
///
/// struct NoEmptyBodies;
/// impl PutHook for NoEmptyBodies {
///     fn name(&self) -> &str {
///         "no-empty-bodies"
///     }
///     fn before_put(&self, msg: &Message) -> Option<PutMessageResult> {
///         msg.body.is_empty().then(|| {
///             PutMessageResult::refused(PutMessageStatus::MessageIllegal, "empty body".into())
///         })
///     }
/// }
/// let store = MessageStore::open(config)?;
/// store.add_put_hook(Arc::new(NoEmptyBodies));
/// let r = store.put_message(&Message::new("T", 0, Vec::new()))?;
/// assert_eq!(r.status, PutMessageStatus::MessageIllegal);
/// assert_eq!(store.max_offset_in_queue("T", 0), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait PutHook: Send + Sync {
    /// A name for logs.
    fn name(&self) -> &str;
    /// `Some(result)` refuses the message with `result`.
    fn before_put(&self, msg: &Message) -> Option<PutMessageResult>;
    /// The same for a batch; accepts by default.
    fn before_put_batch(&self, batch: &MessageBatch) -> Option<PutMessageResult> {
        let _ = batch;
        None
    }
}

/// Arrival listeners and extra dispatchers.
type HookLists = (
    Vec<Arc<dyn ArrivalListener>>,
    Vec<Arc<dyn CommitLogDispatcher>>,
);

/// The hooks dispatch calls.
#[derive(Default)]
pub(crate) struct DispatchHooks {
    any: AtomicBool,
    inner: RwLock<HookLists>,
}

impl DispatchHooks {
    pub(crate) fn add_listener(&self, l: Arc<dyn ArrivalListener>) {
        self.inner.write().0.push(l);
        self.any.store(true, Ordering::Release);
    }
    pub(crate) fn add_dispatcher(&self, d: Arc<dyn CommitLogDispatcher>) {
        self.inner.write().1.push(d);
        self.any.store(true, Ordering::Release);
    }

    /// After a unit was written to a consume queue.
    pub(crate) fn arrived(&self, req: &DispatchRequest<'_>) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let g = self.inner.read();
        if g.0.is_empty() {
            return;
        }
        let a = Arrival {
            topic: &req.topic,
            queue_id: req.queue_id,
            queue_offset: req.consume_queue_offset.max(0) as u64,
            tags_code: req.tags_code,
            store_timestamp: req.store_timestamp,
            commitlog_offset: req.commitlog_offset,
            msg_size: req.msg_size,
        };
        for l in &g.0 {
            l.arriving(&a);
        }
    }

    /// After a record was dispatched.
    pub(crate) fn dispatched(&self, req: &DispatchRequest<'_>) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        for d in &self.inner.read().1 {
            d.dispatch(req);
        }
    }
}

/// State of the broker-facing API kept by the store.
#[derive(Default)]
pub(crate) struct ApiState {
    pub(crate) confirm_offset: ConfirmOffset,
    pub(crate) stats: Arc<Stats>,
    put_hooks: RwLock<Vec<Arc<dyn PutHook>>>,
    has_put_hooks: AtomicBool,
    pub(crate) waiters: std::sync::OnceLock<Arc<crate::store::async_put::ArrivalWaiters>>,
}

/// `confirmOffset`, -1 until set.
pub(crate) struct ConfirmOffset(AtomicI64);

impl Default for ConfirmOffset {
    fn default() -> Self {
        ConfirmOffset(AtomicI64::new(-1))
    }
}
impl std::ops::Deref for ConfirmOffset {
    type Target = AtomicI64;
    fn deref(&self) -> &AtomicI64 {
        &self.0
    }
}

impl ApiState {
    pub(crate) fn new(boot_ms: i64) -> ApiState {
        let s = ApiState::default();
        s.stats
            .boot_timestamp
            .store(boot_ms.max(0) as u64, Ordering::Relaxed);
        s
    }

    /// The first put hook's refusal, if any.
    pub(crate) fn before_put(&self, msg: &Message) -> Option<PutMessageResult> {
        if !self.has_put_hooks.load(Ordering::Acquire) {
            return None;
        }
        self.put_hooks.read().iter().find_map(|h| {
            let r = h.before_put(msg);
            if let Some(r) = &r {
                tracing::debug!(hook = h.name(), status = ?r.status, "put refused by hook");
            }
            r
        })
    }

    pub(crate) fn before_put_batch(&self, batch: &MessageBatch) -> Option<PutMessageResult> {
        if !self.has_put_hooks.load(Ordering::Acquire) {
            return None;
        }
        self.put_hooks
            .read()
            .iter()
            .find_map(|h| h.before_put_batch(batch))
    }
}

impl MessageStore {
    /// Adds a listener called for every unit dispatch adds to a consume queue from now on.
    pub fn add_arrival_listener(&self, listener: Arc<dyn ArrivalListener>) {
        self.dispatcher.hooks().add_listener(listener);
    }

    /// Adds a dispatcher called for every record dispatched from now on.
    pub fn add_dispatcher(&self, dispatcher: Arc<dyn CommitLogDispatcher>) {
        self.dispatcher.hooks().add_dispatcher(dispatcher);
    }

    /// Adds a hook asked before every put from now on (in the order added; the first refusal
    /// wins).
    pub fn add_put_hook(&self, hook: Arc<dyn PutHook>) {
        self.api.put_hooks.write().push(hook);
        self.api.has_put_hooks.store(true, Ordering::Release);
    }
}
