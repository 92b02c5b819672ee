//! Commands run inside a running container (psql over the local socket,
//! `pg_ctl`, file copies into the data directory).

use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;

use super::{DockerError, Engine};

/// What an exec printed and how it ended.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl Engine {
    /// Runs `cmd` in `container` as `user` (the container's user when `None`)
    /// and collects its output. A non-zero exit is not an error here; the
    /// caller decides what it means.
    pub async fn exec(
        &self,
        container: &str,
        user: Option<&str>,
        cmd: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecOutput, DockerError> {
        let failed = |source| DockerError::Exec {
            container: container.into(),
            command: cmd.first().copied().unwrap_or_default().to_string(),
            source,
        };
        let options = CreateExecOptions {
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            user: user.map(str::to_string),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(stdin.is_some()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_exec(container, options)
            .await
            .map_err(failed)?;
        let started = self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(failed)?;

        let (mut stdout, mut stderr) = (String::new(), String::new());
        if let StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        {
            if let Some(data) = stdin {
                use tokio::io::AsyncWriteExt;
                input.write_all(&data).await.ok();
                input.shutdown().await.ok();
            }
            drop(input);
            while let Some(chunk) = output.next().await {
                match chunk.map_err(failed)? {
                    bollard::container::LogOutput::StdErr { message } => {
                        stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
                }
            }
        }
        let inspect = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(failed)?;
        Ok(ExecOutput {
            exit_code: inspect.exit_code.unwrap_or(-1),
            stdout,
            stderr,
        })
    }
}
