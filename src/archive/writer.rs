//! Writing an archive: walk the data directory once for the manifest, then
//! stream every entry through fixed buffers, hashing files as they pass.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use ring::digest::{Context, SHA256};

use super::manifest::{Checksums, Item, inventory};
use super::{ArchiveError, CHECKSUMS_NAME, FORMAT, Kind, MANIFEST_NAME, Manifest, hex};

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

/// What [`write_archive`] needs besides the directory and the output.
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

/// Writes `dir` as an archive to `out`. `progress` is called with the bytes
/// of file data done so far and the total, after every file.
pub fn write_archive<W: Write>(
    dir: &Path,
    out: W,
    options: &WriteOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Exported, ArchiveError> {
    let identity = super::read_cluster_identity(dir)?;
    let items = inventory(dir)?;
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
    let mut stream = Stream {
        dir,
        cancel: options.cancel,
        done: 0,
        total: bytes,
        progress,
    };
    let finished = match options.compression {
        Compression::None => stream.write(&manifest, &items, out)?,
        Compression::Zstd => {
            let encoder = zstd::Encoder::new(out, ZSTD_LEVEL).map_err(ArchiveError::Output)?;
            stream
                .write(&manifest, &items, encoder)?
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

/// One export in progress.
struct Stream<'a, 'p> {
    dir: &'a Path,
    cancel: &'a AtomicBool,
    done: u64,
    total: u64,
    progress: &'p mut dyn FnMut(u64, u64),
}

impl Stream<'_, '_> {
    /// Manifest, entries, checksums, end-of-archive blocks; returns `out`.
    fn write<W: Write>(
        &mut self,
        manifest: &Manifest,
        items: &[Item],
        out: W,
    ) -> Result<W, ArchiveError> {
        let mut builder = tar::Builder::new(out);
        append_json(&mut builder, MANIFEST_NAME, manifest)?;

        let mut checksums = Checksums::default();
        for item in items {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(ArchiveError::Interrupted);
            }
            if let Some(sha) = self.append_item(&mut builder, item)? {
                checksums.sha256.insert(item.entry.path.clone(), sha);
            }
        }

        append_json(&mut builder, CHECKSUMS_NAME, &checksums)?;
        builder.into_inner().map_err(ArchiveError::Output)
    }

    /// Appends one entry; returns the file's SHA-256 for files.
    fn append_item<W: Write>(
        &mut self,
        builder: &mut tar::Builder<W>,
        item: &Item,
    ) -> Result<Option<String>, ArchiveError> {
        let entry = &item.entry;
        let mut header = tar::Header::new_gnu();
        header.set_mode(entry.mode);
        header.set_uid(item.uid);
        header.set_gid(item.gid);
        header.set_mtime(item.mtime);
        header.set_size(0);
        match entry.kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                builder.append_data(&mut header, &entry.path, io::empty())
            }
            Kind::Symlink => {
                header.set_entry_type(tar::EntryType::Symlink);
                let target = entry.target.as_deref().unwrap_or_default();
                builder.append_link(&mut header, &entry.path, target)
            }
            Kind::File => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(entry.size);
                return self
                    .append_file(builder, header, &entry.path, entry.size)
                    .map(Some);
            }
        }
        .map_err(ArchiveError::Output)?;
        Ok(None)
    }

    fn append_file<W: Write>(
        &mut self,
        builder: &mut tar::Builder<W>,
        mut header: tar::Header,
        relative: &str,
        size: u64,
    ) -> Result<String, ArchiveError> {
        let path = self.dir.join(relative);
        let read_error = |source| ArchiveError::Read {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(read_error)?;
        let mut reader = HashingReader {
            inner: BufReader::with_capacity(BUFFER, file.take(size)),
            context: Context::new(&SHA256),
            count: 0,
            expected: size,
            cancel: self.cancel,
            failure: None,
        };

        let appended = builder.append_data(&mut header, relative, &mut reader);
        match (reader.failure.take(), appended) {
            (Some(Failure::Cancelled), _) => return Err(ArchiveError::Interrupted),
            (Some(Failure::Short), _) => return Err(changed(relative)),
            (Some(Failure::Read(source)), _) => return Err(read_error(source)),
            (None, Err(e)) => return Err(ArchiveError::Output(e)),
            (None, Ok(())) => {}
        }
        let now = reader
            .inner
            .get_ref()
            .get_ref()
            .metadata()
            .map_err(read_error)?;
        if now.len() != size {
            return Err(changed(relative));
        }

        self.done += size;
        (self.progress)(self.done, self.total);
        Ok(hex(reader.context.finish().as_ref()))
    }
}

fn changed(relative: &str) -> ArchiveError {
    ArchiveError::Changed {
        path: relative.to_string(),
    }
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

/// Why a [`HashingReader`] stopped early.
enum Failure {
    Cancelled,
    /// The file ended before the size the manifest recorded.
    Short,
    Read(io::Error),
}

/// Hashes what passes through, and turns a file that shrank, a read error
/// or a cancellation into an error the tar builder stops on (remembering
/// which, so that the message names the right cause).
struct HashingReader<'a, R> {
    inner: R,
    context: Context,
    count: u64,
    expected: u64,
    cancel: &'a AtomicBool,
    failure: Option<Failure>,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            self.failure = Some(Failure::Cancelled);
            return Err(io::Error::other("interrupted"));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                let kind = e.kind();
                self.failure = Some(Failure::Read(e));
                return Err(kind.into());
            }
        };
        if n == 0 && self.count < self.expected && !buf.is_empty() {
            self.failure = Some(Failure::Short);
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.context.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
