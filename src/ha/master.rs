//! The master side (`HAService` accept loop and `HAConnection`, 4.6.0).
//!
//! One connection per slave, with two threads: the read thread takes the slave's offset
//! reports (the first says where to start, later ones acknowledge), the write thread streams
//! frames of at most `haTransferBatchSize` bytes, never crossing a segment end, and sends a
//! heartbeat (an empty frame) after `haSendHeartbeatInterval` without a write. A connection
//! with no report for `haHousekeepingInterval` is closed.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::commitlog::CommitLog;
use crate::config::StoreConfig;
use crate::error::{Result, StoreError};
use crate::ha::protocol::{encode_header, FrameHeader, ReportDecoder, HEADER_LEN};
use crate::ha::{HaShared, SlaveConnection};
use crate::store::StoreService;

#[derive(Debug, Clone)]
struct Settings {
    heartbeat: Duration,
    housekeeping: Duration,
    batch: usize,
}

/// One slave connection.
pub struct Connection {
    peer: SocketAddr,
    stream: TcpStream,
    /// The slave's first report (-1: none yet).
    request: AtomicI64,
    /// Where streaming starts, decided when the first report arrives (-1: not yet).
    start: AtomicI64,
    /// The slave's last acknowledgement (-1: none yet).
    ack: AtomicI64,
    sent: AtomicU64,
    closed: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn status(&self) -> SlaveConnection {
        let opt = |v: i64| (v >= 0).then_some(v as u64);
        SlaveConnection {
            peer: self.peer,
            request_offset: opt(self.request.load(Ordering::Acquire)),
            ack_offset: opt(self.ack.load(Ordering::Acquire)),
            sent_offset: self.sent.load(Ordering::Acquire),
        }
    }

    /// Closes the socket (both threads then end) and forgets the connection, once.
    fn close(self: &Arc<Self>, shared: &HaShared) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        shared.connections.lock().retain(|c| !Arc::ptr_eq(c, self));
        shared.transfer.connection_closed();
        shared.transfer.notify_new_data();
    }
}

/// The accept loop and the connections it made.
pub(crate) struct MasterService {
    shared: Arc<HaShared>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl MasterService {
    /// Binds `haListenAddress:haListenPort` and starts accepting slaves.
    pub(crate) fn start(
        shared: Arc<HaShared>,
        commit_log: Arc<CommitLog>,
        config: &StoreConfig,
    ) -> Result<MasterService> {
        let ip: std::net::IpAddr = config.ha_listen_address.parse().map_err(|e| {
            StoreError::Config(format!(
                "haListenAddress {:?}: {e}",
                config.ha_listen_address
            ))
        })?;
        let bind = SocketAddr::new(ip, config.ha_listen_port);
        let bind_err = |e: std::io::Error| {
            StoreError::Invalid(format!("HA: cannot listen on {bind} (haListenPort): {e}"))
        };
        let listener = TcpListener::bind(bind).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        *shared.listen_addr.lock() = Some(listener.local_addr().map_err(bind_err)?);
        let settings = Settings {
            heartbeat: Duration::from_millis(config.ha_send_heartbeat_interval_ms.max(1)),
            housekeeping: Duration::from_millis(config.ha_housekeeping_interval_ms.max(1)),
            batch: config.ha_transfer_batch_size.max(1),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, stop2) = (shared.clone(), stop.clone());
        let accept = std::thread::Builder::new()
            .name("HAAcceptSocketService".into())
            .spawn(move || accept_loop(listener, s2, commit_log, settings, stop2))
            .map_err(bind_err)?;
        Ok(MasterService {
            shared,
            stop,
            accept: Some(accept),
        })
    }
}

impl StoreService for MasterService {
    fn name(&self) -> &str {
        "HAService"
    }
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let conns: Vec<_> = self.shared.connections.lock().clone();
        for c in conns {
            c.close(&self.shared);
            let threads: Vec<_> = c.threads.lock().drain(..).collect();
            for t in threads {
                let _ = t.join();
            }
        }
        *self.shared.listen_addr.lock() = None;
    }
}

impl Drop for MasterService {
    fn drop(&mut self) {
        StoreService::stop(self);
    }
}

fn accept_loop(
    listener: TcpListener,
    shared: Arc<HaShared>,
    commit_log: Arc<CommitLog>,
    settings: Settings,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, peer)) => {
                match open_connection(stream, peer, &shared, &commit_log, &settings, &stop) {
                    Ok(()) => tracing::info!(%peer, "HA: slave connected"),
                    Err(e) => shared.error(format!("HA: connection from {peer}: {e}")),
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                shared.error(format!("HA: accept: {e}"));
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn open_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<HaShared>,
    commit_log: &Arc<CommitLog>,
    settings: &Settings,
    stop: &Arc<AtomicBool>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(settings.housekeeping))?;
    stream.set_write_timeout(Some(settings.housekeeping))?;
    let reader = stream.try_clone()?;
    let writer = stream.try_clone()?;
    let conn = Arc::new(Connection {
        peer,
        stream,
        request: AtomicI64::new(-1),
        start: AtomicI64::new(-1),
        ack: AtomicI64::new(-1),
        sent: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        threads: Mutex::new(Vec::new()),
    });
    shared.transfer.connection_opened();
    shared.connections.lock().push(conn.clone());
    let (c1, s1, l1) = (conn.clone(), shared.clone(), commit_log.clone());
    let r = std::thread::Builder::new()
        .name(format!("HAReadSocketService-{peer}"))
        .spawn(move || {
            read_loop(reader, &c1, &s1, &l1);
            c1.close(&s1);
        });
    let (c2, s2, l2, set2, stop2) = (
        conn.clone(),
        shared.clone(),
        commit_log.clone(),
        settings.clone(),
        stop.clone(),
    );
    let w = std::thread::Builder::new()
        .name(format!("HAWriteSocketService-{peer}"))
        .spawn(move || {
            if let Err(e) = write_loop(writer, &c2, &s2, &l2, &set2, &stop2) {
                if !c2.closed.load(Ordering::Acquire) {
                    s2.error(format!("HA: slave {}: {e}", c2.peer));
                }
            }
            c2.close(&s2);
        });
    let mut threads = conn.threads.lock();
    for t in [r, w] {
        match t {
            Ok(h) => threads.push(h),
            Err(e) => {
                drop(threads);
                conn.close(shared);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Takes offset reports until the connection ends.
fn read_loop(mut stream: TcpStream, conn: &Arc<Connection>, shared: &HaShared, log: &CommitLog) {
    let mut dec = ReportDecoder::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
                    && !conn.closed.load(Ordering::Acquire)
                {
                    shared.error(format!(
                        "HA: slave {} sent nothing within haHousekeepingInterval; closed",
                        conn.peer
                    ));
                }
                return;
            }
        };
        let reports = match dec.feed(&buf[..n]) {
            Ok(r) => r,
            Err(e) => {
                shared.error(format!("HA: slave {}: {e}", conn.peer));
                return;
            }
        };
        for v in reports {
            if conn.request.load(Ordering::Acquire) < 0 {
                // Where to start. Checked against what this master has before anything is sent.
                let (min, max) = (log.min_offset(), log.max_offset());
                if v > max {
                    shared.diverged(format!(
                        "slave {} reported commitlog offset {v}, beyond this master's end {max}: \
                         the slave has bytes the master does not (diverged); refused",
                        conn.peer
                    ));
                    refuse(&stream, max);
                    return;
                }
                if v != 0 && v < min {
                    shared.error(format!(
                        "slave {} reported commitlog offset {v}, before this master's first \
                         segment at {min}: it cannot catch up; refused",
                        conn.peer
                    ));
                    refuse(&stream, min);
                    return;
                }
                // An empty slave starts at the master's last segment.
                let start = if v == 0 {
                    max - max % log.file_size() as u64
                } else {
                    v
                };
                conn.sent.store(start, Ordering::Release);
                conn.start.store(start as i64, Ordering::Release);
                conn.request.store(v as i64, Ordering::Release);
                shared.transfer.notify_new_data();
            } else {
                conn.ack.store(v as i64, Ordering::Release);
                let max = log.max_offset();
                if v > max {
                    shared.diverged(format!(
                        "slave {} acknowledged offset {v}, beyond this master's end {max}; closed",
                        conn.peer
                    ));
                    return;
                }
                shared.transfer.notify_transfer_some(v);
            }
        }
    }
}

/// Tells a slave where this master's data is, as a heartbeat, before closing: a Java slave
/// sees an offset that is not its own and reconnects; a Rust slave reports the divergence.
fn refuse(mut stream: &TcpStream, offset: u64) {
    let _ = stream.write_all(&encode_header(FrameHeader { offset, size: 0 }));
}

/// Streams frames until the connection ends.
fn write_loop(
    mut stream: TcpStream,
    conn: &Arc<Connection>,
    shared: &HaShared,
    log: &CommitLog,
    settings: &Settings,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let live = || !conn.closed.load(Ordering::Acquire) && !stop.load(Ordering::Acquire);
    // Nothing is sent before the slave's first report.
    let mut next = loop {
        if !live() {
            return Ok(());
        }
        let gen = shared.transfer.data_generation();
        let start = conn.start.load(Ordering::Acquire);
        if start >= 0 {
            break start as u64;
        }
        shared
            .transfer
            .wait_new_data(gen, Duration::from_millis(10));
    };
    let mut last_write = Instant::now();
    let mut out: Vec<u8> = Vec::with_capacity(HEADER_LEN + settings.batch);
    while live() {
        if last_write.elapsed() > settings.heartbeat {
            stream.write_all(&encode_header(FrameHeader {
                offset: next,
                size: 0,
            }))?;
            last_write = Instant::now();
        }
        let gen = shared.transfer.data_generation();
        let Some(f) = log.files().find_by_offset(next) else {
            let min = log.min_offset();
            if next < min {
                return Err(std::io::Error::other(format!(
                    "offset {next} is no longer in the commitlog (it starts at {min}); closed"
                )));
            }
            shared
                .transfer
                .wait_new_data(gen, Duration::from_millis(100));
            continue;
        };
        let pos = (next - f.file_from_offset()) as usize;
        let data = f.readable();
        if pos >= data.len() {
            shared
                .transfer
                .wait_new_data(gen, Duration::from_millis(100));
            continue;
        }
        let body = &data[pos..data.len().min(pos + settings.batch)];
        out.clear();
        out.extend_from_slice(&encode_header(FrameHeader {
            offset: next,
            size: body.len() as u32,
        }));
        out.extend_from_slice(body);
        stream.write_all(&out)?;
        next += body.len() as u64;
        conn.sent.store(next, Ordering::Release);
        last_write = Instant::now();
    }
    Ok(())
}
