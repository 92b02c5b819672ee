//! Is this directory ready? The questions `clone-standby`, `primary
//! configure` and `status` ask before they hand files to PostgreSQL: each
//! certificate parses, is within its dates, chains to `ca.crt`, has its key
//! beside it, and the key is private. The first failure is the answer, and
//! it names the file and the fix.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::inspect::{CertFacts, check_key_matches, check_key_mode};
use super::{
    CA_CERT, CLIENT_CERT, CLIENT_KEY, PkiError, SERVER_CERT, SERVER_KEY, STANDBY_CERT, STANDBY_KEY,
};

/// The files a standby logs in with, checked.
#[derive(Debug, Clone)]
pub struct ClientSet {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `standby.crt` and `standby.key`, when both exist.
    pub standby: Option<(PathBuf, PathBuf)>,
    /// The client certificate's CN: the role it logs in as.
    pub client_cn: String,
    /// Days until the first of these certificates (CA included) expires.
    pub days_left: i64,
}

/// The files a primary serves TLS with, checked.
#[derive(Debug, Clone)]
pub struct ServerSet {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Days until the first of these certificates (CA included) expires.
    pub days_left: i64,
}

/// Checks `ca.crt`, `client.crt`/`client.key` and, when present,
/// `standby.crt`/`standby.key` in `dir`.
pub fn check_client_set(dir: &Path) -> Result<ClientSet, PkiError> {
    let now = OffsetDateTime::now_utc();
    let ca = check_ca(dir, now)?;
    let client = check_leaf(dir, &ca, CLIENT_CERT, CLIENT_KEY, now)?;
    let mut days_left = ca.days_left(now).min(client.days_left(now));

    let mut standby = None;
    if has_pair(dir, STANDBY_CERT, STANDBY_KEY)? {
        let cert = check_leaf(dir, &ca, STANDBY_CERT, STANDBY_KEY, now)?;
        days_left = days_left.min(cert.days_left(now));
        standby = Some((dir.join(STANDBY_CERT), dir.join(STANDBY_KEY)));
    }
    Ok(ClientSet {
        ca: ca.path.clone(),
        cert: client.path.clone(),
        key: dir.join(CLIENT_KEY),
        standby,
        client_cn: client.cn,
        days_left,
    })
}

/// Checks `ca.crt` and `server.crt`/`server.key` in `dir`.
pub fn check_server_set(dir: &Path) -> Result<ServerSet, PkiError> {
    let now = OffsetDateTime::now_utc();
    let ca = check_ca(dir, now)?;
    let server = check_leaf(dir, &ca, SERVER_CERT, SERVER_KEY, now)?;
    Ok(ServerSet {
        ca: ca.path.clone(),
        cert: server.path.clone(),
        key: dir.join(SERVER_KEY),
        days_left: ca.days_left(now).min(server.days_left(now)),
    })
}

/// Whole days until the certificate at `cert` expires (negative once expired).
pub fn days_left(cert: &Path) -> Result<i64, PkiError> {
    Ok(CertFacts::read(cert)?.days_left(OffsetDateTime::now_utc()))
}

fn check_ca(dir: &Path, now: OffsetDateTime) -> Result<CertFacts, PkiError> {
    let ca = CertFacts::read(&dir.join(CA_CERT))?;
    ca.check_dates(now)?;
    if !ca.signed_by(&ca) {
        return Err(PkiError::BadCert {
            path: ca.path.clone(),
            reason: "not a self-signed CA certificate".into(),
        });
    }
    Ok(ca)
}

fn check_leaf(
    dir: &Path,
    ca: &CertFacts,
    cert_name: &str,
    key_name: &str,
    now: OffsetDateTime,
) -> Result<CertFacts, PkiError> {
    let cert = CertFacts::read(&dir.join(cert_name))?;
    let key = dir.join(key_name);
    if !key.exists() {
        return Err(PkiError::Missing { path: key });
    }
    cert.check_dates(now)?;
    if !cert.signed_by(ca) {
        return Err(PkiError::ChainBroken {
            cert: cert.path.clone(),
            ca: ca.path.clone(),
        });
    }
    check_key_matches(&key, &cert)?;
    check_key_mode(&key)?;
    Ok(cert)
}

/// True when both files exist, false when neither does, an error for one alone.
fn has_pair(dir: &Path, cert: &'static str, key: &'static str) -> Result<bool, PkiError> {
    match (dir.join(cert).exists(), dir.join(key).exists()) {
        (true, true) => Ok(true),
        (false, false) => Ok(false),
        (true, false) => Err(PkiError::Unpaired {
            path: dir.join(cert),
            file: cert,
            partner: key,
        }),
        (false, true) => Err(PkiError::Unpaired {
            path: dir.join(key),
            file: key,
            partner: cert,
        }),
    }
}
