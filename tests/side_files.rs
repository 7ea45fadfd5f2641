//! Issue 12 item 5: one bad side file (a stray entry in `commitlog/`, a consume-queue or index
//! file of the wrong length) is named on stderr (and in `--json`), left out, and the rest of the
//! store is still shown; the command exits 1 because something was left out. A wrong-length
//! commitlog *segment* stays exit 2 (Java refuses the store). Run over copies of the Java
//! fixtures, with and without the size flags.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy_store_to_temp, fixture};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &str, store: &Path, extra: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .arg(cmd)
        .arg(store)
        .args(extra)
        .output()
        .expect("run rmqstore");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// What the clean store shows: `cat` lines, `topics --json` message total, `stat` output.
struct Clean {
    cat_lines: usize,
    topics_total: u64,
    topic_queues: usize,
}

fn topics_total(json: &str) -> (u64, usize) {
    let v: serde_json::Value = serde_json::from_str(json).expect("topics --json is JSON");
    let mut total = 0;
    let mut queues = 0;
    for t in v["topics"].as_array().expect("a list under \"topics\"") {
        for q in t["queues"].as_array().expect("queues") {
            queues += 1;
            total += q["messageCount"]
                .as_u64()
                .or_else(|| q["message_count"].as_u64())
                .expect("message count");
        }
    }
    (total, queues)
}

fn clean(store: &Path) -> Clean {
    let cat = run("cat", store, &[]);
    assert_eq!(cat.code, 0, "{}", cat.stderr);
    let topics = run("topics", store, &["--json"]);
    assert_eq!(topics.code, 0, "{}", topics.stderr);
    let (topics_total, topic_queues) = topics_total(&topics.stdout);
    Clean {
        cat_lines: cat.stdout.lines().count(),
        topics_total,
        topic_queues,
    }
}

fn first_file(dir: &Path) -> PathBuf {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v[0].clone()
}

fn a_cq_file(root: &Path) -> PathBuf {
    first_file(&first_file(&root.join("consumequeue").join("T")))
}

/// Runs stat, topics (text and JSON) and cat (text and JSON) with `flags`: each exits 1,
/// names `victim` on stderr (and in JSON), and shows the rest.
fn check_left_out(root: &Path, victim: &Path, flags: &[&str], clean: &Clean, what: &str) {
    let name = victim.display().to_string();
    let with = |extra: &[&'static str]| -> Vec<&str> { [flags, extra].concat() };
    for cmd in ["stat", "topics", "cat"] {
        let o = run(cmd, root, &with(&[]));
        assert_eq!(o.code, 1, "{what}: {cmd} exit code; stderr: {}", o.stderr);
        assert!(
            o.stderr.contains(&name) && o.stderr.contains("left out"),
            "{what}: {cmd} does not name {name}: {}",
            o.stderr
        );
        assert!(!o.stdout.is_empty(), "{what}: {cmd} shows nothing");
        assert!(!o.stderr.contains("panicked"), "{what}: {}", o.stderr);
        let j = run(cmd, root, &with(&["--json"]));
        assert_eq!(j.code, 1, "{what}: {cmd} --json exit code; {}", j.stderr);
        assert!(
            j.stderr.contains(&name),
            "{what}: {cmd} --json: {}",
            j.stderr
        );
        // topics --json stays one list of topics; stat and cat carry the file in their JSON.
        if cmd != "topics" {
            assert!(
                j.stdout.contains(&name) && j.stdout.contains("\"leftOut\""),
                "{what}: {cmd} --json does not name {name}: {}",
                j.stdout
            );
        }
    }
    let cat = run("cat", root, flags);
    let shown = cat.stdout.lines().count();
    assert_eq!(shown, clean.cat_lines, "{what}: cat shows every record");
}

#[test]
fn stray_file_in_commitlog_is_left_out() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let root = tmp.path();
    let clean = clean(root);
    for (stray, flags) in [
        ("00000000000009999999", &[][..]),
        ("00000000000009999999", &["--commitlog-size", "1048576"][..]),
        ("notes.txt", &[][..]),
    ] {
        let p = root.join("commitlog").join(stray);
        fs::write(&p, vec![1u8; 100]).unwrap();
        check_left_out(root, &p, flags, &clean, &format!("stray {stray} {flags:?}"));
        let topics = run("topics", root, &[&["--json"][..], flags].concat());
        assert_eq!(
            topics_total(&topics.stdout),
            (clean.topics_total, clean.topic_queues),
            "topics counts every queue"
        );
        fs::remove_file(&p).unwrap();
    }
}

#[test]
fn consume_queue_file_of_the_wrong_length_is_left_out() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let root = tmp.path();
    let clean = clean(root);
    let p = a_cq_file(root);
    let d = fs::read(&p).unwrap();
    fs::write(&p, &d[..d.len() - 7]).unwrap();
    for flags in [&[][..], &["--cq-size", "4000"][..]] {
        check_left_out(root, &p, flags, &clean, &format!("cq file {flags:?}"));
        // topics shows every other queue.
        let topics = run("topics", root, &[&["--json"][..], flags].concat());
        let (_, queues) = topics_total(&topics.stdout);
        assert_eq!(queues, clean.topic_queues - 1, "topics: every other queue");
        // cq on that queue names the file and exits 1.
        let cq = run("cq", root, &[&["T", "0"][..], flags].concat());
        assert_eq!(cq.code, 1, "cq: {}", cq.stderr);
        assert!(
            cq.stderr.contains(&p.display().to_string()),
            "{}",
            cq.stderr
        );
    }
}

#[test]
fn index_file_of_the_wrong_length_is_left_out() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let root = tmp.path();
    let clean = clean(root);
    let p = first_file(&root.join("index"));
    let d = fs::read(&p).unwrap();
    fs::write(&p, &d[..d.len() - 100]).unwrap();
    for flags in [
        &[][..],
        &["--hash-slots", "1000", "--index-num", "4000"][..],
    ] {
        check_left_out(root, &p, flags, &clean, &format!("index file {flags:?}"));
        let topics = run("topics", root, &[&["--json"][..], flags].concat());
        assert_eq!(
            topics_total(&topics.stdout),
            (clean.topics_total, clean.topic_queues),
            "topics counts every queue"
        );
        let ix = run("index", root, flags);
        assert_eq!(ix.code, 1, "index: {}", ix.stderr);
        assert!(
            ix.stderr.contains(&p.display().to_string()),
            "{}",
            ix.stderr
        );
    }
    // Both index files odd: nothing agrees, the geometry cannot be told.
    let other = fs::read_dir(root.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|q| *q != p)
        .unwrap();
    let d = fs::read(&other).unwrap();
    fs::write(&other, &d[..d.len() - 99]).unwrap();
    let o = run("cat", root, &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("--hash-slots"), "{}", o.stderr);
}

#[test]
fn wrong_length_segment_still_refused() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let root = tmp.path();
    let seg = root.join("commitlog").join("00000000000001048576");
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(500_000)
        .unwrap();
    for cmd in ["stat", "topics", "cat"] {
        let o = run(cmd, root, &[]);
        assert_eq!(o.code, 2, "{cmd}: {}", o.stderr);
        assert!(
            o.stderr.contains(&seg.display().to_string()),
            "{}",
            o.stderr
        );
    }
}

#[test]
fn rebuild_out_proceeds_past_a_stray_commitlog_file() {
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let root = tmp.path();
    let p = root.join("commitlog").join("00000000000009999999");
    fs::write(&p, vec![1u8; 100]).unwrap();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("rebuilt");
    let o = Command::new(env!("CARGO_BIN_EXE_rmqstore"))
        .arg("rebuild")
        .arg(root)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "rebuild --out: {err}");
    assert!(err.contains(&p.display().to_string()), "{err}");
    assert!(!out.join("commitlog").join("00000000000009999999").exists());
    let rebuilt = run("cat", &out, &[]);
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.stderr);
    let clean = run("cat", &f.store_dir, &[]);
    assert_eq!(rebuilt.stdout.lines().count(), clean.stdout.lines().count());
}

/// Damages a store copy and returns the file it damaged.
type Damage = fn(&Path) -> PathBuf;

/// The library: an inspection open leaves each side file out (typed, naming the file) and
/// reads every record; the writable and plain read-only opens refuse the same store.
#[test]
fn library_inspect_open_leaves_out_writable_open_refuses() {
    let f = fixture("4.6.0/async");
    let clean_records = {
        let s = rmqstore::MessageStore::open_read_only(common::fixture_store_config(&f.store_dir))
            .unwrap();
        s.records().count()
    };
    let damages: [(&str, Damage); 3] = [
        ("stray", |r| {
            let p = r.join("commitlog").join("00000000000009999999");
            fs::write(&p, vec![1u8; 100]).unwrap();
            p
        }),
        ("cq", |r| {
            let p = a_cq_file(r);
            let d = fs::read(&p).unwrap();
            fs::write(&p, &d[..d.len() - 7]).unwrap();
            p
        }),
        ("index", |r| {
            let p = first_file(&r.join("index"));
            let d = fs::read(&p).unwrap();
            fs::write(&p, &d[..d.len() - 100]).unwrap();
            p
        }),
    ];
    for (what, damage) in damages {
        let tmp = copy_store_to_temp(&f);
        let root = tmp.path();
        let victim = damage(root);
        let config = || common::fixture_store_config(root);
        let before = common::tree_digest(root);
        let s = rmqstore::MessageStore::open_inspect(config()).unwrap();
        let left: Vec<&Path> = s.left_out().iter().map(|l| l.path.as_path()).collect();
        assert_eq!(left, vec![victim.as_path()], "{what}");
        assert_eq!(s.records().count(), clean_records, "{what}: every record");
        drop(s);
        let e = rmqstore::MessageStore::open_read_only(config()).unwrap_err();
        assert!(
            e.to_string().contains(&victim.display().to_string()),
            "{what}: {e}"
        );
        assert_eq!(common::tree_digest(root), before, "{what}: nothing changed");
        let e = rmqstore::MessageStore::open(config()).unwrap_err();
        assert!(
            e.to_string().contains(&victim.display().to_string()),
            "{what}: {e}"
        );
        assert!(victim.exists(), "{what}: the writable open drops no file");
    }
}

/// Discovery: one odd file among agreeing ones is reported; when nothing agrees, the error.
#[test]
fn discovery_takes_geometry_from_the_files_that_agree() {
    use rmqstore::inspect::discover::discover_config_tolerant;
    use rmqstore::inspect::GeometryOverrides;
    let f = fixture("4.6.0/async");
    let tmp = copy_store_to_temp(&f);
    let root = tmp.path();
    let o = GeometryOverrides::default();
    let p = first_file(&root.join("index"));
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(84_041)
        .unwrap();
    let (c, left) = discover_config_tolerant(root, &o).unwrap();
    assert_eq!((c.max_hash_slot_num, c.max_index_num), (1000, 4000));
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].path, p);
    assert!(left[0].reason.contains("84041"), "{}", left[0].reason);
    // The strict discovery still refuses it.
    assert!(rmqstore::inspect::discover_config(root, &o).is_err());
    // Both odd: nothing agrees.
    let other = fs::read_dir(root.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|q| *q != p)
        .unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&other)
        .unwrap()
        .set_len(84_045)
        .unwrap();
    let e = discover_config_tolerant(root, &o).unwrap_err().to_string();
    assert!(e.contains("--hash-slots"), "{e}");
}
