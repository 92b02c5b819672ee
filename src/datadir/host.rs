//! Where a data directory's files are: on this machine (system calls, the
//! fast path) or on the host of a remote engine (a helper container, see
//! [`super::remote`]). Commands call these and never the file system
//! directly, so that each works whichever engine owns the directory.

use std::path::{Path, PathBuf};

use super::finalize::StandbyCerts;
use super::remote::RemoteDir;
use super::{DatadirError, TargetState};
use crate::config::Owner;
use crate::docker::{Engine, FileEntry};
use crate::pgconf::recovery::StandbySettings;

/// The host holding one data directory, as seen from pgshadow.
pub enum DataHost {
    /// The engine is on this machine and pgshadow is root: its host paths
    /// are ours to open.
    Local {
        /// For the owner step's helper container, when one is needed.
        engine: Engine,
        /// The image that helper runs.
        image: String,
    },
    /// The engine is elsewhere (or pgshadow is not root): every file
    /// operation runs in a helper container there.
    Remote(RemoteDir),
}

impl DataHost {
    /// The right access for `data_dir` on `engine`: system calls for a
    /// local engine when pgshadow runs as root, else a helper container
    /// holding the directory's parent (a remote host's files, or files of
    /// the image's postgres user that a non-root user cannot read).
    pub async fn open(
        engine: &Engine,
        image: &str,
        data_dir: &Path,
    ) -> Result<DataHost, crate::Error> {
        if engine.is_local() && nix::unistd::geteuid().is_root() {
            return Ok(DataHost::Local {
                engine: engine.clone(),
                image: image.to_string(),
            });
        }
        Ok(DataHost::Remote(
            RemoteDir::open(engine, image, data_dir).await?,
        ))
    }

    /// Removes the helper container, if there is one.
    pub async fn close(self) {
        if let DataHost::Remote(remote) = self {
            remote.close().await;
        }
    }

    /// The helper, when the directory is on another host.
    pub fn remote(&self) -> Option<&RemoteDir> {
        match self {
            DataHost::Local { .. } => None,
            DataHost::Remote(remote) => Some(remote),
        }
    }

    /// What is at the target path now.
    pub async fn inspect_target(&self, path: &Path) -> Result<TargetState, DatadirError> {
        match self {
            DataHost::Local { .. } => super::inspect_target(path),
            DataHost::Remote(remote) => remote.inspect_target(path).await,
        }
    }

    /// True when something exists at `path`.
    pub async fn exists(&self, path: &Path) -> Result<bool, DatadirError> {
        match self {
            DataHost::Local { .. } => Ok(std::fs::symlink_metadata(path).is_ok()),
            DataHost::Remote(remote) => remote.exists(path).await,
        }
    }

    /// Creates the staging directory (and the target's parent), mode 0700.
    pub async fn create_staging(&self, staging: &Path) -> Result<(), DatadirError> {
        match self {
            DataHost::Local { .. } => super::create_staging(staging),
            DataHost::Remote(remote) => remote.create_dir(staging).await,
        }
    }

    /// Removes the staging directory and everything in it; absent is fine.
    pub async fn remove_staging(&self, staging: &Path) -> Result<(), DatadirError> {
        match self {
            DataHost::Local { .. } => super::remove_staging(staging),
            DataHost::Remote(remote) => remote.remove_all(staging).await,
        }
    }

    /// Free bytes on the file system that holds `path`.
    pub async fn free_bytes(&self, path: &Path) -> Result<u64, DatadirError> {
        match self {
            DataHost::Local { .. } => super::free_bytes(path),
            DataHost::Remote(remote) => remote.free_bytes(path).await,
        }
    }

    /// Bytes of the files under `dir`, for summaries.
    pub async fn bytes_under(&self, dir: &Path) -> Result<u64, DatadirError> {
        match self {
            DataHost::Local { .. } => Ok(super::bytes_under(dir)),
            DataHost::Remote(remote) => remote.bytes_under(dir).await,
        }
    }

    /// Renames the staging directory into place (see [`super::swap_into_place`]).
    pub async fn swap_into_place(
        &self,
        staging: &Path,
        target: &Path,
        stamp: &str,
    ) -> Result<Option<PathBuf>, DatadirError> {
        match self {
            DataHost::Local { .. } => super::swap_into_place(staging, target, stamp),
            DataHost::Remote(remote) => {
                let aside = super::replaced_path(target, stamp);
                remote.swap_into_place(staging, target, &aside).await
            }
        }
    }

    /// Reads a text file (`None` when it does not exist).
    pub async fn read_to_string(&self, path: &Path) -> Result<Option<String>, DatadirError> {
        match self {
            DataHost::Local { .. } => match std::fs::read_to_string(path) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(DatadirError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                }),
            },
            DataHost::Remote(remote) => remote.read_to_string(path).await,
        }
    }

    /// Rewrites `<data>/postgresql.auto.conf` for the standby, makes sure
    /// `standby.signal` exists and, with `certs`, replaces `<data>/certs`
    /// with the standby's certificates read from this machine: keys 0600,
    /// certificates 0644, the folder 0700. Returns the settings' text
    /// before and after. On a remote host this is one exec and one upload,
    /// and the certificates travel in memory through the Docker API.
    pub async fn write_standby_files(
        &self,
        data: &Path,
        settings: &StandbySettings<'_>,
        certs: Option<&StandbyCerts>,
    ) -> Result<(String, String), crate::Error> {
        let conf = data.join("postgresql.auto.conf");
        let signal = data.join("standby.signal");
        let missing = || super::io("read", &conf)(std::io::ErrorKind::NotFound.into());
        let remote = match self {
            DataHost::Local { .. } => {
                if let Some(certs) = certs {
                    super::finalize::install_client_certs(data, certs)?;
                }
                let before = self.read_to_string(&conf).await?.ok_or_else(missing)?;
                let after = crate::pgconf::recovery::rewrite_for_standby(&before, settings)?;
                super::finalize::write_file(&conf, after.as_bytes(), 0o600)?;
                if !signal.exists() {
                    super::finalize::write_file(&signal, b"", 0o600)?;
                }
                return Ok((before, after));
            }
            DataHost::Remote(remote) => remote,
        };
        // This machine's files are read before the host is touched.
        let cert_files = certs.map(StandbyCerts::read).transpose()?;
        let cert_dir = data.join("certs");
        let clear = certs.is_some().then_some(cert_dir.as_path());
        let (before, has_signal) = remote.read_settings(&conf, &signal, clear).await?;
        let before = before.ok_or_else(missing)?;
        let after = crate::pgconf::recovery::rewrite_for_standby(&before, settings)?;
        let private = |name: &str, contents: Vec<u8>| FileEntry {
            name: name.to_string(),
            contents,
            mode: 0o600,
            uid: 0,
            gid: 0,
        };
        let mut files = vec![private("postgresql.auto.conf", after.clone().into_bytes())];
        if !has_signal {
            files.push(private("standby.signal", Vec::new()));
        }
        let mut dirs = Vec::new();
        if let Some(cert_files) = cert_files {
            dirs.push("certs");
            files.extend(cert_files.into_iter().map(|cert| FileEntry {
                name: format!("certs/{}", cert.name),
                ..cert
            }));
        }
        remote.write_files(data, &dirs, &files).await?;
        Ok((before, after))
    }

    /// Creates `dir` (and its parents) if absent, and gives it to `owner`
    /// when it is empty, so that initdb can run in it; a directory with
    /// contents is left as it is.
    pub async fn prepare_new_dir(&self, dir: &Path, owner: Owner) -> Result<(), DatadirError> {
        match self {
            DataHost::Local { .. } => {
                if super::inspect_target(dir)? == TargetState::Absent {
                    std::fs::create_dir_all(dir).map_err(super::io("create", dir))?;
                }
                if super::inspect_target(dir)? == TargetState::Empty {
                    std::os::unix::fs::chown(dir, Some(owner.uid), Some(owner.gid))
                        .map_err(super::io("change the owner of", dir))?;
                }
                Ok(())
            }
            DataHost::Remote(remote) => remote.prepare_new_dir(dir, owner).await,
        }
    }

    /// Gives `dir` to `owner` with the modes PostgreSQL insists on.
    pub async fn give_to_owner(&self, dir: &Path, owner: Owner) -> Result<(), crate::Error> {
        match self {
            DataHost::Local { engine, image } => {
                super::give_to_owner(engine, image, dir, owner).await
            }
            DataHost::Remote(remote) => Ok(remote.give_to_owner(dir, owner).await?),
        }
    }
}
