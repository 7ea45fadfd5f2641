//! `rebuild --out` copies the commitlog on a thread of its own while the scan runs, as far as
//! the scan has accepted it. The copy must hold exactly the source's bytes below the end (what
//! Java's recovery keeps) and zeros above it, segments wholly after the end must be left out,
//! and every segment that held data after the end must be reported.

mod common;

use std::fs;
use std::path::Path;

use common::{all_fixtures, copy_store_to_temp, files_under, fixture};
use rmqstore::inspect::rebuild::{rebuild, RebuildOptions, RebuildReport, RebuildTarget};

fn rebuild_out(store: &Path, out: &Path) -> RebuildReport {
    let mut opts = RebuildOptions::new(RebuildTarget::Out(out.to_path_buf()));
    opts.now_ms = Some(1_700_000_000_000);
    rebuild(store, &opts).unwrap_or_else(|e| panic!("rebuild {}: {e}", store.display()))
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Checks the copied commitlog against the source, segment by segment.
fn check_copy(what: &str, store: &Path, out: &Path, report: &RebuildReport) {
    let end = report.commitlog_end;
    let mut cut = Vec::new();
    for (name, data) in files_under(&store.join("commitlog")) {
        let from: u64 = name.parse().unwrap();
        let dst = out.join("commitlog").join(&name);
        if from > end {
            assert!(!dst.exists(), "{what}: {} is after the end", dst.display());
            if data.iter().any(|&b| b != 0) {
                cut.push(name);
            }
            continue;
        }
        let keep = ((end - from) as usize).min(data.len());
        let copy = fs::read(&dst).unwrap();
        assert_eq!(
            copy.len(),
            data.len(),
            "{what}: length of {}",
            dst.display()
        );
        assert!(
            copy[..keep] == data[..keep],
            "{what}: {} differs",
            dst.display()
        );
        assert!(
            copy[keep..].iter().all(|&b| b == 0),
            "{what}: {} holds bytes after the end",
            dst.display()
        );
        if data[keep..].iter().any(|&b| b != 0) {
            cut.push(name);
        }
    }
    let reported: Vec<String> = report
        .commitlog_truncated
        .iter()
        .map(|p| name_of(p))
        .collect();
    assert_eq!(reported, cut, "{what}: segments reported as cut");
}

#[test]
fn out_copies_each_fixtures_commitlog_up_to_its_end() {
    for f in all_fixtures() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("rebuilt");
        let report = rebuild_out(&f.store_dir, &out);
        check_copy(&f.name, &f.store_dir, &out, &report);
    }
}

#[test]
fn out_cuts_the_commitlog_at_a_damaged_record_and_drops_later_segments() {
    let f = fixture("4.6.0/async");
    let store = copy_store_to_temp(&f);
    let cl = store.path().join("commitlog");
    let segs: Vec<String> = files_under(&cl).into_keys().collect();
    assert!(segs.len() >= 3, "the fixture has several segments");
    // A record about half-way through the second segment gets a bad magic code.
    let from: u64 = segs[1].parse().unwrap();
    let victim = cl.join(&segs[1]);
    let mut data = fs::read(&victim).unwrap();
    let mut pos = 0usize;
    loop {
        let size = i32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        if pos + size > data.len() / 2 {
            break;
        }
        pos += size;
    }
    data[pos + 4..pos + 8].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    fs::write(&victim, &data).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rebuilt");
    let report = rebuild_out(store.path(), &out);
    assert_eq!(report.commitlog_end, from + pos as u64);
    assert!(report.stopped_by.is_some());
    check_copy("damaged", store.path(), &out, &report);
    // The damaged segment and every later one held data after the end.
    let cut: Vec<String> = report
        .commitlog_truncated
        .iter()
        .map(|p| name_of(p))
        .collect();
    assert_eq!(cut, segs[1..].to_vec());
}
