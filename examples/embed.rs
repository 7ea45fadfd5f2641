//! Embedding rmqstore as a broker would: two producers, two consumer groups that long-poll
//! their queues with a tag filter (woken through the arrival hook), offsets committed to
//! `config/consumerOffset.json` in the format a Java broker reads, and a cleanup run at the end.
//!
//!     cargo run --example embed            (a temporary store, removed afterwards)
//!     cargo run --example embed -- DIR     (keeps the store in DIR)

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rmqstore::config_json::{ConfigJsonFile, ConsumerOffsetJson, TopicConfigJson, TopicsJson};
use rmqstore::store::{block_on, Arrival, GetMessageStatus, MessageFilter, TagFilter};
use rmqstore::{Message, MessageStore, StoreConfig};

const TOPIC: &str = "Orders";
const QUEUES: i32 = 4;
const PER_PRODUCER: usize = 300;
const TAGS: [&str; 3] = ["created", "paid", "shipped"];

/// A consumer group: its subscription and a bell the arrival hook rings.
struct Group {
    name: &'static str,
    filter: TagFilter,
    bell: (Mutex<u64>, Condvar),
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keep = std::env::args().nth(1);
    let tmp = tempfile::tempdir()?;
    let root = keep.map_or_else(|| tmp.path().to_path_buf(), Into::into);
    let mut config = StoreConfig::with_root(&root);
    config.mapped_file_size_commit_log = 64 * 1024; // small segments, so cleanup has work
    config.mapped_file_size_consume_queue_raw = 20 * 1000;
    config.file_reserved_time_hours = 0; // everything but the segment in use may go
    let store = Arc::new(MessageStore::open(config)?);
    println!("opened {} ({:?})", root.display(), store.recovery_report());

    let groups: Vec<Arc<Group>> = [("billing", "paid"), ("shipping", "shipped || paid")]
        .into_iter()
        .map(|(name, expr)| {
            Arc::new(Group {
                name,
                filter: TagFilter::parse(expr),
                bell: (Mutex::new(0), Condvar::new()),
            })
        })
        .collect();
    // The arrival hook: ring a group's bell only for units its filter can match (the tags
    // code of the consume-queue unit), as a broker's long-polling service does.
    for g in &groups {
        let g2 = g.clone();
        store.add_arrival_listener(Arc::new(move |a: &Arrival<'_>| {
            if a.topic == TOPIC && g2.filter.is_matched_by_consume_queue(a.tags_code) {
                *g2.bell.0.lock().unwrap() += 1;
                g2.bell.1.notify_all();
            }
        }));
    }

    let producing = Arc::new(AtomicBool::new(true));
    let offsets = Arc::new(Mutex::new(ConsumerOffsetJson::default()));
    let config_dir = store.config().config_dir();

    let consumers: Vec<_> = groups
        .iter()
        .map(|g| {
            let (store, g, producing, offsets, config_dir) = (
                store.clone(),
                g.clone(),
                producing.clone(),
                offsets.clone(),
                config_dir.clone(),
            );
            std::thread::spawn(move || -> rmqstore::Result<BTreeMap<&'static str, u64>> {
                let mut next = [0u64; QUEUES as usize];
                let mut seen: BTreeMap<&'static str, u64> = BTreeMap::new();
                loop {
                    let rung = *g.bell.0.lock().unwrap();
                    let done = !producing.load(Ordering::Acquire);
                    let mut got_any = false;
                    for q in 0..QUEUES {
                        let r = store.get_message(
                            g.name,
                            TOPIC,
                            q,
                            next[q as usize],
                            32,
                            Some(&g.filter),
                        );
                        if r.status == GetMessageStatus::Found {
                            got_any = true;
                            for m in &r.messages {
                                let rec = m.decode()?;
                                let tags = rmqstore::store::StoreProperties::parse(rec.properties)
                                    .tags
                                    .map(|t| t.into_owned())
                                    .unwrap_or_default();
                                let tag = TAGS.into_iter().find(|t| *t == tags).unwrap_or("?");
                                *seen.entry(tag).or_default() += 1;
                            }
                        }
                        next[q as usize] = r.next_begin_offset;
                        offsets.lock().unwrap().commit_offset(
                            TOPIC,
                            g.name,
                            q,
                            r.next_begin_offset as i64,
                        );
                    }
                    // Commit the offsets as a broker's ConsumerOffsetManager persists them.
                    if got_any || done {
                        offsets.lock().unwrap().persist(&config_dir)?;
                    }
                    if done && !got_any {
                        return Ok(seen);
                    }
                    if !got_any {
                        // Long poll: sleep until the arrival hook rings (or a short timeout).
                        let bell = g.bell.0.lock().unwrap();
                        if *bell == rung {
                            let _ = g.bell.1.wait_timeout(bell, Duration::from_millis(50));
                        }
                    }
                }
            })
        })
        .collect();

    // Two producers: one blocking, one with put futures in flight.
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let store = store.clone();
            std::thread::spawn(move || -> rmqstore::Result<usize> {
                let mut pending = Vec::new();
                for i in 0..PER_PRODUCER {
                    let tag = TAGS[(i + p) % TAGS.len()];
                    let msg = Message::new(
                        TOPIC,
                        (i % QUEUES as usize) as i32,
                        format!("order {p}-{i} {tag}").into_bytes(),
                    )
                    .with_tags(tag)
                    .with_keys(&format!("order-{p}-{i}"));
                    if p == 0 {
                        assert!(store.put_message(&msg)?.is_ok());
                    } else {
                        pending.push(store.put_message_async(&msg));
                    }
                }
                for f in pending {
                    assert!(block_on(f)?.is_ok());
                }
                Ok(PER_PRODUCER)
            })
        })
        .collect();
    let mut produced = 0;
    for p in producers {
        produced += p.join().expect("producer thread")?;
    }
    producing.store(false, Ordering::Release);
    for g in &groups {
        g.bell.1.notify_all();
    }
    println!("produced {produced} messages to {TOPIC} ({QUEUES} queues)");
    for (g, c) in groups.iter().zip(consumers) {
        let seen = c.join().expect("consumer thread")?;
        println!(
            "group {:<8} subscribed {:?}: consumed {:?}",
            g.name,
            g.filter.tags().collect::<Vec<_>>(),
            seen
        );
    }

    // The broker's topic table, written where a Java broker would read it.
    let mut topics = TopicsJson::default();
    topics
        .topic_config_table
        .insert(TOPIC.into(), TopicConfigJson::new(TOPIC, QUEUES));
    topics.persist(&config_dir)?;
    let committed = ConsumerOffsetJson::load(&config_dir)?.unwrap_or_default();
    for (topic, group, queues) in committed.entries() {
        println!("consumerOffset.json: {topic}@{group} {queues:?}");
    }

    // Cleanup: every segment but the one in use is past fileReservedTime (0 h).
    let before = std::fs::read_dir(store.config().commit_log_dir())?.count();
    store.execute_delete_files_manually();
    let report = store.run_cleanup_once()?;
    println!(
        "cleanup deleted {} of {before} commitlog segments and {} consume-queue files; \
         the commitlog now starts at {}, queue 0 at offset {}",
        report.commitlog_deleted.len(),
        report.consume_queue_deleted.len(),
        store.min_phy_offset(),
        store.min_offset_in_queue(TOPIC, 0)
    );
    let s = store.stats();
    println!(
        "stats: {} puts ({} bytes), {} gets found, {} missed, dispatch behind {} bytes",
        s.put_message_times_total,
        s.put_message_size_total,
        s.get_message_times_total_found,
        s.get_message_times_total_miss,
        s.dispatch_behind_bytes
    );
    Arc::try_unwrap(store)
        .map_err(|_| "store still shared")?
        .shutdown()?;
    println!("shut down cleanly");
    Ok(())
}
