//! The bytes of RocketMQ's classic HA protocol (4.x `HAService`/`HAConnection`; still
//! `DefaultHAService` in 5.x). Pure codecs, no I/O.
//!
//! Two streams on one TCP connection, both big-endian, without any handshake or framing
//! beyond what is below:
//!
//! - slave → master: a bare `int64`, the slave's commitlog max offset ("offset report").
//!   The first one says where to start; later ones acknowledge what the slave has.
//! - master → slave: frames of `int64 masterPhyOffset | int32 bodySize | body`, where the body
//!   is `bodySize` raw commitlog bytes starting at `masterPhyOffset`. A frame with
//!   `bodySize == 0` is a heartbeat.

/// Bytes of an offset report.
pub const REPORT_LEN: usize = 8;
/// Bytes of a frame header (`int64` offset + `int32` size).
pub const HEADER_LEN: usize = 12;
/// The largest body a decoder accepts. A Java slave reads into a 4 MiB buffer and can never
/// take a frame larger than that; we allow more, but not an absurd size from a broken peer.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// Why bytes received are not the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("frame at stream byte {at}: negative master offset {offset}")]
    NegativeOffset { at: u64, offset: i64 },
    #[error("frame at stream byte {at}: body size {size} is negative or above {MAX_BODY}")]
    BadSize { at: u64, size: i32 },
    #[error("offset report at stream byte {at}: negative offset {offset}")]
    NegativeReport { at: u64, offset: i64 },
}

/// Encodes an offset report (slave → master).
pub fn encode_report(offset: u64) -> [u8; REPORT_LEN] {
    (offset as i64).to_be_bytes()
}

/// Decodes one offset report. Java's master takes any `long`; a negative one is not an offset.
pub fn decode_report(b: [u8; REPORT_LEN]) -> i64 {
    i64::from_be_bytes(b)
}

/// A frame header (master → slave).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Commitlog offset of the body's first byte (for a heartbeat: where the master will
    /// continue from).
    pub offset: u64,
    /// Body length; 0 for a heartbeat.
    pub size: u32,
}

impl FrameHeader {
    pub fn is_heartbeat(&self) -> bool {
        self.size == 0
    }
}

/// Encodes a frame header.
pub fn encode_header(h: FrameHeader) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[..8].copy_from_slice(&(h.offset as i64).to_be_bytes());
    b[8..].copy_from_slice(&(h.size as i32).to_be_bytes());
    b
}

/// Decodes a frame header; `at` is its position in the stream, for the error.
pub fn decode_header(b: &[u8; HEADER_LEN], at: u64) -> Result<FrameHeader, ProtocolError> {
    let offset = i64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
    let size = i32::from_be_bytes(b[8..].try_into().expect("4 bytes"));
    if offset < 0 {
        return Err(ProtocolError::NegativeOffset { at, offset });
    }
    if size < 0 || size as usize > MAX_BODY {
        return Err(ProtocolError::BadSize { at, size });
    }
    Ok(FrameHeader {
        offset: offset as u64,
        size: size as u32,
    })
}

/// A whole frame: header and body.
#[cfg(feature = "internals")]
pub fn encode_frame(offset: u64, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN + body.len());
    v.extend_from_slice(&encode_header(FrameHeader {
        offset,
        size: body.len() as u32,
    }));
    v.extend_from_slice(body);
    v
}

/// Splits the master → slave byte stream into frames as bytes arrive in arbitrary pieces.
/// Only whole frames come out; a partial one waits for more bytes (a connection cut inside
/// a frame loses that frame, nothing else).
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the first unconsumed byte in `buf`.
    pos: usize,
    /// Stream position of `buf[0]`.
    base: u64,
}

impl FrameDecoder {
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Appends received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.base += self.pos as u64;
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > (1 << 20) && self.pos * 2 > self.buf.len() {
            self.base += self.pos as u64;
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next whole frame, if one has arrived. The body borrows the decoder.
    pub fn next_frame(&mut self) -> Result<Option<(FrameHeader, &[u8])>, ProtocolError> {
        let avail = &self.buf[self.pos..];
        if avail.len() < HEADER_LEN {
            return Ok(None);
        }
        let at = self.base + self.pos as u64;
        let h = decode_header(avail[..HEADER_LEN].try_into().expect("12 bytes"), at)?;
        let end = HEADER_LEN + h.size as usize;
        if avail.len() < end {
            return Ok(None);
        }
        let start = self.pos + HEADER_LEN;
        self.pos += end;
        Ok(Some((h, &self.buf[start..start + h.size as usize])))
    }

    /// Bytes received but not yet returned as a frame.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Stream bytes consumed as whole frames so far.
    #[cfg(test)]
    pub fn consumed(&self) -> u64 {
        self.base + self.pos as u64
    }
}

/// Splits the slave → master stream into offset reports. Java's master keeps only the last
/// complete value of what one read returned; taking every value in order ends in the same
/// state.
#[derive(Debug, Default)]
pub struct ReportDecoder {
    partial: [u8; REPORT_LEN],
    have: usize,
    consumed: u64,
}

impl ReportDecoder {
    pub fn new() -> ReportDecoder {
        ReportDecoder::default()
    }

    /// Feeds received bytes; returns the complete reports they finish, in order.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<Vec<u64>, ProtocolError> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let n = (REPORT_LEN - self.have).min(data.len());
            self.partial[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have == REPORT_LEN {
                let v = decode_report(self.partial);
                if v < 0 {
                    return Err(ProtocolError::NegativeReport {
                        at: self.consumed,
                        offset: v,
                    });
                }
                out.push(v as u64);
                self.have = 0;
                self.consumed += REPORT_LEN as u64;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = FrameHeader {
            offset: 0x0102_0304_0506_0708,
            size: 0x00A0_B0C0,
        };
        let b = encode_header(h);
        assert_eq!(
            b,
            [1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0xA0, 0xB0, 0xC0],
            "big-endian int64 then int32"
        );
        assert_eq!(decode_header(&b, 0).unwrap(), h);
    }

    #[test]
    fn decoder_takes_arbitrary_pieces() {
        let mut stream = encode_frame(100, b"hello");
        stream.extend(encode_frame(105, b""));
        stream.extend(encode_frame(105, &[7u8; 300]));
        for cut in 1..stream.len() {
            let mut d = FrameDecoder::new();
            let mut got = Vec::new();
            for piece in stream.chunks(cut) {
                d.feed(piece);
                while let Some((h, body)) = d.next_frame().unwrap() {
                    got.push((h.offset, body.to_vec()));
                }
            }
            assert_eq!(
                got,
                vec![
                    (100, b"hello".to_vec()),
                    (105, vec![]),
                    (105, vec![7u8; 300])
                ]
            );
            assert_eq!(d.pending(), 0);
            assert_eq!(d.consumed(), stream.len() as u64);
        }
    }

    #[test]
    fn bad_headers_are_errors() {
        let mut b = encode_header(FrameHeader { offset: 0, size: 0 });
        b[0] = 0x80;
        assert!(matches!(
            decode_header(&b, 7),
            Err(ProtocolError::NegativeOffset { at: 7, .. })
        ));
        let mut b = encode_header(FrameHeader { offset: 0, size: 0 });
        b[8] = 0xFF;
        assert!(matches!(
            decode_header(&b, 0),
            Err(ProtocolError::BadSize { .. })
        ));
    }

    #[test]
    fn reports_in_pieces() {
        let mut d = ReportDecoder::new();
        let mut s = encode_report(5).to_vec();
        s.extend(encode_report(1 << 40));
        assert_eq!(d.feed(&s[..3]).unwrap(), Vec::<u64>::new());
        assert_eq!(d.feed(&s[3..11]).unwrap(), vec![5]);
        assert_eq!(d.feed(&s[11..]).unwrap(), vec![1 << 40]);
        assert!(d.feed(&(-1i64).to_be_bytes()).is_err());
    }
}
