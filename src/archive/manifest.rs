//! The manifest: what a data directory holds, walked once before anything
//! is streamed, and the rules every path in an archive must follow.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use super::ArchiveError;

/// The first entry of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The archive layout ([`super::FORMAT`]).
    pub format: u32,
    /// The pgshadow that wrote it.
    pub pgshadow_version: String,
    /// The PostgreSQL major version, from `PG_VERSION`.
    pub pg_major: String,
    /// The cluster's system identifier, from `global/pg_control`, in decimal
    /// as `pg_controldata` prints it.
    pub system_identifier: String,
    /// The replication slot the standby streams from, if it uses one.
    pub slot: Option<String>,
    /// Every entry below the data directory, in archive order.
    pub entries: Vec<ManifestEntry>,
}

/// What kind of entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

impl Kind {
    /// The word used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "directory",
            Kind::Symlink => "symlink",
        }
    }
}

/// One entry of the data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// Relative to the data directory, `/`-separated.
    pub path: String,
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
    /// Bytes, for files.
    #[serde(default)]
    pub size: u64,
    /// The link target, for symlinks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The last entry of an archive: every file's SHA-256 in hex.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Checksums {
    pub sha256: BTreeMap<String, String>,
}

/// What identifies the cluster in a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterIdentity {
    pub pg_major: String,
    pub system_identifier: u64,
}

/// Reads `PG_VERSION` and the system identifier, the first field of
/// `global/pg_control` (a u64 in the byte order of the machine that wrote it).
pub fn read_cluster_identity(dir: &Path) -> Result<ClusterIdentity, ArchiveError> {
    let version_path = dir.join("PG_VERSION");
    let version = std::fs::read_to_string(&version_path).map_err(|source| ArchiveError::Read {
        path: version_path,
        source,
    })?;

    let control_path = dir.join("global/pg_control");
    let control = std::fs::read(&control_path).map_err(|source| ArchiveError::Read {
        path: control_path.clone(),
        source,
    })?;
    let Some(first) = control.first_chunk::<8>() else {
        let source = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "shorter than 8 bytes");
        return Err(ArchiveError::Read {
            path: control_path,
            source,
        });
    };
    Ok(ClusterIdentity {
        pg_major: version.trim().to_string(),
        system_identifier: u64::from_ne_bytes(*first),
    })
}

/// One entry of a data directory, found by [`inventory`] or
/// [`super::parse_listing`], with what the tar header needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What the manifest records.
    pub entry: ManifestEntry,
    /// Modification time, whole seconds since 1970.
    pub mtime: u64,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
}

/// Walks `root` depth-first in name order, directories before their
/// contents, refusing what an archive cannot carry safely.
pub(super) fn inventory(root: &Path) -> Result<Vec<Item>, ArchiveError> {
    let mut items = Vec::new();
    let mut pending = children(root, "")?;
    while let Some(relative) = pending.pop() {
        let path = root.join(&relative);
        let meta = std::fs::symlink_metadata(&path).map_err(|source| ArchiveError::Read {
            path: path.clone(),
            source,
        })?;
        let kind = kind_of(&relative, &meta.file_type())?;
        let target = match kind {
            Kind::Symlink => Some(read_link_target(&path, &relative)?),
            _ => None,
        };
        if kind == Kind::Dir {
            pending.extend(children(&path, &relative)?);
        }
        items.push(Item {
            entry: ManifestEntry {
                size: if kind == Kind::File { meta.len() } else { 0 },
                mode: meta.permissions().mode() & 0o7777,
                path: relative,
                kind,
                target,
            },
            mtime: meta.mtime().max(0) as u64,
            uid: u64::from(meta.uid()),
            gid: u64::from(meta.gid()),
        });
    }
    Ok(items)
}

/// The relative paths of `dir`'s children, in reverse name order (a stack).
fn children(dir: &Path, relative: &str) -> Result<Vec<String>, ArchiveError> {
    let read = |source| ArchiveError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let name = entry.map_err(read)?.file_name();
        let name = name
            .into_string()
            .map_err(|name| ArchiveError::Unsupported {
                path: format!("{relative}/{}", name.to_string_lossy()),
                what: "a name that is not UTF-8",
            })?;
        names.push(if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        });
    }
    names.sort_unstable_by(|a, b| b.cmp(a));
    Ok(names)
}

fn kind_of(relative: &str, file_type: &std::fs::FileType) -> Result<Kind, ArchiveError> {
    use std::os::unix::fs::FileTypeExt;
    let unsupported = |what| ArchiveError::Unsupported {
        path: relative.to_string(),
        what,
    };
    if file_type.is_file() {
        Ok(Kind::File)
    } else if file_type.is_dir() {
        Ok(Kind::Dir)
    } else if file_type.is_symlink() {
        Ok(Kind::Symlink)
    } else if file_type.is_fifo() {
        Err(unsupported("a named pipe"))
    } else if file_type.is_socket() {
        Err(unsupported("a socket"))
    } else {
        Err(unsupported("a device"))
    }
}

fn read_link_target(path: &Path, relative: &str) -> Result<String, ArchiveError> {
    let target = std::fs::read_link(path).map_err(|source| ArchiveError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let target = target.to_string_lossy().into_owned();
    check_link_target(relative, &target)?;
    Ok(target)
}

/// A path inside an archive must be relative, not empty, and made only of
/// normal components: no `/` at the start, no `..`, no `.`.
pub(super) fn check_entry_path(path: &str) -> Result<(), ArchiveError> {
    let unsafe_path = |reason| ArchiveError::Unsafe {
        path: path.to_string(),
        reason,
    };
    if path.is_empty() {
        return Err(unsafe_path("an empty path"));
    }
    for component in Path::new(path).components() {
        match component {
            Component::Normal(_) => {}
            Component::ParentDir => return Err(unsafe_path("`..` in the path")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_path("an absolute path"));
            }
            Component::CurDir => return Err(unsafe_path("`.` in the path")),
        }
    }
    Ok(())
}

/// A symlink may only point downwards: a relative target without `..`.
/// Together with [`check_entry_path`] and the rule that no entry is written
/// through a symlink, nothing extracted can reach outside the staging
/// directory, whatever order the links resolve in.
pub(super) fn check_link_target(path: &str, target: &str) -> Result<(), ArchiveError> {
    let escapes = target.is_empty()
        || Path::new(target)
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes {
        return Err(ArchiveError::EscapingLink {
            path: path.to_string(),
            target: target.to_string(),
        });
    }
    Ok(())
}
