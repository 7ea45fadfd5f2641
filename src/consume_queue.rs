//! Consume queues: per topic and queue id, a log of 20-byte units pointing into the commitlog,
//! in files named by logical byte offset (`consumequeue/<topic>/<queueId>/<20 digits>`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::error::{IoContext, Result, StoreError};
use crate::format::cq::{CqUnit, CQ_UNIT_SIZE};
use crate::fxhash::FxHashMap;
use crate::mapped_file::{MappedFile, MappedFileQueue};
use crate::topic::{validate_queue_id, validate_topic};

/// Whether a unit at queue offset `cq_offset` can be written: not negative, and its file (of
/// `file_size` bytes) ends within a Java long, so the file name and every position in it are
/// valid offsets. A record's queue offset is read from disk during recovery, and a crafted one
/// near 2^63 would otherwise create a file that the next open refuses.
pub fn queue_offset_fits(cq_offset: i64, file_size: usize) -> bool {
    u64::try_from(cq_offset)
        .ok()
        .and_then(|o| o.checked_mul(CQ_UNIT_SIZE as u64))
        .and_then(|p| p.checked_add(2 * file_size as u64))
        .is_some_and(|end| end <= i64::MAX as u64)
}

/// One consume queue.
#[derive(Debug)]
pub struct ConsumeQueue {
    topic: String,
    queue_id: i32,
    files: MappedFileQueue,
    /// End (offset + size) of the last unit written or recovered; -1 when none.
    max_physic_offset: AtomicI64,
    /// Logical byte offset of the first unit whose message is still in the commitlog.
    min_logic_offset: AtomicU64,
    /// The file units are appended to; saves a lookup in the file list per unit. Cleared
    /// whenever files are dropped.
    active: parking_lot::Mutex<Option<Arc<MappedFile>>>,
}

/// What `put_position_info` did with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutUnit {
    Written,
    /// Already present (a repeated dispatch); nothing written.
    Duplicate,
}

impl ConsumeQueue {
    /// Loads the queue's files from `dir` (which need not exist yet).
    pub fn load(
        dir: &Path,
        topic: &str,
        queue_id: i32,
        file_size: usize,
        writable: bool,
    ) -> Result<ConsumeQueue> {
        Self::from_files(
            MappedFileQueue::load(dir, file_size, writable)?,
            topic,
            queue_id,
        )
    }

    fn from_files(files: MappedFileQueue, topic: &str, queue_id: i32) -> Result<ConsumeQueue> {
        let min = files.min_offset();
        Ok(ConsumeQueue {
            topic: topic.to_string(),
            queue_id,
            files,
            max_physic_offset: AtomicI64::new(-1),
            min_logic_offset: AtomicU64::new(min),
            active: parking_lot::Mutex::new(None),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
    pub fn queue_id(&self) -> i32 {
        self.queue_id
    }
    pub fn files(&self) -> &MappedFileQueue {
        &self.files
    }

    /// End of the last unit's message in the commitlog (-1 when the queue is empty).
    pub fn max_physic_offset(&self) -> i64 {
        self.max_physic_offset.load(Ordering::Acquire)
    }

    /// Java `ConsumeQueue#recover`: from the third-last file, read units while
    /// `offset >= 0 && size > 0`; move to the next file only when a file was read to its end;
    /// the queue ends there and later files are dropped (deleted when writable).
    pub fn recover(&self) -> Result<()> {
        *self.active.lock() = None;
        let files = self.files.files();
        if files.is_empty() {
            return Ok(());
        }
        let file_size = self.files.file_size();
        let mut index = files.len().saturating_sub(3);
        let mut process_offset;
        loop {
            let f = &files[index];
            process_offset = f.file_from_offset();
            let data = f.whole();
            let mut valid_end = 0usize;
            let mut pos = 0usize;
            while pos + CQ_UNIT_SIZE <= file_size {
                let unit = CqUnit::decode(&data[pos..]).expect("20 bytes available");
                if unit.is_valid() {
                    valid_end = pos + CQ_UNIT_SIZE;
                    self.max_physic_offset.store(
                        unit.commitlog_offset.saturating_add(unit.size as i64),
                        Ordering::Release,
                    );
                } else {
                    break;
                }
                pos += CQ_UNIT_SIZE;
            }
            if valid_end == file_size && index + 1 < files.len() {
                index += 1;
                continue;
            }
            process_offset += valid_end as u64;
            break;
        }
        self.files.truncate_dirty(process_offset)
    }

    /// Java `putMessagePositionInfo` (4.6.0): skips a unit whose message ends at or below the
    /// last one written, pads a queue's first file with pre-blank units when it starts above
    /// offset 0, skips a unit whose slot is already written, and otherwise appends at the
    /// current position (as Java does even when the expected slot differs).
    pub fn put_position_info(
        &self,
        offset: i64,
        size: i32,
        tags_code: i64,
        cq_offset: i64,
    ) -> Result<PutUnit> {
        // `offset` and `cq_offset` come from the record's own fields, so from disk.
        if offset.saturating_add(size as i64) <= self.max_physic_offset() {
            return Ok(PutUnit::Duplicate);
        }
        if !queue_offset_fits(cq_offset, self.files.file_size()) {
            return Err(StoreError::Invalid(format!(
                "queue offset {cq_offset} of {}/{} is outside what a consume queue can hold",
                self.topic, self.queue_id
            )));
        }
        let expect_logic_offset = cq_offset as u64 * CQ_UNIT_SIZE as u64;
        let mut active = self.active.lock();
        // The active file is used through the guard, without reference counting per unit
        // (rebuild and recovery put millions).
        let first_in_queue = match active.as_ref() {
            Some(f) if !f.is_full() => false,
            _ => {
                let (f, first) = self.files.last_or_create(expect_logic_offset)?;
                *active = Some(f);
                first
            }
        };
        let file = active.as_ref().expect("set above");
        if first_in_queue && cq_offset != 0 && file.wrote_position() == 0 {
            self.min_logic_offset
                .store(expect_logic_offset, Ordering::Release);
            let until = (expect_logic_offset % self.files.file_size() as u64) as usize;
            let blank = CqUnit::PRE_BLANK.encode();
            let mut i = 0;
            while i < until {
                file.append(&blank)?;
                i += CQ_UNIT_SIZE;
            }
        }
        if cq_offset != 0 {
            let current = file.file_from_offset() + file.wrote_position() as u64;
            if expect_logic_offset < current {
                return Ok(PutUnit::Duplicate);
            }
        }
        self.max_physic_offset
            .store(offset.saturating_add(size as i64), Ordering::Release);
        let unit = CqUnit {
            commitlog_offset: offset,
            size,
            tags_code,
        }
        .encode();
        if !file.append(&unit)? {
            // The file filled up between the lookup and the append (pre-blank padding ends
            // exactly at its end): continue in the next file.
            *active = Some(self.files.create_next(expect_logic_offset)?.0);
            let file = active.as_ref().expect("set above");
            if !file.append(&unit)? {
                return Err(StoreError::bad_file(
                    file.path(),
                    "no room for a consume-queue unit in a new file",
                ));
            }
        }
        Ok(PutUnit::Written)
    }

    /// The unit at queue offset `index`, if written.
    pub fn get_unit(&self, index: u64) -> Option<CqUnit> {
        let pos = index.checked_mul(CQ_UNIT_SIZE as u64)?;
        let f = self.files.find_by_offset(pos)?;
        let rel = (pos - f.file_from_offset()) as usize;
        f.slice(rel, CQ_UNIT_SIZE)
            .and_then(|b| CqUnit::decode(b).ok())
    }

    /// [`ConsumeQueue::get_unit`] for a run of reads: `file` keeps the file of the previous
    /// call, so units read in order from one file look it up once.
    pub fn get_unit_cached(
        &self,
        index: u64,
        file: &mut Option<Arc<crate::mapped_file::MappedFile>>,
    ) -> Option<CqUnit> {
        let pos = index.checked_mul(CQ_UNIT_SIZE as u64)?;
        let f = self.files.find_by_offset_cached(pos, file)?;
        let rel = (pos - f.file_from_offset()) as usize;
        f.slice(rel, CQ_UNIT_SIZE)
            .and_then(|b| CqUnit::decode(b).ok())
    }

    /// `getMinOffsetInQueue`.
    pub fn min_offset_in_queue(&self) -> u64 {
        self.min_logic_offset.load(Ordering::Acquire) / CQ_UNIT_SIZE as u64
    }

    /// `getMaxOffsetInQueue`: one past the last written unit.
    pub fn max_offset_in_queue(&self) -> u64 {
        self.files.max_offset() / CQ_UNIT_SIZE as u64
    }

    /// `correctMinOffset`: the first unit of the first file whose message is at or above the
    /// commitlog's minimum offset becomes the queue's minimum.
    pub fn correct_min_offset(&self, phy_min_offset: i64) {
        let Some(f) = self.files.first() else {
            return;
        };
        let data = f.readable();
        let mut pos = 0;
        while pos + CQ_UNIT_SIZE <= data.len() {
            if let Ok(u) = CqUnit::decode(&data[pos..]) {
                if u.commitlog_offset >= phy_min_offset {
                    self.min_logic_offset
                        .store(f.file_from_offset() + pos as u64, Ordering::Release);
                    return;
                }
            }
            pos += CQ_UNIT_SIZE;
        }
    }

    /// `truncateDirtyLogicFiles`: drop every unit whose message starts at or beyond
    /// `phy_offset`, deleting files that hold only such units.
    pub fn truncate_dirty_logic_files(&self, phy_offset: i64) -> Result<()> {
        *self.active.lock() = None;
        while let Some(f) = self.files.last() {
            let data = f.readable();
            let mut keep = 0usize;
            while keep + CQ_UNIT_SIZE <= data.len() {
                let u = CqUnit::decode(&data[keep..]).expect("20 bytes available");
                if u.commitlog_offset >= phy_offset {
                    break;
                }
                keep += CQ_UNIT_SIZE;
            }
            // Copy the length: `data` views the mapping, which is written below.
            let written = data.len();
            if keep == 0 && written > 0 {
                // Even the first unit is beyond: the whole file goes; look at the previous one.
                self.files.remove_last()?;
                continue;
            }
            f.set_wrote_position(keep);
            // Zero the dropped units. Java leaves them, and the next start's `recover` (which
            // reads units until the first invalid one) then takes them back: after a crash that
            // tore the commitlog, a unit pointing at a lost record (or into the middle of the
            // record later written at its offset) reappeared in the queue once the slot before
            // it was rewritten. Only bytes that held units are written.
            if f.is_writable() && keep < written {
                let zeros = [0u8; 4096];
                let mut at = keep;
                while at < written {
                    let n = (written - at).min(zeros.len());
                    f.write_at(at, &zeros[..n])?;
                    at += n;
                }
            }
            break;
        }
        self.max_physic_offset
            .store(self.last_unit_end(), Ordering::Release);
        Ok(())
    }

    /// Cuts the queue to its first `units` units (a torn unit and all after it go), zeroing
    /// the dropped units of the file that keeps some and deleting later files, as
    /// [`truncate_dirty_logic_files`](Self::truncate_dirty_logic_files) does.
    pub fn truncate_to_units(&self, units: u64) -> Result<()> {
        *self.active.lock() = None;
        let keep_bytes = units * CQ_UNIT_SIZE as u64;
        while let Some(f) = self.files.last() {
            if f.file_from_offset() >= keep_bytes && self.files.len() > 1 {
                self.files.remove_last()?;
                continue;
            }
            let keep = keep_bytes.saturating_sub(f.file_from_offset()) as usize;
            let written = f.wrote_position();
            if keep < written {
                f.set_wrote_position(keep);
                if f.is_writable() {
                    let zeros = [0u8; 4096];
                    let mut at = keep;
                    while at < written {
                        let n = (written - at).min(zeros.len());
                        f.write_at(at, &zeros[..n])?;
                        at += n;
                    }
                }
            }
            break;
        }
        self.max_physic_offset
            .store(self.last_unit_end(), Ordering::Release);
        Ok(())
    }

    /// End (offset + size) of the last written unit's message, or -1.
    fn last_unit_end(&self) -> i64 {
        let max = self.max_offset_in_queue();
        if max == 0 {
            return -1;
        }
        self.get_unit(max - 1)
            .map(|u| u.commitlog_offset.saturating_add(u.size as i64))
            .unwrap_or(-1)
    }

    pub fn flush(&self) -> Result<()> {
        self.files.flush()
    }

    /// `ConsumeQueue#destroy`: deletes every file of the queue and its directory (when
    /// writable). Readers holding a file keep its mapping until they let go.
    pub(crate) fn destroy(&self) -> Result<()> {
        *self.active.lock() = None;
        while self.files.remove_last()?.is_some() {}
        self.max_physic_offset.store(-1, Ordering::Release);
        self.min_logic_offset.store(0, Ordering::Release);
        if self.files.is_writable() {
            let dir = self.files.dir();
            match fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(dir, e)),
            }
        }
        Ok(())
    }
}

/// Every consume queue of a store, by topic and queue id.
#[derive(Debug)]
pub struct ConsumeQueueTable {
    root: PathBuf,
    file_size: usize,
    writable: bool,
    queues: RwLock<FxHashMap<String, FxHashMap<i32, Arc<ConsumeQueue>>>>,
}

impl ConsumeQueueTable {
    /// Loads `consumequeue/<topic>/<queueId>/`. Topic directories may have any name a topic
    /// folder can have (see [`validate_topic`]) and queue directories numeric names; anything else is an error naming it (Java skips
    /// non-numeric queue directories silently; we refuse, since they are not ours to ignore).
    pub fn load(root: &Path, file_size: usize, writable: bool) -> Result<ConsumeQueueTable> {
        Self::load_inner(root, file_size, writable, None)
    }

    /// A read-only [`load`](Self::load) for inspection: a stray entry, a folder no topic or
    /// queue names, or a file of the wrong length is left out and recorded in `left` (with
    /// every later file of its queue) instead of failing the load.
    pub fn load_tolerant(
        root: &Path,
        file_size: usize,
        left: &mut Vec<crate::left_out::LeftOut>,
    ) -> Result<ConsumeQueueTable> {
        Self::load_inner(root, file_size, false, Some(left))
    }

    fn load_inner(
        root: &Path,
        file_size: usize,
        writable: bool,
        mut left: Option<&mut Vec<crate::left_out::LeftOut>>,
    ) -> Result<ConsumeQueueTable> {
        // In an inspection load, what would fail the load is left out instead.
        macro_rules! refuse {
            ($left:expr, $path:expr, $why:expr) => {{
                let e = StoreError::bad_file($path, $why);
                match $left.as_mut() {
                    Some(l) => {
                        l.push(crate::left_out::LeftOut::new($path, $why.to_string()));
                        continue;
                    }
                    None => return Err(e),
                }
            }};
        }
        let mut queues: FxHashMap<String, FxHashMap<i32, Arc<ConsumeQueue>>> = FxHashMap::default();
        match fs::read_dir(root) {
            Ok(rd) => {
                for topic_entry in rd {
                    let topic_entry = topic_entry.at(root)?;
                    let tpath = topic_entry.path();
                    if !topic_entry.file_type().at(&tpath)?.is_dir() {
                        refuse!(
                            left,
                            &tpath,
                            "stray entry in consumequeue/: only topic directories belong here"
                        );
                    }
                    // Java names the folder with the topic's UTF-8 bytes (a topic from the
                    // commitlog is decoded lossily first), so it is always UTF-8.
                    let Ok(topic) = topic_entry.file_name().into_string() else {
                        refuse!(
                            left,
                            &tpath,
                            "a topic folder whose name is not UTF-8: no topic names it"
                        );
                    };
                    if let Err(e) = validate_topic(&topic) {
                        refuse!(left, &tpath, e.to_string());
                    }
                    for q_entry in fs::read_dir(&tpath).at(&tpath)? {
                        let q_entry = q_entry.at(&tpath)?;
                        let qpath = q_entry.path();
                        let qname = q_entry.file_name().to_string_lossy().into_owned();
                        let qid: i32 = match qname.parse() {
                            Ok(q) if q >= 0 && q_entry.file_type().at(&qpath)?.is_dir() => q,
                            _ => refuse!(
                                left,
                                &qpath,
                                "stray entry: queue directories are named by a non-negative number"
                            ),
                        };
                        let before = left.as_ref().map_or(0, |l| l.len());
                        let cq = match left.as_mut() {
                            Some(l) => ConsumeQueue::from_files(
                                MappedFileQueue::load_tolerant(&qpath, file_size, true, l)?,
                                &topic,
                                qid,
                            )?,
                            None => ConsumeQueue::load(&qpath, &topic, qid, file_size, writable)?,
                        };
                        if cq.files().is_empty() && left.as_ref().is_some_and(|l| l.len() > before)
                        {
                            // Every file of the queue was left out: no queue to show.
                            continue;
                        }
                        queues
                            .entry(topic.clone())
                            .or_default()
                            .insert(qid, Arc::new(cq));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(root, e)),
        }
        Ok(ConsumeQueueTable {
            root: root.to_path_buf(),
            file_size,
            writable,
            queues: RwLock::new(queues),
        })
    }

    pub fn get(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        self.queues.read().get(topic)?.get(&queue_id).cloned()
    }

    /// The queue, created (in memory; files appear on the first unit) if missing.
    pub fn find_or_create(&self, topic: &str, queue_id: i32) -> Result<Arc<ConsumeQueue>> {
        if let Some(q) = self.get(topic, queue_id) {
            return Ok(q);
        }
        validate_topic(topic)?;
        validate_queue_id(queue_id)?;
        let mut w = self.queues.write();
        let by_q = w.entry(topic.to_string()).or_default();
        if let Some(q) = by_q.get(&queue_id) {
            return Ok(q.clone());
        }
        let dir = self.root.join(topic).join(queue_id.to_string());
        let q = Arc::new(ConsumeQueue::load(
            &dir,
            topic,
            queue_id,
            self.file_size,
            self.writable,
        )?);
        by_q.insert(queue_id, q.clone());
        Ok(q)
    }

    /// Takes a queue out of the table (its files are left to the caller).
    pub(crate) fn remove(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        let mut w = self.queues.write();
        let by_q = w.get_mut(topic)?;
        let q = by_q.remove(&queue_id);
        if by_q.is_empty() {
            w.remove(topic);
        }
        q
    }

    /// All queues, ordered by topic then queue id.
    pub fn all(&self) -> Vec<Arc<ConsumeQueue>> {
        let mut v: Vec<Arc<ConsumeQueue>> = self
            .queues
            .read()
            .values()
            .flat_map(|m| m.values().cloned())
            .collect();
        v.sort_by(|a, b| (a.topic(), a.queue_id()).cmp(&(b.topic(), b.queue_id())));
        v
    }

    #[cfg(feature = "internals")]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The size of every consume-queue file, in bytes.
    pub fn file_size(&self) -> usize {
        self.file_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_recover_truncate() {
        let d = tempfile::tempdir().unwrap();
        let q = ConsumeQueue::load(d.path(), "T", 0, 100, true).unwrap();
        for i in 0..8i64 {
            assert_eq!(
                q.put_position_info(i * 50, 50, i, i).unwrap(),
                PutUnit::Written
            );
        }
        // A repeat of an already dispatched message is skipped.
        assert_eq!(
            q.put_position_info(0, 50, 0, 0).unwrap(),
            PutUnit::Duplicate
        );
        assert_eq!(q.max_offset_in_queue(), 8);
        assert_eq!(q.files().len(), 2);
        assert_eq!(q.get_unit(6).unwrap().commitlog_offset, 300);
        assert!(q.get_unit(8).is_none());

        let q2 = ConsumeQueue::load(d.path(), "T", 0, 100, true).unwrap();
        q2.recover().unwrap();
        assert_eq!(q2.max_offset_in_queue(), 8);
        assert_eq!(q2.max_physic_offset(), 400);

        q2.truncate_dirty_logic_files(250).unwrap();
        assert_eq!(q2.max_offset_in_queue(), 5);
        assert_eq!(q2.max_physic_offset(), 250);
        q2.truncate_dirty_logic_files(100).unwrap();
        assert_eq!(q2.max_offset_in_queue(), 2);
        assert_eq!(q2.files().len(), 1);
        q2.truncate_dirty_logic_files(0).unwrap();
        assert_eq!(q2.max_offset_in_queue(), 0);
    }

    #[test]
    fn pre_blank_when_first_offset_is_not_zero() {
        let d = tempfile::tempdir().unwrap();
        let q = ConsumeQueue::load(d.path(), "T", 0, 100, true).unwrap();
        q.put_position_info(1000, 10, 0, 7).unwrap();
        assert_eq!(q.min_offset_in_queue(), 7);
        assert_eq!(q.max_offset_in_queue(), 8);
        assert_eq!(q.files().first().unwrap().file_from_offset(), 100);
        assert!(q.get_unit(5).unwrap().is_pre_blank());
        assert!(q.get_unit(6).unwrap().is_pre_blank());
        assert_eq!(q.get_unit(7).unwrap().commitlog_offset, 1000);
    }

    #[test]
    fn table_rejects_stray_entries() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("T/0")).unwrap();
        assert_eq!(
            ConsumeQueueTable::load(d.path(), 100, false)
                .unwrap()
                .all()
                .len(),
            1
        );
        fs::create_dir_all(d.path().join("T/x")).unwrap();
        assert!(ConsumeQueueTable::load(d.path(), 100, false).is_err());
        fs::remove_dir(d.path().join("T/x")).unwrap();
        // Any topic Java's store takes names a folder (issue 12): no longer a stray entry.
        fs::create_dir_all(d.path().join("a.b c主题/0")).unwrap();
        let t = ConsumeQueueTable::load(d.path(), 100, false).unwrap();
        assert!(t.get("a.b c主题", 0).is_some());
        fs::write(d.path().join("stray"), b"x").unwrap();
        let e = ConsumeQueueTable::load(d.path(), 100, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("stray"), "{e}");
    }
}
