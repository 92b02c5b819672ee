//! The private CA and the certificates for mutual-TLS replication.
//!
//! `issue` makes keys and certificates in memory (pure, no I/O), `make`
//! validates a request and builds the whole set before anything is written,
//! `store` writes it atomically with the right modes, `inspect` reads a
//! directory back and judges each certificate, and `checks` answers the one
//! question other stages ask before they use a directory: is this set of
//! files ready for the primary (server) or the standby (client)?

mod checks;
pub mod inspect;
pub mod issue;
pub mod make;
pub mod store;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use checks::{ClientSet, ServerSet, check_client_set, check_server_set, days_left};

/// The CA's certificate: goes to the primary and the standby.
pub const CA_CERT: &str = "ca.crt";
/// The CA's private key: stays on the machine that made it, ideally offline.
pub const CA_KEY: &str = "ca.key";
/// The primary's server certificate and key.
pub const SERVER_CERT: &str = "server.crt";
pub const SERVER_KEY: &str = "server.key";
/// The standby's client certificate (CN = replication role) and key.
pub const CLIENT_CERT: &str = "client.crt";
pub const CLIENT_KEY: &str = "client.key";
/// The standby's own server certificate, used once it is promoted.
pub const STANDBY_CERT: &str = "standby.crt";
pub const STANDBY_KEY: &str = "standby.key";

/// Mode of private key files.
pub const KEY_MODE: u32 = 0o600;
/// Mode of certificate files.
pub const CERT_MODE: u32 = 0o644;
/// Mode of a PKI directory pgshadow creates.
pub const DIR_MODE: u32 = 0o700;

/// A failure to make, write, read or trust certificates. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("no primary host given: the server certificate needs the address the standby dials")]
    NoPrimaryHost,
    #[error("invalid host `{host}`: {reason}")]
    InvalidHost { host: String, reason: String },
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidValue {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("{dir}: refusing to overwrite {}", names(.paths))]
    Exists { dir: PathBuf, paths: Vec<PathBuf> },
    #[error("create directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: exists and is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("rename {from} to {to}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: file is missing")]
    Missing { path: PathBuf },
    #[error("{path}: not a PEM certificate: {reason}")]
    BadCert { path: PathBuf, reason: String },
    #[error("{path}: not a usable private key")]
    BadKey {
        path: PathBuf,
        #[source]
        source: rcgen::Error,
    },
    #[error("{key} does not belong to {cert}")]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("{cert} was not signed by {ca}")]
    ChainBroken { cert: PathBuf, ca: PathBuf },
    #[error("{path}: certificate expired on {not_after}")]
    Expired { path: PathBuf, not_after: String },
    #[error("{path}: certificate is not valid before {not_before}")]
    NotYetValid { path: PathBuf, not_before: String },
    #[error("{path}: private key has mode {mode:04o}, readable by group or others")]
    KeyMode { path: PathBuf, mode: u32 },
    #[error("{path}: {file} without {partner}")]
    Unpaired {
        path: PathBuf,
        file: &'static str,
        partner: &'static str,
    },
    #[error("make the {what}")]
    Generate {
        what: String,
        #[source]
        source: rcgen::Error,
    },
}

fn names(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths
        .iter()
        .map(|p| {
            p.file_name()
                .unwrap_or(p.as_os_str())
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.join(", ")
}

impl PkiError {
    /// True for bad input (exit code 2) rather than a failed operation.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            PkiError::NoPrimaryHost | PkiError::InvalidHost { .. } | PkiError::InvalidValue { .. }
        )
    }

    /// The fix, where we know it.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            PkiError::NoPrimaryHost => {
                "pass --primary-host with each IP address or DNS name the standby dials, or set `primary.host`".into()
            }
            PkiError::InvalidHost { .. } => {
                "give an IP address (203.0.113.10, 2001:db8::1) or a DNS name (db.example.com)".into()
            }
            PkiError::Exists { .. } => {
                "pass --force to replace them; the replaced files are kept, renamed with a timestamp".into()
            }
            PkiError::CreateDir { path, .. } | PkiError::Write { path, .. } => {
                format!("is {} writable by this user? (or choose another --dir)", parent(path))
            }
            PkiError::Missing { path } => missing_hint(path),
            PkiError::BadKey { path, .. } if file_is(path, CA_KEY) => format!(
                "{} must be the PEM key `pgshadow pki init` wrote beside ca.crt",
                path.display()
            ),
            PkiError::KeyMismatch { cert, .. } => format!(
                "copy the key that was issued with {}, or issue a new pair ({})",
                cert.display(),
                reissue_command(cert)
            ),
            PkiError::ChainBroken { cert, .. } => format!(
                "copy ca.crt from the CA that issued {}, or issue a new certificate ({})",
                cert.display(),
                reissue_command(cert)
            ),
            PkiError::Expired { path, .. } | PkiError::NotYetValid { path, .. } => {
                format!("issue a new certificate: {}", reissue_command(path))
            }
            PkiError::KeyMode { path, .. } => format!("chmod 600 {}", path.display()),
            PkiError::Unpaired { partner, .. } => format!("copy {partner} too, or remove both"),
            _ => return None,
        };
        Some(hint)
    }
}

fn parent(path: &Path) -> String {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn file_is(path: &Path, name: &str) -> bool {
    path.file_name().is_some_and(|n| n == name)
}

fn missing_hint(path: &Path) -> String {
    let dir = parent(path);
    if file_is(path, CA_CERT) || file_is(path, CA_KEY) {
        format!("run `pgshadow pki init --dir {dir}` where the CA lives, and copy ca.crt here")
    } else {
        format!(
            "copy it from the machine that holds the CA, or {}",
            reissue_command(path)
        )
    }
}

/// The command that replaces the certificate at `path`.
fn reissue_command(path: &Path) -> String {
    let dir = parent(path);
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    match stem.as_ref() {
        "ca" => format!("`pgshadow pki init --dir {dir} --force`, then reissue every certificate"),
        "client" => format!("`pgshadow pki issue client --dir {dir} --user ROLE`"),
        "server" => format!("`pgshadow pki issue server --dir {dir} --host HOST`"),
        name => format!("`pgshadow pki issue server --dir {dir} --name {name} --host HOST`"),
    }
}
