//! `verify`'s index pass: every index file's header, slots, entries and hash chains, against
//! the keys of the records the commitlog scan saw (see the parent module).

use super::*;

pub(super) fn verify_index(config: &StoreConfig, cx: &mut Ctx, summary: &mut Summary) -> Result<()> {
    let dir = config.index_dir();
    let slots = config.max_hash_slot_num;
    let num = config.max_index_num;
    let want_len = index_file_size(slots, num) as u64;
    let mut names = Vec::new();
    match fs::read_dir(&dir) {
        Ok(rd) => {
            for e in rd {
                let e = e.map_err(|e| StoreError::io(&dir, e))?;
                names.push(e.path());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&dir, e)),
    }
    names.sort();
    let mut files = Vec::new();
    for p in names {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.len() != 17 || !name.bytes().all(|b| b.is_ascii_digit()) || !p.is_file() {
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "index-file-name",
                    "not an index file (named yyyyMMddHHmmssSSS, 17 digits); a broker fails to \
                     load the index directory",
                )
                .file(&p)
                .action("move it out of the index directory"),
            );
            continue;
        }
        let len = fs::metadata(&p).map_err(|e| StoreError::io(&p, e))?.len();
        if len != want_len {
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "index-file-size",
                    format!(
                        "index file is {len} bytes, expected {want_len} ({slots} slots, {num} \
                         entries)"
                    ),
                )
                .at(&p, len.min(want_len))
                .action("`rmqstore rebuild` regenerates the index"),
            );
            continue;
        }
        files.push(IndexFile::open(&p, slots, num, true)?);
    }
    summary.index_files = files.len();
    // Per position of `key_hashes`: some entry of some file points at the record with that
    // key hash.
    let mut key_present = vec![false; cx.key_hashes.len()];
    let mut first_begin: Option<i64> = None;
    let mut last_end: i64 = -1;
    let file_len = |f: &IndexFile| f.bytes().len() as u64;
    let mut phase = Phase::start(cx.progress, "index", files.iter().map(file_len).sum());
    for (fi, f) in files.iter().enumerate() {
        if fi > 0 {
            phase.add(file_len(&files[fi - 1]));
        }
        let path = f.path().to_path_buf();
        let h: IndexHeader = f.disk_header();
        let count = h.index_count.max(1);
        if h.index_count < 0 || h.index_count as i64 > num as i64 {
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "index-header",
                    format!("indexCount {} is outside 0..={num}", h.index_count),
                )
                .at(&path, 36),
            );
            continue;
        }
        if count > 1 {
            if h.begin_timestamp > h.end_timestamp {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "index-header",
                        format!(
                            "beginTimestamp {} is after endTimestamp {}",
                            h.begin_timestamp, h.end_timestamp
                        ),
                    )
                    .at(&path, 0),
                );
            }
            if h.begin_phy_offset > h.end_phy_offset {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "index-header",
                        format!(
                            "beginPhyOffset {} is after endPhyOffset {}",
                            h.begin_phy_offset, h.end_phy_offset
                        ),
                    )
                    .at(&path, 16),
                );
            }
            if h.hash_slot_count < 0 || h.hash_slot_count > count - 1 {
                cx.findings.push(
                    Finding::new(
                        Severity::Warning,
                        "index-header",
                        format!(
                            "hashSlotCount {} exceeds the {} entries",
                            h.hash_slot_count,
                            count - 1
                        ),
                    )
                    .at(&path, 32),
                );
            }
            if h.end_phy_offset as u64 >= cx.data_end.max(1) && h.end_phy_offset >= 0 {
                cx.findings.push(
                    Finding::new(
                        Severity::Warning,
                        "index-header",
                        format!(
                            "endPhyOffset {} is at or beyond the end of the commitlog data ({})",
                            h.end_phy_offset, cx.data_end
                        ),
                    )
                    .at(&path, 24),
                );
            }
            first_begin.get_or_insert(h.begin_phy_offset);
            last_end = last_end.max(h.end_phy_offset);
        }
        let bytes = f.bytes();
        // Entries.
        let mut expired = 0u64;
        let mut bad_target: Option<(u64, i64)> = None;
        let mut bad_target_n = 0u64;
        let mut hint = 0usize;
        // Each entry's (key hash, link), for the chain check; entries past one that does not
        // decode are left out, and then the full walk below runs.
        let mut links: Vec<(i32, i32)> = Vec::with_capacity(count as usize);
        links.push((0, 0));
        for n in 1..count as u32 {
            let Some(e) = f.entry(n) else { break };
            links.push((e.key_hash, e.prev_index));
            let at = entry_pos(slots, n) as u64;
            if e.prev_index < 0 || e.prev_index as u32 >= n {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "index-chain",
                        format!(
                            "entry {n} links to entry {} (links must point to an earlier \
                             entry); lookups may loop or read garbage",
                            e.prev_index
                        ),
                    )
                    .at(&path, at + 16)
                    .action("`rmqstore rebuild` regenerates the index"),
                );
            }
            if e.phy_offset < cx.cl_min as i64 {
                expired += 1;
                continue;
            }
            match cx.find_from(e.phy_offset as u64, hint) {
                None => {
                    bad_target_n += 1;
                    bad_target.get_or_insert((at, e.phy_offset));
                }
                Some(ri) => {
                    hint = ri;
                    let keys = cx.recs[ri].keys();
                    let mut matched = false;
                    for (h, present) in cx.key_hashes[keys.clone()]
                        .iter()
                        .zip(&mut key_present[keys])
                    {
                        if *h == e.key_hash {
                            matched = true;
                            *present = true;
                        }
                    }
                    if !matched {
                        cx.findings.push(
                            Finding::new(
                                Severity::Error,
                                "index-entry-hash",
                                format!(
                                    "entry {n}: key hash {} matches none of the keys of the \
                                     record at commitlog offset {}",
                                    e.key_hash, e.phy_offset
                                ),
                            )
                            .at(&path, at),
                        );
                    }
                }
            }
        }
        if let Some((at, off)) = bad_target {
            let sev = if off as u64 >= cx.data_end {
                Severity::Warning
            } else {
                Severity::Error
            };
            cx.findings.push(
                Finding::new(
                    sev,
                    "index-entry-target",
                    format!(
                        "{bad_target_n} entries point where no record starts (first: commitlog \
                         offset {off})"
                    ),
                )
                .at(&path, at),
            );
        }
        if expired > 0 {
            cx.findings.push(
                Finding::new(
                    Severity::Info,
                    "index-expired",
                    format!("{expired} entries point below the commitlog's first segment"),
                )
                .file(&path),
            );
        }
        // Chains: every slot's chain stays in its slot, terminates, and reaches each entry once.
        if chains_are_sound(bytes, slots, &links, count) {
            continue;
        }
        let mut visited = vec![false; count as usize];
        for slot in 0..slots {
            let sp = slot_pos(slot);
            let v = crate::format::get_i32(bytes, sp).unwrap_or(0);
            if v == 0 {
                continue;
            }
            if v < 0 || v >= count {
                cx.findings.push(
                    Finding::new(
                        Severity::Error,
                        "index-slot",
                        format!("slot {slot} holds entry {v}, outside 1..{count}"),
                    )
                    .at(&path, sp as u64)
                    .action("`rmqstore rebuild` regenerates the index"),
                );
                continue;
            }
            let mut cur = v;
            let mut steps = 0;
            while cur > 0 && (cur as usize) < visited.len() && steps < count {
                steps += 1;
                let at = entry_pos(slots, cur as u32) as u64;
                if visited[cur as usize] {
                    cx.findings.push(
                        Finding::new(
                            Severity::Error,
                            "index-chain",
                            format!("slot {slot}: the chain reaches entry {cur} a second time"),
                        )
                        .at(&path, at + 16),
                    );
                    break;
                }
                visited[cur as usize] = true;
                let Some(e) = f.entry(cur as u32) else { break };
                if e.key_hash as u32 % slots != slot {
                    cx.findings.push(
                        Finding::new(
                            Severity::Error,
                            "index-chain",
                            format!(
                                "slot {slot}: chain reaches entry {cur}, whose hash belongs to \
                                 slot {}",
                                e.key_hash as u32 % slots
                            ),
                        )
                        .at(&path, at),
                    );
                }
                if e.prev_index >= cur {
                    break; // reported with the entry
                }
                cur = e.prev_index;
            }
        }
        let unreachable: Vec<usize> = (1..count as usize).filter(|&i| !visited[i]).collect();
        if let Some(&first) = unreachable.first() {
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "index-unreachable",
                    format!(
                        "{} entries are on no slot's chain (first: entry {first}); lookups \
                         miss their keys",
                        unreachable.len()
                    ),
                )
                .at(&path, entry_pos(slots, first as u32) as u64)
                .action("`rmqstore rebuild` regenerates the index"),
            );
        }
    }
    phase.finish();
    // Coverage: records inside the indexed range must have their keys.
    if let Some(begin) = first_begin {
        let mut missing: Option<(u64, usize)> = None;
        let mut missing_n = 0u64;
        let mut behind = 0u64;
        let mut behind_first = None;
        let mut commit_unindexed = 0u64;
        let mut commit_first = None;
        for (r, &offset) in cx.recs.iter().zip(&cx.offsets) {
            if r.key_len == 0 || (offset as i64) < begin {
                continue;
            }
            if offset as i64 > last_end {
                behind += 1;
                behind_first.get_or_insert(offset);
                continue;
            }
            let commit = sysflag::tran_type(r.sys_flag) == sysflag::TRANSACTION_COMMIT_TYPE;
            let absent = key_present[r.keys()].iter().filter(|&&p| !p).count() as u64;
            if absent > 0 && commit && absent == r.key_len as u64 {
                commit_unindexed += 1;
                commit_first.get_or_insert(offset);
            } else if absent > 0 {
                missing_n += absent;
                missing.get_or_insert((offset, r.seg as usize));
            }
        }
        summary.index_behind_records = behind;
        if let Some(off) = commit_first {
            let (p, pos) = cx.cl_loc(off).unwrap_or_default();
            cx.findings.push(
                Finding::new(
                    Severity::Info,
                    "index-commit-not-indexed",
                    format!(
                        "{commit_unindexed} transaction COMMIT records have no index entries \
                         (first: commitlog offset {off}): 3.x brokers did not index COMMIT \
                         records (4.x does); lookups by their keys find the PREPARED record"
                    ),
                )
                .at(p, pos),
            );
        }
        if let Some((off, _)) = missing {
            let (p, pos) = cx.cl_loc(off).unwrap_or_default();
            cx.findings.push(
                Finding::new(
                    Severity::Error,
                    "index-missing",
                    format!(
                        "{missing_n} keys of records inside the indexed range are not in the \
                         index (first: record at commitlog offset {off}); lookups by key miss \
                         them"
                    ),
                )
                .at(p, pos)
                .action("`rmqstore rebuild` regenerates the index"),
            );
        }
        if let Some(first) = behind_first {
            let (p, pos) = cx.cl_loc(first).unwrap_or_default();
            cx.findings.push(
                Finding::new(
                    Severity::Warning,
                    "index-behind",
                    format!(
                        "the index ends at commitlog offset {last_end}; {behind} records with \
                         keys after it are not indexed yet (the broker indexes them at start)"
                    ),
                )
                .at(p, pos),
            );
        }
    }
    Ok(())
}

/// Whether the full chain walk of [`verify_index`] would find nothing wrong and reach every
/// entry, decided without following the chains (which jumps all over the file):
///
/// - every slot holds 0 or an entry in `1..count`, and every entry decodes (`links` has all
///   `count`) and links to an earlier entry or to 0;
/// - every entry is named exactly once, by a slot or by a later entry's link. Links only go
///   down, so from any entry the namers lead up to exactly one slot: the chains are disjoint,
///   finite and together reach every entry once;
/// - every entry's hash belongs to the slot of its chain. The slot is handed down the chain
///   from the highest entry to the lowest, which is the order entries are visited here.
///
/// When any of this fails the caller walks the chains one by one to say what is wrong.
fn chains_are_sound(bytes: &[u8], slots: u32, links: &[(i32, i32)], count: i32) -> bool {
    const NONE: u32 = u32::MAX;
    let count = count.max(1) as usize;
    if links.len() != count || slots == 0 {
        return false;
    }
    // The slot whose chain reaches each entry.
    let mut chain_slot = vec![NONE; count];
    for slot in 0..slots {
        let v = crate::format::get_i32(bytes, slot_pos(slot)).unwrap_or(0);
        if v == 0 {
            continue;
        }
        if v < 0 || v as usize >= count || chain_slot[v as usize] != NONE {
            return false;
        }
        chain_slot[v as usize] = slot;
    }
    for n in (1..count).rev() {
        let (hash, prev) = links[n];
        let slot = chain_slot[n];
        if slot == NONE || hash as u32 % slots != slot || prev < 0 || prev as usize >= n {
            return false;
        }
        if prev > 0 {
            if chain_slot[prev as usize] != NONE {
                return false;
            }
            chain_slot[prev as usize] = slot;
        }
    }
    true
}
