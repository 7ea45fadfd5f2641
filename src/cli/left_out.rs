//! The shared printer for side files a read command left out (issue 12 item 5): each named
//! in a warning on stderr when the store is opened; the command goes on and shows the rest,
//! and then exits 1 because something was left out.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::{CliError, CliResult};
use crate::left_out::LeftOut;

/// How many side files this process left out (one command runs per process).
static LEFT_OUT: AtomicUsize = AtomicUsize::new(0);

/// Warns about each file left out and remembers that the command must exit 1.
pub(super) fn warn_all(left: &[LeftOut]) {
    for l in left {
        super::warn(&l.to_string());
    }
    LEFT_OUT.fetch_add(left.len(), Ordering::SeqCst);
}

/// A successful command that left side files out fails (exit 1) saying how many.
pub(super) fn fail_if_any(result: CliResult) -> CliResult {
    let n = LEFT_OUT.swap(0, Ordering::SeqCst);
    match result {
        Ok(()) if n > 0 => Err(CliError::Failed(format!(
            "{n} side file{} left out (named above); the rest of the store is shown",
            if n == 1 { "" } else { "s" }
        ))),
        other => other,
    }
}

/// A file left out as a `--json` line of its own (`cat`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JsonLeftOut<'a> {
    pub left_out: &'a LeftOut,
}
