//! The replication-login probe: can this host log in to the primary as the
//! replication role, over TLS, with its client certificate? It runs
//! `IDENTIFY_SYSTEM` through psql in a throw-away container of the
//! configured image, so the check uses the same libpq and OpenSSL that
//! pg_basebackup and the standby will use, and turns libpq's and the
//! server's words into one error per cause, each with its fix.

use std::fmt;
use std::path::PathBuf;

use crate::config::SslMode;
use crate::docker::{DockerError, Engine, Finished, OneShot};

mod classify;
mod slots;
#[cfg(test)]
mod tests;

pub use classify::classify;
pub use slots::{drop_slot, slot_exists};

/// Where the certificate files are copied in the probe container.
const MOUNT_DIR: &str = "/run/pgshadow-login";

/// The connection to try.
#[derive(Debug, Clone)]
pub struct LoginTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub sslmode: SslMode,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl LoginTarget {
    /// `host:port`, bracketing an IPv6 address.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The libpq conninfo the probe uses, with the in-container file paths.
    /// It holds no secret (the key is a path), but is still only logged at
    /// trace level.
    pub fn conninfo(&self) -> String {
        let pairs = [
            ("host", self.host.clone()),
            ("port", self.port.to_string()),
            ("user", self.user.clone()),
            ("sslmode", self.sslmode.to_string()),
            ("sslrootcert", format!("{MOUNT_DIR}/ca.crt")),
            ("sslcert", format!("{MOUNT_DIR}/client.crt")),
            ("sslkey", format!("{MOUNT_DIR}/client.key")),
            ("connect_timeout", "10".into()),
            ("application_name", "pgshadow-login".into()),
            ("replication", "true".into()),
        ];
        let quoted: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        quoted.join(" ")
    }
}

/// Quotes a conninfo value: single quotes, with `\` and `'` escaped.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// What `IDENTIFY_SYSTEM` says about the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemIdentity {
    /// The database system identifier (same on a primary and its standbys).
    pub system_id: String,
    pub timeline: u32,
    /// The current WAL flush position, such as `0/3000148`.
    pub wal_position: String,
}

/// Why the replication login failed. Each names the primary's address and,
/// where it matters, the role.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("reach the primary at {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("trust the primary at {addr}: its certificate is not signed by {ca}")]
    ServerCertUntrusted { addr: String, ca: PathBuf },
    #[error("verify the primary at {addr}: its certificate does not name {host}")]
    ServerCertHostMismatch {
        addr: String,
        host: String,
        detail: String,
    },
    #[error(
        "log in to {addr} as {user}: the primary does not trust the CA of the client certificate"
    )]
    ClientCertUntrusted { addr: String, user: String },
    #[error("log in to {addr} as {user}: the primary says the client certificate has expired")]
    ClientCertExpired { addr: String, user: String },
    #[error("log in to {addr} as {user}: the primary refused the client certificate ({reason})")]
    ClientCertRejected {
        addr: String,
        user: String,
        reason: String,
    },
    #[error("log in to {addr} as {user}: the client certificate's CN is not {user}")]
    CertNameMismatch { addr: String, user: String },
    #[error(
        "log in to {addr} as {user}: no pg_hba.conf line on the primary matches this connection"
    )]
    NoHbaEntry {
        addr: String,
        user: String,
        detail: String,
    },
    #[error("log in to {addr}: role {user} does not exist on the primary")]
    RoleMissing { addr: String, user: String },
    #[error("log in to {addr} as {user}: the role may not start replication")]
    NotReplicationRole { addr: String, user: String },
    #[error(
        "log in to {addr}: the primary does not support SSL, and sslmode={sslmode} requires it"
    )]
    NoSsl { addr: String, sslmode: SslMode },
    #[error("use the client certificate files for {addr}: {reason}")]
    ClientFiles { addr: String, reason: String },
    #[error("run the login probe against {addr}")]
    Docker {
        addr: String,
        // Boxed: DockerError is large, and this enum travels in every Result.
        #[source]
        source: Box<DockerError>,
    },
    #[error("log in to {addr} as {user}: {detail}")]
    Other {
        addr: String,
        user: String,
        detail: String,
        stderr: String,
    },
}

impl LoginError {
    /// The fix, where we know it.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            LoginError::Unreachable { .. } => {
                "is the primary running, its port published, and open \
                to this host? (on the primary, a firewall rule belongs in the DOCKER-USER chain)"
                    .into()
            }
            LoginError::ServerCertUntrusted { ca, .. } => format!(
                "the primary serves a certificate from another CA: install server.crt from the \
                 directory of {} on the primary, or use the ca.crt that signed the primary's",
                ca.display()
            ),
            LoginError::ServerCertHostMismatch { host, .. } => format!(
                "dial a name or address in the primary's server.crt, or reissue it with \
                 `pgshadow pki issue server --host {host}` (or use sslmode verify-ca)"
            ),
            LoginError::ClientCertUntrusted { .. } => {
                "the primary's ssl_ca_file is not the ca.crt \
                that signed client.crt: install this ca.crt on the primary, or issue client.crt \
                from the primary's CA"
                    .into()
            }
            LoginError::ClientCertExpired { user, .. } => format!(
                "issue a new one with `pgshadow pki issue client --user {user}` and copy client.crt \
                 and client.key here"
            ),
            LoginError::ClientCertRejected { .. } => {
                "check the client certificate with `pgshadow pki inspect`".into()
            }
            LoginError::CertNameMismatch { user, .. } => format!(
                "the primary compares the certificate's CN with the role: issue a client \
                 certificate for it with `pgshadow pki issue client --user {user}`"
            ),
            LoginError::NoHbaEntry { user, .. } => format!(
                "add `hostssl replication {user} <this host's address>/32 cert` to the primary's \
                 pg_hba.conf and reload it (`pgshadow primary configure` does this)"
            ),
            LoginError::RoleMissing { user, .. } => {
                format!("on the primary: CREATE ROLE {user} WITH REPLICATION LOGIN")
            }
            LoginError::NotReplicationRole { user, .. } => {
                format!("on the primary: ALTER ROLE {user} WITH REPLICATION")
            }
            LoginError::NoSsl { .. } => "turn on ssl on the primary (ssl = on with ssl_cert_file, \
                ssl_key_file and ssl_ca_file; `pgshadow primary configure` does this)"
                .into(),
            LoginError::ClientFiles { .. } => {
                "check client.crt and client.key with `pgshadow pki inspect`".into()
            }
            LoginError::Docker { source, .. } => return source.hint(),
            LoginError::Other { .. } => return None,
        };
        Some(hint)
    }
}

/// Logs in to `target` as a replication client in a one-shot container of
/// `image` and returns what `IDENTIFY_SYSTEM` says.
pub async fn probe_replication_login(
    engine: &Engine,
    image: &str,
    target: &LoginTarget,
) -> Result<SystemIdentity, LoginError> {
    let stdout = replication_command(engine, image, target, "IDENTIFY_SYSTEM").await?;
    parse_identify_system(&stdout).ok_or_else(|| classify(target, "", &stdout))
}

/// What one probe session learned: the primary's identity and, when a
/// slot was asked about, whether it exists (or why that could not be read).
#[derive(Debug)]
pub struct Probe {
    pub identity: SystemIdentity,
    pub slot_exists: Option<Result<bool, LoginError>>,
}

/// [`probe_replication_login`] and [`slot_exists`] in one psql session, so
/// the preflight starts one container instead of two (each costs more than
/// half a second). A login failure is the error; a slot that cannot be
/// read after a good login is reported in [`Probe::slot_exists`].
pub async fn probe_login_and_slot(
    engine: &Engine,
    image: &str,
    target: &LoginTarget,
    slot: Option<&str>,
) -> Result<Probe, LoginError> {
    let mut commands = vec!["IDENTIFY_SYSTEM".to_string()];
    commands.extend(slot.map(slots::read_slot_command));
    let finished = run_commands(engine, image, target, &commands).await?;
    let identity = parse_identify_system(&finished.stdout)
        .ok_or_else(|| classify(target, &finished.stderr, &finished.stdout))?;
    let slot_exists = slot.map(|_| {
        if finished.success() {
            let mut rows = finished.stdout.lines().filter(|l| l.contains('|'));
            Ok(slots::parse_read_slot(rows.nth(1)))
        } else {
            Err(classify(target, &finished.stderr, ""))
        }
    });
    Ok(Probe {
        identity,
        slot_exists,
    })
}

/// Runs one replication-protocol command (`IDENTIFY_SYSTEM`,
/// `READ_REPLICATION_SLOT`, `DROP_REPLICATION_SLOT`, ...) as `target`'s
/// role over mutual TLS, from a one-shot container, and returns psql's
/// unaligned output. A failure is classified by its cause.
pub async fn replication_command(
    engine: &Engine,
    image: &str,
    target: &LoginTarget,
    command: &str,
) -> Result<String, LoginError> {
    let finished = run_commands(engine, image, target, &[command.to_string()]).await?;
    if finished.success() {
        return Ok(finished.stdout);
    }
    Err(classify(target, &finished.stderr, &finished.stdout))
}

/// Runs `commands` in one replication session from a one-shot container;
/// returns how it ended. Only a Docker failure is an error.
async fn run_commands(
    engine: &Engine,
    image: &str,
    target: &LoginTarget,
    commands: &[String],
) -> Result<Finished, LoginError> {
    let addr = target.addr();
    tracing::debug!(host = %target.host, port = target.port, user = %target.user, ?commands, "replication command");
    tracing::trace!(conninfo = %target.conninfo(), "replication command conninfo");

    let docker_error = |source| LoginError::Docker {
        addr: addr.clone(),
        source: Box::new(source),
    };
    let spec = probe_spec(image, target, commands).map_err(docker_error)?;
    let finished = engine
        .run_oneshot(&spec, |_, _| {})
        .await
        .map_err(docker_error)?;
    tracing::trace!(exit_code = finished.exit_code, stderr = %finished.stderr, "replication command finished");
    Ok(finished)
}

fn probe_spec(
    image: &str,
    target: &LoginTarget,
    commands: &[String],
) -> Result<OneShot, DockerError> {
    let folder = MOUNT_DIR.trim_start_matches("/run/");
    let certs = crate::docker::client_certs_upload(folder, &target.ca, &target.cert, &target.key)?;
    Ok(OneShot {
        role: "login",
        image: image.to_string(),
        entrypoint: vec!["psql".into()],
        cmd: [target.conninfo(), "-X".into(), "-A".into(), "-t".into()]
            .into_iter()
            .chain(commands.iter().flat_map(|c| ["-c".to_string(), c.clone()]))
            .collect(),
        // libpq's messages in English, so that `classify` can read them.
        env: vec!["LC_ALL=C".into(), "LANG=C".into()],
        user: Some("0:0".into()),
        uploads: vec![certs],
        ..Default::default()
    })
}

/// `systemid|timeline|xlogpos|dbname` as psql prints it unaligned.
fn parse_identify_system(stdout: &str) -> Option<SystemIdentity> {
    let line = stdout.lines().find(|l| l.contains('|'))?;
    let mut fields = line.split('|');
    let system_id = fields.next()?.trim().to_string();
    let timeline = fields.next()?.trim().parse().ok()?;
    let wal_position = fields.next()?.trim().to_string();
    let valid = !system_id.is_empty() && system_id.chars().all(|c| c.is_ascii_digit());
    valid.then_some(SystemIdentity {
        system_id,
        timeline,
        wal_position,
    })
}

impl fmt::Display for SystemIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "system {} on timeline {} at {}",
            self.system_id, self.timeline, self.wal_position
        )
    }
}
