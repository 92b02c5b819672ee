//! Reading certificates and keys back: what a certificate says (CN, SANs,
//! issuer, dates), whether it chains to `ca.crt`, whether a key file belongs
//! to it and is private enough. `pgshadow pki inspect` prints this for a
//! whole directory; `checks` uses the same pieces to refuse a bad set.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::KeyPair;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::{CA_CERT, CA_KEY, PkiError};

/// What one certificate says, owned (no borrow of the file's bytes).
#[derive(Debug, Clone)]
pub struct CertFacts {
    pub path: PathBuf,
    pub der: Vec<u8>,
    pub cn: String,
    pub issuer: String,
    /// `IP:203.0.113.10` and `DNS:db.example.com` entries.
    pub sans: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub is_ca: bool,
    /// The raw subject public key, to compare with a key file's.
    pub public_key: Vec<u8>,
}

impl CertFacts {
    /// Reads and parses a PEM certificate file.
    pub fn read(path: &Path) -> Result<CertFacts, PkiError> {
        let bytes = read_file(path)?;
        CertFacts::from_pem(&bytes, path)
    }

    /// Parses a PEM certificate; `path` is for messages.
    pub fn from_pem(bytes: &[u8], path: &Path) -> Result<CertFacts, PkiError> {
        let bad = |reason: String| PkiError::BadCert {
            path: path.to_path_buf(),
            reason,
        };
        let (_, pem) = x509_parser::pem::parse_x509_pem(bytes).map_err(|e| bad(e.to_string()))?;
        if pem.label != "CERTIFICATE" {
            return Err(bad(format!("found a PEM block labelled {}", pem.label)));
        }
        let (_, cert) = X509Certificate::from_der(&pem.contents).map_err(|e| bad(e.to_string()))?;
        let to_time = |t: x509_parser::time::ASN1Time| t.to_datetime();
        Ok(CertFacts {
            path: path.to_path_buf(),
            cn: common_name(cert.subject()),
            issuer: common_name(cert.issuer()),
            sans: sans(&cert),
            not_before: to_time(cert.validity().not_before),
            not_after: to_time(cert.validity().not_after),
            is_ca: cert.is_ca(),
            public_key: cert.public_key().subject_public_key.data.to_vec(),
            der: pem.contents.clone(),
        })
    }

    /// Whole days until expiry, negative once expired.
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_seconds().div_euclid(86_400)
    }

    /// True when `issuer` signed this certificate and names itself as its issuer.
    pub fn signed_by(&self, issuer: &CertFacts) -> bool {
        let (Ok((_, cert)), Ok((_, ca))) = (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(&issuer.der),
        ) else {
            return false;
        };
        cert.issuer().as_raw() == ca.subject().as_raw()
            && cert.verify_signature(Some(ca.public_key())).is_ok()
    }

    /// The validity dates as they stand at `now`, as an error when outside.
    pub fn check_dates(&self, now: OffsetDateTime) -> Result<(), PkiError> {
        if now > self.not_after {
            return Err(PkiError::Expired {
                path: self.path.clone(),
                not_after: rfc3339(self.not_after),
            });
        }
        if now < self.not_before {
            return Err(PkiError::NotYetValid {
                path: self.path.clone(),
                not_before: rfc3339(self.not_before),
            });
        }
        Ok(())
    }
}

fn common_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or("")
        .to_string()
}

fn sans(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(format!("DNS:{dns}")),
            GeneralName::IPAddress(bytes) => ip_from_bytes(bytes).map(|ip| format!("IP:{ip}")),
            _ => None,
        })
        .collect()
}

fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => Some(<[u8; 4]>::try_from(bytes).ok()?.into()),
        16 => Some(<[u8; 16]>::try_from(bytes).ok()?.into()),
        _ => None,
    }
}

/// An RFC 3339 timestamp (UTC), for messages and JSON.
pub fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_else(|_| time.to_string())
}

fn read_file(path: &Path) -> Result<Vec<u8>, PkiError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => PkiError::Missing {
            path: path.to_path_buf(),
        },
        _ => PkiError::Read {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// The permission bits of a file (`0o600`).
pub fn file_mode(path: &Path) -> Result<u32, PkiError> {
    let meta = std::fs::metadata(path).map_err(|source| PkiError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(meta.permissions().mode() & 0o777)
}

/// Refuses a key file that group or others may read or write.
pub fn check_key_mode(path: &Path) -> Result<(), PkiError> {
    let mode = file_mode(path)?;
    if mode & 0o077 != 0 {
        return Err(PkiError::KeyMode {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Refuses a key file that is unreadable, not a key, or not `cert`'s key.
pub fn check_key_matches(key_path: &Path, cert: &CertFacts) -> Result<(), PkiError> {
    let bytes = read_file(key_path)?;
    let text = String::from_utf8_lossy(&bytes);
    let key = KeyPair::from_pem(&text).map_err(|source| PkiError::BadKey {
        path: key_path.to_path_buf(),
        source,
    })?;
    if key.public_key_raw() != cert.public_key.as_slice() {
        return Err(PkiError::KeyMismatch {
            key: key_path.to_path_buf(),
            cert: cert.path.clone(),
        });
    }
    Ok(())
}

/// One certificate's line in `pgshadow pki inspect`.
#[derive(Debug, Clone, Serialize)]
pub struct CertReport {
    pub file: String,
    pub cn: String,
    pub sans: Vec<String>,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub is_ca: bool,
    /// Signed by `ca.crt` (for `ca.crt` itself: a valid self-signature).
    pub chain_ok: bool,
    pub key_file: String,
    /// `None` when there is no key file and none is expected (`ca.key`, kept offline).
    pub key_ok: Option<bool>,
    /// The key file's mode in octal, such as `0600`.
    pub key_mode: Option<String>,
    pub mode_ok: Option<bool>,
    /// Everything wrong with it, in words; empty when all is well.
    pub problems: Vec<String>,
}

/// Judges every `*.crt` in `dir` (replaced files kept aside are skipped).
/// A missing `ca.crt` is an error: without it nothing can be judged.
pub fn inspect_dir(
    dir: &Path,
    warn_days: i64,
    now: OffsetDateTime,
) -> Result<Vec<CertReport>, PkiError> {
    let ca = CertFacts::read(&dir.join(CA_CERT))?;
    let mut reports = vec![report(&ca, &ca, warn_days, now)];
    for path in leaf_cert_files(dir)? {
        let report = match CertFacts::read(&path) {
            Ok(cert) => report(&cert, &ca, warn_days, now),
            Err(e) => unreadable(&path, &e),
        };
        reports.push(report);
    }
    Ok(reports)
}

fn leaf_cert_files(dir: &Path) -> Result<Vec<PathBuf>, PkiError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PkiError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .filter(|p| p.file_name().is_some_and(|n| n != CA_CERT))
        .collect();
    files.sort();
    Ok(files)
}

fn report(cert: &CertFacts, ca: &CertFacts, warn_days: i64, now: OffsetDateTime) -> CertReport {
    let mut problems = Vec::new();
    let days_left = cert.days_left(now);
    if let Err(e) = cert.check_dates(now) {
        problems.push(e.to_string());
    } else if days_left < warn_days {
        problems.push(format!(
            "expires in {days_left} days (warning below {warn_days})"
        ));
    }
    let chain_ok = cert.signed_by(ca);
    if !chain_ok {
        problems.push(format!("not signed by {}", ca.path.display()));
    }

    let key_path = cert.path.with_extension("key");
    let is_ca_file = cert.path.file_name().is_some_and(|n| n == CA_CERT);
    let (key_ok, key_mode, mode_ok) = judge_key(&key_path, cert, is_ca_file, &mut problems);
    CertReport {
        file: file_name(&cert.path),
        cn: cert.cn.clone(),
        sans: cert.sans.clone(),
        issuer: cert.issuer.clone(),
        not_before: rfc3339(cert.not_before),
        not_after: rfc3339(cert.not_after),
        days_left,
        is_ca: cert.is_ca,
        chain_ok,
        key_file: file_name(&key_path),
        key_ok,
        key_mode,
        mode_ok,
        problems,
    }
}

/// (key matches, mode in octal, mode private enough). `ca.key` may be absent:
/// it belongs offline.
fn judge_key(
    key_path: &Path,
    cert: &CertFacts,
    optional: bool,
    problems: &mut Vec<String>,
) -> (Option<bool>, Option<String>, Option<bool>) {
    if !key_path.exists() {
        if optional {
            return (None, None, None);
        }
        problems.push(format!("{} is missing", file_name(key_path)));
        return (Some(false), None, None);
    }
    let key_ok = match check_key_matches(key_path, cert) {
        Ok(()) => true,
        Err(e) => {
            problems.push(e.to_string());
            false
        }
    };
    let mode = file_mode(key_path).ok();
    let mode_ok = mode.map(|m| m & 0o077 == 0);
    if mode_ok == Some(false) {
        problems.push(format!(
            "{} has mode {:04o}, readable by group or others",
            file_name(key_path),
            mode.unwrap_or(0)
        ));
    }
    (Some(key_ok), mode.map(|m| format!("{m:04o}")), mode_ok)
}

fn unreadable(path: &Path, error: &PkiError) -> CertReport {
    CertReport {
        file: file_name(path),
        cn: String::new(),
        sans: Vec::new(),
        issuer: String::new(),
        not_before: String::new(),
        not_after: String::new(),
        days_left: 0,
        is_ca: false,
        chain_ok: false,
        key_file: file_name(&path.with_extension("key")),
        key_ok: None,
        key_mode: None,
        mode_ok: None,
        problems: vec![error.to_string()],
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Keys without certificates (a half-copied set) are worth a line too.
pub fn orphan_keys(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut orphans: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .filter(|p| p.file_name().is_some_and(|n| n != CA_KEY))
        .filter(|p| !p.with_extension("crt").exists())
        .map(|p| file_name(&p))
        .collect();
    orphans.sort();
    orphans
}
