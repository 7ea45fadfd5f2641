//! `MessageStore` on bad input, always on temporary copies of a fixture: a malformed store
//! directory is a clear error naming the file (never a panic); damaged records end recovery at
//! the last valid record before the damage; illegal topics are refused without writing
//! anything anywhere.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{
    copy_store_to_temp, copy_tree, fixture, sha256_hex, tree_digest, Fixture, Reader, ReaderMessage,
};
use rmqstore::clock::ManualClock;
use rmqstore::message::BatchItem;
use rmqstore::store::GetMessageStatus;
use rmqstore::{Message, MessageBatch, MessageStore, OpenMode, PutMessageStatus, StoreConfig};

const SEG: u64 = 1024 * 1024;

fn fixture_config(root: &Path) -> StoreConfig {
    common::fixture_store_config(root)
}

fn base() -> Fixture {
    fixture("4.6.0/async")
}

fn segment_name(offset: u64) -> String {
    format!("{offset:020}")
}

/// Both open modes must fail on `root` with an error whose Display contains every `needle`.
fn expect_open_error(root: &Path, needles: &[&str]) {
    for mode in [OpenMode::ReadOnly, OpenMode::ReadWrite] {
        let r = MessageStore::open_with(
            fixture_config(root),
            mode,
            Arc::new(ManualClock::new(1_800_000_000_000)),
        );
        match r {
            Ok(_) => panic!(
                "{mode:?} open of {} succeeded; expected an error naming {needles:?}",
                root.display()
            ),
            Err(e) => {
                let msg = e.to_string();
                for n in needles {
                    assert!(
                        msg.contains(n),
                        "{mode:?}: error {msg:?} does not name {n:?}"
                    );
                }
            }
        }
        // A refused writable open leaves no abort file behind (the fixture had none).
        assert!(
            !root.join("abort").exists(),
            "{mode:?}: abort file left by a failed open"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A malformed store directory
// ---------------------------------------------------------------------------------------------

#[test]
fn truncated_commitlog_segment_is_named() {
    let tmp = copy_store_to_temp(&base());
    let seg = tmp.path().join("commitlog").join(segment_name(SEG));
    let f = fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(SEG - 1000).unwrap();
    drop(f);
    let path = seg.display().to_string();
    expect_open_error(tmp.path(), &[&path, &(SEG - 1000).to_string()]);
}

#[test]
fn stray_file_in_commitlog_is_named() {
    let tmp = copy_store_to_temp(&base());
    let stray = tmp.path().join("commitlog/notes.txt");
    fs::write(&stray, b"some notes").unwrap();
    expect_open_error(tmp.path(), &[&stray.display().to_string()]);
}

#[test]
fn bad_topic_directory_in_consumequeue_is_named() {
    // Java's store names a topic's folder with any characters (`bad.topic` is a topic it
    // takes, issue 12), always in UTF-8: a name that is not UTF-8 is no topic's folder.
    use std::os::unix::ffi::OsStrExt;
    let tmp = copy_store_to_temp(&base());
    let bad = tmp
        .path()
        .join("consumequeue")
        .join(std::ffi::OsStr::from_bytes(b"bad\xfftopic"));
    fs::create_dir_all(bad.join("0")).unwrap();
    expect_open_error(tmp.path(), &[&bad.display().to_string()]);
}

#[test]
fn non_numeric_queue_directory_is_named() {
    let tmp = copy_store_to_temp(&base());
    let bad = tmp.path().join("consumequeue/TopicTest/abc");
    fs::create_dir_all(&bad).unwrap();
    expect_open_error(tmp.path(), &[&bad.display().to_string()]);
}

// ---------------------------------------------------------------------------------------------
// Recovery on damaged records
// ---------------------------------------------------------------------------------------------

fn all_records(r: &Reader) -> Vec<ReaderMessage> {
    let mut v: Vec<ReaderMessage> = r
        .queues
        .iter()
        .flat_map(|q| q.messages.iter().cloned())
        .chain(r.messages_not_in_consume_queue.iter().cloned())
        .collect();
    v.sort_by_key(|m| m.commit_log_offset);
    v
}

/// The records of the last commitlog segment, in offset order.
fn last_segment_records(r: &Reader) -> Vec<ReaderMessage> {
    let last_seg = (r.max_phy_offset as u64 / SEG) * SEG;
    all_records(r)
        .into_iter()
        .filter(|m| m.commit_log_offset as u64 >= last_seg)
        .collect()
}

/// Where the body of `m` starts inside its record.
fn body_pos(m: &ReaderMessage) -> usize {
    let mut p = 84 + 4;
    if m.sys_flag & 0x10 != 0 {
        p += 12;
    }
    if m.sys_flag & 0x20 != 0 {
        p += 12;
    }
    p
}

/// Damages a copy of the 4.6.0 async store with `damage(segment bytes, record position)` on
/// the record `target`, opens it writable, and checks that recovery ends right before the
/// damaged record and that everything before it reads back.
fn damaged_recovery(
    what: &str,
    pick: impl Fn(&[ReaderMessage]) -> ReaderMessage,
    damage: impl Fn(&mut [u8], usize, &ReaderMessage),
) {
    let fx = base();
    let reader = fx.reader();
    let target = pick(&last_segment_records(&reader));
    let tmp = copy_store_to_temp(&fx);
    let root = tmp.path();
    let seg_start = (target.commit_log_offset as u64 / SEG) * SEG;
    let seg_path = root.join("commitlog").join(segment_name(seg_start));
    let mut bytes = fs::read(&seg_path).unwrap();
    let pos = (target.commit_log_offset as u64 - seg_start) as usize;
    damage(&mut bytes, pos, &target);
    fs::write(&seg_path, &bytes).unwrap();

    let end = target.commit_log_offset as u64;
    let store = MessageStore::open_with(
        fixture_config(root),
        OpenMode::ReadWrite,
        Arc::new(ManualClock::new(1_900_000_000_000)),
    )
    .unwrap_or_else(|e| panic!("{what}: the damaged store does not open: {e}"));
    let rep = store.recovery_report().clone();
    assert_eq!(rep.end_offset, end, "{what}: recovery end {rep:?}");
    let stopped = rep
        .stopped_by
        .clone()
        .unwrap_or_else(|| panic!("{what}: recovery does not say what stopped it: {rep:?}"));
    assert!(
        stopped.contains(&seg_path.display().to_string()),
        "{what}: stopped_by {stopped:?} does not name {}",
        seg_path.display()
    );
    // The byte offset named lies inside the damaged record.
    let at: u64 = stopped
        .split("at byte ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{what}: stopped_by {stopped:?} names no byte offset"));
    assert!(
        at >= pos as u64 && at < (pos as u64 + target.store_size as u64),
        "{what}: stopped_by {stopped:?} names byte {at}, the damaged record spans {pos}..{}",
        pos as i64 + target.store_size
    );
    assert_eq!(store.max_phy_offset(), end, "{what}: max phy offset");
    assert!(
        store.get_by_phy_offset(end).is_none(),
        "{what}: the damaged record is still readable"
    );

    // Everything before the damage reads back, byte for byte.
    let before: Vec<ReaderMessage> = all_records(&reader)
        .into_iter()
        .filter(|m| (m.commit_log_offset as u64) < end)
        .collect();
    for m in &before {
        let rec = store
            .get_by_phy_offset(m.commit_log_offset as u64)
            .unwrap_or_else(|| panic!("{what}: record at {} lost", m.commit_log_offset));
        assert_eq!(
            sha256_hex(rec.bytes()),
            m.record_sha256,
            "{what}: record at {}",
            m.commit_log_offset
        );
    }
    let recs: Vec<i64> = store
        .records()
        .map(|r| r.unwrap().offset() as i64)
        .collect();
    let want: Vec<i64> = before.iter().map(|m| m.commit_log_offset).collect();
    assert_eq!(recs, want, "{what}: records()");
    for q in &reader.queues {
        let keep: Vec<&ReaderMessage> = q
            .messages
            .iter()
            .filter(|m| (m.commit_log_offset as u64) < end)
            .collect();
        let at = format!("{what}: queue {}/{}", q.topic, q.queue_id);
        assert_eq!(
            store.max_offset_in_queue(&q.topic, q.queue_id),
            keep.len() as u64,
            "{at}"
        );
        let got = store.get_messages(&q.topic, q.queue_id, 0, 1_000_000);
        if keep.is_empty() {
            assert!(got.messages.is_empty(), "{at}");
            continue;
        }
        assert_eq!(got.status, GetMessageStatus::Found, "{at}");
        let got: Vec<i64> = got.messages.iter().map(|r| r.offset() as i64).collect();
        let want: Vec<i64> = keep.iter().map(|m| m.commit_log_offset).collect();
        assert_eq!(got, want, "{at}");
    }
    // The store writes on after the recovered end.
    let r = store
        .put_message(&Message::new("TopicTest", 0, b"after damage".to_vec()))
        .unwrap();
    assert_eq!(r.status, PutMessageStatus::PutOk, "{what}");
    assert_eq!(
        r.append.unwrap().wrote_offset as u64,
        end,
        "{what}: next put"
    );
    store.shutdown().unwrap();
}

fn middle(v: &[ReaderMessage]) -> ReaderMessage {
    let mut i = v.len() / 2;
    while v[i].body_length == 0 {
        i += 1;
    }
    v[i].clone()
}

#[test]
fn flipped_magic_in_the_last_segment() {
    damaged_recovery("flipped magic", middle, |b, pos, _| {
        b[pos + 4] ^= 0xFF;
    });
}

#[test]
fn length_field_larger_than_the_segment() {
    damaged_recovery("oversized length", middle, |b, pos, _| {
        b[pos..pos + 4].copy_from_slice(&(2 * SEG as i32).to_be_bytes());
    });
}

/// A torn write of the last record with a body: everything from the middle of its body on
/// never reached the disk (zeros). The body CRC catches it; recovery ends before the record.
#[test]
fn torn_record_tail_reaching_the_body() {
    damaged_recovery(
        "torn tail",
        |v| v.iter().rev().find(|m| m.body_length > 1).unwrap().clone(),
        |b, pos, m| {
            let start = pos + body_pos(m) + m.body_length as usize / 2;
            b[start..pos + m.store_size as usize].fill(0);
        },
    );
}

/// A tear confined to the last record's properties (its last 10 bytes zeroed) leaves every
/// length field consistent and the body CRC intact. Java 4.6.0's `checkMessageAndReturnSize`
/// does not validate property contents, so Java keeps this record; byte compatibility means we
/// recover to the same end (detecting it needs the 5.x `__CRC32#` property).
#[test]
fn torn_properties_tail_is_kept_as_java_keeps_it() {
    let fx = base();
    let reader = fx.reader();
    let last = all_records(&reader).pop().unwrap();
    let tmp = copy_store_to_temp(&fx);
    let seg_start = (last.commit_log_offset as u64 / SEG) * SEG;
    let seg_path = tmp.path().join("commitlog").join(segment_name(seg_start));
    let mut bytes = fs::read(&seg_path).unwrap();
    let end = (last.commit_log_offset as u64 - seg_start) as usize + last.store_size as usize;
    bytes[end - 10..end].fill(0);
    fs::write(&seg_path, &bytes).unwrap();
    let store = MessageStore::open(fixture_config(tmp.path())).unwrap();
    let rep = store.recovery_report();
    assert_eq!(rep.end_offset, reader.max_phy_offset as u64, "{rep:?}");
    assert!(rep.stopped_by.is_none(), "{rep:?}");
    let rec = store
        .get_by_phy_offset(last.commit_log_offset as u64)
        .unwrap();
    assert_eq!(rec.size(), last.store_size as usize);
    assert!(rec.decode().unwrap().properties.ends_with(&[0u8; 10]));
}

#[test]
fn flipped_body_byte_fails_the_crc() {
    damaged_recovery("flipped body byte", middle, |b, pos, m| {
        let p = pos + body_pos(m) + m.body_length as usize / 2;
        b[p] ^= 0x01;
    });
}

// ---------------------------------------------------------------------------------------------
// Illegal topics
// ---------------------------------------------------------------------------------------------

/// Every entry under `dir`, as relative paths.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn illegal_topics_are_refused_and_nothing_is_written() {
    let fx = base();
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("store");
    fs::create_dir(&root).unwrap();
    copy_tree(&fx.store_dir, &root).unwrap();
    let store = MessageStore::open_with(
        fixture_config(&root),
        OpenMode::ReadWrite,
        Arc::new(ManualClock::new(1_900_000_000_000)),
    )
    .unwrap();
    let max_before = store.max_phy_offset();
    let parent_before = listing(parent.path());
    let digest_before = tree_digest(&root);
    let abs_existed = Path::new("/abs").exists();
    let long = "a".repeat(300);
    for topic in [
        "../x",
        "a/b",
        "",
        long.as_str(),
        "..",
        "/abs",
        "../../escape",
    ] {
        let m = Message::new(topic, 0, b"body".to_vec()).with_keys("k");
        let r = store
            .put_message(&m)
            .unwrap_or_else(|e| panic!("put {topic:?}: Err {e}"));
        assert_eq!(
            r.status,
            PutMessageStatus::MessageIllegal,
            "put {topic:?}: {r:?}"
        );
        assert!(r.append.is_none(), "put {topic:?}: {r:?}");
        assert!(
            r.reason.as_deref().is_some_and(|s| !s.is_empty()),
            "put {topic:?}: no reason"
        );

        let b = MessageBatch {
            topic: topic.to_string(),
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: rmqstore::format::Host::v4([127, 0, 0, 1], 1),
            store_host: rmqstore::format::Host::v4([127, 0, 0, 1], 10911),
            reconsume_times: 0,
            items: vec![BatchItem {
                flag: 0,
                body: b"x".to_vec(),
                properties: String::new(),
            }],
        };
        let r = store
            .put_messages(&b)
            .unwrap_or_else(|e| panic!("batch {topic:?}: Err {e}"));
        assert_eq!(
            r.status,
            PutMessageStatus::MessageIllegal,
            "batch {topic:?}: {r:?}"
        );
        assert!(
            r.reason.as_deref().is_some_and(|s| !s.is_empty()),
            "batch {topic:?}: no reason"
        );

        // A delayed message is rewritten to SCHEDULE_TOPIC_XXXX: the real topic is still
        // checked first.
        let d = Message::new(topic, 0, b"later".to_vec()).with_property("DELAY", "3");
        let r = store.put_message(&d).unwrap();
        assert_eq!(
            r.status,
            PutMessageStatus::MessageIllegal,
            "delayed {topic:?}: {r:?}"
        );
    }
    assert_eq!(store.max_phy_offset(), max_before, "something was written");
    assert_eq!(
        listing(parent.path()),
        parent_before,
        "entries appeared in the parent temp dir"
    );
    assert_eq!(tree_digest(&root), digest_before, "the store tree changed");
    store.shutdown().unwrap();
    let names: Vec<String> = fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["store".to_string()], "outside the store root");
    assert_eq!(Path::new("/abs").exists(), abs_existed, "/abs was created");
}
