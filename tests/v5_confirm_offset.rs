//! The 5.x checkpoint's `confirmPhyOffset` (byte 32) outside controller mode: 5.3.3's recovery
//! (`CommitLog#recoverNormally` / `#recoverAbnormally`) sets the confirm offset to the start of
//! the last valid record it found, `setConfirmOffset` stores it in the `StoreCheckpoint`, and
//! the next checkpoint flush writes it. A store 5.3.3 wrote without restarting holds 0 (all
//! fixtures); rmqstore with target 5.3.3 writes what 5.3.3's next start would.

mod common;

use common::{copy_store_to_temp, fixture, fixture_store_config};
use rmqstore::v5::TargetVersion;
use rmqstore::MessageStore;
use serde_json::Value;

fn confirm(root: &std::path::Path) -> i64 {
    let b = std::fs::read(root.join("checkpoint")).unwrap();
    i64::from_be_bytes(b[32..40].try_into().unwrap())
}

#[test]
fn a_5x_open_writes_the_start_of_the_last_record_as_the_confirm_offset() {
    let f = fixture("5.3.3/async");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(f.dir.join("manifest.json")).unwrap()).unwrap();
    let last = manifest["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["wroteOffset"].as_i64())
        .max()
        .unwrap();
    assert_eq!(
        confirm(&f.store_dir),
        0,
        "5.3.3 wrote the fixture without restarting"
    );
    for abort in [false, true] {
        let tmp = copy_store_to_temp(&f);
        if abort {
            std::fs::write(tmp.path().join("abort"), b"").unwrap();
        }
        let c = fixture_store_config(tmp.path()).with_target_version(TargetVersion::V5_3_3);
        let s = MessageStore::open(c).unwrap();
        assert_eq!(
            s.max_phy_offset() as i64,
            manifest["maxPhyOffset"].as_i64().unwrap()
        );
        s.shutdown().unwrap();
        assert_eq!(confirm(tmp.path()), last, "abnormal recovery: {abort}");
        // Read-only tools show it: stat --json.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rmqstore"))
            .args(["stat", "--json", tmp.path().to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("\"confirmPhyOffset\": {last}"))
                || text.contains(&format!("\"confirmPhyOffset\":{last}")),
            "{text}"
        );
    }
    // Target 4.6.0 keeps the bytes as found.
    let tmp = copy_store_to_temp(&f);
    let s = MessageStore::open(fixture_store_config(tmp.path())).unwrap();
    s.shutdown().unwrap();
    assert_eq!(confirm(tmp.path()), 0);
}
