//! Reading an archive, checking every entry against the manifest as it
//! arrives and every checksum at the trailer. Where the checked entries go
//! is a [`Sink`]: a staging directory on this machine ([`extract`]) or a
//! plain tar stream for the Docker engine's archive endpoint
//! ([`extract_to_tar`]).

mod checker;
mod checks;
mod to_dir;
mod to_tar;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::manifest::{Checksums, ManifestEntry};
use super::writer::BUFFER;
use super::{ArchiveError, CHECKSUMS_NAME, MANIFEST_NAME, Manifest};
use crate::config::Owner;
use checker::Checker;
use checks::{entry_path, read_json, read_manifest, stream_error};

/// The first bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// What [`extract`] and [`extract_to_tar`] need besides the input and the
/// destination.
#[derive(Debug)]
pub struct ExtractOptions<'a> {
    /// The owner every entry gets; `None` keeps the user running pgshadow
    /// ([`extract`]) or the owners in the archive ([`extract_to_tar`]).
    pub owner: Option<Owner>,
    /// Set from another thread to abandon the import between two reads.
    pub cancel: &'a AtomicBool,
}

/// What was extracted and verified.
#[derive(Debug, Clone)]
pub struct Extracted {
    pub manifest: Manifest,
    /// Bytes of file data.
    pub bytes: u64,
}

/// Extracts the archive on `input` (plain tar or zstd, recognised by its
/// first bytes) into `staging`, an existing empty directory. `progress` is
/// called with the bytes of file data done so far and the total.
///
/// The caller owns the staging directory: on any error it removes it, so
/// nothing here cleans up after itself.
pub fn extract<R: Read>(
    input: R,
    staging: &Path,
    options: &ExtractOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Extracted, ArchiveError> {
    let sink = to_dir::DirSink::new(staging, options.owner);
    read_archive(input, sink, options, progress)
}

/// Reads the archive on `input` (plain tar or zstd) with the checks of
/// [`extract`], and writes its entries to `out` as a plain tar for the
/// Docker engine's archive endpoint (`PUT /containers/{id}/archive`):
/// names `prefix/<path>` (no prefix when `prefix` is empty), the archive's
/// modes (permission bits) and mtimes, symlinks as symlinks, and owners
/// `options.owner`, or the archive's when it is `None`. A non-empty
/// `prefix` gets its own first entry, a directory with mode 0700 owned by
/// `options.owner` (root without one), because the engine would otherwise
/// create it as root with mode 0755, which PostgreSQL refuses.
///
/// A file's checksum is compared only at the trailer, after its bytes went
/// to `out`: the caller extracts into a staging directory and removes it
/// on error, so damaged data never reaches the data directory. On any
/// error the end-of-archive blocks are not written and buffered output is
/// dropped, so the stream on `out` is never a complete tar.
pub fn extract_to_tar<R: Read, W: Write>(
    input: R,
    prefix: &str,
    out: W,
    options: &ExtractOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Extracted, ArchiveError> {
    let sink = to_tar::TarSink::new(prefix, out, options.owner)?;
    read_archive(input, sink, options, progress)
}

/// An entry that passed the checks against the manifest.
pub(super) struct Arrival<'a> {
    /// Checked: relative, normal components only.
    pub path: &'a str,
    /// Its manifest entry; kind, size and link target match it.
    pub expected: &'a ManifestEntry,
    pub mtime: u64,
    /// The owner in the entry's header.
    pub uid: u64,
    pub gid: u64,
    /// Whether the parent directory arrived already (or is the top).
    pub parent_arrived: bool,
}

/// Where checked entries go.
pub(super) trait Sink {
    fn dir(&mut self, arrival: &Arrival) -> Result<(), ArchiveError>;
    /// The target is `arrival.expected.target`.
    fn symlink(&mut self, arrival: &Arrival) -> Result<(), ArchiveError>;
    /// Reads `data` to its end. Its read errors come back to the caller,
    /// which reports them in place of the sink's view of them.
    fn file(&mut self, arrival: &Arrival, data: &mut dyn Read) -> Result<(), ArchiveError>;
    /// Called once every entry arrived and every checksum matched.
    fn finish(&mut self) -> Result<(), ArchiveError>;
}

fn read_archive<R: Read>(
    input: R,
    sink: impl Sink,
    options: &ExtractOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Extracted, ArchiveError> {
    let mut input = BufReader::with_capacity(BUFFER, input);
    let compressed = input
        .fill_buf()
        .map_err(ArchiveError::Input)?
        .starts_with(&ZSTD_MAGIC);
    if compressed {
        let decoder = zstd::Decoder::with_buffer(input).map_err(ArchiveError::Input)?;
        let decoded = BufReader::with_capacity(BUFFER, decoder);
        read_tar(decoded, sink, options, progress)
    } else {
        read_tar(input, sink, options, progress)
    }
}

/// Manifest, entries, checksums, end of the stream.
fn read_tar<R: Read>(
    input: R,
    mut sink: impl Sink,
    options: &ExtractOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Extracted, ArchiveError> {
    let mut archive = tar::Archive::new(input);
    let mut entries = archive.entries().map_err(ArchiveError::Input)?;
    let manifest = read_manifest(&mut entries)?;
    let mut checker = Checker::new(&manifest, options.cancel, progress)?;

    let mut last = MANIFEST_NAME.to_string();
    loop {
        let mut entry = match entries.next() {
            None => return Err(ArchiveError::TruncatedEnd { after: last }),
            Some(entry) => entry.map_err(|e| stream_error(e, &last))?,
        };
        let path = entry_path(&entry)?;
        if path == CHECKSUMS_NAME {
            let checksums: Checksums = read_json(&mut entry, CHECKSUMS_NAME)?;
            checker.verify(&checksums)?;
            break;
        }
        checker.receive(&path, &mut entry, &mut sink)?;
        last = path;
    }
    if let Some(entry) = entries.next() {
        let entry = entry.map_err(ArchiveError::Input)?;
        return Err(ArchiveError::Unexpected {
            path: entry_path(&entry)?,
        });
    }
    // Read what follows the end-of-archive blocks, so that a writer on a pipe
    // is not cut off with EPIPE, and a compressed frame is checked complete.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(ArchiveError::Input)?;

    sink.finish()?;
    let bytes = checker.bytes();
    Ok(Extracted { manifest, bytes })
}
