//! Finalize a staged clone: the standby's own certificates in
//! `$PGDATA/certs`, recovery settings that point there, and `standby.signal`.
//!
//! pg_basebackup copies the primary's whole data directory, including the
//! primary's `certs/` (its server key, which the standby must not hold) and
//! writes the temporary certificate mount into `primary_conninfo`. Both are
//! put right here, before the server ever starts on the copy.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{DatadirError, io};
use crate::docker::FileEntry;

/// The certificate files a standby holds, by their name in `$PGDATA/certs`.
#[derive(Debug, Clone)]
pub struct StandbyCerts {
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// `standby.crt` and `standby.key`, for serving TLS once promoted.
    pub server: Option<(PathBuf, PathBuf)>,
}

impl StandbyCerts {
    /// Each file's name in `$PGDATA/certs`, where it is on this machine,
    /// and its mode: keys 0600, certificates 0644.
    pub fn files(&self) -> Vec<(&'static str, &Path, u32)> {
        let mut files: Vec<(&'static str, &Path, u32)> = vec![
            ("ca.crt", &self.ca, 0o644),
            ("client.crt", &self.client_cert, 0o644),
            ("client.key", &self.client_key, 0o600),
        ];
        if let Some((cert, key)) = &self.server {
            files.push(("standby.crt", cert, 0o644));
            files.push(("standby.key", key, 0o600));
        }
        files
    }

    /// The files read from this machine into memory, each named as in
    /// `$PGDATA/certs` with its mode (owned by root until the owner step).
    pub fn read(&self) -> Result<Vec<FileEntry>, DatadirError> {
        let read = |(name, source, mode): (&'static str, &Path, u32)| {
            let contents = std::fs::read(source).map_err(io("read", source))?;
            Ok(FileEntry {
                name: name.to_string(),
                contents,
                mode,
                uid: 0,
                gid: 0,
            })
        };
        self.files().into_iter().map(read).collect()
    }
}

/// Replaces `<data>/certs` with the standby's certificates: keys 0600,
/// certificates 0644, the folder 0700.
pub fn install_client_certs(data: &Path, certs: &StandbyCerts) -> Result<(), DatadirError> {
    let files = certs.read()?;
    let dir = data.join("certs");
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {
            tracing::debug!(path = %dir.display(), "removed the primary's certificates from the copy")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("remove", &dir)(e)),
    }
    std::fs::create_dir(&dir).map_err(io("create", &dir))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io("chmod", &dir))?;

    for file in &files {
        write_file(&dir.join(&file.name), &file.contents, file.mode)?;
    }
    Ok(())
}

/// Writes a file created with `mode` from the start, so a key is never
/// readable by others, not even for a moment.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), DatadirError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io("create", path))?;
    file.write_all(contents).map_err(io("write", path))?;
    file.sync_all().map_err(io("sync", path))?;
    // The mode given at creation is masked by the umask; set it exactly.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io("chmod", path))
}
