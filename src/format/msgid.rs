//! Offset message ids (`MessageDecoder#createMessageId` / `decodeMessageId`): the store host's
//! address and port and the commitlog offset, as uppercase hex. 32 characters for an IPv4 store
//! host, 56 for IPv6.

use super::host::Host;
use super::{FormatError, Problem};

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Encodes the offset msgId of a record stored by `store_host` at `offset`.
pub fn create_message_id(store_host: &Host, offset: i64) -> String {
    let addr = store_host.addr_bytes();
    let addr = addr.as_slice();
    let mut out = String::with_capacity((addr.len() + 12) * 2);
    let mut push = |b: u8| {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xF) as usize] as char);
    };
    addr.iter().copied().for_each(&mut push);
    store_host
        .port
        .to_be_bytes()
        .into_iter()
        .for_each(&mut push);
    offset.to_be_bytes().into_iter().for_each(&mut push);
    out
}

/// Decodes an offset msgId into the store host and the commitlog offset.
pub fn decode_message_id(id: &str) -> Result<(Host, i64), FormatError> {
    let id = id.trim();
    if id.len() != 32 && id.len() != 56 {
        return Err(FormatError::new(
            0,
            Problem::Invalid(format!(
                "an offset msgId has 32 (IPv4) or 56 (IPv6) hex digits, this one has {}",
                id.len()
            )),
        ));
    }
    let mut bytes = Vec::with_capacity(id.len() / 2);
    let raw = id.as_bytes();
    for (i, pair) in raw.chunks(2).enumerate() {
        let hi = hex_val(pair[0]);
        let lo = hex_val(pair[1]);
        match (hi, lo) {
            (Some(h), Some(l)) => bytes.push((h << 4) | l),
            _ => {
                return Err(FormatError::new(
                    (i * 2) as u64,
                    Problem::Invalid("msgId has a character that is not a hex digit".into()),
                ))
            }
        }
    }
    let addr_len = bytes.len() - 12;
    let port = i32::from_be_bytes(bytes[addr_len..addr_len + 4].try_into().unwrap());
    let offset = i64::from_be_bytes(bytes[addr_len + 4..].try_into().unwrap());
    Ok((Host::from_bytes(&bytes[..addr_len], port), offset))
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_fixture_ids() {
        // From the 4.6.0 fixture manifest.
        let h = Host::parse("127.0.0.1:10911").unwrap();
        assert_eq!(
            create_message_id(&h, 449),
            "7F00000100002A9F00000000000001C1"
        );
        let h6 = Host::parse("[2001:db8:0:0:0:0:0:10]:10911").unwrap();
        assert_eq!(
            create_message_id(&h6, 201),
            "20010DB800000000000000000000001000002A9F00000000000000C9"
        );
        assert_eq!(
            decode_message_id("20010DB800000000000000000000001000002A9F00000000000000C9").unwrap(),
            (h6, 201)
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode_message_id("xyz").is_err());
        assert!(decode_message_id("7F00000100002A9F00000000000001CG").is_err());
        assert!(decode_message_id("7F00000100002A9F00000000000001Cé").is_err());
    }
}
