//! How a 5.x store re-serializes a message's properties when it adds one at put time
//! (`INNER_MULTI_QUEUE_OFFSET` for LMQ, `INNER_BASE` for an inner batch): Java puts the new
//! key into the message's `HashMap<String, String>` and writes the whole map again with
//! `MessageDecoder#messageProperties2String`, i.e. in `HashMap` iteration order: by bucket
//! (`(h ^ h >>> 16) & (capacity - 1)`, `h` = `String#hashCode`), and within a bucket in insertion
//! order (a resize splits buckets without reordering them).
//!
//! The map's capacity depends on who built it: a 5.x broker parses the client's properties
//! with `MessageDecoder#string2messageProperties` (`new HashMap<>(128)`), so the store's put path
//! uses [`BROKER_MAP_CAPACITY`]; a map filled key by key from `new HashMap<>()` (as the
//! interop driver does) starts at 16 ([`DEFAULT_MAP_CAPACITY`]). Buckets that turn into trees
//! (8 keys in one bucket) are not modelled.

use crate::format::properties::{NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR};

/// `new HashMap<>(128)` in `MessageDecoder#string2messageProperties`.
pub const BROKER_MAP_CAPACITY: usize = 128;
/// `new HashMap<>()`.
#[cfg_attr(
    not(any(test, feature = "internals")),
    expect(dead_code, reason = "the capacity of a plain HashMap; our unit tests serialize with it")
)]
pub const DEFAULT_MAP_CAPACITY: usize = 16;

/// Java `String#hashCode` (over UTF-16 code units).
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

fn bucket(key: &str, capacity: usize) -> usize {
    let h = java_string_hash(key) as u32;
    ((h ^ (h >> 16)) as usize) & (capacity - 1)
}

/// The entries of a properties string as `MessageDecoder#string2messageProperties` keeps them,
/// in insertion order: a pair needs a non-empty name and a non-empty value; a repeated name
/// replaces the earlier value in place.
pub fn java_parse(props: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in props.split(PROPERTY_SEPARATOR as char) {
        if part.len() < 3 {
            continue;
        }
        let Some(sep) = part.find(NAME_VALUE_SEPARATOR as char) else {
            continue;
        };
        if sep == 0 || sep + 1 >= part.len() {
            continue;
        }
        let (k, v) = (&part[..sep], &part[sep + 1..]);
        java_put(&mut out, k, v);
    }
    out
}

/// `HashMap#put` on an insertion-ordered entry list: replaces in place, else appends.
pub fn java_put(entries: &mut Vec<(String, String)>, key: &str, value: &str) {
    match entries.iter_mut().find(|(k, _)| k == key) {
        Some(e) => e.1 = value.to_string(),
        None => entries.push((key.to_string(), value.to_string())),
    }
}

/// `messageProperties2String` of a `HashMap` created with `initial_capacity` into which
/// `entries` were put in this order.
pub fn java_serialize(entries: &[(String, String)], initial_capacity: usize) -> String {
    let mut capacity = initial_capacity.max(1).next_power_of_two();
    // Resize whenever the size exceeds 0.75 × capacity.
    while entries.len() > capacity / 4 * 3 {
        capacity *= 2;
    }
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| bucket(&entries[i].0, capacity));
    let mut s = String::with_capacity(entries.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for i in order {
        let (k, v) = &entries[i];
        s.push_str(k);
        s.push(NAME_VALUE_SEPARATOR as char);
        s.push_str(v);
        s.push(PROPERTY_SEPARATOR as char);
    }
    s
}

/// What a 5.x broker's store writes after putting `key = value` into the properties of a
/// message it parsed from `props` (see the module doc).
pub fn broker_put(props: &str, key: &str, value: &str) -> String {
    let mut entries = java_parse(props);
    java_put(&mut entries, key, value);
    java_serialize(&entries, BROKER_MAP_CAPACITY)
}

/// The same property set with `key`'s value replaced where it stands (or `key = value`
/// appended): for replaying a record as it was stored, whose order is already Java's.
pub fn replace_in_place(props: &str, key: &str, value: &str) -> String {
    let mut out = String::with_capacity(props.len() + key.len() + value.len() + 2);
    let mut found = false;
    let mut rest = props;
    while !rest.is_empty() {
        let (part, tail) = match rest.find(PROPERTY_SEPARATOR as char) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        match part.split_once(NAME_VALUE_SEPARATOR as char) {
            Some((k, _)) if k == key && !found => {
                found = true;
                out.push_str(k);
                out.push(NAME_VALUE_SEPARATOR as char);
                out.push_str(value);
            }
            _ => out.push_str(part),
        }
        match tail {
            Some(t) => {
                out.push(PROPERTY_SEPARATOR as char);
                rest = t;
            }
            None => rest = "",
        }
    }
    if !found {
        if !out.is_empty() && !out.ends_with(PROPERTY_SEPARATOR as char) {
            out.push(PROPERTY_SEPARATOR as char);
        }
        out.push_str(key);
        out.push(NAME_VALUE_SEPARATOR as char);
        out.push_str(value);
        out.push(PROPERTY_SEPARATOR as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn hash_is_javas() {
        // "hello".hashCode() == 99162322; "" == 0; non-BMP chars hash their surrogates.
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("UNIQ_KEY"), 488471169);
        assert_eq!(java_string_hash("INNER_MULTI_QUEUE_OFFSET"), -1046529616);
        assert_eq!(java_string_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn serializes_in_hashmap_order() {
        // The order Java 5.3.3 wrote for the lmq fixture (a `new HashMap<>()` filled by the
        // driver: TAGS, KEYS, CLUSTER, UNIQ_KEY, INNER_MULTI_DISPATCH, then the store's put).
        let e = p(&[
            ("TAGS", "T"),
            ("KEYS", "k"),
            ("CLUSTER", "c"),
            ("UNIQ_KEY", "u"),
            ("INNER_MULTI_DISPATCH", "%LMQ%a"),
            ("INNER_MULTI_QUEUE_OFFSET", "0"),
        ]);
        let s = java_serialize(&e, DEFAULT_MAP_CAPACITY);
        let names: Vec<&str> = s
            .split('\u{2}')
            .filter(|s| !s.is_empty())
            .map(|s| s.split('\u{1}').next().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "KEYS",
                "CLUSTER",
                "UNIQ_KEY",
                "INNER_MULTI_DISPATCH",
                "TAGS",
                "INNER_MULTI_QUEUE_OFFSET"
            ]
        );
    }

    #[test]
    fn parse_drops_what_java_drops_and_replace_keeps_order() {
        let e = java_parse("A\u{1}1\u{2}\u{1}x\u{2}B\u{1}\u{2}A\u{1}2\u{2}C\u{1}3");
        assert_eq!(e, p(&[("A", "2"), ("C", "3")]));
        assert_eq!(
            replace_in_place("A\u{1}1\u{2}X\u{1}old\u{2}B\u{1}2\u{2}", "X", "new"),
            "A\u{1}1\u{2}X\u{1}new\u{2}B\u{1}2\u{2}"
        );
        assert_eq!(
            replace_in_place("A\u{1}1", "X", "9"),
            "A\u{1}1\u{2}X\u{1}9\u{2}"
        );
        assert_eq!(replace_in_place("", "X", "9"), "X\u{1}9\u{2}");
    }
}
