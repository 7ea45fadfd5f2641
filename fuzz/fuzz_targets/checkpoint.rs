//! The checkpoint: decoding any bytes, the recovery timestamps derived from them, the encoding
//! round trip, and `StoreCheckpoint::open` over a file of any length.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rmqstore::checkpoint::StoreCheckpoint;
use rmqstore::format::checkpoint::CHECKPOINT_FILE_SIZE;
use rmqstore::format::Checkpoint;

fn path() -> &'static PathBuf {
    static P: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &P.get_or_init(|| {
        // RAM-backed when possible: the store fsyncs, and exec/s is what finds bugs.
        let t = tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .unwrap();
        let p = t.path().join("checkpoint");
        (t, p)
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    match Checkpoint::decode(data) {
        Ok(c) => {
            let m = c.min_timestamp();
            assert!(m >= 0);
            assert!(c.min_timestamp_index() <= m);
            let mut page = vec![0u8; CHECKPOINT_FILE_SIZE];
            c.encode_into(&mut page, true);
            assert_eq!(Checkpoint::decode(&page).unwrap(), c);
            let n = data.len().min(40);
            if n == 40 {
                assert_eq!(&page[..40], &data[..40]);
            }
        }
        Err(_) => assert!(data.len() < 24),
    }
    let p = path();
    std::fs::write(p, data).unwrap();
    let ro = StoreCheckpoint::open(p, false).unwrap();
    let mut rw = StoreCheckpoint::open(p, true).unwrap();
    assert_eq!(
        ro.values.physic_msg_timestamp,
        rw.values.physic_msg_timestamp
    );
    rw.flush().unwrap();
    // Flushing writes the whole page back: bytes we do not own are kept.
    let after = std::fs::read(p).unwrap();
    assert_eq!(&after[..data.len()], data);
    assert!(after.len() >= CHECKPOINT_FILE_SIZE);
});
