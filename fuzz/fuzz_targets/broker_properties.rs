//! `broker.properties`: Java `Properties.load` semantics on any text, then the typed store
//! config, its validation and the values derived from it (delay levels, deleteWhen hours).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmqstore::config::parse_java_properties;
use rmqstore::format::cq::DelayLevels;
use rmqstore::StoreConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((entries, _)) = parse_java_properties(text) {
        for e in &entries {
            assert!(e.line >= 1);
        }
    }
    let _ = DelayLevels::parse(text);
    if let Ok((cfg, _warnings)) = StoreConfig::from_properties(text) {
        let _ = cfg.validate();
        let _ = cfg.delete_hours();
        let _ = cfg.delay_levels();
        let _ = cfg.mapped_file_size_consume_queue();
        let _ = cfg.disk_max_used_space_ratio_effective();
        let _ = cfg.is_transient_store_pool_enable();
    }
});
