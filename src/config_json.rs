//! Reading the broker's `config/*.json` files (`topics.json`, `consumerOffset.json`,
//! `delayOffset.json`) as RocketMQ writes them with fastjson.
//!
//! fastjson writes integer map keys without quotes (`{0:123,1:456}`), which strict JSON rejects,
//! so the text goes through [`quote_unquoted_numeric_keys`] before `serde_json`. Fields this
//! crate does not know (5.x adds some) are kept in `extra` and written back.
//!
//! Writing ([`ConfigJsonFile::persist`]) produces fastjson's pretty text and rotates the old
//! file to `.bak` as `ConfigManager#persist` does (see `write.rs`), so a Rust broker can take
//! over a Java broker's store root and hand it back.
//!
//! Loading follows `ConfigManager#load`: read `<f>`; when it is missing, empty or does not parse,
//! read `<f>.bak` instead.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{Result, StoreError};

mod write;
pub use write::persist_text;
use write::{bean_with_extra, to_text, Fj};

/// Puts quotes around object keys that are bare numbers (`{0:1,-1:2}` → `{"0":1,"-1":2}`),
/// leaving strings, array elements and values alone. Whitespace is kept as it is.
pub fn quote_unquoted_numeric_keys(text: &str) -> String {
    #[derive(PartialEq)]
    enum Container {
        Object,
        Array,
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut stack: Vec<Container> = Vec::new();
    let mut expecting_key = false;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                expecting_key = false;
            }
            '{' => {
                stack.push(Container::Object);
                expecting_key = true;
            }
            '[' => {
                stack.push(Container::Array);
                expecting_key = false;
            }
            '}' | ']' => {
                stack.pop();
                expecting_key = false;
            }
            ',' => expecting_key = stack.last() == Some(&Container::Object),
            c if c.is_whitespace() => {}
            c if expecting_key && (c.is_ascii_digit() || c == '-') => {
                let start = i;
                let mut end = i + 1;
                while end < chars.len()
                    && (chars[end].is_ascii_digit()
                        || matches!(chars[end], '.' | 'e' | 'E' | '+' | '-'))
                {
                    end += 1;
                }
                let mut next = end;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let token: String = chars[start..end].iter().collect();
                if chars.get(next) == Some(&':') {
                    out.push('"');
                    out.push_str(&token);
                    out.push('"');
                } else {
                    out.push_str(&token);
                }
                expecting_key = false;
                i = end;
                continue;
            }
            _ => expecting_key = false,
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Parses fastjson text into `T`.
pub fn parse_fastjson<T: DeserializeOwned>(
    text: &str,
) -> std::result::Result<T, serde_json::Error> {
    serde_json::from_str(&quote_unquoted_numeric_keys(text))
}

/// `DataVersion`: when and how often a table changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    /// `timestamp`: when the data last changed (ms).
    pub timestamp: i64,
    /// `counter`: changes so far.
    pub counter: i64,
}

impl DataVersion {
    /// `DataVersion#nextVersion`: one more change, now.
    pub fn next_version(&mut self, now_ms: i64) {
        self.timestamp = now_ms;
        self.counter += 1;
    }

    fn fj(&self) -> Fj {
        Fj::bean(vec![
            ("counter".into(), Fj::num(self.counter)),
            ("timestamp".into(), Fj::num(self.timestamp)),
        ])
    }
}

/// One `TopicConfig`; missing fields take Java's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigJson {
    /// `topicName` as Java writes it.
    pub topic_name: String,
    /// `readQueueNums` as Java writes it.
    pub read_queue_nums: i32,
    /// `writeQueueNums` as Java writes it.
    pub write_queue_nums: i32,
    /// `PermName` bits: 2 = write, 4 = read, 1 = inherit.
    pub perm: i32,
    /// `SINGLE_TAG` or `MULTI_TAG`.
    pub topic_filter_type: String,
    /// `topicSysFlag` as Java writes it.
    pub topic_sys_flag: i32,
    /// `order` as Java writes it.
    pub order: bool,
    /// Fields of later versions (5.x `attributes`), kept and written back.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl TopicConfigJson {
    /// A topic with `queues` read and write queues, permission 6 (read and write), as
    /// `new TopicConfig(name, queues, queues, 6)`.
    ///
    /// ```
    /// use rmqstore::config_json::{ConfigJsonFile, TopicConfigJson, TopicsJson};
    ///
    /// let mut topics = TopicsJson::default();
    /// topics.topic_config_table.insert("T".into(), TopicConfigJson::new("T", 8));
    /// let text = topics.to_fastjson();
    /// assert!(text.contains("\t\t\t\"readQueueNums\":8,\n"));
    /// assert!(text.contains("\"topicFilterType\":\"SINGLE_TAG\""));
    /// ```
    pub fn new(name: &str, queues: i32) -> TopicConfigJson {
        TopicConfigJson {
            topic_name: name.to_string(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            ..TopicConfigJson::default()
        }
    }

    fn fj(&self) -> Fj {
        bean_with_extra(
            vec![
                ("order".into(), Fj::num(self.order)),
                ("perm".into(), Fj::num(self.perm)),
                ("readQueueNums".into(), Fj::num(self.read_queue_nums)),
                (
                    "topicFilterType".into(),
                    Fj::string(&self.topic_filter_type),
                ),
                ("topicName".into(), Fj::string(&self.topic_name)),
                ("topicSysFlag".into(), Fj::num(self.topic_sys_flag)),
                ("writeQueueNums".into(), Fj::num(self.write_queue_nums)),
            ],
            &self.extra,
        )
    }
}

impl Default for TopicConfigJson {
    fn default() -> Self {
        TopicConfigJson {
            topic_name: String::new(),
            read_queue_nums: 16,
            write_queue_nums: 16,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: 0,
            order: false,
            extra: BTreeMap::new(),
        }
    }
}

/// `topics.json` (`TopicConfigSerializeWrapper`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicsJson {
    /// `topicConfigTable`: topic name to its config.
    pub topic_config_table: BTreeMap<String, TopicConfigJson>,
    /// `dataVersion`.
    pub data_version: Option<DataVersion>,
    /// Fields of later versions, kept and written back.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `ConsumerOffsetManager.TOPIC_GROUP_SEPARATOR`.
pub const TOPIC_GROUP_SEPARATOR: char = '@';

/// Splits an offset-table key `topic@group` at its last `@`. `None` without an `@`.
///
/// Java builds the key as `topic + "@" + group`; where it takes a key apart it uses
/// `split("@")` and skips keys that do not give exactly two parts. Valid topic and group names
/// never contain `@`, so both agree on keys the broker wrote.
pub fn split_topic_group(key: &str) -> Option<(&str, &str)> {
    key.rsplit_once(TOPIC_GROUP_SEPARATOR)
}

/// `consumerOffset.json`: `"topic@group"` → queue id → next offset to consume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerOffsetJson {
    /// `offsetTable` as Java writes it.
    pub offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
    /// Fields of later versions (5.x `dataVersion`), kept and written back.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ConsumerOffsetJson {
    /// `commitOffset`: `group` will consume `topic`/`queue_id` from `offset` next.
    ///
    /// ```
    /// use rmqstore::config_json::{ConfigJsonFile, ConsumerOffsetJson};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut offsets = ConsumerOffsetJson::load(dir.path())?.unwrap_or_default();
    /// offsets.commit_offset("TopicTest", "group_a", 0, 250);
    /// offsets.commit_offset("TopicTest", "group_a", 1, 248);
    /// offsets.persist(dir.path())?;
    /// let text = std::fs::read_to_string(dir.path().join("consumerOffset.json"))?;
    /// assert_eq!(text, "{\n\t\"offsetTable\":{\n\t\t\"TopicTest@group_a\":{0:250,1:248\n\t\t}\n\t}\n}");
    /// let back = ConsumerOffsetJson::load(dir.path())?.unwrap();
    /// assert_eq!(back.query_offset("TopicTest", "group_a", 1), 248);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit_offset(&mut self, topic: &str, group: &str, queue_id: i32, offset: i64) {
        self.offset_table
            .entry(format!("{topic}{TOPIC_GROUP_SEPARATOR}{group}"))
            .or_default()
            .insert(queue_id, offset);
    }

    /// `queryOffset`: the committed offset, or -1.
    pub fn query_offset(&self, topic: &str, group: &str, queue_id: i32) -> i64 {
        self.offsets(topic, group)
            .and_then(|m| m.get(&queue_id).copied())
            .unwrap_or(-1)
    }

    /// The committed offsets of `group` on `topic`.
    pub fn offsets(&self, topic: &str, group: &str) -> Option<&BTreeMap<i32, i64>> {
        self.offset_table
            .get(&format!("{topic}{TOPIC_GROUP_SEPARATOR}{group}"))
    }

    /// Every entry as (topic, group, offsets); keys without `@` are skipped.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, &BTreeMap<i32, i64>)> {
        self.offset_table
            .iter()
            .filter_map(|(k, v)| split_topic_group(k).map(|(t, g)| (t, g, v)))
    }
}

/// `delayOffset.json`: delay level → consume-queue offset reached in `SCHEDULE_TOPIC_XXXX`
/// (queue id = level − 1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DelayOffsetJson {
    /// `offsetTable` as Java writes it.
    pub offset_table: BTreeMap<i32, i64>,
    /// Fields of later versions (5.x `dataVersion`), kept and written back.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One `SubscriptionGroupConfig`; missing fields take 4.6.0's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfigJson {
    /// `groupName` as Java writes it.
    pub group_name: String,
    /// `consumeEnable` as Java writes it.
    pub consume_enable: bool,
    /// `consumeFromMinEnable` as Java writes it.
    pub consume_from_min_enable: bool,
    /// `consumeBroadcastEnable` as Java writes it.
    pub consume_broadcast_enable: bool,
    /// `retryQueueNums` as Java writes it.
    pub retry_queue_nums: i32,
    /// `retryMaxTimes` as Java writes it.
    pub retry_max_times: i32,
    /// `brokerId` as Java writes it.
    pub broker_id: i64,
    /// `whichBrokerWhenConsumeSlowly` as Java writes it.
    pub which_broker_when_consume_slowly: i64,
    /// `notifyConsumerIdsChangedEnable` as Java writes it.
    pub notify_consumer_ids_changed_enable: bool,
    /// Fields of later versions, kept and written back.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Default for SubscriptionGroupConfigJson {
    fn default() -> Self {
        SubscriptionGroupConfigJson {
            group_name: String::new(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            retry_queue_nums: 1,
            retry_max_times: 16,
            broker_id: 0,
            which_broker_when_consume_slowly: 1,
            notify_consumer_ids_changed_enable: true,
            extra: BTreeMap::new(),
        }
    }
}

impl SubscriptionGroupConfigJson {
    /// A group with 4.6.0's defaults.
    pub fn new(group: &str) -> Self {
        SubscriptionGroupConfigJson {
            group_name: group.to_string(),
            ..Default::default()
        }
    }

    fn fj(&self) -> Fj {
        bean_with_extra(
            vec![
                ("brokerId".into(), Fj::num(self.broker_id)),
                (
                    "consumeBroadcastEnable".into(),
                    Fj::num(self.consume_broadcast_enable),
                ),
                ("consumeEnable".into(), Fj::num(self.consume_enable)),
                (
                    "consumeFromMinEnable".into(),
                    Fj::num(self.consume_from_min_enable),
                ),
                ("groupName".into(), Fj::string(&self.group_name)),
                (
                    "notifyConsumerIdsChangedEnable".into(),
                    Fj::num(self.notify_consumer_ids_changed_enable),
                ),
                ("retryMaxTimes".into(), Fj::num(self.retry_max_times)),
                ("retryQueueNums".into(), Fj::num(self.retry_queue_nums)),
                (
                    "whichBrokerWhenConsumeSlowly".into(),
                    Fj::num(self.which_broker_when_consume_slowly),
                ),
            ],
            &self.extra,
        )
    }
}

/// `subscriptionGroup.json` (`SubscriptionGroupManager`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupJson {
    /// `subscriptionGroupTable`: group name to its config.
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfigJson>,
    /// `dataVersion`.
    pub data_version: Option<DataVersion>,
    /// Fields of later versions, kept and written back.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A file under the store's `config/` directory.
pub trait ConfigJsonFile: DeserializeOwned {
    /// The file name under `config/`.
    const FILE_NAME: &'static str;

    /// The text Java 4.6.0 writes for this content (fastjson, pretty format).
    fn to_fastjson(&self) -> String;

    /// Writes `dir/FILE_NAME` as `ConfigManager#persist` does: the previous file becomes
    /// `FILE_NAME.bak` (see [`persist_text`]).
    ///
    /// ```
    /// use rmqstore::config_json::{ConfigJsonFile, DelayOffsetJson};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut d = DelayOffsetJson::default();
    /// d.persist(dir.path())?;
    /// assert!(!dir.path().join("delayOffset.json.bak").exists());
    /// d.offset_table.insert(3, 17);
    /// d.persist(dir.path())?;
    /// // The previous text is the backup, as Java's ConfigManager#persist leaves it.
    /// let bak = std::fs::read_to_string(dir.path().join("delayOffset.json.bak"))?;
    /// assert_eq!(bak, "{\n\t\"offsetTable\":{}\n}");
    /// assert_eq!(DelayOffsetJson::load(dir.path())?.unwrap().offset_table[&3], 17);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn persist(&self, dir: &Path) -> Result<()> {
        persist_text(&dir.join(Self::FILE_NAME), &self.to_fastjson())
    }

    /// Reads `dir/FILE_NAME` the way `ConfigManager#load` does. `dir` is the store's `config/`
    /// directory ([`StoreConfig::config_dir`](crate::StoreConfig::config_dir)).
    ///
    /// * `<f>` parses: it.
    /// * `<f>` missing, empty (or only whitespace) or unparsable: `<f>.bak` if it exists and
    ///   is not empty.
    /// * both missing or empty: `Ok(None)` (Java starts with empty tables).
    /// * `<f>` unparsable and no usable `.bak`: an error naming `<f>` (Java would log it and
    ///   start with empty tables, forgetting e.g. every consumer offset).
    /// * `.bak` needed and unparsable: an error naming both files (Java refuses to start).
    fn load(dir: &Path) -> Result<Option<Self>> {
        load_with_bak(&dir.join(Self::FILE_NAME))
    }
}

impl ConfigJsonFile for TopicsJson {
    const FILE_NAME: &'static str = "topics.json";
    fn to_fastjson(&self) -> String {
        let mut f = vec![(
            "topicConfigTable".into(),
            Fj::Obj(
                self.topic_config_table
                    .iter()
                    .map(|(k, v)| (k.clone(), v.fj()))
                    .collect(),
            ),
        )];
        if let Some(dv) = &self.data_version {
            f.push(("dataVersion".into(), dv.fj()));
        }
        to_text(&bean_with_extra(f, &self.extra))
    }
}
impl ConfigJsonFile for ConsumerOffsetJson {
    const FILE_NAME: &'static str = "consumerOffset.json";
    fn to_fastjson(&self) -> String {
        let table = self
            .offset_table
            .iter()
            .map(|(k, m)| (k.clone(), int_map(m)))
            .collect();
        to_text(&bean_with_extra(
            vec![("offsetTable".into(), Fj::Obj(table))],
            &self.extra,
        ))
    }
}
impl ConfigJsonFile for DelayOffsetJson {
    const FILE_NAME: &'static str = "delayOffset.json";
    fn to_fastjson(&self) -> String {
        to_text(&bean_with_extra(
            vec![("offsetTable".into(), int_map(&self.offset_table))],
            &self.extra,
        ))
    }
}
impl ConfigJsonFile for SubscriptionGroupJson {
    const FILE_NAME: &'static str = "subscriptionGroup.json";
    fn to_fastjson(&self) -> String {
        let mut f = vec![(
            "subscriptionGroupTable".into(),
            Fj::Obj(
                self.subscription_group_table
                    .iter()
                    .map(|(k, v)| (k.clone(), v.fj()))
                    .collect(),
            ),
        )];
        if let Some(dv) = &self.data_version {
            f.push(("dataVersion".into(), dv.fj()));
        }
        to_text(&bean_with_extra(f, &self.extra))
    }
}

fn int_map(m: &BTreeMap<i32, i64>) -> Fj {
    Fj::IntMap(m.iter().map(|(k, v)| (*k as i64, Fj::num(v))).collect())
}

impl SubscriptionGroupJson {
    /// `dir/subscriptionGroup.json`, see [`ConfigJsonFile::load`].
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        <Self as ConfigJsonFile>::load(dir)
    }
}

impl TopicsJson {
    /// `dir/topics.json`, see [`ConfigJsonFile::load`].
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        <Self as ConfigJsonFile>::load(dir)
    }
}
impl ConsumerOffsetJson {
    /// `dir/consumerOffset.json`, see [`ConfigJsonFile::load`].
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        <Self as ConfigJsonFile>::load(dir)
    }
}
impl DelayOffsetJson {
    /// `dir/delayOffset.json`, see [`ConfigJsonFile::load`].
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        <Self as ConfigJsonFile>::load(dir)
    }
}

/// What reading one file gave.
enum Read<T> {
    Missing,
    Empty,
    Parsed(T),
    Failed(StoreError),
}

fn read_one<T: DeserializeOwned>(path: &Path) -> Read<T> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Read::Missing,
        Err(e) => return Read::Failed(StoreError::io(path, e)),
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => return Read::Failed(StoreError::bad_file(path, format!("not UTF-8: {e}"))),
    };
    if text.trim().is_empty() {
        return Read::Empty;
    }
    match parse_fastjson(text) {
        Ok(v) => Read::Parsed(v),
        Err(e) => Read::Failed(StoreError::bad_file(
            path,
            format!("does not parse as JSON: {e}"),
        )),
    }
}

/// `ConfigManager#load` on `path` with `path.bak` as the fallback.
pub fn load_with_bak<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let main_failure = match read_one::<T>(path) {
        Read::Parsed(v) => return Ok(Some(v)),
        Read::Missing | Read::Empty => None,
        Read::Failed(e) => Some(e),
    };
    let mut bak = path.as_os_str().to_owned();
    bak.push(".bak");
    let bak = PathBuf::from(bak);
    match (read_one::<T>(&bak), main_failure) {
        (Read::Parsed(v), _) => Ok(Some(v)),
        (Read::Missing | Read::Empty, None) => Ok(None),
        (Read::Missing | Read::Empty, Some(e)) => Err(StoreError::bad_file(
            path,
            format!(
                "{e}; and there is no usable {} to fall back to",
                bak.display()
            ),
        )),
        (Read::Failed(b), None) => Err(StoreError::bad_file(
            &bak,
            format!(
                "{} is missing or empty, and the fallback failed: {b}",
                path.display()
            ),
        )),
        (Read::Failed(b), Some(e)) => {
            Err(StoreError::bad_file(path, format!("{e}; fallback: {b}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_numeric_keys_only() {
        let q = quote_unquoted_numeric_keys;
        assert_eq!(q("{0:123,1:456}"), r#"{"0":123,"1":456}"#);
        assert_eq!(
            q("{ -1 : 5 ,\n\t 22\t:\t-3 }"),
            "{ \"-1\" : 5 ,\n\t \"22\"\t:\t-3 }"
        );
        // Values, array elements and strings are left alone.
        assert_eq!(
            q(r#"{"a":[1,-2,{3:4}],"b":-5}"#),
            r#"{"a":[1,-2,{"3":4}],"b":-5}"#
        );
        assert_eq!(
            q(r#"{"s":"{0:1,2:3}","t\"{4:5":6}"#),
            r#"{"s":"{0:1,2:3}","t\"{4:5":6}"#
        );
        assert_eq!(q(r#"{"x\\":{7:8}}"#), r#"{"x\\":{"7":8}}"#);
        assert_eq!(q(r#"{"already":{"9":1}}"#), r#"{"already":{"9":1}}"#);
        assert_eq!(q("[0,1]"), "[0,1]");
        assert_eq!(q("{}"), "{}");
    }

    fn fixtures_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/java")
    }

    /// Every `config/*.json` (and `.bak`) the Java runs left parses with its typed reader.
    #[test]
    fn every_fixture_config_file_parses() {
        let mut seen = 0;
        for version in std::fs::read_dir(fixtures_root()).unwrap() {
            let version = version.unwrap().path();
            if !version.is_dir() {
                continue;
            }
            for variant in std::fs::read_dir(&version).unwrap() {
                let config = variant.unwrap().path().join("store/config");
                let Ok(files) = std::fs::read_dir(&config) else {
                    continue;
                };
                for f in files {
                    let f = f.unwrap().path();
                    let name = f.file_name().unwrap().to_str().unwrap().to_string();
                    if name == "timercheck" {
                        // 5.x binary TimerCheckpoint, not JSON (read by src/v5/timer.rs).
                        continue;
                    }
                    let text = std::fs::read_to_string(&f).unwrap();
                    let base = name.trim_end_matches(".bak");
                    let ok = match base {
                        "delayOffset.json" => parse_fastjson::<DelayOffsetJson>(&text).map(|_| ()),
                        "topics.json" => parse_fastjson::<TopicsJson>(&text).map(|_| ()),
                        "consumerOffset.json" => {
                            parse_fastjson::<ConsumerOffsetJson>(&text).map(|_| ())
                        }
                        _ => parse_fastjson::<serde_json::Value>(&text).map(|_| ()),
                    };
                    ok.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                    seen += 1;
                }
                // (The 5.x feature fixtures' config/ holds only the timer files.)
                if config.join("delayOffset.json").is_file() {
                    // And through `load`, which must not need the .bak for these.
                    DelayOffsetJson::load(&config)
                        .unwrap()
                        .expect("delayOffset.json");
                }
            }
        }
        assert!(seen >= 6, "only {seen} fixture config files");

        let sync = fixtures_root().join("rocketmq-4.6.0/sync/store/config");
        let d = DelayOffsetJson::load(&sync).unwrap().unwrap();
        assert_eq!(d.offset_table, (6..=18).map(|l| (l, 0)).collect());
        // The crashed run's main file is good, so its (older, empty) .bak is not used.
        let crashed = fixtures_root().join("rocketmq-4.6.0/crashed/store/config");
        assert_eq!(
            DelayOffsetJson::load(&crashed)
                .unwrap()
                .unwrap()
                .offset_table
                .len(),
            13
        );
        let empty = fixtures_root().join("rocketmq-4.6.0/async/store/config");
        assert!(DelayOffsetJson::load(&empty)
            .unwrap()
            .unwrap()
            .offset_table
            .is_empty());
        assert!(TopicsJson::load(&empty).unwrap().is_none());
    }

    const TOPICS: &str = r#"{
	"dataVersion":{
		"counter":3,
		"timestamp":1574130000000
	},
	"topicConfigTable":{
		"TopicTest":{
			"order":false,
			"perm":6,
			"readQueueNums":4,
			"topicFilterType":"SINGLE_TAG",
			"topicName":"TopicTest",
			"topicSysFlag":0,
			"writeQueueNums":4,
			"attributes":{"queue.type":"SimpleCQ"}
		},
		"%RETRY%g":{"topicName":"%RETRY%g","readQueueNums":1,"writeQueueNums":1,"perm":6}
	}
}"#;

    #[test]
    fn topics_json() {
        let t: TopicsJson = parse_fastjson(TOPICS).unwrap();
        assert_eq!(
            t.data_version,
            Some(DataVersion {
                timestamp: 1_574_130_000_000,
                counter: 3
            })
        );
        let tt = &t.topic_config_table["TopicTest"];
        assert_eq!(
            (tt.read_queue_nums, tt.write_queue_nums, tt.perm),
            (4, 4, 6)
        );
        assert_eq!(tt.topic_filter_type, "SINGLE_TAG");
        let r = &t.topic_config_table["%RETRY%g"];
        assert_eq!(
            (r.read_queue_nums, r.topic_sys_flag, r.order),
            (1, 0, false)
        );
        assert_eq!(r.topic_filter_type, "SINGLE_TAG");
    }

    #[test]
    fn consumer_offset_json() {
        let text = "{\n\t\"offsetTable\":{\n\t\t\"TopicTest@please_rename_unique_group_name_4\":{0:250,1:248,2:251,3:249\n\t\t},\
                    \n\t\t\"%RETRY%g@g\":{0:0}\n\t}\n}";
        let c: ConsumerOffsetJson = parse_fastjson(text).unwrap();
        let o = c
            .offsets("TopicTest", "please_rename_unique_group_name_4")
            .unwrap();
        assert_eq!(o[&2], 251);
        let entries: Vec<_> = c.entries().map(|(t, g, m)| (t, g, m.len())).collect();
        assert_eq!(
            entries,
            vec![
                ("%RETRY%g", "g", 1),
                ("TopicTest", "please_rename_unique_group_name_4", 4)
            ]
        );
        assert_eq!(split_topic_group("a@b@c"), Some(("a@b", "c")));
        assert_eq!(split_topic_group("nosep"), None);
        let d: DelayOffsetJson =
            parse_fastjson("{\"offsetTable\":{1:5,18:0},\"extra\":true}").unwrap();
        assert_eq!(d.offset_table[&1], 5);
    }

    #[test]
    fn load_falls_back_to_bak_like_config_manager() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let main = d.join("consumerOffset.json");
        let bak = d.join("consumerOffset.json.bak");
        let good = "{\"offsetTable\":{\"t@g\":{0:7}}}";
        let older = "{\"offsetTable\":{\"t@g\":{0:5}}}";
        let get =
            || ConsumerOffsetJson::load(d).map(|o| o.map(|c| c.offsets("t", "g").unwrap()[&0]));

        assert_eq!(get().unwrap(), None);
        std::fs::write(&bak, older).unwrap();
        assert_eq!(get().unwrap(), Some(5)); // main missing
        std::fs::write(&main, "").unwrap();
        assert_eq!(get().unwrap(), Some(5)); // main empty
        std::fs::write(&main, "{\"offsetTable\":{\"t@g\":{0:").unwrap();
        assert_eq!(get().unwrap(), Some(5)); // main truncated
        std::fs::write(&main, good).unwrap();
        assert_eq!(get().unwrap(), Some(7));

        // Unparsable main without a usable .bak: an error naming the main file.
        std::fs::remove_file(&bak).unwrap();
        std::fs::write(&main, "garbage").unwrap();
        let e = get().unwrap_err().to_string();
        assert!(
            e.contains("consumerOffset.json:") && e.contains("no usable"),
            "{e}"
        );
        // Both unparsable: both named.
        std::fs::write(&bak, "{").unwrap();
        let e = get().unwrap_err().to_string();
        assert!(
            e.contains("consumerOffset.json") && e.contains("consumerOffset.json.bak"),
            "{e}"
        );
        // Missing main, bad .bak: the .bak is named.
        std::fs::remove_file(&main).unwrap();
        let e = get().unwrap_err();
        assert!(
            matches!(&e, StoreError::BadFile { path, .. } if path == &bak),
            "{e}"
        );
    }
}
