//! Power loss rather than kill -9: crash images in which only what was synced is sure to
//! survive (see `src/iorecord.rs` for the model, `src/powerloss.rs` for the checker).

use std::path::Path;

use rmqstore::iorecord::{sync_points, Choice, CrashState, Op, Recorder};
use rmqstore::powerloss::{check_image, record, run_images, Mode};

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
