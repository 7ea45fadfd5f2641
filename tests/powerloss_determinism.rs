//! The power-loss checker repeats from its seed: the same run seed records the same events
//! and puts, and the same image seed gives the same verdicts, in every mode. Nothing outside
//! the seed (the wall clock, the disk's fill, thread timing, the process's other recordings)
//! may change a run, or a FAILED line could not be reproduced (issue #16).

use rmqstore::iorecord::Op;
use rmqstore::powerloss::{record, run_images_in, Mode, Run};

/// A scratch directory in memory when the machine has one (the runs sync a lot; a busy disk
/// would only make the test slow).
fn scratch() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

fn describe(op: &Op) -> String {
    match op {
        Op::Write { off, data } => format!("Write {off}+{}", data.len()),
        o => format!("{o:?}"),
    }
}

fn assert_same_run(a: &Run, b: &Run, what: &str) {
    let n = a.events.len().min(b.events.len());
    if let Some(i) = (0..n).find(|&i| a.events[i] != b.events[i]) {
        panic!(
            "{what}: event {i} differs: {} {} / {} {}",
            a.events[i].path.display(),
            describe(&a.events[i].op),
            b.events[i].path.display(),
            describe(&b.events[i].op)
        );
    }
    assert_eq!(a.events.len(), b.events.len(), "{what}: event count");
    assert_eq!(a.phase_start, b.phase_start, "{what}: phase start");
    assert_eq!(a.puts.len(), b.puts.len(), "{what}: put count");
    for (p, q) in a.puts.iter().zip(&b.puts) {
        assert_eq!(
            (&p.topic, p.queue_id, p.queue_offset, &p.body),
            (&q.topic, q.queue_id, q.queue_offset, &q.body),
            "{what}"
        );
        assert_eq!(
            (p.phys_offset, p.size, p.acked_at),
            (q.phys_offset, q.size, q.acked_at),
            "{what}"
        );
    }
}

/// Every mode, one run seed recorded twice (in different directories, while another
/// recording runs in between): the same events, byte for byte, and the same puts.
#[test]
fn a_run_seed_records_the_same_events_twice() {
    let d = scratch();
    for (k, mode) in [
        Mode::Sync,
        Mode::Async,
        Mode::SyncRetention,
        Mode::Rebuild,
        Mode::RebuildTruncate,
    ]
    .into_iter()
    .enumerate()
    {
        let seed = 9000 + k as u64;
        let a = record(&d.path().join(format!("a{k}")), seed, mode, 160).unwrap();
        // Another run in between (its syncs must not shift this run's ids).
        let _ = record(&d.path().join(format!("x{k}")), seed + 1, Mode::Sync, 10).unwrap();
        let b = record(&d.path().join(format!("b{k}")), seed, mode, 160).unwrap();
        assert!(!a.events.is_empty());
        assert_same_run(&a, &b, &format!("{mode:?} seed {seed}"));
    }
}

/// Every mode, the same images twice from one seed: the same points, choices and verdicts.
#[test]
fn an_image_seed_gives_the_same_verdicts_twice() {
    let d = scratch();
    for mode in [
        Mode::Sync,
        Mode::Async,
        Mode::SyncRetention,
        Mode::Rebuild,
        Mode::RebuildTruncate,
    ] {
        let a = run_images_in(77, 24, &d.path().join("a"), &[mode], |_| {}).unwrap();
        let b = run_images_in(77, 24, &d.path().join("b"), &[mode], |_| {}).unwrap();
        assert_eq!(a.images, 24);
        assert_eq!(
            (a.digest, a.unsynced_lost, a.deleted, &a.failures),
            (b.digest, b.unsynced_lost, b.deleted, &b.failures),
            "{mode:?}"
        );
    }
}
