// expect: no method named `consume_queues` found
//! `MessageStore::consume_queues()` handed out the queues, which can be truncated.
fn main() {
    let store = rmqstore::MessageStore::open(rmqstore::StoreConfig::with_root("/nonexistent"))
        .unwrap();
    let _ = store.consume_queues();
}
