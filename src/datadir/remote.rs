//! The data directory on a host pgshadow reaches only through its Docker
//! engine: every file operation runs in one short-lived helper container
//! on that engine, with the directory's parent bind-mounted, through exec
//! and the archive endpoints. Nothing touches this machine's file system.
//!
//! The helper runs `sleep` as root with no network and is removed by
//! [`RemoteDir::close`]. Paths in messages are the host's, not the mount's.

use std::path::{Path, PathBuf};

use bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};

use super::{DatadirError, TargetState};
use crate::config::Owner;
use crate::docker::{Engine, FileEntry, Mount, OneShot};

/// Where the parent of the data directory appears inside the helper.
const MOUNT: &str = "/pgshadow-host";

/// Owner and modes PostgreSQL accepts: every entry to the owner, the
/// directory 0700, private keys 0600. `$1` is the directory, `$2` the owner.
pub(crate) const OWNER_SCRIPT: &str = "chown -R -h \"$2\" \"$1\" && chmod 0700 \"$1\" \
     && find \"$1\" -name '*.key' -exec chmod 0600 {} +";

/// A helper container holding the parent of one data directory.
pub struct RemoteDir {
    /// A handle whose temporaries are this helper alone, so that a
    /// command's rollback can remove its other containers first and still
    /// use the helper to clean up the staging directory.
    engine: Engine,
    container: String,
    parent: PathBuf,
}

impl RemoteDir {
    /// Starts the helper for `data_dir` (an absolute path on the engine's
    /// host, not directly under `/`). Docker creates the parent folder on
    /// that host if it is missing, as the local path would.
    pub async fn open(
        engine: &Engine,
        image: &str,
        data_dir: &Path,
    ) -> Result<RemoteDir, crate::Error> {
        let parent = match data_dir.parent() {
            Some(p) if data_dir.is_absolute() && p != Path::new("/") => p.to_path_buf(),
            _ => {
                return Err(crate::Error::Usage(format!(
                    "{}: on a remote engine the data directory must be an absolute path below a folder (not directly under /)",
                    data_dir.display()
                )));
            }
        };
        // The helper runs the image: a missing one is named as such, with
        // the fix for a remote engine, rather than as a failed create.
        engine.ensure_image(image, |_| {}).await?;
        let engine = engine.detached();
        let spec = OneShot {
            role: "files",
            image: image.to_string(),
            entrypoint: vec!["sleep".into()],
            cmd: vec!["infinity".into()],
            user: Some("0:0".into()),
            network_mode: Some("none".into()),
            mounts: vec![Mount {
                source: parent.clone(),
                target: MOUNT.into(),
                read_only: false,
            }],
            ..Default::default()
        };
        let container = match engine.start_temporary(&spec).await {
            Ok(name) => name,
            Err(e) => {
                engine.remove_temporaries().await;
                return Err(e.into());
            }
        };
        tracing::debug!(container, parent = %parent.display(), endpoint = %engine.endpoint, "file helper started");
        Ok(RemoteDir {
            engine,
            container,
            parent,
        })
    }

    /// Removes the helper. Best effort: a failure is logged, not returned.
    pub async fn close(self) {
        if let Err(e) = self.engine.remove_temporary(&self.container).await {
            tracing::warn!(container = %self.container, error = %e, "could not remove the file helper");
        }
    }

    /// Where the engine is, for messages.
    pub fn endpoint(&self) -> &str {
        &self.engine.endpoint
    }

    /// The path of `host_path` inside the helper.
    fn inside(&self, host_path: &Path) -> String {
        let relative = host_path.strip_prefix(&self.parent).unwrap_or(host_path);
        let relative = relative.to_string_lossy();
        if relative.is_empty() {
            MOUNT.to_string()
        } else {
            format!("{MOUNT}/{relative}")
        }
    }

    /// Runs `script` with `sh -c` as root, the host paths translated and
    /// passed as `$1`, `$2`, ...; returns stdout. A non-zero exit is an
    /// error naming `action` and the first path.
    async fn sh(
        &self,
        action: &'static str,
        script: &str,
        paths: &[&Path],
        extra: &[&str],
    ) -> Result<String, DatadirError> {
        let translated: Vec<String> = paths.iter().map(|p| self.inside(p)).collect();
        let mut cmd = vec!["sh", "-c", script, "sh"];
        cmd.extend(translated.iter().map(String::as_str));
        cmd.extend(extra);
        let path = paths.first().map(|p| p.to_path_buf()).unwrap_or_default();
        let out = self
            .engine
            .exec(&self.container, Some("0:0"), &cmd, None)
            .await
            .map_err(|e| self.failed(action, &path, e.to_string()))?;
        if out.exit_code != 0 {
            let stderr = out
                .stderr
                .replace(MOUNT, &self.parent.display().to_string());
            return Err(self.failed(action, &path, stderr.trim().to_string()));
        }
        Ok(out.stdout)
    }

    fn failed(&self, action: &'static str, path: &Path, detail: String) -> DatadirError {
        DatadirError::Remote {
            action,
            path: path.to_path_buf(),
            endpoint: self.engine.endpoint.clone(),
            detail,
        }
    }

    /// Looks at the target directory without changing it.
    pub async fn inspect_target(&self, path: &Path) -> Result<TargetState, DatadirError> {
        let script = "if [ -L \"$1\" ]; then echo other; elif [ ! -e \"$1\" ]; then echo absent; \
                      elif [ ! -d \"$1\" ]; then echo other; \
                      elif [ -z \"$(ls -A \"$1\")\" ]; then echo empty; else echo nonempty; fi";
        match self.sh("inspect", script, &[path], &[]).await?.trim() {
            "absent" => Ok(TargetState::Absent),
            "empty" => Ok(TargetState::Empty),
            "nonempty" => Ok(TargetState::NonEmpty),
            _ => Err(DatadirError::NotADirectory {
                path: path.to_path_buf(),
            }),
        }
    }

    /// True when something exists at `path`.
    pub async fn exists(&self, path: &Path) -> Result<bool, DatadirError> {
        let script = "if [ -e \"$1\" ] || [ -L \"$1\" ]; then echo yes; else echo no; fi";
        Ok(self.sh("inspect", script, &[path], &[]).await?.trim() == "yes")
    }

    /// Creates the staging directory, mode 0700; it must not exist yet.
    pub async fn create_dir(&self, path: &Path) -> Result<(), DatadirError> {
        self.sh(
            "create staging directory",
            "mkdir -m 0700 -- \"$1\"",
            &[path],
            &[],
        )
        .await
        .map(drop)
    }

    /// Removes `path` and everything in it; absent is fine.
    pub async fn remove_all(&self, path: &Path) -> Result<(), DatadirError> {
        self.sh("remove staging directory", "rm -rf -- \"$1\"", &[path], &[])
            .await
            .map(drop)
    }

    /// Free bytes on the file system holding `path`.
    pub async fn free_bytes(&self, path: &Path) -> Result<u64, DatadirError> {
        let out = self
            .sh(
                "measure free space of",
                "stat -f -c '%a %S' -- \"$1\"",
                &[path],
                &[],
            )
            .await?;
        let mut fields = out.split_whitespace().map(str::parse::<u64>);
        match (fields.next(), fields.next()) {
            (Some(Ok(blocks)), Some(Ok(size))) => Ok(blocks * size),
            _ => Err(self.failed(
                "measure free space of",
                path,
                format!("unexpected output {out:?}"),
            )),
        }
    }

    /// Bytes of the files under `dir` (symlinks not followed).
    pub async fn bytes_under(&self, dir: &Path) -> Result<u64, DatadirError> {
        let out = self
            .sh(
                "measure",
                "find \"$1\" -type f -printf '%s\\n'",
                &[dir],
                &[],
            )
            .await?;
        Ok(out.lines().filter_map(|l| l.parse::<u64>().ok()).sum())
    }

    /// Renames `staging` to `target`; a non-empty target is first renamed
    /// to `aside` (returned), an empty one removed. On failure the old
    /// directory is put back.
    pub async fn swap_into_place(
        &self,
        staging: &Path,
        target: &Path,
        aside: &Path,
    ) -> Result<Option<PathBuf>, DatadirError> {
        let script = "kept=; \
            if [ -d \"$1\" ] && [ -n \"$(ls -A \"$1\")\" ]; then mv -T -- \"$1\" \"$3\" && kept=1 || exit 1; \
            elif [ -d \"$1\" ]; then rmdir -- \"$1\" || exit 1; fi; \
            if ! mv -T -- \"$2\" \"$1\"; then [ -n \"$kept\" ] && mv -T -- \"$3\" \"$1\"; exit 1; fi; \
            echo \"kept=$kept\"";
        let out = self
            .sh(
                "rename the staging directory to",
                script,
                &[target, staging, aside],
                &[],
            )
            .await?;
        Ok((out.trim() == "kept=1").then(|| aside.to_path_buf()))
    }

    /// Reads a text file (`None` when it does not exist).
    pub async fn read_to_string(&self, path: &Path) -> Result<Option<String>, DatadirError> {
        let script = "if [ -f \"$1\" ]; then cat -- \"$1\"; else echo absent >&2; exit 3; fi";
        match self.sh("read", script, &[path], &[]).await {
            Ok(text) => Ok(Some(text)),
            Err(DatadirError::Remote { detail, .. }) if detail == "absent" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads what the standby's settings rewrite needs in one exec: the
    /// text of `conf` (`None` when absent) and whether `signal` exists.
    /// With `clear`, that folder is removed first (the primary's `certs/`
    /// in a fresh copy), so one upload can then put everything in place.
    pub async fn read_settings(
        &self,
        conf: &Path,
        signal: &Path,
        clear: Option<&Path>,
    ) -> Result<(Option<String>, bool), DatadirError> {
        let script = "if [ -n \"$3\" ]; then rm -rf -- \"$3\" || exit 1; fi; \
            if [ -e \"$2\" ]; then echo signal; else echo none; fi; \
            if [ -f \"$1\" ]; then cat -- \"$1\"; else echo absent >&2; exit 3; fi";
        let mut paths = vec![conf, signal];
        paths.extend(clear);
        let out = match self.sh("read", script, &paths, &[]).await {
            Ok(out) => out,
            Err(DatadirError::Remote { detail, .. }) if detail == "absent" => {
                return Ok((None, false));
            }
            Err(e) => return Err(e),
        };
        match out.split_once('\n') {
            Some((flag, text)) => Ok((Some(text.to_string()), flag == "signal")),
            None => Err(self.failed("read", conf, format!("unexpected output {out:?}"))),
        }
    }

    /// Writes files into the existing directory `dir`, created with their
    /// modes (owned by root until the owner step); folders named in `dirs`
    /// come first, mode 0700.
    pub async fn write_files(
        &self,
        dir: &Path,
        dirs: &[&str],
        files: &[FileEntry],
    ) -> Result<(), DatadirError> {
        self.engine
            .upload_files(&self.container, &self.inside(dir), dirs, files)
            .await
            .map_err(|e| self.failed("write into", dir, e.to_string()))
    }

    /// Creates `dir` if absent and gives it to `owner` when empty.
    pub async fn prepare_new_dir(&self, dir: &Path, owner: Owner) -> Result<(), DatadirError> {
        let owner = owner.to_string();
        let script =
            "mkdir -p -- \"$1\" && if [ -z \"$(ls -A \"$1\")\" ]; then chown \"$2\" \"$1\"; fi";
        self.sh("create", script, &[dir], &[&owner]).await.map(drop)
    }

    /// Gives `dir` and everything in it to `owner`, with the modes PostgreSQL wants.
    pub async fn give_to_owner(&self, dir: &Path, owner: Owner) -> Result<(), DatadirError> {
        let owner = owner.to_string();
        self.sh("set the owner of", OWNER_SCRIPT, &[dir], &[&owner])
            .await
            .map(drop)
    }

    /// Runs `command` (an argv, no shell) in the parent of `dir` and
    /// returns what it printed: the listing of export's manifest.
    pub async fn run_in_parent(
        &self,
        dir: &Path,
        command: &[String],
    ) -> Result<String, DatadirError> {
        let parent = dir.parent().unwrap_or(dir);
        let argv: Vec<&str> = command.iter().map(String::as_str).collect();
        self.sh(
            "list",
            "cd -- \"$1\" && shift && exec \"$@\"",
            &[parent],
            &argv,
        )
        .await
    }

    /// The cluster's system identifier, the first 8 bytes of
    /// `global/pg_control` read in the byte order of the host that wrote it.
    pub async fn system_identifier(&self, dir: &Path) -> Result<u64, DatadirError> {
        let control = dir.join("global/pg_control");
        let out = self
            .sh("read", "od -An -tu8 -N8 -- \"$1\"", &[&control], &[])
            .await?;
        out.trim()
            .parse()
            .map_err(|_| self.failed("read", &control, format!("unexpected output {out:?}")))
    }

    /// `dir` as the engine's tar stream: entries `NAME/...` with `NAME` the
    /// directory's last component, parents before their contents.
    pub fn download(
        &self,
        dir: &Path,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + use<> {
        let options = DownloadFromContainerOptions {
            path: self.inside(dir),
        };
        self.engine
            .docker
            .download_from_container(&self.container, Some(options))
            .map_err(std::io::Error::other)
    }

    /// Extracts the tar stream `body` into the existing directory `dir`
    /// (the engine keeps the headers' owners, modes and times).
    pub async fn upload(
        &self,
        dir: &Path,
        body: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Result<(), DatadirError> {
        let options = UploadToContainerOptions {
            path: self.inside(dir),
            ..Default::default()
        };
        self.engine
            .docker
            .upload_to_container(
                &self.container,
                Some(options),
                bollard::body_try_stream(body),
            )
            .await
            .map_err(|e| self.failed("write into", dir, e.to_string()))
    }
}

/// The last component of `dir`, as the archive endpoint names it.
pub fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
