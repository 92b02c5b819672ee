//! Reading an archive into a staging directory, checking every entry
//! against the manifest as it arrives and every checksum before returning.
//!
//! The caller owns the staging directory: on any error it removes it, so
//! nothing here cleans up after itself.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::time::TimeVal;
use ring::digest::{Context, SHA256};

use super::manifest::{Checksums, check_entry_path, check_link_target};
use super::writer::BUFFER;
use super::{ArchiveError, CHECKSUMS_NAME, FORMAT, Kind, MANIFEST_NAME, Manifest, hex};
use crate::config::Owner;

/// The manifest and the checksums are held in memory; refuse absurd sizes.
const MAX_JSON: u64 = 256 << 20;

/// The first bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// What [`extract`] needs besides the input and the staging directory.
#[derive(Debug)]
pub struct ExtractOptions<'a> {
    /// The owner every entry gets; `None` keeps the user running pgshadow.
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
pub fn extract<R: Read>(
    input: R,
    staging: &Path,
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
        extract_tar(
            BufReader::with_capacity(BUFFER, decoder),
            staging,
            options,
            progress,
        )
    } else {
        extract_tar(input, staging, options, progress)
    }
}

fn extract_tar<R: Read>(
    input: R,
    staging: &Path,
    options: &ExtractOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Extracted, ArchiveError> {
    let mut archive = tar::Archive::new(input);
    let mut entries = archive.entries().map_err(ArchiveError::Input)?;
    let manifest = read_manifest(&mut entries)?;
    let mut extraction = Extraction::new(&manifest, staging, options, progress)?;

    let mut last = MANIFEST_NAME.to_string();
    loop {
        let truncated = |e: io::Error| stream_error(e, &last);
        let mut entry = match entries.next() {
            None => return Err(ArchiveError::TruncatedEnd { after: last }),
            Some(entry) => entry.map_err(truncated)?,
        };
        let path = entry_path(&entry)?;
        if path == CHECKSUMS_NAME {
            let checksums: Checksums = read_json(&mut entry, CHECKSUMS_NAME)?;
            extraction.verify(&checksums)?;
            break;
        }
        extraction.entry(&path, &mut entry)?;
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

    extraction.finish()?;
    let bytes = extraction.done;
    Ok(Extracted { manifest, bytes })
}

/// A read error of the stream: an early end is a truncated archive.
fn stream_error(e: io::Error, last: &str) -> ArchiveError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        ArchiveError::TruncatedEnd {
            after: last.to_string(),
        }
    } else {
        ArchiveError::Input(e)
    }
}

fn read_manifest<R: Read>(entries: &mut tar::Entries<R>) -> Result<Manifest, ArchiveError> {
    let mut first = match entries.next() {
        None => {
            return Err(ArchiveError::NotPgshadow {
                found: "nothing".into(),
            });
        }
        Some(entry) => entry.map_err(ArchiveError::Input)?,
    };
    let name = String::from_utf8_lossy(&first.path_bytes()).into_owned();
    if name != MANIFEST_NAME {
        return Err(ArchiveError::NotPgshadow { found: name });
    }
    let manifest: Manifest = read_json(&mut first, MANIFEST_NAME)?;
    if manifest.format != FORMAT {
        let message = format!("format {} (this pgshadow reads {FORMAT})", manifest.format);
        return Err(ArchiveError::BadManifest {
            name: MANIFEST_NAME,
            message,
        });
    }
    Ok(manifest)
}

fn read_json<T: serde::de::DeserializeOwned>(
    entry: &mut tar::Entry<impl Read>,
    name: &'static str,
) -> Result<T, ArchiveError> {
    let size = entry.header().size().map_err(ArchiveError::Input)?;
    if size > MAX_JSON {
        let message = format!("{size} bytes, more than the {MAX_JSON} allowed");
        return Err(ArchiveError::BadManifest { name, message });
    }
    let mut body = Vec::with_capacity(size as usize);
    entry
        .read_to_end(&mut body)
        .map_err(|e| stream_error(e, name))?;
    if (body.len() as u64) < size {
        return Err(ArchiveError::TruncatedEnd {
            after: name.to_string(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| ArchiveError::BadManifest {
        name,
        message: e.to_string(),
    })
}

/// The entry's path, checked: relative, normal components only.
fn entry_path(entry: &tar::Entry<impl Read>) -> Result<String, ArchiveError> {
    let raw = entry.path_bytes();
    let text = String::from_utf8_lossy(&raw);
    let path = text.trim_end_matches('/');
    check_entry_path(path)?;
    Ok(path.to_string())
}

/// Checks the manifest itself: safe, unique paths; symlinks that point
/// downwards; no entry below a symlink. Returns each path's index.
fn index_manifest(manifest: &Manifest) -> Result<HashMap<&str, usize>, ArchiveError> {
    let symlinks: HashSet<&str> = manifest
        .entries
        .iter()
        .filter(|e| e.kind == Kind::Symlink)
        .map(|e| e.path.as_str())
        .collect();
    let mut index = HashMap::with_capacity(manifest.entries.len());
    for (i, entry) in manifest.entries.iter().enumerate() {
        check_entry_path(&entry.path)?;
        if let Some(target) = &entry.target {
            check_link_target(&entry.path, target)?;
        }
        let through_link = Path::new(&entry.path)
            .ancestors()
            .skip(1)
            .any(|a| a.to_str().is_some_and(|a| symlinks.contains(a)));
        if through_link {
            let reason = "its path goes through a symlink";
            return Err(ArchiveError::Unsafe {
                path: entry.path.clone(),
                reason,
            });
        }
        if index.insert(entry.path.as_str(), i).is_some() {
            return Err(ArchiveError::Duplicate {
                path: entry.path.clone(),
            });
        }
    }
    Ok(index)
}

/// One import in progress.
struct Extraction<'m, 'p> {
    manifest: &'m Manifest,
    index: HashMap<&'m str, usize>,
    staging: &'m Path,
    owner: Option<Owner>,
    cancel: &'m AtomicBool,
    /// Per manifest entry: arrived, and the file's SHA-256.
    arrived: Vec<bool>,
    sha256: Vec<Option<String>>,
    /// Directories get their mode and mtime last, once their contents are in.
    dirs: Vec<(PathBuf, u32, u64)>,
    buffer: Vec<u8>,
    done: u64,
    total: u64,
    progress: &'p mut dyn FnMut(u64, u64),
}

impl<'m, 'p> Extraction<'m, 'p> {
    fn new(
        manifest: &'m Manifest,
        staging: &'m Path,
        options: &ExtractOptions<'m>,
        progress: &'p mut dyn FnMut(u64, u64),
    ) -> Result<Self, ArchiveError> {
        let count = manifest.entries.len();
        Ok(Extraction {
            index: index_manifest(manifest)?,
            manifest,
            staging,
            owner: options.owner,
            cancel: options.cancel,
            arrived: vec![false; count],
            sha256: vec![None; count],
            dirs: Vec::new(),
            buffer: vec![0; BUFFER],
            done: 0,
            total: manifest.entries.iter().map(|e| e.size).sum(),
            progress,
        })
    }

    /// Checks one entry against the manifest, then writes it.
    fn entry<R: Read>(
        &mut self,
        path: &str,
        entry: &mut tar::Entry<R>,
    ) -> Result<(), ArchiveError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(ArchiveError::Interrupted);
        }
        let unexpected = || ArchiveError::Unexpected {
            path: path.to_string(),
        };
        let i = *self.index.get(path).ok_or_else(unexpected)?;
        if std::mem::replace(&mut self.arrived[i], true) {
            return Err(ArchiveError::Duplicate {
                path: path.to_string(),
            });
        }
        let expected = &self.manifest.entries[i];
        let found = kind_of_header(path, entry.header().entry_type())?;
        if found != expected.kind {
            let (found, expected) = (found.name(), expected.kind.name());
            return Err(ArchiveError::KindMismatch {
                path: path.to_string(),
                found,
                expected,
            });
        }
        let mtime = entry.header().mtime().unwrap_or(0);
        let target = self.staging.join(path);
        self.make_parents(path, &target)?;

        match expected.kind {
            Kind::Dir => self.make_dir(target, expected.mode, mtime),
            Kind::Symlink => self.make_symlink(path, entry, &target, mtime),
            Kind::File => {
                let sha = self.write_file(path, entry, &target, i, mtime)?;
                self.sha256[i] = Some(sha);
                Ok(())
            }
        }
    }

    /// Creates the directories above an entry that arrives before them (our
    /// writer puts directories first, so this is normally a lookup).
    fn make_parents(&self, path: &str, target: &Path) -> Result<(), ArchiveError> {
        let parent_arrived = match path.rsplit_once('/') {
            None => true,
            Some((parent, _)) => self.index.get(parent).is_some_and(|&p| self.arrived[p]),
        };
        match target.parent() {
            Some(parent) if !parent_arrived => {
                std::fs::create_dir_all(parent).map_err(write_error(parent))
            }
            _ => Ok(()),
        }
    }

    fn make_dir(&mut self, target: PathBuf, mode: u32, mtime: u64) -> Result<(), ArchiveError> {
        use std::os::unix::fs::DirBuilderExt;
        // A parent created early for an out-of-order child may exist already.
        if !std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&target)
                .map_err(write_error(&target))?;
        }
        self.give(&target)?;
        self.dirs.push((target, mode & 0o777, mtime));
        Ok(())
    }

    fn make_symlink<R: Read>(
        &mut self,
        path: &str,
        entry: &tar::Entry<R>,
        target: &Path,
        mtime: u64,
    ) -> Result<(), ArchiveError> {
        let link = entry.link_name_bytes().unwrap_or_default();
        let link = String::from_utf8_lossy(&link);
        check_link_target(path, &link)?;
        let i = self.index[path];
        if self.manifest.entries[i].target.as_deref() != Some(&*link) {
            let reason = "its link target differs from the manifest";
            return Err(ArchiveError::Unsafe {
                path: path.to_string(),
                reason,
            });
        }
        std::os::unix::fs::symlink(&*link, target).map_err(write_error(target))?;
        self.give(target)?;
        set_mtime(target, mtime)
    }

    /// Writes a file through the buffer, hashing as it goes.
    fn write_file<R: Read>(
        &mut self,
        path: &str,
        entry: &mut tar::Entry<R>,
        target: &Path,
        i: usize,
        mtime: u64,
    ) -> Result<String, ArchiveError> {
        let expected = self.manifest.entries[i].size;
        let found = entry.header().size().map_err(ArchiveError::Input)?;
        if found != expected {
            return Err(ArchiveError::SizeMismatch {
                path: path.to_string(),
                found,
                expected,
            });
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(target)
            .map_err(write_error(target))?;

        let mut context = Context::new(&SHA256);
        let mut written = 0u64;
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(ArchiveError::Interrupted);
            }
            let n = entry
                .read(&mut self.buffer)
                .map_err(|e| stream_error(e, path))?;
            if n == 0 {
                break;
            }
            context.update(&self.buffer[..n]);
            file.write_all(&self.buffer[..n])
                .map_err(write_error(target))?;
            written += n as u64;
        }
        if written < expected {
            return Err(ArchiveError::Truncated {
                path: path.to_string(),
                written,
                expected,
            });
        }

        self.finish_file(&file, target, i, mtime)?;
        self.done += written;
        (self.progress)(self.done, self.total);
        Ok(hex(context.finish().as_ref()))
    }

    fn finish_file(
        &self,
        file: &File,
        target: &Path,
        i: usize,
        mtime: u64,
    ) -> Result<(), ArchiveError> {
        if let Some(owner) = self.owner {
            std::os::unix::fs::fchown(file, Some(owner.uid), Some(owner.gid))
                .map_err(write_error(target))?;
        }
        let mode = self.manifest.entries[i].mode & 0o777;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(write_error(target))?;
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
        file.set_modified(when).map_err(write_error(target))
    }

    fn give(&self, target: &Path) -> Result<(), ArchiveError> {
        match self.owner {
            Some(owner) => std::os::unix::fs::lchown(target, Some(owner.uid), Some(owner.gid))
                .map_err(write_error(target)),
            None => Ok(()),
        }
    }

    /// Compares every file's SHA-256 with the trailer's, in manifest order.
    fn verify(&self, checksums: &Checksums) -> Result<(), ArchiveError> {
        for (i, entry) in self.manifest.entries.iter().enumerate() {
            if !self.arrived[i] {
                return Err(ArchiveError::Missing {
                    path: entry.path.clone(),
                });
            }
            let Some(found) = &self.sha256[i] else {
                continue;
            };
            let Some(expected) = checksums.sha256.get(&entry.path) else {
                let message = format!("no checksum for {}", entry.path);
                return Err(ArchiveError::BadManifest {
                    name: CHECKSUMS_NAME,
                    message,
                });
            };
            if found != expected {
                return Err(ArchiveError::ChecksumMismatch {
                    path: entry.path.clone(),
                    found: found.clone(),
                    expected: expected.clone(),
                });
            }
        }
        Ok(())
    }

    /// Directory modes and mtimes, deepest first, so that writing into a
    /// directory does not bump its mtime again and a read-only one was
    /// still writable while it filled.
    fn finish(&mut self) -> Result<(), ArchiveError> {
        for (target, mode, mtime) in self.dirs.iter().rev() {
            std::fs::set_permissions(target, std::fs::Permissions::from_mode(*mode))
                .map_err(write_error(target))?;
            set_mtime(target, *mtime)?;
        }
        // The staging directory itself becomes the data directory.
        self.give(self.staging)
    }
}

fn kind_of_header(path: &str, kind: tar::EntryType) -> Result<Kind, ArchiveError> {
    let unsafe_entry = |reason| ArchiveError::Unsafe {
        path: path.to_string(),
        reason,
    };
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous => Ok(Kind::File),
        tar::EntryType::Directory => Ok(Kind::Dir),
        tar::EntryType::Symlink => Ok(Kind::Symlink),
        tar::EntryType::Link => Err(unsafe_entry("hard links are not allowed")),
        _ => Err(unsafe_entry(
            "only files, directories and symlinks are allowed",
        )),
    }
}

/// Sets the mtime of `target` without following a symlink.
fn set_mtime(target: &Path, mtime: u64) -> Result<(), ArchiveError> {
    let when = TimeVal::new(mtime as i64, 0);
    nix::sys::stat::lutimes(target, &when, &when)
        .map_err(|e| write_error(target)(io::Error::from(e)))
}

fn write_error(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + use<> {
    let path = path.to_path_buf();
    move |source| ArchiveError::Write { path, source }
}
