//! `tracing` events and typed background errors: recovery decisions, cleanup deletions and a
//! failing flush service are reported.

use std::fs::File;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use rmqstore::error::BackgroundError;
use rmqstore::fault::{inject, FaultPoint};
use rmqstore::{Message, MessageStore, StoreConfig};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Collects every event as "LEVEL message key=value ...".
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<String>>>);

struct Line(String);
impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!(" {value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl Subscriber for Collect {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut l = Line(event.metadata().level().to_string());
        event.record(&mut l);
        self.0.lock().unwrap().push(l.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// The process-wide collector (a global one: thread-scoped subscribers race with callsite
/// interest caching when tests run in parallel).
fn events() -> Collect {
    static C: std::sync::OnceLock<Collect> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        let c = Collect::default();
        tracing::subscriber::set_global_default(c.clone()).expect("first subscriber");
        c
    })
    .clone()
}

fn config(root: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 4096;
    c.background_services = false;
    c
}

#[test]
fn recovery_and_cleanup_are_traced() {
    let dir = tempfile::tempdir().unwrap();
    let events = events();
    let root = dir.path().display().to_string();
    {
        let store = MessageStore::open(config(dir.path())).unwrap();
        for i in 0..60u8 {
            store
                .put_message(&Message::new("T", 0, vec![i; 100]))
                .unwrap();
        }
        store.shutdown().unwrap();
    }
    // What a crash leaves: the abort file.
    File::create(dir.path().join("abort")).unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    {
        let ev = events.0.lock().unwrap();
        assert!(
            ev.iter()
                .any(|e| e.starts_with(&format!("INFO recovered root={root} "))),
            "{ev:?}"
        );
        assert!(
            ev.iter().any(|e| e.starts_with("WARN")
                && e.contains(&format!("root={root} "))
                && e.contains("abnormal=true")),
            "{ev:?}"
        );
    }
    let first = store.commit_log().files().files()[0].path().to_path_buf();
    File::options()
        .write(true)
        .open(&first)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(1))
        .unwrap();
    store.execute_delete_files_manually();
    store.run_cleanup_once().unwrap();
    let ev = events.0.lock().unwrap();
    assert!(
        ev.iter()
            .any(|e| e.contains("commitlog segment deleted")
                && e.contains(&first.display().to_string())),
        "{ev:?}"
    );
}

/// A flush service whose syncs fail reports a typed `Flush` error and a `tracing` event.
#[test]
fn failing_flush_service_is_a_typed_background_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.background_services = true;
    c.flush_interval_commit_log_ms = 10;
    c.flush_commit_log_least_pages = 0;
    let events = events();
    let store = MessageStore::open(c).unwrap();
    assert!(store.background_errors().is_empty());
    let guard = inject(
        FaultPoint::Flush,
        &dir.path().join("commitlog"),
        libc::EIO,
        0,
        1000,
    );
    store
        .put_message(&Message::new("T", 0, b"x".to_vec()))
        .unwrap();
    // Wait (bounded) for the service to meet the fault.
    let mut found = None;
    for _ in 0..1000 {
        found = store
            .background_errors()
            .into_iter()
            .find(|e| matches!(e, BackgroundError::Flush(_)));
        if found.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(guard);
    let e = found.expect("the flush service reported the injected EIO");
    assert!(e.to_string().contains("commitlog"), "{e}");
    assert_eq!(store.background_error(), Some(e.to_string()));
    let ev = events.0.lock().unwrap();
    assert!(
        ev.iter()
            .any(|l| l.starts_with("ERROR flush service: flush failed")
                && l.contains(&dir.path().display().to_string())),
        "{ev:?}"
    );
}
