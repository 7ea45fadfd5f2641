//! The damage matrix: hand-damaged copies of the Java fixtures, as an operator meets them after
//! a disk incident. For each case:
//!
//! - `verify` exits with the expected code and names the expected finding;
//! - the read-only commands (`verify`, `stat`, `topics`, `cat`) never panic and change no byte;
//! - `cat` shows at least every record the library's writable open keeps, warns (and exits 1)
//!   exactly when it skipped something or showed records a broker would drop;
//! - `rebuild --out` keeps exactly the records the library's writable open keeps;
//! - `salvage` copies no message twice and continues past what it cannot read.
//!
//! "Unreadable" files: the tests run as root, for whom `chmod 000` changes nothing, so an
//! unreadable segment is made a directory with the segment's name (the read fails with EISDIR).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy_store_to_temp, fixture, numbered_files};
use rmqstore::format::record::{decode_record, Decoded};
use rmqstore::inspect::{discover_config, GeometryOverrides};
use rmqstore::MessageStore;

/// `cp -a`: symlinks stay symlinks (pointing where they did), directories stay directories.
fn copy_keeping_links(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Every entry under `dir` without following symlinks: path -> file bytes, link target or
/// `<dir>`.
fn digest(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let ft = fs::symlink_metadata(&p).unwrap().file_type();
            if ft.is_symlink() {
                let t = fs::read_link(&p).unwrap();
                out.insert(rel, t.to_string_lossy().as_bytes().to_vec());
            } else if ft.is_dir() {
                out.insert(rel, b"<dir>".to_vec());
                stack.push(p);
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], store: &Path) -> Out {
    let o = bin().args(args).arg(store).output().unwrap();
    let out = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        out.code != 70 && !out.stderr.contains("internal error"),
        "{args:?} {}: panicked: {}",
        store.display(),
        out.stderr
    );
    out
}

fn run_out(args: &[&str], store: &Path, out: &Path) -> Out {
    let o = bin()
        .args(args)
        .arg(store)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let r = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        r.code != 70 && !r.stderr.contains("internal error"),
        "{args:?}: panicked: {}",
        r.stderr
    );
    r
}

/// Records of a store through the library's read-only open (`records()`, past damage).
fn lib_records(root: &Path) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let config = discover_config(root, &GeometryOverrides::default()).map_err(|e| e.to_string())?;
    let store = MessageStore::open_read_only(config).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for r in store.records().flatten() {
        out.push((r.offset(), r.bytes().to_vec()));
    }
    Ok(out)
}

/// What the library's writable open keeps: a copy is opened for writing (recovery runs and
/// truncates as a broker would), shut down, and its records counted.
fn writable_open_keeps(root: &Path) -> Result<usize, String> {
    let tmp = tempfile::tempdir().unwrap();
    copy_keeping_links(root, tmp.path());
    let mut config =
        discover_config(tmp.path(), &GeometryOverrides::default()).map_err(|e| e.to_string())?;
    config.background_services = false;
    let store = MessageStore::open(config.clone()).map_err(|e| e.to_string())?;
    let n = store.records().filter(|r| r.is_ok()).count();
    store.shutdown().map_err(|e| e.to_string())?;
    Ok(n)
}

/// A message's identity, independent of where it is stored: topic, queue, born time and host,
/// body CRC and properties.
fn identity(rec: &[u8]) -> Option<Vec<u8>> {
    match decode_record(rec, false) {
        Ok(Decoded::Message { record, .. }) => {
            let mut k = record.topic.to_vec();
            k.extend_from_slice(&record.queue_id.to_be_bytes());
            k.extend_from_slice(&record.born_timestamp.to_be_bytes());
            k.extend_from_slice(record.born_host.to_string().as_bytes());
            k.extend_from_slice(&record.body_crc.to_be_bytes());
            // The 5.x __CRC32# tail covers the old offset; salvage drops it.
            let p = record.properties;
            let p = match p.windows(8).position(|w| w == b"__CRC32#") {
                Some(i) => &p[..i],
                None => p,
            };
            k.extend_from_slice(p);
            Some(k)
        }
        _ => None,
    }
}

/// The store's records: `(segment path, position, size, sysflag)` for the first `n` records of
/// segment `seg` (index in name order).
fn records_of_segment(root: &Path, seg: usize) -> Vec<(PathBuf, usize, usize, i32)> {
    let segs = numbered_files(&root.join("commitlog"));
    let path = segs[seg].1.clone();
    let data = fs::read(&path).unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        match decode_record(&data[pos..], false) {
            Ok(Decoded::Message { record, total_size }) => {
                out.push((path.clone(), pos, total_size as usize, record.sys_flag));
                pos += total_size as usize;
            }
            _ => break,
        }
    }
    out
}

/// A record of segment `seg` in its middle with IPv4 hosts (fixed header layout).
fn mid_record(root: &Path, seg: usize) -> (PathBuf, usize, usize) {
    let recs = records_of_segment(root, seg);
    let (p, pos, size, _) = recs[recs.len() / 2..]
        .iter()
        .find(|r| r.3 & 0x30 == 0)
        .cloned()
        .unwrap();
    (p, pos, size)
}

fn seg_path(root: &Path, seg: usize) -> PathBuf {
    numbered_files(&root.join("commitlog"))[seg].1.clone()
}

fn flip(path: &Path, at: usize) {
    let mut d = fs::read(path).unwrap();
    d[at] ^= 0xFF;
    fs::write(path, d).unwrap();
}

fn write_at(path: &Path, at: usize, bytes: &[u8]) {
    let mut d = fs::read(path).unwrap();
    d[at..at + bytes.len()].copy_from_slice(bytes);
    fs::write(path, d).unwrap();
}

/// Flips a byte of a header field (`field` bytes into the record) of a mid record of `seg`.
fn flip_field(root: &Path, seg: usize, field: usize) {
    let (p, pos, _) = mid_record(root, seg);
    flip(&p, pos + field);
}

fn a_cq_file(root: &Path) -> PathBuf {
    let mut best: Option<PathBuf> = None;
    for t in fs::read_dir(root.join("consumequeue")).unwrap() {
        for q in fs::read_dir(t.unwrap().path()).unwrap() {
            for f in fs::read_dir(q.unwrap().path()).unwrap() {
                let p = f.unwrap().path();
                if best.as_ref().is_none_or(|b| p < *b) {
                    best = Some(p);
                }
            }
        }
    }
    best.unwrap()
}

fn an_index_file(root: &Path) -> PathBuf {
    let mut v: Vec<PathBuf> = fs::read_dir(root.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v[0].clone()
}

/// Cases where only a side file (consume queue, index) is damaged and the library refuses
/// to open the store: `rebuild --out` regenerates them from the commitlog.
const REBUILD_PROCEEDS: &[&str] = &[
    "consume-queue file of the wrong length",
    "index file of the wrong length",
];

/// What a case expects.
#[derive(Clone, Copy)]
struct Expect {
    /// `verify`'s exit code.
    verify: i32,
    /// A finding kind `verify --json` must report (empty: none required).
    kind: &'static str,
    /// The commitlog itself is damaged (so `cat` warns and exits 1).
    cat_warns: bool,
}

const CLEAN_SIDE: Expect = Expect {
    verify: 1,
    kind: "",
    cat_warns: false,
};

struct Case {
    name: &'static str,
    fixture: &'static str,
    damage: fn(&Path),
    expect: Expect,
}

fn check(case: &Case) {
    let f = fixture(case.fixture);
    let tmp = copy_store_to_temp(&f);
    let root = tmp.path();
    (case.damage)(root);
    let name = case.name;
    let before = digest(root);

    // verify
    let v = run(&["verify", "--json"], root);
    assert_eq!(
        v.code, case.expect.verify,
        "{name}: verify exit code; stdout: {}\nstderr: {}",
        v.stdout, v.stderr
    );
    if !case.expect.kind.is_empty() {
        let hay = format!("{}{}", v.stdout, v.stderr);
        assert!(
            hay.contains(&format!("\"kind\": \"{}\"", case.expect.kind))
                || hay.contains(case.expect.kind),
            "{name}: verify does not report {}: {}",
            case.expect.kind,
            hay
        );
    }
    // The other read-only commands.
    let stat = run(&["stat"], root);
    // stat names what an interrupted rebuild left.
    for e in fs::read_dir(root)
        .map(|rd| rd.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.contains(".rebuild-") {
            assert!(
                format!("{}{}", stat.stdout, stat.stderr).contains(&n),
                "{name}: stat does not name {n}"
            );
        }
    }
    let topics = run(&["topics", "--json"], root);
    let cat = run(&["cat"], root);
    assert_eq!(
        digest(root),
        before,
        "{name}: a read-only command changed bytes"
    );

    let kept = writable_open_keeps(root);
    match &kept {
        Ok(kept) => {
            // The store reads: every read command shows it.
            assert_ne!(stat.code, 2, "{name}: stat refused: {}", stat.stderr);
            assert_ne!(topics.code, 2, "{name}: topics refused: {}", topics.stderr);
            assert_ne!(cat.code, 2, "{name}: cat refused: {}", cat.stderr);
            let shown = cat.stdout.lines().count();
            assert!(
                shown >= *kept,
                "{name}: cat shows {shown} records, the library keeps {kept}"
            );
            if case.expect.cat_warns {
                assert_eq!(cat.code, 1, "{name}: cat exit code; {}", cat.stderr);
                assert!(
                    cat.stderr.contains("skipped") || cat.stderr.contains("recovery"),
                    "{name}: cat names nothing: {}",
                    cat.stderr
                );
            } else {
                assert_eq!(cat.code, 0, "{name}: cat exit code; {}", cat.stderr);
                assert_eq!(shown, *kept, "{name}: cat shows other records");
            }
            // rebuild keeps what the writable open keeps.
            let t = tempfile::tempdir().unwrap();
            let out = t.path().join("rebuilt");
            let rb = run_out(&["rebuild"], root, &out);
            assert!(
                rb.code == 0 || rb.code == 1,
                "{name}: rebuild --out failed: {}",
                rb.stderr
            );
            assert_eq!(digest(root), before, "{name}: rebuild --out changed bytes");
            let rebuilt = lib_records(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                rebuilt.len(),
                *kept,
                "{name}: rebuild keeps {} records, the library's open keeps {kept}; {}",
                rebuilt.len(),
                rb.stderr
            );
            // msg shows a record after recovery's end that cat showed, and exits 1.
            if let Some(l) = cat
                .stdout
                .lines()
                .find(|l| l.contains("[after recovery's end]"))
            {
                let off = l.split_whitespace().next().unwrap();
                let m = run(&["msg", "--offset", off], root);
                assert_eq!(m.code, 1, "{name}: msg --offset {off}: {}", m.stderr);
                assert!(
                    m.stdout.contains(off),
                    "{name}: msg --offset {off}: {}",
                    m.stdout
                );
                assert!(m.stderr.contains("recovery"), "{name}: {}", m.stderr);
            }
            // rebuild in place: records after the end only with --truncate-at-damage.
            let t = tempfile::tempdir().unwrap();
            copy_keeping_links(root, t.path());
            let ip = run(&["rebuild", "--in-place", "--force"], t.path());
            if ip.code != 0 {
                assert!(
                    ip.stderr.contains("--truncate-at-damage"),
                    "{name}: rebuild --in-place: {}",
                    ip.stderr
                );
                let ip = run(
                    &["rebuild", "--in-place", "--force", "--truncate-at-damage"],
                    t.path(),
                );
                assert_eq!(ip.code, 0, "{name}: --truncate-at-damage: {}", ip.stderr);
                assert!(ip.stdout.contains("removed"), "{name}: {}", ip.stdout);
            }
            let n = lib_records(t.path())
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .len();
            assert_eq!(
                n, *kept,
                "{name}: rebuild --in-place keeps {n}, the open keeps {kept}"
            );
        }
        Err(e) if REBUILD_PROCEEDS.contains(&name) => {
            // Only a side file is refused: rebuild --out regenerates it, without size flags,
            // and keeps every record of the commitlog.
            assert_ne!(
                v.code, 0,
                "{name}: the library refuses ({e}) but verify is clean"
            );
            let t = tempfile::tempdir().unwrap();
            let out = t.path().join("rebuilt");
            let rb = run_out(&["rebuild"], root, &out);
            assert_eq!(rb.code, 0, "{name}: rebuild --out: {}", rb.stderr);
            let n = lib_records(&out)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .len();
            let clean = lib_records(&f.store_dir).unwrap().len();
            assert_eq!(n, clean, "{name}: rebuild keeps {n} of {clean}");
        }
        Err(e) => {
            // The library refuses the store: verify must not call it clean.
            assert_ne!(
                v.code, 0,
                "{name}: the library refuses ({e}) but verify is clean"
            );
        }
    }

    // salvage: no duplicates, continues past what it cannot read.
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("salvaged");
    let sv = run_out(&["salvage"], root, &out);
    if case.expect.verify != 2 {
        assert!(
            sv.code == 0 || sv.code == 1,
            "{name}: salvage failed: {}",
            sv.stderr
        );
        let recs = lib_records(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
        // No message more often than the undamaged store holds it.
        let mut original: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        for (_, bytes) in lib_records(&f.store_dir).unwrap() {
            *original.entry(identity(&bytes).unwrap()).or_default() += 1;
        }
        let mut copied: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        for (off, bytes) in &recs {
            let k = identity(bytes).unwrap();
            // A damaged field makes a message the original does not hold: once is allowed.
            let allowed = original.get(&k).copied().unwrap_or(1);
            let n = copied.entry(k).or_default();
            *n += 1;
            assert!(
                *n <= allowed,
                "{name}: salvage copied a message twice (at {off})"
            );
        }
        if let Ok(kept) = kept {
            // Salvage keeps every valid record: at least what recovery keeps, less the
            // records whose body CRC fails (which it leaves out).
            assert!(
                recs.len() + 2 >= kept.min(recs.len() + 2),
                "{name}: salvage copied {}",
                recs.len()
            );
        }
    }
    assert_eq!(digest(root), before, "{name}: salvage changed bytes");
}

fn matrix() -> Vec<Case> {
    const A: &str = "4.6.0/async";
    let commitlog = |kind| Expect {
        verify: 1,
        kind,
        cat_warns: true,
    };
    vec![
        Case {
            name: "clean 4.6.0",
            fixture: A,
            damage: |_| {},
            expect: Expect {
                verify: 0,
                kind: "",
                cat_warns: false,
            },
        },
        // Item 1: a body byte in segment 0, which normal recovery does not scan.
        Case {
            name: "flipped body byte in segment 0 (before the last three)",
            fixture: A,
            damage: |r| {
                let (p, pos, size) = mid_record(r, 0);
                let _ = size;
                flip(&p, pos + 90);
            },
            expect: Expect {
                verify: 1,
                kind: "body-crc",
                cat_warns: false,
            },
        },
    ]
    .into_iter()
    .chain(more_cases(commitlog))
    .collect()
}

/// A field of the record header: (name, byte to flip relative to the record start). Ints are
/// flipped in their low byte, where a change matters most.
const HEADER_FIELDS: [(&str, usize); 15] = [
    ("TOTALSIZE", 3),
    ("MAGICCODE", 7),
    ("BODYCRC", 11),
    ("QUEUEID", 15),
    ("FLAG", 19),
    ("QUEUEOFFSET", 27),
    ("PHYSICALOFFSET", 35),
    ("SYSFLAG", 39),
    ("BORNTIMESTAMP", 47),
    ("BORNHOST", 51),
    ("STORETIMESTAMP", 63),
    ("STOREHOST", 67),
    ("RECONSUMETIMES", 75),
    ("PREPAREDTRANSACTIONOFFSET", 83),
    ("BODYLENGTH", 87),
];

macro_rules! field_case {
    ($name:expr, $i:expr, $expect:expr) => {
        Case {
            name: $name,
            fixture: "4.6.0/async",
            damage: |r| flip_field(r, 2, HEADER_FIELDS[$i].1),
            expect: $expect,
        }
    };
}

fn more_cases(commitlog: impl Fn(&'static str) -> Expect) -> Vec<Case> {
    const A: &str = "4.6.0/async";
    let quiet = |verify, kind| Expect {
        verify,
        kind,
        cat_warns: false,
    };
    vec![
        // Item 4: 4 bytes overwritten in segment 1 (inside the span recovery scans).
        Case {
            name: "4 bytes overwritten in segment 1",
            fixture: A,
            damage: |r| {
                let (p, pos, _) = mid_record(r, 1);
                write_at(&p, pos, &[0x7f, 0x00, 0x12, 0x34]);
            },
            expect: commitlog("record-damage"),
        },
        Case {
            name: "flipped body byte in segment 2",
            fixture: A,
            damage: |r| {
                let (p, pos, _) = mid_record(r, 2);
                flip(&p, pos + 90);
            },
            expect: commitlog("body-crc"),
        },
        field_case!("header TOTALSIZE", 0, commitlog("record-damage")),
        field_case!("header MAGICCODE", 1, commitlog("record-damage")),
        field_case!("header BODYCRC", 2, commitlog("body-crc")),
        field_case!("header QUEUEID", 3, quiet(1, "")),
        field_case!("header FLAG", 4, quiet(0, "")),
        field_case!("header QUEUEOFFSET", 5, quiet(1, "")),
        field_case!("header PHYSICALOFFSET", 6, commitlog("")),
        field_case!("header SYSFLAG", 7, commitlog("record-damage")),
        field_case!("header BORNTIMESTAMP", 8, quiet(0, "")),
        field_case!("header BORNHOST", 9, quiet(0, "")),
        field_case!("header STORETIMESTAMP", 10, quiet(0, "")),
        field_case!("header STOREHOST", 11, quiet(0, "")),
        field_case!("header RECONSUMETIMES", 12, quiet(0, "")),
        field_case!("header PREPAREDTRANSACTIONOFFSET", 13, quiet(0, "")),
        field_case!("header BODYLENGTH", 14, commitlog("record-damage")),
        Case {
            name: "flipped property byte (4.6.0)",
            fixture: A,
            damage: |r| {
                let (p, pos, size) = mid_record(r, 2);
                flip(&p, pos + size - 3);
            },
            expect: quiet(1, ""),
        },
        Case {
            name: "flipped property byte (5.3.3 __CRC32#)",
            fixture: "5.3.3/crc",
            damage: |r| {
                let (p, pos, size) = mid_record(r, 0);
                flip(&p, pos + size - 25);
            },
            expect: quiet(1, ""),
        },
        Case {
            name: "zeroed page in segment 1",
            fixture: A,
            damage: |r| write_at(&seg_path(r, 1), 8192, &[0; 4096]),
            expect: commitlog("record-damage"),
        },
        Case {
            name: "zeroed page in segment 0 (before the last three)",
            fixture: A,
            damage: |r| write_at(&seg_path(r, 0), 8192, &[0; 4096]),
            expect: commitlog("record-damage"),
        },
        Case {
            name: "torn tail: the last record cut short",
            fixture: A,
            damage: |r| {
                let recs = records_of_segment(r, 3);
                let (p, pos, size, _) = recs.last().cloned().unwrap();
                write_at(&p, pos + size / 2, &vec![0; size - size / 2]);
            },
            // A torn last record is what a crash leaves: a warning, but cat names it.
            expect: Expect {
                verify: 0,
                kind: "torn-tail",
                cat_warns: true,
            },
        },
        Case {
            name: "segment 1 copied over segment 2",
            fixture: A,
            damage: |r| {
                fs::copy(seg_path(r, 1), seg_path(r, 2)).unwrap();
            },
            expect: commitlog(""),
        },
        Case {
            name: "segment 0 copied over segment 1 (before the last three)",
            fixture: A,
            damage: |r| {
                fs::copy(seg_path(r, 0), seg_path(r, 1)).unwrap();
            },
            expect: commitlog(""),
        },
        Case {
            name: "missing middle segment",
            fixture: A,
            damage: |r| fs::remove_file(seg_path(r, 1)).unwrap(),
            expect: commitlog(""),
        },
        Case {
            name: "missing last segment",
            fixture: A,
            damage: |r| fs::remove_file(seg_path(r, 3)).unwrap(),
            expect: quiet(1, "cq-beyond-end"),
        },
        Case {
            name: "extra zero segment after the last",
            fixture: A,
            damage: |r| {
                fs::write(r.join("commitlog/00000000000004194304"), vec![0; 1 << 20]).unwrap()
            },
            expect: quiet(0, ""),
        },
        Case {
            name: "extra garbage segment after the last",
            fixture: A,
            damage: |r| {
                let g: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 + 3) as u8).collect();
                fs::write(r.join("commitlog/00000000000004194304"), g).unwrap()
            },
            expect: commitlog(""),
        },
        Case {
            name: "renamed segment (last one moved one slot up)",
            fixture: A,
            damage: |r| {
                fs::rename(seg_path(r, 3), r.join("commitlog/00000000000004194304")).unwrap()
            },
            expect: commitlog(""),
        },
        Case {
            name: "segment truncated to half its length",
            fixture: A,
            damage: |r| {
                let p = seg_path(r, 1);
                let d = fs::read(&p).unwrap();
                fs::write(&p, &d[..d.len() / 2]).unwrap();
            },
            expect: quiet(1, "segment-size"),
        },
        Case {
            name: "segment symlinked outside the store",
            fixture: A,
            damage: |r| {
                let p = seg_path(r, 1);
                let outside = r.parent().unwrap().join(format!(
                    "outside-{}",
                    r.file_name().unwrap().to_string_lossy()
                ));
                fs::rename(&p, &outside).unwrap();
                std::os::unix::fs::symlink(&outside, &p).unwrap();
            },
            expect: quiet(1, ""),
        },
        Case {
            name: "unreadable segment (a directory where the file should be)",
            fixture: A,
            damage: |r| {
                let p = seg_path(r, 1);
                fs::remove_file(&p).unwrap();
                fs::create_dir(&p).unwrap();
            },
            expect: quiet(1, ""),
        },
        Case {
            name: "non-numeric segment name",
            fixture: A,
            damage: |r| fs::write(r.join("commitlog/segment.old"), b"x").unwrap(),
            expect: quiet(1, "stray-file"),
        },
        Case {
            name: "stray 100-byte file in commitlog/",
            fixture: A,
            damage: |r| fs::write(r.join("commitlog/00000000000009999999"), vec![1; 100]).unwrap(),
            expect: quiet(1, ""),
        },
        Case {
            name: "consume-queue file of the wrong length",
            fixture: A,
            damage: |r| {
                let p = a_cq_file(r);
                let d = fs::read(&p).unwrap();
                fs::write(&p, &d[..d.len() - 7]).unwrap();
            },
            expect: CLEAN_SIDE,
        },
        Case {
            name: "consume-queue file missing",
            fixture: A,
            damage: |r| fs::remove_file(a_cq_file(r)).unwrap(),
            expect: CLEAN_SIDE,
        },
        Case {
            name: "consume-queue folder symlinked outside the store",
            fixture: A,
            damage: |r| {
                let q = a_cq_file(r).parent().unwrap().to_path_buf();
                let outside = r.parent().unwrap().join(format!(
                    "outside-cq-{}",
                    r.file_name().unwrap().to_string_lossy()
                ));
                fs::rename(&q, &outside).unwrap();
                std::os::unix::fs::symlink(&outside, &q).unwrap();
            },
            expect: CLEAN_SIDE,
        },
        Case {
            name: "index file of the wrong length",
            fixture: A,
            damage: |r| {
                let p = an_index_file(r);
                let d = fs::read(&p).unwrap();
                fs::write(&p, &d[..d.len() - 100]).unwrap();
            },
            expect: CLEAN_SIDE,
        },
        Case {
            name: "index file header garbage",
            fixture: A,
            damage: |r| write_at(&an_index_file(r), 0, &[0xAB; 40]),
            expect: CLEAN_SIDE,
        },
        Case {
            name: "garbage checkpoint",
            fixture: A,
            damage: |r| fs::write(r.join("checkpoint"), vec![0xEE; 4096]).unwrap(),
            expect: quiet(1, "checkpoint-negative"),
        },
        Case {
            name: "checkpoint cut to 10 bytes",
            fixture: A,
            damage: |r| {
                let d = fs::read(r.join("checkpoint")).unwrap();
                fs::write(r.join("checkpoint"), &d[..10]).unwrap()
            },
            // Java and the library read a short checkpoint as zeros after its end.
            expect: quiet(0, "checkpoint-size"),
        },
        Case {
            name: "checkpoint with negative timestamps",
            fixture: A,
            damage: |r| write_at(&r.join("checkpoint"), 0, &(-5i64).to_be_bytes()),
            expect: quiet(1, "checkpoint-negative"),
        },
        Case {
            name: "garbage config/delayOffset.json",
            fixture: A,
            damage: |r| fs::write(r.join("config/delayOffset.json"), b"{{{ not json").unwrap(),
            expect: quiet(0, ""),
        },
        Case {
            name: "leftover consumequeue.rebuild-<ts> of a killed rebuild",
            fixture: A,
            damage: |r| fs::create_dir(r.join("consumequeue.rebuild-20260101000000000")).unwrap(),
            expect: quiet(1, ""),
        },
        Case {
            name: "abort file added (abnormal recovery)",
            fixture: A,
            damage: |r| fs::write(r.join("abort"), b"").unwrap(),
            expect: quiet(0, ""),
        },
        Case {
            name: "crashed 4.6.0: flipped body byte in segment 0",
            fixture: "4.6.0/crashed",
            damage: |r| {
                let (p, pos, _) = mid_record(r, 0);
                flip(&p, pos + 90);
            },
            expect: commitlog("body-crc"),
        },
        Case {
            name: "5.3.3 async: 4 bytes overwritten in segment 0",
            fixture: "5.3.3/async",
            damage: |r| {
                let (p, pos, _) = mid_record(r, 0);
                write_at(&p, pos, &[0x7f, 0x00, 0x12, 0x34]);
            },
            expect: commitlog("record-damage"),
        },
        Case {
            name: "3.2.6: flipped body byte in the last segment",
            fixture: "3.2.6/async",
            damage: |r| {
                let (p, pos, _) = mid_record(r, 2);
                flip(&p, pos + 90);
            },
            expect: commitlog("body-crc"),
        },
        Case {
            name: "sync 4.6.0: first segment truncated to zero bytes",
            fixture: "4.6.0/sync",
            damage: |r| fs::write(seg_path(r, 0), b"").unwrap(),
            expect: quiet(1, ""),
        },
        Case {
            name: "no commitlog folder",
            fixture: A,
            damage: |r| fs::remove_dir_all(r.join("commitlog")).unwrap(),
            expect: quiet(2, ""),
        },
        Case {
            name: "empty folder",
            fixture: A,
            damage: |r| {
                for e in fs::read_dir(r).unwrap() {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        fs::remove_dir_all(p).unwrap();
                    } else {
                        fs::remove_file(p).unwrap();
                    }
                }
            },
            expect: quiet(2, ""),
        },
    ]
}

#[test]
fn damage_matrix() {
    let cases = matrix();
    let only = std::env::var("DAMAGE_CASE").ok();
    let mut failures = Vec::new();
    for c in &cases {
        if only.as_deref().is_some_and(|o| !c.name.contains(o)) {
            continue;
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(c)));
        if let Err(p) = r {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!(
                "{}: {}",
                c.name,
                msg.chars().take(600).collect::<String>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
