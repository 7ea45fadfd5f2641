//! Pure byte codecs for every on-disk structure of the RocketMQ store.
//!
//! Nothing in this module touches the file system: each codec reads from or writes into a byte
//! slice. Decoding never panics and never reads outside the slice it is given; a malformed input
//! is a [`FormatError`] that names the byte offset (relative to the slice) and what is wrong.
//! All multi-byte integers are big-endian, as Java's `ByteBuffer` writes them.

pub mod checkpoint;
pub mod cq;
pub mod hash;
pub mod host;
pub mod index;
pub mod msgid;
pub mod properties;
pub mod record;

pub use hash::{body_crc, tags_code};
pub use host::Host;
pub use record::{BLANK_MAGIC, MAGIC_V1, MAGIC_V2};
#[cfg(any(feature = "cli", feature = "internals"))]
pub use record::MessageRecord;
// Shorter paths our tests use.
#[cfg(feature = "internals")]
pub use {
    checkpoint::Checkpoint,
    cq::{CqUnit, CQ_UNIT_SIZE},
    hash::{index_key_hash, java_string_hash},
    record::{decode_record, Decoded, MIN_BLANK_LEN},
};

/// What is wrong with a run of bytes, and where (relative to the slice that was decoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {problem}")]
pub struct FormatError {
    /// Byte position, relative to the start of the slice handed to the decoder, of the field
    /// that is wrong (callers add the file position to report an absolute offset).
    pub offset: u64,
    /// What is wrong.
    pub problem: Problem,
}

impl FormatError {
    /// A problem at `offset`.
    pub fn new(offset: u64, problem: Problem) -> Self {
        FormatError { offset, problem }
    }

    /// The same error with `base` added to its offset.
    pub fn shifted(mut self, base: u64) -> Self {
        self.offset = self.offset.saturating_add(base);
        self
    }
}

/// The kinds of malformation the decoders detect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The bytes end before a field or record does.
    #[error("truncated: {what} needs {need} bytes, only {have} remain")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes it needs.
        need: u64,
        /// Bytes there are.
        have: u64,
    },
    /// A magic code that is neither a record's nor a blank's.
    #[error("unknown magic code {0:#010x}")]
    BadMagic(u32),
    /// A record size that cannot be.
    #[error("record length {0} is impossible (a record is at least {min} bytes)", min = record::MIN_RECORD_LEN)]
    BadTotalSize(i64),
    /// A blank record size that cannot be.
    #[error("blank record length {0} is impossible (at least 8 bytes)")]
    BadBlankSize(i64),
    /// A length field that is negative.
    #[error("negative {field} length {value}")]
    NegativeLength {
        /// The length field.
        field: &'static str,
        /// Its value.
        value: i64,
    },
    /// The declared size is not what the fields add up to.
    #[error("record length field says {declared} but its fields add up to {computed}")]
    LengthMismatch {
        /// The size the record declares.
        declared: u64,
        /// The size its fields add up to.
        computed: u64,
    },
    /// BODYCRC does not match the body.
    #[error("body CRC {stored} does not match the body (computed {computed})")]
    BodyCrc {
        /// The CRC in the record.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// The 5.x `__CRC32#` property does not match the record.
    #[error("property CRC {stored} does not match the record (computed {computed})")]
    PropertyCrc {
        /// The CRC in the property.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// Anything else, said in words.
    #[error("{0}")]
    Invalid(String),
}

/// Big-endian readers over a slice that report truncation instead of panicking.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FormatError> {
        let have = self.buf.len() - self.pos;
        if n > have {
            return Err(FormatError::new(
                self.pos as u64,
                Problem::Truncated {
                    what,
                    need: n as u64,
                    have: have as u64,
                },
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], FormatError> {
        let s = self.bytes(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn i8(&mut self, what: &'static str) -> Result<i8, FormatError> {
        Ok(i8::from_be_bytes(self.array::<1>(what)?))
    }
    pub(crate) fn i16(&mut self, what: &'static str) -> Result<i16, FormatError> {
        Ok(i16::from_be_bytes(self.array::<2>(what)?))
    }
    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32, FormatError> {
        Ok(i32::from_be_bytes(self.array::<4>(what)?))
    }
    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, FormatError> {
        Ok(i64::from_be_bytes(self.array::<8>(what)?))
    }
}

/// Reads a big-endian i32 at `pos`, or `None` when fewer than 4 bytes remain.
#[inline]
pub fn get_i32(buf: &[u8], pos: usize) -> Option<i32> {
    let s = buf.get(pos..pos.checked_add(4)?)?;
    Some(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads a big-endian i64 at `pos`, or `None` when fewer than 8 bytes remain.
#[inline]
pub fn get_i64(buf: &[u8], pos: usize) -> Option<i64> {
    let s = buf.get(pos..pos.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(i64::from_be_bytes(a))
}

/// Writes a big-endian i32 at `pos`. Panics if out of range: writers size their buffers first.
#[inline]
pub fn put_i32(buf: &mut [u8], pos: usize, v: i32) {
    buf[pos..pos + 4].copy_from_slice(&v.to_be_bytes());
}

/// Writes a big-endian i64 at `pos`. Panics if out of range: writers size their buffers first.
#[inline]
pub fn put_i64(buf: &mut [u8], pos: usize, v: i64) {
    buf[pos..pos + 8].copy_from_slice(&v.to_be_bytes());
}
