//! `topics` disk use per topic and queue (issue 17), over temp copies of the Java fixtures:
//! the commitlog bytes are the `wroteBytes` of the manifest's messages each queue holds, and
//! the consume-queue bytes are the lengths of the queue's files (from the manifest's file list
//! where the fixture records one, else from the files).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use common::{all_fixtures, copy_store_to_temp};
use serde_json::Value;

#[test]
fn topics_disk_use_matches_the_manifest() {
    for f in all_fixtures() {
        let tmp = copy_store_to_temp(&f);
        let st = tmp.path();
        let m = f.manifest();
        let max = f.reader().max_phy_offset;
        let out = Command::new(env!("CARGO_BIN_EXE_rmqstore"))
            .args(["topics", st.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {:?}", f.name, out);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["schema"], "rmqstore.topics/2");
        assert_eq!(v["leftOut"], Value::Array(vec![]), "{}", f.name);

        // Commitlog bytes per queue: messages in a consume queue (not PREPARED/ROLLBACK).
        let mut want_log: BTreeMap<(String, i64), u64> = BTreeMap::new();
        for msg in &m.messages {
            let tran = msg.sys_flag & 0xC;
            if msg.wrote_offset < max && tran != 0x4 && tran != 0xC {
                *want_log
                    .entry((msg.topic.clone(), msg.queue_id as i64))
                    .or_default() += msg.wrote_bytes as u64;
            }
        }
        // Consume-queue bytes per queue.
        let mut want_cq: BTreeMap<(String, i64), u64> = BTreeMap::new();
        let cq_root = st.join("consumequeue");
        for t in fs::read_dir(&cq_root).unwrap() {
            let t = t.unwrap();
            for q in fs::read_dir(t.path()).unwrap() {
                let q = q.unwrap();
                let id: i64 = q.file_name().to_str().unwrap().parse().unwrap();
                let key = (t.file_name().to_str().unwrap().to_string(), id);
                for file in fs::read_dir(q.path()).unwrap() {
                    let file = file.unwrap();
                    let rel = format!(
                        "consumequeue/{}/{id}/{}",
                        key.0,
                        file.file_name().to_str().unwrap()
                    );
                    let len = m
                        .files_after_shutdown
                        .as_ref()
                        .and_then(|fs| fs.iter().find(|e| e.path == rel))
                        .map(|e| e.length)
                        .unwrap_or_else(|| file.metadata().unwrap().len());
                    *want_cq.entry(key.clone()).or_default() += len;
                }
            }
        }

        let mut got_log = BTreeMap::new();
        let mut got_cq = BTreeMap::new();
        for t in v["topics"].as_array().unwrap() {
            let name = t["topic"].as_str().unwrap().to_string();
            let (mut sum_log, mut sum_cq) = (0, 0);
            for q in t["queues"].as_array().unwrap() {
                let key = (name.clone(), q["queueId"].as_i64().unwrap());
                let log = q["commitLogBytes"].as_u64().unwrap();
                let cq = q["consumeQueueBytes"].as_u64().unwrap();
                if log > 0 {
                    got_log.insert(key.clone(), log);
                }
                got_cq.insert(key, cq);
                sum_log += log;
                sum_cq += cq;
            }
            assert_eq!(t["diskUse"]["commitLogBytes"].as_u64(), Some(sum_log));
            assert_eq!(t["diskUse"]["consumeQueueBytes"].as_u64(), Some(sum_cq));
        }
        assert_eq!(got_log, want_log, "{}: commitLogBytes", f.name);
        assert_eq!(got_cq, want_cq, "{}: consumeQueueBytes", f.name);
    }
}
