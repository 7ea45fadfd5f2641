//! Replication over the classic HA protocol, Rust master to Rust slave, all on 127.0.0.1:
//! byte-identical copies under load, SYNC_MASTER acknowledgements (blocking and callback) that
//! only come once the slave has the bytes (also across a SIGKILLed slave process), connections
//! cut at random points, master and slave restarts (clean and SIGKILL), and divergent slaves
//! that are reported, never merged.
//!
//! Child processes are this test binary re-run with `--ignored --exact ha_child` and their
//! role in environment variables.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::tree_digest;
use rmqstore::config::{BrokerRole, FlushDiskType};
use rmqstore::format::Host;
use rmqstore::ha::protocol::{self, FrameDecoder};
use rmqstore::message::{BatchItem, MessageBatch};
use rmqstore::{Message, MessageStore, PutMessageStatus, StoreConfig, StoreError};

const TOPIC: &str = "HaTopic";

fn config(root: &Path, role: BrokerRole) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 64 * 1024;
    c.mapped_file_size_consume_queue_raw = 4000;
    c.max_hash_slot_num = 1000;
    c.max_index_num = 4000;
    c.broker_role = role;
    c.ha_listen_address = "127.0.0.1".into();
    c.ha_listen_port = 0;
    c.ha_send_heartbeat_interval_ms = 100;
    c.ha_housekeeping_interval_ms = 5000;
    c.sync_flush_timeout_ms = 5000;
    c
}

/// Starts a slave's replication and waits until the master has its first report, so what the
/// master writes from now on reaches the slave even when it starts empty.
fn start_slave(master: &MessageStore, slave: &MessageStore) -> rmqstore::ha::HaHandle {
    let before = master.ha_status().unwrap().slaves.len();
    let ha = slave.start_ha().unwrap();
    wait_for("the master to see the slave's first report", || {
        let st = master.ha_status().unwrap();
        st.slaves
            .iter()
            .filter(|s| s.request_offset.is_some())
            .count()
            > before
    });
    ha
}

fn slave_config(root: &Path, master: SocketAddr) -> StoreConfig {
    let mut c = config(root, BrokerRole::Slave);
    c.ha_master_address = Some(master.to_string());
    c
}

fn body(t: usize, i: usize) -> Vec<u8> {
    let len = 20 + (i * 7919 + t * 104_729) % 1500;
    format!("t{t}-m{i}-").bytes().cycle().take(len).collect()
}

/// Opens a store that this process just shut down. A child process that a test running in
/// parallel is spawning (fork, then exec) holds a copy of every descriptor of this process
/// until its exec, the store's `lock` among them, so under load the lock can outlive the
/// shutdown by that long: `Locked` is retried (a liveness bound, not a speed check).
fn reopen(c: StoreConfig) -> MessageStore {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match MessageStore::open(c.clone()) {
            Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            r => return r.unwrap(),
        }
    }
}

/// Polls `f` every few ms; a liveness bound, not a speed check.
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The slave has every byte and has dispatched every record of `queues`.
fn caught_up(master: &MessageStore, slave: &MessageStore, queues: &[(&str, i32)]) -> bool {
    slave.max_phy_offset() == master.max_phy_offset()
        && queues
            .iter()
            .all(|&(t, q)| slave.max_offset_in_queue(t, q) == master.max_offset_in_queue(t, q))
}

/// The commitlog bytes `[from, to)` of a store.
fn log_bytes(store: &MessageStore, from: u64, to: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity((to - from) as usize);
    let mut at = from;
    while at < to {
        let f = store
            .commit_log()
            .files()
            .find_by_offset(at)
            .unwrap_or_else(|| panic!("no segment holds offset {at}"));
        let pos = (at - f.file_from_offset()) as usize;
        let data = f.readable();
        let n = (data.len() - pos).min((to - at) as usize);
        assert!(n > 0, "offset {at} is not readable");
        out.extend_from_slice(&data[pos..pos + n]);
        at += n as u64;
    }
    out
}

/// The slave's commitlog is a byte prefix of the master's: same bytes at the same offsets.
fn assert_prefix(master: &MessageStore, slave: &MessageStore, context: &str) {
    let (from, to) = (slave.min_phy_offset(), slave.max_phy_offset());
    assert!(
        to <= master.max_phy_offset(),
        "{context}: slave ends at {to}, beyond the master's {}",
        master.max_phy_offset()
    );
    let a = log_bytes(slave, from, to);
    let b = log_bytes(master, from, to);
    if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
        panic!(
            "{context}: slave differs from master at offset {}",
            from + i as u64
        );
    }
}

/// Commitlog and consume-queue trees equal file by file; index files equal in content (their
/// names are creation times, which differ).
fn assert_same_store(master: &Path, slave: &Path) {
    for sub in ["commitlog", "consumequeue"] {
        let a = tree_digest(&master.join(sub));
        let b = tree_digest(&slave.join(sub));
        assert!(!a.is_empty(), "{sub} is empty");
        assert_eq!(a, b, "{sub} differs");
    }
    let index = |root: &Path| -> Vec<Vec<u8>> {
        let mut names: Vec<_> = fs::read_dir(root.join("index"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        names.iter().map(|p| fs::read(p).unwrap()).collect()
    };
    let (a, b) = (index(master), index(slave));
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len(), "number of index files");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(x == y, "index file {i} differs");
    }
}

/// Writers: `threads` threads put `per_thread` messages (every 10th a batch of 3, every 50th
/// delayed) and return the results.
fn write_load(store: &Arc<MessageStore>, threads: usize, per_thread: usize) {
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let r = if i % 10 == 9 {
                        store
                            .put_messages(&MessageBatch {
                                topic: TOPIC.into(),
                                queue_id: t as i32,
                                sys_flag: 0,
                                born_timestamp: 1,
                                born_host: Host::v4([127, 0, 0, 1], 1),
                                store_host: Host::v4([127, 0, 0, 1], 10911),
                                reconsume_times: 0,
                                items: (0..3)
                                    .map(|k| BatchItem {
                                        flag: k,
                                        body: body(t, i * 10 + k as usize),
                                        properties: String::new(),
                                    })
                                    .collect(),
                            })
                            .unwrap()
                    } else {
                        let mut m = Message::new(TOPIC, t as i32, body(t, i))
                            .with_keys(&format!("k{t}-{i}"));
                        if i % 50 == 7 {
                            m = m.with_property("DELAY", "2");
                        }
                        store.put_message(&m).unwrap()
                    };
                    assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
                }
            })
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
}

fn queues(threads: usize) -> Vec<(&'static str, i32)> {
    let mut q: Vec<_> = (0..threads as i32).map(|t| (TOPIC, t)).collect();
    q.push(("SCHEDULE_TOPIC_XXXX", 1));
    q
}

#[test]
fn slave_copy_is_byte_identical_under_load() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = Arc::new(MessageStore::open(config(md.path(), BrokerRole::AsyncMaster)).unwrap());
    let addr = master.start_ha().unwrap().local_addr().unwrap();
    assert!(addr.ip().is_loopback());
    let slave = MessageStore::open(slave_config(sd.path(), addr)).unwrap();
    let ha = start_slave(&master, &slave);
    write_load(&master, 4, 400);
    wait_for("the slave to catch up", || {
        caught_up(&master, &slave, &queues(4))
    });
    assert!(master.commit_log().files().len() > 10, "segments rolled");
    assert_prefix(&master, &slave, "caught up");
    let st = ha.status();
    assert!(
        st.divergence.is_none() && slave.background_error().is_none(),
        "{st:?}"
    );
    // Reads on the slave: by queue offset and by key, as on the master.
    for t in 0..4 {
        let a = master.get_messages(TOPIC, t, 0, 10_000);
        let b = slave.get_messages(TOPIC, t, 0, 10_000);
        assert_eq!(a.messages.len(), b.messages.len());
        for (x, y) in a.messages.iter().zip(&b.messages) {
            assert_eq!((x.offset(), x.bytes()), (y.offset(), y.bytes()));
        }
        let k = format!("k{t}-17");
        let hits: Vec<_> = slave
            .query_messages_by_key(TOPIC, &k, 8, 0, i64::MAX)
            .iter()
            .map(|r| r.offset())
            .collect();
        let want: Vec<_> = master
            .query_messages_by_key(TOPIC, &k, 8, 0, i64::MAX)
            .iter()
            .map(|r| r.offset())
            .collect();
        assert_eq!(hits, want);
        assert_eq!(hits.len(), 1);
    }
    // A slave takes no puts.
    let r = slave
        .put_message(&Message::new(TOPIC, 0, b"x".to_vec()))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::ServiceNotAvailable);
    assert!(r.reason.unwrap().contains("SLAVE"));
    slave.shutdown().unwrap();
    Arc::try_unwrap(master).unwrap().shutdown().unwrap();
    assert_same_store(md.path(), sd.path());
}

#[test]
fn empty_slave_starts_at_the_masters_last_segment() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = Arc::new(MessageStore::open(config(md.path(), BrokerRole::AsyncMaster)).unwrap());
    write_load(&master, 2, 150);
    let last = master
        .commit_log()
        .files()
        .last()
        .unwrap()
        .file_from_offset();
    assert!(last > 0);
    let addr = master.start_ha().unwrap().local_addr().unwrap();
    let slave = MessageStore::open(slave_config(sd.path(), addr)).unwrap();
    slave.start_ha().unwrap();
    wait_for("the slave to catch up", || {
        slave.max_phy_offset() == master.max_phy_offset()
    });
    assert_eq!(slave.min_phy_offset(), last);
    assert_prefix(&master, &slave, "late slave");
    // The records of that segment are dispatched on the slave with the master's queue offsets.
    let first = master.get_by_phy_offset(last).unwrap();
    let rec = first.decode().unwrap();
    wait_for("dispatch", || {
        slave.max_offset_in_queue(TOPIC, rec.queue_id)
            == master.max_offset_in_queue(TOPIC, rec.queue_id)
    });
    assert_eq!(
        slave.min_offset_in_queue(TOPIC, rec.queue_id),
        rec.queue_offset as u64
    );
    let got = slave.get_messages(TOPIC, rec.queue_id, rec.queue_offset as u64, 1);
    assert_eq!(got.messages[0].offset(), last);
}

#[test]
fn sync_master_acknowledges_only_what_the_slave_has() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut mc = config(md.path(), BrokerRole::SyncMaster);
    mc.flush_disk_type = FlushDiskType::SyncFlush;
    let master = Arc::new(MessageStore::open(mc).unwrap());
    // No HA service, then no slave: stored, but SLAVE_NOT_AVAILABLE.
    let m = Message::new(TOPIC, 0, b"early".to_vec());
    let r = master.put_message(&m).unwrap();
    assert_eq!(r.status, PutMessageStatus::SlaveNotAvailable);
    assert!(r.append.is_some());
    let addr = master.start_ha().unwrap().local_addr().unwrap();
    assert_eq!(
        master.put_message(&m).unwrap().status,
        PutMessageStatus::SlaveNotAvailable
    );
    let slave = Arc::new(MessageStore::open(slave_config(sd.path(), addr)).unwrap());
    start_slave(&master, &slave);
    wait_for("the slave to connect", || {
        master.ha().unwrap().slave_connections() == 1
    });
    // Many writers, blocking puts: when a put returns PUT_OK the slave holds its bytes.
    let hs: Vec<_> = (0..8)
        .map(|t| {
            let (master, slave) = (master.clone(), slave.clone());
            std::thread::spawn(move || {
                for i in 0..150 {
                    let r = master
                        .put_message(&Message::new(TOPIC, t, body(t as usize, i)))
                        .unwrap();
                    assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
                    let a = r.append.unwrap();
                    let (from, to) = (
                        a.wrote_offset as u64,
                        (a.wrote_offset + a.wrote_bytes as i64) as u64,
                    );
                    assert!(
                        slave.max_phy_offset() >= to,
                        "acknowledged before the slave had it"
                    );
                    assert_eq!(log_bytes(&slave, from, to), log_bytes(&master, from, to));
                }
            })
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    // The callback form: completes after the slave's acknowledgement, with PUT_OK.
    let (tx, rx) = mpsc::channel();
    for i in 0..200 {
        let tx = tx.clone();
        master
            .put_message_with_callback(&Message::new(TOPIC, 0, body(9, i)), move |r| {
                tx.send(r).unwrap()
            })
            .unwrap();
    }
    for _ in 0..200 {
        let r = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
        let a = r.append.unwrap();
        assert!(slave.max_phy_offset() >= (a.wrote_offset + a.wrote_bytes as i64) as u64);
    }
    // WAIT=false does not wait for the slave.
    let r = master
        .put_message(&Message::new(TOPIC, 0, b"nowait".to_vec()).with_property("WAIT", "false"))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::PutOk);
}

/// A slave that connects, reads and acknowledges only when told: drives the master from the
/// wire, with the protocol codecs.
struct ManualSlave {
    stream: TcpStream,
    dec: FrameDecoder,
    /// Data received: (offset, bytes).
    got: Vec<(u64, Vec<u8>)>,
    next: u64,
}

impl ManualSlave {
    fn connect(addr: SocketAddr, report: u64) -> ManualSlave {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(&protocol::encode_report(report)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        ManualSlave {
            stream,
            dec: FrameDecoder::new(),
            got: Vec::new(),
            next: report,
        }
    }
    /// Reads frames until the data reaches `to`.
    fn read_to(&mut self, to: u64) {
        let mut buf = [0u8; 65536];
        wait_for("frames", || {
            while let Some((h, b)) = self.dec.next_frame().unwrap() {
                assert_eq!(h.offset, self.next, "frames are contiguous");
                if !h.is_heartbeat() {
                    self.got.push((h.offset, b.to_vec()));
                    self.next += b.len() as u64;
                }
            }
            if self.next >= to {
                return true;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("master closed"),
                Ok(n) => self.dec.feed(&buf[..n]),
                Err(_) => {}
            }
            false
        });
    }
    fn ack(&mut self, offset: u64) {
        self.stream
            .write_all(&protocol::encode_report(offset))
            .unwrap();
    }
}

#[test]
fn sync_master_times_out_without_an_ack() {
    let md = tempfile::tempdir().unwrap();
    let mut mc = config(md.path(), BrokerRole::SyncMaster);
    mc.sync_flush_timeout_ms = 300;
    let master = MessageStore::open(mc).unwrap();
    let ha = master.start_ha().unwrap();
    let s = ManualSlave::connect(ha.local_addr().unwrap(), 0);
    wait_for("connection", || ha.slave_connections() == 1);
    let r = master
        .put_message(&Message::new(TOPIC, 0, b"one".to_vec()))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::FlushSlaveTimeout, "{r:?}");
    assert!(r.append.is_some(), "stored all the same");
    let (tx, rx) = mpsc::channel();
    master
        .put_message_with_callback(&Message::new(TOPIC, 0, b"two".to_vec()), move |r| {
            tx.send(r).unwrap()
        })
        .unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(30)).unwrap().status,
        PutMessageStatus::FlushSlaveTimeout
    );
    // The slave vanishes: SLAVE_NOT_AVAILABLE, without waiting.
    s.stream.shutdown(Shutdown::Both).unwrap();
    wait_for("the master to notice", || ha.slave_connections() == 0);
    let r = master
        .put_message(&Message::new(TOPIC, 0, b"three".to_vec()))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::SlaveNotAvailable);
}

#[test]
fn sync_master_completes_on_the_slaves_ack_of_its_end() {
    let md = tempfile::tempdir().unwrap();
    let mut mc = config(md.path(), BrokerRole::SyncMaster);
    mc.sync_flush_timeout_ms = 60_000;
    let master = Arc::new(MessageStore::open(mc).unwrap());
    let ha = master.start_ha().unwrap();
    let mut s = ManualSlave::connect(ha.local_addr().unwrap(), 0);
    wait_for("connection", || ha.slave_connections() == 1);
    for round in 0..2 {
        let (tx, rx) = mpsc::channel();
        let m = Message::new(TOPIC, 0, format!("message {round}").into_bytes());
        let h = if round == 0 {
            let m2 = master.clone();
            Some(std::thread::spawn(move || {
                tx.send(m2.put_message(&m).unwrap()).unwrap();
            }))
        } else {
            master
                .put_message_with_callback(&m, move |r| tx.send(r).unwrap())
                .unwrap();
            None
        };
        wait_for("the put to land", || {
            master.max_offset_in_queue(TOPIC, 0) == round + 1
        });
        let end = master.max_phy_offset();
        s.read_to(end);
        // The frames carry the master's bytes exactly.
        for (off, bytes) in &s.got {
            assert_eq!(&log_bytes(&master, *off, *off + bytes.len() as u64), bytes);
        }
        s.ack(end - 1);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            rx.try_recv().is_err(),
            "completed before the slave acknowledged its end"
        );
        s.ack(end);
        let r = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
        assert_eq!(ha.slave_acked_offset(), end);
        if let Some(h) = h {
            h.join().unwrap();
        }
    }
    let st = ha.status();
    assert_eq!(st.slaves.len(), 1);
    assert_eq!(st.slaves[0].request_offset, Some(0));
    assert_eq!(st.slaves[0].ack_offset, Some(master.max_phy_offset()));
}

/// A loopback proxy that cuts every connection after a random number of bytes in either
/// direction (mid-frame, mid-report), until told to stop cutting.
struct FlakyProxy {
    addr: SocketAddr,
    live: Arc<Mutex<Vec<TcpStream>>>,
    cutting: Arc<AtomicBool>,
    cuts: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl FlakyProxy {
    fn start(target: SocketAddr, seed: u64) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let cutting = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let l2 = live.clone();
        let cuts = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, n, s) = (cutting.clone(), cuts.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = seed;
            while !s.load(Ordering::Acquire) {
                let Ok((down, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                down.set_nonblocking(false).unwrap();
                let Ok(up) = TcpStream::connect(target) else {
                    continue;
                };
                l2.lock().unwrap().push(down.try_clone().unwrap());
                rng = xorshift(rng);
                // Budgets: master->slave up to ~200 KB, slave->master up to ~40 reports, and
                // never a multiple of the unit, so cuts land inside frames and reports.
                let to_slave = if c.load(Ordering::Acquire) {
                    1 + rng % 200_000
                } else {
                    u64::MAX
                };
                let to_master = if c.load(Ordering::Acquire) {
                    1 + (rng >> 20) % 331
                } else {
                    u64::MAX
                };
                for (from, to, budget) in [
                    (up.try_clone().unwrap(), down.try_clone().unwrap(), to_slave),
                    (
                        down.try_clone().unwrap(),
                        up.try_clone().unwrap(),
                        to_master,
                    ),
                ] {
                    let n = n.clone();
                    std::thread::spawn(move || pipe(from, to, budget, &n));
                }
            }
        });
        FlakyProxy {
            addr,
            live,
            cutting,
            cuts,
            stop,
        }
    }
}

impl FlakyProxy {
    /// Starts cutting: the current connections are cut now, new ones after random budgets.
    fn start_cutting(&self) {
        self.cutting.store(true, Ordering::Release);
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, mut budget: u64, cuts: &AtomicU64) {
    let mut buf = [0u8; 8192];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let pass = (n as u64).min(budget) as usize;
        if to.write_all(&buf[..pass]).is_err() {
            break;
        }
        budget -= pass as u64;
        if budget == 0 {
            cuts.fetch_add(1, Ordering::AcqRel);
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

#[test]
fn connections_cut_at_random_points_lose_nothing() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = Arc::new(MessageStore::open(config(md.path(), BrokerRole::AsyncMaster)).unwrap());
    let addr = master.start_ha().unwrap().local_addr().unwrap();
    let proxy = FlakyProxy::start(addr, 0x2545_F491_4F6C_DD1D);
    let mut sc = slave_config(sd.path(), proxy.addr);
    sc.ha_send_heartbeat_interval_ms = 20;
    let slave = MessageStore::open(sc).unwrap();
    let ha = start_slave(&master, &slave);
    // The slave starts empty; once it has data it resumes from its own end after each cut.
    master
        .put_message(&Message::new(TOPIC, 0, b"first".to_vec()))
        .unwrap();
    wait_for("the first message", || {
        slave.max_phy_offset() == master.max_phy_offset()
    });
    proxy.start_cutting();
    write_load(&master, 3, 300);
    wait_for("some cuts", || proxy.cuts.load(Ordering::Acquire) >= 10);
    proxy.cutting.store(false, Ordering::Release);
    wait_for("the slave to catch up", || {
        caught_up(&master, &slave, &queues(3))
    });
    assert_prefix(&master, &slave, "after cuts");
    let st = ha.status();
    assert!(st.client.as_ref().unwrap().connects >= 10, "{st:?}");
    assert!(st.divergence.is_none(), "{st:?}");
    slave.shutdown().unwrap();
    Arc::try_unwrap(master).unwrap().shutdown().unwrap();
    assert_same_store(md.path(), sd.path());
}

#[test]
fn slave_and_master_restarts_resume_where_they_were() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut master =
        Arc::new(MessageStore::open(config(md.path(), BrokerRole::AsyncMaster)).unwrap());
    let mut addr = master.start_ha().unwrap().local_addr().unwrap();
    for round in 0..3 {
        // The slave restarts from its own recovered end (clean shutdown in between).
        let slave = reopen(slave_config(sd.path(), addr));
        let before = slave.max_phy_offset();
        let ha = start_slave(&master, &slave);
        write_load(&master, 2, 60);
        wait_for("catch up", || caught_up(&master, &slave, &queues(2)));
        assert_prefix(&master, &slave, &format!("round {round}"));
        if round > 0 {
            assert!(
                before > 0 && slave.min_phy_offset() == 0,
                "resumed, not restarted"
            );
        }
        // The master restarts; the slave reconnects to the new address.
        Arc::try_unwrap(master).unwrap().shutdown().unwrap();
        master = Arc::new(reopen(config(md.path(), BrokerRole::AsyncMaster)));
        addr = master.start_ha().unwrap().local_addr().unwrap();
        ha.set_master_address(&addr.to_string());
        write_load(&master, 2, 60);
        wait_for("catch up after master restart", || {
            caught_up(&master, &slave, &queues(2))
        });
        assert!(ha.status().client.unwrap().connects >= 2);
        assert_prefix(&master, &slave, &format!("round {round}, master restarted"));
        slave.shutdown().unwrap();
    }
    Arc::try_unwrap(master).unwrap().shutdown().unwrap();
    assert_same_store(md.path(), sd.path());
}

// ---------------------------------------------------------------------------------------------
// Child processes, killed with SIGKILL
// ---------------------------------------------------------------------------------------------

const CHILD_ROLE: &str = "RMQSTORE_HA_CHILD_ROLE";
const CHILD_DIR: &str = "RMQSTORE_HA_CHILD_DIR";
const CHILD_ADDR: &str = "RMQSTORE_HA_CHILD_ADDR";

/// The child: a slave of `CHILD_ADDR`, or a master listening there and writing, until killed.
#[test]
#[ignore = "run by the HA kill tests as a child process"]
fn ha_child() {
    let role = std::env::var(CHILD_ROLE).expect("child needs a role");
    let dir = std::env::var(CHILD_DIR).unwrap();
    let addr: SocketAddr = std::env::var(CHILD_ADDR).unwrap().parse().unwrap();
    let mut out = std::io::stdout();
    if role == "slave" {
        let store = MessageStore::open(slave_config(Path::new(&dir), addr)).unwrap();
        store.start_ha().unwrap();
        writeln!(out, "READY {}", store.max_phy_offset()).unwrap();
        out.flush().unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let mut c = config(Path::new(&dir), BrokerRole::AsyncMaster);
    c.ha_listen_port = addr.port();
    let store = Arc::new(MessageStore::open(c).unwrap());
    store.start_ha().unwrap();
    writeln!(out, "READY {}", store.max_phy_offset()).unwrap();
    out.flush().unwrap();
    let hs: Vec<_> = (0..2)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut i = store.max_offset_in_queue(TOPIC, t) as usize;
                loop {
                    let m = Message::new(TOPIC, t, body(t as usize, i)).with_keys(&format!("k{i}"));
                    store.put_message(&m).unwrap();
                    i += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
            })
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
}

fn spawn_child(role: &str, dir: &Path, addr: SocketAddr) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "ha_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ROLE, role)
        .env(CHILD_DIR, dir)
        .env(CHILD_ADDR, addr.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the child's store is open (and, for a master, listening).
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("child ended before READY").unwrap();
        if line.contains("READY") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    child
}

fn kill(mut child: Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn sync_master_acks_survive_a_killed_slave() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut mc = config(md.path(), BrokerRole::SyncMaster);
    mc.flush_disk_type = FlushDiskType::SyncFlush;
    mc.sync_flush_timeout_ms = 1000;
    let master = Arc::new(MessageStore::open(mc).unwrap());
    let ha = master.start_ha().unwrap();
    let addr = ha.local_addr().unwrap();
    let acks: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (master, acks, stop) = (master.clone(), acks.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Acquire) {
                    let r = master
                        .put_message(&Message::new(TOPIC, t, body(t as usize, i)))
                        .unwrap();
                    i += 1;
                    match r.status {
                        PutMessageStatus::PutOk => {
                            let a = r.append.unwrap();
                            acks.lock()
                                .unwrap()
                                .push((a.wrote_offset as u64, a.wrote_bytes as u64));
                        }
                        _ => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        })
        .collect();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut checked = 0;
    for round in 0..6 {
        let child = spawn_child("slave", sd.path(), addr);
        rng = xorshift(rng);
        std::thread::sleep(Duration::from_millis(100 + rng % 300));
        kill(child);
        // Every put acknowledged so far was acknowledged by the dead slave: it must have it.
        let acked: Vec<_> = acks.lock().unwrap().clone();
        let slave = MessageStore::open_read_only(slave_config(sd.path(), addr)).unwrap();
        for &(off, len) in &acked {
            assert!(
                off + len <= slave.max_phy_offset(),
                "round {round}: acknowledged record at {off} missing on the slave"
            );
            assert_eq!(
                log_bytes(&slave, off, off + len),
                log_bytes(&master, off, off + len),
                "round {round}: record at {off}"
            );
        }
        assert_prefix(&master, &slave, &format!("round {round}"));
        checked = acked.len();
    }
    stop.store(true, Ordering::Release);
    writers.into_iter().for_each(|h| h.join().unwrap());
    assert!(checked > 0, "nothing was acknowledged");
}

#[test]
fn killed_master_restarts_and_the_slave_follows() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let slave = MessageStore::open(slave_config(sd.path(), addr)).unwrap();
    let ha = slave.start_ha().unwrap();
    let mut rng = 0xD1B5_4A32_D192_ED03u64;
    for round in 0..4 {
        let child = spawn_child("master", md.path(), addr);
        rng = xorshift(rng);
        std::thread::sleep(Duration::from_millis(150 + rng % 250));
        kill(child);
        let master =
            MessageStore::open_read_only(config(md.path(), BrokerRole::AsyncMaster)).unwrap();
        assert_prefix(&master, &slave, &format!("round {round}"));
    }
    // One last master that stays: the slave catches up with everything.
    let child = spawn_child("master", md.path(), addr);
    std::thread::sleep(Duration::from_millis(200));
    kill(child);
    let mut c = config(md.path(), BrokerRole::AsyncMaster);
    c.ha_listen_port = addr.port();
    let master = MessageStore::open(c).unwrap();
    master.start_ha().unwrap();
    wait_for("catch up", || caught_up(&master, &slave, &queues(2)));
    assert_prefix(&master, &slave, "final");
    assert!(master.max_phy_offset() > 0);
    assert!(ha.status().client.unwrap().connects >= 5);
    assert!(slave.background_error().is_none());
}

// ---------------------------------------------------------------------------------------------
// Divergence
// ---------------------------------------------------------------------------------------------

/// A store written directly (as a master), `n` messages whose bodies start with `tag`.
fn write_store(dir: &Path, n: usize, tag: &str) {
    let s = MessageStore::open(config(dir, BrokerRole::AsyncMaster)).unwrap();
    for i in 0..n {
        let mut b = body(0, i);
        b[..tag.len()].copy_from_slice(tag.as_bytes());
        s.put_message(&Message::new(TOPIC, 0, b)).unwrap();
    }
    s.shutdown().unwrap();
}

fn commitlog_digest(dir: &Path) -> BTreeMap<String, String> {
    tree_digest(&dir.join("commitlog"))
}

fn diverged_slave(
    master_n: usize,
    master_tag: &str,
    slave_n: usize,
    slave_tag: &str,
) -> (String, Option<String>) {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_store(md.path(), master_n, master_tag);
    write_store(sd.path(), slave_n, slave_tag);
    let before = commitlog_digest(sd.path());
    let master = reopen(config(md.path(), BrokerRole::AsyncMaster));
    let mha = master.start_ha().unwrap();
    let slave = reopen(slave_config(sd.path(), mha.local_addr().unwrap()));
    let ha = slave.start_ha().unwrap();
    wait_for("divergence to be detected", || {
        slave.background_error().is_some()
    });
    let st = ha.status();
    assert!(st.client.as_ref().unwrap().stopped, "{st:?}");
    let err = slave.background_error().unwrap();
    assert_eq!(st.divergence.as_deref(), Some(err.as_str()));
    // Nothing was merged, and nothing will be.
    master
        .put_message(&Message::new(TOPIC, 0, b"more".to_vec()))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    slave.shutdown().unwrap();
    assert_eq!(
        commitlog_digest(sd.path()),
        before,
        "the slave's commitlog changed"
    );
    (err, mha.status().divergence)
}

#[test]
fn a_slave_longer_than_the_master_is_reported() {
    let (slave_err, master_err) = diverged_slave(20, "AAAA", 400, "AAAA");
    assert!(slave_err.contains("diverged"), "{slave_err}");
    assert!(
        slave_err.contains("the slave has bytes the master does not"),
        "{slave_err}"
    );
    assert!(master_err.unwrap().contains("beyond this master's end"));
}

#[test]
fn a_slave_with_different_bytes_is_reported() {
    let (slave_err, _) = diverged_slave(300, "AAAA", 200, "BBBB");
    assert!(
        slave_err.contains("differs from the master's at offset"),
        "{slave_err}"
    );
}

// ---------------------------------------------------------------------------------------------
// rmqstore replicate
// ---------------------------------------------------------------------------------------------

fn replicate(addr: SocketAddr, dir: &Path, commitlog_size: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .args(["replicate", "--from", &addr.to_string(), "--store"])
        .arg(dir)
        .args(["--commitlog-size", commitlog_size, "--cq-size", "4000"])
        .args(["--hash-slots", "1000", "--index-num", "4000"])
        .args(["--idle-exit", "0.5", "--heartbeat-ms", "100"])
        .output()
        .unwrap()
}

#[test]
fn replicate_command_pulls_and_resumes_a_copy() {
    let (md, sd, bad) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let master = Arc::new(MessageStore::open(config(md.path(), BrokerRole::AsyncMaster)).unwrap());
    let addr = master.start_ha().unwrap().local_addr().unwrap();
    write_load(&master, 2, 100);
    while master.commit_log().files().len() % 2 == 1 {
        master
            .put_message(&Message::new(TOPIC, 0, vec![b'x'; 1000]))
            .unwrap();
    }
    let last = master
        .commit_log()
        .files()
        .last()
        .unwrap()
        .file_from_offset();
    let out = replicate(addr, sd.path(), "65536");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("stopped at offset"), "{err}");
    {
        let copy = MessageStore::open_read_only(slave_config(sd.path(), addr)).unwrap();
        assert_eq!(copy.min_phy_offset(), last);
        assert_eq!(copy.max_phy_offset(), master.max_phy_offset());
        assert_prefix(&master, &copy, "first pull");
    }
    // A segment size that is not the master's is refused (the master's last segment starts at an odd multiple of 64 KiB), naming the setting.
    let out = replicate(addr, bad.path(), "131072");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("mappedFileSizeCommitLog"), "{err}");
    // The master moves on; a second run resumes from the copy's end.
    write_load(&master, 2, 100);
    let out = replicate(addr, sd.path(), "65536");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = MessageStore::open_read_only(slave_config(sd.path(), addr)).unwrap();
    assert_eq!(copy.min_phy_offset(), last);
    assert_eq!(copy.max_phy_offset(), master.max_phy_offset());
    assert_prefix(&master, &copy, "second pull");
}

/// Throughput of blocking puts from many writers: SYNC_FLUSH alone against SYNC_FLUSH with
/// SYNC_MASTER replication to a slave on loopback. Prints numbers; asserts nothing about time.
/// `cargo test --release --test ha -- --ignored --nocapture throughput`
#[test]
#[ignore = "benchmark"]
fn throughput_sync_master_vs_sync_flush() {
    const WRITERS: usize = 16;
    const PER_WRITER: usize = 2000;
    let run = |role: BrokerRole| -> f64 {
        let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut c = config(md.path(), role);
        c.flush_disk_type = FlushDiskType::SyncFlush;
        c.mapped_file_size_commit_log = 16 * 1024 * 1024;
        c.mapped_file_size_consume_queue_raw = 300_000 * 20;
        c.max_hash_slot_num = 100_000;
        c.max_index_num = 400_000;
        let master = Arc::new(MessageStore::open(c).unwrap());
        let mut slave = None;
        if role == BrokerRole::SyncMaster {
            let addr = master.start_ha().unwrap().local_addr().unwrap();
            let mut sc = slave_config(sd.path(), addr);
            sc.flush_disk_type = FlushDiskType::SyncFlush;
            sc.mapped_file_size_commit_log = 16 * 1024 * 1024;
            sc.mapped_file_size_consume_queue_raw = 300_000 * 20;
            sc.max_hash_slot_num = 100_000;
            sc.max_index_num = 400_000;
            let s = MessageStore::open(sc).unwrap();
            start_slave(&master, &s);
            slave = Some(s);
        }
        let t0 = Instant::now();
        let hs: Vec<_> = (0..WRITERS)
            .map(|t| {
                let master = master.clone();
                std::thread::spawn(move || {
                    for i in 0..PER_WRITER {
                        let m = Message::new(TOPIC, t as i32, vec![b'x'; 512])
                            .with_keys(&format!("k{t}-{i}"));
                        let r = master.put_message(&m).unwrap();
                        assert_eq!(r.status, PutMessageStatus::PutOk);
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        let rate = (WRITERS * PER_WRITER) as f64 / t0.elapsed().as_secs_f64();
        drop(slave);
        rate
    };
    let mut flush = 0.0f64;
    let mut repl = 0.0f64;
    for _ in 0..3 {
        flush = flush.max(run(BrokerRole::AsyncMaster));
        repl = repl.max(run(BrokerRole::SyncMaster));
    }
    println!(
        "{WRITERS} writers x {PER_WRITER} puts of 512 B: SYNC_FLUSH {flush:.0} puts/s, \
         SYNC_FLUSH + SYNC_MASTER {repl:.0} puts/s (best of 3 each), ratio {:.2}",
        flush / repl
    );
}

/// The checkpoint's first three longs (physic, logics, index) as stored in `root/checkpoint`.
fn checkpoint_longs(root: &Path) -> [i64; 3] {
    let b = fs::read(root.join("checkpoint")).unwrap();
    let l = |i: usize| i64::from_be_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
    [l(0), l(1), l(2)]
}

/// Issue 12 item 7: a Java slave sets `physicMsgTimestamp` to the store timestamp of each record
/// it dispatches into a consume queue (`ConsumeQueue#putMessagePositionInfoWrapper`, role
/// SLAVE), as it does `logicsMsgTimestamp`; its commitlog flush never sets it (a replicated
/// segment has no store timestamp). A PREPARED record, which goes to no consume queue, does
/// not move it.
#[test]
fn slave_checkpoint_physic_timestamp_is_the_last_dispatched_store_time() {
    use rmqstore::clock::ManualClock;
    use rmqstore::OpenMode;
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let clock = ManualClock::new(1_700_000_000_000);
    let master = MessageStore::open_with(
        config(md.path(), BrokerRole::AsyncMaster),
        OpenMode::ReadWrite,
        Arc::new(clock.clone()),
    )
    .unwrap();
    let addr = master.start_ha().unwrap().local_addr().unwrap();
    let slave = MessageStore::open(slave_config(sd.path(), addr)).unwrap();
    start_slave(&master, &slave);
    let mut last_queued = 0;
    for i in 0..40 {
        clock.advance(1000);
        let r = master
            .put_message(&Message::new(TOPIC, i % 4, body(0, i as usize)))
            .unwrap();
        assert!(r.is_ok(), "{r:?}");
        last_queued = 1_700_000_000_000 + 1000 * (i as i64 + 1);
    }
    clock.advance(1000);
    let mut prepared = Message::new(TOPIC, 0, b"half".to_vec());
    prepared.sys_flag = rmqstore::format::record::sysflag::TRANSACTION_PREPARED_TYPE;
    assert!(master.put_message(&prepared).unwrap().is_ok());
    assert_eq!(
        master.max_offset_in_queue(TOPIC, 0),
        10,
        "PREPARED is in no queue"
    );
    wait_for("the slave to catch up", || {
        caught_up(
            &master,
            &slave,
            &[(TOPIC, 0), (TOPIC, 1), (TOPIC, 2), (TOPIC, 3)],
        )
    });
    slave.shutdown().unwrap();
    let [physic, logics, _] = checkpoint_longs(sd.path());
    assert_eq!(logics, last_queued, "slave logicsMsgTimestamp");
    assert_eq!(physic, last_queued, "slave physicMsgTimestamp");
    master.shutdown().unwrap();
}
