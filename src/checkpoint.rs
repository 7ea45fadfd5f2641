//! The `checkpoint` file (`StoreCheckpoint`): 4096 bytes, the first 40 holding timestamps.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result, StoreError};
use crate::format::checkpoint::{Checkpoint, CHECKPOINT_FILE_SIZE};
use crate::mapped_file::open_options_no_follow;

/// The checkpoint file and its values.
#[derive(Debug)]
pub struct StoreCheckpoint {
    path: PathBuf,
    file: Option<File>,
    /// The whole 4096 bytes, so bytes we do not own (5.x fields) are written back unchanged.
    page: Vec<u8>,
    pub values: Checkpoint,
}

impl StoreCheckpoint {
    /// Opens the checkpoint. Writable: created (4096 zero bytes) if missing. Read-only: a
    /// missing file reads as all zero and nothing is created.
    pub fn open(path: &Path, writable: bool) -> Result<StoreCheckpoint> {
        let mut page = vec![0u8; CHECKPOINT_FILE_SIZE];
        let file = if writable {
            let mut o = open_options_no_follow();
            o.read(true).write(true).create(true).truncate(false);
            let mut f = crate::iorecord::open(&o, path).at(path)?;
            read_page(&mut f, &mut page, path)?;
            Some(f)
        } else {
            match open_options_no_follow().read(true).open(path) {
                Ok(mut f) => {
                    read_page(&mut f, &mut page, path)?;
                    None
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(StoreError::io(path, e)),
            }
        };
        let values = Checkpoint::decode(&page).map_err(|e| StoreError::corrupt(path, 0, e))?;
        Ok(StoreCheckpoint {
            path: path.to_path_buf(),
            file,
            page,
            values,
        })
    }

    #[cfg(feature = "internals")]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 5.x `CommitLog#setConfirmOffset` outside controller mode: recovery (normal or
    /// abnormal) sets the confirm offset to the start of the last valid record it found, and
    /// `StoreCheckpoint#flush` writes it at byte 32 (`confirmPhyOffset`) with the rest.
    pub fn set_confirm_phy_offset(&mut self, offset: i64) {
        self.values.confirm_phy_offset = offset;
        self.page[32..40].copy_from_slice(&offset.to_be_bytes());
    }

    /// Writes the values and makes them durable.
    pub fn flush(&mut self) -> Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Err(StoreError::ReadOnly);
        };
        self.values.encode_into(&mut self.page, false);
        f.seek(SeekFrom::Start(0)).at(&self.path)?;
        crate::fault::write_all(f, &self.path, &self.page).at(&self.path)?;
        crate::iorecord::write(&self.path, 0, &self.page);
        crate::iorecord::sync(&self.path, None, || f.sync_data()).at(&self.path)?;
        Ok(())
    }
}

fn read_page(f: &mut File, page: &mut [u8], path: &Path) -> Result<()> {
    let mut n = 0;
    while n < page.len() {
        let r = f.read(&mut page[n..]).at(path)?;
        if r == 0 {
            break; // a short file reads as zeros after its end, as a mapping of it would
        }
        n += r;
    }
    Ok(())
}
