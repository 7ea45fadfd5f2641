//! The `rmqstore` binary, run as a user runs it: `cat --json` against what Java's own reader
//! read back from every fixture, read-only behaviour (no file changed, a held lock does not
//! matter), exit code 2 with one line naming the file for unusable stores, and `demo`.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use common::{
    all_fixtures, copy_store_to_temp, fixture, sha256_hex, tree_digest, Failures, Fixture,
    ReaderMessage,
};
use serde_json::Value;

fn rmqstore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmqstore"))
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    rmqstore().args(args).output().expect("run rmqstore")
}

fn cat_json(store: &Path) -> Output {
    run(&["cat".as_ref(), store.as_os_str(), "--json".as_ref()])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The fields `cat --json` prints, besides `body`, all with reader.json's names.
const FIELDS: [&str; 17] = [
    "topic",
    "queueId",
    "queueOffset",
    "commitLogOffset",
    "storeSize",
    "msgId",
    "sysFlag",
    "flag",
    "bornTimestamp",
    "bornHost",
    "storeTimestamp",
    "storeHost",
    "reconsumeTimes",
    "preparedTransactionOffset",
    "bodyCrc",
    "bodyLength",
    "propertiesString",
];

/// What Java's reader saw: every queue message and every record in no queue, by offset.
fn reader_records(f: &Fixture) -> Vec<ReaderMessage> {
    let r = f.reader();
    let mut all: Vec<ReaderMessage> = r
        .queues
        .into_iter()
        .flat_map(|q| q.messages)
        .chain(r.messages_not_in_consume_queue)
        .collect();
    all.sort_by_key(|m| m.commit_log_offset);
    all
}

/// Compares `cat --json` output with reader.json, field by field.
fn check_cat_output(f: &Fixture, stdout: &[u8], fails: &mut Failures) {
    let want = reader_records(f);
    let offsets: BTreeSet<i64> = want.iter().map(|m| m.commit_log_offset).collect();
    assert_eq!(
        offsets.len(),
        want.len(),
        "{}: reader.json lists an offset twice",
        f.name
    );
    let text = std::str::from_utf8(stdout).expect("cat --json prints UTF-8");
    let got: Vec<Value> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: line {} is not JSON: {e}: {l}", f.name, i + 1))
        })
        .collect();
    fails.eq(&f.name, "record count", &got.len(), &want.len());
    // Each line names its schema (issue 17), then reader.json's fields.
    let field_set: BTreeSet<&str> = FIELDS.iter().copied().chain(["body", "schema"]).collect();
    for (g, w) in got.iter().zip(&want) {
        let at = format!("{} @{}", f.name, w.commit_log_offset);
        let obj = g.as_object().expect("one object per line");
        fails.eq(&at, "schema", &g["schema"], &Value::from("rmqstore.cat/2"));
        let keys: BTreeSet<&str> = obj.keys().map(|k| k.as_str()).collect();
        fails.eq(&at, "field names", &keys, &field_set);
        let w_json = serde_json::json!({
            "topic": w.topic,
            "queueId": w.queue_id,
            "queueOffset": w.queue_offset,
            "commitLogOffset": w.commit_log_offset,
            "storeSize": w.store_size,
            "msgId": w.msg_id,
            "sysFlag": w.sys_flag,
            "flag": w.flag,
            "bornTimestamp": w.born_timestamp,
            "bornHost": w.born_host,
            "storeTimestamp": w.store_timestamp,
            "storeHost": w.store_host,
            "reconsumeTimes": w.reconsume_times,
            "preparedTransactionOffset": w.prepared_transaction_offset,
            "bodyCrc": w.body_crc,
            "bodyLength": w.body_length,
            "propertiesString": w.properties_string,
        });
        for field in FIELDS {
            fails.eq(&at, field, &obj.get(field), &w_json.get(field));
        }
        match obj
            .get("body")
            .and_then(Value::as_str)
            .map(|b| base64::engine::general_purpose::STANDARD.decode(b))
        {
            Some(Ok(body)) => {
                fails.eq(&at, "sha256(body)", &sha256_hex(&body), &w.body_sha256);
                fails.eq(&at, "body length", &(body.len() as i64), &w.body_length);
            }
            other => fails.push(format!("{at}: body is not standard base64: {other:?}")),
        }
    }
}

#[test]
fn cat_json_matches_java_reader_and_changes_nothing() {
    let mut fails = Failures::new("rmqstore cat --json vs reader.json");
    for f in all_fixtures() {
        let tmp = copy_store_to_temp(&f);
        let before = tree_digest(tmp.path());
        let out = cat_json(tmp.path());
        assert!(
            out.status.success(),
            "{}: exit {:?}: {}",
            f.name,
            out.status,
            stderr(&out)
        );
        check_cat_output(&f, &out.stdout, &mut fails);
        fails.eq(
            &f.name,
            "store tree after cat",
            &tree_digest(tmp.path()),
            &before,
        );
    }
    fails.finish();
}

/// Another open file description holds the `lock` file's fcntl lock, as a running broker (or
/// one of our writers) does: an inspector reads anyway, and leaves the lock file alone.
#[test]
fn cat_reads_a_store_whose_lock_is_held() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let lock_path = tmp.path().join("lock");
    let holder = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lock_path)
        .expect("open lock");
    // SAFETY: a zeroed flock is valid; the fields we need are set before the call, which only
    // reads it, on a descriptor that stays open for the whole test.
    let rc = unsafe {
        let mut fl: libc::flock = std::mem::zeroed();
        fl.l_type = libc::F_WRLCK as _;
        fl.l_whence = libc::SEEK_SET as _;
        fl.l_start = 0;
        fl.l_len = 1;
        libc::fcntl(holder.as_raw_fd(), libc::F_OFD_SETLK, &fl)
    };
    assert_eq!(rc, 0, "take the lock: {}", std::io::Error::last_os_error());
    assert!(
        rmqstore::store::is_locked(tmp.path()).unwrap(),
        "the lock is held"
    );
    let before = tree_digest(tmp.path());

    let out = cat_json(tmp.path());
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    let mut fails = Failures::new("cat on a locked store");
    check_cat_output(&f, &out.stdout, &mut fails);
    fails.eq(
        &f.name,
        "store tree after cat",
        &tree_digest(tmp.path()),
        &before,
    );
    fails.finish();
    assert!(
        rmqstore::store::is_locked(tmp.path()).unwrap(),
        "still held by us"
    );
    drop(holder);
}

/// The text form: one line per record; and `| head` closing the pipe early is not an error.
#[test]
fn cat_text_and_closed_pipe() {
    let f = fixture("4.6.0/async");
    let want = reader_records(&f).len();
    let out = run(&["cat".as_ref(), f.store_dir.as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), want);
    let first = text.lines().next().unwrap();
    assert!(
        first.contains("TopicTest") && first.contains("7F00000100002A9F0000000000000000"),
        "{first}"
    );

    // Read one line, then close the pipe while the tool still has ~300 KB to print.
    let mut child = rmqstore()
        .args(["cat".as_ref(), f.store_dir.as_os_str(), "--json".as_ref()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with('{'));
    drop(reader);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "exit {status:?} after a closed pipe; stderr: {err}"
    );
    assert!(
        err.is_empty(),
        "nothing on stderr after a closed pipe: {err}"
    );
}

/// Exit 2 and exactly one line on stderr that names `name`; no panic, no backtrace.
fn assert_unusable(out: &Output, name: &str, what: &str) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: exit {:?}, stderr: {err}",
        out.status
    );
    assert!(out.stdout.is_empty(), "{what}: nothing on stdout");
    assert_eq!(err.lines().count(), 1, "{what}: one line on stderr: {err}");
    assert!(err.contains(name), "{what}: stderr names {name}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{what}: {err}"
    );
}

/// Exit 1, `name` left out on stderr, and every record of the clean fixture on stdout.
fn assert_left_out(out: &Output, name: &str, f: &Fixture, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{what}: stderr: {err}");
    assert!(
        err.contains(name) && err.contains("left out"),
        "{what}: stderr names {name}: {err}"
    );
    assert!(!err.contains("panicked"), "{what}: {err}");
    let records = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("\"leftOut\""))
        .count();
    let clean = cat_json(&f.store_dir);
    assert_eq!(
        records,
        String::from_utf8_lossy(&clean.stdout).lines().count(),
        "{what}: every record shown"
    );
}

#[test]
fn unusable_stores_exit_2_naming_the_file() {
    let f = fixture("4.6.0/async");
    let segments = f.commitlog_segments();

    // A truncated segment: its length differs from the others'.
    let tmp = copy_store_to_temp(&f);
    let victim = tmp
        .path()
        .join("commitlog")
        .join(segments[1].1.file_name().unwrap());
    fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_len(500_000)
        .unwrap();
    let out = cat_json(tmp.path());
    assert_unusable(&out, &victim.display().to_string(), "truncated segment");
    assert!(stderr(&out).contains("500000"), "{}", stderr(&out));
    // With the size given, the store's own check names it too.
    let out = run(&[
        "cat".as_ref(),
        tmp.path().as_os_str(),
        "--commitlog-size".as_ref(),
        "1048576".as_ref(),
    ]);
    assert_unusable(
        &out,
        &victim.display().to_string(),
        "truncated segment, size given",
    );

    // A stray file among the segments: a side file (issue 12 item 5), left out and named;
    // every record is still shown, exit 1.
    let tmp = copy_store_to_temp(&f);
    let stray = tmp.path().join("commitlog").join("notes.txt");
    fs::write(&stray, b"not a segment").unwrap();
    assert_left_out(
        &cat_json(tmp.path()),
        &stray.display().to_string(),
        &f,
        "stray file",
    );

    // An index file of a length no geometry explains.
    let tmp = copy_store_to_temp(&f);
    let index = fs::read_dir(tmp.path().join("index"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::OpenOptions::new()
        .write(true)
        .open(&index)
        .unwrap()
        .set_len(84_041)
        .unwrap();
    // The other index file agrees on the geometry: the odd one is left out and named.
    let out = cat_json(tmp.path());
    assert_left_out(&out, &index.display().to_string(), &f, "odd index length");

    // No such folder.
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-store-here");
    assert_unusable(
        &cat_json(&missing),
        &missing.display().to_string(),
        "missing folder",
    );
    assert!(!missing.exists(), "nothing created");
}

#[test]
fn demo_writes_and_verifies_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("demo");
    let out = run(&["demo".as_ref(), "--out".as_ref(), out_dir.as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}: {text}{}",
        out.status,
        stderr(&out)
    );
    assert!(text.contains("OK"), "{text}");
    // The demo store is an ordinary store: cat reads it.
    let store = out_dir.join("async");
    let listed = cat_json(&store);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(String::from_utf8_lossy(&listed.stdout).lines().count() > 3000);
    assert!(!store.join("abort").exists(), "clean shutdown");

    // A non-empty folder is refused.
    assert_unusable(
        &run(&["demo".as_ref(), "--out".as_ref(), out_dir.as_os_str()]),
        &out_dir.display().to_string(),
        "demo into a non-empty folder",
    );
}
