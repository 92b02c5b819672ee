//! The two things `pgshadow pki` does to a directory: make a whole new set
//! (CA, server, client, optional standby) and issue one more leaf from the
//! CA already there. Everything is validated and generated in memory before
//! the first byte is written, so bad input writes nothing.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::issue::{CertAuthority, Host, IssuedPair, Validity, check_role};
use super::store::{Existing, NewFile, Written, write_set};
use super::{
    CA_CERT, CA_KEY, CLIENT_CERT, CLIENT_KEY, PkiError, SERVER_CERT, SERVER_KEY, STANDBY_CERT,
    STANDBY_KEY,
};

/// The CN of the CA pgshadow makes.
pub const CA_NAME: &str = "pgshadow replication CA";

/// Everything `pki init` needs.
#[derive(Debug, Clone)]
pub struct InitPlan {
    pub dir: PathBuf,
    /// Names and addresses the standby dials: the server certificate's SANs.
    pub primary_hosts: Vec<Host>,
    /// The replication role: the client certificate's CN.
    pub user: String,
    /// The standby's names, for its own server certificate; none means no `standby.*`.
    pub standby_hosts: Vec<Host>,
    pub leaf_days: u32,
    pub ca_days: u32,
    /// Replace existing files (keeping them aside) instead of refusing.
    pub force: bool,
}

/// Makes a new CA and its leaves and writes them into `plan.dir`.
pub fn init(plan: &InitPlan, now: OffsetDateTime) -> Result<Written, PkiError> {
    if plan.primary_hosts.is_empty() {
        return Err(PkiError::NoPrimaryHost);
    }
    check_role(&plan.user)?;
    check_days(plan.leaf_days, "--days")?;
    check_days(plan.ca_days, "--ca-days")?;

    let ca = CertAuthority::generate(CA_NAME, Validity::days_from(now, plan.ca_days))?;
    let leaf = Validity::days_from(now, plan.leaf_days);
    let server = ca.issue_server(&plan.primary_hosts, leaf)?;
    let client = ca.issue_client(&plan.user, leaf)?;
    let mut files = vec![
        NewFile::cert(CA_CERT, &ca.pair.cert_pem),
        NewFile::key(CA_KEY, &ca.pair.key_pem),
    ];
    files.extend(pair_files(SERVER_CERT, SERVER_KEY, &server));
    files.extend(pair_files(CLIENT_CERT, CLIENT_KEY, &client));
    if !plan.standby_hosts.is_empty() {
        let standby = ca.issue_server(&plan.standby_hosts, leaf)?;
        files.extend(pair_files(STANDBY_CERT, STANDBY_KEY, &standby));
    }

    let existing = if plan.force {
        Existing::KeepAside
    } else {
        Existing::Refuse
    };
    write_set(&plan.dir, &files, existing, now)
}

/// Issues a new client certificate for `user` from the CA in `dir`,
/// replacing `client.*` (the old files are kept aside).
pub fn issue_client(
    dir: &Path,
    user: &str,
    validity: Validity,
    now: OffsetDateTime,
) -> Result<Written, PkiError> {
    check_role(user)?;
    let ca = load_ca(dir)?;
    let client = ca.issue_client(user, validity)?;
    write_set(
        dir,
        &pair_files(CLIENT_CERT, CLIENT_KEY, &client),
        Existing::KeepAside,
        now,
    )
}

/// Issues a new server certificate for `hosts` from the CA in `dir` as
/// `NAME.crt`/`NAME.key` (`server` for the primary, `standby` for a
/// standby), replacing the old pair (kept aside).
pub fn issue_server(
    dir: &Path,
    name: &str,
    hosts: &[Host],
    validity: Validity,
    now: OffsetDateTime,
) -> Result<Written, PkiError> {
    check_file_stem(name)?;
    if hosts.is_empty() {
        return Err(PkiError::InvalidValue {
            what: "--host",
            value: String::new(),
            reason: "a server certificate needs at least one host".into(),
        });
    }
    let ca = load_ca(dir)?;
    let server = ca.issue_server(hosts, validity)?;
    let (cert, key) = (format!("{name}.crt"), format!("{name}.key"));
    write_set(
        dir,
        &pair_files(&cert, &key, &server),
        Existing::KeepAside,
        now,
    )
}

/// Reads `ca.crt` and `ca.key` from `dir`.
pub fn load_ca(dir: &Path) -> Result<CertAuthority, PkiError> {
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => PkiError::Missing {
                path: path.to_path_buf(),
            },
            _ => PkiError::Read {
                path: path.to_path_buf(),
                source,
            },
        })
    };
    let cert = read(&cert_path)?;
    let key = read(&key_path)?;
    CertAuthority::load(&cert, &key, &cert_path, &key_path)
}

fn pair_files(cert: &str, key: &str, pair: &IssuedPair) -> [NewFile; 2] {
    [
        NewFile::cert(cert, &pair.cert_pem),
        NewFile::key(key, &pair.key_pem),
    ]
}

fn check_days(days: u32, flag: &'static str) -> Result<(), PkiError> {
    if (1..=36_500).contains(&days) {
        return Ok(());
    }
    Err(PkiError::InvalidValue {
        what: flag,
        value: days.to_string(),
        reason: "expected a number of days from 1 to 36500".into(),
    })
}

/// A leaf's file name stem: plain, and not one of the names with another job.
fn check_file_stem(name: &str) -> Result<(), PkiError> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let reason = if !plain {
        "expected letters, digits, `-` and `_` only"
    } else if name == "ca" || name == "client" {
        "ca and client are taken: ca.* is the CA, client.* the client certificate"
    } else {
        return Ok(());
    };
    Err(PkiError::InvalidValue {
        what: "--name",
        value: name.into(),
        reason: reason.into(),
    })
}

/// Validates that `days` is a usable leaf lifetime (for commands that take `--days`).
pub fn leaf_validity(days: u32, now: OffsetDateTime) -> Result<Validity, PkiError> {
    check_days(days, "--days")?;
    Ok(Validity::days_from(now, days))
}
