//! The HA protocol on the wire, byte for byte: the three message kinds as the reference
//! (section 9) specifies them; the stream a Rust master sends a slave that behaves like Java's
//! `HAClient`, captured raw and checked frame by frame against the master's commitlog (a copy of
//! a store Java 4.6.0 wrote); and a Rust slave following a master that behaves like Java's
//! `HAConnection` (Java's start rule, 32 KiB frames within a segment, writes split anywhere),
//! ending with segment files identical to Java's.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{copy_store_to_temp, fixture};
use rmqstore::config::BrokerRole;
use rmqstore::ha::protocol::{
    decode_header, decode_report, encode_frame, encode_header, encode_report, FrameDecoder,
    FrameHeader, ReportDecoder,
};
use rmqstore::inspect::{discover_config, GeometryOverrides};
use rmqstore::{MessageStore, StoreConfig};

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_three_messages_as_specified() {
    // Slave -> master: a bare big-endian int64, the slave's max offset (here 1 GiB + 5).
    let report = [0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x05];
    assert_eq!(encode_report(0x4000_0005), report);
    assert_eq!(decode_report(report), 0x4000_0005);
    // Master -> slave: int64 masterPhyOffset | int32 bodySize | body.
    let frame = [
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // offset 4 GiB
        0x00, 0x00, 0x00, 0x03, // 3 bytes
        b'a', b'b', b'c',
    ];
    assert_eq!(encode_frame(1 << 32, b"abc"), frame);
    let h = decode_header(frame[..12].try_into().unwrap(), 0).unwrap();
    assert_eq!(
        h,
        FrameHeader {
            offset: 1 << 32,
            size: 3
        }
    );
    // A heartbeat: an empty frame carrying where the master continues from.
    let heartbeat = [0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        encode_header(FrameHeader {
            offset: 0x10_0000,
            size: 0
        }),
        heartbeat
    );
    assert!(decode_header(&heartbeat, 0).unwrap().is_heartbeat());
    // Reports arrive in any pieces; frames too.
    let mut rd = ReportDecoder::new();
    assert!(rd.feed(&report[..5]).unwrap().is_empty());
    assert_eq!(rd.feed(&report[5..]).unwrap(), vec![0x4000_0005]);
    let mut stream = heartbeat.to_vec();
    stream.extend_from_slice(&frame);
    let mut fd = FrameDecoder::new();
    let mut got = Vec::new();
    for b in &stream {
        fd.feed(std::slice::from_ref(b));
        while let Some((h, body)) = fd.next_frame().unwrap() {
            got.push((h, body.to_vec()));
        }
    }
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].1, b"abc");
}

fn fixture_config(root: &Path) -> StoreConfig {
    discover_config(root, &GeometryOverrides::default()).unwrap()
}

/// The segment files of a commitlog directory, by offset.
fn segments(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let off: u64 = p.file_name().unwrap().to_str().unwrap().parse().unwrap();
            (off, fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_rust_master_stream_captured_from_the_wire() {
    let fx = fixture("rocketmq-4.6.0/async");
    let tmp = copy_store_to_temp(&fx);
    let mut c = fixture_config(tmp.path());
    c.ha_listen_address = "127.0.0.1".into();
    c.ha_listen_port = 0;
    c.ha_send_heartbeat_interval_ms = 50;
    let master = MessageStore::open(c).unwrap();
    let ha = master.start_ha().unwrap();
    let end = master.max_phy_offset();
    let size = master.commit_log().file_size() as u64;
    let files = segments(&tmp.path().join("commitlog"));
    for (report, first) in [(0u64, end - end % size), (123_457, 123_457)] {
        // A slave as Java's HAClient: its max offset first, then frames.
        let mut s = TcpStream::connect(ha.local_addr().unwrap()).unwrap();
        s.write_all(&encode_report(report)).unwrap();
        let mut captured = Vec::new();
        let mut dec = FrameDecoder::new();
        let mut frames = Vec::new();
        let mut next = first;
        let mut buf = [0u8; 65536];
        let mut heartbeats = 0;
        // Until all data arrived and a heartbeat followed it.
        while next < end || heartbeats == 0 {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "master closed");
            captured.extend_from_slice(&buf[..n]);
            dec.feed(&buf[..n]);
            while let Some((h, body)) = dec.next_frame().unwrap() {
                assert_eq!(h.offset, next, "frames are contiguous from {first}");
                if h.is_heartbeat() {
                    if next == end {
                        heartbeats += 1;
                    }
                } else {
                    assert!(body.len() <= 32 * 1024, "haTransferBatchSize");
                    let seg = next - next % size;
                    assert!(
                        next + body.len() as u64 <= seg + size,
                        "a frame crosses a segment"
                    );
                    let file = &files.iter().find(|f| f.0 == seg).unwrap().1;
                    let pos = (next - seg) as usize;
                    assert_eq!(body, &file[pos..pos + body.len()], "frame at {next}");
                    next += body.len() as u64;
                }
                frames.push((h, body.to_vec()));
            }
        }
        // Encoding what was decoded gives back exactly the captured bytes.
        let reencoded: Vec<u8> = frames
            .iter()
            .flat_map(|(h, b)| {
                let mut v = encode_header(*h).to_vec();
                v.extend_from_slice(b);
                v
            })
            .collect();
        assert_eq!(reencoded, captured[..reencoded.len()]);
        // Acknowledge: the master tracks it per connection.
        s.write_all(&encode_report(end)).unwrap();
        wait_for("the ack", || {
            ha.status().slaves.iter().any(|c| c.ack_offset == Some(end))
        });
    }
}

/// A master that behaves like Java's HAConnection over `files` (offset, bytes) whose data ends
/// at `end`: starts where the slave reports (the last segment's start for 0), sends a
/// heartbeat, then frames of at most 32 KiB that stop at segment ends, each written in two
/// pieces with a pause so the slave sees partial frames. Returns the slave's reports.
fn java_like_master(listener: TcpListener, files: Vec<(u64, Vec<u8>)>, end: u64) -> Vec<u64> {
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut rd = ReportDecoder::new();
    let mut reports = Vec::new();
    let mut buf = [0u8; 64];
    while reports.is_empty() {
        let n = s.read(&mut buf).unwrap();
        reports.extend(rd.feed(&buf[..n]).unwrap());
    }
    let size = files[0].1.len() as u64;
    let mut next = if reports[0] == 0 {
        end - end % size
    } else {
        reports[0]
    };
    s.write_all(&encode_header(FrameHeader {
        offset: next,
        size: 0,
    }))
    .unwrap();
    s.set_nonblocking(true).unwrap();
    let mut i = 0u64;
    while next < end {
        let seg = next - next % size;
        let file = &files.iter().find(|f| f.0 == seg).unwrap().1;
        let pos = (next - seg) as usize;
        let readable = if seg + size > end {
            (end - seg) as usize
        } else {
            size as usize
        };
        let n = (readable - pos).min(32 * 1024);
        let frame = encode_frame(next, &file[pos..pos + n]);
        i += 1;
        let cut = (i * 7919) as usize % frame.len();
        for piece in [&frame[..cut], &frame[cut..]] {
            write_all_nb(&mut s, piece);
            std::thread::sleep(Duration::from_millis(1));
        }
        next += n as u64;
        drain_reports(&mut s, &mut rd, &mut reports);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while *reports.last().unwrap() < end {
        assert!(Instant::now() < deadline, "the slave never reported {end}");
        drain_reports(&mut s, &mut rd, &mut reports);
        std::thread::sleep(Duration::from_millis(5));
    }
    reports
}

fn write_all_nb(s: &mut TcpStream, mut data: &[u8]) {
    while !data.is_empty() {
        match s.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn drain_reports(s: &mut TcpStream, rd: &mut ReportDecoder, reports: &mut Vec<u64>) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => panic!("the slave closed"),
            Ok(n) => reports.extend(rd.feed(&buf[..n]).unwrap()),
            Err(_) => return,
        }
    }
}

#[test]
fn a_rust_slave_of_a_java_like_master_copies_javas_segments() {
    let fx = fixture("rocketmq-4.6.0/async");
    let java = MessageStore::open_read_only(fixture_config(&fx.store_dir)).unwrap();
    let end = java.max_phy_offset();
    let files = segments(&fx.store_dir.join("commitlog"));
    let size = files[0].1.len() as u64;
    assert!(files.len() >= 3);
    // The slave already holds Java's first segment (a copy, as an operator would seed it): it
    // recovers to that segment's blank record and continues from there, across segments.
    let sd = tempfile::tempdir().unwrap();
    fs::create_dir_all(sd.path().join("commitlog")).unwrap();
    fs::write(
        sd.path().join("commitlog").join(format!("{:020}", 0)),
        &files[0].1,
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let f2 = files.clone();
    let master = std::thread::spawn(move || java_like_master(listener, f2, end));
    let mut c = StoreConfig::with_root(sd.path());
    c.mapped_file_size_commit_log = size as usize;
    c.mapped_file_size_consume_queue_raw = java.config().mapped_file_size_consume_queue_raw;
    c.max_hash_slot_num = java.config().max_hash_slot_num;
    c.max_index_num = java.config().max_index_num;
    c.broker_role = BrokerRole::Slave;
    c.ha_master_address = Some(addr.to_string());
    c.ha_send_heartbeat_interval_ms = 50;
    let slave = MessageStore::open(c).unwrap();
    let own_end = slave.max_phy_offset();
    assert!(
        own_end > 0 && own_end < size,
        "recovered to the blank of segment 0"
    );
    slave.start_ha().unwrap();
    let reports = master.join().unwrap();
    // First report: where the slave wants the master to start (its end minus the window it
    // compares), then only growing offsets, ending at the master's end.
    assert_eq!(reports[0], own_end - 64 * 1024);
    assert!(reports.windows(2).all(|w| w[0] <= w[1]), "{reports:?}");
    assert_eq!(*reports.last().unwrap(), end);
    assert_eq!(slave.max_phy_offset(), end);
    assert!(
        slave.background_error().is_none(),
        "{:?}",
        slave.background_error()
    );
    // Every segment is Java's, byte for byte, blank records and their stale tails included.
    let got = segments(&sd.path().join("commitlog"));
    assert_eq!(got.len(), files.len());
    for ((o1, a), (o2, b)) in got.iter().zip(&files) {
        assert_eq!(o1, o2);
        let n = if o1 + size > end {
            (end - o1) as usize
        } else {
            size as usize
        };
        assert!(a[..n] == b[..n], "segment {o1} differs");
    }
    // And the slave's own consume queues serve Java's messages.
    wait_for("dispatch", || {
        java.consume_queues()
            .all()
            .iter()
            .all(|q| slave.max_offset_in_queue(q.topic(), q.queue_id()) == q.max_offset_in_queue())
    });
    for q in java.consume_queues().all() {
        let a = java.get_messages(q.topic(), q.queue_id(), q.min_offset_in_queue(), 10_000);
        let b = slave.get_messages(q.topic(), q.queue_id(), q.min_offset_in_queue(), 10_000);
        let offs = |r: &rmqstore::store::GetMessageResult| {
            r.messages.iter().map(|m| m.offset()).collect::<Vec<_>>()
        };
        assert_eq!(offs(&a), offs(&b), "{}/{}", q.topic(), q.queue_id());
    }
}
