//! The batch-consume-queue part of `rmqstore rebuild`: `batchconsumequeue/` is regenerated from
//! the commitlog by the same dispatch as the consume queues, with the 5.x writer
//! (`src/v5/batch_cq_write.rs`), into a fresh folder that replaces the old one as the consume
//! queues are replaced (in place the old one is kept as `batchconsumequeue.bak-<ts>`).
//!
//! The batch topics are those with a queue folder under `batchconsumequeue/` and those whose
//! `queue.type` is `BatchCQ` in `config/topics.json`; the file size is the old queues' (their
//! most common file length), else `mapperFileSizeBatchConsumeQueue`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use crate::config::StoreConfig;
use crate::v5::batch_cq::{dir, BCQ_UNIT_SIZE};
use crate::v5::batch_cq_table::BatchCqTable;

/// The table the rebuild's dispatcher writes into `new_dir`; `None` when the store has no
/// batch topic (then nothing about `batchconsumequeue/` changes).
pub(crate) fn fresh_table(root: &Path, config: &StoreConfig, new_dir: &Path) -> Option<BatchCqTable> {
    let mut topics: BTreeSet<String> = crate::v5::inspect::batch_topic_names(root)
        .into_iter()
        .collect();
    // A topics.json that does not parse adds nothing (verify reports it).
    topics.extend(
        crate::v5::batch_cq_write::batch_topics(&config.config_dir()).unwrap_or_default(),
    );
    if topics.is_empty() {
        return None;
    }
    let size = old_file_size(&dir(root)).unwrap_or(config.mapper_file_size_batch_consume_queue);
    Some(BatchCqTable::fresh(new_dir, size, topics))
}

/// The most common length of the old queue files that could be batch-queue files (a positive
/// multiple of 46), the larger on a tie.
fn old_file_size(base: &Path) -> Option<u64> {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for t in fs::read_dir(base).ok()?.flatten() {
        for q in fs::read_dir(t.path()).into_iter().flatten().flatten() {
            for f in fs::read_dir(q.path()).into_iter().flatten().flatten() {
                let Ok(m) = f.metadata() else { continue };
                let len = m.len();
                if m.is_file() && len > 0 && len % BCQ_UNIT_SIZE as u64 == 0 {
                    *counts.entry(len).or_default() += 1;
                }
            }
        }
    }
    counts
        .into_iter()
        .max_by_key(|(len, n)| (*n, *len))
        .map(|(len, _)| len)
}
