//! The checks an archive's parts must pass before anything is written:
//! the manifest itself, each entry's path and kind, the JSON entries.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::Path;

use crate::archive::manifest::{check_entry_path, check_link_target};
use crate::archive::{ArchiveError, FORMAT, Kind, MANIFEST_NAME, Manifest};

/// The manifest and the checksums are held in memory; refuse absurd sizes.
const MAX_JSON: u64 = 256 << 20;

/// A read error of the stream: an early end is a truncated archive.
pub(super) fn stream_error(e: io::Error, last: &str) -> ArchiveError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        ArchiveError::TruncatedEnd {
            after: last.to_string(),
        }
    } else {
        ArchiveError::Input(e)
    }
}

pub(super) fn read_manifest<R: Read>(
    entries: &mut tar::Entries<R>,
) -> Result<Manifest, ArchiveError> {
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

pub(super) fn read_json<T: serde::de::DeserializeOwned>(
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
pub(super) fn entry_path(entry: &tar::Entry<impl Read>) -> Result<String, ArchiveError> {
    let raw = entry.path_bytes();
    let text = String::from_utf8_lossy(&raw);
    let path = text.trim_end_matches('/');
    check_entry_path(path)?;
    Ok(path.to_string())
}

/// Checks the manifest itself: safe, unique paths; symlinks that point
/// downwards; no entry below a symlink. Returns each path's index.
pub(super) fn index_manifest(manifest: &Manifest) -> Result<HashMap<&str, usize>, ArchiveError> {
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

pub(super) fn kind_of_header(path: &str, kind: tar::EntryType) -> Result<Kind, ArchiveError> {
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
