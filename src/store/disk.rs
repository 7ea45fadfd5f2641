//! Disk usage of a file-system partition: what cleanup's space triggers and the store's
//! [`stats`](crate::MessageStore::stats) read. Below both: cleanup (above the store) imports
//! it from here.

use std::path::Path;

use serde::Serialize;

/// Size and free space of a file-system partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiskUsage {
    /// Size of the partition.
    pub total_bytes: u64,
    /// Bytes free on the partition (for any user, as `statvfs` `f_bfree`).
    pub free_bytes: u64,
}

impl DiskUsage {
    /// `(total - free) / total`, as `UtilAll#getDiskPartitionSpaceUsedPercent` computes it.
    pub fn used_ratio(&self) -> f64 {
        if self.total_bytes == 0 {
            return -1.0;
        }
        self.total_bytes.saturating_sub(self.free_bytes) as f64 / self.total_bytes as f64
    }
}

/// Where cleanup (and the store's statistics) learn how full a partition is.
pub trait DiskUsageProbe: Send + Sync {
    /// Usage of the partition holding `path`; `None` when it cannot be read (Java's -1, which
    /// counts as "reclaim space").
    fn usage(&self, path: &Path) -> Option<DiskUsage>;
}

/// The real probe: `statvfs`, with Java `File#getTotalSpace` (`f_blocks × f_frsize`) and
/// `File#getFreeSpace` (`f_bfree × f_frsize`, which includes blocks reserved for root).
#[derive(Debug, Clone, Copy, Default)]
pub struct StatvfsProbe;

impl DiskUsageProbe for StatvfsProbe {
    fn usage(&self, path: &Path) -> Option<DiskUsage> {
        use std::os::unix::ffi::OsStrExt;
        if !path.exists() {
            return None;
        }
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        // SAFETY: `st` is a plain C struct for which all-zero bytes are valid; statvfs only
        // writes into it, and `c` is a NUL-terminated path valid for the call.
        let st = unsafe {
            let mut st: libc::statvfs = std::mem::zeroed();
            if libc::statvfs(c.as_ptr(), &mut st) != 0 {
                return None;
            }
            st
        };
        let frsize = st.f_frsize as u64;
        let total = (st.f_blocks as u64).saturating_mul(frsize);
        if total == 0 {
            return None;
        }
        Some(DiskUsage {
            total_bytes: total,
            free_bytes: (st.f_bfree as u64).saturating_mul(frsize),
        })
    }
}
