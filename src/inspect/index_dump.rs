//! Index files as they are on disk: headers, entries, and the length of each hash slot's chain
//! (how many entries a lookup of a key hashing there walks).

use serde::Serialize;

use crate::format::index::{IndexEntry, IndexHeader};
use crate::index::IndexFile;
use crate::store::MessageStore;

/// One index file's header as its bytes hold it, with the geometry it was opened with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexFileSummary {
    pub name: String,
    pub path: String,
    pub begin_timestamp: i64,
    pub end_timestamp: i64,
    pub begin_phy_offset: i64,
    pub end_phy_offset: i64,
    pub hash_slot_count: i32,
    pub index_count: i32,
    /// Slots and entries of the file's geometry (`maxHashSlotNum`, `maxIndexNum`).
    pub hash_slot_num: u32,
    pub index_num: u32,
    /// Entries written (`indexCount - 1`, entry 0 being never used).
    pub entries_used: u32,
}

impl IndexFileSummary {
    pub fn of(f: &IndexFile) -> IndexFileSummary {
        let h: IndexHeader = f.disk_header();
        IndexFileSummary {
            name: f.name().to_string(),
            path: f.path().display().to_string(),
            begin_timestamp: h.begin_timestamp,
            end_timestamp: h.end_timestamp,
            begin_phy_offset: h.begin_phy_offset,
            end_phy_offset: h.end_phy_offset,
            hash_slot_count: h.hash_slot_count,
            index_count: h.index_count,
            hash_slot_num: f.hash_slot_num(),
            index_num: f.index_num(),
            entries_used: used_entries(f),
        }
    }
}

/// One written entry, numbered as in the file (from 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntryView {
    pub number: u32,
    pub key_hash: i32,
    pub phy_offset: i64,
    pub time_diff_secs: i32,
    /// Store time of the entry: the file's begin timestamp plus the difference.
    pub timestamp: i64,
    pub prev_index: i32,
    /// `key_hash % hash_slot_num`: the slot whose chain holds this entry.
    pub slot: u32,
}

/// The chain of one non-empty hash slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotChain {
    pub slot: u32,
    /// Entry number the slot points at (the newest of its chain).
    pub head: i32,
    /// Entries reached following `prev_index` from the head.
    pub length: u32,
    /// The walk stopped at an entry number out of range or a loop, not at 0.
    pub broken: bool,
}

/// Number of entries written in `f` (entry 0 never is).
pub fn used_entries(f: &IndexFile) -> u32 {
    let count = f.disk_header().index_count;
    (count.max(1) as u32 - 1).min(f.index_num().saturating_sub(1))
}

/// The written entries of `f`, in file order.
pub fn index_entries(f: &IndexFile) -> Vec<IndexEntryView> {
    let begin = f.disk_header().begin_timestamp;
    let slots = f.hash_slot_num().max(1);
    (1..=used_entries(f))
        .filter_map(|n| f.entry(n).map(|e| (n, e)))
        .map(|(n, e): (u32, IndexEntry)| IndexEntryView {
            number: n,
            key_hash: e.key_hash,
            phy_offset: e.phy_offset,
            time_diff_secs: e.time_diff_secs,
            timestamp: begin.saturating_add(e.time_diff_secs as i64 * 1000),
            prev_index: e.prev_index,
            slot: e.key_hash.unsigned_abs() % slots,
        })
        .collect()
}

/// The chain of every non-empty slot of `f`, by slot number.
pub fn slot_chains(f: &IndexFile) -> Vec<SlotChain> {
    let count = used_entries(f);
    let mut out = Vec::new();
    for slot in 0..f.hash_slot_num() {
        let head = f.slot(slot).unwrap_or(0);
        if head <= 0 {
            continue;
        }
        let mut length = 0u32;
        let mut broken = false;
        let mut next = head;
        while next > 0 {
            if next as u32 > count || length > count {
                broken = true;
                break;
            }
            length += 1;
            match f.entry(next as u32) {
                Some(e) if e.prev_index != next => next = e.prev_index,
                _ => {
                    broken = true;
                    break;
                }
            }
        }
        out.push(SlotChain {
            slot,
            head,
            length,
            broken,
        });
    }
    out
}

impl MessageStore {
    internal_fn! {
        /// Runs `f` over the index files (oldest first) as the store loaded them. The store must
        /// have been opened with `messageIndexEnable` (the default); otherwise `f` sees none.
        fn with_index_files<R>(&self, f: impl FnOnce(&[IndexFile]) -> R) -> R {
            let inner = self.dispatcher.lock();
            match inner.index.as_ref() {
                Some(ix) => f(ix.files()),
                None => f(&[]),
            }
        }
    }
}
