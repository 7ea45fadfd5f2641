//! The properties string: `name 0x01 value 0x02` for each entry, UTF-8.
//!
//! Parsing follows 4.6.0 `MessageDecoder#string2messageProperties`: split on 0x02, then on 0x01,
//! keep only items with exactly two parts (so empty values are dropped); a repeated name keeps
//! its last value, as a `HashMap` would.

use std::borrow::Cow;

use super::hash::java_string_hash;

pub const NAME_VALUE_SEPARATOR: u8 = 0x01;
pub const PROPERTY_SEPARATOR: u8 = 0x02;

pub const KEYS: &str = "KEYS";
pub const TAGS: &str = "TAGS";
#[cfg(any(feature = "cli", feature = "internals"))]
pub const UNIQ_KEY: &str = "UNIQ_KEY";
pub const DELAY: &str = "DELAY";
pub const REAL_TOPIC: &str = "REAL_TOPIC";
pub const REAL_QID: &str = "REAL_QID";
#[cfg(any(feature = "cli", feature = "internals"))]
pub const WAIT: &str = "WAIT";
#[cfg(feature = "internals")]
pub const CRC32: &str = "__CRC32#";

/// Iterates the (name, value) pairs of a properties string as Java 4.6.0 parses it, without
/// allocating.
pub fn iter(props: &[u8]) -> PropertyIter<'_> {
    PropertyIter { rest: props }
}

/// Iterator over the pairs of a properties string; see [`iter`].
pub struct PropertyIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for PropertyIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // Java splits on 0x02, then each item on 0x01, dropping trailing empty parts; an item
        // counts only when exactly two parts remain: a name and a non-empty value, after which
        // nothing but 0x01 separators may follow ("k\x01v\x01\x01" is still two parts).
        // (Measured: a vectorized search per field beats both a plain byte loop and a single
        // separator iterator on real properties strings.)
        loop {
            let rest = self.rest;
            if rest.is_empty() {
                return None;
            }
            let Some(i) = memchr::memchr2(NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR, rest) else {
                self.rest = &[];
                return None; // a last item without 0x01: one part
            };
            if rest[i] == PROPERTY_SEPARATOR {
                self.rest = &rest[i + 1..];
                continue; // an item without 0x01: one part
            }
            let name = &rest[..i];
            let after = &rest[i + 1..];
            let (value, valid) =
                match memchr::memchr2(NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR, after) {
                    None => {
                        self.rest = &[];
                        (after, true)
                    }
                    Some(j) if after[j] == PROPERTY_SEPARATOR => {
                        self.rest = &after[j + 1..];
                        (&after[..j], true)
                    }
                    Some(j) => {
                        // More 0x01: fine only if nothing else follows up to the item's end.
                        let tail = &after[j..];
                        let k = memchr::memchr(PROPERTY_SEPARATOR, tail).unwrap_or(tail.len());
                        self.rest = tail.get(k + 1..).unwrap_or(&[]);
                        (
                            &after[..j],
                            tail[..k].iter().all(|&b| b == NAME_VALUE_SEPARATOR),
                        )
                    }
                };
            if valid && !value.is_empty() {
                return Some((name, value));
            }
        }
    }
}

/// The value of `name` (the last occurrence wins), decoded as UTF-8 with replacement as Java does.
pub fn get<'a>(props: &'a [u8], name: &str) -> Option<Cow<'a, str>> {
    let mut found = None;
    for (n, v) in iter(props) {
        if n == name.as_bytes() {
            found = Some(v);
        }
    }
    found.map(String::from_utf8_lossy)
}

/// The fields of a properties string that the store itself acts on, found in one pass.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StoreProperties<'a> {
    /// `KEYS`.
    pub keys: Option<Cow<'a, str>>,
    /// `TAGS`.
    pub tags: Option<Cow<'a, str>>,
    /// `UNIQ_KEY`.
    pub uniq_key: Option<Cow<'a, str>>,
    /// `DELAY` (the delay level).
    pub delay: Option<Cow<'a, str>>,
    /// `WAIT` (wait for the store to be durable).
    pub wait: Option<Cow<'a, str>>,
}

impl<'a> StoreProperties<'a> {
    /// Parses a properties string that is already known to be UTF-8, without re-validating
    /// it (the put path: a `Message`'s properties are a `String`).
    pub fn parse_str(props: &'a str) -> Self {
        let mut sp = StoreProperties::default();
        let bytes = props.as_bytes();
        for (name, value) in iter(bytes) {
            if let Some(slot) = sp.slot(name) {
                // The value's offset inside `props`: it lies between ASCII separators, so both
                // ends are char boundaries and slicing the str cannot fail.
                let v_start = value.as_ptr() as usize - bytes.as_ptr() as usize;
                *slot = Some(Cow::Borrowed(&props[v_start..v_start + value.len()]));
            }
        }
        sp
    }

    /// Picks the properties the store reads out of the encoded properties.
    pub fn parse(props: &'a [u8]) -> Self {
        // Valid text (the normal case) is checked once as a whole rather than value by value.
        if let Ok(text) = std::str::from_utf8(props) {
            return Self::parse_str(text);
        }
        let mut sp = StoreProperties::default();
        for (name, value) in iter(props) {
            if let Some(slot) = sp.slot(name) {
                // The strict check first: it is much faster on valid text (the normal case).
                *slot = Some(super::record::utf8_lossy(value));
            }
        }
        sp
    }

    /// The field a property name fills, if the store acts on it.
    fn slot(&mut self, name: &[u8]) -> Option<&mut Option<Cow<'a, str>>> {
        Some(match name {
            b"KEYS" => &mut self.keys,
            b"TAGS" => &mut self.tags,
            b"UNIQ_KEY" => &mut self.uniq_key,
            b"DELAY" => &mut self.delay,
            b"WAIT" => &mut self.wait,
            _ => return None,
        })
    }

    /// False only for `WAIT=false`: the put does not wait for its flush.
    pub fn wants_wait(&self) -> bool {
        self.wait.as_deref() != Some("false")
    }

    /// The non-empty business keys of `KEYS`, split on single spaces as Java does.
    pub fn key_tokens(&self) -> impl Iterator<Item = &str> {
        self.keys
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|k| !k.is_empty())
    }
}

/// Serializes pairs in the given order: `name 0x01 value 0x02` each.
pub fn encode<'a, I>(pairs: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut s = String::new();
    for (n, v) in pairs {
        s.push_str(n);
        s.push(NAME_VALUE_SEPARATOR as char);
        s.push_str(v);
        s.push(PROPERTY_SEPARATOR as char);
    }
    s
}

/// Orders entries as a `java.util.HashMap<String,String>` with default capacity would iterate
/// them after they were `put` in the given order (a repeated name updates the value in place).
///
/// Java iterates bucket by bucket (`(h ^ h>>>16) & (cap-1)`), each bucket in insertion order; the
/// table starts at 16 and doubles when the size passes 3/4 of the capacity, or when one bucket
/// reaches 9 entries while the table is below 64. Tree bins (9+ colliding entries in a table of
/// 64 or more) are not emulated: no real properties map comes near that.
pub fn java_hashmap_order(entries: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut unique: Vec<(String, String)> = Vec::with_capacity(entries.len());
    let mut cap: usize = 16;
    let buckets_of = |list: &Vec<(String, String)>, cap: usize| -> Vec<usize> {
        list.iter().map(|(k, _)| spread(k) & (cap - 1)).collect()
    };
    for (k, v) in entries {
        if let Some(e) = unique.iter_mut().find(|(n, _)| *n == k) {
            e.1 = v;
            continue;
        }
        let bucket = spread(&k) & (cap - 1);
        let in_bucket = buckets_of(&unique, cap)
            .iter()
            .filter(|&&b| b == bucket)
            .count();
        unique.push((k, v));
        if in_bucket >= 8 && cap < 64 {
            cap *= 2; // treeifyBin on a small table resizes instead
        }
        if unique.len() > cap * 3 / 4 {
            cap *= 2;
        }
    }
    let buckets = buckets_of(&unique, cap);
    let mut idx: Vec<usize> = (0..unique.len()).collect();
    idx.sort_by_key(|&i| (buckets[i], i)); // stable: insertion order within a bucket
    let mut slots: Vec<Option<(String, String)>> = unique.into_iter().map(Some).collect();
    idx.into_iter().map(|i| slots[i].take().unwrap()).collect()
}

fn spread(k: &str) -> usize {
    let h = java_string_hash(k) as u32;
    (h ^ (h >> 16)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_like_java() {
        let p =
            b"A\x011\x02B\x01\x02\x01x\x02C\x01a\x01b\x02D\x012\x02A\x013\x02E\x014\x01\x01\x02";
        let v: Vec<_> = iter(p).collect();
        assert_eq!(
            v,
            vec![
                (&b"A"[..], &b"1"[..]),
                (&b""[..], &b"x"[..]),
                (&b"D"[..], &b"2"[..]),
                (&b"A"[..], &b"3"[..]),
                (&b"E"[..], &b"4"[..])
            ]
        );
        assert_eq!(get(p, "A").as_deref(), Some("3"));
        assert_eq!(get(p, "B"), None);
        assert_eq!(get(p, "C"), None);
    }

    /// Java's `String.split` for a one-character separator: trailing empty parts removed.
    fn java_split(s: &[u8], sep: u8) -> Vec<&[u8]> {
        let mut parts: Vec<&[u8]> = s.split(|&b| b == sep).collect();
        while parts.last().is_some_and(|p| p.is_empty()) {
            parts.pop();
        }
        parts
    }

    proptest::proptest! {
        #[test]
        fn iter_matches_java_split(raw in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'b', NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR]),
            0..48,
        )) {
            let want: Vec<(&[u8], &[u8])> = java_split(&raw, PROPERTY_SEPARATOR)
                .into_iter()
                .filter_map(|item| {
                    let parts = java_split(item, NAME_VALUE_SEPARATOR);
                    (parts.len() == 2).then(|| (parts[0], parts[1]))
                })
                .collect();
            let got: Vec<(&[u8], &[u8])> = iter(&raw).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn store_properties_and_keys() {
        let p = encode([("KEYS", " k1  k2 "), ("TAGS", "T"), ("UNIQ_KEY", "U")]);
        assert_eq!(
            StoreProperties::parse_str(&p),
            StoreProperties::parse(p.as_bytes())
        );
        let uni = encode([("KEYS", "键 k"), ("TAGS", "标签"), ("WAIT", "false")]);
        let su = StoreProperties::parse_str(&uni);
        assert_eq!(su, StoreProperties::parse(uni.as_bytes()));
        assert!(!su.wants_wait());
        let sp = StoreProperties::parse(p.as_bytes());
        assert_eq!(sp.key_tokens().collect::<Vec<_>>(), vec!["k1", "k2"]);
        assert_eq!(sp.tags.as_deref(), Some("T"));
        assert_eq!(sp.uniq_key.as_deref(), Some("U"));
        assert_eq!(sp.delay, None);
    }

    #[test]
    fn invalid_utf8_is_replaced_only_where_it_is() {
        let p = b"KEYS\x01k\xff1 k2\x02TAGS\x01T\x02X\x01\xfe\x02UNIQ_KEY\x01U\x02";
        let sp = StoreProperties::parse(p);
        assert_eq!(sp.keys.as_deref(), Some("k\u{fffd}1 k2"));
        assert_eq!(sp.tags.as_deref(), Some("T"));
        assert!(matches!(sp.tags, Some(Cow::Borrowed(_))));
        assert_eq!(sp.uniq_key.as_deref(), Some("U"));
        let valid = encode([("KEYS", "k1 k2"), ("TAGS", "标签"), ("DELAY", "3")]);
        let sv = StoreProperties::parse(valid.as_bytes());
        assert_eq!(sv, StoreProperties::parse_str(&valid));
        assert!(matches!(sv.keys, Some(Cow::Borrowed("k1 k2"))));
    }

    #[test]
    fn hashmap_order_matches_java() {
        // 4.6.0 CommitLog#putMessage rewrites a delayed message's properties through a HashMap.
        // The async fixture's record seq 123 was stored with this order; its producer string
        // listed the same names without REAL_TOPIC/REAL_QID, which the store then added.
        let put = |names: &[&str]| {
            java_hashmap_order(
                names
                    .iter()
                    .map(|n| (n.to_string(), String::new()))
                    .collect(),
            )
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
        };
        assert_eq!(
            put(&[
                "UNIQ_KEY",
                "CLUSTER",
                "WAIT",
                "DELAY",
                "TAGS",
                "REAL_TOPIC",
                "REAL_QID"
            ]),
            vec![
                "REAL_TOPIC",
                "UNIQ_KEY",
                "CLUSTER",
                "WAIT",
                "DELAY",
                "TAGS",
                "REAL_QID"
            ]
        );
        // KEYS hashes to bucket 7, before UNIQ_KEY and CLUSTER (bucket 12).
        assert_eq!(
            put(&["UNIQ_KEY", "CLUSTER", "WAIT", "TAGS", "KEYS"]),
            vec!["KEYS", "UNIQ_KEY", "CLUSTER", "WAIT", "TAGS"]
        );
        // 13 distinct names pass the 3/4 threshold of 16: the table doubles to 32.
        let many: Vec<String> = (0..13).map(|i| format!("k{i}")).collect();
        let refs: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
        let got = put(&refs);
        let mut want = many.clone();
        want.sort_by_key(|k| (spread(k) & 31, many.iter().position(|m| m == k)));
        assert_eq!(got, want);
    }
}
