//! `rmqstore index STORE [--file NAME] [--entries] [--chains]`: every index file's header
//! (begin/end time and offset, hashSlotCount, indexCount); with `--entries` the entries, with
//! `--chains` the length of each non-empty hash slot's chain.

use std::io::Write;

use clap::Args;
use serde::Serialize;

use super::args::StoreArgs;
use super::table::Table;
use super::{CliError, CliResult};
use crate::clock::human_time;
use crate::inspect::index_dump::{
    index_entries, slot_chains, IndexEntryView, IndexFileSummary, SlotChain,
};

#[derive(Debug, Args)]
pub struct IndexArgs {
    #[command(flatten)]
    pub common: StoreArgs,
    /// Only the index file of this name (yyyyMMddHHmmssSSS).
    #[arg(long, value_name = "NAME")]
    pub file: Option<String>,
    /// Also list every written entry.
    #[arg(long)]
    pub entries: bool,
    /// Also list each non-empty hash slot's chain length.
    #[arg(long)]
    pub chains: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonIndexFile {
    #[serde(flatten)]
    summary: IndexFileSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    entries: Option<Vec<IndexEntryView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chains: Option<Vec<SlotChain>>,
}

pub fn run(args: &IndexArgs) -> CliResult {
    let (store, _) = args.common.open()?;
    let files: Vec<JsonIndexFile> = store.with_index_files(|files| {
        files
            .iter()
            .filter(|f| args.file.as_deref().is_none_or(|n| f.name() == n))
            .map(|f| JsonIndexFile {
                summary: IndexFileSummary::of(f),
                entries: args.entries.then(|| index_entries(f)),
                chains: args.chains.then(|| slot_chains(f)),
            })
            .collect()
    });
    if let Some(name) = &args.file {
        if files.is_empty() {
            return Err(CliError::Input(format!(
                "{}: no such index file",
                store.config().index_dir().join(name).display()
            )));
        }
    }
    let mut out = super::stdout();
    if args.common.json {
        super::json::write_list(&mut out, "rmqstore.index/1", "files", &files)?;
        out.flush()?;
        return Ok(());
    }
    let mut t = Table::new(&[
        "File",
        "Begin Time",
        "End Time",
        "Begin Offset>",
        "End Offset>",
        "HashSlotCount>",
        "IndexCount>",
        "Slots x Entries",
    ]);
    for f in &files {
        let s = &f.summary;
        t.row(vec![
            s.name.clone(),
            human_time(s.begin_timestamp),
            human_time(s.end_timestamp),
            s.begin_phy_offset.to_string(),
            s.end_phy_offset.to_string(),
            s.hash_slot_count.to_string(),
            s.index_count.to_string(),
            format!("{} x {}", s.hash_slot_num, s.index_num),
        ]);
    }
    t.write(&mut out, 0)?;
    writeln!(
        out,
        "\n{} index files in {}",
        files.len(),
        store.config().index_dir().display()
    )?;
    for f in &files {
        if let Some(entries) = &f.entries {
            writeln!(out, "\nEntries of {} ({}):", f.summary.name, entries.len())?;
            let mut t = Table::new(&[
                "No.>",
                "Key Hash>",
                "Slot>",
                "Commitlog Offset>",
                "Time Diff (s)>",
                "Time",
                "Prev>",
            ]);
            for e in entries {
                t.row(vec![
                    e.number.to_string(),
                    e.key_hash.to_string(),
                    e.slot.to_string(),
                    e.phy_offset.to_string(),
                    e.time_diff_secs.to_string(),
                    human_time(e.timestamp),
                    e.prev_index.to_string(),
                ]);
            }
            t.write(&mut out, 2)?;
        }
        if let Some(chains) = &f.chains {
            let longest = chains.iter().map(|c| c.length).max().unwrap_or(0);
            let broken = chains.iter().filter(|c| c.broken).count();
            writeln!(
                out,
                "\nSlot chains of {}: {} non-empty slots of {}, longest chain {}, {} broken",
                f.summary.name,
                chains.len(),
                f.summary.hash_slot_num,
                longest,
                broken
            )?;
            let mut t = Table::new(&["Slot>", "Head Entry>", "Length>", "Broken"]);
            for c in chains {
                t.row(vec![
                    c.slot.to_string(),
                    c.head.to_string(),
                    c.length.to_string(),
                    if c.broken {
                        "yes".into()
                    } else {
                        String::new()
                    },
                ]);
            }
            t.write(&mut out, 2)?;
        }
    }
    out.flush()?;
    Ok(())
}
