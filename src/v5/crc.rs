//! The 5.x `__CRC32#` property on the write path (`enabledAppendPropCRC`). Java: the encoder
//! (`MessageExtEncoder#encode`) reserves 20 bytes at the end of the properties, after one 0x02
//! if the properties do not already end with it; `CommitLog.DefaultAppendMessageCallback
//! #doAppend` then computes `UtilAll.crc32` (CRC-32 masked to 31 bits) over the whole record
//! except those 20 bytes, once the queue offset, physical offset and store timestamp are final,
//! and writes `__CRC32#` 0x01, ten ASCII digits least-significant first, 0x02
//! (`MessageDecoder#createCrc32`). An incoming `__CRC32#` property is deleted first
//! (`MessageExtBrokerInner#deleteProperty`).

use std::borrow::Cow;

/// The property name.
pub const PROPERTY_CRC32: &str = "__CRC32#";
/// `CommitLog.CRC32_RESERVED_LEN`: name, 0x01, ten digits, 0x02.
pub const CRC32_RESERVED_LEN: usize = 20;
/// What the reserved tail holds until [`seal`] fills in the digits.
const PLACEHOLDER: &str = "__CRC32#\u{1}0000000000\u{2}";

/// The reserved tail as [`reserve`] appends it (before sealing).
pub fn placeholder() -> &'static str {
    PLACEHOLDER
}

/// `MessageUtils#deleteProperty`: removes every `name 0x01 value 0x02` item (an item starts at
/// the beginning or after 0x02); an item with no closing 0x02 is cut with everything after it.
pub fn delete_property<'a>(props: &'a str, name: &str) -> Cow<'a, str> {
    let b = props.as_bytes();
    let is_item_at = |i: usize| {
        (i == 0 || b[i - 1] == 0x02) && b.len() > i + name.len() && b[i + name.len()] == 0x01
    };
    let mut found = props
        .match_indices(name)
        .map(|(i, _)| i)
        .filter(|&i| is_item_at(i));
    let Some(first) = found.next() else {
        return Cow::Borrowed(props);
    };
    let mut out = String::with_capacity(props.len());
    let mut from = 0;
    let mut at = Some(first);
    while let Some(i) = at {
        out.push_str(&props[from..i]);
        match props[i + name.len() + 1..].find('\u{2}') {
            Some(end) => from = i + name.len() + 1 + end + 1,
            None => return Cow::Owned(out),
        }
        at = props[from..]
            .match_indices(name)
            .map(|(j, _)| j + from)
            .find(|&j| is_item_at(j));
    }
    out.push_str(&props[from..]);
    Cow::Owned(out)
}

/// The properties string a 5.x put with `enabledAppendPropCRC` encodes: any `__CRC32#` item
/// deleted, a 0x02 added if the rest does not end with one, and the 20-byte reserved tail.
pub fn reserve(props: &str) -> String {
    let mut s = delete_property(props, PROPERTY_CRC32).into_owned();
    if !s.is_empty() && !s.ends_with('\u{2}') {
        s.push('\u{2}');
    }
    s.push_str(PLACEHOLDER);
    s
}

/// Does an encoded record end with a reserved (or sealed) `__CRC32#` tail?
pub fn has_tail(record: &[u8]) -> bool {
    record.len() > CRC32_RESERVED_LEN
        && record[record.len() - CRC32_RESERVED_LEN..].starts_with(b"__CRC32#\x01")
        && record[record.len() - 1] == 0x02
}

/// Fills the record's last 20 bytes with its `__CRC32#` property, as `doAppend` does. The record
/// must be complete (offsets and store timestamp written) and end with the reserved tail.
pub fn seal(record: &mut [u8]) {
    debug_assert!(has_tail(record));
    let at = record.len() - CRC32_RESERVED_LEN;
    let mut crc = crc32fast::hash(&record[..at]) & 0x7FFF_FFFF;
    let tail = &mut record[at..];
    tail[..9].copy_from_slice(b"__CRC32#\x01");
    for d in &mut tail[9..19] {
        let mut b = b'0';
        if crc > 0 {
            b += (crc % 10) as u8;
            crc /= 10;
        }
        *d = b;
    }
    tail[19] = 0x02;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::verify_property_crc;

    #[test]
    fn delete_property_matches_java() {
        assert_eq!(
            delete_property("A\x01b\x02__CRC32#\x011\x02C\x01d\x02", PROPERTY_CRC32),
            "A\x01b\x02C\x01d\x02"
        );
        assert_eq!(delete_property("__CRC32#\x011\x02", PROPERTY_CRC32), "");
        assert_eq!(
            delete_property("A\x01b\x02__CRC32#\x011", PROPERTY_CRC32),
            "A\x01b\x02"
        );
        // A value or a longer name that merely contains the name is kept.
        let keep = "X\x01__CRC32#\x02Y__CRC32#\x01z\x02";
        assert_eq!(delete_property(keep, PROPERTY_CRC32), keep);
        assert!(matches!(
            delete_property("A\x01b\x02", PROPERTY_CRC32),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn reserve_and_seal_give_a_record_the_reader_accepts() {
        assert_eq!(reserve(""), PLACEHOLDER);
        assert_eq!(reserve("A\x01b"), format!("A\x01b\x02{PLACEHOLDER}"));
        assert_eq!(
            reserve("A\x01b\x02__CRC32#\x010123456789\x02"),
            format!("A\x01b\x02{PLACEHOLDER}")
        );
        let mut rec = vec![7u8; 120];
        rec.extend_from_slice(PLACEHOLDER.as_bytes());
        assert!(has_tail(&rec));
        seal(&mut rec);
        verify_property_crc(&rec).unwrap();
        let crc = crc32fast::hash(&rec[..rec.len() - 20]) & 0x7FFF_FFFF;
        let digits: String = crc.to_string().chars().rev().collect();
        let want = format!("{digits:0<10}");
        assert_eq!(&rec[rec.len() - 11..rec.len() - 1], want.as_bytes());
    }
}
