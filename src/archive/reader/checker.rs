//! The checks every entry passes as it arrives, whatever the sink: listed
//! in the manifest, once, of the listed kind, size and link target, not
//! cut short; and at the trailer, every file's SHA-256.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

use super::checks::{index_manifest, kind_of_header, stream_error};
use super::{Arrival, Sink};
use crate::archive::hashing::{Failure, HashingReader};
use crate::archive::manifest::{Checksums, check_link_target};
use crate::archive::{ArchiveError, CHECKSUMS_NAME, Kind, Manifest, ManifestEntry};

/// One archive being read.
pub(super) struct Checker<'m, 'p> {
    manifest: &'m Manifest,
    index: HashMap<&'m str, usize>,
    cancel: &'m AtomicBool,
    /// Per manifest entry: arrived, and the file's SHA-256.
    arrived: Vec<bool>,
    sha256: Vec<Option<String>>,
    done: u64,
    total: u64,
    progress: &'p mut dyn FnMut(u64, u64),
}

impl<'m, 'p> Checker<'m, 'p> {
    /// Checks the manifest itself (see [`index_manifest`]).
    pub fn new(
        manifest: &'m Manifest,
        cancel: &'m AtomicBool,
        progress: &'p mut dyn FnMut(u64, u64),
    ) -> Result<Self, ArchiveError> {
        let count = manifest.entries.len();
        Ok(Checker {
            index: index_manifest(manifest)?,
            manifest,
            cancel,
            arrived: vec![false; count],
            sha256: vec![None; count],
            done: 0,
            total: manifest.entries.iter().map(|e| e.size).sum(),
            progress,
        })
    }

    /// Bytes of file data that passed.
    pub fn bytes(&self) -> u64 {
        self.done
    }

    /// Checks one entry against the manifest, then hands it to `sink`.
    pub fn receive<R: Read>(
        &mut self,
        path: &str,
        entry: &mut tar::Entry<R>,
        sink: &mut impl Sink,
    ) -> Result<(), ArchiveError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(ArchiveError::Interrupted);
        }
        let i = self.mark_arrived(path)?;
        let manifest = self.manifest;
        let expected = &manifest.entries[i];
        let header = entry.header();
        let found = kind_of_header(path, header.entry_type())?;
        if found != expected.kind {
            let (found, expected) = (found.name(), expected.kind.name());
            return Err(ArchiveError::KindMismatch {
                path: path.to_string(),
                found,
                expected,
            });
        }
        let arrival = Arrival {
            path,
            expected,
            mtime: header.mtime().unwrap_or(0),
            uid: header.uid().unwrap_or(0),
            gid: header.gid().unwrap_or(0),
            parent_arrived: self.parent_arrived(path),
        };

        match expected.kind {
            Kind::Dir => sink.dir(&arrival),
            Kind::Symlink => {
                check_symlink(expected, entry)?;
                sink.symlink(&arrival)
            }
            Kind::File => {
                self.sha256[i] = Some(self.pass_file(&arrival, entry, sink)?);
                Ok(())
            }
        }
    }

    /// The entry's manifest index, refusing what is not listed or twice.
    fn mark_arrived(&mut self, path: &str) -> Result<usize, ArchiveError> {
        let unexpected = || ArchiveError::Unexpected {
            path: path.to_string(),
        };
        let i = *self.index.get(path).ok_or_else(unexpected)?;
        if std::mem::replace(&mut self.arrived[i], true) {
            return Err(ArchiveError::Duplicate {
                path: path.to_string(),
            });
        }
        Ok(i)
    }

    /// Our writer puts directories first, so this is normally true.
    fn parent_arrived(&self, path: &str) -> bool {
        match path.rsplit_once('/') {
            None => true,
            Some((parent, _)) => self.index.get(parent).is_some_and(|&p| self.arrived[p]),
        }
    }

    /// Hands a file's bytes to the sink, hashing them; returns the SHA-256.
    fn pass_file<R: Read>(
        &mut self,
        arrival: &Arrival,
        entry: &mut tar::Entry<R>,
        sink: &mut impl Sink,
    ) -> Result<String, ArchiveError> {
        let (path, expected) = (arrival.path, arrival.expected.size);
        let found = entry.header().size().map_err(ArchiveError::Input)?;
        if found != expected {
            return Err(ArchiveError::SizeMismatch {
                path: path.to_string(),
                found,
                expected,
            });
        }

        let mut data = HashingReader::new(entry, expected, self.cancel);
        let written = sink.file(arrival, &mut data);
        let truncated = |written| ArchiveError::Truncated {
            path: path.to_string(),
            written,
            expected,
        };
        match (data.take_failure(), written) {
            (Some(Failure::Cancelled), _) => return Err(ArchiveError::Interrupted),
            (Some(Failure::Short), _) => return Err(truncated(data.count())),
            (Some(Failure::Read(e)), _) => return Err(stream_error(e, path)),
            (None, Err(e)) => return Err(e),
            (None, Ok(())) if data.count() < expected => return Err(truncated(data.count())),
            (None, Ok(())) => {}
        }

        self.done += expected;
        (self.progress)(self.done, self.total);
        Ok(data.finish().0)
    }

    /// Compares every file's SHA-256 with the trailer's, in manifest order.
    pub fn verify(&self, checksums: &Checksums) -> Result<(), ArchiveError> {
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
}

/// The header's link target must be safe and the manifest's.
fn check_symlink(
    expected: &ManifestEntry,
    entry: &tar::Entry<impl Read>,
) -> Result<(), ArchiveError> {
    let link = entry.link_name_bytes().unwrap_or_default();
    let link = String::from_utf8_lossy(&link);
    check_link_target(&expected.path, &link)?;
    if expected.target.as_deref() != Some(&*link) {
        let reason = "its link target differs from the manifest";
        return Err(ArchiveError::Unsafe {
            path: expected.path.clone(),
            reason,
        });
    }
    Ok(())
}
