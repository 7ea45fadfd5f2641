//! The store's side of 5.x timer messages (`src/v5/timer_write.rs`): the broker's transform of
//! a timer put, and the timer store that enqueues the `rmq_sys_wheel_timer` queue into
//! `timerlog/` and `timerwheel` after each put and on open (Java's `TimerEnqueueGetService`
//! reading the same queue), flushed with the store (every put under SYNC_FLUSH).

use super::{MessageStore, PutMessageResult, PutMessageStatus};
use crate::config::FlushDiskType;
use crate::error::Result;
use crate::v5::timer::TIMER_TOPIC;
use crate::v5::timer_write::{self, TimerSource, TimerStore, Transform};

/// Reads the timer queue and the commitlog of a store.
struct Source<'a>(&'a MessageStore);

impl TimerSource for Source<'_> {
    fn cq_range(&self) -> (u64, u64) {
        match self.0.dispatcher.consume_queues().get(TIMER_TOPIC, 0) {
            Some(cq) => (cq.min_offset_in_queue(), cq.max_offset_in_queue()),
            None => (0, 0),
        }
    }
    fn cq_unit(&self, q: u64) -> Option<(i64, i32)> {
        let cq = self.0.dispatcher.consume_queues().get(TIMER_TOPIC, 0)?;
        let u = cq.get_unit(q)?;
        Some((u.commitlog_offset, u.size))
    }
    fn message(&self, offset: i64, size: i32) -> Option<(i64, String)> {
        let r = self.0.get_by_phy_offset(u64::try_from(offset).ok()?)?;
        if r.size() != usize::try_from(size).ok()? {
            return None;
        }
        let m = r.decode().ok()?;
        Some((
            m.queue_offset,
            String::from_utf8_lossy(m.properties).into_owned(),
        ))
    }
}

impl MessageStore {
    fn timer_on(&self) -> bool {
        self.config.target_version.is_5x() && self.config.timer_wheel_enable
    }

    /// The broker's timer transform for a put (5.x target only): `Some(Err)` refuses it,
    /// `Some(Ok(props))` stores it under the timer topic with these properties.
    pub(crate) fn timer_transform(
        &self,
        topic: &str,
        queue_id: i32,
        props: &str,
    ) -> Option<std::result::Result<String, PutMessageResult>> {
        if !self.config.target_version.is_5x() {
            return None;
        }
        match timer_write::transform(
            topic,
            queue_id,
            props,
            self.config.timer_wheel_enable,
            &self.config.timer,
            self.clock.now_millis(),
        ) {
            Transform::Unchanged => None,
            Transform::Timer { properties, .. } => Some(Ok(properties)),
            Transform::Refused(status, why) => Some(Err(PutMessageResult::refused(
                if status == "WHEEL_TIMER_NOT_ENABLE" {
                    PutMessageStatus::ServiceNotAvailable
                } else {
                    PutMessageStatus::MessageIllegal
                },
                format!("{status}: {why}"),
            ))),
        }
    }

    /// Opens the timer store after recovery (writable opens with timers on) when the store
    /// has timer files or a timer queue, and enqueues what the queue holds beyond it.
    pub(crate) fn open_timer(&self) -> Result<()> {
        if !self.timer_on() {
            return Ok(());
        }
        let root = self.config.root();
        let has_queue = self
            .dispatcher
            .consume_queues()
            .get(TIMER_TOPIC, 0)
            .is_some();
        if !has_queue && !timer_write::exists(root) {
            return Ok(());
        }
        self.timer_catch_up()
    }

    /// Enqueues the timer queue up to its end (opening the timer store first if needed), and
    /// under SYNC_FLUSH makes it durable.
    pub(crate) fn timer_catch_up(&self) -> Result<()> {
        if !self.timer_on() {
            return Ok(());
        }
        let now = self.clock.now_millis();
        let mut t = self.timer.lock();
        if t.is_none() {
            *t = Some(TimerStore::open(
                self.config.root(),
                self.config.timer,
                now,
                &Source(self),
            )?);
        }
        let ts = t.as_mut().expect("opened");
        ts.catch_up(&Source(self), now)?;
        if self.config.flush_disk_type == FlushDiskType::SyncFlush {
            // The records the units point at are durable first.
            self.commit_log.flush()?;
            ts.flush(now)?;
        }
        Ok(())
    }

    /// Flushes the timer files (the store's flush and shutdown).
    pub(crate) fn timer_flush(&self) -> Result<()> {
        let now = self.clock.now_millis();
        if let Some(t) = self.timer.lock().as_mut() {
            t.flush(now)?;
        }
        Ok(())
    }
}
