//! Helpers shared by the integration tests: the Java-written fixtures, typed views of their
//! `manifest.json` and `reader.json`, and tools to copy a store and to fingerprint a tree.
//!
//! Each test binary uses a subset of these, hence the `dead_code` allowances.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

pub mod replay;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// `tests/fixtures/java`: the stores written by Apache RocketMQ's own Java engine.
pub fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/java")
}

/// Every fixture, as `(version, variant)`.
pub const FIXTURES: [(&str, &str); 7] = [
    ("4.6.0", "async"),
    ("4.6.0", "sync"),
    ("4.6.0", "transient"),
    ("4.6.0", "crashed"),
    ("5.3.3", "async"),
    ("5.3.3", "crc"),
    ("3.2.6", "async"),
];

/// One fixture folder: `tests/fixtures/java/rocketmq-<version>/<variant>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    /// `rocketmq-<version>/<variant>`, used in failure messages.
    pub name: String,
    /// The fixture folder (holds `store/`, `manifest.json`, `reader.json`).
    pub dir: PathBuf,
    /// The store root as the Java engine left it. Never write to it: copy it first.
    pub store_dir: PathBuf,
    /// The RocketMQ version, e.g. `4.6.0`.
    pub version: String,
    /// The run variant, e.g. `async`, `crashed`, `crc`.
    pub variant: String,
}

impl Fixture {
    pub fn new(version: &str, variant: &str) -> Fixture {
        let name = format!("rocketmq-{version}/{variant}");
        let dir = fixture_root().join(&name);
        Fixture {
            store_dir: dir.join("store"),
            dir,
            name,
            version: version.to_string(),
            variant: variant.to_string(),
        }
    }

    /// Parses `manifest.json` (panics with the fixture name on error).
    pub fn manifest(&self) -> Manifest {
        read_json(&self.dir.join("manifest.json"))
    }

    /// Parses `reader.json` (panics with the fixture name on error).
    pub fn reader(&self) -> Reader {
        read_json(&self.dir.join("reader.json"))
    }

    /// The commitlog segments, sorted by name (= by start offset): `(start offset, path)`.
    pub fn commitlog_segments(&self) -> Vec<(u64, PathBuf)> {
        numbered_files(&self.store_dir.join("commitlog"))
    }

    /// True for the 5.x runs with `enabledAppendPropCRC=true`.
    pub fn append_prop_crc(&self) -> bool {
        self.manifest()
            .store_config_changed
            .get("enabledAppendPropCRC")
            == Some(&serde_json::Value::Bool(true))
    }
}

/// All seven fixtures.
pub fn all_fixtures() -> Vec<Fixture> {
    FIXTURES
        .iter()
        .map(|(version, variant)| Fixture::new(version, variant))
        .collect()
}

/// One fixture by name, `rocketmq-4.6.0/async` or `4.6.0/async`.
pub fn fixture(name: &str) -> Fixture {
    let short = name.strip_prefix("rocketmq-").unwrap_or(name);
    let (version, variant) = short
        .split_once('/')
        .unwrap_or_else(|| panic!("fixture name `{name}` is not <version>/<variant>"));
    let f = Fixture::new(version, variant);
    assert!(f.dir.is_dir(), "no fixture folder {}", f.dir.display());
    f
}

/// The files of a folder whose names are decimal numbers (commitlog segments, consume-queue
/// files), sorted by that number. Other names are ignored.
pub fn numbered_files(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| {
            let e = e.ok()?;
            if !e.file_type().ok()?.is_file() {
                return None;
            }
            let n: u64 = e.file_name().to_str()?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    v.sort();
    v
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// manifest.json
// ---------------------------------------------------------------------------------------------

/// What the writing run did: its config, environment, and every message put, in put order.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub env: Env,
    pub variant: String,
    pub seed: i64,
    pub mix: String,
    /// "2100", "default"... (absent in 5.3.3 runs).
    pub count: Option<String>,
    /// The store config the run changed. Key names follow the version: 3.2.6 spells
    /// `mapedFileSizeCommitLog`, later versions `mappedFileSizeCommitLog`.
    pub store_config_changed: serde_json::Value,
    pub store_config_relevant_defaults: serde_json::Value,
    pub write_start_millis: i64,
    pub write_end_millis: i64,
    pub max_phy_offset: i64,
    pub min_phy_offset: i64,
    pub message_record_count: usize,
    /// topic -> queueId (as a string) -> min/max queue offset right after the writes.
    pub queues_after_write: BTreeMap<String, BTreeMap<String, MinMax>>,
    /// "clean" for the runs that shut down (absent for the crashed run).
    pub shutdown: Option<String>,
    /// Crashed run only.
    pub crash_note: Option<String>,
    #[serde(rename = "checkpointAtKill_physicMsgTimestamp")]
    pub checkpoint_at_kill_physic_msg_timestamp: Option<i64>,
    #[serde(rename = "checkpointAtKill_logicsMsgTimestamp")]
    pub checkpoint_at_kill_logics_msg_timestamp: Option<i64>,
    #[serde(rename = "checkpointAtKill_indexMsgTimestamp")]
    pub checkpoint_at_kill_index_msg_timestamp: Option<i64>,
    pub messages: Vec<ManifestMessage>,
    /// Every file of `store/` after shutdown (absent for the crashed run).
    pub files_after_shutdown: Option<Vec<FileEntry>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Env {
    pub rocketmq_version: String,
    pub rocketmq_git_tag: String,
    pub java_version: String,
    pub java_vm_name: Option<String>,
    pub os_name: Option<String>,
    /// The JVM's zone (index file names are creation times in it).
    pub user_timezone: String,
    pub timezone_offset_minutes_now: i64,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct MinMax {
    pub min: i64,
    pub max: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub length: u64,
    pub sha256: String,
}

/// One message as put, with what the put returned.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestMessage {
    pub seq: u64,
    /// What the message exercises: `normal`, `batch`, `delay`, `txn-prepared`, `normal+bornV6`...
    pub kind: String,
    pub topic: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub wrote_offset: i64,
    pub wrote_bytes: i64,
    pub msg_id: String,
    /// The STORETIMESTAMP in the record.
    pub store_timestamp: i64,
    /// Batches only: the time the put result reports (4.6.0 stamps records at encode time).
    pub store_timestamp_from_put_result: Option<i64>,
    pub born_timestamp: i64,
    pub sys_flag: i32,
    pub flag: i32,
    pub tags: Option<String>,
    pub keys: Option<String>,
    /// The properties as stored, except that the 5.x `__CRC32#` tail is not included.
    pub properties_string: String,
    /// 5.x batches: the item's properties as the producer encoded them.
    pub producer_properties_string: Option<String>,
    pub body_length: i64,
    pub body_sha256: String,
    pub body_crc: i64,
    pub born_host: String,
    pub store_host: String,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub batch_size: Option<u32>,
    pub batch_index: Option<u32>,
    /// Delayed and retry messages: where the producer sent it before the store rewrote it to
    /// `SCHEDULE_TOPIC_XXXX`.
    pub requested_topic: Option<String>,
    pub requested_queue_id: Option<i32>,
    pub delay_level: Option<i32>,
    /// Only when the put did not return PUT_OK (e.g. `FLUSH_DISK_TIMEOUT`, the message is stored).
    pub put_status: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// reader.json
// ---------------------------------------------------------------------------------------------

/// What a fresh Java store read back from a copy of `store/` after load and recovery.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reader {
    pub env: Env,
    pub reader_role: String,
    pub abort_file_existed_before_load: bool,
    pub min_phy_offset: i64,
    pub max_phy_offset: i64,
    pub queues: Vec<ReaderQueue>,
    pub commit_log_segments: Vec<CommitLogSegment>,
    pub look_message_by_offset_ok: u64,
    pub look_message_by_offset_bad: u64,
    pub messages_not_in_consume_queue: Vec<ReaderMessage>,
    pub queries_note: Option<String>,
    /// topic -> key (a KEYS token or a UNIQ_KEY) -> sorted physical offsets found.
    pub queries: BTreeMap<String, BTreeMap<String, Vec<i64>>>,
    pub manifest_check: serde_json::Value,
    pub problems: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReaderQueue {
    pub topic: String,
    pub queue_id: i32,
    pub min_offset: i64,
    pub max_offset: i64,
    /// Every message of the queue, in queue-offset order from `min_offset`.
    pub messages: Vec<ReaderMessage>,
}

/// A message as Java's reader decoded it from the commitlog.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReaderMessage {
    pub topic: String,
    /// `V1` or `V2` (5.x readers only).
    pub magic: Option<String>,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    pub store_size: i64,
    pub msg_id: String,
    pub sys_flag: i32,
    pub flag: i32,
    pub born_timestamp: i64,
    pub born_host: String,
    pub store_timestamp: i64,
    pub store_host: String,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body_crc: i64,
    pub body_length: i64,
    pub body_sha256: String,
    /// The complete stored properties (including any `__CRC32#` tail).
    pub properties_string: String,
    /// sha256 of the whole record bytes.
    pub record_sha256: String,
    /// The tagsCode of the consume-queue unit (queue messages only).
    pub cq_tags_code: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitLogSegment {
    pub file_start_offset: i64,
    /// Bytes of the segment holding data (the whole file for a completed segment).
    pub get_commit_log_data_size: i64,
    /// sha256 of those bytes.
    pub get_commit_log_data_sha256: String,
    /// Completed segments only: the blank end-of-segment record.
    pub blank_at_offset: Option<i64>,
    pub blank_total_size: Option<i64>,
    pub blank_magic: Option<i32>,
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Copies a fixture's `store/` into a fresh temporary folder (the folder itself is the store
/// root). Files are made writable; modification times are kept.
pub fn copy_store_to_temp(f: &Fixture) -> tempfile::TempDir {
    let tmp = tempfile::Builder::new()
        .prefix("rmqstore-fixture-")
        .tempdir()
        .expect("create temp dir");
    copy_tree(&f.store_dir, tmp.path()).unwrap_or_else(|e| {
        panic!(
            "copy {} to {}: {e}",
            f.store_dir.display(),
            tmp.path().display()
        )
    });
    tmp
}

/// Recursively copies the contents of `from` into the existing folder `to`.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let ft = entry.file_type()?;
        if ft.is_dir() {
            fs::create_dir_all(&dst)?;
            copy_tree(&src, &dst)?;
        } else if ft.is_file() {
            fs::copy(&src, &dst)?;
            let mut perms = fs::metadata(&dst)?.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            fs::set_permissions(&dst, perms)?;
            let mtime = entry.metadata()?.modified()?;
            fs::OpenOptions::new()
                .write(true)
                .open(&dst)?
                .set_modified(mtime)?;
        }
    }
    Ok(())
}

/// Fingerprint of a tree: relative path (`/`-separated) -> sha256 hex of the file content, and
/// `<dir>` for each folder. Two trees with equal digests hold the same files with the same bytes.
pub fn tree_digest(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry"))
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                out.insert(rel, "<dir>".to_string());
                walk(root, &path, out);
            } else {
                let data = fs::read(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                out.insert(rel, sha256_hex(&data));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Failure collection
// ---------------------------------------------------------------------------------------------

/// Collects mismatches so one run reports many of them (each naming fixture, offset and field),
/// then fails once at the end.
#[derive(Debug)]
pub struct Failures {
    context: String,
    items: Vec<String>,
    limit: usize,
    dropped: usize,
}

impl Failures {
    pub fn new(context: impl Into<String>) -> Self {
        Failures {
            context: context.into(),
            items: Vec::new(),
            limit: 60,
            dropped: 0,
        }
    }

    pub fn push(&mut self, msg: impl Into<String>) {
        if self.items.len() < self.limit {
            self.items.push(msg.into());
        } else {
            self.dropped += 1;
        }
    }

    /// Records a failure when `got != want`: `<at>: <field>: got .., want ..`.
    pub fn eq<T: PartialEq + std::fmt::Debug + ?Sized>(
        &mut self,
        at: &str,
        field: &str,
        got: &T,
        want: &T,
    ) {
        if got != want {
            self.push(format!("{at}: {field}: got {got:?}, want {want:?}"));
        }
    }

    pub fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.push(msg());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len() + self.dropped
    }

    /// Panics listing every failure, if any.
    pub fn finish(self) {
        if self.items.is_empty() {
            return;
        }
        let mut s = format!(
            "{}: {} failure(s):\n",
            self.context,
            self.items.len() + self.dropped
        );
        for i in &self.items {
            s.push_str("  - ");
            s.push_str(i);
            s.push('\n');
        }
        if self.dropped > 0 {
            s.push_str(&format!("  ... and {} more\n", self.dropped));
        }
        panic!("{s}");
    }
}

/// The store config the Java fixtures were written with: 1 MiB commitlog segments, 4000-byte
/// consume-queue files, index files of 1000 slots and 4000 entries.
#[allow(dead_code)]
pub fn fixture_store_config(root: &Path) -> rmqstore::StoreConfig {
    let mut c = rmqstore::StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 1_048_576;
    c.mapped_file_size_consume_queue_raw = 4000;
    c.max_hash_slot_num = 1000;
    c.max_index_num = 4000;
    c
}

/// Relative path -> bytes of every file under `dir` (missing dir: empty).
#[allow(dead_code)]
pub fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}
