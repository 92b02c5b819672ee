//! Reading psql's stderr: libpq's words (under LC_ALL=C) and the server's
//! (in its lc_messages, English by default) mapped to one [`LoginError`]
//! per cause. The texts matched here are kept, as captured from real
//! failures, under `fixtures/login/`.

use super::{LoginError, LoginTarget, MOUNT_DIR};

/// Turns psql's stderr into the error for its cause.
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
