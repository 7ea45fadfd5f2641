//! `verify`'s consume-queue pass: every queue's files, units and their records in the
//! commitlog, against what the commitlog scan saw (see the parent module).

use super::*;

pub(super) fn verify_consume_queues(config: &StoreConfig, cx: &mut Ctx, summary: &mut Summary) -> Result<()> {
    let fsize = config.mapped_file_size_consume_queue() as u64;
    let (dirs, strays) = queue_dirs(&config.consume_queue_dir())?;
    for s in strays {
        cx.findings.push(
            Finding::new(
                Severity::Warning,
                "stray-file",
                "not a consume-queue folder (consumequeue/<topic>/<queueId>/)",
            )
            .file(s),
        );
    }
    let mut reput_from = cx.cl_min;
    let mut queues = Vec::new();
    let mut phase = Phase::start(cx.progress, "consume queues", dir_bytes(&dirs));
    let mut last_bytes = 0;
    for (topic, qid, dir) in dirs {
        phase.add(last_bytes);
        if crate::v5::lmq::is_lmq(&topic) {
            // Light message queues point at records of other topics: checked by the 5.x part.
            last_bytes = 0;
            continue;
        }
        let (files, strays) = list_segments(&dir)?;
        last_bytes = files.iter().map(|f| f.len).sum();
        for s in strays {
            cx.findings.push(
                Finding::new(
                    Severity::Warning,
                    "stray-file",
                    "not a consume-queue file (named by 20 digits)",
                )
                .file(s),
            );
        }
        let tid = cx.topics.ids.get(&topic).copied();
        let mut q = QueueSummary {
            topic: topic.clone(),
            queue_id: qid,
            min_offset: files.first().map_or(0, |f| f.offset / CQ_UNIT_SIZE as u64),
            max_offset: 0,
            pre_blank_units: 0,
            behind: 0,
        };
        let mut ended: Option<(PathBuf, u64)> = None;
        let mut seen_real = false;
        let mut expired = 0u64;
        let mut beyond: Option<(PathBuf, u64, u64)> = None;
        let mut beyond_n = 0u64;
        let mut legacy = 0u64;
        let mut hint = 0usize;
        for (i, f) in files.iter().enumerate() {
            if f.len != fsize {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "cq-file-size",
                        format!(
                            "consume-queue file is {} bytes, expected {fsize}; a broker refuses \
                             to load it",
                            f.len
                        ),
                    )
                    .at(&f.path, f.len.min(fsize))
                    .action("`rmqstore rebuild` regenerates the consume queues"),
                );
            }
            if f.offset % fsize != 0 {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "cq-file-name",
                        format!(
                            "name {} is not a multiple of the file size {fsize}",
                            f.offset
                        ),
                    )
                    .at(&f.path, 0),
                );
            }
            if i > 0 && f.offset != files[i - 1].offset + fsize {
                let missing = dir.join(offset_to_file_name(files[i - 1].offset + fsize));
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "cq-file-missing",
                        format!(
                            "consume-queue file missing: units from queue offset {} to {} are \
                             gone (the next file is {})",
                            (files[i - 1].offset + fsize) / CQ_UNIT_SIZE as u64,
                            f.offset / CQ_UNIT_SIZE as u64,
                            f.path.display()
                        ),
                    )
                    .at(&missing, 0)
                    .action("`rmqstore rebuild` regenerates the consume queues"),
                );
            }
            let data = f.data();
            let mut pos = 0usize;
            while pos + CQ_UNIT_SIZE <= data.len() {
                let unit = CqUnit::decode(&data[pos..]).expect("20 bytes");
                let index = (f.offset + pos as u64) / CQ_UNIT_SIZE as u64;
                let at = pos as u64;
                pos += CQ_UNIT_SIZE;
                if let Some((ref epath, epos)) = ended {
                    if unit
                        != (CqUnit {
                            commitlog_offset: 0,
                            size: 0,
                            tags_code: 0,
                        })
                    {
                        cx.findings.push(
                            Finding::new(
                                Severity::Error,
                                "cq-after-end",
                                format!(
                                    "{topic} queue {qid}: units after the end of the queue \
                                     ({} @ {epos}); a broker's recovery drops them",
                                    epath.display()
                                ),
                            )
                            .at(&f.path, at),
                        );
                        // One finding per queue is enough.
                        ended = Some((PathBuf::new(), u64::MAX));
                        break;
                    }
                    continue;
                }
                if !unit.is_valid() {
                    ended = Some((f.path.clone(), at));
                    continue;
                }
                q.max_offset = index + 1;
                if unit.is_pre_blank() {
                    if seen_real || i > 0 {
                        cx.findings.push(
                            Finding::new(
                                Severity::Error,
                                "cq-bad-unit",
                                format!(
                                    "{topic} queue {qid}: a pre-blank unit at queue offset \
                                     {index}, after real units"
                                ),
                            )
                            .at(&f.path, at),
                        );
                    } else {
                        q.pre_blank_units += 1;
                        q.min_offset = index + 1;
                    }
                    continue;
                }
                seen_real = true;
                let end = unit
                    .commitlog_offset
                    .saturating_add(unit.size as i64)
                    .max(0) as u64;
                reput_from = reput_from.max(end);
                let off = unit.commitlog_offset as u64;
                if off < cx.cl_min {
                    expired += 1;
                    q.min_offset = index + 1;
                    continue;
                }
                if off >= cx.data_end {
                    beyond_n += 1;
                    beyond.get_or_insert((f.path.clone(), at, off));
                    continue;
                }
                if unit.tags_code < i32::MIN as i64 {
                    cx.findings.push(
                        Finding::new(
                            Severity::Warning,
                            "cq-ext-address",
                            "tagsCode is a consume-queue-ext address (consumequeue_ext is not \
                             checked)",
                        )
                        .at(&f.path, at + 12),
                    );
                }
                let Some(ri) = cx.find_from(off, hint) else {
                    cx.findings.push(
                        Finding::new(
                            Severity::Error,
                            "cq-unit-target",
                            format!(
                                "{topic} queue {qid} offset {index}: points at commitlog offset \
                                 {off}, where no record starts"
                            ),
                        )
                        .at(&f.path, at)
                        .action("`rmqstore rebuild` regenerates the consume queues"),
                    );
                    continue;
                };
                hint = ri + 1;
                let r = cx.recs[ri];
                let mut wrong = Vec::new();
                if Some(r.topic) != tid {
                    wrong.push(format!("topic {}", cx.topics.names[r.topic as usize]));
                }
                if r.queue_id != qid {
                    wrong.push(format!("queue {}", r.queue_id));
                }
                if r.size as i32 != unit.size {
                    wrong.push(format!("size {} (unit says {})", r.size, unit.size));
                }
                if r.queue_offset != index as i64 {
                    wrong.push(format!("QUEUEOFFSET {}", r.queue_offset));
                }
                if !is_dispatched_to_cq(r.sys_flag) {
                    wrong.push("a PREPARED/ROLLBACK record".into());
                }
                if !wrong.is_empty() {
                    cx.findings.push(
                        Finding::new(
                            Severity::Error,
                            "cq-unit-mismatch",
                            format!(
                                "{topic} queue {qid} offset {index}: points at commitlog offset \
                                 {off}, a record with {}",
                                wrong.join(", ")
                            ),
                        )
                        .at(&f.path, at)
                        .action("`rmqstore rebuild` regenerates the consume queues"),
                    );
                    continue;
                }
                if r.in_cq {
                    cx.findings.push(
                        Finding::new(
                            Severity::Error,
                            "cq-duplicate",
                            format!(
                                "{topic} queue {qid} offset {index}: a second unit for the \
                                 record at commitlog offset {off}"
                            ),
                        )
                        .at(&f.path, at),
                    );
                }
                cx.recs[ri].in_cq = true;
                if let Some(want) = r.tags_code() {
                    if unit.tags_code != want {
                        match cx.legacy_delay(ri) {
                            Some((lo, hi)) if (lo..=hi).contains(&unit.tags_code) => legacy += 1,
                            _ => cx.findings.push(
                                Finding::new(
                                    Severity::Error,
                                    "cq-tags-code",
                                    format!(
                                        "{topic} queue {qid} offset {index}: tagsCode {} but \
                                         the record (commitlog offset {off}) gives {want}; tag \
                                         filtering or delayed delivery goes wrong",
                                        unit.tags_code
                                    ),
                                )
                                .at(&f.path, at + 12)
                                .action("`rmqstore rebuild` regenerates the consume queues"),
                            ),
                        }
                    }
                }
            }
        }
        if q.pre_blank_units > 0 {
            cx.findings.push(
                Finding::new(
                    Severity::Info,
                    "cq-pre-blank",
                    format!(
                        "{topic} queue {qid}: {} pre-blank units before the first message (the \
                         queue's first file starts at queue offset {})",
                        q.pre_blank_units, q.min_offset
                    ),
                )
                .at(&files[0].path, 0),
            );
        }
        if expired > 0 {
            cx.findings.push(
                Finding::new(
                    Severity::Info,
                    "cq-expired",
                    format!(
                        "{topic} queue {qid}: {expired} units point below the commitlog's first \
                         segment (messages already deleted)"
                    ),
                )
                .file(&dir),
            );
        }
        if let Some((p, at, off)) = beyond {
            // Past the last segment file: the segment that held them is gone, not just a tail
            // a crash did not flush.
            let sev = if off >= cx.cl_files_end {
                Severity::Error
            } else {
                Severity::Warning
            };
            cx.findings.push(
                Finding::new(
                    sev,
                    "cq-beyond-end",
                    format!(
                        "{topic} queue {qid}: {beyond_n} units point at or beyond the end of the \
                         commitlog data ({}), first at commitlog offset {off}; recovery truncates \
                         them",
                        cx.data_end
                    ),
                )
                .at(&p, at),
            );
        }
        if legacy > 0 {
            cx.findings.push(
                Finding::new(
                    Severity::Info,
                    "cq-legacy-delay-tags-code",
                    format!(
                        "{topic} queue {qid}: {legacy} delayed messages carry a delivery time \
                         computed by a 3.x broker from its pre-lock clock (up to \
                         {LEGACY_DELAY_SLACK_MS} ms off the 4.x rule); brokers keep them as they \
                         are"
                    ),
                )
                .file(&dir),
            );
        }
        queues.push((q, dir));
    }
    phase.finish();
    summary.reput_from = reput_from;

    // Records no unit points at: behind the reput position (dispatched at start) or missing.
    let fsize_u = fsize;
    let mut behind_first: Option<u64> = None;
    let mut behind = 0u64;
    let mut missing: BTreeMap<(u32, i32), (u64, usize)> = BTreeMap::new();
    let mut behind_by_queue: FxHashMap<(u32, i32), u64> = FxHashMap::default();
    // 5.x batch-CQ topics have their units in batchconsumequeue/ (checked by the 5.x part).
    let batch_topics: Vec<u32> = crate::v5::inspect::batch_topic_names(config.root())
        .iter()
        .filter_map(|t| cx.topics.ids.get(t).copied())
        .collect();
    for (ri, (r, &offset)) in cx.recs.iter().zip(&cx.offsets).enumerate() {
        if r.in_cq || !is_dispatched_to_cq(r.sys_flag) || !r.tags_ok {
            continue;
        }
        if batch_topics.contains(&r.topic) {
            continue;
        }
        if offset >= reput_from {
            behind += 1;
            behind_first.get_or_insert(offset);
            *behind_by_queue.entry((r.topic, r.queue_id)).or_default() += 1;
        } else {
            missing.entry((r.topic, r.queue_id)).or_insert((0, ri)).0 += 1;
        }
    }
    for (q, _) in queues.iter_mut() {
        if let Some(&tid) = cx.topics.ids.get(&q.topic) {
            q.behind = behind_by_queue
                .get(&(tid, q.queue_id))
                .copied()
                .unwrap_or(0);
        }
    }
    summary.dispatch_behind_records = behind;
    if let Some(first) = behind_first {
        let (p, pos) = cx.cl_loc(first).unwrap_or_default();
        cx.findings.push(
            Finding::new(
                Severity::Warning,
                "dispatch-behind",
                format!(
                    "the consume queues end at commitlog offset {reput_from}; {behind} records \
                     from commitlog offset {first} on are not in their consume queues yet (the \
                     broker's recovery/reput dispatches them at start)"
                ),
            )
            .at(p, pos)
            .action("nothing: a broker repairs this at start; or `rmqstore rebuild`"),
        );
    }
    for ((tid, qid), (n, ri)) in missing {
        let topic = cx.topics.names[tid as usize].clone();
        let (off, qo) = (cx.offsets[ri], cx.recs[ri].queue_offset);
        let (cl_path, cl_pos) = cx.rec_loc(ri);
        let dir = config
            .consume_queue_dir()
            .join(&topic)
            .join(qid.to_string());
        let byte = (qo.max(0) as u64) * CQ_UNIT_SIZE as u64;
        let file = dir.join(offset_to_file_name(byte - byte % fsize_u));
        cx.findings.push(
            Finding::new(
                Severity::Error,
                "cq-missing-units",
                format!(
                    "{topic} queue {qid}: {n} records below the reput position have no unit \
                     (first: commitlog offset {off} = {} @ {cl_pos}, queue offset {qo}); \
                     consumers never see them and the broker does not re-dispatch them",
                    cl_path.display()
                ),
            )
            .at(file, byte % fsize_u)
            .action("`rmqstore rebuild` regenerates the consume queues"),
        );
    }
    summary.queues = queues.into_iter().map(|(q, _)| q).collect();
    Ok(())
}
