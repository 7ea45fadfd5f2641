//! What abnormal recovery must do beyond Java's after a power cut rather than a killed
//! process (found by the crash images of `src/powerloss.rs`; see docs/format.md, "Power loss").
//!
//! - A consume-queue unit written after the last queue flush may come back torn at a 512-byte
//!   sector: its offset and size new, its tags code old (zero), say. Java's recovery takes
//!   any unit with `offset >= 0 && size > 0`, and its re-dispatch skips slots already written,
//!   so the torn unit stays (a consumer filtering by tag then never sees the message). The
//!   recovery scan compares every unit it would dispatch with the one in the queue
//!   ([`TornUnits::note`]); a queue is cut before its first wrong unit and re-dispatched.
//! - Unsynced commitlog pages may come back old (zeros) while later ones come back new: the
//!   log then ends at the hole, with whole records after it that belong to nothing. Java
//!   leaves them; a later append that ends exactly where one of them starts would make the
//!   next recovery take them back (with stale queue offsets). They are zeroed
//!   ([`zero_commitlog_tail`]).
//! - The last index file is written through its mapping after the last flush: its pages come
//!   back in any mix of old and new, header included, so Java's test (remove files whose
//!   header's end timestamp is after the checkpoint's) can keep a file whose stale header hides
//!   newer entries, or whose header claims entries its other pages do not hold. Its structure
//!   is checked ([`index_file_is_torn`]); a torn file is removed and its keys re-indexed.

use std::collections::BTreeMap;

use crate::index::IndexFile;

use crate::commitlog::CommitLog;
use crate::dispatch::{DispatchRequest, Dispatcher};
use crate::error::Result;
use crate::format::cq::CqUnit;

/// What the recovery scan saw of each queue.
#[derive(Debug, Default)]
pub(crate) struct TornUnits {
    /// (topic, queue id) -> (first wrong queue offset, commitlog offset of its record).
    wrong: BTreeMap<(String, i32), (u64, u64)>,
    /// (topic, queue id) -> one past the last queue offset a scanned record has.
    ends: BTreeMap<(String, i32), u64>,
}

impl TornUnits {
    /// Called for each record the abnormal recovery scan dispatches, before it dispatches.
    pub(crate) fn note(&mut self, dispatcher: &Dispatcher, req: &DispatchRequest<'_>) {
        if req.consume_queue_offset < 0 || !req.goes_to_consume_queue() {
            return;
        }
        let end = req.consume_queue_offset as u64 + 1;
        match self.ends.get_mut(&(req.topic.to_string(), req.queue_id)) {
            Some(e) => *e = (*e).max(end),
            None => {
                self.ends.insert((req.topic.to_string(), req.queue_id), end);
            }
        }
        let Some(cq) = dispatcher.consume_queues().get(&req.topic, req.queue_id) else {
            return;
        };
        let index = req.consume_queue_offset as u64;
        if index >= cq.max_offset_in_queue() || index < cq.min_offset_in_queue() {
            return;
        }
        let want = CqUnit {
            commitlog_offset: req.commitlog_offset,
            size: req.msg_size,
            tags_code: req.tags_code,
        };
        if cq.get_unit(index).is_some_and(|u| u == want) {
            return;
        }
        let key = (req.topic.to_string(), req.queue_id);
        let e = self
            .wrong
            .entry(key)
            .or_insert((index, req.commitlog_offset as u64));
        if index < e.0 {
            *e = (index, req.commitlog_offset as u64);
        }
    }

    /// Cuts each queue after the last unit a scanned record has (a unit past it belongs to no
    /// record: torn, it passed for valid) and before its first wrong unit, re-dispatches the
    /// queues from the earliest record concerned up to `end`, and zeroes what lies after each
    /// queue's end in its last file.
    pub(crate) fn repair(
        &self,
        dispatcher: &Dispatcher,
        commit_log: &CommitLog,
        end: u64,
    ) -> Result<()> {
        for ((topic, qid), units) in &self.ends {
            if let Some(cq) = dispatcher.consume_queues().get(topic, *qid) {
                if cq.max_offset_in_queue() > *units {
                    cq.truncate_to_units(*units)?;
                }
            }
        }
        let mut from = None::<u64>;
        for ((topic, qid), (index, phys)) in &self.wrong {
            if let Some(cq) = dispatcher.consume_queues().get(topic, *qid) {
                cq.truncate_to_units(*index)?;
                from = Some(from.map_or(*phys, |f: u64| f.min(*phys)));
            }
        }
        if let Some(from) = from {
            dispatcher.requeue(commit_log, from, end)?;
        }
        for cq in dispatcher.consume_queues().all() {
            if let Some(f) = cq.files().last() {
                zero_tail(&f, f.wrote_position())?;
            }
        }
        Ok(())
    }
}

/// Zeroes the bytes of the last commitlog segment after the recovered end `end`, up to the
/// last non-zero byte (nothing is written when they are all zero already), and syncs them.
pub(crate) fn zero_commitlog_tail(commit_log: &CommitLog, end: u64) -> Result<()> {
    let Some(f) = commit_log.files().last() else {
        return Ok(());
    };
    if !f.is_writable() || end < f.file_from_offset() {
        return Ok(());
    }
    zero_tail(&f, (end - f.file_from_offset()) as usize)
}

/// Zeroes `f` from `pos` up to its last non-zero byte and syncs that range.
fn zero_tail(f: &crate::mapped_file::MappedFile, pos: usize) -> Result<()> {
    if !f.is_writable() {
        return Ok(());
    }
    let Some(tail) = f.whole().get(pos..) else {
        return Ok(());
    };
    let Some(last) = tail.iter().rposition(|&b| b != 0) else {
        return Ok(());
    };
    let zeros = vec![0u8; 64 * 1024];
    let mut at = pos;
    let stop = pos + last + 1;
    while at < stop {
        let n = (stop - at).min(zeros.len());
        f.write_at(at, &zeros[..n])?;
        at += n;
    }
    f.sync_range(pos, stop - pos)
}

/// Whether the index file's bytes are not one consistent state: the header's count against
/// the entries (every entry below it linked, in range and referenced exactly once by a slot or
/// a later entry; every entry from it on zero) and the slots (each names an entry below the
/// count whose key hash belongs to the slot). An empty file (nothing on disk) counts as torn.
pub(crate) fn index_file_is_torn(f: &IndexFile) -> bool {
    let h = f.disk_header();
    if h.index_count <= 1 {
        return true;
    }
    let count = h.index_count as u32;
    if count > f.index_num()
        || h.end_timestamp < h.begin_timestamp
        || h.end_phy_offset < h.begin_phy_offset
    {
        return true;
    }
    let mut refs = vec![0u8; count as usize];
    for s in 0..f.hash_slot_num() {
        let Some(v) = f.slot(s) else { return true };
        if v == 0 {
            continue;
        }
        if v < 0 || v as u32 >= count {
            return true;
        }
        let Some(e) = f.entry(v as u32) else {
            return true;
        };
        if e.key_hash as u32 % f.hash_slot_num() != s {
            return true;
        }
        refs[v as usize] = refs[v as usize].saturating_add(1);
    }
    for n in 1..count {
        let Some(e) = f.entry(n) else { return true };
        if e.phy_offset < h.begin_phy_offset
            || e.phy_offset > h.end_phy_offset
            || e.time_diff_secs < 0
            || e.prev_index < 0
            || e.prev_index as u32 >= n
        {
            return true;
        }
        if e.prev_index > 0 {
            let p = e.prev_index as usize;
            refs[p] = refs[p].saturating_add(1);
        }
    }
    if refs.iter().skip(1).any(|&r| r != 1) {
        return true;
    }
    (count..f.index_num()).any(|n| {
        f.entry(n).is_none_or(|e| {
            e.key_hash != 0 || e.phy_offset != 0 || e.time_diff_secs != 0 || e.prev_index != 0
        })
    })
}
