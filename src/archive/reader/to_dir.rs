//! The sink of [`super::extract`]: entries become files, directories and
//! symlinks in a staging directory on this machine.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::time::TimeVal;

use super::{Arrival, Sink};
use crate::archive::ArchiveError;
use crate::archive::writer::BUFFER;
use crate::config::Owner;

/// Writes into `staging`, an existing empty directory.
pub(super) struct DirSink<'a> {
    staging: &'a Path,
    owner: Option<Owner>,
    /// Directories get their mode and mtime last, once their contents are in.
    dirs: Vec<(PathBuf, u32, u64)>,
    buffer: Vec<u8>,
}

impl<'a> DirSink<'a> {
    pub fn new(staging: &'a Path, owner: Option<Owner>) -> Self {
        DirSink {
            staging,
            owner,
            dirs: Vec::new(),
            buffer: vec![0; BUFFER],
        }
    }

    /// The entry's place in staging, with the directories above it created
    /// when it arrives before them.
    fn place(&self, arrival: &Arrival) -> Result<PathBuf, ArchiveError> {
        let target = self.staging.join(arrival.path);
        match target.parent() {
            Some(parent) if !arrival.parent_arrived => {
                std::fs::create_dir_all(parent).map_err(write_error(parent))?;
            }
            _ => {}
        }
        Ok(target)
    }

    fn give(&self, target: &Path) -> Result<(), ArchiveError> {
        match self.owner {
            Some(owner) => std::os::unix::fs::lchown(target, Some(owner.uid), Some(owner.gid))
                .map_err(write_error(target)),
            None => Ok(()),
        }
    }

    /// Owner, mode and mtime of a written file.
    fn finish_file(
        &self,
        file: &File,
        target: &Path,
        arrival: &Arrival,
    ) -> Result<(), ArchiveError> {
        if let Some(owner) = self.owner {
            std::os::unix::fs::fchown(file, Some(owner.uid), Some(owner.gid))
                .map_err(write_error(target))?;
        }
        let mode = arrival.expected.mode & 0o777;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(write_error(target))?;
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(arrival.mtime);
        file.set_modified(when).map_err(write_error(target))
    }
}

impl Sink for DirSink<'_> {
    fn dir(&mut self, arrival: &Arrival) -> Result<(), ArchiveError> {
        use std::os::unix::fs::DirBuilderExt;
        let target = self.place(arrival)?;
        // A parent created early for an out-of-order child may exist already.
        if !std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&target)
                .map_err(write_error(&target))?;
        }
        self.give(&target)?;
        let mode = arrival.expected.mode & 0o777;
        self.dirs.push((target, mode, arrival.mtime));
        Ok(())
    }

    fn symlink(&mut self, arrival: &Arrival) -> Result<(), ArchiveError> {
        let target = self.place(arrival)?;
        let link = arrival.expected.target.as_deref().unwrap_or_default();
        std::os::unix::fs::symlink(link, &target).map_err(write_error(&target))?;
        self.give(&target)?;
        set_mtime(&target, arrival.mtime)
    }

    /// Writes a file through the buffer.
    fn file(&mut self, arrival: &Arrival, data: &mut dyn Read) -> Result<(), ArchiveError> {
        let target = self.place(arrival)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target)
            .map_err(write_error(&target))?;
        loop {
            let n = data.read(&mut self.buffer).map_err(ArchiveError::Input)?;
            if n == 0 {
                break;
            }
            file.write_all(&self.buffer[..n])
                .map_err(write_error(&target))?;
        }
        self.finish_file(&file, &target, arrival)
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
