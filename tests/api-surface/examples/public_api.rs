//! What a broker reaches without the `internals` feature: this must build (it is built, not
//! run).
use rmqstore::config::{BrokerRole, FlushDiskType};
use rmqstore::inspect::{verify, VerifyOptions};
use rmqstore::store::{GetMessageStatus, TagFilter};
use rmqstore::{Message, MessageStore, StoreConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = StoreConfig::with_root(std::env::temp_dir().join("rmqstore-api-surface"));
    config.flush_disk_type = FlushDiskType::AsyncFlush;
    config.broker_role = BrokerRole::AsyncMaster;
    let store = MessageStore::open(config)?;
    let r = store.put_message(&Message::new("T", 0, b"x".to_vec()))?;
    assert!(r.is_ok());
    let filter = TagFilter::new(["a"]);
    let got = store.get_message("g", "T", 0, 0, 32, Some(&filter));
    assert_ne!(got.status, GetMessageStatus::OffsetFoundNull);
    let _ = verify;
    let _ = VerifyOptions::default();
    store.shutdown()?;
    Ok(())
}
