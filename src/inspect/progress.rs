//! Progress of the long offline commands (`verify`, `rebuild`, `salvage`): bytes done out of
//! bytes to do, per phase. The callback is optional: the plain entry points (`verify`,
//! `rebuild`, `salvage`) pass [`none`], which does nothing.

/// One report: in `phase`, `done` of `total` bytes are through. `done` only rises within a
/// phase and ends equal to `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub phase: &'static str,
    pub done: u64,
    pub total: u64,
}

/// Where progress goes.
pub type ProgressFn<'a> = &'a (dyn Fn(Progress) + Sync);

/// The callback of a caller that wants none.
pub fn none(_: Progress) {}

/// Counts bytes of one phase and reports each step.
pub(crate) struct Phase<'a> {
    report: ProgressFn<'a>,
    phase: &'static str,
    done: u64,
    total: u64,
}

impl<'a> Phase<'a> {
    /// Starts a phase of `total` bytes (reported at 0).
    pub(crate) fn start(report: ProgressFn<'a>, phase: &'static str, total: u64) -> Phase<'a> {
        report(Progress {
            phase,
            done: 0,
            total,
        });
        Phase {
            report,
            phase,
            done: 0,
            total,
        }
    }

    /// `bytes` more are through.
    pub(crate) fn add(&mut self, bytes: u64) {
        self.done = (self.done + bytes).min(self.total);
        (self.report)(Progress {
            phase: self.phase,
            done: self.done,
            total: self.total,
        });
    }

    /// `done` bytes are through (never less than already reported).
    #[cfg(any(feature = "cli", feature = "internals"))]
    pub(crate) fn set(&mut self, done: u64) {
        if done > self.done {
            self.add(done - self.done);
        }
    }

    /// The phase is over (done = total, even when a step was skipped).
    pub(crate) fn finish(mut self) {
        let rest = self.total - self.done;
        if rest > 0 || self.total == 0 {
            self.add(rest);
        }
    }
}
