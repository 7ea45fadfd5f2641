// expect: module `rebuild` is private
//! `rebuild --in-place` rewrites a store; only the CLI's explicit command reaches it.
use rmqstore::inspect::rebuild::rebuild;

fn main() {
    let _ = rebuild;
}
