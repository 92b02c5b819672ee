//! Files inside a container's file system, through the Docker API: reading
//! with `cat` over exec, writing with the archive endpoint. Private keys go
//! from memory to the container and never through a temporary file.

use bollard::query_parameters::UploadToContainerOptions;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{DockerError, Engine, Upload};

/// One file to place in a container.
#[derive(Clone)]
pub struct FileEntry {
    /// Path relative to the upload directory.
    pub name: String,
    pub contents: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

impl std::fmt::Debug for FileEntry {
    // Never print the contents: some entries are private keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FileEntry({}, {} bytes, {:o})",
            self.name,
            self.contents.len(),
            self.mode
        )
    }
}

impl Engine {
    /// Writes `files` under `dir` in `container` (which need not run), with
    /// the owners and modes given. Parent folders named in `dirs` are
    /// created with mode 0700 and the first file's owner.
    pub async fn upload_files(
        &self,
        container: &str,
        dir: &str,
        dirs: &[&str],
        files: &[FileEntry],
    ) -> Result<(), DockerError> {
        let archive = build_tar(dirs, files).expect("an in-memory tar cannot fail");
        let options = UploadToContainerOptions {
            path: dir.to_string(),
            ..Default::default()
        };
        self.docker
            .upload_to_container(container, Some(options), bollard::body_full(archive.into()))
            .await
            .map_err(|source| DockerError::Container {
                action: "copy files into",
                container: container.into(),
                source,
            })
    }

    /// Reads a file in a running container (`None` when it does not exist).
    pub async fn read_file(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, DockerError> {
        let out = self
            .exec(container, Some("0"), &["cat", path], None)
            .await?;
        if out.exit_code != 0 {
            return Ok(None);
        }
        Ok(Some(out.stdout.into_bytes()))
    }
}

/// The client's certificate set for a temporary container: `ca.crt`,
/// `client.crt` and `client.key` read from this machine into memory and
/// placed in `/run/<folder>` (owned by root, each with the mode it has
/// here, so that libpq still refuses a key others may read) before the
/// container starts. Nothing is bind-mounted, so the same works for an
/// engine on another host, and the key never passes through a file there
/// other than the container's own layer, removed with the container.
pub fn client_certs_upload(
    folder: &str,
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Result<Upload, DockerError> {
    let read = |name: &str, path: &Path| {
        let local = |source| DockerError::ReadLocal {
            path: path.to_path_buf(),
            source,
        };
        let mode = std::fs::metadata(path).map_err(local)?.permissions().mode() & 0o777;
        let contents = std::fs::read(path).map_err(local)?;
        Ok::<_, DockerError>(FileEntry {
            name: format!("{folder}/{name}"),
            contents,
            mode,
            uid: 0,
            gid: 0,
        })
    };
    Ok(Upload {
        dir: "/run".into(),
        dirs: vec![folder.to_string()],
        files: vec![
            read("ca.crt", ca)?,
            read("client.crt", cert)?,
            read("client.key", key)?,
        ],
    })
}

fn build_tar(dirs: &[&str], files: &[FileEntry]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let (uid, gid) = files.first().map(|f| (f.uid, f.gid)).unwrap_or((0, 0));
    for dir in dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o700);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_size(0);
        header.set_mtime(now());
        builder.append_data(&mut header, format!("{dir}/"), std::io::empty())?;
    }
    for file in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(file.mode);
        header.set_uid(file.uid);
        header.set_gid(file.gid);
        header.set_size(file.contents.len() as u64);
        header.set_mtime(now());
        builder.append_data(&mut header, &file.name, file.contents.as_slice())?;
    }
    builder.into_inner()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
