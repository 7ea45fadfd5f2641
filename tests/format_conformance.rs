//! Conformance of the pure format codecs (`rmqstore::format`) with the stores Apache RocketMQ's
//! Java engine wrote (`tests/fixtures/java`). The fixtures are the ground truth: a failure here
//! is a bug in rmqstore, never a reason to relax a check.
//!
//! For every fixture:
//! - `commitlog_vs_manifest`: walking every commitlog segment with `decode_record` finds exactly
//!   the messages the manifest says were put, at the offsets the puts returned, with every field
//!   as put; blank records and the end of data are where Java's reader found them.
//! - `records_vs_reader`: every record Java's reader returned (per queue, and those in no consume
//!   queue) equals our decoded record at its offset, byte for byte (`recordSha256`), and its
//!   consume-queue tagsCode is what `record_tags_code` computes.
//! - `consume_queues`: every consume-queue file decodes with `CqUnit::decode` into the units of
//!   reader.json's messages, and the queues' min/max offsets are reader.json's.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;

use common::{
    all_fixtures, numbered_files, sha256_hex, Failures, Fixture, Manifest, ManifestMessage, Reader,
    ReaderMessage,
};
use rmqstore::format::cq::{is_dispatched_to_cq, record_tags_code, DelayLevels, SCHEDULE_TOPIC};
use rmqstore::format::msgid::create_message_id;
use rmqstore::format::properties::{self, StoreProperties};
use rmqstore::format::record::{sysflag, verify_property_crc, Magic};
use rmqstore::format::{
    body_crc, decode_record, CqUnit, Decoded, MessageRecord, BLANK_MAGIC, CQ_UNIT_SIZE,
};

/// Length of the 5.x `__CRC32#` property tail: `__CRC32#` 0x01, 10 digits, 0x02.
const CRC_TAIL_LEN: usize = 20;
/// Highest delay level of the default `messageDelayLevel`.
const MAX_DELAY_LEVEL: i32 = 18;
/// How far 3.x's pre-lock `System.currentTimeMillis()` may run ahead of the STORETIMESTAMP taken
/// from its cached `SystemClock` (see `check_tags_code`).
const CLOCK_SLACK_MS: i64 = 10;

// ---------------------------------------------------------------------------------------------
// The commitlog as we decode it
// ---------------------------------------------------------------------------------------------

/// The commitlog segments of a fixture, read into memory.
struct Segments {
    files: Vec<(i64, String, Vec<u8>)>,
}

impl Segments {
    fn load(f: &Fixture) -> Segments {
        let files = f
            .commitlog_segments()
            .into_iter()
            .map(|(start, path)| {
                let data = fs::read(&path)
                    .unwrap_or_else(|e| panic!("{}: cannot read {}: {e}", f.name, path.display()));
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (start as i64, name, data)
            })
            .collect();
        Segments { files }
    }
}

/// One message record found by walking the commitlog.
struct Found<'a> {
    /// Absolute commitlog offset of the record's first byte.
    offset: i64,
    /// The whole record.
    bytes: &'a [u8],
    record: MessageRecord<'a>,
}

impl Found<'_> {
    fn props(&self) -> StoreProperties<'_> {
        self.record.store_properties()
    }
}

/// What walking the commitlog found.
struct Walk<'a> {
    records: Vec<Found<'a>>,
    /// (absolute offset, total size) of each blank end-of-segment record.
    blanks: Vec<(i64, i64)>,
    /// Absolute offset where the data ends (the first End, or the end of the last segment).
    end: i64,
    /// How many segments hold data (up to and including the one where the data ends).
    segments_with_data: usize,
}

/// Walks every segment from position 0: a message leads to the next record, a blank to the next
/// segment, the end of data stops the walk. Decoding errors are failures (with their offset).
fn walk<'a>(f: &Fixture, segs: &'a Segments, fail: &mut Failures) -> Walk<'a> {
    let mut w = Walk {
        records: Vec::new(),
        blanks: Vec::new(),
        end: 0,
        segments_with_data: 0,
    };
    let mut expected_start: Option<i64> = None;
    'segments: for (start, name, data) in &segs.files {
        let start = *start;
        if data.is_empty() {
            fail.push(format!("{}: commitlog/{name} is empty", f.name));
            continue;
        }
        if let Some(exp) = expected_start {
            fail.eq(
                &format!("{}: commitlog/{name}", f.name),
                "segment start (previous start + previous file length)",
                &start,
                &exp,
            );
        }
        expected_start = Some(start + data.len() as i64);
        w.segments_with_data += 1;
        let mut pos = 0usize;
        loop {
            let abs = start + pos as i64;
            if pos == data.len() {
                // The segment was filled exactly (never happens with Java's blank rule).
                fail.push(format!(
                    "{}: commitlog/{name}: records fill the file to its end without a blank record (offset {abs})",
                    f.name
                ));
                continue 'segments;
            }
            match decode_record(&data[pos..], true) {
                Ok(Decoded::Message { record, total_size }) => {
                    let len = total_size as usize;
                    if record.physical_offset != abs {
                        fail.push(format!(
                            "{}: offset {abs}: PHYSICALOFFSET field says {}",
                            f.name, record.physical_offset
                        ));
                    }
                    w.records.push(Found {
                        offset: abs,
                        bytes: &data[pos..pos + len],
                        record,
                    });
                    pos += len;
                }
                Ok(Decoded::Blank { total_size }) => {
                    let total = total_size as i64;
                    w.blanks.push((abs, total));
                    fail.eq(
                        &format!(
                            "{}: blank record at offset {abs} (commitlog/{name})",
                            f.name
                        ),
                        "blank total size (must run to the end of the segment)",
                        &total,
                        &((data.len() - pos) as i64),
                    );
                    continue 'segments;
                }
                Ok(Decoded::End) => {
                    w.end = abs;
                    return w;
                }
                Err(e) => {
                    fail.push(format!(
                        "{}: commitlog/{name}: decode error at offset {abs}: {}",
                        f.name,
                        e.clone().shifted(abs as u64)
                    ));
                    w.end = abs;
                    return w;
                }
            }
        }
    }
    w.end = expected_start.unwrap_or(0);
    w
}

fn magic_name(m: Magic) -> &'static str {
    match m {
        Magic::V1 => "V1",
        Magic::V2 => "V2",
    }
}

// ---------------------------------------------------------------------------------------------
// Commitlog vs manifest
// ---------------------------------------------------------------------------------------------

fn commitlog_vs_manifest(f: &Fixture) {
    let manifest = f.manifest();
    let reader = f.reader();
    let segs = Segments::load(f);
    let mut fail = Failures::new(format!("{} commitlog vs manifest.json", f.name));
    let w = walk(f, &segs, &mut fail);

    fail.eq(
        &f.name,
        "manifest messageRecordCount vs its messages",
        &manifest.messages.len(),
        &manifest.message_record_count,
    );

    // The records in physical order are the manifest's messages in wroteOffset order.
    let mut msgs: Vec<&ManifestMessage> = manifest.messages.iter().collect();
    msgs.sort_by_key(|m| m.wrote_offset);
    fail.eq(
        &f.name,
        "number of message records in the commitlog",
        &w.records.len(),
        &msgs.len(),
    );
    let crc_tail = f.append_prop_crc();
    for (found, m) in w.records.iter().zip(&msgs) {
        check_against_manifest(f, &manifest, found, m, crc_tail, &mut fail);
    }
    if w.records.len() != msgs.len() {
        let ours: BTreeSet<i64> = w.records.iter().map(|r| r.offset).collect();
        let theirs: BTreeSet<i64> = msgs.iter().map(|m| m.wrote_offset).collect();
        for off in ours.difference(&theirs).take(10) {
            fail.push(format!(
                "{}: offset {off}: record in the commitlog the manifest does not list",
                f.name
            ));
        }
        for off in theirs.difference(&ours).take(10) {
            fail.push(format!(
                "{}: offset {off}: manifest message not found in the commitlog",
                f.name
            ));
        }
    }

    // The 5.x __CRC32# property: on every record of the crc run, on none elsewhere.
    let with_crc = w
        .records
        .iter()
        .filter(|r| r.record.properties.ends_with(b"\x02") && has_crc_tail(r.record.properties))
        .count();
    if crc_tail {
        for r in &w.records {
            if let Err(e) = verify_property_crc(r.bytes) {
                fail.push(format!(
                    "{}: offset {}: __CRC32# property: {}",
                    f.name,
                    r.offset,
                    e.shifted(r.offset as u64)
                ));
            }
        }
        fail.eq(
            &f.name,
            "records with a __CRC32# tail",
            &with_crc,
            &w.records.len(),
        );
    } else {
        fail.eq(&f.name, "records with a __CRC32# tail", &with_crc, &0);
    }
    if let Some(n) = reader
        .manifest_check
        .get("recordsWithAppendedCRC32Property")
    {
        fail.eq(
            &f.name,
            "reader.json manifestCheck.recordsWithAppendedCRC32Property",
            &(with_crc as u64),
            &n.as_u64().unwrap_or(u64::MAX),
        );
    }

    // Blank records and the end of data are where Java's reader found them.
    check_segments_vs_reader(f, &segs, &w, &reader, &mut fail);
    fail.eq(
        &f.name,
        "end of commitlog data vs reader.json maxPhyOffset",
        &w.end,
        &reader.max_phy_offset,
    );
    fail.eq(
        &f.name,
        "end of commitlog data vs manifest maxPhyOffset",
        &w.end,
        &manifest.max_phy_offset,
    );
    let first_start = segs.files.first().map(|s| s.0).unwrap_or(0);
    fail.eq(
        &f.name,
        "first segment start vs reader.json minPhyOffset",
        &first_start,
        &reader.min_phy_offset,
    );
    fail.finish();
}

fn has_crc_tail(props: &[u8]) -> bool {
    props.len() >= CRC_TAIL_LEN && props[props.len() - CRC_TAIL_LEN..].starts_with(b"__CRC32#\x01")
}

fn check_against_manifest(
    f: &Fixture,
    manifest: &Manifest,
    found: &Found<'_>,
    m: &ManifestMessage,
    crc_tail: bool,
    fail: &mut Failures,
) {
    let r = &found.record;
    let at = format!(
        "{}: offset {} (manifest seq {}, kind {})",
        f.name, found.offset, m.seq, m.kind
    );
    let at = at.as_str();
    fail.eq(
        at,
        "record offset vs wroteOffset",
        &found.offset,
        &m.wrote_offset,
    );
    fail.eq(
        at,
        "PHYSICALOFFSET vs wroteOffset",
        &r.physical_offset,
        &m.wrote_offset,
    );
    fail.eq(
        at,
        "TOTALSIZE vs wroteBytes",
        &(found.bytes.len() as i64),
        &m.wrote_bytes,
    );
    fail.eq(at, "topic", r.topic_str().as_ref(), m.topic.as_str());
    fail.eq(at, "queueId", &r.queue_id, &m.queue_id);
    fail.eq(at, "queueOffset", &r.queue_offset, &m.queue_offset);
    fail.eq(
        at,
        "msgId vs manifest",
        &create_message_id(&r.store_host, found.offset),
        &m.msg_id,
    );
    fail.eq(at, "storeTimestamp", &r.store_timestamp, &m.store_timestamp);
    fail.eq(at, "bornTimestamp", &r.born_timestamp, &m.born_timestamp);
    fail.eq(at, "sysFlag", &r.sys_flag, &m.sys_flag);
    fail.eq(at, "flag", &r.flag, &m.flag);
    fail.eq(at, "BODYCRC field", &(r.body_crc as i64), &m.body_crc);
    fail.eq(
        at,
        "masked CRC-32 of the body",
        &(body_crc(r.body) as i64),
        &m.body_crc,
    );
    fail.eq(at, "bodyLength", &(r.body.len() as i64), &m.body_length);
    fail.eq(at, "sha256(body)", &sha256_hex(r.body), &m.body_sha256);
    fail.eq(at, "bornHost", &r.born_host.to_string(), &m.born_host);
    fail.eq(at, "storeHost", &r.store_host.to_string(), &m.store_host);
    fail.eq(at, "reconsumeTimes", &r.reconsume_times, &m.reconsume_times);
    fail.eq(
        at,
        "preparedTransactionOffset",
        &r.prepared_transaction_offset,
        &m.prepared_transaction_offset,
    );

    // The manifest lists the properties without the 5.x __CRC32# tail the store appends.
    let stored = r.properties_str();
    if crc_tail {
        let base = if m.properties_string.is_empty() || m.properties_string.ends_with('\u{2}') {
            m.properties_string.clone()
        } else {
            format!("{}\u{2}", m.properties_string)
        };
        let ok = stored.len() == base.len() + CRC_TAIL_LEN
            && stored.starts_with(base.as_str())
            && has_crc_tail(r.properties);
        fail.check(ok, || {
            format!(
                "{at}: propertiesString: got {stored:?}, want {base:?} + a 20-byte __CRC32# tail"
            )
        });
    } else {
        fail.eq(
            at,
            "propertiesString",
            stored.as_ref(),
            m.properties_string.as_str(),
        );
    }
    let props = found.props();
    fail.eq(
        at,
        "TAGS property vs manifest tags",
        &props.tags.as_deref(),
        &m.tags.as_deref(),
    );
    fail.eq(
        at,
        "KEYS property vs manifest keys",
        &props.keys.as_deref(),
        &m.keys.as_deref(),
    );

    // Record version: V2 only for 5.x topics longer than 127 characters.
    let want_magic =
        if manifest.env.rocketmq_version.starts_with("5.") && m.topic.chars().count() > 127 {
            "V2"
        } else {
            "V1"
        };
    fail.eq(at, "magic", magic_name(r.magic), want_magic);

    // IPv6 hosts: the kind says which host is IPv6, the sysFlag bits agree.
    // (Other kinds may use IPv6 hosts too: a batch or transaction from an IPv6 producer.)
    if m.kind.contains("bornV6") {
        fail.check(r.born_host.is_v6(), || {
            format!("{at}: kind {} but the born host is not IPv6", m.kind)
        });
    }
    if m.kind.contains("storeV6") {
        fail.check(r.store_host.is_v6(), || {
            format!("{at}: kind {} but the store host is not IPv6", m.kind)
        });
    }
    fail.eq(
        at,
        "sysFlag BORNHOST_V6 bit",
        &(r.sys_flag & sysflag::BORNHOST_V6 != 0),
        &r.born_host.is_v6(),
    );
    fail.eq(
        at,
        "sysFlag STOREHOST_V6 bit",
        &(r.sys_flag & sysflag::STOREHOST_V6 != 0),
        &r.store_host.is_v6(),
    );

    // Delayed (and retried) messages are rewritten to SCHEDULE_TOPIC_XXXX, queue level-1.
    if let (Some(topic), Some(qid), Some(level)) =
        (&m.requested_topic, m.requested_queue_id, m.delay_level)
    {
        let level = level.min(MAX_DELAY_LEVEL);
        fail.eq(
            at,
            "delayed message topic",
            r.topic_str().as_ref(),
            SCHEDULE_TOPIC,
        );
        fail.eq(
            at,
            "delayed message queueId (level - 1)",
            &r.queue_id,
            &(level - 1),
        );
        let get = |name: &str| properties::get(r.properties, name).map(|c| c.into_owned());
        fail.eq(
            at,
            "REAL_TOPIC property",
            &get(properties::REAL_TOPIC),
            &Some(topic.clone()),
        );
        fail.eq(
            at,
            "REAL_QID property",
            &get(properties::REAL_QID),
            &Some(qid.to_string()),
        );
        fail.eq(
            at,
            "DELAY property",
            &get(properties::DELAY),
            &Some(level.to_string()),
        );
    }
}

fn check_segments_vs_reader(
    f: &Fixture,
    segs: &Segments,
    w: &Walk<'_>,
    reader: &Reader,
    fail: &mut Failures,
) {
    fail.eq(
        &f.name,
        "segments holding data vs reader.json commitLogSegments",
        &w.segments_with_data,
        &reader.commit_log_segments.len(),
    );
    let want_blanks: Vec<(i64, i64)> = reader
        .commit_log_segments
        .iter()
        .filter_map(|s| Some((s.blank_at_offset?, s.blank_total_size?)))
        .collect();
    fail.eq(
        &f.name,
        "blank records (offset, total size)",
        &w.blanks,
        &want_blanks,
    );
    for s in &reader.commit_log_segments {
        let at = format!("{}: commitlog segment {:020}", f.name, s.file_start_offset);
        let Some((_, _, data)) = segs
            .files
            .iter()
            .find(|(start, _, _)| *start == s.file_start_offset)
        else {
            fail.push(format!("{at}: no such file"));
            continue;
        };
        let seg_end = s.file_start_offset + data.len() as i64;
        let want_size = if seg_end <= w.end {
            data.len() as i64
        } else {
            w.end - s.file_start_offset
        };
        fail.eq(
            &at,
            "data size (getCommitLogDataSize)",
            &s.get_commit_log_data_size,
            &want_size,
        );
        if (0..=data.len() as i64).contains(&s.get_commit_log_data_size) {
            let got = sha256_hex(&data[..s.get_commit_log_data_size as usize]);
            fail.eq(
                &at,
                "sha256 of the data (getCommitLogDataSha256)",
                &got,
                &s.get_commit_log_data_sha256,
            );
        }
        match (s.blank_at_offset, s.blank_total_size, s.blank_magic) {
            (Some(at_off), Some(size), Some(magic)) => {
                fail.eq(&at, "blankMagic", &magic, &(BLANK_MAGIC as i32));
                fail.eq(
                    &at,
                    "blank record runs to the segment end",
                    &(at_off + size),
                    &seg_end,
                );
                // Only the 8-byte header is meaningful (4.6.0 leaves stale bytes after it).
                let p = (at_off - s.file_start_offset) as usize;
                if p + 8 <= data.len() {
                    let mut want = [0u8; 8];
                    want[..4].copy_from_slice(&(size as i32).to_be_bytes());
                    want[4..].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
                    fail.eq(&at, "blank header bytes", &data[p..p + 8], &want[..]);
                }
            }
            (None, None, None) => {}
            other => fail.push(format!("{at}: partial blank description {other:?}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Records vs reader.json
// ---------------------------------------------------------------------------------------------

fn records_vs_reader(f: &Fixture) {
    let reader = f.reader();
    let segs = Segments::load(f);
    let mut fail = Failures::new(format!("{} records vs reader.json", f.name));
    let w = walk(f, &segs, &mut fail);
    let by_offset: HashMap<i64, &Found<'_>> = w.records.iter().map(|r| (r.offset, r)).collect();
    let delay_levels = DelayLevels::default();
    let mut seen: BTreeMap<i64, &'static str> = BTreeMap::new();

    for q in &reader.queues {
        let qat = format!("{}: queue {} / {}", f.name, q.topic, q.queue_id);
        fail.eq(
            &qat,
            "maxOffset - minOffset vs number of messages",
            &(q.max_offset - q.min_offset),
            &(q.messages.len() as i64),
        );
        for (i, rm) in q.messages.iter().enumerate() {
            let at = format!(
                "{qat}, queue offset {}, commitlog offset {}",
                rm.queue_offset, rm.commit_log_offset
            );
            fail.eq(
                &at,
                "reader message topic vs its queue",
                &rm.topic,
                &q.topic,
            );
            fail.eq(
                &at,
                "reader message queueId vs its queue",
                &rm.queue_id,
                &q.queue_id,
            );
            fail.eq(
                &at,
                "queue offset (minOffset + index)",
                &rm.queue_offset,
                &(q.min_offset + i as i64),
            );
            if seen.insert(rm.commit_log_offset, "queue").is_some() {
                fail.push(format!("{at}: offset listed twice in reader.json"));
            }
            let Some(found) = by_offset.get(&rm.commit_log_offset) else {
                fail.push(format!("{at}: no record of ours starts at this offset"));
                continue;
            };
            compare_reader_message(&at, found, rm, &mut fail);
            fail.check(is_dispatched_to_cq(found.record.sys_flag), || {
                format!(
                    "{at}: in a consume queue but is_dispatched_to_cq(sysFlag {}) is false",
                    found.record.sys_flag
                )
            });
            match rm.cq_tags_code {
                Some(code) => {
                    check_tags_code(f, &at, "cqTagsCode", code, found, &delay_levels, &mut fail)
                }
                None => fail.push(format!("{at}: queue message without cqTagsCode")),
            }
        }
    }
    for rm in &reader.messages_not_in_consume_queue {
        let at = format!(
            "{}: not-in-CQ message at commitlog offset {}",
            f.name, rm.commit_log_offset
        );
        if seen.insert(rm.commit_log_offset, "not in CQ").is_some() {
            fail.push(format!("{at}: offset listed twice in reader.json"));
        }
        let Some(found) = by_offset.get(&rm.commit_log_offset) else {
            fail.push(format!("{at}: no record of ours starts at this offset"));
            continue;
        };
        compare_reader_message(&at, found, rm, &mut fail);
        fail.check(!is_dispatched_to_cq(found.record.sys_flag), || {
            format!(
                "{at}: in no consume queue but is_dispatched_to_cq(sysFlag {}) is true",
                found.record.sys_flag
            )
        });
        fail.check(rm.cq_tags_code.is_none(), || {
            format!("{at}: has a cqTagsCode")
        });
    }
    // Every record we decoded is in reader.json exactly once; the ones in no consume queue are
    // exactly the PREPARED/ROLLBACK ones.
    for r in &w.records {
        let want = if is_dispatched_to_cq(r.record.sys_flag) {
            "queue"
        } else {
            "not in CQ"
        };
        match seen.get(&r.offset) {
            None => fail.push(format!(
                "{}: offset {}: our record is not in reader.json",
                f.name, r.offset
            )),
            Some(got) => fail.eq(
                &format!(
                    "{}: offset {} (sysFlag {})",
                    f.name, r.offset, r.record.sys_flag
                ),
                "reader.json section",
                *got,
                want,
            ),
        }
    }
    fail.eq(
        &f.name,
        "reader.json lookMessageByOffsetOk vs our record count",
        &(reader.look_message_by_offset_ok as usize),
        &w.records.len(),
    );
    fail.eq(
        &f.name,
        "reader.json lookMessageByOffsetBad",
        &reader.look_message_by_offset_bad,
        &0,
    );
    fail.check(reader.problems.is_empty(), || {
        format!(
            "{}: reader.json lists problems {:?}",
            f.name, reader.problems
        )
    });
    fail.finish();
}

fn compare_reader_message(at: &str, found: &Found<'_>, rm: &ReaderMessage, fail: &mut Failures) {
    let r = &found.record;
    fail.eq(at, "storeSize", &(found.bytes.len() as i64), &rm.store_size);
    fail.eq(
        at,
        "recordSha256 (sha256 of the whole record)",
        &sha256_hex(found.bytes),
        &rm.record_sha256,
    );
    fail.eq(
        at,
        "msgId",
        &create_message_id(&r.store_host, found.offset),
        &rm.msg_id,
    );
    fail.eq(at, "topic", r.topic_str().as_ref(), rm.topic.as_str());
    if let Some(m) = &rm.magic {
        fail.eq(at, "magic", magic_name(r.magic), m.as_str());
    }
    fail.eq(at, "queueId", &r.queue_id, &rm.queue_id);
    fail.eq(at, "queueOffset", &r.queue_offset, &rm.queue_offset);
    fail.eq(
        at,
        "PHYSICALOFFSET",
        &r.physical_offset,
        &rm.commit_log_offset,
    );
    fail.eq(at, "sysFlag", &r.sys_flag, &rm.sys_flag);
    fail.eq(at, "flag", &r.flag, &rm.flag);
    fail.eq(at, "bornTimestamp", &r.born_timestamp, &rm.born_timestamp);
    fail.eq(at, "bornHost", &r.born_host.to_string(), &rm.born_host);
    fail.eq(
        at,
        "storeTimestamp",
        &r.store_timestamp,
        &rm.store_timestamp,
    );
    fail.eq(at, "storeHost", &r.store_host.to_string(), &rm.store_host);
    fail.eq(
        at,
        "reconsumeTimes",
        &r.reconsume_times,
        &rm.reconsume_times,
    );
    fail.eq(
        at,
        "preparedTransactionOffset",
        &r.prepared_transaction_offset,
        &rm.prepared_transaction_offset,
    );
    fail.eq(at, "bodyCrc", &(r.body_crc as i64), &rm.body_crc);
    fail.eq(at, "bodyLength", &(r.body.len() as i64), &rm.body_length);
    fail.eq(at, "bodySha256", &sha256_hex(r.body), &rm.body_sha256);
    fail.eq(
        at,
        "propertiesString",
        r.properties_str().as_ref(),
        rm.properties_string.as_str(),
    );
}

// ---------------------------------------------------------------------------------------------
// Consume queues
// ---------------------------------------------------------------------------------------------

fn consume_queues(f: &Fixture) {
    let reader = f.reader();
    let segs = Segments::load(f);
    let mut fail = Failures::new(format!("{} consume queues", f.name));
    let w = walk(f, &segs, &mut fail);
    let by_offset: HashMap<i64, &Found<'_>> = w.records.iter().map(|r| (r.offset, r)).collect();
    let delay_levels = DelayLevels::default();

    // (topic, queueId) -> reader queue
    let queues: BTreeMap<(String, i32), &common::ReaderQueue> = reader
        .queues
        .iter()
        .map(|q| ((q.topic.clone(), q.queue_id), q))
        .collect();
    fail.eq(
        &f.name,
        "distinct queues in reader.json",
        &queues.len(),
        &reader.queues.len(),
    );

    // The queues on disk.
    let cq_root = f.store_dir.join("consumequeue");
    let mut on_disk: BTreeSet<(String, i32)> = BTreeSet::new();
    let mut topic_dirs: Vec<_> = fs::read_dir(&cq_root)
        .unwrap_or_else(|e| panic!("{}: cannot list {}: {e}", f.name, cq_root.display()))
        .map(|e| e.unwrap().path())
        .collect();
    topic_dirs.sort();
    for tdir in topic_dirs {
        let topic = tdir.file_name().unwrap().to_string_lossy().into_owned();
        let mut qdirs: Vec<_> = fs::read_dir(&tdir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        qdirs.sort();
        for qdir in qdirs {
            let qname = qdir.file_name().unwrap().to_string_lossy().into_owned();
            let Ok(queue_id) = qname.parse::<i32>() else {
                fail.push(format!(
                    "{}: consumequeue/{topic}/{qname}: not a queue id",
                    f.name
                ));
                continue;
            };
            on_disk.insert((topic.clone(), queue_id));
            let qat = format!("{}: consumequeue/{topic}/{queue_id}", f.name);
            let Some(q) = queues.get(&(topic.clone(), queue_id)) else {
                fail.push(format!("{qat}: queue on disk but not in reader.json"));
                continue;
            };

            let files = numbered_files(&qdir);
            let mut next_unit: Option<i64> = None; // logical offset after the last valid unit
            let mut min_offset: Option<i64> = None;
            let mut prev_end: Option<u64> = None;
            'files: for (start, path) in &files {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let data = fs::read(path).unwrap();
                let fat = format!("{qat}/{name}");
                fail.check(data.len() % CQ_UNIT_SIZE == 0 && !data.is_empty(), || {
                    format!(
                        "{fat}: file length {} is not a positive multiple of 20",
                        data.len()
                    )
                });
                fail.check(*start % CQ_UNIT_SIZE as u64 == 0, || {
                    format!("{fat}: name is not a multiple of 20")
                });
                if let Some(pe) = prev_end {
                    fail.eq(
                        &fat,
                        "file start (previous start + previous length)",
                        start,
                        &pe,
                    );
                }
                prev_end = Some(start + data.len() as u64);
                for pos in (0..data.len() / CQ_UNIT_SIZE * CQ_UNIT_SIZE).step_by(CQ_UNIT_SIZE) {
                    let unit = match CqUnit::decode(&data[pos..]) {
                        Ok(u) => u,
                        Err(e) => {
                            fail.push(format!("{fat}: position {pos}: {e}"));
                            break 'files;
                        }
                    };
                    let index = ((start + pos as u64) / CQ_UNIT_SIZE as u64) as i64;
                    if !unit.is_valid() {
                        // Java's recovery stops at the first unit with offset < 0 or size <= 0.
                        break 'files;
                    }
                    if let Some(n) = next_unit {
                        fail.eq(&fat, "queue offset of the unit", &index, &n);
                    }
                    next_unit = Some(index + 1);
                    if min_offset.is_none() && unit.commitlog_offset >= reader.min_phy_offset {
                        min_offset = Some(index);
                    }
                    let at = format!("{fat}: position {pos} (queue offset {index})");
                    check_unit(
                        f,
                        &at,
                        &unit,
                        index,
                        &topic,
                        queue_id,
                        q,
                        &by_offset,
                        &delay_levels,
                        &mut fail,
                    );
                }
            }
            let min = min_offset.unwrap_or(q.max_offset);
            let max = next_unit.unwrap_or(min);
            fail.eq(&qat, "minOffset vs reader.json", &min, &q.min_offset);
            if reader.abort_file_existed_before_load {
                // After a crash the files on disk may lag: Java's recovery re-dispatches the rest
                // from the commitlog. What is there must be a prefix.
                fail.check(max <= q.max_offset, || {
                    format!(
                        "{qat}: {max} units on disk, more than reader.json's maxOffset {}",
                        q.max_offset
                    )
                });
            } else {
                fail.eq(&qat, "maxOffset vs reader.json", &max, &q.max_offset);
            }
        }
    }
    for key in queues.keys() {
        if !on_disk.contains(key) {
            fail.push(format!(
                "{}: queue {} / {} in reader.json has no consumequeue folder",
                f.name, key.0, key.1
            ));
        }
    }
    fail.finish();
}

#[allow(clippy::too_many_arguments)]
fn check_unit(
    f: &Fixture,
    at: &str,
    unit: &CqUnit,
    index: i64,
    topic: &str,
    queue_id: i32,
    q: &common::ReaderQueue,
    by_offset: &HashMap<i64, &Found<'_>>,
    delay_levels: &DelayLevels,
    fail: &mut Failures,
) {
    // Against reader.json's message at that queue offset.
    match usize::try_from(index - q.min_offset)
        .ok()
        .and_then(|i| q.messages.get(i))
    {
        Some(rm) => {
            fail.eq(
                at,
                "unit commitlog offset vs reader.json",
                &unit.commitlog_offset,
                &rm.commit_log_offset,
            );
            fail.eq(
                at,
                "unit size vs reader.json storeSize",
                &(unit.size as i64),
                &rm.store_size,
            );
            fail.eq(
                at,
                "unit tagsCode vs reader.json cqTagsCode",
                &Some(unit.tags_code),
                &rm.cq_tags_code,
            );
        }
        None => fail.push(format!(
            "{at}: reader.json has no message at this queue offset"
        )),
    }
    // Against our own decoding of the commitlog.
    let Some(found) = by_offset.get(&unit.commitlog_offset) else {
        fail.push(format!(
            "{at}: no record of ours at commitlog offset {}",
            unit.commitlog_offset
        ));
        return;
    };
    let r = &found.record;
    fail.eq(
        at,
        "unit size vs record TOTALSIZE",
        &(unit.size as usize),
        &found.bytes.len(),
    );
    fail.eq(
        at,
        "record topic vs queue folder",
        r.topic_str().as_ref(),
        topic,
    );
    fail.eq(at, "record queueId vs queue folder", &r.queue_id, &queue_id);
    fail.eq(
        at,
        "record QUEUEOFFSET vs unit index",
        &r.queue_offset,
        &index,
    );
    check_tags_code(
        f,
        at,
        "unit tagsCode",
        unit.tags_code,
        found,
        delay_levels,
        fail,
    );
}

/// Checks a consume-queue tagsCode written by Java against the record it points at.
///
/// 4.x and 5.x compute it from the record (`record_tags_code`: the TAGS hash, or for a delayed
/// message STORETIMESTAMP + the level's delay), so it must be exactly that.
///
/// 3.x is different (`CommitLog#putMessage` of 3.2.6): it stamps the message with
/// `System.currentTimeMillis()` *before* the put lock, computes the delayed message's delivery
/// time (the tagsCode) from that stamp, and then re-stamps STORETIMESTAMP inside the lock from
/// the store's cached `SystemClock`, which may lag the real clock by a millisecond or two. The
/// stamp the tagsCode was computed from is therefore not in the record: it is at or after
/// BORNTIMESTAMP (the producer stamped the message before putting it) and within a few ms of
/// STORETIMESTAMP, possibly after it. In the 3.2.6 fixture it equals BORNTIMESTAMP for all 43
/// delayed records; 24 of them differ by 1-2 ms from the 4.x rule. A 4.6.0 store that loads
/// this 3.2.6 store keeps these units as they are (reader-4.6.0-check.json: queues identical).
fn check_tags_code(
    f: &Fixture,
    at: &str,
    what: &str,
    got: i64,
    found: &Found<'_>,
    delay_levels: &DelayLevels,
    fail: &mut Failures,
) {
    let r = &found.record;
    let props = found.props();
    let want = match record_tags_code(r, &props, delay_levels) {
        Ok(code) => code,
        Err(e) => return fail.push(format!("{at}: record_tags_code failed: {e}")),
    };
    let delayed = r.topic == SCHEDULE_TOPIC.as_bytes() && props.delay.is_some();
    if f.version.starts_with("3.") && delayed {
        let level: i32 = props
            .delay
            .as_deref()
            .unwrap()
            .parse()
            .unwrap_or(0)
            .min(delay_levels.max_level());
        let lo = delay_levels.deliver_timestamp(level, r.born_timestamp);
        let hi = delay_levels.deliver_timestamp(
            level,
            r.store_timestamp.max(r.born_timestamp) + CLOCK_SLACK_MS,
        );
        fail.check((lo..=hi).contains(&got), || {
            format!(
                "{at}: {what}: got {got}, want a 3.x delivery time in [{lo}, {hi}] (level {level} \
                 delay after a put stamp between BORNTIMESTAMP {} and STORETIMESTAMP {} + {CLOCK_SLACK_MS} ms)",
                r.born_timestamp, r.store_timestamp
            )
        });
    } else {
        fail.eq(at, &format!("{what} vs record_tags_code"), &got, &want);
    }
}

// ---------------------------------------------------------------------------------------------
// The fixtures themselves
// ---------------------------------------------------------------------------------------------

/// The stores are byte-for-byte what the Java runs left (manifest `filesAfterShutdown`), and
/// `copy_store_to_temp` + `tree_digest` reproduce them exactly.
#[test]
fn fixture_stores_are_intact_and_copy_exactly() {
    let mut fail = Failures::new("fixture stores");
    for f in all_fixtures() {
        let digest = common::tree_digest(&f.store_dir);
        if let Some(files) = f.manifest().files_after_shutdown {
            let want: BTreeMap<String, String> = files
                .iter()
                .map(|e| (e.path.clone(), e.sha256.clone()))
                .collect();
            let got: BTreeMap<String, String> = digest
                .iter()
                .filter(|(_, v)| *v != "<dir>")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (path, sha) in &want {
                match got.get(path) {
                    None => fail.push(format!("{}: store/{path} is missing", f.name)),
                    Some(g) => fail.eq(&format!("{}: store/{path}", f.name), "sha256", g, sha),
                }
                let len = fs::metadata(f.store_dir.join(path))
                    .map(|m| m.len())
                    .unwrap_or(u64::MAX);
                let want_len = files.iter().find(|e| &e.path == path).unwrap().length;
                fail.eq(
                    &format!("{}: store/{path}", f.name),
                    "length",
                    &len,
                    &want_len,
                );
            }
            for path in got.keys().filter(|p| !want.contains_key(*p)) {
                fail.push(format!(
                    "{}: store/{path} is not in filesAfterShutdown",
                    f.name
                ));
            }
        }
        let copy = common::copy_store_to_temp(&f);
        fail.eq(
            &f.name,
            "tree digest of the copy",
            &common::tree_digest(copy.path()),
            &digest,
        );
        for (path, kind) in &digest {
            if kind == "<dir>" {
                continue;
            }
            let (src, dst) = (f.store_dir.join(path), copy.path().join(path));
            let (ms, md) = (fs::metadata(&src).unwrap(), fs::metadata(&dst).unwrap());
            fail.check(!md.permissions().readonly(), || {
                format!("{}: copy of {path} is read-only", f.name)
            });
            fail.eq(
                &format!("{}: copy of {path}", f.name),
                "mtime",
                &md.modified().unwrap(),
                &ms.modified().unwrap(),
            );
        }
    }
    fail.finish();
}

// ---------------------------------------------------------------------------------------------
// One set of tests per fixture
// ---------------------------------------------------------------------------------------------

macro_rules! fixture_tests {
    ($($module:ident => $version:literal, $variant:literal;)*) => {
        $(
            mod $module {
                use super::*;
                fn fixture() -> Fixture {
                    Fixture::new($version, $variant)
                }
                #[test]
                fn commitlog_vs_manifest() {
                    super::commitlog_vs_manifest(&fixture());
                }
                #[test]
                fn records_vs_reader() {
                    super::records_vs_reader(&fixture());
                }
                #[test]
                fn consume_queues() {
                    super::consume_queues(&fixture());
                }
            }
        )*

        /// The per-fixture modules above cover exactly `all_fixtures()`.
        #[test]
        fn every_fixture_is_covered() {
            let covered: BTreeSet<String> =
                [$(format!("rocketmq-{}/{}", $version, $variant)),*].into_iter().collect();
            let all: BTreeSet<String> = all_fixtures().into_iter().map(|f| f.name).collect();
            assert_eq!(covered, all);
            for f in all_fixtures() {
                assert!(f.store_dir.join("commitlog").is_dir(), "{}: no store/commitlog", f.name);
                assert!(f.dir.join("manifest.json").is_file(), "{}: no manifest.json", f.name);
                assert!(f.dir.join("reader.json").is_file(), "{}: no reader.json", f.name);
            }
        }
    };
}

fixture_tests! {
    v4_6_0_async => "4.6.0", "async";
    v4_6_0_sync => "4.6.0", "sync";
    v4_6_0_transient => "4.6.0", "transient";
    v4_6_0_crashed => "4.6.0", "crashed";
    v5_3_3_async => "5.3.3", "async";
    v5_3_3_crc => "5.3.3", "crc";
    v3_2_6_async => "3.2.6", "async";
}
