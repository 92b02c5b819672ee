//! One-shot containers: create, start, stream output line by line, wait,
//! and always remove. pg_basebackup, pg_verifybackup, psql against the
//! primary and file operations as root all run this way.

use std::path::PathBuf;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{LogsOptions, WaitContainerOptions};
use futures_util::StreamExt;

use super::{DockerError, Engine, FileEntry, Mount};

/// A container to run to completion.
#[derive(Debug, Clone, Default)]
pub struct OneShot {
    /// `io.pgshadow.role` label and part of the name (`basebackup`, `verify`, ...).
    pub role: &'static str,
    pub image: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// `uid:gid` or a name; the image's default when `None`.
    pub user: Option<String>,
    pub mounts: Vec<Mount>,
    /// Overrides the image's entrypoint (empty keeps it).
    pub entrypoint: Vec<String>,
    pub network_mode: Option<String>,
    /// Where the command starts.
    pub working_dir: Option<PathBuf>,
    /// Files copied into the container through the API after it is
    /// created and before it starts: certificates and keys reach a remote
    /// engine this way, from memory, without a bind mount of a client path.
    pub uploads: Vec<Upload>,
}

/// Files to place under one directory of a container before it starts.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    /// An existing directory in the image (`/run`).
    pub dir: String,
    /// Folders to create under `dir` first (mode 0700).
    pub dirs: Vec<String>,
    /// Paths relative to `dir`.
    pub files: Vec<FileEntry>,
}

/// How a one-shot container ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The container's name (removed by now).
    pub name: String,
    pub exit_code: i64,
    /// Everything it wrote on stdout.
    pub stdout: String,
    /// Everything it wrote on stderr.
    pub stderr: String,
}

impl Finished {
    /// True when the command exited 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Engine {
    /// Runs `spec` to completion, calling `on_line` for each output line
    /// (split on `\n` and `\r`, so progress lines arrive as they are written).
    /// The container is removed whatever happens; if this future is dropped
    /// midway, [`Engine::remove_temporaries`] removes it.
    pub async fn run_oneshot(
        &self,
        spec: &OneShot,
        mut on_line: impl FnMut(Stream, &str),
    ) -> Result<Finished, DockerError> {
        let name = self.new_temporary(spec.role);
        let result = self.run_tracked(&name, spec, &mut on_line).await;
        match self.remove_container(&name).await {
            Ok(()) => self.untrack(&name),
            Err(e) => {
                tracing::warn!(container = %name, error = %e, "could not remove temporary container")
            }
        }
        result
    }

    async fn run_tracked(
        &self,
        name: &str,
        spec: &OneShot,
        on_line: &mut impl FnMut(Stream, &str),
    ) -> Result<Finished, DockerError> {
        let body = create_body(self, spec);
        self.create_named(name, body).await?;
        tracing::debug!(container = name, cmd = ?spec.cmd, "temporary container created");
        self.upload_all(name, &spec.uploads).await?;
        self.start_existing(name).await?;

        let (stdout, stderr) = self.follow_output(name, on_line).await?;
        let exit_code = self.wait_exit(name).await?;
        tracing::debug!(container = name, exit_code, "temporary container finished");
        Ok(Finished {
            name: name.to_string(),
            exit_code,
            stdout,
            stderr,
        })
    }

    /// Creates and starts `spec` as a temporary container that keeps running
    /// (its command must not exit); returns its name. It is removed by
    /// [`Engine::remove_temporary`] or, on any failure, by
    /// [`Engine::remove_temporaries`].
    pub async fn start_temporary(&self, spec: &OneShot) -> Result<String, DockerError> {
        let name = self.new_temporary(spec.role);
        let body = create_body(self, spec);
        self.create_named(&name, body).await?;
        self.upload_all(&name, &spec.uploads).await?;
        self.start_existing(&name).await?;
        tracing::debug!(container = %name, "temporary container started");
        Ok(name)
    }

    /// Removes a container made by [`Engine::start_temporary`].
    pub async fn remove_temporary(&self, name: &str) -> Result<(), DockerError> {
        self.remove_container(name).await?;
        self.untrack(name);
        Ok(())
    }

    /// A fresh name for a temporary container of `role`, already tracked
    /// so that [`Engine::remove_temporaries`] finds it whatever happens next.
    fn new_temporary(&self, role: &str) -> String {
        let name = format!("pgshadow-{role}-{}-{}", self.run_id, self.next_serial());
        self.track(&name);
        name
    }

    async fn upload_all(&self, name: &str, uploads: &[Upload]) -> Result<(), DockerError> {
        for upload in uploads {
            let dirs: Vec<&str> = upload.dirs.iter().map(String::as_str).collect();
            self.upload_files(name, &upload.dir, &dirs, &upload.files)
                .await?;
        }
        Ok(())
    }

    /// Follows a container's output until it exits.
    async fn follow_output(
        &self,
        name: &str,
        on_line: &mut impl FnMut(Stream, &str),
    ) -> Result<(String, String), DockerError> {
        let options = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let mut logs = self.docker.logs(name, Some(options));
        let (mut out, mut err) = (LineSplitter::default(), LineSplitter::default());
        while let Some(chunk) = logs.next().await {
            let chunk = chunk.map_err(|source| DockerError::Container {
                action: "read the output of",
                container: name.into(),
                source,
            })?;
            match chunk {
                bollard::container::LogOutput::StdErr { message } => {
                    err.feed(&message, |l| on_line(Stream::Stderr, l))
                }
                other => out.feed(&other.into_bytes(), |l| on_line(Stream::Stdout, l)),
            }
        }
        out.finish(|l| on_line(Stream::Stdout, l));
        err.finish(|l| on_line(Stream::Stderr, l));
        Ok((out.all, err.all))
    }

    async fn wait_exit(&self, name: &str) -> Result<i64, DockerError> {
        let mut wait = self
            .docker
            .wait_container(name, None::<WaitContainerOptions>);
        match wait.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(source)) => Err(DockerError::Container {
                action: "wait for",
                container: name.into(),
                source,
            }),
            None => Ok(-1),
        }
    }
}

/// The create request for `spec`, labelled for this run.
fn create_body(engine: &Engine, spec: &OneShot) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: Some(spec.cmd.clone()),
        env: Some(spec.env.clone()),
        user: spec.user.clone(),
        entrypoint: (!spec.entrypoint.is_empty()).then(|| spec.entrypoint.clone()),
        working_dir: spec.working_dir.as_ref().map(|p| p.display().to_string()),
        labels: Some(engine.labels(spec.role)),
        host_config: Some(HostConfig {
            binds: Some(spec.mounts.iter().map(Mount::to_bind).collect()),
            network_mode: spec.network_mode.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Splits a byte stream into lines at `\n` or `\r`, keeping the whole text.
#[derive(Default)]
struct LineSplitter {
    pending: Vec<u8>,
    all: String,
}

impl LineSplitter {
    fn feed(&mut self, bytes: &[u8], mut emit: impl FnMut(&str)) {
        self.all.push_str(&String::from_utf8_lossy(bytes));
        for &b in bytes {
            if b == b'\n' || b == b'\r' {
                if !self.pending.is_empty() {
                    emit(&String::from_utf8_lossy(&self.pending));
                }
                self.pending.clear();
            } else {
                self.pending.push(b);
            }
        }
    }

    fn finish(&mut self, mut emit: impl FnMut(&str)) {
        if !self.pending.is_empty() {
            emit(&String::from_utf8_lossy(&self.pending));
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LineSplitter;

    #[test]
    fn splits_on_carriage_returns_and_newlines_across_chunks() {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        splitter.feed(b"10/20 kB (50%)\r20/2", |l| lines.push(l.to_string()));
        splitter.feed(b"0 kB (100%)\nlast", |l| lines.push(l.to_string()));
        splitter.finish(|l| lines.push(l.to_string()));
        assert_eq!(lines, ["10/20 kB (50%)", "20/20 kB (100%)", "last"]);
        assert_eq!(splitter.all, "10/20 kB (50%)\r20/20 kB (100%)\nlast");
    }
}
