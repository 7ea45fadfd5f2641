//! Issue 12 item 9: command-line edges. Inverted or empty ranges and out-of-range sizes get a
//! clear error (exit 2); `replicate` gives up on a master it cannot reach, after a bounded
//! time, without creating anything in `--store`; and a `flock()` on the store's `lock` file is
//! respected as Java's fcntl lock is, by writable opens and wherever the lock is reported.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{copy_store_to_temp, fixture, fixture_store_config};
use rmqstore::{MessageStore, StoreError};

fn rmqstore(args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .args(args)
        .output()
        .expect("run rmqstore")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn os(s: &str) -> &OsStr {
    s.as_ref()
}

/// Runs the command and expects exit 2 with every `needles` on stderr and nothing on stdout.
fn expect_usage_error(args: &[&OsStr], needles: &[&str]) {
    let o = rmqstore(args);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{args:?}: exit code; stderr: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "{args:?}: stderr names {n:?}: {err}");
    }
    assert!(
        o.stdout.is_empty(),
        "{args:?}: printed {:?}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn cat_refuses_inverted_and_empty_ranges() {
    let f = fixture("rocketmq-4.6.0/async");
    let store = f.store_dir.as_os_str();
    let cat = os("cat");
    expect_usage_error(
        &[cat, store, os("--from"), os("100000"), os("--to"), os("10")],
        &["--from", "--to", "100000", "10"],
    );
    expect_usage_error(
        &[cat, store, os("--from"), os("10"), os("--to"), os("10")],
        &["--from", "--to"],
    );
    expect_usage_error(
        &[
            cat,
            store,
            os("--topic"),
            os("TopicTest"),
            os("--from"),
            os("9"),
            os("--to"),
            os("3"),
        ],
        &["--from", "--to"],
    );
    expect_usage_error(
        &[
            cat,
            store,
            os("--since"),
            os("2026-01-02 00:00"),
            os("--until"),
            os("2026-01-01 00:00"),
        ],
        &["--since", "--until"],
    );
    expect_usage_error(
        &[cat, store, os("--topic"), os("TopicTest"), os("--queue=-1")],
        &["--queue"],
    );
    // A sound range still works.
    let o = rmqstore(&[
        cat,
        store,
        os("--from"),
        os("0"),
        os("--to"),
        os("2000"),
        os("--json"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!o.stdout.is_empty());
}

#[test]
fn size_flags_out_of_range_are_refused() {
    let f = fixture("rocketmq-4.6.0/async");
    let store = f.store_dir.as_os_str();
    for (cmd, flag, value) in [
        ("verify", "--index-num", "4294967295"),
        ("verify", "--index-num", "0"),
        ("verify", "--hash-slots", "0"),
        ("verify", "--hash-slots", "4294967295"),
        ("verify", "--commitlog-size", "100"),
        ("verify", "--commitlog-size", "4294967296"),
        ("verify", "--cq-size", "0"),
        ("verify", "--cq-size", "2147483647"),
        ("stat", "--index-num", "4294967295"),
        ("cat", "--cq-size", "0"),
        ("salvage", "--index-num", "4294967295"),
        ("rebuild", "--index-num", "4294967295"),
    ] {
        expect_usage_error(&[os(cmd), store, os(flag), os(value)], &[flag, value]);
    }
    // Each fits alone, but the index file they describe would be larger than Java's int.
    expect_usage_error(
        &[
            os("stat"),
            store,
            os("--hash-slots"),
            os("500000000"),
            os("--index-num"),
            os("100000000"),
        ],
        &["--hash-slots", "--index-num"],
    );
}

/// Runs `replicate` in a child, bounded: it must exit by itself within `limit`.
fn replicate_bounded(args: &[&OsStr], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .arg("replicate")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "replicate {args:?} still running after {limit:?}; stderr: {}",
                stderr(&o)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn replicate_gives_up_on_an_unreachable_master_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // Not an address at all: refused at once, and the store folder is not even created.
    let missing = tmp.path().join("new-store");
    let o = replicate_bounded(
        &[
            os("--from"),
            os("not a host"),
            os("--store"),
            missing.as_os_str(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a host"), "{}", stderr(&o));
    assert!(!missing.exists(), "replicate created {}", missing.display());

    // A well-formed address nobody listens on: retried, then given up after --connect-timeout.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let empty = tmp.path().join("empty-store");
    fs::create_dir(&empty).unwrap();
    let addr = format!("127.0.0.1:{port}");
    let o = replicate_bounded(
        &[
            os("--from"),
            os(&addr),
            os("--store"),
            empty.as_os_str(),
            os("--connect-timeout"),
            os("1"),
        ],
        Duration::from_secs(60),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&addr) && err.contains("cannot reach"), "{err}");
    assert!(listing(&empty).is_empty(), "created {:?}", listing(&empty));
}

/// Takes `flock(LOCK_EX)` on `path` through a fresh open file, as `flock(1)` or another tool
/// would; released when the returned file is closed.
fn flock_exclusive(path: &Path) -> fs::File {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap();
    // SAFETY: a valid descriptor for the duration of the call.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
    f
}

#[test]
fn an_flock_on_the_lock_file_is_respected() {
    let f = fixture("rocketmq-4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let lock_path = tmp.path().join("lock");
    let held = flock_exclusive(&lock_path);

    match MessageStore::open(fixture_store_config(tmp.path())) {
        Err(StoreError::Locked { .. }) => {}
        Err(e) => panic!("open under another tool's flock: {e}"),
        Ok(_) => panic!(
            "a writable open ignored another tool's flock on {}",
            lock_path.display()
        ),
    }
    assert!(
        !tmp.path().join("abort").exists(),
        "a refused open left an abort file"
    );
    assert!(
        rmqstore::store::is_locked(tmp.path()).unwrap(),
        "is_locked sees the flock"
    );
    let o = rmqstore(&[os("stat"), tmp.path().as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("HELD"), "stat reports the held lock: {text}");

    drop(held);
    assert!(!rmqstore::store::is_locked(tmp.path()).unwrap());
    let store = MessageStore::open(fixture_store_config(tmp.path())).unwrap();
    // Our own lock is visible to flock() users too.
    let other = fs::OpenOptions::new().read(true).open(&lock_path).unwrap();
    // SAFETY: a valid descriptor for the duration of the call.
    let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(
        rc, -1,
        "an flock() by another tool succeeded while the store is open"
    );
    assert!(rmqstore::store::is_locked(tmp.path()).unwrap());
    store.shutdown().unwrap();
    // SAFETY: as above.
    let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(rc, 0, "the lock is released at shutdown");
}
