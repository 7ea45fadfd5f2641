// expect: module `mapped_file` is private
//! A mapped segment (`write_at`, `truncate`) is not reachable.
use rmqstore::mapped_file::MappedFile;

fn main() {
    let _ = std::mem::size_of::<MappedFile>();
}
