//! Pure codecs: encode and decode a commitlog record, the Java string hash used by tags and
//! the index, the body CRC, and parsing the properties string.

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rmqstore::format::hash::{body_crc, index_key_hash, java_string_hash};
use rmqstore::format::properties::StoreProperties;
use rmqstore::format::record::{decode_record, Decoded, Magic, MessageRecord};
use rmqstore::format::Host;

fn record<'a>(body: &'a [u8], props: &'a [u8]) -> MessageRecord<'a> {
    MessageRecord {
        magic: Magic::V1,
        body_crc: body_crc(body) as i32,
        queue_id: 1,
        flag: 0,
        queue_offset: 12345,
        physical_offset: 1 << 30,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: Host::v4([10, 0, 0, 1], 54321),
        store_timestamp: 1_700_000_000_001,
        store_host: Host::v4([10, 0, 0, 2], 10911),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body,
        topic: common::TOPIC.as_bytes(),
        properties: props,
    }
}

fn codecs(c: &mut Criterion) {
    let mut msg = common::message(0);
    common::fill_message(&mut msg, 0, 42);
    let props = msg.properties.clone().into_bytes();
    let mut g = c.benchmark_group("record");
    for size in [128usize, 1024, 4096] {
        let body = common::body(size);
        let rec = record(&body, &props);
        let mut buf = vec![0u8; rec.encoded_len()];
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_with_input(BenchmarkId::new("encode", size), &rec, |b, rec| {
            b.iter(|| rec.encode_into(std::hint::black_box(&mut buf)).unwrap())
        });
        rec.encode_into(&mut buf).unwrap();
        for check_crc in [false, true] {
            let name = if check_crc { "decode_crc" } else { "decode" };
            g.bench_with_input(BenchmarkId::new(name, size), &buf, |b, buf| {
                b.iter(
                    || match decode_record(std::hint::black_box(buf), check_crc) {
                        Ok(Decoded::Message { total_size, .. }) => total_size,
                        _ => unreachable!("the record decodes"),
                    },
                )
            });
        }
        g.bench_with_input(BenchmarkId::new("body_crc", size), &body, |b, body| {
            b.iter(|| body_crc(std::hint::black_box(body)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("hash");
    let uniq = "7F00000112340000000000000000002A";
    g.bench_function("java_string_hash_32", |b| {
        b.iter(|| java_string_hash(std::hint::black_box(uniq)))
    });
    let key = format!("{}#{}", common::TOPIC, uniq);
    g.bench_function("index_key_hash", |b| {
        b.iter(|| index_key_hash(std::hint::black_box(&key)))
    });
    g.bench_function("properties_parse", |b| {
        b.iter(|| {
            StoreProperties::parse(std::hint::black_box(&props))
                .uniq_key
                .is_some()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = codecs
}
criterion_main!(benches);
