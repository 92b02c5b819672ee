//! The standby's data directory on the host: checking the target, the
//! staging directory beside it, the swap into place, free space, and the
//! owner and modes PostgreSQL insists on.
//!
//! pgshadow never clones into the live directory: it clones into a sibling
//! staging directory (same file system, so the swap is one rename) and only
//! renames it into place once it is complete, finalized and verified.

mod dir_queue;
pub mod finalize;
pub mod host;
mod owner;
pub mod remote;

pub use host::DataHost;

use std::path::{Path, PathBuf};

pub use owner::{OwnerPlan, give_to_owner, plan_modes, set_owner_and_modes};

/// A failure on the host's file system. Each names the path.
#[derive(Debug, thiserror::Error)]
pub enum DatadirError {
    #[error("data directory {path} is not empty")]
    NotEmpty { path: PathBuf },
    #[error("data directory {path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("{action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{action} {path} on the engine at {endpoint}: {detail}")]
    Remote {
        action: &'static str,
        path: PathBuf,
        endpoint: String,
        detail: String,
    },
    #[error("not enough space in {path}: the copy needs {needed} bytes, {available} are free")]
    NoSpace {
        path: PathBuf,
        needed: u64,
        available: u64,
    },
}

impl DatadirError {
    /// The fix, where we know it.
    pub fn hint(&self) -> Option<String> {
        match self {
            DatadirError::NotEmpty { .. } => Some(
                "pass --force to replace it (the old directory is kept aside), or pick another standby.data_dir"
                    .into(),
            ),
            DatadirError::NotADirectory { .. } => Some("standby.data_dir must name a directory".into()),
            DatadirError::NoSpace { .. } => {
                Some("free space on that file system, or point standby.data_dir at a larger one".into())
            }
            _ => None,
        }
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DatadirError {
    let path = path.to_path_buf();
    move |source| DatadirError::Io {
        action,
        path,
        source,
    }
}

/// What is at the target path now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Absent,
    Empty,
    NonEmpty,
}

/// Looks at the target directory without changing it.
pub fn inspect_target(path: &Path) -> Result<TargetState, DatadirError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TargetState::Absent),
        Err(e) => return Err(io("inspect", path)(e)),
    };
    if !meta.is_dir() {
        return Err(DatadirError::NotADirectory {
            path: path.to_path_buf(),
        });
    }
    let mut entries = std::fs::read_dir(path).map_err(io("read", path))?;
    Ok(if entries.next().is_some() {
        TargetState::NonEmpty
    } else {
        TargetState::Empty
    })
}

/// The staging directory for `target`: a hidden sibling named after this run.
pub fn staging_path(target: &Path, run_id: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.pgshadow-staging-{run_id}"))
}

/// Where a replaced directory is kept: `<data_dir>.replaced-<UTC timestamp>`.
pub fn replaced_path(target: &Path, stamp: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!("{name}.replaced-{stamp}"))
}

/// Creates the staging directory (and the target's parent, if missing), mode 0700.
pub fn create_staging(staging: &Path) -> Result<(), DatadirError> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(parent) = staging.parent() {
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(staging)
        .map_err(io("create staging directory", staging))
}

/// Removes the staging directory and everything in it; absent is fine.
pub fn remove_staging(staging: &Path) -> Result<(), DatadirError> {
    match std::fs::remove_dir_all(staging) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("remove staging directory", staging)(e)),
    }
}

/// Renames the staging directory into place. An existing target is first
/// renamed aside (returned), or, when it is an empty directory, removed.
pub fn swap_into_place(
    staging: &Path,
    target: &Path,
    stamp: &str,
) -> Result<Option<PathBuf>, DatadirError> {
    let kept = match inspect_target(target)? {
        TargetState::Absent => None,
        TargetState::Empty => {
            std::fs::remove_dir(target).map_err(io("remove empty directory", target))?;
            None
        }
        TargetState::NonEmpty => {
            let aside = replaced_path(target, stamp);
            std::fs::rename(target, &aside).map_err(io("move aside", target))?;
            Some(aside)
        }
    };
    if let Err(e) = std::fs::rename(staging, target) {
        // Put the old directory back so the host is as it was.
        if let Some(aside) = &kept {
            let _ = std::fs::rename(aside, target);
        }
        return Err(io("rename the staging directory to", target)(e));
    }
    Ok(kept)
}

/// Free bytes for an unprivileged writer on the file system holding `path`
/// (or its nearest existing ancestor).
pub fn free_bytes(path: &Path) -> Result<u64, DatadirError> {
    let existing = path
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let stat = nix::sys::statvfs::statvfs(existing)
        .map_err(|e| io("measure free space of", existing)(std::io::Error::from(e)))?;
    Ok(stat.blocks_available() as u64 * stat.fragment_size() as u64)
}

/// Fails with [`DatadirError::NoSpace`] when `needed` bytes do not fit at `path`.
pub fn ensure_space(path: &Path, needed: u64) -> Result<(), DatadirError> {
    let available = free_bytes(path)?;
    if needed > available {
        return Err(DatadirError::NoSpace {
            path: path.to_path_buf(),
            needed,
            available,
        });
    }
    Ok(())
}

/// Bytes of the files under `dir` (symlinks not followed), for summaries.
pub fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.flatten().map(|e| e.path()));
            }
        } else {
            total += meta.len();
        }
    }
    total
}

/// A UTC timestamp for file names: `20261203T154500Z`.
pub fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

#[cfg(test)]
mod tests;
