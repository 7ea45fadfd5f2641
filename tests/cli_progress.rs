//! The progress reports of `verify`, `rebuild` and `salvage` (issue 17): bytes done out of the
//! bytes each phase has to go through, checked against the lengths of the fixture's files; the
//! reports rise to their totals, and a run with progress gives the same report as one without.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Mutex;

use common::{copy_store_to_temp, fixture};
use rmqstore::inspect::progress::Progress;
use rmqstore::inspect::rebuild::{rebuild, rebuild_with_progress, RebuildOptions, RebuildTarget};
use rmqstore::inspect::salvage::{salvage_with_progress, SalvageOptions};
use rmqstore::inspect::verify::{verify, verify_with_progress, VerifyOptions};

/// Total length of the regular files under `dir` (recursively).
fn bytes_under(dir: &Path) -> u64 {
    let mut n = 0;
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let m = e.metadata().unwrap();
        if m.is_dir() {
            n += bytes_under(&e.path());
        } else {
            n += m.len();
        }
    }
    n
}

/// Phases in order of first report, each with its reports; every phase rises to its total.
fn phases(reports: &[Progress]) -> Vec<(&'static str, u64, usize)> {
    let mut out: Vec<(&'static str, u64, usize)> = Vec::new();
    let mut last_done = 0;
    for p in reports {
        assert!(p.done <= p.total, "{p:?}");
        match out.last_mut() {
            Some(l) if l.0 == p.phase => {
                assert!(p.done >= last_done, "progress went back: {p:?}");
                assert_eq!(p.total, l.1, "a phase keeps its total");
                l.2 += 1;
            }
            _ => {
                assert!(
                    out.iter().all(|l| l.0 != p.phase),
                    "phase {} came back",
                    p.phase
                );
                assert_eq!(p.done, 0, "a phase starts at 0: {p:?}");
                out.push((p.phase, p.total, 1));
            }
        }
        last_done = p.done;
    }
    // Each phase's last report is done == total.
    for (i, (phase, total, _)) in out.iter().enumerate() {
        let last = reports.iter().rev().find(|p| p.phase == *phase).unwrap();
        assert_eq!(last.done, *total, "phase {i} {phase} ends at its total");
    }
    out
}

#[test]
fn verify_reports_each_phase_in_bytes_and_finds_the_same() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let st = tmp.path();
    let reports = Mutex::new(Vec::new());
    let with = verify_with_progress(st, &VerifyOptions::default(), &|p| {
        reports.lock().unwrap().push(p)
    })
    .unwrap();
    let without = verify(st, &VerifyOptions::default()).unwrap();
    assert_eq!(with, without);
    let reports = reports.into_inner().unwrap();
    let got = phases(&reports);
    let names: Vec<&str> = got.iter().map(|p| p.0).collect();
    assert_eq!(names, ["commitlog", "consume queues", "index"]);
    assert_eq!(got[0].1, bytes_under(&st.join("commitlog")));
    assert_eq!(got[1].1, bytes_under(&st.join("consumequeue")));
    assert_eq!(got[2].1, bytes_under(&st.join("index")));
    // One report per segment, queue and index file at least.
    let segments = fs::read_dir(st.join("commitlog")).unwrap().count();
    assert!(got[0].2 > segments, "{got:?}");
}

#[test]
fn salvage_and_rebuild_report_the_bytes_they_walk() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let st = tmp.path();
    let outs = tempfile::tempdir().unwrap();

    let reports = Mutex::new(Vec::new());
    salvage_with_progress(
        st,
        &outs.path().join("salvaged"),
        &SalvageOptions::default(),
        &|p| reports.lock().unwrap().push(p),
    )
    .unwrap();
    let reports = reports.into_inner().unwrap();
    let got = phases(&reports);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "copying");
    assert_eq!(got[0].1, bytes_under(&st.join("commitlog")));
    // About one report per MiB walked.
    assert!(got[0].2 as u64 > got[0].1 >> 20, "{got:?}");

    let reports = Mutex::new(Vec::new());
    let opts = RebuildOptions::new(RebuildTarget::Out(outs.path().join("rebuilt")));
    let with = rebuild_with_progress(st, &opts, &|p| reports.lock().unwrap().push(p)).unwrap();
    let reports = reports.into_inner().unwrap();
    let got = phases(&reports);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "replaying");
    let r = f.reader();
    assert_eq!(got[0].1, (r.max_phy_offset - r.min_phy_offset) as u64);
    // The same rebuild without progress writes the same report.
    let again = rebuild(
        st,
        &RebuildOptions::new(RebuildTarget::Out(outs.path().join("rebuilt2"))),
    )
    .unwrap();
    assert_eq!(with.commitlog_end, again.commitlog_end);
    assert_eq!(with.records, again.records);
}
