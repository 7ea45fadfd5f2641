// expect: module `commitlog` is private
//! The commitlog type (`truncate_dirty`, `files()`) is not reachable by name either.
use rmqstore::commitlog::CommitLog;

fn main() {
    let _ = std::mem::size_of::<CommitLog>();
}
