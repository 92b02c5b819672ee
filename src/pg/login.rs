//! The replication-login probe: can this host log in to the primary as the
//! replication role, over TLS, with its client certificate? It runs
//! `IDENTIFY_SYSTEM` through psql in a throw-away container of the
//! configured image, so the check uses the same libpq and OpenSSL that
//! pg_basebackup and the standby will use, and turns libpq's and the
//! server's words into one error per cause, each with its fix.

use std::fmt;
use std::path::PathBuf;

use crate::config::SslMode;
use crate::docker::{DockerError, Engine, Mount, OneShot};

/// Where the certificate files are mounted in the probe container.
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
    let addr = target.addr();
    tracing::debug!(host = %target.host, port = target.port, user = %target.user, "probing the replication login");
    tracing::trace!(conninfo = %target.conninfo(), "login probe conninfo");

    let finished = engine
        .run_oneshot(&probe_spec(image, target), |_, _| {})
        .await
        .map_err(|source| LoginError::Docker {
            addr: addr.clone(),
            source: Box::new(source),
        })?;
    tracing::trace!(exit_code = finished.exit_code, stderr = %finished.stderr, "login probe finished");

    if finished.success()
        && let Some(identity) = parse_identify_system(&finished.stdout)
    {
        return Ok(identity);
    }
    Err(classify(target, &finished.stderr, &finished.stdout))
}

fn probe_spec(image: &str, target: &LoginTarget) -> OneShot {
    let mount = |source: &PathBuf, name: &str| Mount {
        source: source.clone(),
        target: format!("{MOUNT_DIR}/{name}"),
        read_only: true,
    };
    OneShot {
        role: "login",
        image: image.to_string(),
        entrypoint: vec!["psql".into()],
        cmd: vec![
            target.conninfo(),
            "-X".into(),
            "-A".into(),
            "-t".into(),
            "-c".into(),
            "IDENTIFY_SYSTEM".into(),
        ],
        // libpq's messages in English, so that `classify` can read them.
        env: vec!["LC_ALL=C".into(), "LANG=C".into()],
        user: Some("0:0".into()),
        mounts: vec![
            mount(&target.ca, "ca.crt"),
            mount(&target.cert, "client.crt"),
            mount(&target.key, "client.key"),
        ],
        ..Default::default()
    }
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

/// Turns psql's stderr into the error for its cause. The texts are libpq's
/// (under LC_ALL=C) and the server's (in its lc_messages, English by default).
pub fn classify(target: &LoginTarget, stderr: &str, stdout: &str) -> LoginError {
    let addr = target.addr();
    let user = target.user.clone();
    let has = |needle: &str| stderr.contains(needle);

    if let Some(reason) = unreachable_reason(stderr) {
        return LoginError::Unreachable { addr, reason };
    }
    if has("does not match host name") || has("could not get server's host name") {
        let detail = detail_line(stderr);
        return LoginError::ServerCertHostMismatch {
            addr,
            host: target.host.clone(),
            detail,
        };
    }
    if has("certificate verify failed") {
        let ca = target.ca.clone();
        return LoginError::ServerCertUntrusted { addr, ca };
    }
    if has("alert unknown ca") {
        return LoginError::ClientCertUntrusted { addr, user };
    }
    if has("alert certificate expired") {
        return LoginError::ClientCertExpired { addr, user };
    }
    if let Some(reason) = tls_alert(stderr) {
        return LoginError::ClientCertRejected { addr, user, reason };
    }
    if has("certificate authentication failed for user") {
        return LoginError::CertNameMismatch { addr, user };
    }
    if has("no pg_hba.conf entry") {
        let detail = detail_line(stderr);
        return LoginError::NoHbaEntry { addr, user, detail };
    }
    if has("role \"") && has("\" does not exist") {
        return LoginError::RoleMissing { addr, user };
    }
    if has("must be superuser or replication role") || has("permission denied to start WAL sender")
    {
        return LoginError::NotReplicationRole { addr, user };
    }
    if has("server does not support SSL") {
        let sslmode = target.sslmode;
        return LoginError::NoSsl { addr, sslmode };
    }
    if has("private key file") || has("could not load") || has("could not read certificate") {
        let reason = host_paths(target, &detail_line(stderr));
        return LoginError::ClientFiles { addr, reason };
    }
    let text = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    LoginError::Other {
        addr,
        user,
        detail: host_paths(target, &detail_line(text)),
        stderr: stderr.to_string(),
    }
}

/// Names the files as the user knows them, not by their mount points.
fn host_paths(target: &LoginTarget, text: &str) -> String {
    let pairs = [
        ("ca.crt", &target.ca),
        ("client.crt", &target.cert),
        ("client.key", &target.key),
    ];
    pairs.iter().fold(text.to_string(), |text, (name, host)| {
        text.replace(&format!("{MOUNT_DIR}/{name}"), &host.display().to_string())
    })
}

fn unreachable_reason(stderr: &str) -> Option<String> {
    let causes = [
        ("Connection refused", "connection refused"),
        ("timeout expired", "connection timed out"),
        ("No route to host", "no route to host"),
        ("Network is unreachable", "network is unreachable"),
        (
            "could not translate host name",
            "the host name does not resolve",
        ),
        ("Connection reset by peer", "connection reset"),
    ];
    causes
        .iter()
        .find(|(needle, _)| stderr.contains(needle))
        .map(|(_, reason)| reason.to_string())
}

/// The alert name of a TLS alert the server sent (`bad certificate`).
fn tls_alert(stderr: &str) -> Option<String> {
    let start = stderr.find(" alert ")? + " alert ".len();
    let rest = &stderr[start..];
    let end = rest.find(['\n', ':']).unwrap_or(rest.len());
    Some(rest[..end].trim().to_string())
}

/// The most telling line of psql's stderr, without psql's prefixes.
fn detail_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.contains("FATAL:") || l.contains("error:") || !l.is_empty())
        .unwrap_or("psql failed without a message");
    let line = line.trim_start_matches("psql: error: ");
    let line = match line.find(" failed: ") {
        Some(at) if line.starts_with("connection to server") => &line[at + " failed: ".len()..],
        _ => line,
    };
    line.trim_start_matches("FATAL:").trim().to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> LoginTarget {
        LoginTarget {
            host: "172.17.0.1".into(),
            port: 38629,
            user: "replication_user".into(),
            sslmode: SslMode::VerifyFull,
            ca: "/etc/pgshadow/pki/ca.crt".into(),
            cert: "/etc/pgshadow/pki/client.crt".into(),
            key: "/etc/pgshadow/pki/client.key".into(),
        }
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/fixtures/login/{name}.txt", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn real_failures_are_classified_by_cause() {
        let cases: &[(&str, &str)] = &[
            (
                "refused",
                "reach the primary at 172.17.0.1:38629: connection refused",
            ),
            (
                "host-mismatch",
                "verify the primary at 172.17.0.1:38629: its certificate does not name 172.17.0.1",
            ),
            (
                "server-untrusted",
                "trust the primary at 172.17.0.1:38629: its certificate is not signed by \
                 /etc/pgshadow/pki/ca.crt",
            ),
            (
                "client-unknown-ca",
                "log in to 172.17.0.1:38629 as replication_user: the primary does not trust the \
                 CA of the client certificate",
            ),
            (
                "client-expired",
                "log in to 172.17.0.1:38629 as replication_user: the primary says the client \
                 certificate has expired",
            ),
            (
                "cn-mismatch",
                "log in to 172.17.0.1:38629 as replication_user: the client certificate's CN is \
                 not replication_user",
            ),
            (
                "no-hba",
                "log in to 172.17.0.1:38629 as replication_user: no pg_hba.conf line on the \
                 primary matches this connection",
            ),
            (
                "role-missing",
                "log in to 172.17.0.1:38629: role replication_user does not exist on the primary",
            ),
            (
                "not-replication-role",
                "log in to 172.17.0.1:38629 as replication_user: the role may not start \
                 replication",
            ),
            (
                "no-ssl",
                "log in to 172.17.0.1:38629: the primary does not support SSL, and \
                 sslmode=verify-full requires it",
            ),
            (
                "key-mode",
                "use the client certificate files for 172.17.0.1:38629: private key file \
                 \"/etc/pgshadow/pki/client.key\" has group or world access; file must have \
                 permissions u=rw (0600) or less if owned by the current user, or permissions \
                 u=rw,g=r (0640) or less if owned by root",
            ),
        ];
        for (name, message) in cases {
            let error = classify(&target(), &fixture(name), "");
            assert_eq!(error.to_string(), *message, "{name}");
            assert!(
                error.hint().is_some(),
                "{name}: every known cause has a hint"
            );
        }
    }

    #[test]
    fn an_unknown_failure_keeps_the_servers_words() {
        let stderr = "psql: error: connection to server at \"172.17.0.1\", port 38629 failed: \
                      FATAL:  the database system is starting up\n";
        let error = classify(&target(), stderr, "");
        assert!(matches!(error, LoginError::Other { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "log in to 172.17.0.1:38629 as replication_user: the database system is starting up"
        );
        assert_eq!(error.hint(), None);
    }

    #[test]
    fn a_client_alert_without_a_known_name_is_a_rejection() {
        let stderr = "psql: error: connection to server at \"172.17.0.1\", port 5432 failed: \
                      SSL error: sslv3 alert bad certificate\n";
        let error = classify(&target(), stderr, "");
        assert_eq!(
            error.to_string(),
            "log in to 172.17.0.1:38629 as replication_user: the primary refused the client \
             certificate (bad certificate)"
        );
    }

    #[test]
    fn identify_system_output_parses() {
        let id = parse_identify_system("7441234567890123456|1|0/3000148|\n").unwrap();
        assert_eq!(id.system_id, "7441234567890123456");
        assert_eq!(id.timeline, 1);
        assert_eq!(id.wal_position, "0/3000148");
        assert_eq!(parse_identify_system("SET\n"), None);
    }

    #[test]
    fn the_conninfo_quotes_values_and_points_at_the_mounts() {
        let mut target = target();
        target.user = "it's me\\".into();
        let conninfo = target.conninfo();
        assert!(conninfo.starts_with("host='172.17.0.1' port='38629' user='it\\'s me\\\\' "));
        assert!(
            conninfo.contains("sslkey='/run/pgshadow-login/client.key'"),
            "{conninfo}"
        );
        assert!(conninfo.ends_with("replication='true'"), "{conninfo}");
        target.host = "2001:db8::1".into();
        assert_eq!(target.addr(), "[2001:db8::1]:38629");
    }
}
