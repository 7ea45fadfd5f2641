//! The names a rebuild leaves next to a store (its temporary output, what an in-place rebuild
//! kept), which `verify` recognises even in a build without the `rebuild` command itself.

/// `consumequeue.rebuild-<ts>`, `.out.rebuild-<ts>`, ...: a rebuild's temporary output.
pub fn is_rebuild_leftover(name: &str) -> bool {
    name.rsplit_once(".rebuild-")
        .is_some_and(|(_, ts)| !ts.is_empty() && ts.bytes().all(|b| b.is_ascii_digit()))
}

/// `checkpoint.bak-<ts>`, `commitlog.bak-<ts>`, ...: what a rebuild in place kept.
pub fn is_rebuild_backup(name: &str) -> bool {
    name.rsplit_once(".bak-")
        .is_some_and(|(_, ts)| !ts.is_empty() && ts.bytes().all(|b| b.is_ascii_digit()))
}
