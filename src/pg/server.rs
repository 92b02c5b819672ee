//! SQL against a running PostgreSQL container, through `docker exec` and
//! psql over the container's local socket (no network, no password).

use std::time::{Duration, Instant};

use crate::docker::{DockerError, Engine};

/// A failure talking to a server container.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("query `{sql}` in container {container} failed: {stderr}")]
    Query {
        container: String,
        sql: String,
        stderr: String,
    },
    #[error(
        "standby {container} did not start streaming within {seconds}s (last receiver status: {status})"
    )]
    NotStreaming {
        container: String,
        seconds: u64,
        status: String,
        log_tail: String,
    },
    #[error("container {container} is not running")]
    NotRunning { container: String },
}

impl ServerError {
    /// The fix, where we know it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ServerError::NotStreaming {
                container,
                log_tail,
                ..
            } => Some(format!(
                "the standby's last log lines follow; `docker logs {container}` shows more\n{}",
                indent(log_tail)
            )),
            ServerError::Docker(e) => e.hint(),
            _ => None,
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs one SQL statement as the `postgres` role and returns psql's
/// unaligned, tuples-only output, trimmed.
pub async fn query(engine: &Engine, container: &str, sql: &str) -> Result<String, ServerError> {
    let cmd = [
        "psql",
        "-X",
        "-q",
        "-A",
        "-t",
        "-U",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
    ];
    let out = engine.exec(container, None, &cmd, None).await?;
    if out.exit_code != 0 {
        return Err(ServerError::Query {
            container: container.into(),
            sql: sql.into(),
            stderr: out.stderr.trim().to_string(),
        });
    }
    Ok(out.stdout.trim().to_string())
}

/// Waits until the server in `container` accepts a query, up to `timeout`.
pub async fn wait_until_ready(
    engine: &Engine,
    container: &str,
    timeout: Duration,
) -> Result<(), ServerError> {
    let deadline = Instant::now() + timeout;
    loop {
        match query(engine, container, "SELECT 1").await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

/// Waits until `pg_stat_wal_receiver.status = 'streaming'`, up to `timeout`.
/// On timeout the error carries the standby's last log lines.
pub async fn wait_until_streaming(
    engine: &Engine,
    container: &str,
    timeout: Duration,
) -> Result<(), ServerError> {
    let deadline = Instant::now() + timeout;
    let mut status = String::from("no answer yet");
    while Instant::now() < deadline {
        match query(engine, container, "SELECT status FROM pg_stat_wal_receiver").await {
            Ok(s) if s == "streaming" => return Ok(()),
            Ok(s) if s.is_empty() => status = "no WAL receiver".into(),
            Ok(s) => status = s,
            Err(ServerError::Query { stderr, .. }) => status = stderr,
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(ServerError::NotStreaming {
        container: container.into(),
        seconds: timeout.as_secs(),
        status,
        log_tail: engine.log_tail(container, 20).await,
    })
}
