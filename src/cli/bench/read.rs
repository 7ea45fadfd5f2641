//! The read side of `rmqstore bench`: consumers reading by queue offset, and a mixed load.
//!
//! **Read cells.** `get_message` (Java's `getMessage`) by queue offset in batches of [`BATCH`]
//! messages, with 1, 4 and 16 consumer threads, without a filter and with a tag filter (a
//! [`TagFilter`] on `TagA`, matching by tags code only as Java's broker does; a quarter of each
//! queue's messages carry `TagA`, the rest `TagB`..`TagD`), in two places:
//! - `hot`: random batches over a store just written (its pages are in the page cache);
//! - `behind`: a store larger than the hot one is written, closed, its files dropped from the
//!   page cache (`posix_fadvise(DONTNEED)`), reopened, and each consumer reads its queue
//!   forward from an old offset while a writer appends at the head (reads behind the writer,
//!   through the kernel's readahead).
//!
//! Each record returned is copied out once (as sending it to a consumer would), so GB/s counts
//! bytes really read, not references handed out. Every batch is timed (p99 is per batch).
//! Each cell opens the store, reads and closes it, so that with `--vs-java` Java's store can
//! run the same cell on the same files right after (the hot pages stay in the page cache; the
//! behind cells drop them again before each engine's run).
//!
//! **Mixed cell.** Producers put, consumers tail every queue, an HA slave on 127.0.0.1
//! replicates, and retention deletes old commitlog segments (small segments, files reserved
//! 0 hours, a manual deletion armed whenever more than [`MIXED_KEEP_SEGMENTS`] exist, never
//! past the segment before the slave's), all at once; put p99 and get p99 under that.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::java::{JavaGet, JavaRunner, Ratio};
use super::{fill_message, Histogram, LatencyUs, Mode};
use crate::cli::{CliError, CliResult};
use crate::config::{BrokerRole, StoreConfig};
use crate::message::Message;
use crate::store::{GetMessageStatus, MessageFilter, PutMessageStatus, TagFilter};
use crate::MessageStore;

/// Messages per `get_message` call, as a consumer's pull batch (Java's default is 32).
pub const BATCH: usize = 32;
/// Body size of the read and mixed cells.
pub const READ_BODY: usize = 1024;
const TOPIC: &str = "BenchTopic";
/// The mixed cell keeps this many commitlog segments; beyond it, retention deletes.
pub const MIXED_KEEP_SEGMENTS: usize = 4;

/// How big the read and mixed cells are.
#[derive(Debug, Clone, Serialize)]
pub struct ReadPlan {
    pub body_size: usize,
    pub batch: usize,
    pub queues: i32,
    pub consumer_threads: Vec<usize>,
    /// `none` and `tag` (a tag filter matching a quarter of the messages).
    pub filters: Vec<&'static str>,
    /// Threads of the `behind` cells (the smoke run has fewer).
    pub behind_threads: Vec<usize>,
    /// Bytes of commitlog written for the hot cells.
    pub hot_bytes: u64,
    /// Bytes of commitlog written for the behind cells (larger than hot).
    pub behind_bytes: u64,
    pub segment_size: usize,
    pub seconds_per_cell: f64,
    /// Per consumer thread, at most this many batches.
    pub max_batches_per_thread: u64,
    pub mixed_producers: usize,
    pub mixed_consumers: usize,
    pub mixed_segment_size: usize,
    pub mixed_seconds: f64,
    /// Per producer, at most this many puts in the mixed cell.
    pub mixed_max_puts_per_producer: u64,
    pub mixed_ha_slave: bool,
}

impl ReadPlan {
    pub fn for_level(level: &str, seconds: Option<f64>) -> ReadPlan {
        let mut p = match level {
            "smoke" => ReadPlan {
                body_size: READ_BODY,
                batch: BATCH,
                queues: 4,
                consumer_threads: vec![1, 4],
                filters: vec!["none", "tag"],
                behind_threads: vec![4],
                hot_bytes: 4 << 20,
                behind_bytes: 8 << 20,
                segment_size: 1 << 20,
                seconds_per_cell: 30.0,
                max_batches_per_thread: 50,
                mixed_producers: 1,
                mixed_consumers: 4,
                mixed_segment_size: 256 << 10,
                mixed_seconds: 30.0,
                mixed_max_puts_per_producer: 3000,
                mixed_ha_slave: true,
            },
            "quick" => ReadPlan {
                body_size: READ_BODY,
                batch: BATCH,
                queues: 4,
                consumer_threads: vec![1, 4, 16],
                filters: vec!["none", "tag"],
                behind_threads: vec![1, 4, 16],
                hot_bytes: 64 << 20,
                behind_bytes: 256 << 20,
                segment_size: 32 << 20,
                seconds_per_cell: 1.0,
                max_batches_per_thread: u64::MAX,
                mixed_producers: 2,
                mixed_consumers: 4,
                mixed_segment_size: 16 << 20,
                mixed_seconds: 2.0,
                mixed_max_puts_per_producer: u64::MAX,
                mixed_ha_slave: true,
            },
            _ => ReadPlan {
                body_size: READ_BODY,
                batch: BATCH,
                queues: 4,
                consumer_threads: vec![1, 4, 16],
                filters: vec!["none", "tag"],
                behind_threads: vec![1, 4, 16],
                hot_bytes: 256 << 20,
                behind_bytes: 1 << 30,
                segment_size: 64 << 20,
                seconds_per_cell: 2.0,
                max_batches_per_thread: u64::MAX,
                mixed_producers: 2,
                mixed_consumers: 4,
                mixed_segment_size: 32 << 20,
                mixed_seconds: 5.0,
                mixed_max_puts_per_producer: u64::MAX,
                mixed_ha_slave: true,
            },
        };
        if let Some(s) = seconds {
            p.seconds_per_cell = s;
            p.mixed_seconds = s;
        }
        p
    }
}

/// One read cell.
#[derive(Debug, Clone, Serialize)]
pub struct ReadResult {
    /// `hot` (just written, in the page cache) or `behind` (dropped from the page cache, read
    /// forward from old offsets while a writer appends).
    pub place: &'static str,
    /// `none`, or `tag`: a tag filter on `TagA` (a quarter of the messages), by tags code.
    pub filter: &'static str,
    pub threads: usize,
    pub batch: usize,
    /// Messages returned (and copied out) by all `get_message` calls.
    pub messages: u64,
    pub batches: u64,
    /// Record bytes copied out.
    pub bytes: u64,
    pub seconds: f64,
    pub msgs_per_s: f64,
    pub gb_per_s: f64,
    /// Per `get_message` call.
    pub latency_us: LatencyUs,
    /// Commitlog bytes in the store when the cell started.
    pub store_bytes: u64,
    /// `behind`: commitlog bytes the concurrent writer appended during the cell.
    pub writer_bytes: u64,
    /// `--vs-java`: Java's run of the same cell on the same store, right after (else null).
    pub java: Option<JavaGet>,
    /// `--vs-java`: rmqstore over Java (else null).
    pub ratio: Option<Ratio>,
}

/// The mixed cell.
#[derive(Debug, Clone, Serialize)]
pub struct MixedResult {
    pub producers: usize,
    pub consumers: usize,
    pub ha_slave: bool,
    pub body_size: usize,
    pub seconds: f64,
    pub puts: u64,
    pub puts_not_ok: u64,
    pub put_msgs_per_s: f64,
    /// Timed puts (one in `LATENCY_SAMPLE_EVERY`).
    pub put_latency_us: LatencyUs,
    /// Messages the consumers got (each exactly once unless retention deleted it first).
    pub got: u64,
    pub get_msgs_per_s: f64,
    /// `get_message` calls that returned messages, timed.
    pub get_latency_us: LatencyUs,
    /// Messages retention deleted before a consumer got them (OFFSET_TOO_SMALL skips).
    pub skipped_by_cleanup: u64,
    pub segments_deleted: u64,
    /// Bytes the slave was behind the master when the producers stopped, and how long it
    /// took to catch up.
    pub slave_behind_bytes: Option<u64>,
    pub slave_catch_up_ms: Option<f64>,
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |e| CliError::Failed(format!("{what}: {e}"))
}

fn read_config(root: &Path, segment_size: usize) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = segment_size;
    Mode::Async.apply(&mut c);
    c
}

/// Puts 1 KiB messages round-robin over the queues until the commitlog grew by `bytes`; waits
/// until all are in their consume queues. Returns the messages put.
fn fill(store: &MessageStore, body: usize, queues: i32, bytes: u64) -> CliResult<u64> {
    let start = store.max_phy_offset();
    let mut msg = Message::new(TOPIC, 0, vec![b'r'; body]);
    let mut n = 0u64;
    while store.max_phy_offset() - start < bytes {
        fill_message(&mut msg, 0, n, queues);
        retag(&mut msg, n);
        let r = store.put_message(&msg)?;
        if r.status != PutMessageStatus::PutOk {
            return Err(CliError::Failed(format!(
                "fill: put {n} was {:?}",
                r.status
            )));
        }
        n += 1;
    }
    wait_dispatched(store, queues, n)?;
    Ok(n)
}

/// The tag of the n-th message of a read store: TagA..TagD in runs of 4, so with queues taken
/// round-robin a quarter of every queue's messages carry each tag (the Java driver does the same).
fn retag(msg: &mut Message, n: u64) {
    const LAST: &str = "TagA\u{2}";
    let p = &mut msg.properties;
    if p.ends_with(LAST) {
        p.truncate(p.len() - LAST.len());
        p.push_str(["TagA", "TagB", "TagC", "TagD"][((n / 4) % 4) as usize]);
        p.push('\u{2}');
    }
}

/// The filter of a read cell.
fn filter_for(name: &str) -> Option<TagFilter> {
    (name == "tag").then(|| TagFilter::parse("TagA").codes_only())
}

fn dispatched(store: &MessageStore, queues: i32) -> u64 {
    (0..queues)
        .map(|q| store.max_offset_in_queue(TOPIC, q))
        .sum()
}

fn wait_dispatched(store: &MessageStore, queues: i32, n: u64) -> CliResult {
    let until = Instant::now() + Duration::from_secs(60);
    while dispatched(store, queues) < n {
        if Instant::now() > until {
            return Err(CliError::Failed(
                "messages not in their consume queues after 60 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Drops every file under `dir` from the page cache (the store is closed, its pages clean).
fn evict(dir: &Path) -> CliResult {
    for e in fs::read_dir(dir).map_err(io_err("evict"))? {
        let e = e.map_err(io_err("evict"))?;
        let ty = e.file_type().map_err(io_err("evict"))?;
        if ty.is_dir() {
            evict(&e.path())?;
        } else if ty.is_file() {
            let f = fs::File::open(e.path()).map_err(io_err("evict"))?;
            use std::os::fd::AsRawFd;
            // SAFETY: posix_fadvise only reads its integer arguments; the fd is open for the
            // call's duration. It is a hint: a failure changes no data, so it is ignored.
            unsafe {
                libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
            }
        }
    }
    Ok(())
}

/// A small xorshift: spread offsets without a dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// What one consumer thread did.
struct Consumed {
    hist: Histogram,
    messages: u64,
    batches: u64,
    bytes: u64,
    /// When this thread began (after the start barrier) and when its last call returned.
    start: Instant,
    end: Instant,
}

/// One `get_message` batch, timed, its records copied into `buf`.
fn get_batch(
    store: &MessageStore,
    q: i32,
    offset: u64,
    batch: usize,
    filter: Option<&dyn MessageFilter>,
    buf: &mut Vec<u8>,
    c: &mut Consumed,
) -> CliResult<(GetMessageStatus, u64)> {
    let t0 = Instant::now();
    let r = store.get_message("bench", TOPIC, q, offset, batch, filter);
    buf.clear();
    for m in &r.messages {
        buf.extend_from_slice(m.bytes());
    }
    let now = Instant::now();
    if !r.messages.is_empty() {
        c.hist.record((now - t0).as_nanos() as u64);
        c.messages += r.messages.len() as u64;
        c.batches += 1;
        c.bytes += buf.len() as u64;
    }
    c.end = now;
    Ok((r.status, r.next_begin_offset))
}

/// Runs `threads` consumers on `store` for the plan's time; `behind` reads each queue forward
/// from old offsets, otherwise random batches. Returns the merged result.
fn consume(
    store: &Arc<MessageStore>,
    plan: &ReadPlan,
    threads: usize,
    per_queue: u64,
    behind: bool,
    filter: &'static str,
) -> CliResult<(Consumed, Instant)> {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let duration = Duration::from_secs_f64(plan.seconds_per_cell);
    let mut handles = Vec::new();
    for t in 0..threads {
        let store = store.clone();
        let barrier = barrier.clone();
        let (batch, queues, cap) = (plan.batch, plan.queues, plan.max_batches_per_thread);
        let h = std::thread::Builder::new()
            .name(format!("bench-r{t}"))
            .spawn(move || -> CliResult<Consumed> {
                let f = filter_for(filter);
                let f = f.as_ref().map(|f| f as &dyn MessageFilter);
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) << 32));
                let mut buf = Vec::with_capacity(batch * 2048);
                let q = t as i32 % queues;
                // Behind: thread t starts at its share of the first half of its queue.
                let sharers = threads.div_ceil(queues as usize) as u64;
                let mut next = (t as u64 / queues as u64) * (per_queue / 2) / sharers;
                let mut c = Consumed {
                    hist: Histogram::new(),
                    messages: 0,
                    batches: 0,
                    bytes: 0,
                    start: Instant::now(),
                    end: Instant::now(),
                };
                barrier.wait();
                c.start = Instant::now();
                c.end = c.start;
                let deadline = c.start + duration;
                while c.batches < cap && c.end < deadline {
                    if behind {
                        let (st, nb) = get_batch(&store, q, next, batch, f, &mut buf, &mut c)?;
                        let ok = st == GetMessageStatus::Found
                            || (f.is_some() && st == GetMessageStatus::NoMatchedMessage);
                        if !ok {
                            return Err(CliError::Failed(format!(
                                "read behind: queue {q} offset {next}: {st:?}"
                            )));
                        }
                        next = if nb + batch as u64 >= per_queue {
                            0
                        } else {
                            nb
                        };
                    } else {
                        let q = rng.below(queues as u64) as i32;
                        let off = rng.below(per_queue - batch as u64);
                        let before = c.messages;
                        let (st, _) = get_batch(&store, q, off, batch, f, &mut buf, &mut c)?;
                        let ok = if f.is_some() {
                            st == GetMessageStatus::Found
                                || st == GetMessageStatus::NoMatchedMessage
                        } else {
                            st == GetMessageStatus::Found && c.messages - before == batch as u64
                        };
                        if !ok {
                            return Err(CliError::Failed(format!(
                                "read: queue {q} offset {off}: {st:?}, {} messages",
                                c.messages - before
                            )));
                        }
                    }
                }
                Ok(c)
            })
            .map_err(io_err("cannot start a consumer"))?;
        handles.push(h);
    }
    barrier.wait();
    let now = Instant::now();
    let mut all = Consumed {
        hist: Histogram::new(),
        messages: 0,
        batches: 0,
        bytes: 0,
        start: now,
        end: now,
    };
    for h in handles {
        let c = h
            .join()
            .map_err(|_| CliError::Failed("a consumer thread panicked".into()))??;
        all.hist.merge(&c.hist);
        all.messages += c.messages;
        all.batches += c.batches;
        all.bytes += c.bytes;
        all.start = all.start.min(c.start);
        all.end = all.end.max(c.end);
    }
    let start = all.start;
    Ok((all, start))
}

#[allow(clippy::too_many_arguments)]
fn result(
    place: &'static str,
    filter: &'static str,
    threads: usize,
    plan: &ReadPlan,
    c: &Consumed,
    start: Instant,
    store_bytes: u64,
    writer_bytes: u64,
) -> ReadResult {
    let seconds = (c.end - start).as_secs_f64().max(1e-9);
    ReadResult {
        place,
        filter,
        threads,
        batch: plan.batch,
        messages: c.messages,
        batches: c.batches,
        bytes: c.bytes,
        seconds,
        msgs_per_s: c.messages as f64 / seconds,
        gb_per_s: c.bytes as f64 / seconds / 1e9,
        latency_us: LatencyUs::from_nanos(&c.hist),
        store_bytes,
        writer_bytes,
        java: None,
        ratio: None,
    }
}

/// With `--vs-java`: Java's run of the cell just measured, on the same (closed) store.
fn java_read(
    java: Option<&mut JavaRunner>,
    root: &Path,
    r: &mut ReadResult,
    plan: &ReadPlan,
    per_queue: u64,
) -> CliResult {
    let Some(j) = java else {
        return Ok(());
    };
    if r.place == "behind" {
        evict(root)?;
    }
    let g = j.get(root, r.place, r.filter, r.threads, plan, per_queue)?;
    r.ratio = Some(Ratio::new(
        r.msgs_per_s,
        g.msgs_per_s,
        r.latency_us.p99,
        g.latency_us.p99,
    ));
    r.java = Some(g);
    Ok(())
}

/// The hot cells: one store written, then read by 1, 4, 16 consumers in turn, each filter.
pub fn run_hot(
    root: &Path,
    plan: &ReadPlan,
    mut java: Option<&mut JavaRunner>,
) -> CliResult<Vec<ReadResult>> {
    let config = read_config(root, plan.segment_size);
    let store = MessageStore::open(config.clone())?;
    let n = fill(&store, plan.body_size, plan.queues, plan.hot_bytes)?;
    store.shutdown()?;
    let per_queue = n / plan.queues as u64;
    if per_queue <= plan.batch as u64 {
        return Err(CliError::Input(
            "read cells: too few messages per queue".into(),
        ));
    }
    let mut out = Vec::new();
    for &threads in &plan.consumer_threads {
        for &filter in &plan.filters {
            let store = Arc::new(MessageStore::open(config.clone())?);
            let store_bytes = store.max_phy_offset();
            let (c, start) = consume(&store, plan, threads, per_queue, false, filter)?;
            shutdown(store)?;
            let mut r = result("hot", filter, threads, plan, &c, start, store_bytes, 0);
            java_read(java.as_deref_mut(), root, &mut r, plan, per_queue)?;
            out.push(r);
        }
    }
    Ok(out)
}

fn shutdown(store: Arc<MessageStore>) -> CliResult {
    let store = Arc::try_unwrap(store)
        .map_err(|_| CliError::Failed("the store is still shared after the cell".into()))?;
    store.shutdown()?;
    Ok(())
}

/// The behind cells: a larger store, dropped from the page cache before each cell and read
/// forward from old offsets while one writer appends.
pub fn run_behind(
    root: &Path,
    plan: &ReadPlan,
    mut java: Option<&mut JavaRunner>,
) -> CliResult<Vec<ReadResult>> {
    let config = read_config(root, plan.segment_size);
    let store = MessageStore::open(config.clone())?;
    let n = fill(&store, plan.body_size, plan.queues, plan.behind_bytes)?;
    store.shutdown()?;
    let per_queue = n / plan.queues as u64;
    let mut out = Vec::new();
    let cells = plan
        .behind_threads
        .iter()
        .flat_map(|&t| plan.filters.iter().map(move |&f| (t, f)));
    for (threads, filter) in cells {
        evict(root)?;
        let store = Arc::new(MessageStore::open(config.clone())?);
        let store_bytes = store.max_phy_offset();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (store, stop) = (store.clone(), stop.clone());
            let (body, queues) = (plan.body_size, plan.queues);
            std::thread::Builder::new()
                .name("bench-rw".into())
                .spawn(move || -> CliResult<u64> {
                    let mut msg = Message::new(TOPIC, 0, vec![b'w'; body]);
                    let mut k = n;
                    while !stop.load(Ordering::Relaxed) {
                        fill_message(&mut msg, 1, k, queues);
                        retag(&mut msg, k);
                        store.put_message(&msg)?;
                        k += 1;
                    }
                    Ok(k - n)
                })
                .map_err(io_err("cannot start the writer"))?
        };
        let consumed = consume(&store, plan, threads, per_queue, true, filter);
        stop.store(true, Ordering::Relaxed);
        let wrote = writer
            .join()
            .map_err(|_| CliError::Failed("the writer thread panicked".into()))??;
        let (c, start) = consumed?;
        wait_dispatched(&store, plan.queues, n + wrote)?;
        let writer_bytes = store.max_phy_offset() - store_bytes;
        shutdown(store)?;
        let mut r = result(
            "behind",
            filter,
            threads,
            plan,
            &c,
            start,
            store_bytes,
            writer_bytes,
        );
        java_read(java.as_deref_mut(), root, &mut r, plan, per_queue)?;
        out.push(r);
    }
    Ok(out)
}

/// The mixed cell: producers, tailing consumers, an HA slave and retention at once.
pub fn run_mixed(root: &Path, plan: &ReadPlan) -> CliResult<MixedResult> {
    let mut config = read_config(&root.join("master"), plan.mixed_segment_size);
    config.file_reserved_time_hours = 0;
    config.ha_listen_address = "127.0.0.1".into();
    config.ha_listen_port = 0;
    config.broker_role = BrokerRole::AsyncMaster;
    let store = Arc::new(MessageStore::open(config)?);
    let slave = if plan.mixed_ha_slave {
        let addr = store
            .start_ha()?
            .local_addr()
            .ok_or_else(|| CliError::Failed("HA master has no address".into()))?;
        let mut sc = read_config(&root.join("slave"), plan.mixed_segment_size);
        sc.broker_role = BrokerRole::Slave;
        sc.ha_master_address = Some(addr.to_string());
        let slave = MessageStore::open(sc)?;
        slave.start_ha()?;
        let until = Instant::now() + Duration::from_secs(10);
        while store.ha_status().is_none_or(|s| s.slaves.is_empty()) {
            if Instant::now() > until {
                return Err(CliError::Failed(
                    "the HA slave did not connect in 10 s".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Some(slave)
    } else {
        None
    };
    let producers_done = Arc::new(AtomicBool::new(false));
    let total_put = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(
        plan.mixed_producers + plan.mixed_consumers + 1,
    ));
    let duration = Duration::from_secs_f64(plan.mixed_seconds);
    let queues = plan.queues;

    let mut producers = Vec::new();
    for t in 0..plan.mixed_producers {
        let (store, barrier, total) = (store.clone(), barrier.clone(), total_put.clone());
        let (body, cap) = (plan.body_size, plan.mixed_max_puts_per_producer);
        let h = std::thread::Builder::new()
            .name(format!("bench-mp{t}"))
            .spawn(move || -> CliResult<(Histogram, u64, u64)> {
                let mut msg = Message::new(TOPIC, 0, vec![b'm'; body]);
                let (mut hist, mut n, mut not_ok) = (Histogram::new(), 0u64, 0u64);
                barrier.wait();
                let deadline = Instant::now() + duration;
                while n < cap && Instant::now() < deadline {
                    fill_message(&mut msg, t, n, queues);
                    let r = if n % super::LATENCY_SAMPLE_EVERY == 0 {
                        let t0 = Instant::now();
                        let r = store.put_message(&msg)?;
                        hist.record(t0.elapsed().as_nanos() as u64);
                        r
                    } else {
                        store.put_message(&msg)?
                    };
                    if r.status != PutMessageStatus::PutOk {
                        not_ok += 1;
                    }
                    n += 1;
                    total.fetch_add(1, Ordering::Relaxed);
                }
                Ok((hist, n, not_ok))
            })
            .map_err(io_err("cannot start a producer"))?;
        producers.push(h);
    }
    let mut consumers = Vec::new();
    for t in 0..plan.mixed_consumers {
        let (store, barrier, done) = (store.clone(), barrier.clone(), producers_done.clone());
        let batch = plan.batch;
        let h = std::thread::Builder::new()
            .name(format!("bench-mc{t}"))
            .spawn(move || -> CliResult<(Consumed, u64)> {
                let q = t as i32 % queues;
                let mut buf = Vec::with_capacity(batch * 2048);
                let mut c = Consumed {
                    hist: Histogram::new(),
                    messages: 0,
                    batches: 0,
                    bytes: 0,
                    start: Instant::now(),
                    end: Instant::now(),
                };
                let (mut next, mut skipped) = (0u64, 0u64);
                barrier.wait();
                c.start = Instant::now();
                loop {
                    let (st, nb) = get_batch(&store, q, next, batch, None, &mut buf, &mut c)?;
                    match st {
                        GetMessageStatus::Found | GetMessageStatus::OffsetFoundNull => next = nb,
                        GetMessageStatus::OffsetTooSmall => {
                            skipped += nb - next;
                            next = nb;
                        }
                        // Retention removed the segment under the units walked.
                        GetMessageStatus::MessageWasRemoving if nb > next => {
                            skipped += nb - next;
                            next = nb;
                        }
                        _ => {
                            // Caught up: stop once the producers are done and all is read.
                            if done.load(Ordering::Acquire)
                                && next >= store.max_offset_in_queue(TOPIC, q)
                            {
                                break;
                            }
                            std::thread::sleep(Duration::from_micros(100));
                        }
                    }
                }
                Ok((c, skipped))
            })
            .map_err(io_err("cannot start a consumer"))?;
        consumers.push(h);
    }
    // Retention: whenever more than MIXED_KEEP_SEGMENTS segments exist, a manual deletion of
    // the expired ones (all but the active one, files being reserved 0 hours).
    let cleaner = {
        let (store, done) = (store.clone(), producers_done.clone());
        std::thread::Builder::new()
            .name("bench-clean".into())
            .spawn(move || -> CliResult<u64> {
                let mut deleted = 0u64;
                // A record held in the segment before the slave's: cleanup stops there (a
                // segment in use is not deleted under its reader), so the slave never
                // loses what it has not got yet. The pin moves on as the slave does; the
                // segment it leaves is deleted then, the slave being past it.
                let mut pin = None;
                loop {
                    // Checked first, so one more pass runs after the producers stopped.
                    let last = done.load(Ordering::Acquire);
                    let slave_at = match store.ha_status() {
                        Some(st) => st
                            .slaves
                            .iter()
                            .filter_map(|c| c.ack_offset)
                            .min()
                            .unwrap_or(0),
                        None => u64::MAX,
                    };
                    let files = store.commit_log().files().files();
                    let at = files
                        .iter()
                        .rposition(|f| f.file_from_offset() <= slave_at)
                        .unwrap_or(0);
                    let keep_from = (at >= 1 && files.len() > MIXED_KEEP_SEGMENTS)
                        .then(|| files[at - 1].file_from_offset());
                    // Our own references to the segments would keep them "in use".
                    drop(files);
                    if let Some(keep_from) = keep_from {
                        if let Some(r) = store.get_by_phy_offset(keep_from) {
                            pin = Some(r);
                            store.execute_delete_files_manually();
                            let r = store.run_cleanup_once()?;
                            deleted += r.commitlog_deleted.len() as u64;
                        }
                    }
                    if last {
                        drop(pin);
                        return Ok(deleted);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
            .map_err(io_err("cannot start the cleaner"))?
    };
    // Taken before the barrier: the workers cannot start before it (rates err low, not high).
    let start = Instant::now();
    barrier.wait();
    let (mut put_hist, mut puts, mut not_ok) = (Histogram::new(), 0u64, 0u64);
    let mut first_err = None;
    for h in producers {
        match h.join() {
            Ok(Ok((hh, n, bad))) => {
                put_hist.merge(&hh);
                puts += n;
                not_ok += bad;
            }
            Ok(Err(e)) => first_err = first_err.or(Some(e)),
            Err(_) => first_err = Some(CliError::Failed("a producer panicked".into())),
        }
    }
    let put_end = Instant::now();
    let master_end = store.max_phy_offset();
    producers_done.store(true, Ordering::Release);
    let deleted = cleaner.join();
    let (mut get_hist, mut got, mut skipped, mut get_end) = (Histogram::new(), 0u64, 0u64, start);
    for h in consumers {
        match h.join() {
            Ok(Ok((c, s))) => {
                get_hist.merge(&c.hist);
                got += c.messages;
                skipped += s;
                get_end = get_end.max(c.end);
            }
            Ok(Err(e)) => first_err = first_err.or(Some(e)),
            Err(_) => first_err = Some(CliError::Failed("a consumer panicked".into())),
        }
    }
    let segments_deleted = match deleted {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return Err(first_err.unwrap_or(e)),
        Err(_) => return Err(CliError::Failed("the cleaner panicked".into())),
    };
    if let Some(e) = first_err {
        return Err(e);
    }
    let (mut behind, mut catch_up) = (None, None);
    if let Some(slave) = slave {
        behind = Some(master_end.saturating_sub(slave.max_phy_offset()));
        let t = Instant::now();
        while slave.max_phy_offset() < master_end && t.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if slave.max_phy_offset() < master_end {
            return Err(CliError::Failed(
                "the HA slave did not catch up within 60 s".into(),
            ));
        }
        catch_up = Some(t.elapsed().as_secs_f64() * 1e3);
        slave.shutdown()?;
    }
    shutdown(store)?;
    let put_s = (put_end - start).as_secs_f64().max(1e-9);
    let get_s = (get_end - start).as_secs_f64().max(1e-9);
    Ok(MixedResult {
        producers: plan.mixed_producers,
        consumers: plan.mixed_consumers,
        ha_slave: plan.mixed_ha_slave,
        body_size: plan.body_size,
        seconds: put_s,
        puts,
        puts_not_ok: not_ok,
        put_msgs_per_s: puts as f64 / put_s,
        put_latency_us: LatencyUs::from_nanos(&put_hist),
        got,
        get_msgs_per_s: got as f64 / get_s,
        get_latency_us: LatencyUs::from_nanos(&get_hist),
        skipped_by_cleanup: skipped,
        segments_deleted,
        slave_behind_bytes: behind,
        slave_catch_up_ms: catch_up,
    })
}

/// The text report's line for a read cell.
pub fn text_row(r: &ReadResult) -> String {
    format!(
        "{:<7} {:>6} {:>3} {:>5} {:>9} {:>10.0} {:>7.2} {:>9.1} {:>9.1}",
        r.place,
        r.filter,
        r.threads,
        r.batch,
        r.messages,
        r.msgs_per_s,
        r.gb_per_s,
        r.latency_us.p50,
        r.latency_us.p99
    )
}

/// The text report's line for Java's run of a read cell (None without `--vs-java`).
pub fn java_text_row(r: &ReadResult) -> Option<String> {
    let (j, x) = (r.java.as_ref()?, r.ratio?);
    Some(format!(
        "{:<7} {:>6} {:>3} {:>5} {:>9} {:>10.0} {:>7.2} {:>9.1} {:>9.1}   rmqstore = {:.2}x Java's msg/s",
        "  java",
        r.filter,
        r.threads,
        r.batch,
        j.messages,
        j.msgs_per_s,
        j.gb_per_s,
        j.latency_us.p50,
        j.latency_us.p99,
        x.throughput
    ))
}

/// The `--vs-java` table of the read cells that have a Java run (issue 18's target: 3x).
pub fn vs_markdown(reads: &[ReadResult], s: &mut String) {
    use std::fmt::Write as _;
    if !reads.iter().any(|r| r.java.is_some()) {
        return;
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Reads: `get_message` / Java's `getMessage` by queue offset, {BATCH}-message batches of \
         {READ_BODY} B messages, each record copied out once; p99 per batch. `hot`: just \
         written; `behind`: dropped from the page cache, read forward from old offsets while \
         a writer appends. `tag`: a tag filter on one tag code (a quarter of the messages)."
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| read cell | Java msg/s | rmqstore msg/s | ratio | Java GB/s | rmqstore GB/s | Java p99 µs | rmqstore p99 µs | issue 18 target |"
    );
    let _ = writeln!(
        s,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    for r in reads {
        let (Some(j), Some(x)) = (&r.java, &r.ratio) else {
            continue;
        };
        let c = if r.threads == 1 { "" } else { "s" };
        let _ = writeln!(
            s,
            "| {} {}, {} consumer{c} | {:.0} | {:.0} | {:.2}x | {:.2} | {:.2} | {:.1} | {:.1} | ≥3x: {} |",
            r.place,
            if r.filter == "none" { "unfiltered" } else { "tag filter" },
            r.threads,
            j.msgs_per_s,
            r.msgs_per_s,
            x.throughput,
            j.gb_per_s,
            r.gb_per_s,
            j.latency_us.p99,
            r.latency_us.p99,
            if x.throughput >= 3.0 { "met" } else { "**missed**" }
        );
    }
}

pub fn text_header() -> String {
    format!(
        "{:<7} {:>6} {:>3} {:>5} {:>9} {:>10} {:>7} {:>9} {:>9}",
        "read", "filter", "thr", "batch", "messages", "msg/s", "GB/s", "p50 us", "p99 us"
    )
}

pub fn mixed_text(m: &MixedResult) -> String {
    format!(
        "mixed: {} producers {:.0} msg/s put p99 {:.1} us; {} consumers {:.0} msg/s get p99 {:.1} us; \
         {} segments deleted ({} msgs skipped); slave {}",
        m.producers,
        m.put_msgs_per_s,
        m.put_latency_us.p99,
        m.consumers,
        m.get_msgs_per_s,
        m.get_latency_us.p99,
        m.segments_deleted,
        m.skipped_by_cleanup,
        match (m.slave_behind_bytes, m.slave_catch_up_ms) {
            (Some(b), Some(ms)) => format!("{b} B behind at the end, caught up in {ms:.1} ms"),
            _ => "none".into(),
        }
    )
}

/// The Markdown tables of the read and mixed cells (empty when none ran).
pub fn markdown(reads: &[ReadResult], mixed: &[MixedResult], s: &mut String) {
    use std::fmt::Write as _;
    if !reads.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Reads: `get_message` by queue offset, {BATCH}-message batches of {READ_BODY} B \
             messages, each record copied out once; p50/p99 per batch. `hot`: just written; \
             `behind`: dropped from the page cache, read forward from old offsets while a \
             writer appends."
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| place | filter | consumers | msg/s | GB/s | p50 µs | p99 µs | p99.9 µs | store MiB |"
        );
        let _ = writeln!(
            s,
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for r in reads {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.0} | {:.2} | {:.1} | {:.1} | {:.1} | {} |",
                r.place,
                r.filter,
                r.threads,
                r.msgs_per_s,
                r.gb_per_s,
                r.latency_us.p50,
                r.latency_us.p99,
                r.latency_us.p999,
                r.store_bytes >> 20
            );
        }
    }
    for m in mixed {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Mixed load: {} producers, {} tailing consumers, HA slave: {}, retention deleting \
             segments: put {:.0} msg/s, put p99 {:.1} µs; get {:.0} msg/s, get p99 {:.1} µs; \
             {} segments deleted, {} messages deleted before read.",
            m.producers,
            m.consumers,
            if m.ha_slave { "yes (127.0.0.1)" } else { "no" },
            m.put_msgs_per_s,
            m.put_latency_us.p99,
            m.get_msgs_per_s,
            m.get_latency_us.p99,
            m.segments_deleted,
            m.skipped_by_cleanup
        );
    }
}
