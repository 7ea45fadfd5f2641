// expect: module `dispatch` is private
//! The dispatcher (writes consume queue units and index entries) is not reachable.
use rmqstore::dispatch::Dispatcher;

fn main() {
    let _ = std::mem::size_of::<Dispatcher>();
}
