//! Java-compatible hashes: `String.hashCode`, the index key hash, the masked body CRC and the
//! consume-queue tagsCode.

/// Java `String.hashCode()`: `h = 31*h + c` over the UTF-16 code units, wrapping at 32 bits.
///
/// A character outside the Basic Multilingual Plane counts as its two surrogate code units, as
/// in Java, so hashing the UTF-8 bytes would give a different (wrong) answer.
pub fn java_string_hash(s: &str) -> i32 {
    java_hash_extend(0, s)
}

/// Continues a Java string hash: `java_hash_extend(java_string_hash(a), b)` is the hash of
/// `a + b` (the hash is a polynomial over code units, so a shared prefix is hashed once).
pub fn java_hash_extend(mut h: i32, s: &str) -> i32 {
    let bytes = s.as_bytes();
    if bytes.is_ascii() {
        // One UTF-16 code unit per byte; four at a time so the multiplies overlap:
        // h*31^4 + b0*31^3 + b1*31^2 + b2*31 + b3.
        let mut chunks = bytes.chunks_exact(4);
        for c in &mut chunks {
            h = h
                .wrapping_mul(923_521)
                .wrapping_add((c[0] as i32).wrapping_mul(29_791))
                .wrapping_add((c[1] as i32).wrapping_mul(961))
                .wrapping_add((c[2] as i32).wrapping_mul(31))
                .wrapping_add(c[3] as i32);
        }
        for &b in chunks.remainder() {
            h = h.wrapping_mul(31).wrapping_add(b as i32);
        }
        return h;
    }
    for unit in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    h
}

/// `abs` of a Java hash as `IndexFile#indexKeyHashMethod` takes it (`Integer.MIN_VALUE` → 0).
pub fn index_hash_of(h: i32) -> i32 {
    let h = h.wrapping_abs();
    if h < 0 {
        0
    } else {
        h
    }
}

/// The index key hash of `IndexFile#indexKeyHashMethod`: `abs(hashCode)`, and 0 for the one
/// value (`Integer.MIN_VALUE`) whose absolute value is still negative.
pub fn index_key_hash(key: &str) -> i32 {
    index_hash_of(java_string_hash(key))
}

/// `UtilAll.crc32(body) & 0x7FFFFFFF`: the standard IEEE CRC-32 with the sign bit cleared.
pub fn body_crc(body: &[u8]) -> u32 {
    crc32fast::hash(body) & 0x7FFF_FFFF
}

/// `MessageExtBrokerInner#tagsString2tagsCode`: the Java hash of the tags, sign-extended;
/// 0 when there are no tags or they are empty.
pub fn tags_code(tags: Option<&str>) -> i64 {
    match tags {
        Some(t) if !t.is_empty() => java_string_hash(t) as i64,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_known_values() {
        // Values computed by Java's String.hashCode.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("TagA"), 2598919);
        assert_eq!(java_string_hash("hello"), 99162322);
        // Wraps around 32 bits.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // A supplementary character hashes as two UTF-16 surrogates: 0xD83D, 0xDE00.
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn extend_is_hash_of_concatenation() {
        for (a, b) in [
            ("TopicTest#", "order-1"),
            ("", "x"),
            ("T#", "标签😀"),
            ("abcdefg", "hijklmnop"),
        ] {
            assert_eq!(
                java_hash_extend(java_string_hash(a), b),
                java_string_hash(&format!("{a}{b}"))
            );
        }
        // The four-at-a-time loop against the plain definition.
        let s = "polygenelubricants-0123456789";
        let plain = s
            .bytes()
            .fold(0i32, |h, b| h.wrapping_mul(31).wrapping_add(b as i32));
        assert_eq!(java_string_hash(s), plain);
    }

    #[test]
    fn index_hash_of_min_value_is_zero() {
        assert_eq!(index_key_hash("polygenelubricants"), 0);
        assert_eq!(index_key_hash("TagA"), 2598919);
        assert!(index_key_hash("Aa") >= 0);
    }

    #[test]
    fn crc_is_masked() {
        assert_eq!(body_crc(b""), 0);
        assert_eq!(body_crc(b"123456789"), 0xCBF43926 & 0x7FFF_FFFF);
    }

    #[test]
    fn tags_code_rules() {
        assert_eq!(tags_code(None), 0);
        assert_eq!(tags_code(Some("")), 0);
        assert_eq!(tags_code(Some("TagA")), 2598919);
        assert_eq!(tags_code(Some("polygenelubricants")), i32::MIN as i64);
    }
}
