//! The 5.x rules of the store's own recovery (target version 5.3.3), where they differ from
//! 4.6.0 (`docs/format.md` §12.1):
//! * `forceVerifyPropCRC` (with `checkCRCOnRecover`): each record's `__CRC32#` property is
//!   checked instead of its body CRC, and recovery ends at a record without the property or
//!   with a wrong one (`CommitLog#checkMessageAndReturnSize`, 5.3.3);
//! * normal recovery starts at the last segment whose start is not beyond the consume queues'
//!   largest physical end (`CommitLog#recoverNormally`), not at the third-last segment;
//! * `abort` holds the broker's PID (`DefaultMessageStore#createTempFile` through
//!   `MixAll#string2File`, which also leaves the previous content in `abort.bak`).

use std::path::Path;

use crate::format::properties;
use crate::format::record::MessageRecord;
use crate::v5::crc::{CRC32_RESERVED_LEN, PROPERTY_CRC32};

/// Java's `forceVerifyPropCRC` check of one record (`bytes` = the whole record): the property
/// is looked up anywhere in the properties, its digits read least-significant first in Java
/// `int` arithmetic, and compared with `UtilAll.crc32` of the record without its last 20 bytes.
/// `Err` says why recovery stops at this record.
pub fn check_prop_crc(record: &MessageRecord<'_>, bytes: &[u8]) -> Result<(), String> {
    let Some(value) = properties::get(record.properties, PROPERTY_CRC32) else {
        return Err("forceVerifyPropCRC: the record has no __CRC32# property".into());
    };
    let mut expected: i32 = 0;
    let units: Vec<u16> = value.encode_utf16().collect();
    for &c in units.iter().rev() {
        let num = i32::from(c) - i32::from(b'0');
        expected = expected.wrapping_mul(10).wrapping_add(num);
    }
    if expected < 0 {
        return Err(format!(
            "forceVerifyPropCRC: __CRC32# value {value:?} is not a CRC"
        ));
    }
    if bytes.len() < CRC32_RESERVED_LEN {
        return Err("forceVerifyPropCRC: record shorter than the __CRC32# tail".into());
    }
    let computed =
        (crc32fast::hash(&bytes[..bytes.len() - CRC32_RESERVED_LEN]) & 0x7FFF_FFFF) as i32;
    if computed != expected {
        return Err(format!(
            "forceVerifyPropCRC: __CRC32# says {expected}, the record's CRC is {computed}"
        ));
    }
    Ok(())
}

/// The segment 5.3.3's normal recovery starts at: from the last, the first whose start is not
/// beyond `max_phy_of_cq` (the consume queues' largest physical end); segment 0 at worst.
pub fn normal_start_index(starts: &[u64], max_phy_of_cq: i64) -> usize {
    let mut index = starts.len().saturating_sub(1);
    while index > 0 {
        if starts[index] as i64 <= max_phy_of_cq {
            break;
        }
        index -= 1;
    }
    index
}

/// Writes `abort` as 5.3.3 does on start: the previous content (empty for a new file) goes to
/// `abort.bak`, then the PID (decimal text, no line end) replaces `abort` through `abort.tmp`.
/// `prev` is what `abort` held before this start (read before it was created or truncated).
pub fn write_abort_with_pid(abort: &Path, prev: &[u8]) -> std::io::Result<()> {
    let name = abort
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "abort".into());
    let tmp = abort.with_file_name(format!("{name}.tmp"));
    let bak = abort.with_file_name(format!("{name}.bak"));
    std::fs::write(&tmp, std::process::id().to_string())?;
    std::fs::write(&bak, prev)?;
    std::fs::rename(&tmp, abort)?;
    if let Some(dir) = abort.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_start_is_the_segment_holding_the_queue_end() {
        let starts = [0, 100, 200, 300, 400];
        assert_eq!(normal_start_index(&starts, 450), 4);
        assert_eq!(normal_start_index(&starts, 400), 4);
        assert_eq!(normal_start_index(&starts, 399), 3);
        assert_eq!(normal_start_index(&starts, 150), 1);
        // No queue (-1): Java walks down to the first segment.
        assert_eq!(normal_start_index(&starts, -1), 0);
        assert_eq!(normal_start_index(&[], 10), 0);
    }
}
