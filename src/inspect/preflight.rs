//! `preflight`: upgrade hazards of one or more stores (one per broker) and, optionally, the
//! broker's `.properties` file, before a version change. Every finding says what to do.
//!
//! Kinds: `old-size-key` (a pre-4.5.2 `mapedFileSize*` key that 4.5.2+ ignores),
//! `config-warning` (other lines the target reads differently than they look),
//! `commitlog-outside-root` (4.x's `storePathCommitLog` default), `segment-size-config` (files
//! whose length the target's configuration would refuse), `unclean-stop` (abort present),
//! `dispatch-behind` (consume queues or index behind the commitlog), `store-damage`
//! (`verify` errors), `ipv6-records` (unreadable below 4.6.0), `v2-records` (unreadable by
//! 4.x), the 4.x <-> 5.x kinds of [`v5_hazards`] (`v5-*`), `single-broker-topic` and `single-queue-topic` (given several stores: topics that
//! become unavailable while one broker is stopped for the upgrade).
//!
//! Severities are chosen for the given target: a fact that is no hazard for it (IPv6 records
//! when upgrading to 4.6.0) is info.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use super::discover::GeometryOverrides;
use super::report::{Finding, Findings, Severity};
use super::verify::{verify, VerifyOptions};
use crate::config::{parse_java_properties, StoreConfig};
use crate::error::{Result, StoreError};

/// The version the stores are about to run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TargetVersion {
    /// 3.x (com.alibaba.rocketmq): no IPv6 records, honours `mapedFileSize*`.
    V3,
    /// 4.6.0: IPv6 records, V1 only, ignores `mapedFileSize*`.
    V4,
    /// 5.x: V2 records.
    V5,
}

impl std::str::FromStr for TargetVersion {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.split('.').next().unwrap_or("") {
            "3" => Ok(TargetVersion::V3),
            "4" => Ok(TargetVersion::V4),
            "5" => Ok(TargetVersion::V5),
            _ => Err(format!("unknown version {s:?} (use 3.2.6, 4.6.0 or 5.3.3)")),
        }
    }
}

impl std::fmt::Display for TargetVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TargetVersion::V3 => "3.x",
            TargetVersion::V4 => "4.6.0",
            TargetVersion::V5 => "5.x",
        })
    }
}

/// Options of [`preflight`].
#[derive(Debug, Clone)]
pub struct PreflightOptions {
    /// The broker's `.properties` file (`-c`), applied to every store given.
    pub properties: Option<PathBuf>,
    /// The version to check against.
    pub target: TargetVersion,
    /// Sizes to use instead of discovering them.
    pub geometry: GeometryOverrides,
}

impl Default for PreflightOptions {
    fn default() -> Self {
        PreflightOptions {
            properties: None,
            target: TargetVersion::V4,
            geometry: GeometryOverrides::default(),
        }
    }
}

/// What [`preflight`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightReport {
    /// The stores checked.
    pub stores: Vec<PathBuf>,
    /// The version to check against.
    pub target: TargetVersion,
    /// What was found.
    pub findings: Findings,
}

impl PreflightReport {
    /// Hazards are warnings and errors; info findings are facts.
    pub fn hazards(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
    }
}

/// Topics that are per broker by design (not a hazard when on one broker only).
fn is_system_topic(t: &str) -> bool {
    const PREFIXES: [&str; 8] = [
        "SCHEDULE_TOPIC_XXXX",
        "RMQ_SYS_",
        "rmq_sys_",
        "%RETRY%",
        "%DLQ%",
        "TBW102",
        "OFFSET_MOVED_EVENT",
        "SELF_TEST_TOPIC",
    ];
    PREFIXES.iter().any(|p| t.starts_with(p))
}

/// Checks `stores` (one per broker) for hazards of running them under `opts.target`.
pub fn preflight(stores: &[PathBuf], opts: &PreflightOptions) -> Result<PreflightReport> {
    let target = opts.target;
    let mut findings = Findings::default();
    // The configuration file, as the target reads it.
    let mut expected_sizes: Option<(usize, usize)> = None;
    if let Some(path) = &opts.properties {
        let (cfg, warnings) = StoreConfig::from_properties_file(path)?;
        let text: String = std::fs::read(path)
            .map_err(|e| StoreError::io(path, e))?
            .iter()
            .map(|&b| char::from(b))
            .collect();
        let (entries, _) = parse_java_properties(&text)?;
        let has = |k: &str| entries.iter().any(|e| e.key == k);
        for w in warnings {
            if w.contains("pre-4.5.2") {
                let sev = if target >= TargetVersion::V4 && !w.contains("ignored because") {
                    Severity::Error
                } else if target >= TargetVersion::V4 {
                    Severity::Warning
                } else {
                    Severity::Info
                };
                findings.push(
                    Finding::new(sev, "old-size-key", w)
                        .file(path)
                        .action("rename mapedFileSizeCommitLog/mapedFileSizeConsumeQueue to mappedFileSizeCommitLog/mappedFileSizeConsumeQueue (same value)"),
                );
            } else if w.contains("storePathCommitLog is not set") {
                // Reported below, with the consequence.
            } else {
                findings.push(
                    Finding::new(Severity::Warning, "config-warning", w)
                        .file(path)
                        .action("fix the line so the broker reads what it says"),
                );
            }
        }
        if target >= TargetVersion::V4
            && has("storePathRootDir")
            && !has("storePathCommitLog")
            && !cfg.commit_log_dir().starts_with(cfg.root())
        {
            findings.push(
                Finding::new(
                    Severity::Error,
                    "commitlog-outside-root",
                    format!(
                        "storePathRootDir is {} but storePathCommitLog is not set: RocketMQ 4.x \
                         looks for the commitlog in {}, finds none, and recovery then deletes \
                         every consume queue",
                        cfg.root().display(),
                        cfg.commit_log_dir().display()
                    ),
                )
                .file(path)
                .action(format!(
                    "add storePathCommitLog={}",
                    cfg.root().join("commitlog").display()
                )),
            );
        }
        // Sizes the target uses: 4.5.2+ ignores the old spellings.
        let default = StoreConfig::default();
        let cl = if target >= TargetVersion::V4 && !has("mappedFileSizeCommitLog") {
            default.mapped_file_size_commit_log
        } else {
            cfg.mapped_file_size_commit_log
        };
        let cq = if target >= TargetVersion::V4 && !has("mappedFileSizeConsumeQueue") {
            default.mapped_file_size_consume_queue()
        } else {
            cfg.mapped_file_size_consume_queue()
        };
        expected_sizes = Some((cl, cq));
    }

    let mut topics: BTreeMap<String, BTreeMap<usize, BTreeSet<i32>>> = BTreeMap::new();
    for (si, store) in stores.iter().enumerate() {
        let report = verify(
            store,
            &VerifyOptions {
                geometry: opts.geometry.clone(),
                now_ms: None,
            },
        )?;
        let s = &report.summary;
        if let (Some((cl, cq)), Some(props)) = (expected_sizes, &opts.properties) {
            if s.segments > 0 && s.segment_size != cl {
                findings.push(
                    Finding::new(
                        Severity::Error,
                        "segment-size-config",
                        format!(
                            "commitlog segments are {} bytes, but with {} RocketMQ {target} \
                             expects {cl} and refuses to start (\"length not matched message \
                             store config value\")",
                            s.segment_size,
                            props.display()
                        ),
                    )
                    .file(&s.commitlog_dir)
                    .action(format!("set mappedFileSizeCommitLog={}", s.segment_size)),
                );
            }
            if !s.queues.is_empty() && s.cq_file_size != cq {
                findings.push(
                    Finding::new(
                        Severity::Error,
                        "segment-size-config",
                        format!(
                            "consume-queue files are {} bytes, but with {} RocketMQ {target} \
                             expects {cq} and cannot load them",
                            s.cq_file_size,
                            props.display()
                        ),
                    )
                    .file(store.join("consumequeue"))
                    .action(format!("set mappedFileSizeConsumeQueue={}", s.cq_file_size)),
                );
            }
        }
        if s.abort {
            findings.push(
                Finding::new(
                    Severity::Warning,
                    "unclean-stop",
                    "the abort file is present: the broker did not stop cleanly, so the new \
                     version starts with abnormal recovery (slow, and 4.6.0 drops index files \
                     newer than the checkpoint)",
                )
                .file(store.join("abort"))
                .action("start the old version once and stop it cleanly, or run `rmqstore rebuild --in-place --force`"),
            );
        }
        if s.dispatch_behind_records > 0 || s.index_behind_records > 0 {
            findings.push(
                Finding::new(
                    Severity::Warning,
                    "dispatch-behind",
                    format!(
                        "{} records are not in their consume queues and {} not in the index \
                         yet; the new version dispatches them at start",
                        s.dispatch_behind_records, s.index_behind_records
                    ),
                )
                .file(store)
                .action("stop the old broker cleanly (it catches up first), or run `rmqstore rebuild --in-place`"),
            );
        }
        let errors: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        if let Some(first) = errors.first() {
            let mut f = Finding::new(
                Severity::Error,
                "store-damage",
                format!(
                    "verify finds {} errors; first: {} {}",
                    errors.len(),
                    first.kind,
                    first.message
                ),
            );
            if let (Some(p), Some(o)) = (&first.file, first.offset) {
                f = f.at(p, o);
            } else {
                f = f.file(store);
            }
            findings.push(f.action(format!(
                "run `rmqstore verify {}` and repair (rebuild or salvage) before upgrading",
                store.display()
            )));
        }
        if s.ipv6_records > 0 {
            let sev = if target < TargetVersion::V4 {
                Severity::Error
            } else {
                Severity::Info
            };
            findings.push(
                Finding::new(
                    sev,
                    "ipv6-records",
                    format!(
                        "{} records have IPv6 host flags (sysFlag bits 4/5), which versions \
                         before 4.6.0 cannot decode",
                        s.ipv6_records
                    ),
                )
                .file(&s.commitlog_dir)
                .action("never move this store back to a version before 4.6.0"),
            );
        }
        if s.v2_records > 0 {
            let sev = if target < TargetVersion::V5 {
                Severity::Error
            } else {
                Severity::Info
            };
            findings.push(
                Finding::new(
                    sev,
                    "v2-records",
                    format!(
                        "{} records are magic V2 (topics over 127 characters, written by 5.x), \
                         which 4.x and older cannot decode",
                        s.v2_records
                    ),
                )
                .file(&s.commitlog_dir)
                .action("keep this store on 5.x, or salvage it without those topics"),
            );
        }
        // 4.x <-> 5.x hazards (batch CQ, LMQ, timers, RocksDB, __CRC32#, epochs, ...).
        v5_hazards(store, target, opts.properties.as_deref(), s, &mut findings)?;
        for q in &s.queues {
            topics
                .entry(q.topic.clone())
                .or_default()
                .entry(si)
                .or_default()
                .insert(q.queue_id);
        }
    }
    if stores.len() > 1 {
        for (topic, by_store) in &topics {
            if is_system_topic(topic) {
                continue;
            }
            let queues: usize = by_store.values().map(|q| q.len()).sum();
            let only = (by_store.len() == 1).then(|| &stores[*by_store.keys().next().unwrap()]);
            if let Some(store) = only {
                findings.push(
                    Finding::new(
                        Severity::Warning,
                        "single-broker-topic",
                        format!(
                            "topic {topic} lives only on this broker: it is unavailable while \
                             this broker is stopped for the upgrade"
                        ),
                    )
                    .file(store.join("consumequeue").join(topic))
                    .action("create the topic on another broker first, or upgrade in a maintenance window"),
                );
            }
            if queues == 1 {
                let store = &stores[*by_store.keys().next().unwrap()];
                findings.push(
                    Finding::new(
                        Severity::Warning,
                        "single-queue-topic",
                        format!(
                            "topic {topic} has a single queue (an ordered topic): its messages \
                             stop flowing while its broker is stopped"
                        ),
                    )
                    .file(store.join("consumequeue").join(topic))
                    .action("tell its producers and consumers about the pause, or upgrade in a maintenance window"),
                );
            }
        }
    }
    Ok(PreflightReport {
        stores: stores.to_vec(),
        target,
        findings,
    })
}

/// A 5.x hazard's severity: `bad_for_4x` when the target is 3.x/4.x (what a 4.x broker cannot
/// read after a 5.x broker wrote), info (a fact) under 5.x.
fn sev_4x(target: TargetVersion, bad_for_4x: Severity) -> Severity {
    if target < TargetVersion::V5 {
        bad_for_4x
    } else {
        Severity::Info
    }
}

/// The 4.x <-> 5.x hazards of one store, in both directions:
/// * a store a 5.x broker wrote, about to run under 4.x (or 3.x): `v5-batch-cq` (inner-batch
///   records and `batchconsumequeue/`, which 4.x neither reads nor writes), `v5-lmq`,
///   `v5-timers` (pending timers 4.x never delivers), `v5-rocksdb-consumequeue`,
///   `v5-crc-property` (harmless), `v5-epoch` and `v5-broker-identity` (controller mode),
///   `v5-compaction`;
/// * a 4.x store about to run under 5.x: what 5.x does differently (`v5-differences`: recovery
///   start, zero-length last segment, index slot counting, V2 records for long topics), and a
///   `storeType=defaultRocksDB` that would not read the existing file queues.
fn v5_hazards(
    store: &std::path::Path,
    target: TargetVersion,
    properties: Option<&std::path::Path>,
    s: &super::verify::Summary,
    findings: &mut Findings,
) -> Result<()> {
    let present = crate::v5::inspect::present(store);
    let v5 = s.v5.as_ref();
    let store_type = match properties {
        Some(p) => {
            let text: String = std::fs::read(p)
                .map_err(|e| StoreError::io(p, e))?
                .iter()
                .map(|&b| char::from(b))
                .collect();
            let (entries, _) = parse_java_properties(&text)?;
            entries
                .iter()
                .rev()
                .find(|e| e.key == "storeType")
                .map(|e| e.value.trim().to_string())
        }
        None => None,
    };
    let bcq = crate::v5::batch_cq::dir(store);
    if s.inner_batch_records > 0 || present.contains(&"batchconsumequeue") {
        let queues = v5.map_or(0, |r| r.batch_queues.len());
        let messages: i64 = v5.map_or(0, |r| r.batch_queues.iter().map(|q| q.messages).sum());
        findings.push(
            Finding::new(
                sev_4x(target, Severity::Error),
                "v5-batch-cq",
                format!(
                    "{queues} batch consume queues ({messages} messages) and {} inner-batch \
                     records (sysFlag 0x80) written by 5.x: 4.x does not read \
                     batchconsumequeue/, so those topics have no queue under 4.x, and it would \
                     hand an inner-batch record to consumers as one message whose body is the \
                     encoded batch",
                    s.inner_batch_records
                ),
            )
            .file(&bcq)
            .action("keep this store on 5.x, or let consumers drain the batch topics first"),
        );
    }
    if let Some(r) = v5.filter(|r| !r.lmq_queues.is_empty()) {
        findings.push(
            Finding::new(
                sev_4x(target, Severity::Warning),
                "v5-lmq",
                format!(
                    "{} light message queues (consumequeue/%LMQ%*/0): 4.x loads them as plain \
                     topics but never multi-dispatches new messages to them, so their \
                     consumers (MQTT, LMQ) stop receiving",
                    r.lmq_queues.len()
                ),
            )
            .file(store.join("consumequeue"))
            .action("keep LMQ users on 5.x brokers"),
        );
    }
    if present
        .iter()
        .any(|p| matches!(*p, "timerlog" | "timerwheel" | "timercheck"))
    {
        let pending = v5.and_then(|r| r.timer.as_ref()).map_or(0, |t| t.pending);
        findings.push(
            Finding::new(
                sev_4x(
                    target,
                    if pending > 0 {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                ),
                "v5-timers",
                format!(
                    "the 5.x timer store (timerlog/, timerwheel, config/timercheck) holds \
                     {pending} pending timers: 4.x has no timer store and never delivers them \
                     (their messages stay in topic {})",
                    crate::v5::timer::TIMER_TOPIC
                ),
            )
            .file(store.join("timerlog"))
            .action("let the timers fall due on 5.x first, or keep this store on 5.x"),
        );
    }
    if present.contains(&"rocksdb-consumequeue") {
        findings.push(
            Finding::new(
                sev_4x(target, Severity::Error),
                "v5-rocksdb-consumequeue",
                "consumequeue/ holds a RocksDB database (5.x storeType=defaultRocksDB): 4.x \
                 reads only file consume queues and cannot load it",
            )
            .file(store.join("consumequeue"))
            .action("keep this store on 5.x with storeType=defaultRocksDB"),
        );
    } else if target == TargetVersion::V5
        && store_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("defaultRocksDB"))
        && !s.queues.is_empty()
    {
        findings.push(
            Finding::new(
                Severity::Warning,
                "v5-rocksdb-consumequeue",
                "the configuration sets storeType=defaultRocksDB, but consumequeue/ holds file \
                 consume queues: a RocksDB consume-queue store keeps its database in \
                 consumequeue/ and does not read the files there",
            )
            .file(store.join("consumequeue"))
            .action("keep storeType=default for this store"),
        );
    }
    if s.property_crc_records > 0 {
        findings.push(
            Finding::new(
                Severity::Info,
                "v5-crc-property",
                format!(
                    "{} records carry the 5.x __CRC32# property (enabledAppendPropCRC): 4.x \
                     ignores it (the body CRC still protects the body)",
                    s.property_crc_records
                ),
            )
            .file(&s.commitlog_dir)
            .action("nothing: every version reads these records"),
        );
    }
    if present.contains(&"epochFileCheckpoint") {
        findings.push(
            Finding::new(
                sev_4x(target, Severity::Warning),
                "v5-epoch",
                format!(
                    "epochFileCheckpoint ({} epochs): the broker ran in 5.x controller mode; 4.x \
                     has no controller mode and ignores it, and the checkpoint's 5.x fields \
                     (masterFlushedOffset, confirmPhyOffset)",
                    v5.and_then(|r| r.epochs.as_ref()).map_or(0, |e| e.len())
                ),
            )
            .file(store.join(crate::v5::epoch::FILE_NAME))
            .action("take the broker out of its controller group before moving it to 4.x"),
        );
    }
    if present.contains(&"brokerIdentity") || present.contains(&"brokerIdentity-temp") {
        let ids = v5.map(|r| r.broker_identity.as_slice()).unwrap_or_default();
        let file = if present.contains(&"brokerIdentity") {
            crate::v5::identity::FILE_NAME
        } else {
            crate::v5::identity::TEMP_FILE_NAME
        };
        findings.push(
            Finding::new(
                Severity::Info,
                "v5-broker-identity",
                format!(
                    "controller-mode broker identity ({}): only a 5.x broker in controller mode \
                     reads it; 4.x has no controller mode and ignores the file (its brokerId \
                     comes from broker.properties)",
                    if ids.is_empty() {
                        "present, not readable".to_string()
                    } else {
                        ids.iter()
                            .map(|i| {
                                format!(
                                    "{} {}#{}#{}",
                                    i.file, i.cluster_name, i.broker_name, i.broker_id
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            )
            .file(store.join(file))
            .action("nothing for 5.x; for 4.x set brokerId in broker.properties to the role the broker should have"),
        );
    }
    if present.contains(&"compaction") {
        // An empty compaction/ (5.x creates position-checkpoint at every start) is no hazard.
        let used = v5
            .and_then(|r| r.compaction.as_ref())
            .is_some_and(|c| !c.queues.is_empty() || !c.positions.is_empty());
        findings.push(
            Finding::new(
                sev_4x(
                    target,
                    if used {
                        Severity::Warning
                    } else {
                        Severity::Info
                    },
                ),
                "v5-compaction",
                format!(
                    "compaction/ (5.x compaction topics) with {} compacted queues: 4.x does not \
                     compact; consumers of a compaction topic see every message again, not the \
                     latest per key",
                    v5.and_then(|r| r.compaction.as_ref())
                        .map_or(0, |c| c.queues.len())
                ),
            )
            .file(store.join("compaction"))
            .action("nothing for plain topics; keep compaction topics on 5.x"),
        );
    }
    if target == TargetVersion::V5 && present.is_empty() && s.segments > 0 {
        findings.push(
            Finding::new(
                Severity::Info,
                "v5-differences",
                "5.x differs from 4.x on this store: normal recovery starts at the segment \
                 holding the consume queues' end (not the third-last), a zero-length last \
                 segment is deleted, index files count hashSlotCount only for empty slots, \
                 topics over 127 characters get V2 records (autoMessageVersionOnTopicLen) and \
                 abort holds the broker's PID; once 5.x writes V2, inner-batch or timer data, \
                 4.x cannot take the store back",
            )
            .file(store)
            .action("run `rmqstore preflight --target 4.6.0` before any move back to 4.x"),
        );
    }
    Ok(())
}
