//! pg_basebackup and pg_verifybackup in one-shot helper containers.
//!
//! The helper runs as root so that it can read the client key (0600, owned
//! by whoever ran `pki init`) and write into the staging directory; the
//! finalize stage gives the copy to the image's postgres user afterwards.

use std::path::{Path, PathBuf};

use crate::config::SslMode;
use crate::docker::{DockerError, Engine, Mount, OneShot};
use crate::progress::{BasebackupProgress, parse_basebackup_progress};

/// Where the client certificate is mounted in the helper: a temporary path
/// that pg_basebackup writes into `primary_conninfo`, and that finalize
/// must replace.
pub const TEMP_CERT_DIR: &str = "/run/pgshadow-certs";
/// Where the staging directory is mounted in the helper.
pub const TEMP_DATA_DIR: &str = "/run/pgshadow-clone";

/// Everything one base backup needs.
#[derive(Debug, Clone)]
pub struct BasebackupPlan {
    pub image: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub sslmode: SslMode,
    pub application_name: String,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub staging: PathBuf,
    /// The slot to stream from, and whether this run creates it.
    pub slot: Option<(String, bool)>,
    /// `--compress` as given (`server-lz4`, `server-zstd:level=1`, ...).
    pub compress: Option<String>,
    /// `--max-rate` as given (`100M`, `32k`, ...).
    pub max_rate: Option<String>,
}

/// Why a base backup failed.
#[derive(Debug, thiserror::Error)]
pub enum BasebackupError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("pg_basebackup from {addr} exited with code {code}: {reason}")]
    Failed {
        addr: String,
        code: i64,
        reason: String,
    },
    #[error("pg_verifybackup found problems in {path}: {reason}")]
    Verify { path: PathBuf, reason: String },
}

impl BasebackupError {
    /// The fix, where the message tells us.
    pub fn hint(&self) -> Option<String> {
        let BasebackupError::Failed { reason, addr, .. } = self else {
            return match self {
                BasebackupError::Docker(e) => e.hint(),
                _ => None,
            };
        };
        hint_for(reason, addr)
    }
}

/// A hint for a pg_basebackup or libpq message, where the cause is known.
pub fn hint_for(message: &str, addr: &str) -> Option<String> {
    let table: [(&str, String); 7] = [
        ("No space left on device", "the target file system is full: free space or choose another standby.data_dir".into()),
        ("exceeds max_wal_senders", "the primary has no free walsender: raise max_wal_senders (pgshadow primary configure does) or stop another standby".into()),
        ("already exists", "the slot exists already: drop it on the primary, or let pgshadow reuse it by leaving it inactive".into()),
        ("is active for PID", "another standby streams from that slot: stop it, or configure a different replication.slot".into()),
        ("Connection refused", format!("nothing listens on {addr}: is the primary running and the port published?")),
        ("no pg_hba.conf entry", "the primary's pg_hba.conf has no hostssl replication line for this host: add its address to primary.allow and run `pgshadow primary configure`".into()),
        ("certificate authentication failed", "the primary rejected the client certificate: is `replication.user` the certificate's CN?".into()),
    ];
    table
        .iter()
        .find(|(needle, _)| message.contains(needle))
        .map(|(_, hint)| hint.clone())
}

impl BasebackupPlan {
    /// The conninfo pg_basebackup connects with (no secrets: certificates only).
    pub fn conninfo(&self) -> String {
        format!(
            "host={} port={} user={} sslmode={} sslrootcert={TEMP_CERT_DIR}/ca.crt \
             sslcert={TEMP_CERT_DIR}/client.crt sslkey={TEMP_CERT_DIR}/client.key \
             application_name={}",
            self.host, self.port, self.user, self.sslmode, self.application_name
        )
    }

    /// The pg_basebackup command line.
    pub fn command(&self) -> Vec<String> {
        let mut cmd: Vec<String> = ["pg_basebackup", "-D", TEMP_DATA_DIR, "-X", "stream", "-R"]
            .into_iter()
            .chain(["--checkpoint=fast", "-P", "-v", "-d"])
            .map(String::from)
            .collect();
        cmd.push(self.conninfo());
        if let Some((slot, create)) = &self.slot {
            cmd.extend(["-S".into(), slot.clone()]);
            if *create {
                cmd.push("-C".into());
            }
        }
        if let Some(compress) = &self.compress {
            cmd.push(format!("--compress={compress}"));
        }
        if let Some(rate) = &self.max_rate {
            cmd.push(format!("--max-rate={rate}"));
        }
        cmd
    }

    /// The one-shot container: the client's certificates copied in through
    /// the API (they live on this machine, the engine may be elsewhere), the
    /// staging directory bind-mounted on the engine's host.
    fn oneshot(&self) -> Result<OneShot, DockerError> {
        let folder = TEMP_CERT_DIR.trim_start_matches("/run/");
        let certs = crate::docker::client_certs_upload(folder, &self.ca, &self.cert, &self.key)?;
        Ok(OneShot {
            role: "basebackup",
            image: self.image.clone(),
            cmd: self.command(),
            env: vec!["LC_ALL=C".into()],
            user: Some("0:0".into()),
            mounts: vec![Mount {
                source: self.staging.clone(),
                target: TEMP_DATA_DIR.into(),
                read_only: false,
            }],
            uploads: vec![certs],
            ..Default::default()
        })
    }
}

/// Runs pg_basebackup into the staging directory, reporting each progress
/// line to `on_progress`. Other output goes to the trace log.
pub async fn run(
    engine: &Engine,
    plan: &BasebackupPlan,
    mut on_progress: impl FnMut(BasebackupProgress),
) -> Result<(), BasebackupError> {
    tracing::debug!(host = %plan.host, port = plan.port, slot = ?plan.slot, "starting pg_basebackup");
    let finished = engine
        .run_oneshot(
            &plan.oneshot()?,
            |_, line| match parse_basebackup_progress(line) {
                Some(progress) => on_progress(progress),
                None => tracing::trace!(target: "pgshadow::pg_basebackup", "{line}"),
            },
        )
        .await?;
    if finished.success() {
        return Ok(());
    }
    Err(BasebackupError::Failed {
        addr: format!("{}:{}", plan.host, plan.port),
        code: finished.exit_code,
        reason: host_paths(&last_error_lines(&finished.stderr), &plan.staging),
    })
}

/// Names files by their path on this host, not by the helper's mount point,
/// so that "could not write to file" says which file system filled up.
fn host_paths(text: &str, staging: &Path) -> String {
    text.replace(TEMP_DATA_DIR, &staging.display().to_string())
}

/// The lines of pg_basebackup's output that say what went wrong (progress
/// lines and chatter dropped), joined for a one-line message.
pub fn last_error_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty() && parse_basebackup_progress(l).is_none())
        .filter(|l| {
            l.contains("error")
                || l.contains("FATAL")
                || l.contains("could not")
                || l.contains("No space")
        })
        .collect();
    let chosen = if lines.is_empty() {
        stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .trim()
            .to_string()
    } else {
        lines.join("; ")
    };
    chosen
        .replace("pg_basebackup: error: ", "")
        .replace("pg_basebackup: ", "")
}

/// Runs `pg_verifybackup` on a staged copy. The `certs` directory is
/// ignored: finalize replaced the primary's certificates with the standby's.
pub async fn verify(engine: &Engine, image: &str, staging: &Path) -> Result<(), BasebackupError> {
    let spec = OneShot {
        role: "verify",
        image: image.to_string(),
        cmd: ["pg_verifybackup", "-q", "-i", "certs", TEMP_DATA_DIR]
            .map(String::from)
            .to_vec(),
        env: vec!["LC_ALL=C".into()],
        user: Some("0:0".into()),
        mounts: vec![Mount {
            source: staging.to_path_buf(),
            target: TEMP_DATA_DIR.into(),
            read_only: true,
        }],
        ..Default::default()
    };
    let finished = engine
        .run_oneshot(
            &spec,
            |_, line| tracing::trace!(target: "pgshadow::pg_verifybackup", "{line}"),
        )
        .await?;
    if finished.success() {
        return Ok(());
    }
    let reason = format!("{}{}", finished.stdout, finished.stderr)
        .trim()
        .replace('\n', "; ");
    Err(BasebackupError::Verify {
        path: staging.to_path_buf(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_staging_directory_on_the_host() {
        let text =
            "could not write to file \"/run/pgshadow-clone/base/5/16397\": No space left on device";
        assert_eq!(
            host_paths(text, Path::new("/srv/.data.pgshadow-staging-1")),
            "could not write to file \"/srv/.data.pgshadow-staging-1/base/5/16397\": No space left on device"
        );
    }

    fn plan() -> BasebackupPlan {
        BasebackupPlan {
            image: "pgshadow/postgres:15".into(),
            host: "203.0.113.10".into(),
            port: 5432,
            user: "replication_user".into(),
            sslmode: SslMode::VerifyFull,
            application_name: "pg-standby".into(),
            ca: "/pki/ca.crt".into(),
            cert: "/pki/client.crt".into(),
            key: "/pki/client.key".into(),
            staging: "/opt/.data.staging".into(),
            slot: Some(("standby1".into(), true)),
            compress: Some("server-lz4".into()),
            max_rate: None,
        }
    }

    #[test]
    fn the_command_streams_wal_writes_recovery_settings_and_uses_the_slot() {
        let cmd = plan().command().join(" ");
        for part in [
            "-X stream",
            "-R",
            "--checkpoint=fast",
            "-P",
            "-S standby1 -C",
            "--compress=server-lz4",
        ] {
            assert!(cmd.contains(part), "{part} missing from {cmd}");
        }
        assert!(cmd.contains("sslcert=/run/pgshadow-certs/client.crt"));
        assert!(!cmd.contains("password"));
    }

    #[test]
    fn a_reused_slot_is_not_created() {
        let mut plan = plan();
        plan.slot = Some(("standby1".into(), false));
        assert!(!plan.command().iter().any(|a| a == "-C"));
    }

    #[test]
    fn error_lines_drop_progress_and_prefixes() {
        let stderr = "pg_basebackup: initiating base backup\n0/100 kB (0%), 0/1 tablespace\r\
                      pg_basebackup: error: could not connect to server: Connection refused\n";
        assert_eq!(
            last_error_lines(stderr),
            "could not connect to server: Connection refused"
        );
        assert!(
            hint_for("Connection refused", "h:1")
                .unwrap()
                .contains("h:1")
        );
    }
}
