//! Fault injection: named points on the write path where an I/O error can be made to happen,
//! so tests can check that ENOSPC, EIO, short writes and failed renames give a clear error,
//! leave the store recoverable, and lose nothing that was acknowledged.
//!
//! A fault applies to files under one directory (a test's store), so tests running in
//! parallel do not disturb each other. With no fault armed, a check is one atomic load.
//!
//! Without the `internals` feature nothing can arm a fault: every check is `Ok(())`.

use std::io;
use std::path::Path;
#[cfg(feature = "internals")]
use std::path::PathBuf;
#[cfg(feature = "internals")]
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(feature = "internals")]
use parking_lot::Mutex;

/// Where a fault can strike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// Creating and sizing a new segment, consume-queue or index file (ENOSPC).
    CreateFile,
    /// msync/fdatasync of a mapped file (EIO).
    Flush,
    /// A `write` to a file (the checkpoint, and commitlog appends under SYNC_FLUSH, which use
    /// `pwrite`): the injected fault writes the first half of the data, then fails.
    Write,
    /// A rename (the swap of `rebuild --in-place`).
    #[cfg(any(feature = "cli", feature = "internals"))]
    Rename,
}

#[cfg(feature = "internals")]
#[derive(Debug)]
struct Fault {
    id: usize,
    point: FaultPoint,
    under: PathBuf,
    errno: i32,
    /// Matching operations to let through before failing.
    skip: u32,
    /// Failures left (u32::MAX: until disarmed).
    times: u32,
}

#[cfg(feature = "internals")]
static ARMED: AtomicUsize = AtomicUsize::new(0);
#[cfg(feature = "internals")]
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
#[cfg(feature = "internals")]
static FAULTS: Mutex<Vec<Fault>> = Mutex::new(Vec::new());

/// An armed fault; dropping it disarms it.
#[cfg(feature = "internals")]
#[derive(Debug)]
#[must_use = "the fault is disarmed when this guard is dropped"]
pub struct FaultGuard {
    id: usize,
}

#[cfg(feature = "internals")]
impl Drop for FaultGuard {
    fn drop(&mut self) {
        let mut f = FAULTS.lock();
        let before = f.len();
        f.retain(|x| x.id != self.id);
        if f.len() < before {
            ARMED.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Arms a fault: the operations at `point` on files under `under` fail with OS error `errno`
/// (e.g. `libc::ENOSPC`), after letting `skip` through, `times` times.
#[cfg(feature = "internals")]
pub fn inject(point: FaultPoint, under: &Path, errno: i32, skip: u32, times: u32) -> FaultGuard {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    FAULTS.lock().push(Fault {
        id,
        point,
        under: under.to_path_buf(),
        errno,
        skip,
        times,
    });
    ARMED.fetch_add(1, Ordering::AcqRel);
    FaultGuard { id }
}

/// Called by the write path before the operation at `point` on `path`.
#[inline]
pub(crate) fn check(point: FaultPoint, path: &Path) -> io::Result<()> {
    #[cfg(feature = "internals")]
    if ARMED.load(Ordering::Acquire) != 0 {
        return check_slow(point, path);
    }
    #[cfg(not(feature = "internals"))]
    let _ = (point, path);
    Ok(())
}

#[cfg(feature = "internals")]
#[cold]
fn check_slow(point: FaultPoint, path: &Path) -> io::Result<()> {
    let mut faults = FAULTS.lock();
    for f in faults.iter_mut() {
        if f.point != point || !path.starts_with(&f.under) || f.times == 0 {
            continue;
        }
        if f.skip > 0 {
            f.skip -= 1;
            continue;
        }
        if f.times != u32::MAX {
            f.times -= 1;
        }
        return Err(io::Error::from_raw_os_error(f.errno));
    }
    Ok(())
}

/// `write_all` with the `Write` fault point: an injected fault writes the first half of
/// `data`, then fails (a short write).
pub(crate) fn write_all(file: &mut impl io::Write, path: &Path, data: &[u8]) -> io::Result<()> {
    if let Err(e) = check(FaultPoint::Write, path) {
        file.write_all(&data[..data.len() / 2])?;
        return Err(e);
    }
    file.write_all(data)
}

/// `write_all_at` (pwrite) with the `Write` fault point: an injected fault writes the first
/// half of `data`, then fails (a short write).
pub(crate) fn write_all_at(
    file: &std::fs::File,
    path: &Path,
    data: &[u8],
    at: u64,
) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    if let Err(e) = check(FaultPoint::Write, path) {
        file.write_all_at(&data[..data.len() / 2], at)?;
        crate::iorecord::write(path, at, &data[..data.len() / 2]);
        return Err(e);
    }
    file.write_all_at(data, at)?;
    crate::iorecord::write(path, at, data);
    Ok(())
}

/// `fs::rename` with the `Rename` fault point.
#[cfg(any(feature = "cli", feature = "internals"))]
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    check(FaultPoint::Rename, from)?;
    std::fs::rename(from, to)?;
    crate::iorecord::rename(from, to);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_scoped_counted_and_disarmed() {
        let a = Path::new("/tmp/fault-test-a");
        let g = inject(FaultPoint::Flush, a, libc::EIO, 1, 2);
        assert!(check(FaultPoint::Flush, Path::new("/tmp/fault-test-b/x")).is_ok());
        assert!(check(FaultPoint::Write, &a.join("x")).is_ok());
        assert!(check(FaultPoint::Flush, &a.join("x")).is_ok()); // skipped
        let e = check(FaultPoint::Flush, &a.join("x")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EIO));
        assert!(check(FaultPoint::Flush, &a.join("x")).is_err());
        assert!(check(FaultPoint::Flush, &a.join("x")).is_ok()); // used up
        drop(g);
        let _g = inject(FaultPoint::Flush, a, libc::EIO, 0, u32::MAX);
        assert!(check(FaultPoint::Flush, &a.join("y")).is_err());
    }
}
