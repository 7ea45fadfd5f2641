//! The commitlog records of a physical range, without decoding everything before it: records
//! never span segments, so a walk can start at the segment holding the range's start.

use crate::error::{Result, StoreError};
use crate::format::record::{decode_record, Decoded};
use crate::format::Problem;
use crate::store::{MessageStore, StoredRecord};

/// Iterator over the records starting in `[from, to)`; see [`MessageStore::records_in`].
pub struct RangeRecords<'a> {
    store: &'a MessageStore,
    /// Next position to look at (a record boundary).
    offset: u64,
    from: u64,
    to: u64,
}

impl MessageStore {
    internal_fn! {
        /// The records whose offsets lie in `[from, to)` (clamped to the store's data), in
        /// physical order. The walk starts at the segment holding `from`, so a range near the end
        /// of a large log costs only that segment. A record that does not decode ends the walk
        /// with an error naming the file and offset.
        fn records_in(&self, from: u64, to: u64) -> RangeRecords<'_> {
            let size = self.commit_log.file_size() as u64;
            let min = self.min_phy_offset();
            let start = from.max(min);
            let seg_start = if size == 0 {
                start
            } else {
                start - start % size
            };
            RangeRecords {
                store: self,
                offset: seg_start.max(min),
                from: start,
                to: to.min(self.max_phy_offset()),
            }
        }
    }
}

impl RangeRecords<'_> {
    /// The offset the walk has reached (for progress reports).
    pub fn position(&self) -> u64 {
        self.offset
    }

    fn next_segment(&mut self) {
        let size = self.store.commit_log.file_size() as u64;
        self.offset = self.offset - self.offset % size + size;
    }
}

impl Iterator for RangeRecords<'_> {
    type Item = Result<StoredRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.offset < self.to {
            let Some(file) = self.store.commit_log.files().find_by_offset(self.offset) else {
                self.next_segment();
                continue;
            };
            let pos = (self.offset - file.file_from_offset()) as usize;
            let data = file.readable();
            if pos >= data.len() {
                self.next_segment();
                continue;
            }
            match decode_record(&data[pos..], false) {
                Ok(Decoded::Message { total_size, .. }) => {
                    let at = self.offset;
                    self.offset += total_size as u64;
                    if at < self.from {
                        continue;
                    }
                    return match self.store.get_by_phy_offset(at) {
                        Some(r) => Some(Ok(r)),
                        None => {
                            self.offset = self.to;
                            Some(Err(StoreError::corrupt(
                                file.path(),
                                pos as u64,
                                crate::format::FormatError::new(
                                    0,
                                    Problem::Invalid("record not readable".into()),
                                ),
                            )))
                        }
                    };
                }
                Ok(Decoded::Blank { .. }) | Ok(Decoded::End) => self.next_segment(),
                Err(e) => {
                    self.offset = self.to;
                    return Some(Err(StoreError::corrupt(file.path(), pos as u64, e)));
                }
            }
        }
        None
    }
}
