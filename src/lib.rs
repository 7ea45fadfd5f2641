//! rmqstore: a storage engine that reads and writes the Apache RocketMQ broker store directory
//! byte-for-byte.
//!
//! The modules follow the data: [`format`] holds the pure byte codecs; [`mapped_file`] the
//! memory-mapped segments; [`commitlog`], [`consume_queue`], [`index`] and [`checkpoint`] one
//! on-disk structure each; [`dispatch`] what a record contributes to the queues and the index;
//! [`store`] the embeddable [`MessageStore`] that ties them together; [`inspect`] what can be
//! learned from a store directory offline (its geometry), and `cli` (feature `cli`) the
//! `rmqstore` command-line tool.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "rmqstore supports Linux only: it takes the store's lock with F_OFD_SETLK (an open file \
     description lock, which conflicts with a Java broker's FileChannel.tryLock) and relies on \
     Linux mmap, fdatasync and statvfs behaviour; other platforms are not supported"
);

pub mod checkpoint;
pub mod cleanup;
#[cfg(feature = "cli")]
pub mod cli;
pub mod clock;
pub mod commitlog;
pub mod config;
pub mod config_json;
pub mod consume_queue;
pub mod dispatch;
pub mod error;
pub mod fault;
pub mod flush;
pub mod format;
pub mod fxhash;
pub mod ha;
pub mod index;
pub mod inspect;
pub mod mapped_file;
pub mod message;
pub mod store;
pub mod topic;
pub mod v5;

pub use config::StoreConfig;
pub use error::{BackgroundError, Result, StoreError};
pub use message::{BatchItem, Message, MessageBatch, ReplayMessage};
pub use store::{MessageStore, OpenMode, PutMessageResult, PutMessageStatus, StoredRecord};
