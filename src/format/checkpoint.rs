//! The `checkpoint` file: 4096 bytes of which the first 40 hold big-endian longs.

use super::{get_i64, put_i64, FormatError, Problem};

/// Size of the checkpoint file (one OS page).
pub const CHECKPOINT_FILE_SIZE: usize = 4096;

/// The checkpoint values. 4.6.0 uses the first three; 5.x adds the last two.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub physic_msg_timestamp: i64,
    pub logics_msg_timestamp: i64,
    pub index_msg_timestamp: i64,
    /// 5.x: HA master flushed offset.
    pub master_flushed_offset: i64,
    /// 5.x: confirm offset.
    pub confirm_phy_offset: i64,
}

impl Checkpoint {
    pub fn decode(buf: &[u8]) -> Result<Checkpoint, FormatError> {
        if buf.len() < 24 {
            return Err(FormatError::new(
                0,
                Problem::Truncated {
                    what: "checkpoint",
                    need: 24,
                    have: buf.len() as u64,
                },
            ));
        }
        Ok(Checkpoint {
            physic_msg_timestamp: get_i64(buf, 0).unwrap_or(0),
            logics_msg_timestamp: get_i64(buf, 8).unwrap_or(0),
            index_msg_timestamp: get_i64(buf, 16).unwrap_or(0),
            master_flushed_offset: get_i64(buf, 24).unwrap_or(0),
            confirm_phy_offset: get_i64(buf, 32).unwrap_or(0),
        })
    }

    /// Writes the three 4.6.0 fields; the 5.x fields are written only when `with_v5` is set, so
    /// a 5.x store keeps the values its broker wrote.
    pub fn encode_into(&self, buf: &mut [u8], with_v5: bool) {
        put_i64(buf, 0, self.physic_msg_timestamp);
        put_i64(buf, 8, self.logics_msg_timestamp);
        put_i64(buf, 16, self.index_msg_timestamp);
        if with_v5 {
            put_i64(buf, 24, self.master_flushed_offset);
            put_i64(buf, 32, self.confirm_phy_offset);
        }
    }

    /// Records what consume queues and the index have made durable: the store time of the last
    /// dispatched record and the end time of the last full index file (0 means "nothing new").
    pub fn advance(&mut self, logics_msg_timestamp: i64, index_msg_timestamp: i64) {
        if logics_msg_timestamp > 0 {
            self.logics_msg_timestamp = logics_msg_timestamp;
        }
        if index_msg_timestamp > 0 {
            self.index_msg_timestamp = index_msg_timestamp;
        }
    }

    /// `StoreCheckpoint#getMinTimestamp`: the older of physic and logics, minus 3 s, floored at 0.
    pub fn min_timestamp(&self) -> i64 {
        self.physic_msg_timestamp
            .min(self.logics_msg_timestamp)
            .saturating_sub(3000)
            .max(0)
    }

    /// `getMinTimestampIndex`: the minimum of [`min_timestamp`](Self::min_timestamp) and index.
    pub fn min_timestamp_index(&self) -> i64 {
        self.min_timestamp().min(self.index_msg_timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_min() {
        let c = Checkpoint {
            physic_msg_timestamp: 10_000,
            logics_msg_timestamp: 9_000,
            index_msg_timestamp: 5_000,
            master_flushed_offset: 0,
            confirm_phy_offset: 0,
        };
        let mut b = vec![0u8; CHECKPOINT_FILE_SIZE];
        c.encode_into(&mut b, false);
        assert_eq!(Checkpoint::decode(&b).unwrap(), c);
        assert_eq!(c.min_timestamp(), 6_000);
        assert_eq!(c.min_timestamp_index(), 5_000);
        assert!(Checkpoint::decode(&b[..10]).is_err());
    }
}
