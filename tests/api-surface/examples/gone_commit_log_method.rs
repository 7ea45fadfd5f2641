// expect: no method named `commit_log` found
//! `MessageStore::commit_log()` handed out the commitlog, whose methods rewrite mapped bytes
//! (`files()...write_at`) and truncate a live store (`truncate_dirty`).
fn main() {
    let store = rmqstore::MessageStore::open(rmqstore::StoreConfig::with_root("/nonexistent"))
        .unwrap();
    let _ = store.commit_log();
}
