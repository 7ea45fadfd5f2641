//! The controller-mode `epochFileCheckpoint` (Java: `store.ha.autoswitch.EpochFileCache` over
//! `common.utils.CheckpointFile`): a text file, lines separated by the JVM's line separator
//! (`\n` on Linux):
//!
//! ```text
//! <number of entries>
//! <crc32 of the entry lines, masked to 31 bits; 0 = not checked>
//! <epoch>-<startOffset>        one line per entry, in epoch order
//! ```
//!
//! Each entry's end offset is the next entry's start; the last one's is `i64::MAX`
//! (`EpochEntry`'s default `Long.MAX_VALUE`). Java writes `<file>.bak` with the previous content
//! before overwriting the file.

use std::path::Path;

use crate::error::{Result, StoreError};

/// One epoch: the leader term and the commitlog range written under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
    pub end_offset: i64,
}

/// The file name under the store root.
pub const FILE_NAME: &str = "epochFileCheckpoint";

/// Java `CheckpointFile`'s "not checked" CRC value.
const NOT_CHECK_CRC: i32 = 0;

/// Parses the file's content. Errors say which line is wrong and why, as Java's loader would
/// refuse it (wrong count, CRC mismatch) or fail on it (a number that does not parse).
pub fn parse(text: &str) -> std::result::Result<Vec<EpochEntry>, String> {
    let mut lines = text.lines();
    let count: usize = lines
        .next()
        .ok_or("empty file (no entry count)")?
        .trim_end_matches('\r')
        .parse()
        .map_err(|_| "line 1 is not an entry count".to_string())?;
    let crc: i32 = lines
        .next()
        .ok_or("no CRC line")?
        .trim_end_matches('\r')
        .parse()
        .map_err(|_| "line 2 is not a CRC".to_string())?;
    let mut body = String::new();
    let mut entries: Vec<EpochEntry> = Vec::new();
    for (i, line) in lines.enumerate() {
        body.push_str(line);
        body.push('\n');
        // Java's serializer: `line.split("-")` must give exactly two parts, else the line is
        // skipped (and then counts against the entry count).
        let parts: Vec<&str> = line.split('-').collect();
        if parts.len() != 2 {
            continue;
        }
        let epoch: i32 = parts[0]
            .parse()
            .map_err(|_| format!("line {}: epoch {:?} is not a number", i + 3, parts[0]))?;
        let start: i64 = parts[1].parse().map_err(|_| {
            format!(
                "line {}: start offset {:?} is not a number",
                i + 3,
                parts[1]
            )
        })?;
        entries.push(EpochEntry {
            epoch,
            start_offset: start,
            end_offset: i64::MAX,
        });
    }
    if entries.len() != count {
        return Err(format!("expected {count} entries, found {}", entries.len()));
    }
    let computed = (crc32fast::hash(body.as_bytes()) & 0x7FFF_FFFF) as i32;
    if crc != NOT_CHECK_CRC && crc != computed {
        return Err(format!(
            "entries CRC {crc} does not match (computed {computed})"
        ));
    }
    for i in 1..entries.len() {
        if entries[i].epoch <= entries[i - 1].epoch
            || entries[i].start_offset < entries[i - 1].start_offset
        {
            return Err(format!(
                "entry {} does not follow entry {} in epoch and offset",
                i + 1,
                i
            ));
        }
        entries[i - 1].end_offset = entries[i].start_offset;
    }
    Ok(entries)
}

/// The text Java writes for these entries (`CheckpointFile#write`).
#[cfg(feature = "internals")]
pub fn encode(entries: &[EpochEntry]) -> String {
    let mut body = String::new();
    for e in entries {
        body.push_str(&format!("{}-{}\n", e.epoch, e.start_offset));
    }
    let crc = (crc32fast::hash(body.as_bytes()) & 0x7FFF_FFFF) as i32;
    format!("{}\n{}\n{}", entries.len(), crc, body)
}

/// Reads `root/epochFileCheckpoint`; `None` when the store has none (not in controller mode).
pub fn read(root: &Path) -> Result<Option<Vec<EpochEntry>>> {
    let path = root.join(FILE_NAME);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = super::read_all(&path)?;
    let text = String::from_utf8(bytes).map_err(|e| StoreError::BadFile {
        path: path.clone(),
        what: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })?;
    parse(&text)
        .map(Some)
        .map_err(|what| StoreError::BadFile { path, what })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_as_java() {
        let entries = parse("2\n0\n7-7000\n8-8000\n").unwrap();
        assert_eq!(entries[0].end_offset, 8000);
        assert_eq!(entries[1].end_offset, i64::MAX);
        let text = encode(&entries);
        assert_eq!(parse(&text).unwrap(), entries);
        let mut lines: Vec<&str> = text.lines().collect();
        let wrong = format!("{}", lines[1].parse::<i32>().unwrap() ^ 1);
        lines[1] = &wrong;
        assert!(parse(&(lines.join("\n") + "\n"))
            .unwrap_err()
            .contains("CRC"));
        assert!(parse("3\n0\n7-7000\n").unwrap_err().contains("expected 3"));
        assert!(parse("").is_err());
    }
}
