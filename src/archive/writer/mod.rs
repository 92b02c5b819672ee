//! Writing an archive: the manifest first, then every entry through fixed
//! buffers, hashing files as they pass, then the checksums. Where the
//! entries come from is a [`Source`]: the local file system
//! ([`write_archive`]) or a tar stream from the Docker engine
//! ([`write_archive_from_tar`]).

mod emitter;
mod from_tar;
mod local;

use std::io::{BufWriter, Write};
use std::str::FromStr;
use std::sync::atomic::AtomicBool;

use super::manifest::{ClusterIdentity, Item};
use super::{ArchiveError, FORMAT, Manifest};
use emitter::Emitter;

pub use from_tar::write_archive_from_tar;
pub use local::write_archive;

/// Size of the read and write buffers. Large enough that a pipe or a disk
/// sees few system calls, small enough that memory stays flat.
pub(super) const BUFFER: usize = 1 << 20;

/// zstd's own default level: in our measurements, higher levels cost more
/// CPU than they save in bytes on PostgreSQL pages.
const ZSTD_LEVEL: i32 = 3;

/// How the tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Zstd,
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "none" => Ok(Compression::None),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(format!(
                "invalid compression `{text}`: expected zstd or none"
            )),
        }
    }
}

/// What [`write_archive`] and [`write_archive_from_tar`] need besides the
/// data and the output.
#[derive(Debug)]
pub struct WriteOptions<'a> {
    pub compression: Compression,
    /// The slot recorded in the manifest.
    pub slot: Option<String>,
    /// Set from another thread to abandon the export between two reads.
    pub cancel: &'a AtomicBool,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Exported {
    pub pg_major: String,
    pub system_identifier: u64,
    /// Files, directories and symlinks.
    pub entries: usize,
    /// Bytes of file data (before compression).
    pub bytes: u64,
}

/// Hands every entry of the data directory to the [`Emitter`], each once.
trait Source {
    fn emit<W: Write>(&mut self, emitter: &mut Emitter<'_, W>) -> Result<(), ArchiveError>;
}

/// Writes the archive of `items` to `out`: the manifest, what `source`
/// emits, the checksums, and the zstd frame around them when asked.
fn write_with<W: Write>(
    identity: ClusterIdentity,
    items: &[Item],
    source: &mut impl Source,
    out: W,
    options: &WriteOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Exported, ArchiveError> {
    let bytes = items.iter().map(|i| i.entry.size).sum();
    let manifest = Manifest {
        format: FORMAT,
        pgshadow_version: env!("CARGO_PKG_VERSION").to_string(),
        pg_major: identity.pg_major.clone(),
        system_identifier: identity.system_identifier.to_string(),
        slot: options.slot.clone(),
        entries: items.iter().map(|i| i.entry.clone()).collect(),
    };

    let out = BufWriter::with_capacity(BUFFER, out);
    let finished = match options.compression {
        Compression::None => emit_all(out, &manifest, source, options, progress)?,
        Compression::Zstd => {
            let encoder = zstd::Encoder::new(out, ZSTD_LEVEL).map_err(ArchiveError::Output)?;
            emit_all(encoder, &manifest, source, options, progress)?
                .finish()
                .map_err(ArchiveError::Output)?
        }
    };
    finished
        .into_inner()
        .map_err(|e| ArchiveError::Output(e.into_error()))?;

    Ok(Exported {
        pg_major: identity.pg_major,
        system_identifier: identity.system_identifier,
        entries: items.len(),
        bytes,
    })
}

/// Manifest, entries, checksums and end-of-archive blocks; returns `out`.
fn emit_all<W: Write>(
    out: W,
    manifest: &Manifest,
    source: &mut impl Source,
    options: &WriteOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<W, ArchiveError> {
    let mut emitter = Emitter::begin(out, manifest, options.cancel, progress)?;
    source.emit(&mut emitter)?;
    emitter.finish()
}

/// The data directory is not what the manifest says any more.
fn changed(relative: &str) -> ArchiveError {
    ArchiveError::Changed {
        path: relative.to_string(),
    }
}
