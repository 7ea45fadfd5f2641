//! rmqstore: a storage engine that reads and writes the Apache RocketMQ broker store directory
//! byte-for-byte.

pub mod clock;
pub mod error;
pub mod format;
pub mod index;

pub use error::{Result, StoreError};
