//! `verify`: passes every Java fixture, finds each kind of damage on copies (naming file and
//! byte offset), and never changes the store.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{all_fixtures, copy_store_to_temp, fixture, tree_digest};
use rmqstore::format::{decode_record, Decoded};
use rmqstore::inspect::verify::{verify, VerifyOptions, VerifyReport};
use rmqstore::inspect::{Finding, Severity};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
}

fn lib_verify(root: &Path) -> VerifyReport {
    verify(root, &VerifyOptions::default()).unwrap()
}

/// Runs `rmqstore verify ROOT [--json]`: (exit code, stdout).
fn cli_verify(root: &Path, json: bool) -> (i32, String) {
    let mut c = bin();
    c.arg("verify").arg(root);
    if json {
        c.arg("--json");
    }
    let o = c.output().unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8(o.stdout).unwrap(),
    )
}

fn kinds(r: &VerifyReport, s: Severity) -> Vec<&'static str> {
    r.findings
        .iter()
        .filter(|f| f.severity == s)
        .map(|f| f.kind)
        .collect()
}

fn find<'a>(r: &'a VerifyReport, kind: &'a str) -> &'a Finding {
    r.findings
        .of_kind(kind)
        .next()
        .unwrap_or_else(|| panic!("no {kind} finding in {:#?}", r.findings))
}

#[test]
fn every_fixture_verifies_without_errors_and_stays_untouched() {
    for f in all_fixtures() {
        let before = tree_digest(&f.store_dir);
        let r = lib_verify(&f.store_dir);
        assert_eq!(kinds(&r, Severity::Error), Vec::<&str>::new(), "{}", f.name);
        let warnings = kinds(&r, Severity::Warning);
        if f.variant == "crashed" {
            // SIGKILL left the abort file; the consume queues had caught up before the kill.
            assert_eq!(warnings, vec!["abort-present"], "{}", f.name);
        } else {
            assert!(warnings.is_empty(), "{}: {warnings:?}", f.name);
        }
        let m = f.manifest();
        assert_eq!(
            r.summary.records, m.message_record_count as u64,
            "{}",
            f.name
        );
        assert_eq!(r.summary.data_end, m.max_phy_offset as u64, "{}", f.name);
        assert_eq!(r.summary.recovery_end, r.summary.data_end, "{}", f.name);
        let (code, out) = cli_verify(&f.store_dir, true);
        assert_eq!(code, 0, "{}: {out}", f.name);
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            j["summary"]["records"], m.message_record_count,
            "{}",
            f.name
        );
        assert_eq!(
            tree_digest(&f.store_dir),
            before,
            "{}: verify changed the store",
            f.name
        );
    }
}

#[test]
fn three_x_delay_times_and_unindexed_commits_are_informational() {
    let f = fixture("3.2.6/async");
    let r = lib_verify(&f.store_dir);
    let legacy: usize = r
        .findings
        .of_kind("cq-legacy-delay-tags-code")
        .map(|f| {
            let n = f
                .message
                .split(": ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            n.parse::<usize>().unwrap()
        })
        .sum();
    // Independently: delayed units whose tagsCode is not STORETIMESTAMP + the level's delay.
    let delays = rmqstore::format::cq::DelayLevels::default();
    let mut expected = 0;
    for q in f
        .reader()
        .queues
        .iter()
        .filter(|q| q.topic == "SCHEDULE_TOPIC_XXXX")
    {
        for msg in &q.messages {
            let level: i32 =
                rmqstore::format::properties::get(msg.properties_string.as_bytes(), "DELAY")
                    .unwrap()
                    .parse()
                    .unwrap();
            if msg.cq_tags_code != Some(delays.deliver_timestamp(level, msg.store_timestamp)) {
                expected += 1;
            }
        }
    }
    assert!(expected > 0);
    assert_eq!(legacy, expected);
    assert!(r
        .findings
        .of_kind("cq-legacy-delay-tags-code")
        .all(|f| f.severity == Severity::Info));
    assert_eq!(
        find(&r, "index-commit-not-indexed").severity,
        Severity::Info
    );
}

/// A copy of 4.6.0/async and its manifest's messages.
fn damaged_copy() -> (tempfile::TempDir, common::Manifest) {
    let f = fixture("4.6.0/async");
    (copy_store_to_temp(&f), f.manifest())
}

fn segment_of(root: &Path, offset: u64) -> (PathBuf, u64) {
    let seg = 1_048_576u64;
    let start = offset - offset % seg;
    (
        root.join("commitlog").join(format!("{start:020}")),
        offset - start,
    )
}

#[test]
fn flipped_body_byte_is_a_body_crc_error_at_its_offset() {
    let (tmp, m) = damaged_copy();
    let msg = m
        .messages
        .iter()
        .find(|x| x.body_length > 10 && x.wrote_offset > 1_100_000)
        .unwrap();
    let (path, pos) = segment_of(tmp.path(), msg.wrote_offset as u64);
    let mut bytes = fs::read(&path).unwrap();
    let body_at = {
        let Decoded::Message { record, .. } = decode_record(&bytes[pos as usize..], true).unwrap()
        else {
            panic!()
        };
        record.body.as_ptr() as usize - bytes.as_ptr() as usize
    };
    bytes[body_at + 3] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    let r = lib_verify(tmp.path());
    let f = find(&r, "body-crc");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.file.as_deref(), Some(path.as_path()));
    assert_eq!(f.offset, Some(pos + 8));
    assert_eq!(r.summary.recovery_end, msg.wrote_offset as u64);
    let (code, out) = cli_verify(tmp.path(), false);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!("{} @ {}", path.display(), pos + 8)),
        "{out}"
    );
}

#[test]
fn torn_tail_and_short_segment() {
    let (tmp, m) = damaged_copy();
    let last = m.messages.iter().max_by_key(|x| x.wrote_offset).unwrap();
    let (path, pos) = segment_of(tmp.path(), last.wrote_offset as u64);
    let mut bytes = fs::read(&path).unwrap();
    // The write stopped 60 bytes into the record: zeros after.
    let end = (pos + last.wrote_bytes as u64) as usize;
    bytes[pos as usize + 60..end]
        .iter_mut()
        .for_each(|b| *b = 0);
    fs::write(&path, &bytes).unwrap();
    let r = lib_verify(tmp.path());
    let f = find(&r, "torn-tail");
    assert_eq!(
        (f.file.as_deref(), f.offset),
        (Some(path.as_path()), Some(pos))
    );
    // Its consume-queue unit now points past the end of the data.
    assert_eq!(find(&r, "cq-beyond-end").severity, Severity::Warning);
    assert_eq!(r.summary.data_end, last.wrote_offset as u64);

    // A segment cut short: Java refuses to start.
    let first = tmp.path().join("commitlog/00000000000000000000");
    let file = fs::OpenOptions::new().write(true).open(&first).unwrap();
    file.set_len(1_000_000).unwrap();
    let r = lib_verify(tmp.path());
    let f = find(&r, "segment-size");
    assert_eq!(
        (f.severity, f.file.as_deref(), f.offset),
        (Severity::Error, Some(first.as_path()), Some(1_000_000))
    );
    assert_eq!(cli_verify(tmp.path(), false).0, 1);
}

#[test]
fn oversized_segment_is_a_segment_size_error() {
    let (tmp, _) = damaged_copy();
    let p = tmp.path().join("commitlog/00000000000001048576");
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(1_048_576 + 4096)
        .unwrap();
    let r = lib_verify(tmp.path());
    let f = find(&r, "segment-size");
    assert_eq!(f.file.as_deref(), Some(p.as_path()));
    assert_eq!(cli_verify(tmp.path(), false).0, 1);
}

/// The first file of a queue that has at least two.
fn multi_file_queue(root: &Path) -> PathBuf {
    let cq = root.join("consumequeue");
    for t in fs::read_dir(&cq).unwrap() {
        for q in fs::read_dir(t.unwrap().path()).unwrap() {
            let q = q.unwrap().path();
            if fs::read_dir(&q).unwrap().count() >= 2 {
                return q;
            }
        }
    }
    panic!("no queue with two files");
}

#[test]
fn stale_consume_queue_unit_is_a_mismatch_at_its_offset() {
    let (tmp, _) = damaged_copy();
    let q = multi_file_queue(tmp.path());
    let file = q.join("00000000000000000000");
    let mut b = fs::read(&file).unwrap();
    // Unit 5 now repeats unit 4 (a stale unit).
    let u4 = b[80..100].to_vec();
    b[100..120].copy_from_slice(&u4);
    fs::write(&file, &b).unwrap();
    let r = lib_verify(tmp.path());
    let f = find(&r, "cq-unit-mismatch");
    assert_eq!(
        (f.severity, f.file.as_deref(), f.offset),
        (Severity::Error, Some(file.as_path()), Some(100))
    );
    // The record unit 5 pointed at is now in no unit.
    assert!(r.findings.of_kind("cq-missing-units").next().is_some());
    assert_eq!(cli_verify(tmp.path(), false).0, 1);

    // A wrong tagsCode.
    let (tmp, _) = damaged_copy();
    let file = multi_file_queue(tmp.path()).join("00000000000000000000");
    let mut b = fs::read(&file).unwrap();
    b[12 + 20 * 7] ^= 0x01;
    fs::write(&file, &b).unwrap();
    let r = lib_verify(tmp.path());
    let f = find(&r, "cq-tags-code");
    assert_eq!(
        (f.file.as_deref(), f.offset),
        (Some(file.as_path()), Some(20 * 7 + 12))
    );
}

#[test]
fn missing_consume_queue_file_is_reported_with_its_name() {
    let (tmp, _) = damaged_copy();
    let q = multi_file_queue(tmp.path());
    let file = q.join("00000000000000000000");
    fs::remove_file(&file).unwrap();
    let r = lib_verify(tmp.path());
    let f = find(&r, "cq-missing-units");
    assert_eq!(
        (f.severity, f.file.as_deref(), f.offset),
        (Severity::Error, Some(file.as_path()), Some(0))
    );
    assert_eq!(cli_verify(tmp.path(), false).0, 1);
}

#[test]
fn consume_queue_behind_is_a_dispatch_behind_warning() {
    let (tmp, m) = damaged_copy();
    // Drop the unit of the newest message: the broker's reput would dispatch it again.
    let last = m
        .messages
        .iter()
        .filter(|x| x.sys_flag & 0xC != 0x4 && x.sys_flag & 0xC != 0xC)
        .max_by_key(|x| x.wrote_offset)
        .unwrap();
    let dir = tmp
        .path()
        .join("consumequeue")
        .join(&last.topic)
        .join(last.queue_id.to_string());
    let byte = last.queue_offset as u64 * 20;
    let file = dir.join(format!("{:020}", byte - byte % 4000));
    let mut b = fs::read(&file).unwrap();
    let at = (byte % 4000) as usize;
    b[at..at + 20].iter_mut().for_each(|x| *x = 0);
    fs::write(&file, &b).unwrap();
    let r = lib_verify(tmp.path());
    let f = find(&r, "dispatch-behind");
    assert_eq!(f.severity, Severity::Warning);
    let (seg, pos) = segment_of(tmp.path(), last.wrote_offset as u64);
    assert_eq!(
        (f.file.as_deref(), f.offset),
        (Some(seg.as_path()), Some(pos))
    );
    assert_eq!(r.summary.dispatch_behind_records, 1);
    assert_eq!(kinds(&r, Severity::Error), Vec::<&str>::new());
    assert_eq!(cli_verify(tmp.path(), false).0, 0);
}

#[test]
fn broken_index_chain_is_an_index_chain_error() {
    let (tmp, _) = damaged_copy();
    let mut files: Vec<PathBuf> = fs::read_dir(tmp.path().join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let file = &files[0];
    let mut b = fs::read(file).unwrap();
    // Entry 10's link now points forward, at entry 12.
    let entry = 40 + 1000 * 4 + 10 * 20;
    b[entry + 16..entry + 20].copy_from_slice(&12i32.to_be_bytes());
    fs::write(file, &b).unwrap();
    let r = lib_verify(tmp.path());
    let f = r
        .findings
        .of_kind("index-chain")
        .find(|f| f.offset == Some(entry as u64 + 16))
        .unwrap_or_else(|| panic!("{:#?}", r.findings));
    assert_eq!(
        (f.severity, f.file.as_deref()),
        (Severity::Error, Some(file.as_path()))
    );
    assert_eq!(cli_verify(tmp.path(), false).0, 1);

    // A slot pointing beyond the entries.
    let (tmp, _) = damaged_copy();
    let file = fs::read_dir(tmp.path().join("index"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut b = fs::read(&file).unwrap();
    b[40 + 4 * 7..40 + 4 * 8].copy_from_slice(&100_000i32.to_be_bytes());
    fs::write(&file, &b).unwrap();
    let r = lib_verify(tmp.path());
    let f = find(&r, "index-slot");
    assert_eq!(
        (f.file.as_deref(), f.offset),
        (Some(file.as_path()), Some(40 + 28))
    );
}

#[test]
fn unusable_input_exits_2() {
    let o = bin()
        .arg("verify")
        .arg("/nonexistent/store")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/store"));
}

/// What is not a store exits 2 naming why: an empty folder, `/proc/self`, a plain file, a
/// commitlog that is a file (issue 12 item 2: these verified clean).
#[test]
fn what_is_not_a_store_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let cl_file = tmp.path().join("clfile");
    std::fs::create_dir(&cl_file).unwrap();
    std::fs::write(cl_file.join("commitlog"), b"x").unwrap();
    for (p, why) in [
        (empty.as_path(), "no commitlog folder"),
        (Path::new("/proc/self"), "no commitlog folder"),
        (file.as_path(), "not a directory"),
        (cl_file.as_path(), "not a directory of segment files"),
    ] {
        let o = bin().arg("verify").arg(p).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", p.display());
        assert!(err.contains(why), "{}: {err}", p.display());
    }
    // Nothing was created in them.
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}
