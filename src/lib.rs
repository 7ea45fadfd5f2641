//! rmqstore: a storage engine that reads and writes the Apache RocketMQ broker store directory
//! byte-for-byte.
//!
//! # The public API
//! - [`MessageStore`] ([`store`]): open a store directory (recovering it as Java 4.6.0
//!   would), put messages and batches, read them back (by queue offset with filters, by
//!   physical offset, msgId or key), the broker's other `MessageStore` operations, hooks,
//!   futures, statistics, cleanup and replication.
//! - [`StoreConfig`] ([`config`]): `MessageStoreConfig`, read from `broker.properties`.
//! - [`config_json`]: the broker's `config/*.json` (topics, consumer offsets, ...), read and
//!   written as Java writes them, for taking a store directory over and handing it back.
//! - [`Message`], [`MessageBatch`] ([`message`]); [`StoreError`] ([`error`]); [`clock`].
//! - [`inspect`]: read-only checks of a store directory ([`inspect::verify()`],
//!   [`inspect::preflight()`], [`inspect::discover_config`]).
//!
//! Nothing reachable through this API can change bytes a [`StoredRecord`]
//! holds a slice of, or truncate a store another handle has open.
//!
//! # Features
//! - `cli` (default): the `rmqstore` operator tool ([`cli::main`]).
//! - `internals` (**unstable**, for rmqstore's own tests, examples, benches and fuzz targets):
//!   makes the internals public (mapped files, the commitlog and its mutating methods, the
//!   consume queues, the index, the dispatcher, the byte codecs, fault injection). No
//!   compatibility is promised, and safe calls through them can change mapped bytes.
//!
//! # Platform
//! Linux only (the store lock is an `F_OFD_SETLK` open file description lock, as a Java
//! broker's `FileChannel.tryLock` sees it); elsewhere the crate does not build.

// Every public item documented (with `internals`, the internals are public but unstable and
// not held to it).
#![cfg_attr(not(feature = "internals"), deny(missing_docs))]
#![warn(unnameable_types)]

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

// Where the services above the store plug into it (`MessageStore`'s constructors).
mod services;
pub use config::StoreConfig;
pub use error::{BackgroundError, Result, StoreError};
pub use message::{BatchItem, Message, MessageBatch, ReplayMessage};
pub use store::{MessageStore, OpenMode, PutMessageResult, PutMessageStatus, StoredRecord};
