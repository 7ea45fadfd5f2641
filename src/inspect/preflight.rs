//! `preflight`: upgrade hazards of one or more stores (one per broker) and, optionally, the
//! broker's `.properties` file, before a version change. Every finding says what to do.
//!
//! Kinds: `old-size-key` (a pre-4.5.2 `mapedFileSize*` key that 4.5.2+ ignores),
//! `config-warning` (other lines the target reads differently than they look),
//! `commitlog-outside-root` (4.x's `storePathCommitLog` default), `segment-size-config` (files
//! whose length the target's configuration would refuse), `unclean-stop` (abort present),
//! `dispatch-behind` (consume queues or index behind the commitlog), `store-damage`
//! (`verify` errors), `ipv6-records` (unreadable below 4.6.0), `v2-records` (unreadable by
//! 4.x), `single-broker-topic` and `single-queue-topic` (given several stores: topics that
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
