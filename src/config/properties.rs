//! Reading a broker `.properties` file into a [`StoreConfig`]: Java's `Properties.load`
//! syntax (escapes, continuations, ISO-8859-1), then the store keys as RocketMQ 4.6.0's
//! `MixAll.properties2Object` and `BrokerStartup` read them, with an error naming the key,
//! value and line where Java would silently keep a default.

use super::*;

// ---------------------------------------------------------------------------------------------
// Reading a broker `.properties` file
// ---------------------------------------------------------------------------------------------

/// One `key=value` pair of a Java properties text, after `java.util.Properties.load` has undone
/// the escapes and joined continued lines. `line` is the (1-based) line the entry starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyEntry {
    /// The key.
    pub key: String,
    /// The value (escapes resolved).
    pub value: String,
    /// The 1-based line it starts on.
    pub line: usize,
}

/// Splits `text` into entries exactly as `java.util.Properties.load` does (Java 8 `LineReader`
/// and `load0`): lines end at `\n`, `\r` or `\r\n`; leading blanks (space, tab, form feed) are
/// skipped; a line whose first non-blank is `#` or `!` is a comment (and is never continued);
/// an odd number of trailing backslashes continues the line on the next one, whose leading
/// blanks are dropped; the key ends at the first unescaped `=`, `:` or blank, and blanks plus
/// at most one `=`/`:` after it are skipped; escapes are `\uXXXX`, `\t`, `\n`, `\r`, `\f` and
/// `\x` = `x`. Trailing blanks of a value are kept. Entries come in file order (a repeated key
/// appears twice; Java keeps the last).
///
/// A malformed `\uXXXX` is an error, as Java's `load` throws on it. Warnings report escapes that
/// make unpaired UTF-16 surrogates (replaced by U+FFFD).
pub fn parse_java_properties(text: &str) -> Result<(Vec<PropertyEntry>, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut entries = Vec::new();
    for (line, chars) in logical_lines(text) {
        let (key, value) = split_key_value(&chars);
        let key = unescape(key, line, &mut warnings)?;
        let value = unescape(value, line, &mut warnings)?;
        entries.push(PropertyEntry { key, value, line });
    }
    Ok((entries, warnings))
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\u{c}'
}

/// Java's `Properties.LineReader#readLine`, run to the end: the logical lines with the line number
/// each starts on.
fn logical_lines(text: &str) -> Vec<(usize, Vec<char>)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut buf: Vec<char> = Vec::new();
    // readLine's locals, reset for every logical line.
    let mut skip_white_space = true;
    let mut is_comment_line = false;
    let mut is_new_line = true;
    let mut appended_line_begin = false;
    let mut preceding_backslash = false;
    let mut skip_lf = false;
    // Line numbering (ours, for messages): `\r\n` counts once.
    let mut line_no = 1usize;
    let mut prev_cr = false;
    let mut start_line = 1usize;

    for &c in &chars {
        let this_line = line_no;
        match c {
            '\n' if prev_cr => {}
            '\n' | '\r' => line_no += 1,
            _ => {}
        }
        prev_cr = c == '\r';

        if skip_lf {
            skip_lf = false;
            if c == '\n' {
                continue;
            }
        }
        if skip_white_space {
            if is_blank(c) {
                continue;
            }
            if !appended_line_begin && (c == '\r' || c == '\n') {
                continue;
            }
            skip_white_space = false;
            appended_line_begin = false;
        }
        if is_new_line {
            is_new_line = false;
            start_line = this_line;
            if c == '#' || c == '!' {
                is_comment_line = true;
                continue;
            }
        }
        if c != '\n' && c != '\r' {
            buf.push(c);
            preceding_backslash = c == '\\' && !preceding_backslash;
            continue;
        }
        // End of a natural line.
        if is_comment_line || buf.is_empty() {
            is_comment_line = false;
            is_new_line = true;
            skip_white_space = true;
            buf.clear();
            continue;
        }
        if preceding_backslash {
            // Continued: drop the backslash, skip the next line's leading blanks.
            buf.pop();
            skip_white_space = true;
            appended_line_begin = true;
            preceding_backslash = false;
            if c == '\r' {
                skip_lf = true;
            }
        } else {
            out.push((start_line, std::mem::take(&mut buf)));
            skip_white_space = true;
            is_comment_line = false;
            is_new_line = true;
            appended_line_begin = false;
            preceding_backslash = false;
            skip_lf = false;
        }
    }
    if !buf.is_empty() && !is_comment_line {
        if preceding_backslash {
            buf.pop();
        }
        out.push((start_line, buf));
    }
    out
}

/// Java's `Properties#load0` for one logical line: the raw (still escaped) key and value.
fn split_key_value(line: &[char]) -> (&[char], &[char]) {
    let limit = line.len();
    let mut key_len = 0;
    let mut value_start = limit;
    let mut has_sep = false;
    let mut preceding_backslash = false;
    while key_len < limit {
        let c = line[key_len];
        if (c == '=' || c == ':') && !preceding_backslash {
            value_start = key_len + 1;
            has_sep = true;
            break;
        } else if is_blank(c) && !preceding_backslash {
            value_start = key_len + 1;
            break;
        }
        preceding_backslash = c == '\\' && !preceding_backslash;
        key_len += 1;
    }
    while value_start < limit {
        let c = line[value_start];
        if !is_blank(c) {
            if !has_sep && (c == '=' || c == ':') {
                has_sep = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    (&line[..key_len], &line[value_start..])
}

/// Java's `Properties#loadConvert`, working in UTF-16 code units as Java does.
fn unescape(s: &[char], line: usize, warnings: &mut Vec<String>) -> Result<String> {
    let mut units: Vec<u16> = Vec::with_capacity(s.len());
    let mut i = 0;
    let mut buf = [0u16; 2];
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c != '\\' || i == s.len() {
            units.extend_from_slice(c.encode_utf16(&mut buf));
            continue;
        }
        let e = s[i];
        i += 1;
        match e {
            'u' => {
                let hex: String = s[i..(i + 4).min(s.len())].iter().collect();
                let unit = (hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()))
                    .then(|| u16::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| {
                        StoreError::Config(format!(
                            "line {line}: malformed \\uxxxx escape `\\u{hex}` (Java's Properties.load \
                             throws on it and the broker does not start)"
                        ))
                    })?;
                units.push(unit);
                i += 4;
            }
            't' => units.push(u16::from(b'\t')),
            'r' => units.push(u16::from(b'\r')),
            'n' => units.push(u16::from(b'\n')),
            'f' => units.push(0x0c),
            other => units.extend_from_slice(other.encode_utf16(&mut buf)),
        }
    }
    match String::from_utf16(&units) {
        Ok(s) => Ok(s),
        Err(_) => {
            let s = String::from_utf16_lossy(&units);
            warnings.push(format!(
                "line {line}: `{s}` has a \\u escape that is an unpaired UTF-16 surrogate; it was \
                 replaced by U+FFFD"
            ));
            Ok(s)
        }
    }
}

/// The Java keys of the store settings [`StoreConfig::from_properties`] reads.
pub const STORE_KEYS: &[&str] = &[
    "storePathRootDir",
    "storePathCommitLog",
    "mappedFileSizeCommitLog",
    "mappedFileSizeConsumeQueue",
    "maxHashSlotNum",
    "maxIndexNum",
    "maxMsgsNumBatch",
    "messageIndexEnable",
    "messageIndexSafe",
    "maxMessageSize",
    "checkCRCOnRecover",
    "messageDelayLevel",
    "flushDiskType",
    "brokerRole",
    "syncFlushTimeout",
    "flushIntervalCommitLog",
    "flushCommitLogLeastPages",
    "flushCommitLogThoroughInterval",
    "flushCommitLogTimed",
    "flushIntervalConsumeQueue",
    "flushConsumeQueueLeastPages",
    "flushConsumeQueueThoroughInterval",
    "transientStorePoolEnable",
    "transientStorePoolSize",
    "commitIntervalCommitLog",
    "commitCommitLogLeastPages",
    "commitCommitLogThoroughInterval",
    "deleteWhen",
    "fileReservedTime",
    "diskMaxUsedSpaceRatio",
    "cleanFileForciblyEnable",
    "cleanResourceInterval",
    "deleteCommitLogFilesInterval",
    "deleteConsumeQueueFilesInterval",
    "destroyMapedFileIntervalForcibly",
    "redeleteHangedFileInterval",
    "maxTransferBytesOnMessageInMemory",
    "maxTransferCountOnMessageInMemory",
    "maxTransferBytesOnMessageInDisk",
    "maxTransferCountOnMessageInDisk",
    "accessMessageInMemoryMaxRatio",
    "offsetCheckInSlave",
    "autoMessageVersionOnTopicLen",
    "enabledAppendPropCRC",
    "enableLmq",
    "enableMultiDispatch",
    "timerWheelEnable",
    "timerPrecisionMs",
    "timerRollWindowSlot",
    "mappedFileSizeTimerLog",
    "timerMaxDelaySec",
    "mapperFileSizeBatchConsumeQueue",
    "forceVerifyPropCRC",
    "haListenPort",
    "haMasterAddress",
    "haSendHeartbeatInterval",
    "haHousekeepingInterval",
    "haTransferBatchSize",
    "haSlaveFallbehindMax",
];

/// Keys that are read but are not `MessageStoreConfig` fields of 4.6.0.
const OTHER_KEYS: &[&str] = &[
    "mapedFileSizeCommitLog",
    "mapedFileSizeConsumeQueue",
    "listenPort",
    "rmqstoreTargetVersion",
];

/// Keys people write that look like store paths but that no RocketMQ version reads.
const IGNORED_PATH_KEYS: &[&str] = &[
    "storePathConsumeQueue",
    "storePathIndex",
    "storeCheckpoint",
    "abortFile",
];

/// The properties, last value of a key winning (as in a `java.util.Properties`).
struct Props {
    map: std::collections::HashMap<String, PropertyEntry>,
}

impl Props {
    fn get(&self, key: &str) -> Option<&PropertyEntry> {
        self.map.get(key)
    }
}

fn describe(e: &PropertyEntry) -> String {
    format!("line {}: {} = {:?}", e.line, e.key, e.value)
}

/// `Integer.parseInt`: an optional sign and ASCII digits, in Java `int` range. On failure, the
/// reason and what 4.6.0 does instead (`properties2Object` swallows the exception and keeps the
/// default).
fn java_int(e: &PropertyEntry, default: impl std::fmt::Display) -> Result<i32> {
    let v = e.value.as_str();
    let fail = |why: &str| {
        StoreError::Config(format!(
            "{}: {why}; RocketMQ 4.6.0 would silently ignore this line and keep the default \
             {default}",
            describe(e)
        ))
    };
    if v.trim() != v {
        return Err(fail(
            "is not a number because of the surrounding whitespace (Integer.parseInt does not trim)",
        ));
    }
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail("is not an integer"));
    }
    v.parse::<i32>()
        .map_err(|_| fail("is outside the Java int range -2147483648..=2147483647"))
}

fn non_negative(e: &PropertyEntry, n: i32, default: impl std::fmt::Display) -> Result<u32> {
    u32::try_from(n).map_err(|_| {
        StoreError::Config(format!(
            "{}: must not be negative (the default is {default})",
            describe(e)
        ))
    })
}

/// `Boolean.parseBoolean`: only `true` in any case is true. Anything but true/false warns.
fn java_bool(e: &PropertyEntry, warnings: &mut Vec<String>) -> bool {
    let v = e.value.as_str();
    let t = v.eq_ignore_ascii_case("true");
    if !t && !v.eq_ignore_ascii_case("false") {
        let hint = if v.trim().eq_ignore_ascii_case("true") {
            " (the surrounding whitespace makes it not `true`)"
        } else {
            ""
        };
        warnings.push(format!(
            "{}: is neither true nor false; Java's Boolean.parseBoolean reads it as false{hint}",
            describe(e)
        ));
    }
    t
}

/// A string value as 4.6.0 stores it (untrimmed), warning when whitespace surrounds it.
fn java_string(e: &PropertyEntry, warnings: &mut Vec<String>) -> String {
    if e.value.trim() != e.value {
        warnings.push(format!(
            "{}: has surrounding whitespace, which RocketMQ 4.6.0 keeps (5.2+ trims string \
             values); it is kept here too",
            describe(e)
        ));
    }
    e.value.clone()
}

/// `Enum.valueOf` through the `String` setter: an exact constant name, else an error (Java would
/// swallow the exception and keep the default).
fn java_enum<T: Copy>(e: &PropertyEntry, options: &[(&str, T)], default: &str) -> Result<T> {
    options
        .iter()
        .find(|(name, _)| *name == e.value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            StoreError::Config(format!(
                "{}: is not one of {}; RocketMQ 4.6.0 would silently ignore this line and keep \
                 the default {default}",
                describe(e),
                names.join(", ")
            ))
        })
}

impl StoreConfig {
    /// Reads the store keys of a broker `.properties` text as RocketMQ 4.6.0 would
    /// (`Properties.load` + `MixAll.properties2Object` + `BrokerStartup`), on top of the
    /// defaults. Returns the config and warnings about values Java reads differently from what
    /// they look like. Unknown keys are ignored.
    ///
    /// Where 4.6.0 silently ignores a line it cannot convert (a number with a stray space, an
    /// unknown `brokerRole`), this is an error naming the key, the value and the line: running
    /// on the default instead of the configured value is never what the file meant.
    ///
    /// Deviations from 4.6.0, each with a warning: the pre-4.5.2 keys `mapedFileSizeCommitLog`
    /// / `mapedFileSizeConsumeQueue` are honoured (4.5.2+ ignores them; the new spelling wins
    /// when both are present).
    ///
    /// As in 4.6.0: `haListenPort` becomes `listenPort + 1` (default 10912) whatever the file
    /// says; a `storePathRootDir` without `storePathCommitLog` leaves the commitlog at
    /// `$HOME/store/commitlog`.
    ///
    /// Does not run [`validate`](Self::validate).
    pub fn from_properties(text: &str) -> Result<(StoreConfig, Vec<String>)> {
        let (entries, mut warnings) = parse_java_properties(text)?;
        let mut map = std::collections::HashMap::new();
        let known = |k: &str| STORE_KEYS.contains(&k) || OTHER_KEYS.contains(&k);
        for e in entries {
            if known(&e.key) {
                if let Some(prev) = map.get(&e.key) {
                    let prev: &PropertyEntry = prev;
                    warnings.push(format!(
                        "{}: repeats the key of line {}; the later line wins",
                        describe(&e),
                        prev.line
                    ));
                }
            } else if IGNORED_PATH_KEYS.contains(&e.key.as_str()) {
                warnings.push(format!(
                    "{}: RocketMQ has no such setting and ignores it; consumequeue/, index/, \
                     checkpoint and abort always live under storePathRootDir",
                    describe(&e)
                ));
            } else if let Some(k) = STORE_KEYS.iter().find(|k| k.eq_ignore_ascii_case(&e.key)) {
                warnings.push(format!(
                    "{}: ignored; keys are case-sensitive, did you mean {k}?",
                    describe(&e)
                ));
            }
            map.insert(e.key.clone(), e);
        }
        let p = Props { map };
        let mut c = StoreConfig::default();
        let w = &mut warnings;

        macro_rules! int_field {
            ($key:literal, $field:ident, $ty:ty) => {
                if let Some(e) = p.get($key) {
                    let n = java_int(e, c.$field)?;
                    let n = non_negative(e, n, c.$field)?;
                    c.$field = <$ty>::try_from(n).map_err(|_| {
                        StoreError::Config(format!(
                            "{}: is too large for this setting",
                            describe(e)
                        ))
                    })?;
                }
            };
        }
        macro_rules! bool_field {
            ($key:literal, $field:ident) => {
                if let Some(e) = p.get($key) {
                    c.$field = java_bool(e, w);
                }
            };
        }

        if let Some(e) = p.get("storePathRootDir") {
            c.store_path_root_dir = PathBuf::from(java_string(e, w));
        }
        if let Some(e) = p.get("storePathCommitLog") {
            c.store_path_commit_log = Some(PathBuf::from(java_string(e, w)));
        } else if let Some(e) = p.get("storePathRootDir") {
            let home = StoreConfig::default().store_path_root_dir.join("commitlog");
            w.push(format!(
                "{}: storePathCommitLog is not set, so RocketMQ 4.x keeps the commitlog at {} \
                 (not under storePathRootDir); set storePathCommitLog explicitly",
                describe(e),
                home.display()
            ));
            c.store_path_commit_log = Some(home);
        }

        // The commitlog/consume-queue sizes under their current and pre-4.5.2 names.
        for (new, old) in [
            ("mappedFileSizeCommitLog", "mapedFileSizeCommitLog"),
            ("mappedFileSizeConsumeQueue", "mapedFileSizeConsumeQueue"),
        ] {
            let chosen = match (p.get(new), p.get(old)) {
                (Some(n), Some(o)) => {
                    w.push(format!(
                        "{}: pre-4.5.2 spelling ignored because line {} sets {new}",
                        describe(o),
                        n.line
                    ));
                    Some(n)
                }
                (Some(n), None) => Some(n),
                (None, Some(o)) => {
                    w.push(format!(
                        "{}: pre-4.5.2 spelling, honoured here, but RocketMQ 4.5.2+ ignores it and \
                         uses its default; rename it to {new} before starting a 4.6.0 broker on \
                         this store",
                        describe(o)
                    ));
                    Some(o)
                }
                (None, None) => None,
            };
            if let Some(e) = chosen {
                if new == "mappedFileSizeCommitLog" {
                    let n = java_int(e, c.mapped_file_size_commit_log)?;
                    c.mapped_file_size_commit_log =
                        non_negative(e, n, c.mapped_file_size_commit_log)? as usize;
                } else {
                    let n = java_int(e, c.mapped_file_size_consume_queue_raw)?;
                    c.mapped_file_size_consume_queue_raw =
                        non_negative(e, n, c.mapped_file_size_consume_queue_raw)? as usize;
                }
            }
        }

        int_field!("maxHashSlotNum", max_hash_slot_num, u32);
        int_field!("maxIndexNum", max_index_num, u32);
        int_field!("maxMsgsNumBatch", max_msgs_num_batch, usize);
        bool_field!("messageIndexEnable", message_index_enable);
        bool_field!("messageIndexSafe", message_index_safe);
        int_field!("maxMessageSize", max_message_size, usize);
        bool_field!("checkCRCOnRecover", check_crc_on_recover);
        if let Some(e) = p.get("messageDelayLevel") {
            c.message_delay_level = java_string(e, w);
        }
        if let Some(e) = p.get("flushDiskType") {
            c.flush_disk_type = java_enum(
                e,
                &[
                    ("ASYNC_FLUSH", FlushDiskType::AsyncFlush),
                    ("SYNC_FLUSH", FlushDiskType::SyncFlush),
                ],
                "ASYNC_FLUSH",
            )?;
        }
        if let Some(e) = p.get("brokerRole") {
            c.broker_role = java_enum(
                e,
                &[
                    ("ASYNC_MASTER", BrokerRole::AsyncMaster),
                    ("SYNC_MASTER", BrokerRole::SyncMaster),
                    ("SLAVE", BrokerRole::Slave),
                ],
                "ASYNC_MASTER",
            )?;
        }
        int_field!("syncFlushTimeout", sync_flush_timeout_ms, u64);
        int_field!("flushIntervalCommitLog", flush_interval_commit_log_ms, u64);
        int_field!(
            "flushCommitLogLeastPages",
            flush_commit_log_least_pages,
            usize
        );
        int_field!(
            "flushCommitLogThoroughInterval",
            flush_commit_log_thorough_interval_ms,
            u64
        );
        bool_field!("flushCommitLogTimed", flush_commit_log_timed);
        int_field!(
            "flushIntervalConsumeQueue",
            flush_interval_consume_queue_ms,
            u64
        );
        int_field!(
            "flushConsumeQueueLeastPages",
            flush_consume_queue_least_pages,
            usize
        );
        int_field!(
            "flushConsumeQueueThoroughInterval",
            flush_consume_queue_thorough_interval_ms,
            u64
        );
        bool_field!("transientStorePoolEnable", transient_store_pool_enable);
        int_field!("transientStorePoolSize", transient_store_pool_size, usize);
        int_field!(
            "commitIntervalCommitLog",
            commit_interval_commit_log_ms,
            u64
        );
        int_field!(
            "commitCommitLogLeastPages",
            commit_commit_log_least_pages,
            usize
        );
        int_field!(
            "commitCommitLogThoroughInterval",
            commit_commit_log_thorough_interval_ms,
            u64
        );
        if let Some(e) = p.get("deleteWhen") {
            // Kept verbatim (4.6.0 does not trim); `validate` checks it hour by hour.
            c.delete_when = e.value.clone();
        }
        int_field!("fileReservedTime", file_reserved_time_hours, u64);
        int_field!("diskMaxUsedSpaceRatio", disk_max_used_space_ratio, u32);
        bool_field!("cleanFileForciblyEnable", clean_file_forcibly_enable);
        int_field!("cleanResourceInterval", clean_resource_interval_ms, u64);
        int_field!(
            "deleteCommitLogFilesInterval",
            delete_commit_log_files_interval_ms,
            u64
        );
        int_field!(
            "deleteConsumeQueueFilesInterval",
            delete_consume_queue_files_interval_ms,
            u64
        );
        int_field!(
            "destroyMapedFileIntervalForcibly",
            destroy_mapped_file_interval_forcibly_ms,
            u64
        );
        int_field!(
            "redeleteHangedFileInterval",
            redelete_hanged_file_interval_ms,
            u64
        );
        if let Some(e) = p.get("rmqstoreTargetVersion") {
            let v: crate::v5::TargetVersion = e
                .value
                .parse()
                .map_err(|why| StoreError::Config(format!("{}: {why}", describe(e))))?;
            c = c.with_target_version(v);
        }
        if let Some(e) = p.get("enabledAppendPropCRC") {
            c.enabled_append_prop_crc = java_bool(e, w);
        }
        if let Some(e) = p.get("enableLmq") {
            c.enable_lmq = java_bool(e, w);
        }
        if let Some(e) = p.get("enableMultiDispatch") {
            c.enable_multi_dispatch = java_bool(e, w);
        }
        bool_field!("timerWheelEnable", timer_wheel_enable);
        if let Some(e) = p.get("timerPrecisionMs") {
            let n = java_int(e, c.timer.precision_ms)?;
            if n <= 0 {
                return Err(StoreError::Config(format!(
                    "{}: the timer precision must be positive",
                    describe(e)
                )));
            }
            c.timer.precision_ms = i64::from(n);
        }
        if let Some(e) = p.get("timerRollWindowSlot") {
            c.timer.roll_window_slot = i64::from(java_int(e, c.timer.roll_window_slot)?);
        }
        if let Some(e) = p.get("timerMaxDelaySec") {
            c.timer.max_delay_sec = i64::from(java_int(e, c.timer.max_delay_sec)?);
        }
        if let Some(e) = p.get("mappedFileSizeTimerLog") {
            let n = java_int(e, c.timer.log_file_size)?;
            if n < 68 {
                return Err(StoreError::Config(format!(
                    "{}: a timer-log segment must hold a unit and a blank (68 bytes)",
                    describe(e)
                )));
            }
            c.timer.log_file_size = n as u64;
        }
        int_field!(
            "mapperFileSizeBatchConsumeQueue",
            mapper_file_size_batch_consume_queue,
            u64
        );
        if let Some(e) = p.get("forceVerifyPropCRC") {
            c.force_verify_prop_crc = java_bool(e, w);
        }
        int_field!(
            "maxTransferBytesOnMessageInMemory",
            max_transfer_bytes_on_message_in_memory,
            usize
        );
        int_field!(
            "maxTransferCountOnMessageInMemory",
            max_transfer_count_on_message_in_memory,
            usize
        );
        int_field!(
            "maxTransferBytesOnMessageInDisk",
            max_transfer_bytes_on_message_in_disk,
            usize
        );
        int_field!(
            "maxTransferCountOnMessageInDisk",
            max_transfer_count_on_message_in_disk,
            usize
        );
        int_field!(
            "accessMessageInMemoryMaxRatio",
            access_message_in_memory_max_ratio,
            u32
        );
        bool_field!("offsetCheckInSlave", offset_check_in_slave);
        if let Some(e) = p.get("autoMessageVersionOnTopicLen") {
            c.auto_message_version_on_topic_len = java_bool(e, w);
            if !c.target_version.is_5x() {
                w.push(format!(
                    "{}: a 5.x setting; RocketMQ 4.6.0 has no such key and rejects topics longer \
                 than 127 characters",
                    describe(e)
                ));
            }
        }

        // HA. 4.x `BrokerStartup` sets haListenPort = listenPort + 1 after reading the file.
        int_field!("haListenPort", ha_listen_port, u16);
        let listen_port = match p.get("listenPort") {
            Some(e) => {
                let n = java_int(e, 10911)?;
                u16::try_from(n)
                    .ok()
                    .filter(|&n| n < u16::MAX)
                    .ok_or_else(|| {
                        StoreError::Config(format!("{}: is not a usable TCP port", describe(e)))
                    })?
            }
            None => 10911,
        };
        if let Some(e) = p.get("haListenPort") {
            if c.ha_listen_port != listen_port + 1 {
                w.push(format!(
                    "{}: RocketMQ 4.x ignores it and listens for slaves on listenPort + 1 = {} \
                     (5.x honours haListenPort when it is > 0)",
                    describe(e),
                    listen_port + 1
                ));
            }
        }
        c.ha_listen_port = listen_port + 1;
        if let Some(e) = p.get("haMasterAddress") {
            c.ha_master_address = Some(java_string(e, w));
        }
        int_field!(
            "haSendHeartbeatInterval",
            ha_send_heartbeat_interval_ms,
            u64
        );
        int_field!("haHousekeepingInterval", ha_housekeeping_interval_ms, u64);
        int_field!("haTransferBatchSize", ha_transfer_batch_size, usize);
        int_field!("haSlaveFallbehindMax", ha_slave_fallbehind_max, u64);

        Ok((c, warnings))
    }

    /// [`from_properties`](Self::from_properties) on a file, decoded as ISO-8859-1 like Java's
    /// `Properties.load(InputStream)` (which `BrokerStartup` uses): bytes above 0x7F become the
    /// Latin-1 characters Java sees, with a warning, since a UTF-8 path then names a different
    /// directory than it seems to. Errors name the file.
    pub fn from_properties_file(path: impl AsRef<Path>) -> Result<(StoreConfig, Vec<String>)> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
        let text: String = bytes.iter().map(|&b| char::from(b)).collect();
        let at = |m: String| format!("{}: {m}", path.display());
        let (c, mut warnings) = StoreConfig::from_properties(&text).map_err(|e| match e {
            StoreError::Config(m) => StoreError::Config(at(m)),
            other => other,
        })?;
        if !bytes.is_ascii() {
            warnings.insert(
                0,
                "the file has non-ASCII bytes; Java reads .properties files as ISO-8859-1, so \
                 UTF-8 text is seen as Latin-1 characters (use \\uXXXX escapes)"
                    .to_string(),
            );
        }
        Ok((c, warnings.into_iter().map(at).collect()))
    }
}
