//! The part of writing an archive that does not depend on where the data
//! comes from: tar headers from the manifest, hashing, progress, the
//! manifest first and the checksums last.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::archive::hashing::{Failure, HashingReader};
use crate::archive::manifest::{Checksums, Item};
use crate::archive::{ArchiveError, CHECKSUMS_NAME, Kind, MANIFEST_NAME, Manifest};

/// One archive being written.
pub(super) struct Emitter<'a, W: Write> {
    builder: tar::Builder<W>,
    checksums: Checksums,
    cancel: &'a AtomicBool,
    done: u64,
    total: u64,
    progress: &'a mut dyn FnMut(u64, u64),
}

impl<'a, W: Write> Emitter<'a, W> {
    /// Starts the archive on `out` with the manifest.
    pub fn begin(
        out: W,
        manifest: &Manifest,
        cancel: &'a AtomicBool,
        progress: &'a mut dyn FnMut(u64, u64),
    ) -> Result<Self, ArchiveError> {
        let mut builder = tar::Builder::new(out);
        append_json(&mut builder, MANIFEST_NAME, manifest)?;
        Ok(Emitter {
            builder,
            checksums: Checksums::default(),
            cancel,
            done: 0,
            total: manifest.entries.iter().map(|e| e.size).sum(),
            progress,
        })
    }

    /// Fails once the export was cancelled.
    pub fn check_cancel(&self) -> Result<(), ArchiveError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(ArchiveError::Interrupted);
        }
        Ok(())
    }

    /// Appends a directory or a symlink.
    pub fn append_entry(&mut self, item: &Item) -> Result<(), ArchiveError> {
        let entry = &item.entry;
        let mut header = header_for(item);
        match entry.kind {
            Kind::Symlink => {
                let target = entry.target.as_deref().unwrap_or_default();
                self.builder.append_link(&mut header, &entry.path, target)
            }
            Kind::Dir | Kind::File => {
                self.builder
                    .append_data(&mut header, &entry.path, io::empty())
            }
        }
        .map_err(ArchiveError::Output)
    }

    /// Appends a file whose bytes `data` delivers (exactly the manifest's
    /// size), hashing them; returns `data` for a last look at the source.
    /// `failed` names a read failure or data that ended early.
    pub fn append_file<R: Read>(
        &mut self,
        item: &Item,
        data: R,
        failed: impl FnOnce(Failure) -> ArchiveError,
    ) -> Result<R, ArchiveError> {
        let entry = &item.entry;
        let mut reader = HashingReader::new(data, entry.size, self.cancel);
        let mut header = header_for(item);
        let appended = self
            .builder
            .append_data(&mut header, &entry.path, &mut reader);
        match (reader.take_failure(), appended) {
            (Some(Failure::Cancelled), _) => return Err(ArchiveError::Interrupted),
            (Some(failure), _) => return Err(failed(failure)),
            (None, Err(e)) => return Err(ArchiveError::Output(e)),
            (None, Ok(())) => {}
        }

        let (sha, data) = reader.finish();
        self.checksums.sha256.insert(entry.path.clone(), sha);
        self.done += entry.size;
        (self.progress)(self.done, self.total);
        Ok(data)
    }

    /// Appends the checksums and the end-of-archive blocks; returns `out`.
    pub fn finish(mut self) -> Result<W, ArchiveError> {
        append_json(&mut self.builder, CHECKSUMS_NAME, &self.checksums)?;
        self.builder.into_inner().map_err(ArchiveError::Output)
    }
}

/// The header of an entry, without its path: the manifest's kind, mode and
/// size, the item's owner and mtime.
fn header_for(item: &Item) -> tar::Header {
    let entry = &item.entry;
    let mut header = tar::Header::new_gnu();
    header.set_mode(entry.mode);
    header.set_uid(item.uid);
    header.set_gid(item.gid);
    header.set_mtime(item.mtime);
    header.set_size(0);
    header.set_entry_type(match entry.kind {
        Kind::Dir => tar::EntryType::Directory,
        Kind::Symlink => tar::EntryType::Symlink,
        Kind::File => tar::EntryType::Regular,
    });
    if entry.kind == Kind::File {
        header.set_size(entry.size);
    }
    header
}

fn append_json<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    value: &impl serde::Serialize,
) -> Result<(), ArchiveError> {
    let body = serde_json::to_vec(value).expect("manifest types serialize");
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(body.len() as u64);
    header.set_mtime(
        std::time::UNIX_EPOCH
            .elapsed()
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    builder
        .append_data(&mut header, name, body.as_slice())
        .map_err(ArchiveError::Output)
}
