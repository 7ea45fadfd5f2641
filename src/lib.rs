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

/// Declares modules that are crate-private, or public with the unstable `internals` feature
/// (our own tests, examples, benches and fuzz targets use it; nothing about them is stable).
macro_rules! internal_mods {
    ($($(#[$attr:meta])* mod $name:ident;)+) => {$(
        $(#[$attr])*
        #[cfg(feature = "internals")]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "internals"))]
        pub(crate) mod $name;
    )+};
}

/// Declares a function (or method) crate-private, or public with the `internals` feature.
macro_rules! internal_fn {
    ($(#[$attr:meta])* fn $($rest:tt)+) => {
        $(#[$attr])*
        #[cfg(feature = "internals")]
        pub fn $($rest)+
        $(#[$attr])*
        #[cfg(not(feature = "internals"))]
        pub(crate) fn $($rest)+
    };
}

// The public surface: what a broker embedding the store needs.
pub mod clock;
pub mod config;
pub mod config_json;
pub mod error;
pub mod inspect;
pub mod message;
pub mod store;

/// The `rmqstore` command-line tool (feature `cli`): [`cli::main`] is the binary's `main`.
#[cfg(feature = "cli")]
pub mod cli;

internal_mods! {
    mod checkpoint;
    mod cleanup;
    mod commitlog;
    mod consume_queue;
    mod dispatch;
    mod fault;
    mod flush;
    mod format;
    mod fxhash;
    mod ha;
    mod index;
    mod iorecord;
    mod left_out;
    mod mapped_file;
    #[cfg(feature = "internals")]
    mod powerloss;
    mod topic;
    mod v5;
}

pub use config::StoreConfig;
pub use error::{BackgroundError, Result, StoreError};
pub use message::{BatchItem, Message, MessageBatch, ReplayMessage};
pub use store::{MessageStore, OpenMode, PutMessageResult, PutMessageStatus, StoredRecord};
