//! Property tests of the commitlog record codec: any encodable `MessageRecord` survives
//! `to_vec` + `decode_record` unchanged, and `decode_record` never panics on arbitrary bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rmqstore::format::record::{record_len, sysflag, Magic, MIN_RECORD_LEN};
use rmqstore::format::{body_crc, decode_record, Decoded, Host, MessageRecord, MIN_BLANK_LEN};

/// Owned parts of a record (MessageRecord borrows body, topic and properties).
#[derive(Debug, Clone)]
struct Parts {
    magic: Magic,
    /// Use the correct masked CRC of the body (else an arbitrary value).
    good_crc: bool,
    crc: i32,
    queue_id: i32,
    flag: i32,
    queue_offset: i64,
    physical_offset: i64,
    /// sysFlag without the two host bits (they follow the hosts).
    sys_flag_rest: i32,
    born_timestamp: i64,
    born_host: Host,
    store_timestamp: i64,
    store_host: Host,
    reconsume_times: i32,
    prepared_transaction_offset: i64,
    body: Vec<u8>,
    topic: Vec<u8>,
    properties: Vec<u8>,
}

impl Parts {
    fn record(&self) -> MessageRecord<'_> {
        let mut sys_flag = self.sys_flag_rest & !(sysflag::BORNHOST_V6 | sysflag::STOREHOST_V6);
        if self.born_host.is_v6() {
            sys_flag |= sysflag::BORNHOST_V6;
        }
        if self.store_host.is_v6() {
            sys_flag |= sysflag::STOREHOST_V6;
        }
        MessageRecord {
            magic: self.magic,
            body_crc: if self.good_crc {
                body_crc(&self.body) as i32
            } else {
                self.crc
            },
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            physical_offset: self.physical_offset,
            sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: &self.body,
            topic: &self.topic,
            properties: &self.properties,
        }
    }
}

/// IPv4, or a true IPv6 address (an IPv4-mapped one is an IPv4 host, as in Java).
fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<i32>())
            .prop_map(|(a, port)| Host::new(IpAddr::V4(Ipv4Addr::from(a)), port)),
        (any::<[u8; 16]>(), any::<i32>())
            .prop_filter("IPv4-mapped addresses are IPv4 hosts", |(a, _)| {
                Ipv6Addr::from(*a).to_ipv4_mapped().is_none()
            })
            .prop_map(|(a, port)| Host::new(IpAddr::V6(Ipv6Addr::from(a)), port)),
    ]
}

/// A topic: at most 127 bytes for V1; up to 400 for V2 (which 5.x uses above 127).
fn magic_and_topic() -> impl Strategy<Value = (Magic, Vec<u8>)> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..=127).prop_map(|t| (Magic::V1, t)),
        proptest::collection::vec(any::<u8>(), 0..=400).prop_map(|t| (Magic::V2, t)),
    ]
}

/// Properties: usually `name 0x01 value 0x02` pairs, sometimes arbitrary bytes.
fn properties() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(("[A-Za-z_#]{1,12}", "[^\\x01\\x02]{0,20}"), 0..6).prop_map(
            |pairs| {
                let mut s = Vec::new();
                for (k, v) in pairs {
                    s.extend_from_slice(k.as_bytes());
                    s.push(1);
                    s.extend_from_slice(v.as_bytes());
                    s.push(2);
                }
                s
            }
        ),
        proptest::collection::vec(any::<u8>(), 0..600),
    ]
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        (
            magic_and_topic(),
            any::<bool>(),
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
            any::<i64>(),
            any::<i64>(),
            any::<i32>(),
        ),
        (
            any::<i64>(),
            host(),
            any::<i64>(),
            host(),
            any::<i32>(),
            any::<i64>(),
            proptest::collection::vec(any::<u8>(), 0..1024),
            properties(),
        ),
    )
        .prop_map(
            |(
                (
                    (magic, topic),
                    good_crc,
                    crc,
                    queue_id,
                    flag,
                    queue_offset,
                    physical_offset,
                    sys_flag_rest,
                ),
                (
                    born_timestamp,
                    born_host,
                    store_timestamp,
                    store_host,
                    reconsume_times,
                    prepared_transaction_offset,
                    body,
                    properties,
                ),
            )| Parts {
                magic,
                good_crc,
                crc,
                queue_id,
                flag,
                queue_offset,
                physical_offset,
                sys_flag_rest,
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
        )
}

/// What must hold for any answer `decode_record` gives on `input`.
fn check_decoded(input: &[u8], check_crc: bool) -> Result<(), TestCaseError> {
    match decode_record(input, check_crc) {
        Ok(Decoded::Message { record, total_size }) => {
            let total = total_size as usize;
            prop_assert!(
                total <= input.len(),
                "record of {} bytes from {} bytes of input",
                total,
                input.len()
            );
            prop_assert!(total >= MIN_RECORD_LEN);
            prop_assert_eq!(record.encoded_len(), total);
            prop_assert_eq!(
                record_len(
                    record.magic,
                    record.sys_flag,
                    record.body.len(),
                    record.topic.len(),
                    record.properties.len()
                ),
                total
            );
            if check_crc && !record.body.is_empty() {
                prop_assert_eq!(record.body_crc as u32, body_crc(record.body));
            }
            // Whatever can be written again is written back to the same bytes.
            if let Ok(bytes) = record.to_vec() {
                prop_assert_eq!(&bytes[..], &input[..total]);
            }
        }
        Ok(Decoded::Blank { total_size }) => {
            prop_assert!(total_size as usize >= MIN_BLANK_LEN);
            prop_assert!(input.len() >= MIN_BLANK_LEN);
        }
        Ok(Decoded::End) => prop_assert!(input.len() >= 8 && input[..8] == [0u8; 8]),
        Err(e) => prop_assert!(
            e.offset <= input.len() as u64,
            "error offset {} beyond input {}",
            e.offset,
            input.len()
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any encodable record decodes back to itself, alone or followed by other bytes.
    #[test]
    fn record_round_trips(p in parts(), trailing in proptest::collection::vec(any::<u8>(), 0..64)) {
        let rec = p.record();
        prop_assert!(rec.check_encodable().is_ok(), "{:?}", rec.check_encodable());
        let bytes = rec.to_vec().expect("encodable");
        prop_assert_eq!(bytes.len(), rec.encoded_len());
        prop_assert_eq!(
            i32::from_be_bytes(bytes[0..4].try_into().unwrap()) as usize,
            bytes.len()
        );
        let check_crc = p.good_crc || p.body.is_empty();
        for input in [bytes.clone(), [bytes.clone(), trailing.clone()].concat()] {
            match decode_record(&input, check_crc) {
                Ok(Decoded::Message { record, total_size }) => {
                    prop_assert_eq!(total_size as usize, bytes.len());
                    prop_assert_eq!(&record, &rec);
                }
                other => prop_assert!(false, "decoded {:?}", other),
            }
            check_decoded(&input, check_crc)?;
        }
        // Every proper prefix is an error, never a panic or a shorter record.
        for cut in [0, 4, 8, MIN_RECORD_LEN - 1, bytes.len() / 2, bytes.len() - 1] {
            if cut < bytes.len() {
                prop_assert!(decode_record(&bytes[..cut], false).is_err(), "prefix of {} bytes decoded", cut);
            }
        }
    }

    /// A V1 topic longer than 127 bytes, or a host that disagrees with the sysFlag, is refused
    /// by the writer instead of producing bytes Java would misread.
    #[test]
    fn unencodable_records_are_refused(p in parts(), extra in 128usize..300) {
        let mut q = p.clone();
        q.magic = Magic::V1;
        q.topic = vec![b't'; extra];
        prop_assert!(q.record().to_vec().is_err());
        let mut rec = p.record();
        rec.sys_flag ^= sysflag::BORNHOST_V6;
        prop_assert!(rec.to_vec().is_err());
    }

    /// Arbitrary bytes never make the decoder panic or claim more bytes than it was given.
    #[test]
    fn decode_arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..2048), check_crc in any::<bool>()) {
        check_decoded(&input, check_crc)?;
    }

    /// Headers that look like a record (valid magic, plausible length) with arbitrary contents.
    #[test]
    fn decode_record_like_bytes(
        magic in prop_oneof![Just(0xDAA3_20A7u32), Just(0xDAA3_20ABu32), Just(0xCBD4_3194u32), Just(0u32)],
        total in prop_oneof![any::<i32>(), 0i32..600],
        rest in proptest::collection::vec(any::<u8>(), 0..700),
        check_crc in any::<bool>(),
    ) {
        let mut input = Vec::with_capacity(8 + rest.len());
        input.extend_from_slice(&total.to_be_bytes());
        input.extend_from_slice(&magic.to_be_bytes());
        input.extend_from_slice(&rest);
        check_decoded(&input, check_crc)?;
    }

    /// A valid record with a few bytes changed or cut off still decodes without panicking.
    #[test]
    fn decode_mutated_records(
        p in parts(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        check_crc in any::<bool>(),
    ) {
        let mut bytes = p.record().to_vec().expect("encodable");
        for (i, b) in edits {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        check_decoded(&bytes, check_crc)?;
        let n = cut.index(bytes.len() + 1);
        check_decoded(&bytes[..n], check_crc)?;
    }
}
