//! Regression tests for what fuzzing (`fuzz/`) and the model-based test (`tests/model.rs`)
//! found, and for the path-safety rules of hostile store directories (issue 7).
//!
//! Each test names the target or test that found the problem and fails on the code before the
//! fix.

use std::fs;
use std::path::Path;

use rmqstore::format::checkpoint::Checkpoint;
use rmqstore::format::cq::DelayLevels;
use rmqstore::format::index::{entry_pos, index_file_size, slot_pos, IndexEntry, IndexHeader};
use rmqstore::format::{index_key_hash, put_i32};
use rmqstore::index::IndexFile;
use rmqstore::mapped_file::offset_to_file_name;
use rmqstore::{Message, MessageStore, StoreConfig};

const SEGMENT: usize = 64 * 1024;

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = SEGMENT;
    c.mapped_file_size_consume_queue_raw = 50 * 20;
    c.max_hash_slot_num = 64;
    c.max_index_num = 256;
    c
}

/// Puts `n` messages with bodies `body-<i>` to `topic`/0 and shuts down; returns each record's
/// (physical offset, size).
fn store_with(root: &Path, topic: &str, n: usize) -> Vec<(u64, usize)> {
    let s = MessageStore::open(config(root)).unwrap();
    let mut at = Vec::new();
    for i in 0..n {
        let r = s
            .put_message(
                &Message::new(topic, 0, format!("body-{i}").into_bytes())
                    .with_keys(&format!("k{i}")),
            )
            .unwrap();
        assert!(r.is_ok());
        let a = r.append.unwrap();
        at.push((a.wrote_offset as u64, a.wrote_bytes as usize));
    }
    s.shutdown().unwrap();
    at
}

fn patch(path: &Path, pos: usize, bytes: &[u8]) {
    let mut data = fs::read(path).unwrap();
    data[pos..pos + bytes.len()].copy_from_slice(bytes);
    fs::write(path, data).unwrap();
}

fn segment0(root: &Path) -> std::path::PathBuf {
    root.join("commitlog").join(offset_to_file_name(0))
}

/// Every file and folder under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------
// Found by fuzz target `broker_properties`
// ---------------------------------------------------------------------------------------------

/// `DelayLevels::parse` split each level at its last *byte*: a multi-byte last character
/// panicked ("byte index is not a char boundary"), and a huge number overflowed `n * unit`.
#[test]
fn delay_level_with_a_multibyte_unit_or_huge_number_is_an_error() {
    for bad in [
        "1Ћ",
        "1s 5Ћ",
        "Ћ",
        "9223372036854775807d",
        "-9223372036854775807h",
    ] {
        let e = DelayLevels::parse(bad).unwrap_err();
        assert!(e.contains("delay level"), "{bad}: {e}");
    }
    // Through broker.properties: read as text, refused by validation, naming the setting.
    let (c, _) = StoreConfig::from_properties("messageDelayLevel=1s 2\\u040B\n").unwrap();
    assert_eq!(c.message_delay_level, "1s 2Ћ");
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("messageDelayLevel"), "{e}");
    assert_eq!(DelayLevels::parse("1s 1d").unwrap().max_level(), 2);
}

/// The deliver timestamp of a SCHEDULE_TOPIC record is its store timestamp (from disk) plus
/// the delay: it must saturate, not overflow.
#[test]
fn deliver_timestamp_saturates() {
    let d = DelayLevels::default();
    assert_eq!(d.deliver_timestamp(1, i64::MAX), i64::MAX);
    assert_eq!(d.deliver_timestamp(i32::MIN, i64::MAX), i64::MAX);
    assert_eq!(d.deliver_timestamp(2, 1_000), 6_000);
}

// ---------------------------------------------------------------------------------------------
// Found by review for fuzz target `checkpoint`
// ---------------------------------------------------------------------------------------------

/// `min_timestamp` subtracted 3000 from a timestamp read from disk: i64::MIN overflowed.
#[test]
fn checkpoint_min_timestamp_of_extreme_values() {
    let mut page = vec![0u8; 4096];
    page[0..8].copy_from_slice(&i64::MIN.to_be_bytes());
    page[8..16].copy_from_slice(&i64::MAX.to_be_bytes());
    page[16..24].copy_from_slice(&i64::MIN.to_be_bytes());
    let c = Checkpoint::decode(&page).unwrap();
    assert_eq!(c.min_timestamp(), 0);
    assert_eq!(c.min_timestamp_index(), i64::MIN);
}

// ---------------------------------------------------------------------------------------------
// Found by review for fuzz target `index_file`
// ---------------------------------------------------------------------------------------------

/// A crafted index file whose chain loops (entry 2 -> entry 1 -> entry 2 ...) with a header
/// claiming 2^31-1 entries: the walk took up to 2^31 steps and returned each offset over and
/// over. A chain a broker wrote always links to an older entry, so it stops at the first link
/// that does not.
#[test]
fn index_chain_cycle_ends_at_the_first_backward_link() {
    let dir = tempfile::tempdir().unwrap();
    let (slots, entries) = (4u32, 8u32);
    let mut b = vec![0u8; index_file_size(slots, entries)];
    IndexHeader {
        begin_timestamp: 1_000,
        end_timestamp: 2_000,
        begin_phy_offset: 100,
        end_phy_offset: 200,
        hash_slot_count: 2,
        index_count: i32::MAX,
    }
    .encode_into(&mut b);
    let key = "T#k";
    let hash = index_key_hash(key);
    put_i32(&mut b, slot_pos(hash as u32 % slots), 2);
    for (n, off, prev) in [(1u32, 100i64, 2i32), (2, 200, 1)] {
        let p = entry_pos(slots, n);
        b[p..p + 20].copy_from_slice(
            &IndexEntry {
                key_hash: hash,
                phy_offset: off,
                time_diff_secs: 0,
                prev_index: prev,
            }
            .encode(),
        );
    }
    let path = dir.path().join("20240101000000000");
    fs::write(&path, &b).unwrap();
    let f = IndexFile::open(&path, slots, entries, true).unwrap();
    assert_eq!(
        f.select_phy_offsets(key, 1_000, 0, i64::MAX),
        vec![200, 100]
    );
    // A self-loop (Java's own guard) and a link past the entries stop too.
    let p = entry_pos(slots, 1) + 16;
    b[p..p + 4].copy_from_slice(&1i32.to_be_bytes());
    fs::write(&path, &b).unwrap();
    let f = IndexFile::open(&path, slots, entries, true).unwrap();
    assert_eq!(
        f.select_phy_offsets(key, 1_000, 0, i64::MAX),
        vec![200, 100]
    );
}

// ---------------------------------------------------------------------------------------------
// Found by fuzz target `store_recovery`
// ---------------------------------------------------------------------------------------------

/// A record whose topic cannot name a consume-queue directory (here `../xyz`, or bytes that
/// are not UTF-8) in the middle of the commitlog. Writable recovery used to fail dispatching it
/// and so ended the commitlog there, truncating every valid record after it (read-only
/// recovery kept them); with consume queues to rebuild, opening failed outright. Now the record
/// stays in the commitlog, goes to no consume queue, and nothing is created outside the store.
#[test]
fn record_with_an_unsafe_topic_is_kept_and_not_dispatched() {
    for (crashed, rebuild_queues, topic) in [
        (true, false, &b"../xyz"[..]),
        (false, true, &b"../xyz"[..]),
        (true, true, &b"T\xe1picB"[..]),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        let at = store_with(&root, "TopicB", 3);
        // Record 1's topic starts after the 84-byte header, the 4-byte body length, its body
        // ("body-1") and the 1-byte topic length.
        let topic_pos = at[1].0 as usize + 88 + 6 + 1;
        patch(&segment0(&root), topic_pos, topic);
        if crashed {
            fs::write(root.join("abort"), b"").unwrap();
        }
        if rebuild_queues {
            fs::remove_dir_all(root.join("consumequeue")).unwrap();
        }
        let before_outside = listing(tmp.path());
        let s = MessageStore::open(config(&root)).unwrap();
        assert_eq!(
            s.max_phy_offset(),
            at[2].0 + at[2].1 as u64,
            "records after it were truncated"
        );
        assert_eq!(s.records().filter(|r| r.is_ok()).count(), 3);
        let r = s.get_by_phy_offset(at[1].0).unwrap();
        assert_eq!(r.decode().unwrap().body, b"body-1");
        // Nothing appeared beside the store.
        let mut after = listing(tmp.path());
        after.retain(|p| !p.starts_with("store/"));
        let mut before = before_outside.clone();
        before.retain(|p| !p.starts_with("store/"));
        assert_eq!(after, before);
        assert!(!tmp.path().join("xyz").exists());
        s.shutdown().unwrap();
        // And it opens again.
        let s = MessageStore::open(config(&root)).unwrap();
        assert_eq!(s.records().count(), 3);
        s.shutdown().unwrap();
    }
}

/// A record with a negative queue id was dispatched to `consumequeue/<topic>/-1`, a folder that
/// the next open then refused as a stray entry: one damaged record made the store unopenable.
#[test]
fn record_with_a_negative_queue_id_does_not_make_the_store_unopenable() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let at = store_with(&root, "TopicC", 2);
    patch(
        &segment0(&root),
        at[1].0 as usize + 12,
        &(-1i32).to_be_bytes(),
    );
    fs::remove_dir_all(root.join("consumequeue")).unwrap();
    let s = MessageStore::open(config(&root)).unwrap();
    assert_eq!(s.max_offset_in_queue("TopicC", 0), 1);
    s.shutdown().unwrap();
    assert!(!root.join("consumequeue/TopicC/-1").exists());
    let s = MessageStore::open(config(&root)).unwrap();
    assert_eq!(s.records().count(), 2);
    s.shutdown().unwrap();
}

/// A segment named by an offset near u64::MAX overflowed `offset + size` (a panic in debug
/// builds, wrapped arithmetic in release). It is refused, naming the file.
#[test]
fn segment_offset_beyond_a_java_long_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("commitlog")).unwrap();
    let name = "18446744073709551615";
    fs::write(root.join("commitlog").join(name), vec![0u8; SEGMENT]).unwrap();
    for r in [
        MessageStore::open_read_only(config(root)),
        MessageStore::open(config(root)),
    ] {
        let e = r.unwrap_err().to_string();
        assert!(e.contains(name), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Found by the model-based test (tests/model.rs)
// ---------------------------------------------------------------------------------------------

/// A crash tears the commitlog from the second of three records. Recovery truncated the
/// consume queue to one unit but left the two dropped units' bytes in place; the next put
/// rewrote the second slot, and the next start's consume-queue recovery (which reads units up to
/// the first invalid one) took the stale third unit back: a phantom message pointing into the
/// middle of the new record.
#[test]
fn dropped_consume_queue_units_do_not_come_back() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let at = store_with(&root, "TopicD", 3);
    // What a crash leaves: the abort file, and the commitlog torn from record 1 on.
    fs::write(root.join("abort"), b"").unwrap();
    let mut seg = fs::read(segment0(&root)).unwrap();
    seg[at[1].0 as usize..].fill(0);
    fs::write(segment0(&root), seg).unwrap();

    let s = MessageStore::open(config(&root)).unwrap();
    assert_eq!(s.max_offset_in_queue("TopicD", 0), 1);
    let r = s
        .put_message(&Message::new(
            "TopicD",
            0,
            b"after the crash, a longer body".to_vec(),
        ))
        .unwrap();
    assert_eq!(r.append.unwrap().logics_offset, 1);
    s.shutdown().unwrap();

    let s = MessageStore::open(config(&root)).unwrap();
    assert_eq!(
        s.max_offset_in_queue("TopicD", 0),
        2,
        "a dropped unit came back"
    );
    let got = s.get_messages("TopicD", 0, 0, 10);
    let bodies: Vec<Vec<u8>> = got
        .messages
        .iter()
        .map(|m| m.decode().unwrap().body.to_vec())
        .collect();
    assert_eq!(
        bodies,
        vec![
            b"body-0".to_vec(),
            b"after the crash, a longer body".to_vec()
        ]
    );
    s.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Path safety: nothing from disk or from a caller leads the engine outside the store
// ---------------------------------------------------------------------------------------------

#[cfg(unix)]
mod paths {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A store directory whose `entry` is a symlink to a folder outside it is refused, in both
    /// modes, and nothing is written through the link.
    fn refused_with_link(make: impl Fn(&Path, &Path), needle: &str) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        store_with(&root, "TopicE", 2);
        let outside = tmp.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        make(&root, &outside);
        let outside_before = listing(&outside);
        for writable in [false, true] {
            let r = if writable {
                MessageStore::open(config(&root))
            } else {
                MessageStore::open_read_only(config(&root))
            };
            let e = r
                .expect_err("a symlink leaving the store is refused")
                .to_string();
            assert!(e.contains(needle), "{e}");
        }
        assert_eq!(
            listing(&outside),
            outside_before,
            "something was written outside"
        );
    }

    #[test]
    fn topic_directory_symlink_is_refused() {
        refused_with_link(
            |root, outside| {
                fs::create_dir_all(outside.join("0")).unwrap();
                symlink(outside, root.join("consumequeue/Evil")).unwrap();
            },
            "Evil",
        );
    }

    #[test]
    fn queue_directory_symlink_is_refused() {
        refused_with_link(
            |root, outside| symlink(outside, root.join("consumequeue/TopicE/7")).unwrap(),
            "consumequeue/TopicE/7",
        );
    }

    #[test]
    fn segment_symlink_is_refused() {
        refused_with_link(
            |root, outside| {
                let target = outside.join("seg");
                fs::write(&target, vec![0u8; SEGMENT]).unwrap();
                symlink(
                    &target,
                    root.join("commitlog")
                        .join(offset_to_file_name(SEGMENT as u64)),
                )
                .unwrap();
            },
            &offset_to_file_name(SEGMENT as u64),
        );
    }

    #[test]
    fn consume_queue_file_symlink_is_refused() {
        refused_with_link(
            |root, outside| {
                let target = outside.join("cq");
                fs::write(&target, vec![0u8; 1000]).unwrap();
                symlink(
                    &target,
                    root.join("consumequeue/TopicE/0")
                        .join(offset_to_file_name(1000)),
                )
                .unwrap();
            },
            &offset_to_file_name(1000),
        );
    }

    #[test]
    fn index_file_symlink_is_refused() {
        refused_with_link(
            |root, outside| {
                let target = outside.join("ix");
                fs::write(&target, vec![0u8; index_file_size(64, 256)]).unwrap();
                symlink(&target, root.join("index/29991231235959999")).unwrap();
            },
            "29991231235959999",
        );
    }

    /// Topics from callers: every read and write entry point refuses or ignores a topic that
    /// could name a path, and creates nothing.
    #[test]
    fn caller_topics_never_name_a_path() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        let s = MessageStore::open(config(&root)).unwrap();
        let before = listing(tmp.path());
        for t in ["../x", "..", "/abs", "a/b", "T\0", "."] {
            let r = s.put_message(&Message::new(t, 0, b"x".to_vec())).unwrap();
            assert!(!r.is_ok(), "{t:?}");
            assert!(s.get_messages(t, 0, 0, 1).messages.is_empty());
            assert!(s.query_messages_by_key(t, "k", 10, 0, i64::MAX).is_empty());
            assert_eq!(s.max_offset_in_queue(t, 0), 0);
        }
        let r = s
            .put_message(&Message::new("TopicF", -1, b"x".to_vec()))
            .unwrap();
        assert!(!r.is_ok());
        assert_eq!(listing(tmp.path()), before);
        // A backslash names no path here: Java's store takes such a topic, and so do we, in
        // one folder inside the store (issue 12).
        let r = s
            .put_message(&Message::new("x\\y", 0, b"x".to_vec()))
            .unwrap();
        assert!(r.is_ok(), "{r:?}");
        assert!(root.join("consumequeue").join("x\\y").join("0").is_dir());
        let mut after = listing(tmp.path());
        after.retain(|p| !p.starts_with("store/"));
        let mut outside = before.clone();
        outside.retain(|p| !p.starts_with("store/"));
        assert_eq!(after, outside, "nothing beside the store");
        s.shutdown().unwrap();
    }
}

/// Found by fuzz target `store_recovery`: a record whose queue-offset field (from disk) was
/// near 2^63 made the consume queue create a file named beyond a Java long, and `offset +
/// position` overflowed (a panic in debug builds); a physical-offset field near i64::MAX
/// overflowed `offset + size`. Such a record now goes to no consume queue and stays in the
/// commitlog; the store opens, and opens again.
#[test]
fn record_with_an_impossible_queue_or_physical_offset() {
    for (field_pos, value) in [
        (20usize, i64::MAX - 3),
        (20, i64::MAX / 20),
        (20, -5),
        (28, i64::MAX - 10),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        let at = store_with(&root, "TopicG", 3);
        patch(
            &segment0(&root),
            at[1].0 as usize + field_pos,
            &value.to_be_bytes(),
        );
        fs::remove_dir_all(root.join("consumequeue")).unwrap();
        for _ in 0..2 {
            let s = MessageStore::open(config(&root)).unwrap();
            assert_eq!(s.records().count(), 3, "field {field_pos} = {value}");
            assert_eq!(s.max_phy_offset(), at[2].0 + at[2].1 as u64);
            let got = s.get_messages("TopicG", 0, 0, 10);
            let first = got.messages.first().expect("record 0 is in its queue");
            assert_eq!(first.decode().unwrap().body, b"body-0");
            s.shutdown().unwrap();
        }
    }
}

/// Replays a `store_recovery` fuzz input the way the target builds its store (byte 0 flags,
/// byte 1 consume-queue unit count, the units, then the 64 KiB segment).
fn store_from_fuzz_input(root: &Path, data: &[u8]) -> StoreConfig {
    const SEG: usize = 64 * 1024;
    const CQ_UNITS: usize = 100;
    let flags = data[0];
    let units = (data[1] as usize) % (CQ_UNITS + 1);
    let rest = &data[2..];
    let cq_len = (units * 20).min(rest.len());
    let (cq_bytes, seg_bytes) = rest.split_at(cq_len);
    let cl = root.join("commitlog");
    fs::create_dir_all(&cl).unwrap();
    let mut seg = vec![0u8; SEG];
    let n = seg_bytes.len().min(SEG);
    seg[..n].copy_from_slice(&seg_bytes[..n]);
    fs::write(cl.join(format!("{:020}", 0)), &seg).unwrap();
    if units > 0 {
        let qdir = root.join("consumequeue/TopicTest/0");
        fs::create_dir_all(&qdir).unwrap();
        let mut cq = vec![0u8; CQ_UNITS * 20];
        cq[..cq_bytes.len()].copy_from_slice(cq_bytes);
        fs::write(qdir.join(format!("{:020}", 0)), &cq).unwrap();
    }
    if flags & 1 != 0 {
        fs::write(root.join("abort"), b"").unwrap();
    }
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = SEG;
    c.mapped_file_size_consume_queue_raw = CQ_UNITS * 20;
    c.max_hash_slot_num = 16;
    c.max_index_num = 64;
    c.check_crc_on_recover = flags & 2 != 0;
    c.message_index_enable = flags & 4 != 0;
    c
}

/// A minimized fuzz input committed under `fuzz/regressions/`.
fn regression_input(name: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions")
            .join(name),
    )
    .unwrap()
}

/// Found by the `store_recovery` fuzz target: a consume-queue unit claiming a message that ends
/// beyond the recovered commitlog made reput start past the end, so a new put was stored but
/// never dispatched.
#[test]
fn a_put_after_recovery_of_a_fuzzed_store_is_dispatched() {
    let data = regression_input("store_recovery-put-not-dispatched");
    let dir = tempfile::tempdir().unwrap();
    let c = store_from_fuzz_input(dir.path(), &data);
    let store = MessageStore::open(c).unwrap();
    // The fuzzed consume queue claims a message ending far beyond the recovered log end.
    assert!(store.recovery_report().reput_from <= store.max_phy_offset());
    let r = store
        .put_message(&Message::new("Fz", 0, b"after-recovery".to_vec()).with_keys("fz-key"))
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(
        store.max_offset_in_queue("Fz", 0),
        1,
        "{:?}",
        store.background_error()
    );
    assert_eq!(
        store.get_messages("Fz", 0, 0, 1).messages[0]
            .decode()
            .unwrap()
            .body,
        b"after-recovery"
    );
}

/// Found by review (issue 7, path safety): `abort`, `checkpoint` and `lock` were opened
/// following symlinks, so a store whose `abort` linked to a file outside it had that file
/// truncated by a writable open, and a linked `checkpoint` was overwritten by a flush. Every
/// store file is now opened with O_NOFOLLOW: the open fails, naming the file, and the target is
/// untouched.
#[cfg(unix)]
#[test]
fn root_files_that_are_symlinks_are_never_followed() {
    use std::os::unix::fs::symlink;
    for name in ["abort", "checkpoint", "lock"] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        store_with(&root, "TopicH", 1);
        let victim = tmp.path().join("victim");
        fs::write(&victim, b"precious bytes outside the store").unwrap();
        let link = root.join(name);
        let _ = fs::remove_file(&link);
        symlink(&victim, &link).unwrap();
        let r = MessageStore::open(config(&root));
        let e = r
            .expect_err("a symlinked store file is refused")
            .to_string();
        assert!(e.contains(name), "{name}: {e}");
        if name == "checkpoint" {
            let e = MessageStore::open_read_only(config(&root))
                .unwrap_err()
                .to_string();
            assert!(e.contains(name), "{name}: {e}");
        }
        assert_eq!(
            fs::read(&victim).unwrap(),
            b"precious bytes outside the store",
            "{name}"
        );
    }
}

/// Found by the `store_recovery` fuzz target: a consume-queue unit claiming a message that ends
/// inside another record (272, in the record at 201..449) made reput start mid-record, where
/// nothing decodes; reput stopped there for good, so neither the records after it nor any new
/// put were ever dispatched. The reput start is now aligned to a record boundary, and a put
/// whose reput is stuck on bytes that do not decode skips them (as Java's master reput does).
#[test]
fn a_put_after_recovery_of_another_fuzzed_store_is_dispatched() {
    let data = regression_input("store_recovery-put-not-dispatched-2");
    let dir = tempfile::tempdir().unwrap();
    let c = store_from_fuzz_input(dir.path(), &data);
    let store = MessageStore::open(c).unwrap();
    let r = store
        .put_message(&Message::new("Fz", 0, b"after-recovery".to_vec()).with_keys("fz-key"))
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
    // Every record the recovered log holds is in its queue, the new one included (except in
    // TopicTest/0, whose units come from the input, damaged unit and all).
    let mut checked = 0;
    for rec in store.records() {
        let rec = rec.unwrap();
        let m = rec.decode().unwrap();
        let topic = String::from_utf8_lossy(m.topic).into_owned();
        if topic == "TopicTest" && m.queue_id == 0 {
            continue;
        }
        checked += 1;
        let got = store.get_messages(&topic, m.queue_id, m.queue_offset as u64, 1);
        assert_eq!(
            got.messages.first().map(|r| r.offset()),
            Some(rec.offset()),
            "record at {} ({topic}/{} offset {}) not dispatched",
            rec.offset(),
            m.queue_id,
            m.queue_offset
        );
    }
    assert_eq!(checked, 3, "the records at 201 and 449, and the new one");
    assert_eq!(store.max_offset_in_queue("Fz", 0), 1);
}

/// Found by the `store_recovery` fuzz target: a record whose store timestamp (from disk) lies
/// far before the index file's begin timestamp overflowed the index entry's time difference
/// (`storeTimestamp - beginTimestamp`), a panic in abnormal recovery's dispatch. Java's `long`
/// subtraction wraps, so the difference comes out huge and is clamped to `Integer.MAX_VALUE`;
/// we now compute it the same way.
#[test]
fn an_index_entry_for_a_store_timestamp_far_before_the_file_begin() {
    let data = regression_input("store_recovery-index-time-diff-overflow");
    let dir = tempfile::tempdir().unwrap();
    let c = store_from_fuzz_input(dir.path(), &data);
    assert!(c.message_index_enable && dir.path().join("abort").exists());
    let store = MessageStore::open(c.clone()).unwrap();
    let mut stamps = Vec::new();
    for r in store.records() {
        let r = r.unwrap();
        stamps.push((r.offset(), r.decode().unwrap().store_timestamp));
    }
    store.shutdown().unwrap();
    let ix = rmqstore::index::IndexService::open(
        dir.path().join("index"),
        c.max_hash_slot_num,
        c.max_index_num,
        true,
    )
    .unwrap();
    let f = &ix.files()[0];
    let begin = f.begin_timestamp();
    let mut wrapped = 0;
    for n in 1..f.header().index_count as u32 {
        let e = f.entry(n).unwrap();
        let ts = stamps
            .iter()
            .find(|(o, _)| *o as i64 == e.phy_offset)
            .expect("every entry names a record")
            .1;
        if ts.checked_sub(begin).is_none() {
            assert_eq!(e.time_diff_secs, i32::MAX, "entry {n}: {ts} - {begin}");
            wrapped += 1;
        }
    }
    assert!(wrapped > 0, "the input has a record whose difference wraps");
}
