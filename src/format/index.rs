//! Index file layout: a 40-byte header, `hashSlotNum` int32 slots, then `indexNum` 20-byte
//! entries. Entry number k lives at `40 + slots*4 + k*20`; number 0 is never written.

use super::{get_i32, get_i64, put_i32, put_i64, FormatError, Problem};

pub const INDEX_HEADER_SIZE: usize = 40;
pub const HASH_SLOT_SIZE: usize = 4;
pub const INDEX_ENTRY_SIZE: usize = 20;

/// The size of an index file with the given geometry.
pub fn index_file_size(hash_slot_num: u32, index_num: u32) -> usize {
    INDEX_HEADER_SIZE
        + hash_slot_num as usize * HASH_SLOT_SIZE
        + index_num as usize * INDEX_ENTRY_SIZE
}

/// The index file header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexHeader {
    pub begin_timestamp: i64,
    pub end_timestamp: i64,
    pub begin_phy_offset: i64,
    pub end_phy_offset: i64,
    pub hash_slot_count: i32,
    pub index_count: i32,
}

impl IndexHeader {
    pub fn decode(buf: &[u8]) -> Result<IndexHeader, FormatError> {
        if buf.len() < INDEX_HEADER_SIZE {
            return Err(FormatError::new(
                0,
                Problem::Truncated {
                    what: "index header",
                    need: INDEX_HEADER_SIZE as u64,
                    have: buf.len() as u64,
                },
            ));
        }
        // The length check above makes every read below in range.
        Ok(IndexHeader {
            begin_timestamp: get_i64(buf, 0).unwrap_or(0),
            end_timestamp: get_i64(buf, 8).unwrap_or(0),
            begin_phy_offset: get_i64(buf, 16).unwrap_or(0),
            end_phy_offset: get_i64(buf, 24).unwrap_or(0),
            hash_slot_count: get_i32(buf, 32).unwrap_or(0),
            index_count: get_i32(buf, 36).unwrap_or(0),
        })
    }

    #[cfg(feature = "internals")]
    pub fn encode_into(&self, buf: &mut [u8]) {
        put_i64(buf, 0, self.begin_timestamp);
        put_i64(buf, 8, self.end_timestamp);
        put_i64(buf, 16, self.begin_phy_offset);
        put_i64(buf, 24, self.end_phy_offset);
        put_i32(buf, 32, self.hash_slot_count);
        put_i32(buf, 36, self.index_count);
    }

    /// `IndexHeader#load`: an index count of zero or less counts as 1 (entry 0 is never used).
    pub fn effective_index_count(&self) -> i32 {
        self.index_count.max(1)
    }
}

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub key_hash: i32,
    pub phy_offset: i64,
    pub time_diff_secs: i32,
    pub prev_index: i32,
}

impl IndexEntry {
    pub fn encode(&self) -> [u8; INDEX_ENTRY_SIZE] {
        let mut b = [0u8; INDEX_ENTRY_SIZE];
        put_i32(&mut b, 0, self.key_hash);
        put_i64(&mut b, 4, self.phy_offset);
        put_i32(&mut b, 12, self.time_diff_secs);
        put_i32(&mut b, 16, self.prev_index);
        b
    }

    pub fn decode(buf: &[u8]) -> Result<IndexEntry, FormatError> {
        match (
            get_i32(buf, 0),
            get_i64(buf, 4),
            get_i32(buf, 12),
            get_i32(buf, 16),
        ) {
            (Some(key_hash), Some(phy_offset), Some(time_diff_secs), Some(prev_index)) => {
                Ok(IndexEntry {
                    key_hash,
                    phy_offset,
                    time_diff_secs,
                    prev_index,
                })
            }
            _ => Err(FormatError::new(
                0,
                Problem::Truncated {
                    what: "index entry",
                    need: INDEX_ENTRY_SIZE as u64,
                    have: buf.len() as u64,
                },
            )),
        }
    }
}

/// Byte position of slot `slot`.
pub fn slot_pos(slot: u32) -> usize {
    INDEX_HEADER_SIZE + slot as usize * HASH_SLOT_SIZE
}

/// Byte position of entry number `n` in a file with `hash_slot_num` slots.
pub fn entry_pos(hash_slot_num: u32, n: u32) -> usize {
    INDEX_HEADER_SIZE + hash_slot_num as usize * HASH_SLOT_SIZE + n as usize * INDEX_ENTRY_SIZE
}

/// The 4.6.0 time difference of an entry: seconds since the header's begin timestamp, 0 when
/// the begin is unset, clamped to `[0, i32::MAX]`. The subtraction wraps as Java's `long`
/// arithmetic does (a store timestamp read from a damaged record can be anything).
pub fn time_diff_secs(store_timestamp: i64, begin_timestamp: i64) -> i32 {
    if begin_timestamp <= 0 {
        return 0;
    }
    let d = store_timestamp.wrapping_sub(begin_timestamp) / 1000;
    d.clamp(0, i32::MAX as i64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_entry_round_trip() {
        let h = IndexHeader {
            begin_timestamp: 1,
            end_timestamp: 2,
            begin_phy_offset: 3,
            end_phy_offset: 4,
            hash_slot_count: 5,
            index_count: 6,
        };
        let mut b = [0u8; 40];
        h.encode_into(&mut b);
        assert_eq!(IndexHeader::decode(&b).unwrap(), h);
        assert!(IndexHeader::decode(&b[..39]).is_err());
        let e = IndexEntry {
            key_hash: 9,
            phy_offset: 10,
            time_diff_secs: 11,
            prev_index: 12,
        };
        assert_eq!(IndexEntry::decode(&e.encode()).unwrap(), e);
        assert_eq!(index_file_size(1000, 4000), 84040);
        assert_eq!(entry_pos(1000, 1), 4060);
    }

    #[test]
    fn time_diff_rules() {
        assert_eq!(time_diff_secs(5000, 0), 0);
        assert_eq!(time_diff_secs(5000, 1000), 4);
        assert_eq!(time_diff_secs(500, 1000), 0);
        assert_eq!(time_diff_secs(i64::MAX, 1), i32::MAX);
        // Java's long subtraction wraps: MIN - 1 is MAX, clamped; MAX - (-1) is never asked
        // (a begin <= 0 gives 0).
        assert_eq!(time_diff_secs(i64::MIN, 1), i32::MAX);
        assert_eq!(time_diff_secs(i64::MIN + 1000, 2001), i32::MAX);
        assert_eq!(time_diff_secs(i64::MIN, i64::MAX), 0); // MIN - MAX wraps to 1 ms
    }
}
