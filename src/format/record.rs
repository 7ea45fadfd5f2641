//! Commitlog records: the message record (magic V1 or V2) and the blank end-of-segment record.
//!
//! Layout (IPv4 hosts, V1), all big-endian:
//!
//! | offset | field |
//! |---|---|
//! | 0 | TOTALSIZE i32 |
//! | 4 | MAGICCODE i32 |
//! | 8 | BODYCRC i32 |
//! | 12 | QUEUEID i32 |
//! | 16 | FLAG i32 |
//! | 20 | QUEUEOFFSET i64 |
//! | 28 | PHYSICALOFFSET i64 |
//! | 36 | SYSFLAG i32 |
//! | 40 | BORNTIMESTAMP i64 |
//! | 48 | BORNHOST 4+4 (or 16+4 when sysFlag bit 4) |
//! | 56 | STORETIMESTAMP i64 |
//! | 64 | STOREHOST 4+4 (or 16+4 when sysFlag bit 5) |
//! | 72 | RECONSUMETIMES i32 |
//! | 76 | PREPARED_TRANSACTION_OFFSET i64 |
//! | 84 | BODYLEN i32, BODY |
//! | .. | TOPICLEN i8 (V1) or i16 (V2), TOPIC |
//! | .. | PROPLEN i16, PROPERTIES |

use std::borrow::Cow;

use super::hash::body_crc;
use super::host::Host;
use super::properties::StoreProperties;
use super::{FormatError, Problem, Reader};

/// Magic of a V1 message record (`0xDAA320A7`).
pub const MAGIC_V1: u32 = 0xDAA3_20A7;
/// Magic of a V2 message record (`0xDAA320AB`, 5.x): a 2-byte topic length.
pub const MAGIC_V2: u32 = 0xDAA3_20AB;
/// Magic of the blank record that fills the end of a segment (`0xCBD43194`).
pub const BLANK_MAGIC: u32 = 0xCBD4_3194;
/// A blank record is its 8-byte header; whatever follows it in the segment is meaningless.
pub const MIN_BLANK_LEN: usize = 8;
/// The smallest possible message record: IPv4 hosts, V1, empty body, topic and properties.
pub const MIN_RECORD_LEN: usize = 91;
/// Byte position of the sysFlag field.
pub const SYS_FLAG_POS: usize = 36;

/// The store timestamp of the record at the start of `data` as Java 4.6.0's
/// `CommitLog#isMappedFileMatchedRecover` reads it when choosing where abnormal recovery starts:
/// past an 8-byte (IPv4) or 20-byte (IPv6) born host, as the record's sysFlag says. None when
/// `data` is too short.
pub fn recover_store_timestamp(data: &[u8]) -> Option<i64> {
    let sys_flag = i32::from_be_bytes(data.get(SYS_FLAG_POS..SYS_FLAG_POS + 4)?.try_into().ok()?);
    let born_host_len = if sys_flag & sysflag::BORNHOST_V6 == 0 {
        8
    } else {
        20
    };
    let pos = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + born_host_len;
    Some(i64::from_be_bytes(data.get(pos..pos + 8)?.try_into().ok()?))
}

/// The sysFlag bits (`MessageSysFlag`).
pub mod sysflag {
    #[cfg(any(feature = "cli", feature = "internals"))]
    pub const COMPRESSED: i32 = 0x1;
    #[cfg(any(feature = "cli", feature = "internals"))]
    pub const MULTI_TAGS: i32 = 0x2;
    pub const TRANSACTION_NOT_TYPE: i32 = 0;
    pub const TRANSACTION_PREPARED_TYPE: i32 = 0x4;
    pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
    pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;
    pub const BORNHOST_V6: i32 = 0x10;
    pub const STOREHOST_V6: i32 = 0x20;
    pub const NEED_UNWRAP: i32 = 0x40;
    pub const INNER_BATCH: i32 = 0x80;

    /// The transaction type bits of a sysFlag.
    pub fn tran_type(sys_flag: i32) -> i32 {
        sys_flag & TRANSACTION_ROLLBACK_TYPE
    }
}

/// Which record version a magic code announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Magic {
    /// 1-byte topic length (every version).
    V1,
    /// 2-byte topic length (5.x, topics over 127 characters).
    V2,
}

impl Magic {
    /// The magic code as written.
    pub fn code(self) -> u32 {
        match self {
            Magic::V1 => MAGIC_V1,
            Magic::V2 => MAGIC_V2,
        }
    }
    fn topic_len_bytes(self) -> usize {
        match self {
            Magic::V1 => 1,
            Magic::V2 => 2,
        }
    }
}

/// One message record, borrowing body, topic and properties from the buffer it was decoded
/// from (or that it will be encoded from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord<'a> {
    /// Record version.
    pub magic: Magic,
    /// BODYCRC.
    pub body_crc: i32,
    /// QUEUEID.
    pub queue_id: i32,
    /// FLAG.
    pub flag: i32,
    /// QUEUEOFFSET.
    pub queue_offset: i64,
    /// PHYSICALOFFSET.
    pub physical_offset: i64,
    /// SYSFLAG.
    pub sys_flag: i32,
    /// BORNTIMESTAMP.
    pub born_timestamp: i64,
    /// BORNHOST.
    pub born_host: Host,
    /// STORETIMESTAMP.
    pub store_timestamp: i64,
    /// STOREHOSTADDRESS.
    pub store_host: Host,
    /// RECONSUMETIMES.
    pub reconsume_times: i32,
    /// PREPARED TRANSACTION OFFSET.
    pub prepared_transaction_offset: i64,
    /// BODY.
    pub body: &'a [u8],
    /// TOPIC.
    pub topic: &'a [u8],
    /// PROPERTIES (encoded: `name\u0001value\u0002`).
    pub properties: &'a [u8],
}

/// What a decoder found at a position of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A valid message record of `total_size` bytes.
    Message {
        record: MessageRecord<'a>,
        total_size: u32,
    },
    /// The blank record that ends a segment; `total_size` runs to the segment end.
    Blank { total_size: u32 },
    /// Eight zero bytes: space that was never written.
    End,
}

/// The record length `calMsgLength` computes from the variable parts.
pub fn record_len(
    magic: Magic,
    sys_flag: i32,
    body_len: usize,
    topic_len: usize,
    props_len: usize,
) -> usize {
    let born = if sys_flag & sysflag::BORNHOST_V6 != 0 {
        20
    } else {
        8
    };
    let store = if sys_flag & sysflag::STOREHOST_V6 != 0 {
        20
    } else {
        8
    };
    4 + 4
        + 4
        + 4
        + 4
        + 8
        + 8
        + 4
        + 8
        + born
        + 8
        + store
        + 4
        + 8
        + 4
        + body_len
        + magic.topic_len_bytes()
        + topic_len
        + 2
        + props_len
}

/// Decodes what is at the start of `buf` (a record and anything after it, up to the segment
/// end). With `check_crc`, a non-empty body must match its BODYCRC, as Java's recovery checks.
///
/// Like Java's `checkMessageAndReturnSize`, the fields are read in order and the length they
/// add up to must equal TOTALSIZE; unlike Java, nothing is read past `buf`.
pub fn decode_record(buf: &[u8], check_crc: bool) -> Result<Decoded<'_>, FormatError> {
    let mut r = Reader::new(buf);
    let total = r.i32("record header")?;
    let magic_code = r.i32("record header")? as u32;
    let magic = match magic_code {
        MAGIC_V1 => Magic::V1,
        MAGIC_V2 => Magic::V2,
        BLANK_MAGIC => {
            if (total as i64) < MIN_BLANK_LEN as i64 {
                return Err(FormatError::new(0, Problem::BadBlankSize(total as i64)));
            }
            return Ok(Decoded::Blank {
                total_size: total as u32,
            });
        }
        0 if total == 0 => return Ok(Decoded::End),
        other => return Err(FormatError::new(4, Problem::BadMagic(other))),
    };
    if (total as i64) < MIN_RECORD_LEN as i64 {
        return Err(FormatError::new(0, Problem::BadTotalSize(total as i64)));
    }
    if total as usize > buf.len() {
        return Err(FormatError::new(
            0,
            Problem::Truncated {
                what: "record",
                need: total as u64,
                have: buf.len() as u64,
            },
        ));
    }
    let body_crc_v = r.i32("BODYCRC")?;
    let queue_id = r.i32("QUEUEID")?;
    let flag = r.i32("FLAG")?;
    let queue_offset = r.i64("QUEUEOFFSET")?;
    let physical_offset = r.i64("PHYSICALOFFSET")?;
    let sys_flag = r.i32("SYSFLAG")?;
    let born_timestamp = r.i64("BORNTIMESTAMP")?;
    let born_host = read_host(&mut r, sys_flag & sysflag::BORNHOST_V6 != 0, "BORNHOST")?;
    let store_timestamp = r.i64("STORETIMESTAMP")?;
    let store_host = read_host(&mut r, sys_flag & sysflag::STOREHOST_V6 != 0, "STOREHOST")?;
    let reconsume_times = r.i32("RECONSUMETIMES")?;
    let prepared_transaction_offset = r.i64("PREPARED_TRANSACTION_OFFSET")?;
    let body_len_pos = r.pos();
    let body_len = r.i32("BODYLEN")?;
    if body_len < 0 {
        return Err(FormatError::new(
            body_len_pos as u64,
            Problem::NegativeLength {
                field: "body",
                value: body_len as i64,
            },
        ));
    }
    let body = r.bytes(body_len as usize, "BODY")?;
    let topic_len_pos = r.pos();
    let topic_len = match magic {
        Magic::V1 => r.i8("TOPICLEN")? as i64,
        Magic::V2 => r.i16("TOPICLEN")? as i64,
    };
    if topic_len < 0 {
        return Err(FormatError::new(
            topic_len_pos as u64,
            Problem::NegativeLength {
                field: "topic",
                value: topic_len,
            },
        ));
    }
    let topic = r.bytes(topic_len as usize, "TOPIC")?;
    let props_len_pos = r.pos();
    let props_len = r.i16("PROPLEN")?;
    if props_len < 0 {
        return Err(FormatError::new(
            props_len_pos as u64,
            Problem::NegativeLength {
                field: "properties",
                value: props_len as i64,
            },
        ));
    }
    let properties = r.bytes(props_len as usize, "PROPERTIES")?;
    let computed = record_len(magic, sys_flag, body.len(), topic.len(), properties.len());
    if computed != total as usize {
        return Err(FormatError::new(
            0,
            Problem::LengthMismatch {
                declared: total as u64,
                computed: computed as u64,
            },
        ));
    }
    if check_crc && !body.is_empty() {
        let computed = body_crc(body);
        if computed != body_crc_v as u32 {
            return Err(FormatError::new(
                8,
                Problem::BodyCrc {
                    stored: body_crc_v as u32,
                    computed,
                },
            ));
        }
    }
    Ok(Decoded::Message {
        record: MessageRecord {
            magic,
            body_crc: body_crc_v,
            queue_id,
            flag,
            queue_offset,
            physical_offset,
            sys_flag,
            born_timestamp,
            born_host,
            store_timestamp,
            store_host,
            reconsume_times,
            prepared_transaction_offset,
            body,
            topic,
            properties,
        },
        total_size: total as u32,
    })
}

fn read_host(r: &mut Reader<'_>, v6: bool, what: &'static str) -> Result<Host, FormatError> {
    let addr = r.bytes(if v6 { 16 } else { 4 }, what)?;
    let port = r.i32(what)?;
    Ok(Host::from_bytes(addr, port))
}

impl<'a> MessageRecord<'a> {
    /// The encoded length of this record.
    pub fn encoded_len(&self) -> usize {
        record_len(
            self.magic,
            self.sys_flag,
            self.body.len(),
            self.topic.len(),
            self.properties.len(),
        )
    }

    /// The topic, decoded as UTF-8 (with replacement, as Java decodes it).
    pub fn topic_str(&self) -> Cow<'a, str> {
        utf8_lossy(self.topic)
    }

    /// The properties string, decoded as UTF-8 (with replacement).
    pub fn properties_str(&self) -> Cow<'a, str> {
        utf8_lossy(self.properties)
    }

    /// The transaction type bits of the sysFlag.
    pub fn tran_type(&self) -> i32 {
        sysflag::tran_type(self.sys_flag)
    }

    /// KEYS, TAGS, UNIQ_KEY and DELAY from the properties.
    pub fn store_properties(&self) -> StoreProperties<'a> {
        StoreProperties::parse(self.properties)
    }

    /// Checks that this record can be written: lengths fit their fields and the IPv6 bits of
    /// the sysFlag agree with the hosts.
    pub fn check_encodable(&self) -> Result<(), FormatError> {
        let invalid = |m: String| Err(FormatError::new(0, Problem::Invalid(m)));
        let max_topic = match self.magic {
            Magic::V1 => i8::MAX as usize,
            Magic::V2 => i16::MAX as usize,
        };
        if self.topic.len() > max_topic {
            return invalid(format!(
                "topic of {} bytes does not fit a {:?} record (at most {max_topic})",
                self.topic.len(),
                self.magic
            ));
        }
        if self.properties.len() > i16::MAX as usize {
            return invalid(format!(
                "properties of {} bytes exceed 32767",
                self.properties.len()
            ));
        }
        if self.encoded_len() > i32::MAX as usize {
            return invalid("record longer than 2 GiB".into());
        }
        if self.born_host.is_v6() != (self.sys_flag & sysflag::BORNHOST_V6 != 0) {
            return invalid("sysFlag bit 4 (born host IPv6) disagrees with the born host".into());
        }
        if self.store_host.is_v6() != (self.sys_flag & sysflag::STOREHOST_V6 != 0) {
            return invalid("sysFlag bit 5 (store host IPv6) disagrees with the store host".into());
        }
        Ok(())
    }

    /// Encodes the record into the front of `out` and returns its length. The caller must have
    /// called [`check_encodable`](Self::check_encodable) and sized `out` to at least
    /// [`encoded_len`](Self::encoded_len); a shorter `out` is an error, never a panic.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, FormatError> {
        let len = self.encoded_len();
        if out.len() < len {
            return Err(FormatError::new(
                0,
                Problem::Truncated {
                    what: "record buffer",
                    need: len as u64,
                    have: out.len() as u64,
                },
            ));
        }
        let mut w = Writer {
            buf: &mut out[..len],
            pos: 0,
        };
        w.i32(len as i32);
        w.i32(self.magic.code() as i32);
        w.i32(self.body_crc);
        w.i32(self.queue_id);
        w.i32(self.flag);
        w.i64(self.queue_offset);
        w.i64(self.physical_offset);
        w.i32(self.sys_flag);
        w.i64(self.born_timestamp);
        w.host(&self.born_host, self.sys_flag & sysflag::BORNHOST_V6 != 0);
        w.i64(self.store_timestamp);
        w.host(&self.store_host, self.sys_flag & sysflag::STOREHOST_V6 != 0);
        w.i32(self.reconsume_times);
        w.i64(self.prepared_transaction_offset);
        w.i32(self.body.len() as i32);
        w.bytes(self.body);
        match self.magic {
            Magic::V1 => w.bytes(&[self.topic.len() as u8]),
            Magic::V2 => w.bytes(&(self.topic.len() as i16).to_be_bytes()),
        }
        w.bytes(self.topic);
        w.bytes(&(self.properties.len() as i16).to_be_bytes());
        w.bytes(self.properties);
        debug_assert_eq!(w.pos, len);
        Ok(len)
    }

    /// Encodes into a new vector (tests and tools; the store encodes in place).
    pub fn to_vec(&self) -> Result<Vec<u8>, FormatError> {
        self.check_encodable()?;
        let mut v = vec![0u8; self.encoded_len()];
        self.encode_into(&mut v)?;
        Ok(v)
    }
}

/// `String::from_utf8_lossy` with the strict check first: valid text (the normal case) takes
/// the fast validation path and is borrowed.
pub fn utf8_lossy(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// Writes the 8-byte header of a blank record that fills `len` bytes.
pub fn encode_blank(out: &mut [u8], len: u32) {
    out[0..4].copy_from_slice(&(len as i32).to_be_bytes());
    out[4..8].copy_from_slice(&(BLANK_MAGIC as i32).to_be_bytes());
}

struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    #[inline]
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
    #[inline]
    fn i32(&mut self, v: i32) {
        self.bytes(&v.to_be_bytes());
    }
    #[inline]
    fn i64(&mut self, v: i64) {
        self.bytes(&v.to_be_bytes());
    }
    fn host(&mut self, h: &Host, v6: bool) {
        use std::net::IpAddr;
        if v6 {
            let octets = match h.ip {
                IpAddr::V6(a) => a.octets(),
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            };
            self.bytes(&octets);
        } else {
            let a = h.addr_bytes();
            // check_encodable guarantees a 4-byte address here
            self.bytes(&a.as_slice()[a.as_slice().len() - 4..]);
        }
        self.i32(h.port);
    }
}

/// The 5.x `__CRC32#` property: the last 20 bytes of the record are
/// `__CRC32#` 0x01, ten decimal digits least-significant first, 0x02; the value is the masked
/// CRC-32 of the record bytes before them.
pub fn verify_property_crc(record: &[u8]) -> Result<(), FormatError> {
    const TAIL: usize = 20;
    if record.len() < MIN_RECORD_LEN + TAIL {
        return Err(FormatError::new(
            0,
            Problem::Invalid("record too short to carry a __CRC32# property".into()),
        ));
    }
    let at = record.len() - TAIL;
    let tail = &record[at..];
    if &tail[..9] != b"__CRC32#\x01" || tail[19] != 0x02 {
        return Err(FormatError::new(
            at as u64,
            Problem::Invalid("record does not end with a __CRC32# property".into()),
        ));
    }
    let mut stored: u64 = 0;
    for &d in tail[9..19].iter().rev() {
        if !d.is_ascii_digit() {
            return Err(FormatError::new(
                at as u64 + 9,
                Problem::Invalid("__CRC32# value is not ten decimal digits".into()),
            ));
        }
        stored = stored * 10 + (d - b'0') as u64;
    }
    let computed = crc32fast::hash(&record[..at]) & 0x7FFF_FFFF;
    if stored != computed as u64 {
        return Err(FormatError::new(
            at as u64,
            Problem::PropertyCrc {
                stored: stored as u32,
                computed,
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample<'a>(
        body: &'a [u8],
        topic: &'a [u8],
        props: &'a [u8],
    ) -> MessageRecord<'a> {
        MessageRecord {
            magic: Magic::V1,
            body_crc: body_crc(body) as i32,
            queue_id: 3,
            flag: 7,
            queue_offset: 42,
            physical_offset: 1000,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            born_host: Host::parse("10.0.0.1:5000").unwrap(),
            store_timestamp: 1_700_000_000_001,
            store_host: Host::parse("127.0.0.1:10911").unwrap(),
            reconsume_times: 1,
            prepared_transaction_offset: 0,
            body,
            topic,
            properties: props,
        }
    }

    #[test]
    fn recover_store_timestamp_follows_the_born_host_length() {
        // IPv4 born host: the store timestamp at byte 56.
        let r = sample(b"x", b"T", b"");
        let bytes = r.to_vec().unwrap();
        assert_eq!(recover_store_timestamp(&bytes), Some(r.store_timestamp));
        // IPv6 born host (a record Java 4.6.0 wrote after a kill -9 was misread here as the
        // host's bytes at position 56, which moved abnormal recovery's start segment).
        let mut r6 = sample(b"x", b"T", b"");
        r6.sys_flag = sysflag::BORNHOST_V6;
        r6.born_host = Host::parse("[::1]:5000").unwrap();
        let bytes = r6.to_vec().unwrap();
        assert_eq!(recover_store_timestamp(&bytes), Some(r6.store_timestamp));
        assert_ne!(
            i64::from_be_bytes(bytes[56..64].try_into().unwrap()),
            r6.store_timestamp
        );
        assert_eq!(recover_store_timestamp(&bytes[..60]), None);
    }

    #[test]
    fn fixed_overhead_is_91() {
        assert_eq!(record_len(Magic::V1, 0, 0, 0, 0), 91);
        assert_eq!(record_len(Magic::V2, 0, 0, 0, 0), 92);
        assert_eq!(
            record_len(
                Magic::V1,
                sysflag::BORNHOST_V6 | sysflag::STOREHOST_V6,
                0,
                0,
                0
            ),
            115
        );
    }

    #[test]
    fn round_trip_and_crc() {
        let r = sample(b"hello", b"TopicTest", b"TAGS\x01a\x02");
        let bytes = r.to_vec().unwrap();
        match decode_record(&bytes, true).unwrap() {
            Decoded::Message { record, total_size } => {
                assert_eq!(record, r);
                assert_eq!(total_size as usize, bytes.len());
            }
            other => panic!("{other:?}"),
        }
        let mut bad = bytes.clone();
        bad[90] ^= 1; // a body byte
        let e = decode_record(&bad, true).unwrap_err();
        assert!(matches!(e.problem, Problem::BodyCrc { .. }), "{e}");
        assert!(decode_record(&bad, false).is_ok());
    }

    #[test]
    fn truncation_and_garbage_are_errors() {
        let r = sample(b"hello", b"T", b"");
        let bytes = r.to_vec().unwrap();
        for cut in 0..bytes.len() {
            assert!(decode_record(&bytes[..cut], false).is_err(), "cut at {cut}");
        }
        let mut bad = bytes.clone();
        bad[4] = 0;
        assert!(matches!(
            decode_record(&bad, false).unwrap_err().problem,
            Problem::BadMagic(_)
        ));
        let mut huge = bytes.clone();
        huge[0..4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_record(&huge, false).is_err());
        assert_eq!(decode_record(&[0u8; 16], false).unwrap(), Decoded::End);
    }

    #[test]
    fn blank_record() {
        let mut b = [0xAAu8; 30];
        encode_blank(&mut b, 30);
        assert_eq!(
            decode_record(&b, true).unwrap(),
            Decoded::Blank { total_size: 30 }
        );
    }

    #[test]
    fn property_crc_digits_are_reversed() {
        let mut props = b"A\x01b\x02__CRC32#\x010000000000\x02".to_vec();
        let r = sample(b"x", b"T", &props);
        let mut bytes = r.to_vec().unwrap();
        let at = bytes.len() - 20;
        let crc = crc32fast::hash(&bytes[..at]) & 0x7FFF_FFFF;
        let digits: String = format!("{crc:010}").chars().rev().collect();
        bytes[at + 9..at + 19].copy_from_slice(digits.as_bytes());
        verify_property_crc(&bytes).unwrap();
        bytes[at + 9] = if bytes[at + 9] == b'9' {
            b'0'
        } else {
            bytes[at + 9] + 1
        };
        assert!(verify_property_crc(&bytes).is_err());
        props.clear();
    }
}
