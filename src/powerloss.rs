//! The power-loss checker: records a store's I/O under a seeded workload
//! ([`crate::iorecord`]), builds crash images at chosen points of the run, opens each image
//! writable (recovery runs) and checks what survived.
//!
//! An image passes when: opening it neither panics nor fails; `verify` finds no error after
//! the open; every queue is dense and every message in it is the one put at that queue offset;
//! and every acknowledged message is present and identical when the store runs SYNC_FLUSH,
//! or, in any mode, when its bytes were durable (synced, with a durable file name) at the
//! crash point. What is lost and was never synced is counted and reported as such.
//!
//! `examples/powerloss.rs` runs N images from a seed; `tests/powerloss.rs` a few dozen.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::{Clock, ManualClock};
use crate::config::FlushDiskType;
use crate::inspect::discover::GeometryOverrides;
use crate::inspect::verify::{verify, VerifyOptions};
use crate::iorecord::{sync_points, Choice, CrashState, Event, Recorder, Rng};
use crate::mapped_file::offset_to_file_name;
use crate::{Message, MessageStore, OpenMode, StoreConfig};

const CL_SIZE: usize = 32 * 1024;
const CQ_UNITS: usize = 40;
const HASH_SLOTS: u32 = 16;
const INDEX_NUM: u32 = 48;
const START_MS: i64 = 1_700_000_000_000;
const TOPICS: [&str; 2] = ["PowerA", "PowerB"];

/// The flush mode of a recorded run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// SYNC_FLUSH: every acknowledged message must survive.
    Sync,
    /// ASYNC_FLUSH, flushed now and then: what was synced must survive.
    Async,
    /// SYNC_FLUSH with retention cleanup now and then (every segment but the active one
    /// expires; segment mtimes are set to the run's start so a run repeats from its seed):
    /// every acknowledged message must survive unless the run removed its segment before the
    /// crash point (durably or not); a queue may skip only a prefix of units whose messages
    /// lie below the recovered commitlog's first segment.
    SyncRetention,
    /// SYNC_FLUSH puts, a clean shutdown, then `rebuild --in-place`: crash points lie in the
    /// rebuild (its writes, syncs and the swap's renames); every message put must survive.
    Rebuild,
    /// [`Mode::Rebuild`] with damage: after the clean stop one record in the last two
    /// segments gets a bad magic code (written and synced, as damage found on disk), so
    /// recovery ends there and `rebuild --in-place --truncate-at-damage` removes the records
    /// after it: crash points lie in the rebuild, its segment copy and the swap of segments
    /// into `commitlog.bak-<ts>`. Every message put before the damaged record must survive;
    /// those from it on are removed as asked (counted, not lost).
    RebuildTruncate,
}

impl Mode {
    /// The mode named `s` (its `Debug` name or a short one, any case): `sync`, `async`,
    /// `retention`, `rebuild`, `truncate` (or `rebuild-truncate`).
    pub fn parse(s: &str) -> Option<Mode> {
        match s.to_ascii_lowercase().as_str() {
            "sync" => Some(Mode::Sync),
            "async" => Some(Mode::Async),
            "retention" | "syncretention" => Some(Mode::SyncRetention),
            "rebuild" => Some(Mode::Rebuild),
            "truncate" | "rebuild-truncate" | "rebuildtruncate" => Some(Mode::RebuildTruncate),
            _ => None,
        }
    }
}

/// The store configuration of the workload (small files, so a run rolls segments, consume
/// queue files and index files).
pub fn config(root: &Path, mode: Mode) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = CL_SIZE;
    c.mapped_file_size_consume_queue_raw = CQ_UNITS * 20;
    c.max_hash_slot_num = HASH_SLOTS;
    c.max_index_num = INDEX_NUM;
    c.background_services = false;
    c.flush_disk_type = match mode {
        Mode::Sync | Mode::SyncRetention | Mode::Rebuild | Mode::RebuildTruncate => {
            FlushDiskType::SyncFlush
        }
        Mode::Async => FlushDiskType::AsyncFlush,
    };
    if mode == Mode::SyncRetention {
        c.file_reserved_time_hours = 0;
    }
    c
}

/// One message the workload put.
#[derive(Debug, Clone)]
pub struct Put {
    pub topic: String,
    pub queue_id: i32,
    pub queue_offset: u64,
    pub body: Vec<u8>,
    /// Commitlog offset and size of its record.
    pub phys_offset: u64,
    pub size: u64,
    /// Events recorded when the put returned acknowledged (`None`: not acknowledged).
    pub acked_at: Option<usize>,
}

/// A recorded run: the events and what was put.
#[derive(Debug, Clone)]
pub struct Run {
    pub mode: Mode,
    pub events: Vec<Event>,
    pub puts: Vec<Put>,
    /// The first event of the phase crash points are taken in (0; the rebuild's first event in
    /// [`Mode::Rebuild`]).
    pub phase_start: usize,
    /// [`Mode::RebuildTruncate`]: the commitlog offset of the damaged record (it and every
    /// record after it are removed by the rebuild).
    pub damaged_at: Option<u64>,
}

impl Mode {
    fn rebuilds(self) -> bool {
        matches!(self, Mode::Rebuild | Mode::RebuildTruncate)
    }
}

/// Runs the seeded workload on a fresh store at `root` (which must not exist), recording
/// its I/O. The store is never shut down cleanly: the run ends with the power cut.
pub fn record(root: &Path, seed: u64, mode: Mode, messages: usize) -> crate::Result<Run> {
    let rec = Recorder::start(root);
    let mut rng = Rng::new(seed);
    let clock = ManualClock::new(START_MS);
    let store = MessageStore::open_with(
        config(root, mode),
        OpenMode::ReadWrite,
        Arc::new(clock.clone()),
    )?;
    // Cleanup reads the disk's usage: a fixed one, so the run does not depend on how full
    // the machine's disk is (above 90 % the store would refuse puts, above 85 % clean at
    // once). The workload's clock is the only clock the store sees.
    store.set_cleanup_options(crate::cleanup::CleanupOptions {
        sleep: Arc::new(|_| {}),
        probe: Arc::new(crate::cleanup::FakeDiskProbe::new(10.0)),
        ..Default::default()
    });
    let mut puts = Vec::with_capacity(messages);
    for i in 0..messages {
        clock.advance(1 + rng.below(40) as i64);
        let topic = TOPICS[rng.below(2) as usize];
        let queue_id = rng.below(2) as i32;
        let len = 20 + rng.below(700) as usize;
        let body: Vec<u8> = (0..len)
            .map(|j| (seed as usize ^ (i * 31 + j * 7)) as u8)
            .collect();
        let msg = Message::new(topic, queue_id, body.clone())
            .with_keys(&format!("k{i} s{}", seed % 1000))
            .with_tags(if i % 2 == 0 { "even" } else { "odd" });
        let r = store.put_message(&msg)?;
        let Some(a) = r.append.as_ref() else {
            continue;
        };
        puts.push(Put {
            topic: topic.to_string(),
            queue_id,
            queue_offset: a.logics_offset as u64,
            body,
            phys_offset: a.wrote_offset as u64,
            size: a.wrote_bytes as u64,
            acked_at: r.is_ok().then(|| rec.len()),
        });
        // What the flush services would do now and then.
        match rng.below(20) {
            0 => {
                store.commit_log().files().flush_least(0)?;
            }
            1 => {
                for cq in store.consume_queues().all() {
                    cq.flush()?;
                }
            }
            2 => store.flush()?,
            3 if mode == Mode::SyncRetention => {
                // Every segment but the active one is expired: retention reads file mtimes,
                // which follow the real clock, so they are set back to the run's start (an
                // unrecorded change: the crash model has no times) to keep the run a function
                // of its seed.
                expire_segments(root)?;
                store.execute_delete_files_manually();
                store.run_cleanup_once()?;
            }
            _ => {}
        }
    }
    if mode.rebuilds() {
        // A clean stop (recorded), then the rebuild.
        drop(store);
        let damaged_at = if mode == Mode::RebuildTruncate {
            Some(damage_a_record(root, &puts, &mut rng)?)
        } else {
            None
        };
        let phase_start = rec.len();
        let mut opts = crate::inspect::rebuild::RebuildOptions::new(
            crate::inspect::rebuild::RebuildTarget::InPlace,
        );
        opts.geometry = geometry();
        opts.now_ms = Some(clock.now_millis() + 1000);
        opts.truncate_at_damage = damaged_at.is_some();
        let rep = crate::inspect::rebuild::rebuild(root, &opts)?;
        if damaged_at.is_some() && rep.commitlog_truncated.is_empty() {
            return Err(crate::StoreError::Invalid(format!(
                "{}: the damage at {damaged_at:?} truncated nothing",
                root.display()
            )));
        }
        let events = rec.events();
        return Ok(Run {
            mode,
            events,
            puts,
            phase_start,
            damaged_at,
        });
    }
    let events = rec.events();
    drop(rec);
    // The store is dropped unrecorded; its shutdown does not belong to the run.
    drop(store);
    Ok(Run {
        mode,
        events,
        puts,
        phase_start: 0,
        damaged_at: None,
    })
}

/// Damage found on disk: the magic code of one record in the last two commitlog segments
/// (not the last record, so valid records follow it) is overwritten and synced. Returns the
/// record's commitlog offset.
fn damage_a_record(root: &Path, puts: &[Put], rng: &mut Rng) -> crate::Result<u64> {
    let last_seg = puts
        .iter()
        .map(|p| p.phys_offset / CL_SIZE as u64)
        .max()
        .unwrap_or(0);
    let candidates: Vec<&Put> = puts[..puts.len().saturating_sub(1)]
        .iter()
        .filter(|p| p.phys_offset / CL_SIZE as u64 + 1 >= last_seg)
        .collect();
    let Some(p) = candidates.get(rng.below(candidates.len().max(1) as u64) as usize) else {
        return Err(crate::StoreError::Invalid("no record to damage".into()));
    };
    let seg = p.phys_offset - p.phys_offset % CL_SIZE as u64;
    let path = root.join("commitlog").join(offset_to_file_name(seg));
    let at = p.phys_offset - seg + 4;
    let bad = 0xDEAD_BEEFu32.to_be_bytes();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| crate::StoreError::io(&path, e))?;
    std::os::unix::fs::FileExt::write_all_at(&f, &bad, at)
        .map_err(|e| crate::StoreError::io(&path, e))?;
    crate::iorecord::write(&path, at, &bad);
    crate::iorecord::sync(&path, None, || f.sync_data())
        .map_err(|e| crate::StoreError::io(&path, e))?;
    Ok(p.phys_offset)
}

/// The workload's file sizes, for `verify` and `rebuild`.
fn geometry() -> GeometryOverrides {
    GeometryOverrides {
        commitlog_size: Some(CL_SIZE),
        cq_size: Some(CQ_UNITS * 20),
        hash_slots: Some(HASH_SLOTS),
        index_num: Some(INDEX_NUM),
        commitlog_dir: None,
    }
}

/// Sets the mtime of every commitlog segment under `root` to the run's start time, so that
/// retention (`fileReservedTime` 0) finds each expired whatever the real clock says.
fn expire_segments(root: &Path) -> crate::Result<()> {
    let dir = root.join("commitlog");
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(START_MS as u64);
    let entries = std::fs::read_dir(&dir).map_err(|e| crate::StoreError::io(&dir, e))?;
    for e in entries {
        let path = e.map_err(|e| crate::StoreError::io(&dir, e))?.path();
        std::fs::File::open(&path)
            .and_then(|f| f.set_modified(t))
            .map_err(|e| crate::StoreError::io(&path, e))?;
    }
    Ok(())
}

/// What one image showed.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Acknowledged (SYNC_FLUSH) or durable (any mode) messages missing or different.
    pub acked_lost: u64,
    /// Acknowledged messages missing that were never synced (allowed, reported).
    pub unsynced_lost: u64,
    /// Acknowledged messages missing because retention removed their segment before the
    /// crash (allowed, reported; whether or not the removal was durable).
    pub deleted: u64,
    /// Messages the rebuild removed as asked (at or after the damage, [`Mode::RebuildTruncate`]).
    pub truncated: u64,
    /// Recovery failed, verify found an error, or a queue is not dense or holds a wrong message.
    pub inconsistent: bool,
    pub panicked: bool,
    /// What went wrong, for the report.
    pub problems: Vec<String>,
}

/// Builds the image of `state` with `choice` into `img` (removed first), opens it writable
/// and checks it against the run's puts acknowledged within the first `point` events.
pub fn check_image(
    run: &Run,
    state: &CrashState,
    point: usize,
    choice: Choice,
    img: &Path,
) -> Outcome {
    let _ = std::fs::remove_dir_all(img);
    let mut out = Outcome::default();
    if let Err(e) = state.build(img, choice) {
        out.inconsistent = true;
        out.problems.push(format!("building the image: {e}"));
        return out;
    }
    let r = catch_unwind(AssertUnwindSafe(|| {
        check_open(run, state, point, img, &mut out)
    }));
    if r.is_err() {
        out.panicked = true;
        out.problems.push("recovery or a check panicked".into());
    }
    let _ = std::fs::remove_dir_all(img);
    out
}

fn check_open(run: &Run, state: &CrashState, point: usize, img: &Path, out: &mut Outcome) {
    if run.mode.rebuilds() {
        // What the operator does after an interrupted rebuild: run it again (it removes the
        // first one's leftovers), then start the broker.
        let mut opts = crate::inspect::rebuild::RebuildOptions::new(
            crate::inspect::rebuild::RebuildTarget::InPlace,
        );
        opts.geometry = geometry();
        opts.now_ms = Some(START_MS + 7_200_000);
        opts.truncate_at_damage = run.damaged_at.is_some();
        // The clean stop's unlink of `abort` may not have reached the disk (no directory
        // sync, as in Java): the rebuild then refuses without --force, and says so.
        opts.force = img.join("abort").exists();
        if let Err(e) = crate::inspect::rebuild::rebuild(img, &opts) {
            out.inconsistent = true;
            out.problems.push(format!("rebuild again failed: {e}"));
            return;
        }
    }
    let clock = ManualClock::new(START_MS + 3_600_000);
    let store = match MessageStore::open_with(
        config(img, run.mode),
        OpenMode::ReadWrite,
        Arc::new(clock),
    ) {
        Ok(s) => s,
        Err(e) => {
            out.inconsistent = true;
            out.problems.push(format!("recovery failed: {e}"));
            return;
        }
    };
    // Queues dense, and every message in them the one put there.
    let mut by_slot = std::collections::HashMap::new();
    for p in &run.puts {
        by_slot.insert((p.topic.as_str(), p.queue_id, p.queue_offset), p);
    }
    let mut present = std::collections::HashSet::new();
    // Retention: units whose record lies below the commitlog's first segment are skipped by
    // reads (Java's MESSAGE_WAS_REMOVING). Only a prefix of a queue may be skipped, and only
    // messages put below that offset; the messages readable are then the rest, in order.
    let cl_min = store.min_phy_offset();
    for topic in TOPICS {
        for qid in 0..2 {
            let min = store.min_offset_in_queue(topic, qid);
            let max = store.max_offset_in_queue(topic, qid);
            let got = store.get_messages(topic, qid, min, usize::MAX);
            let first = max.saturating_sub(got.messages.len() as u64).max(min);
            let skipped_live = (min..first).find(|&qo| {
                by_slot
                    .get(&(topic, qid, qo))
                    .is_none_or(|p| p.phys_offset >= cl_min)
            });
            if got.messages.len() as u64 > max - min || skipped_live.is_some() {
                out.inconsistent = true;
                out.problems.push(format!(
                    "{topic}/{qid}: {} messages readable in [{min}, {max}), the commitlog \
                     starting at {cl_min}",
                    got.messages.len()
                ));
            }
            for (k, m) in got.messages.iter().enumerate() {
                let want_qo = first + k as u64;
                let rec = match m.decode() {
                    Ok(r) => r,
                    Err(e) => {
                        out.inconsistent = true;
                        out.problems.push(format!("{topic}/{qid}@{want_qo}: {e}"));
                        continue;
                    }
                };
                let ok = rec.queue_offset as u64 == want_qo
                    && rec.topic == topic.as_bytes()
                    && rec.queue_id == qid
                    && by_slot
                        .get(&(topic, qid, want_qo))
                        .is_some_and(|p| p.body == rec.body && p.phys_offset == m.offset());
                if ok {
                    present.insert((topic, qid, want_qo));
                } else {
                    out.inconsistent = true;
                    out.problems.push(format!(
                        "{topic}/{qid}@{want_qo}: not the message put there (offset {})",
                        m.offset()
                    ));
                }
            }
        }
    }
    // Acknowledged messages (those in a segment retention deleted before the crash are gone
    // by design).
    let deleted: std::collections::HashSet<&Path> = run.events[..point]
        .iter()
        .filter(|e| e.op == crate::iorecord::Op::Remove)
        .map(|e| e.path.as_path())
        .collect();
    for p in &run.puts {
        let Some(at) = p.acked_at else { continue };
        if at > point || present.contains(&(p.topic.as_str(), p.queue_id, p.queue_offset)) {
            continue;
        }
        if run.damaged_at.is_some_and(|d| p.phys_offset >= d) {
            out.truncated += 1;
            continue;
        }
        let seg = p.phys_offset - p.phys_offset % CL_SIZE as u64;
        let path = PathBuf::from("commitlog").join(offset_to_file_name(seg));
        if deleted.contains(path.as_path()) {
            out.deleted += 1;
            continue;
        }
        let durable = state.is_durable(&path, p.phys_offset - seg, p.size);
        if run.mode != Mode::Async || durable {
            out.acked_lost += 1;
            out.problems.push(format!(
                "acknowledged {}/{}@{} (commitlog {}, durable {durable}) lost",
                p.topic, p.queue_id, p.queue_offset, p.phys_offset
            ));
        } else {
            out.unsynced_lost += 1;
        }
    }
    // verify, as a library call, on the recovered store.
    let opts = VerifyOptions {
        geometry: geometry(),
        now_ms: Some(START_MS + 7_200_000),
    };
    match verify(img, &opts) {
        Ok(rep) if rep.findings.has_errors() => {
            out.inconsistent = true;
            out.problems
                .push(format!("verify after recovery: {:?}", rep.findings));
        }
        Ok(_) => {}
        Err(e) => {
            out.inconsistent = true;
            out.problems.push(format!("verify failed: {e}"));
        }
    }
    drop(store);
}

/// Totals over many images.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub images: u64,
    pub acked_lost: u64,
    pub unsynced_lost: u64,
    /// Acknowledged messages retention deleted before the crash (not lost).
    pub deleted: u64,
    /// Messages `rebuild --truncate-at-damage` removed as asked (not lost).
    pub truncated: u64,
    pub inconsistent: u64,
    pub panics: u64,
    /// A digest of every image's point, choice and verdict, in order: two runs of the same
    /// seed give the same digest (tests/powerloss_determinism.rs).
    pub digest: u64,
    /// The first few failing images: (run seed, mode, point, choice, problems).
    pub failures: Vec<String>,
}

impl Summary {
    /// The one-line summary.
    pub fn line(&self) -> String {
        format!(
            "images {}, acked lost {}, inconsistent {}, panics {}",
            self.images, self.acked_lost, self.inconsistent, self.panics
        )
    }
    pub fn failed(&self) -> bool {
        self.acked_lost > 0 || self.inconsistent > 0 || self.panics > 0
    }
    fn add(&mut self, o: &Outcome, point: usize, choice: Choice, what: impl FnOnce() -> String) {
        self.images += 1;
        let choice = match choice {
            Choice::AllOld => 1,
            Choice::AllNew => 2,
            Choice::Random(s) => s,
        };
        for v in [
            point as u64,
            choice,
            o.acked_lost,
            o.unsynced_lost,
            o.deleted,
            o.truncated,
            o.inconsistent as u64,
            o.panicked as u64,
        ] {
            // FNV-1a over the words.
            self.digest = (self.digest ^ v).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.acked_lost += o.acked_lost;
        self.unsynced_lost += o.unsynced_lost;
        self.deleted += o.deleted;
        self.truncated += o.truncated;
        self.inconsistent += o.inconsistent as u64;
        self.panics += o.panicked as u64;
        if (o.acked_lost > 0 || o.inconsistent || o.panicked) && self.failures.len() < 20 {
            let shown: Vec<&str> = o.problems.iter().take(3).map(String::as_str).collect();
            let more = o.problems.len().saturating_sub(shown.len());
            self.failures.push(format!(
                "{}: {}{}",
                what(),
                shown.join("; "),
                if more > 0 {
                    format!(" (and {more} more)")
                } else {
                    String::new()
                }
            ));
        }
    }
}

/// Images per recorded run.
pub const IMAGES_PER_RUN: u64 = 60;

/// Runs `n` images from `seed` in `work` (a scratch directory): a new recorded run (the modes
/// of [`ROTATION`] in turn) every [`IMAGES_PER_RUN`] images; of each run's images, half
/// walk its sync points in order (just before and just after each sync ends: all unsynced
/// state old, all new, or random), half crash at a random event with random choices; in the
/// rebuild modes a quarter first crash right after the swap's name operations.
/// `progress` is called after every run.
pub fn run_images(
    seed: u64,
    n: u64,
    work: &Path,
    progress: impl FnMut(&Summary),
) -> crate::Result<Summary> {
    run_images_in(seed, n, work, &ROTATION, progress)
}

/// The modes [`run_images`] rotates through, one recorded run each in turn.
pub const ROTATION: [Mode; 5] = [
    Mode::Sync,
    Mode::Async,
    Mode::SyncRetention,
    Mode::Rebuild,
    Mode::RebuildTruncate,
];

/// [`run_images`] with the runs' modes taken in turn from `modes` (not empty).
pub fn run_images_in(
    seed: u64,
    n: u64,
    work: &Path,
    modes: &[Mode],
    mut progress: impl FnMut(&Summary),
) -> crate::Result<Summary> {
    let mut sum = Summary::default();
    let mut rng = Rng::new(seed);
    let mut round = 0usize;
    while sum.images < n {
        let run_seed = rng.next_u64();
        let mode = modes[round % modes.len()];
        round += 1;
        let root = work.join("run");
        let _ = std::fs::remove_dir_all(&root);
        let messages = 60 + rng.below(200) as usize;
        let run = record(&root, run_seed, mode, messages)?;
        let _ = std::fs::remove_dir_all(&root);
        let lo = run.phase_start;
        let pts: Vec<usize> = sync_points(&run.events)
            .into_iter()
            .filter(|&p| p >= lo)
            .collect();
        let mut points: Vec<(usize, Choice)> = Vec::new();
        let want = IMAGES_PER_RUN.min(n - sum.images) as usize;
        if mode.rebuilds() {
            // The swap: right after each of its name operations (renames, links, the backup
            // folder's creation), up to a quarter of the run's images.
            let swap: Vec<usize> = (lo..run.events.len())
                .filter(|&i| {
                    matches!(
                        run.events[i].op,
                        crate::iorecord::Op::Rename { .. } | crate::iorecord::Op::Link { .. }
                    ) || (run.events[i].op == crate::iorecord::Op::MkDir
                        && run.events[i].path.to_string_lossy().contains(".bak-"))
                })
                .map(|i| i + 1)
                .collect();
            let budget = want / 4;
            let stride = swap.len().div_ceil(budget.max(1)).max(1);
            for (k, &p) in swap.iter().step_by(stride).take(budget).enumerate() {
                let choice = match k % 3 {
                    0 => Choice::AllOld,
                    1 => Choice::AllNew,
                    _ => Choice::Random(rng.next_u64()),
                };
                points.push((p, choice));
            }
        }
        let sys = (want - points.len()) / 2;
        if !pts.is_empty() && sys > 0 {
            let stride = pts.len().div_ceil(sys).max(1);
            let start = rng.below(stride as u64) as usize;
            for (k, &p) in pts.iter().skip(start).step_by(stride).enumerate() {
                let choice = match k % 3 {
                    0 => Choice::AllOld,
                    1 => Choice::AllNew,
                    _ => Choice::Random(rng.next_u64()),
                };
                points.push((p, choice));
            }
        }
        while points.len() < want {
            let p = lo + rng.below((run.events.len() - lo) as u64 + 1) as usize;
            points.push((p, Choice::Random(rng.next_u64())));
        }
        points.sort_by_key(|&(p, _)| p);
        let img = work.join("img");
        let mut state = CrashState::replay(&[]);
        let mut at = 0;
        for (p, choice) in points {
            state.extend(&run.events[at..p]);
            at = p;
            let o = check_image(&run, &state, p, choice, &img);
            sum.add(&o, p, choice, || {
                format!("run seed {run_seed} {mode:?} {messages} messages, point {p}, {choice:?}")
            });
        }
        progress(&sum);
    }
    Ok(sum)
}

/// Re-checks one image of a failure line (`run seed`, mode, messages, point, choice), for
/// debugging: records the run again and checks the image, leaving it in `work/img` when
/// `keep`.
pub fn check_one(
    run_seed: u64,
    mode: Mode,
    messages: usize,
    point: usize,
    choice: Choice,
    work: &Path,
    keep: bool,
) -> crate::Result<Outcome> {
    let root = work.join("run");
    let _ = std::fs::remove_dir_all(&root);
    let run = record(&root, run_seed, mode, messages)?;
    let _ = std::fs::remove_dir_all(&root);
    let state = CrashState::replay(&run.events[..point.min(run.events.len())]);
    let img = work.join("img");
    if keep {
        let _ = std::fs::remove_dir_all(&img);
        state
            .build(&img, choice)
            .map_err(|e| crate::StoreError::io(&img, e))?;
        let keep_img = work.join("kept");
        let _ = std::fs::remove_dir_all(&keep_img);
        copy_dir(&img, &keep_img).map_err(|e| crate::StoreError::io(&keep_img, e))?;
        for (i, e) in run.events[..point].iter().enumerate() {
            let op = match &e.op {
                crate::iorecord::Op::Write { off, data } => format!("Write {off}+{}", data.len()),
                o => format!("{o:?}"),
            };
            eprintln!("{i} {} {op}", e.path.display());
        }
    }
    Ok(check_image(&run, &state, point, choice, &img))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}
