//! fastjson config files: `quote_unquoted_numeric_keys` on any text, then the typed parses of
//! `topics.json`, `consumerOffset.json` and `delayOffset.json`. Quoting never changes text that
//! is already strict JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmqstore::config_json::{
    parse_fastjson, quote_unquoted_numeric_keys, split_topic_group, ConsumerOffsetJson,
    DelayOffsetJson, TopicsJson,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let quoted = quote_unquoted_numeric_keys(text);
    if serde_json::from_str::<serde_json::Value>(text).is_ok() {
        assert_eq!(quoted, text, "strict JSON must pass through unchanged");
    }
    // Quoting is idempotent.
    assert_eq!(quote_unquoted_numeric_keys(&quoted), quoted);
    let _ = parse_fastjson::<serde_json::Value>(text);
    if let Ok(t) = parse_fastjson::<TopicsJson>(text) {
        for (name, cfg) in &t.topic_config_table {
            let _ = (name.len(), cfg.perm);
        }
    }
    if let Ok(c) = parse_fastjson::<ConsumerOffsetJson>(text) {
        for (t, g, offs) in c.entries() {
            assert!(c.offsets(t, g).is_some());
            let _ = offs.len();
        }
    }
    let _ = parse_fastjson::<DelayOffsetJson>(text);
    let _ = split_topic_group(text);
});
