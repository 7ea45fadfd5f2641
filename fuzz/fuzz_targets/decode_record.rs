//! Record decoding: any bytes at a commitlog position decode to a record, a blank, the end, or
//! an error; never a panic or a read outside the slice. A record that decodes re-encodes to the
//! same bytes, and what dispatch takes from it (properties, tags code, keys) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmqstore::dispatch::DispatchRequest;
use rmqstore::format::cq::DelayLevels;
use rmqstore::format::msgid::decode_message_id;
use rmqstore::format::properties;
use rmqstore::format::record::verify_property_crc;
use rmqstore::format::{decode_record, Decoded};

fuzz_target!(|data: &[u8]| {
    let levels = DelayLevels::default();
    for check_crc in [false, true] {
        match decode_record(data, check_crc) {
            Ok(Decoded::Message { record, total_size }) => {
                let total = total_size as usize;
                assert!(total <= data.len(), "record longer than its buffer");
                assert_eq!(record.encoded_len(), total);
                // Re-encoding gives the same bytes. (`check_encodable` may refuse: an IPv4-mapped
                // address in a 16-byte host field decodes as IPv4, as Java's
                // `InetAddress.getByAddress` does, and then disagrees with the sysFlag bit.)
                let mut again = vec![0u8; total];
                assert_eq!(record.encode_into(&mut again).unwrap(), total);
                assert_eq!(&again[..], &data[..total], "re-encoding changed the bytes");
                if let Err(e) = record.check_encodable() {
                    assert!(e.to_string().contains("IPv6"), "{e}");
                }
                let sp = record.store_properties();
                let _ = sp.key_tokens().count();
                let _ = properties::get(record.properties, properties::KEYS);
                let _ = verify_property_crc(&data[..total]);
                let _ = DispatchRequest::from_record(&record, total_size, &levels);
                let _ = record.topic_str();
            }
            Ok(Decoded::Blank { total_size }) => assert!(total_size >= 8),
            Ok(Decoded::End) => {}
            Err(e) => {
                // The error names a position inside (or at the end of) the input.
                assert!(e.offset <= data.len() as u64 + 8, "{e}");
                let _ = e.to_string();
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = decode_message_id(s);
        let _ = rmqstore::format::Host::parse(s);
    }
});
