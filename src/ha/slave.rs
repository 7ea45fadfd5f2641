//! The slave side (`HAService.HAClient`, 4.6.0).
//!
//! Connects to `haMasterAddress`, reports where it is, and applies the master's frames: each
//! frame must start exactly where the slave is (else it reconnects, as Java does), its bytes
//! are appended verbatim at the master's offsets (so segments are byte copies, blank records
//! and their tails included) and every record that became complete is dispatched into the
//! slave's own consume queues and index. The slave reports its end whenever it grew, and every
//! `haSendHeartbeatInterval` anyway; it reconnects after `haHousekeepingInterval` without a byte
//! from the master.
//!
//! Divergence: a slave that already has data asks for the last [`VERIFY_WINDOW`] bytes again
//! and compares them with its own before it appends or acknowledges anything; a master that
//! refuses the slave's offset answers with a heartbeat carrying its own end. Either way the
//! slave stops replicating and reports the divergence ([`crate::ha::HaStatus::divergence`],
//! [`MessageStore::background_error`](crate::MessageStore::background_error)); nothing is
//! merged.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::commitlog::CommitLog;
use crate::config::StoreConfig;
use crate::dispatch::Dispatcher;
use crate::format::get_i32;
use crate::format::record::{BLANK_MAGIC, MAGIC_V1, MAGIC_V2};
use crate::ha::protocol::{encode_report, FrameDecoder};
use crate::ha::{ClientStatus, HaShared};
use crate::store::StoreService;

/// Bytes before its end that a slave with data asks the master to send again, to compare.
pub const VERIFY_WINDOW: u64 = 64 * 1024;

/// The client thread.
pub(crate) struct ClientService {
    stop: Arc<AtomicBool>,
    current: Arc<Mutex<Option<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl ClientService {
    pub(crate) fn start(
        shared: Arc<HaShared>,
        log: Arc<CommitLog>,
        dispatcher: Arc<Dispatcher>,
        config: &StoreConfig,
    ) -> std::io::Result<ClientService> {
        let stop = Arc::new(AtomicBool::new(false));
        let current = Arc::new(Mutex::new(None));
        let end = log.max_offset();
        *shared.client.lock() = Some(ClientStatus {
            master_address: shared.master_address.lock().clone(),
            reported_offset: end,
            ..ClientStatus::default()
        });
        let mut client = Client {
            shared,
            log,
            dispatcher,
            heartbeat: Duration::from_millis(config.ha_send_heartbeat_interval_ms.max(1)),
            housekeeping: Duration::from_millis(config.ha_housekeeping_interval_ms.max(1)),
            stop: stop.clone(),
            current: current.clone(),
            cursor: (end > 0).then_some(end),
            floor: 0,
        };
        let thread = std::thread::Builder::new()
            .name("HAClient".into())
            .spawn(move || client.run())?;
        Ok(ClientService {
            stop,
            current,
            thread: Some(thread),
        })
    }
}

impl StoreService for ClientService {
    fn name(&self) -> &str {
        "HAClient"
    }
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(s) = self.current.lock().as_ref() {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ClientService {
    fn drop(&mut self) {
        StoreService::stop(self);
    }
}

/// How a connection ended.
enum End {
    Stopped,
    /// Reconnect.
    Disconnected(String),
    /// Stop replicating for good.
    Fatal(String),
}

struct Client {
    shared: Arc<HaShared>,
    log: Arc<CommitLog>,
    dispatcher: Arc<Dispatcher>,
    heartbeat: Duration,
    housekeeping: Duration,
    stop: Arc<AtomicBool>,
    current: Arc<Mutex<Option<TcpStream>>>,
    /// Start of the next record header not yet checked against this store's segment size.
    cursor: Option<u64>,
    /// The master said its log starts here: never ask for less (the verify window shrinks).
    floor: u64,
}

impl Client {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn status(&self, f: impl FnOnce(&mut ClientStatus)) {
        if let Some(s) = self.shared.client.lock().as_mut() {
            f(s);
        }
    }

    /// Sleeps up to `d`, less if stopped.
    fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopped() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5).min(d));
        }
    }

    fn run(&mut self) {
        // Java waits 5 s after a failed connect; with short heartbeats (tests) we wait less.
        let retry = self.heartbeat.min(Duration::from_secs(5));
        while !self.stopped() {
            let addr = self.shared.master_address.lock().clone();
            self.status(|s| s.master_address = addr.clone());
            let Some(addr) = addr else {
                self.pause(retry);
                continue;
            };
            let stream = match connect(&addr) {
                Ok(s) => s,
                Err(e) => {
                    self.shared
                        .error(format!("HA: cannot connect to master {addr}: {e}"));
                    self.pause(retry);
                    continue;
                }
            };
            *self.current.lock() = stream.try_clone().ok();
            if self.stopped() {
                break;
            }
            self.status(|s| {
                s.connects += 1;
                s.connected = true;
            });
            let end = self.session(stream);
            // Records appended in the session but not yet dispatched (the session ended between
            // an append and its dispatch, e.g. the acknowledgement failed because the master
            // died) are dispatched now: the next session sends them again only as the compared
            // window, which is not appended, so nothing else would dispatch them until the
            // master writes more (Java's reput thread dispatches whatever is committed).
            if let Err(e) = self.dispatcher.reput_to_committed(&self.log) {
                self.shared
                    .error(format!("HA: dispatching replicated records: {e}"));
            }
            *self.current.lock() = None;
            self.status(|s| s.connected = false);
            match end {
                End::Stopped => break,
                End::Disconnected(why) => {
                    if !self.stopped() {
                        self.shared.error(format!("HA: master {addr}: {why}"));
                    }
                    self.pause(retry.min(Duration::from_millis(200)));
                }
                End::Fatal(why) => {
                    // The status first: whoever sees the error must also see the stop.
                    let msg = format!("HA: replication from {addr} stopped: {why}");
                    *self.shared.fatal.lock() = Some(why);
                    self.status(|s| s.stopped = true);
                    self.shared.error(msg);
                    break;
                }
            }
        }
    }

    /// One connection, from the first report to its end.
    fn session(&mut self, mut stream: TcpStream) -> End {
        let io = |e: std::io::Error| End::Disconnected(e.to_string());
        let tick = self
            .heartbeat
            .min(Duration::from_secs(1))
            .max(Duration::from_millis(1));
        if let Err(e) = stream
            .set_nodelay(true)
            .and_then(|_| stream.set_read_timeout(Some(tick)))
            .and_then(|_| stream.set_write_timeout(Some(self.housekeeping)))
        {
            return io(e);
        }
        let own_end = self.log.max_offset();
        let start = if own_end == 0 {
            0
        } else {
            // Never 0 (which would mean "I am empty").
            own_end
                .saturating_sub(VERIFY_WINDOW)
                .max(self.log.min_offset())
                .max(self.floor.min(own_end))
                .max(1)
        };
        let verify_end = own_end;
        if let Err(e) = stream.write_all(&encode_report(start)) {
            return io(e);
        }
        let mut reported = start;
        self.status(|s| s.reported_offset = start);
        let mut expected: Option<u64> = (own_end != 0).then_some(start);
        let mut got_data = false;
        let mut last_report = Instant::now();
        let mut last_read = Instant::now();
        let mut dec = FrameDecoder::new();
        let mut buf = vec![0u8; 256 * 1024];
        let file_size = self.log.file_size() as u64;
        loop {
            if self.stopped() {
                return End::Stopped;
            }
            if last_report.elapsed() >= self.heartbeat {
                if let Err(e) = stream.write_all(&encode_report(reported)) {
                    return io(e);
                }
                last_report = Instant::now();
            }
            let n = match stream.read(&mut buf) {
                Ok(0) => return End::Disconnected("the master closed the connection".into()),
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if last_read.elapsed() > self.housekeeping {
                        return End::Disconnected(format!(
                            "nothing from the master for {} ms (haHousekeepingInterval)",
                            self.housekeeping.as_millis()
                        ));
                    }
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return io(e),
            };
            last_read = Instant::now();
            self.status(|s| s.bytes_received += n as u64);
            dec.feed(&buf[..n]);
            let mut appended = false;
            loop {
                let (h, body) = match dec.next_frame() {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => return End::Disconnected(format!("protocol error: {e}")),
                };
                let at = match expected {
                    Some(e) => e,
                    None if h.is_heartbeat() => continue,
                    None => {
                        if h.offset % file_size != 0 {
                            return End::Fatal(format!(
                                "the master starts this empty slave at offset {}, not a \
                                 multiple of this store's segment size {file_size}: \
                                 mappedFileSizeCommitLog must be the master's",
                                h.offset
                            ));
                        }
                        self.cursor.get_or_insert(h.offset);
                        h.offset
                    }
                };
                if h.offset != at {
                    if h.is_heartbeat() && h.offset < at && at <= verify_end && !got_data {
                        let msg = format!(
                            "the master's commitlog ends at {}, this slave's at {own_end}: the \
                             slave has bytes the master does not (diverged)",
                            h.offset
                        );
                        // Stopped before reported: whoever sees the divergence sees the stop.
                        self.status(|s| s.stopped = true);
                        self.shared.diverged(msg.clone());
                        return End::Fatal(msg);
                    }
                    if h.is_heartbeat() && h.offset > at && h.offset <= verify_end && !got_data {
                        // The master no longer has the start of the window we asked for, but
                        // has our end: compare less next time.
                        self.floor = h.offset;
                        return End::Disconnected(format!(
                            "the master's commitlog starts at {}; asking from there",
                            h.offset
                        ));
                    }
                    if h.is_heartbeat() && h.offset > at && !got_data {
                        return End::Fatal(format!(
                            "the master's commitlog starts at {}, after this slave's end {at}: \
                             the segments this slave needs are gone from the master",
                            h.offset
                        ));
                    }
                    return End::Disconnected(format!(
                        "the master sent offset {}, this slave is at {at}",
                        h.offset
                    ));
                }
                if h.is_heartbeat() {
                    continue;
                }
                got_data = true;
                let len = body.len() as u64;
                let verify = if at < verify_end {
                    (verify_end - at).min(len) as usize
                } else {
                    0
                };
                if verify > 0 {
                    if let Some(diff) = first_difference(&self.log, at, &body[..verify]) {
                        let msg = format!(
                            "this slave's commitlog differs from the master's at offset {diff} \
                             (diverged)"
                        );
                        // Stopped before reported: whoever sees the divergence sees the stop.
                        self.status(|s| s.stopped = true);
                        self.shared.diverged(msg.clone());
                        return End::Fatal(msg);
                    }
                }
                if verify < body.len() {
                    if let Err(e) = self.log.append_data(at + verify as u64, &body[verify..]) {
                        return End::Disconnected(format!("appending: {e}"));
                    }
                    appended = true;
                }
                expected = Some(at + len);
            }
            if appended {
                if let Err(msg) = self.check_geometry() {
                    return End::Fatal(msg);
                }
            }
            // Acknowledge only what lies past the compared window.
            if expected.unwrap_or(0) >= verify_end {
                let own = self.log.max_offset();
                if own > reported {
                    if let Err(e) = stream.write_all(&encode_report(own)) {
                        return io(e);
                    }
                    reported = own;
                    last_report = Instant::now();
                    self.status(|s| s.reported_offset = own);
                }
            }
            if appended {
                let kept_out = self.dispatcher.undispatchable();
                if let Err(e) = self.dispatcher.reput_to_committed(&self.log) {
                    self.shared
                        .error(format!("HA: dispatching replicated records: {e}"));
                }
                if self.dispatcher.undispatchable() > kept_out {
                    if let Some(report) = self.dispatcher.undispatchable_report() {
                        self.shared
                            .error(format!("HA: replicated records: {report}"));
                    }
                }
            }
        }
    }

    /// Walks the record headers appended since the last call: a record must not cross this
    /// store's segment end and a blank record must end exactly there, else the master's
    /// segment size differs from ours and the copy would be unreadable.
    fn check_geometry(&mut self) -> Result<(), String> {
        let Some(mut c) = self.cursor else {
            return Ok(());
        };
        let end = self.log.max_offset();
        let size = self.log.file_size() as u64;
        while c + 8 <= end {
            let Some(f) = self.log.files().find_by_offset(c) else {
                break;
            };
            let seg_end = f.file_from_offset() + size;
            let pos = (c - f.file_from_offset()) as usize;
            let data = f.readable();
            if data.len() < pos + 8 {
                break;
            }
            let len = get_i32(data, pos).unwrap_or(0) as i64;
            let magic = get_i32(data, pos + 4).unwrap_or(0) as u32;
            match magic {
                MAGIC_V1 | MAGIC_V2 if len > 0 => {
                    if c + len as u64 > seg_end {
                        return Err(format!(
                            "the record at offset {c} ({len} bytes) crosses this slave's segment \
                             end {seg_end}: mappedFileSizeCommitLog ({size}) must be the master's"
                        ));
                    }
                    c += len as u64;
                }
                BLANK_MAGIC => {
                    if len < 8 || c + len as u64 != seg_end {
                        return Err(format!(
                            "the blank record at offset {c} says the master's segment ends at \
                             {}, this slave's ends at {seg_end}: mappedFileSizeCommitLog ({size}) \
                             must be the master's",
                            c as i64 + len
                        ));
                    }
                    c = seg_end;
                }
                _ => {
                    // Not a record header: recovery and dispatch deal with it; stop checking.
                    self.cursor = None;
                    return Ok(());
                }
            }
        }
        self.cursor = Some(c);
        Ok(())
    }
}

fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(ErrorKind::InvalidInput, "no address");
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, Duration::from_secs(3)) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The first offset in `[at, at + bytes.len())` where this commitlog's bytes differ from
/// `bytes` (or are missing).
fn first_difference(log: &CommitLog, mut at: u64, mut bytes: &[u8]) -> Option<u64> {
    while !bytes.is_empty() {
        let Some(f) = log.files().find_by_offset(at) else {
            return Some(at);
        };
        let pos = (at - f.file_from_offset()) as usize;
        let data = f.readable();
        let have = data.len().saturating_sub(pos).min(bytes.len());
        if let Some(i) = (0..have).find(|&i| data[pos + i] != bytes[i]) {
            return Some(at + i as u64);
        }
        if have == 0 {
            return Some(at);
        }
        at += have as u64;
        bytes = &bytes[have..];
    }
    None
}
