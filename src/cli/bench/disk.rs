//! The disk's own limits, measured in the bench's temp folder (so on the same file system as
//! the store): sequential write bandwidth with one fdatasync at the end, and the latency of
//! fdatasync after a small write, both into a preallocated file (as the commitlog's segments
//! are) and appending to a growing file (a size change costs a journal commit on ext4).

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::histogram::Histogram;

#[derive(Debug, Clone, Serialize)]
pub struct DiskProbe {
    /// Bytes written by the bandwidth probe.
    pub seq_write_bytes: u64,
    /// Bytes per second, write() in 1 MiB chunks plus the closing fdatasync.
    pub seq_write_bytes_per_s: f64,
    /// Small writes timed per fdatasync.
    pub sync_write_size: usize,
    pub sync_samples: usize,
    /// fdatasync after a small write into a preallocated file (what a commitlog flush does).
    pub fdatasync_prealloc_us: Quantiles,
    /// fdatasync after a small append that grows the file.
    pub fdatasync_append_us: Quantiles,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Quantiles {
    /// From a histogram of nanoseconds, in microseconds.
    pub fn micros(h: &Histogram) -> Quantiles {
        let us = |v: u64| v as f64 / 1000.0;
        Quantiles {
            p50: us(h.quantile(0.5)),
            p99: us(h.quantile(0.99)),
            p999: us(h.quantile(0.999)),
            max: us(h.max()),
        }
    }
}

fn fdatasync(f: &File, path: &Path) -> std::io::Result<()> {
    // SAFETY: `f` is an open descriptor for the duration of the call.
    let rc = unsafe { libc::fdatasync(f.as_raw_fd()) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(std::io::Error::new(
            e.kind(),
            format!("{}: fdatasync: {e}", path.display()),
        ));
    }
    Ok(())
}

/// The size of the write before each timed fdatasync.
const SYNC_WRITE_SIZE: usize = 4096;

/// fdatasync latency after a 4 KiB overwrite of a preallocated file (what a commitlog flush
/// is), `samples` times, in a file `name` in `dir` that is removed afterwards. The bench runs
/// it once with the disk probe and again, briefly, right before each SYNC_FLUSH cell: the
/// latency of a virtual disk drifts over minutes, and a put is compared with the disk as it
/// was at the time.
pub fn fdatasync_prealloc(dir: &Path, name: &str, samples: usize) -> std::io::Result<Histogram> {
    let block = vec![0xA5u8; SYNC_WRITE_SIZE];
    let path = dir.join(name);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    f.set_len((samples * SYNC_WRITE_SIZE) as u64)?;
    for i in 0..samples {
        f.write_all_at(&block, (i * SYNC_WRITE_SIZE) as u64)?;
    }
    fdatasync(&f, &path)?;
    let mut h = Histogram::new();
    for i in 0..samples {
        f.write_all_at(&block, (i * SYNC_WRITE_SIZE) as u64)?;
        let t = Instant::now();
        fdatasync(&f, &path)?;
        h.record(t.elapsed().as_nanos() as u64);
    }
    drop(f);
    fs::remove_file(&path)?;
    Ok(h)
}

/// Runs both probes in `dir` and removes their files.
pub fn probe(dir: &Path, seq_mib: usize, sync_samples: usize) -> std::io::Result<DiskProbe> {
    let seq_path = dir.join("disk-probe-seq");
    let chunk = vec![0x5Au8; 1 << 20];
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&seq_path)?;
    let start = Instant::now();
    for _ in 0..seq_mib {
        f.write_all(&chunk)?;
    }
    fdatasync(&f, &seq_path)?;
    let secs = start.elapsed().as_secs_f64();
    drop(f);
    fs::remove_file(&seq_path)?;
    let seq_write_bytes = (seq_mib as u64) << 20;

    let write_size = SYNC_WRITE_SIZE;
    let block = vec![0xA5u8; write_size];
    let pre = fdatasync_prealloc(dir, "disk-probe-prealloc", sync_samples)?;

    let app_path = dir.join("disk-probe-append");
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&app_path)?;
    f.seek(SeekFrom::Start(0))?;
    let mut app = Histogram::new();
    for _ in 0..sync_samples {
        f.write_all(&block)?;
        let t = Instant::now();
        fdatasync(&f, &app_path)?;
        app.record(t.elapsed().as_nanos() as u64);
    }
    drop(f);
    fs::remove_file(&app_path)?;

    Ok(DiskProbe {
        seq_write_bytes,
        seq_write_bytes_per_s: seq_write_bytes as f64 / secs.max(1e-9),
        sync_write_size: write_size,
        sync_samples,
        fdatasync_prealloc_us: Quantiles::micros(&pre),
        fdatasync_append_us: Quantiles::micros(&app),
    })
}
