//! The seam between the store and the services above it.
//!
//! Retention ([`crate::cleanup`]) and replication ([`crate::ha`]) sit above the store: they
//! import it, it never imports them. Each keeps its state in a [`StorePlugin`] that is plugged
//! into every store as it is opened (`crate::services`, the one module that knows both sides).
//! The store calls the plugins' hooks at fixed points (before a put, after an append, after a
//! put's flush step, when asked for its background errors) without knowing what they are; a
//! service finds its own state back with [`Plugins::get`]. A service's threads are
//! [`StoreService`](super::StoreService)s the store stops at shutdown.

use std::any::Any;
use std::sync::Arc;

use crate::config::StoreConfig;
use crate::error::BackgroundError;
use crate::store::PutMessageResult;

/// A put's callback, as [`StorePlugin::after_flush_callback`] wraps it.
pub(crate) type PutCallback = Box<dyn FnOnce(PutMessageResult) + Send>;

/// A service above the store, as the store sees it: the state the service keeps with the store
/// and the hooks the store calls. Every hook but [`into_any`](Self::into_any) does nothing by
/// default.
pub(crate) trait StorePlugin: Any + Send + Sync {
    /// Asked before a put or batch is stored (after the store's writable check, before the put
    /// hooks): `Some` refuses it with that result. Retention refuses while DISK_FULL.
    fn refuse_put(&self) -> Option<PutMessageResult> {
        None
    }

    /// Told after every append to the commitlog. Replication wakes its senders.
    fn appended(&self) {}

    /// The step of a stored put after its flush step (`wait`: the put waits for durability),
    /// blocking; returns the put's result. Replication: SYNC_MASTER's wait for a slave.
    fn after_flush(
        &self,
        config: &StoreConfig,
        r: PutMessageResult,
        wait: bool,
    ) -> PutMessageResult {
        let _ = (config, wait);
        r
    }

    /// The same step for a put answered through a callback: called before the put, returns
    /// the callback its flush step completes (`done` itself when there is no step).
    fn after_flush_callback(
        &self,
        config: &StoreConfig,
        wait: bool,
        done: PutCallback,
    ) -> PutCallback {
        let _ = (config, wait);
        done
    }

    /// The failure the service carries now
    /// ([`background_errors`](crate::MessageStore::background_errors)).
    fn error(&self) -> Option<BackgroundError> {
        None
    }

    /// Itself, so that [`Plugins::get`] can hand a service its own state back (`self`).
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// The plugins of a store, in the order they were plugged in (the order their hooks run and
/// their errors are listed). Fixed once the store is opened, so the put path reads them
/// without a lock.
#[derive(Default)]
pub(crate) struct Plugins(Vec<Arc<dyn StorePlugin>>);

impl Plugins {
    /// Plugs `plugin` in (while the store is opened).
    pub(crate) fn push(&mut self, plugin: Arc<dyn StorePlugin>) {
        self.0.push(plugin);
    }

    /// The plugged-in state of type `T`, if there is one.
    pub(crate) fn get<T: StorePlugin>(&self) -> Option<Arc<T>> {
        self.0
            .iter()
            .find_map(|p| p.clone().into_any().downcast::<T>().ok())
    }

    /// The first plugin's refusal of a put, if any.
    pub(crate) fn refuse_put(&self) -> Option<PutMessageResult> {
        self.0.iter().find_map(|p| p.refuse_put())
    }

    /// After every append to the commitlog.
    pub(crate) fn appended(&self) {
        for p in &self.0 {
            p.appended();
        }
    }

    /// A stored put's steps after its flush step (blocking).
    pub(crate) fn after_flush(
        &self,
        config: &StoreConfig,
        r: PutMessageResult,
        wait: bool,
    ) -> PutMessageResult {
        self.0.iter().fold(r, |r, p| p.after_flush(config, r, wait))
    }

    /// A callback put's steps after its flush step, wrapped around `done`.
    pub(crate) fn after_flush_callback(
        &self,
        config: &StoreConfig,
        wait: bool,
        done: PutCallback,
    ) -> PutCallback {
        self.0
            .iter()
            .fold(done, |d, p| p.after_flush_callback(config, wait, d))
    }

    /// The failures the plugins carry now, in plugin order.
    pub(crate) fn errors(&self) -> Vec<BackgroundError> {
        self.0.iter().filter_map(|p| p.error()).collect()
    }
}
