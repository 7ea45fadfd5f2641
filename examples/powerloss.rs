//! Power-loss crash images: records a seeded workload's I/O, builds crash images in which only
//! what was synced is sure to survive (unsynced 4 KiB pages old, new or torn at 512-byte
//! sectors; names not made durable by a directory sync possibly missing), recovers each and
//! checks it (see `src/powerloss.rs`). Prints one line:
//! `images N, acked lost L, inconsistent I, panics P`, and exits 1 if any of L, I, P > 0.
//!
//! `cargo run --release --example powerloss -- [IMAGES] [SEED] [WORKDIR]`
//! (defaults: 300 images, seed 1, a directory under /dev/shm or the temp directory). The runs
//! take the modes of `powerloss::ROTATION` in turn (SYNC_FLUSH, ASYNC_FLUSH, SYNC_FLUSH with
//! retention cleanup, `rebuild --in-place` after a clean stop, and `rebuild --in-place
//! --truncate-at-damage` after a clean stop and damage); `POWERLOSS_MODES=retention`
//! (comma-separated: sync, async, retention, rebuild, truncate) runs only those.

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all.first().map(String::as_str) == Some("one") {
        // `one RUN_SEED sync|async|retention|rebuild|truncate MESSAGES POINT old|new|RANDOM_SEED WORKDIR`: re-checks one
        // image of a FAILED line, keeps it in WORKDIR/kept and prints the events before it.
        let mode = rmqstore::powerloss::Mode::parse(&all[2]).expect("a mode");
        let choice = match all[5].as_str() {
            "old" => rmqstore::iorecord::Choice::AllOld,
            "new" => rmqstore::iorecord::Choice::AllNew,
            s => rmqstore::iorecord::Choice::Random(s.parse().expect("a seed")),
        };
        let o = rmqstore::powerloss::check_one(
            all[1].parse().expect("a seed"),
            mode,
            all[3].parse().expect("a count"),
            all[4].parse().expect("a point"),
            choice,
            std::path::Path::new(&all[6]),
            true,
        )
        .expect("recording");
        println!("{o:?}");
        return;
    }
    let mut args = all.into_iter();
    let n: u64 = args
        .next()
        .map_or(300, |a| a.parse().expect("IMAGES is a number"));
    let seed: u64 = args
        .next()
        .map_or(1, |a| a.parse().expect("SEED is a number"));
    let base = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let shm = std::path::Path::new("/dev/shm");
            if shm.is_dir() {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            }
        });
    let work = base.join(format!("rmqstore-powerloss-{}-{seed}", std::process::id()));
    let verbose = std::env::var_os("POWERLOSS_PROGRESS").is_some();
    let started = std::time::Instant::now();
    // POWERLOSS_MODES=retention,sync: only those modes, in turn (default: the whole rotation).
    let modes: Vec<rmqstore::powerloss::Mode> = match std::env::var("POWERLOSS_MODES") {
        Ok(m) => m
            .split(',')
            .map(|s| rmqstore::powerloss::Mode::parse(s).expect("POWERLOSS_MODES names modes"))
            .collect(),
        Err(_) => rmqstore::powerloss::ROTATION.to_vec(),
    };
    // Failures are printed as soon as their run ends (a long run may be stopped early).
    let mut printed = 0usize;
    let result = rmqstore::powerloss::run_images_in(seed, n, &work, &modes, |s| {
        for f in &s.failures[printed..] {
            eprintln!("FAILED {f}");
        }
        printed = s.failures.len();
        if verbose {
            eprintln!(
                "{} ({:.1} images/s, {} unsynced messages lost as allowed, {} deleted by \
                 retention, {} truncated by rebuild as asked)",
                s.line(),
                s.images as f64 / started.elapsed().as_secs_f64(),
                s.unsynced_lost,
                s.deleted,
                s.truncated
            );
        }
    });
    let _ = std::fs::remove_dir_all(&work);
    match result {
        Ok(sum) => {
            for f in &sum.failures[printed.min(sum.failures.len())..] {
                eprintln!("FAILED {f}");
            }
            println!("{}", sum.line());
            if sum.failed() {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("powerloss: recording a run failed: {e}");
            std::process::exit(2);
        }
    }
}
