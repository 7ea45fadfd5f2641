//! Power loss rather than kill -9: crash images in which only what was synced is sure to
//! survive (see `src/iorecord.rs` for the model, `src/powerloss.rs` for the checker).

use std::path::Path;

use rmqstore::iorecord::{sync_points, Choice, CrashState, Op, Recorder};
use rmqstore::powerloss::{check_image, record, run_images, run_images_in, Mode};

/// A few dozen images from a fixed seed, SYNC_FLUSH and ASYNC_FLUSH runs: no acknowledged
/// message lost, no inconsistent or panicking recovery.
#[test]
fn crash_images_lose_nothing_acknowledged() {
    let d = tempfile::tempdir().unwrap();
    let sum = run_images(16, 120, d.path(), |_| {}).unwrap();
    assert_eq!(sum.images, 120);
    assert!(!sum.failed(), "{}\n{}", sum.line(), sum.failures.join("\n"));
    // The images are not all trivially whole: ASYNC runs lose unsynced messages.
    assert!(sum.unsynced_lost > 0, "{}", sum.line());
}

/// The checker can fail: an image built from a wrong model (a page a sync made durable comes
/// back as zeros) loses acknowledged SYNC_FLUSH messages, and the checker reports them.
#[test]
fn a_dropped_synced_page_is_detected() {
    let d = tempfile::tempdir().unwrap();
    let run = record(&d.path().join("run"), 7, Mode::Sync, 80).unwrap();
    let point = run.events.len();
    let state = CrashState::replay(&run.events);
    // The right model: everything acknowledged survives even with nothing unsynced kept.
    let ok = check_image(&run, &state, point, Choice::AllOld, &d.path().join("img"));
    assert_eq!(ok.acked_lost, 0, "{:?}", ok.problems);
    assert!(!ok.inconsistent && !ok.panicked, "{:?}", ok.problems);
    // The wrong one: the first commitlog page is forgotten.
    let mut wrong = state.clone();
    let seg = Path::new("commitlog/00000000000000000000");
    assert!(wrong.forget_synced_page(seg, 0));
    let bad = check_image(&run, &wrong, point, Choice::AllOld, &d.path().join("img"));
    assert!(bad.acked_lost > 0, "{:?}", bad.problems);
    assert!(
        bad.problems.iter().any(|p| p.contains("lost")),
        "{:?}",
        bad.problems
    );
}

/// The seam records what the store does: creation and sizing of a segment, its syncs, the
/// directory syncs that make new names durable, and the checkpoint's write and fdatasync.
#[test]
fn the_recorder_sees_the_put_path() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("run");
    let run = record(&root, 3, Mode::Sync, 20).unwrap();
    let seg = Path::new("commitlog/00000000000000000000");
    let first = |want: &dyn Fn(&Op) -> bool, path: &Path| {
        run.events
            .iter()
            .position(|e| e.path == path && want(&e.op))
    };
    let created = first(&|o| *o == Op::Create, seg).expect("segment created");
    let sized = first(&|o| matches!(o, Op::SetLen(32768)), seg).expect("segment sized");
    let dir_synced = first(&|o| *o == Op::DirSync, Path::new("commitlog")).expect("dir sync");
    let written = first(&|o| matches!(o, Op::Write { .. }), seg).expect("a put");
    assert!(created < sized && sized < dir_synced && dir_synced < written);
    // Every put was synced before it was acknowledged (SYNC_FLUSH).
    for p in &run.puts {
        let at = p.acked_at.expect("acknowledged");
        let state = CrashState::replay(&run.events[..at]);
        assert!(state.is_durable(seg, p.phys_offset, p.size) || p.phys_offset >= 32768);
    }
    assert!(!sync_points(&run.events).is_empty());
    // Nothing is recorded once the recorder is gone, or outside its directory.
    let other = d.path().join("other");
    let rec = Recorder::start(&other);
    let _ = record(&d.path().join("run2"), 3, Mode::Sync, 5).unwrap();
    assert!(rec.is_empty());
}

/// Retention under SYNC_FLUSH: crash images taken while segments, consume-queue files and
/// index files are being deleted (unlinks durable or not) lose nothing acknowledged that the
/// run did not delete, and every queue reads densely from its first live unit.
#[test]
fn retention_crash_images_lose_nothing_acknowledged() {
    let d = tempfile::tempdir().unwrap();
    let sum = run_images_in(20261202, 120, d.path(), &[Mode::SyncRetention], |_| {}).unwrap();
    assert_eq!(sum.images, 120);
    assert!(!sum.failed(), "{}\n{}", sum.line(), sum.failures.join("\n"));
    // The runs did delete acknowledged messages (their segments expired) before crash points.
    assert!(sum.deleted > 0, "{}", sum.line());
}

/// The retention fix: before cleanup removes a commitlog segment, every consume-queue unit is
/// durable (a unit lost in a power cut could not be re-dispatched from a deleted record, and
/// the next units would land at the wrong queue offsets).
#[test]
fn cleanup_makes_the_queues_durable_before_removing_a_segment() {
    let d = tempfile::tempdir().unwrap();
    let run = record(&d.path().join("run"), 11, Mode::SyncRetention, 250).unwrap();
    let removals: Vec<usize> = run
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.op == Op::Remove && e.path.starts_with("commitlog"))
        .map(|(i, _)| i)
        .collect();
    assert!(!removals.is_empty(), "the run removed no segment");
    for r in removals {
        let state = CrashState::replay(&run.events[..r]);
        let dirty: Vec<_> = state
            .dirty_files()
            .into_iter()
            .filter(|p| p.starts_with("consumequeue"))
            .collect();
        assert!(dirty.is_empty(), "before event {r}: {dirty:?} not durable");
    }
}

/// The retention checker can fail: an image missing a segment the run never deleted (a wrong
/// model) loses acknowledged messages, and the checker reports them although retention did
/// delete other segments (and the store, seeing only a later first segment, skips their units).
#[test]
fn a_segment_retention_did_not_delete_is_missed() {
    let d = tempfile::tempdir().unwrap();
    let run = record(&d.path().join("run"), 11, Mode::SyncRetention, 250).unwrap();
    let point = run.events.len();
    let state = CrashState::replay(&run.events);
    let ok = check_image(&run, &state, point, Choice::AllOld, &d.path().join("img"));
    assert!(ok.deleted > 0, "{ok:?}");
    assert_eq!(ok.acked_lost, 0, "{:?}", ok.problems);
    assert!(!ok.inconsistent && !ok.panicked, "{:?}", ok.problems);
    // The oldest segment still there goes missing, as if retention had removed it.
    let mut names: Vec<_> = run
        .events
        .iter()
        .filter(|e| e.op == Op::Create && e.path.starts_with("commitlog"))
        .map(|e| e.path.clone())
        .collect();
    names.retain(|p| {
        !run.events
            .iter()
            .any(|e| e.op == Op::Remove && e.path == *p)
    });
    assert!(names.len() >= 2, "{names:?}");
    let mut wrong = state.clone();
    assert!(wrong.forget_file(&names[0]));
    let bad = check_image(&run, &wrong, point, Choice::AllOld, &d.path().join("img"));
    assert!(bad.acked_lost > 0, "{:?}", bad.problems);
    assert!(
        bad.problems.iter().any(|p| p.contains("lost")),
        "{:?}",
        bad.problems
    );
}

/// A power cut anywhere in `rebuild --in-place` (its writes, syncs and the swap's renames,
/// each a prefix of the renames on disk): running the rebuild again and opening the store
/// yields every message put before it, queues dense, verify clean.
#[test]
fn rebuild_crash_images_lose_nothing() {
    let d = tempfile::tempdir().unwrap();
    let sum = run_images_in(16, 60, d.path(), &[Mode::Rebuild], |_| {}).unwrap();
    assert_eq!(sum.images, 60);
    assert!(!sum.failed(), "{}\n{}", sum.line(), sum.failures.join("\n"));
}

/// The rebuild checker can fail: with the swap half done (the old consume queues moved
/// aside, the new ones not yet in) and a wrong model that loses the first commitlog segment,
/// the messages in it are reported lost.
#[test]
fn a_rebuild_image_missing_a_segment_is_detected() {
    let d = tempfile::tempdir().unwrap();
    let run = record(&d.path().join("run"), 5, Mode::Rebuild, 150).unwrap();
    let swap = run
        .events
        .iter()
        .position(|e| matches!(e.op, Op::Rename { .. }) && e.path == Path::new("consumequeue"))
        .expect("the swap renames consumequeue");
    assert!(swap > run.phase_start);
    let point = swap + 1;
    let state = CrashState::replay(&run.events[..point]);
    let ok = check_image(&run, &state, point, Choice::AllOld, &d.path().join("img"));
    assert!(!ok.inconsistent && !ok.panicked, "{:?}", ok.problems);
    assert_eq!(ok.acked_lost, 0, "{:?}", ok.problems);
    let mut wrong = state.clone();
    assert!(wrong.forget_file(Path::new("commitlog/00000000000000000000")));
    let bad = check_image(&run, &wrong, point, Choice::AllOld, &d.path().join("img"));
    assert!(bad.acked_lost > 0 || bad.inconsistent, "{:?}", bad.problems);
    assert!(
        bad.problems.iter().any(|p| p.contains("lost")),
        "{:?}",
        bad.problems
    );
}

/// `rebuild --in-place --truncate-at-damage` after damage in the last two segments: crash
/// images in the rebuild, its copy of the segment holding the end and the swap of segments
/// into `commitlog.bak-<ts>`, then the same rebuild again and a writable open: every message
/// put before the damaged record is there, queues dense, verify clean; the records from the
/// damage on are removed (counted as truncated, not lost).
#[test]
fn rebuild_truncate_crash_images_lose_nothing() {
    let d = tempfile::tempdir().unwrap();
    let sum = run_images_in(16, 60, d.path(), &[Mode::RebuildTruncate], |_| {}).unwrap();
    assert_eq!(sum.images, 60);
    assert!(!sum.failed(), "{}\n{}", sum.line(), sum.failures.join("\n"));
    assert!(sum.truncated > 0, "{}", sum.line());
}

/// Every name operation of the segment swap, as a crash point (all old, all new, random): the
/// commitlog never has a hole or misses the segment holding the end, so the rebuild run again
/// and the open keep every message before the damage.
#[test]
fn every_point_of_the_segment_swap_recovers() {
    let d = tempfile::tempdir().unwrap();
    let run = record(&d.path().join("run"), 21, Mode::RebuildTruncate, 200).unwrap();
    let damaged = run.damaged_at.expect("damage");
    let is_bak = |p: &Path| p.to_string_lossy().starts_with("commitlog.bak-");
    let swap: Vec<usize> = (run.phase_start..run.events.len())
        .filter(|&i| match &run.events[i].op {
            Op::Rename { to } | Op::Link { to } => {
                run.events[i]
                    .path
                    .to_string_lossy()
                    .starts_with("commitlog")
                    || is_bak(to)
            }
            _ => false,
        })
        .collect();
    // The segment holding the end was linked into the backup and its copy renamed over it.
    assert!(
        swap.iter()
            .any(|&i| matches!(&run.events[i].op, Op::Link { to } if is_bak(to))),
        "no segment linked into the backup"
    );
    assert!(
        swap.iter().any(|&i| run.events[i]
            .path
            .to_string_lossy()
            .starts_with("commitlog.rebuild-")),
        "no replacement renamed into the commitlog"
    );
    for &i in &swap {
        let state = CrashState::replay(&run.events[..=i]);
        for choice in [Choice::AllOld, Choice::AllNew, Choice::Random(i as u64)] {
            let o = check_image(&run, &state, i + 1, choice, &d.path().join("img"));
            assert!(
                o.acked_lost == 0 && !o.inconsistent && !o.panicked,
                "after event {i} ({choice:?}), damage at {damaged}: {:?}",
                o.problems
            );
            assert!(o.truncated > 0);
        }
    }
}

/// The truncate checker can fail: once the copy of the segment holding the end is in place,
/// an image missing that segment (as if it had been moved to the backup and its copy never
/// moved in) loses the messages put before the damage, and they are reported lost.
#[test]
fn a_truncate_image_missing_the_end_segment_is_detected() {
    let d = tempfile::tempdir().unwrap();
    let run = record(&d.path().join("run"), 21, Mode::RebuildTruncate, 200).unwrap();
    let moved_in = run
        .events
        .iter()
        .position(|e| {
            matches!(e.op, Op::Rename { .. })
                && e.path.to_string_lossy().starts_with("commitlog.rebuild-")
        })
        .expect("a copy renamed into the commitlog");
    let Op::Rename { to: seg } = run.events[moved_in].op.clone() else {
        unreachable!()
    };
    let point = moved_in + 1;
    let state = CrashState::replay(&run.events[..point]);
    let ok = check_image(&run, &state, point, Choice::AllOld, &d.path().join("img"));
    assert!(ok.acked_lost == 0 && !ok.inconsistent, "{:?}", ok.problems);
    let mut wrong = state.clone();
    assert!(wrong.forget_file(&seg));
    let bad = check_image(&run, &wrong, point, Choice::AllOld, &d.path().join("img"));
    assert!(bad.acked_lost > 0, "{:?}", bad.problems);
    assert!(
        bad.problems.iter().any(|p| p.contains("lost")),
        "{:?}",
        bad.problems
    );
}
