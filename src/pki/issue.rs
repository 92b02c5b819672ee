//! Making keys and certificates in memory: the CA, the primary's server
//! certificate, the standby's client certificate. ECDSA P-256 throughout
//! (PostgreSQL's OpenSSL handles it everywhere; Ed25519 does not suit libpq
//! clients that use channel binding). Validity dates and serial numbers are
//! always set here, never left to the library's defaults.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::PkiError;

/// Default lifetime of the CA, in days (ten years).
pub const CA_DAYS: u32 = 3650;
/// Default lifetime of leaf certificates, in days: the longest that
/// browsers' rules allow, a habit worth keeping for any TLS server.
pub const LEAF_DAYS: u32 = 397;

/// Certificates start an hour in the past, so that a standby whose clock
/// runs a little behind the CA's machine does not see them as not yet valid.
const BACKDATE: Duration = Duration::hours(1);

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// From an hour before `now` until `days` days after `now`.
    pub fn days_from(now: OffsetDateTime, days: u32) -> Validity {
        let now = now.replace_nanosecond(0).unwrap_or(now);
        Validity {
            not_before: now - BACKDATE,
            not_after: now + Duration::days(i64::from(days)),
        }
    }

    /// From an hour ago until `days` days from now.
    pub fn days_from_now(days: u32) -> Validity {
        Validity::days_from(OffsetDateTime::now_utc(), days)
    }
}

/// A name a server certificate covers: an IP address becomes an IP SAN
/// (honoured by libpq's verify-full from PostgreSQL 15), a name a DNS SAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Dns(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Dns(name) => f.write_str(name),
        }
    }
}

/// Parses an IP address or a DNS name (RFC 1123 labels), refusing anything else.
pub fn parse_host(text: &str) -> Result<Host, PkiError> {
    let invalid = |reason: &str| PkiError::InvalidHost {
        host: text.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = text.trim().trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = trimmed.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    let name = trimmed.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 {
        return Err(invalid("neither an IP address nor a DNS name"));
    }
    for label in name.split('.') {
        let valid_chars = label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if label.is_empty() || label.len() > 63 || !valid_chars {
            return Err(invalid(
                "neither an IP address nor a DNS name (letters, digits, `-` and `.` only)",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("a DNS label may not start or end with `-`"));
        }
    }
    if name
        .split('.')
        .all(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(invalid("looks like an IP address but is not a valid one"));
    }
    Ok(Host::Dns(name.to_ascii_lowercase()))
}

/// Checks a PostgreSQL role name for use as a client certificate's CN.
pub fn check_role(user: &str) -> Result<(), PkiError> {
    let reason = if user.is_empty() {
        "the role name is empty"
    } else if user.len() > 63 {
        "PostgreSQL role names are at most 63 bytes"
    } else if user.chars().any(char::is_control) {
        "the role name contains a control character"
    } else {
        return Ok(());
    };
    Err(PkiError::InvalidValue {
        what: "role",
        value: user.to_string(),
        reason: reason.into(),
    })
}

/// A freshly made certificate and its key, both PEM.
pub struct IssuedPair {
    pub cert_pem: String,
    pub key_pem: String,
}

// The key is a secret: a stray `{:?}` must not print it.
impl fmt::Debug for IssuedPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedPair")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// The CA: its certificate and the key that signs leaves.
pub struct CertAuthority {
    /// The CA's certificate and key, PEM.
    pub pair: IssuedPair,
    issuer: Issuer<'static, KeyPair>,
    not_after: OffsetDateTime,
}

impl CertAuthority {
    /// Makes a new CA named `name`.
    pub fn generate(name: &str, validity: Validity) -> Result<CertAuthority, PkiError> {
        let generate = |source| PkiError::Generate {
            what: "CA certificate".into(),
            source,
        };
        let key = new_key("CA")?;
        let mut params = base_params(name, validity);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(generate)?;
        let pair = IssuedPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        Ok(CertAuthority {
            pair,
            issuer: Issuer::new(params, key),
            not_after: validity.not_after,
        })
    }

    /// Loads an existing CA from its PEM files; the paths are for messages.
    pub fn load(
        cert_pem: &str,
        key_pem: &str,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<CertAuthority, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(|source| PkiError::BadKey {
            path: key_path.to_path_buf(),
            source,
        })?;
        let facts = super::inspect::CertFacts::from_pem(cert_pem.as_bytes(), cert_path)?;
        if facts.public_key != key.public_key_raw() {
            return Err(PkiError::KeyMismatch {
                key: key_path.to_path_buf(),
                cert: cert_path.to_path_buf(),
            });
        }
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(|e| PkiError::BadCert {
            path: cert_path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let pair = IssuedPair {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
        };
        Ok(CertAuthority {
            pair,
            issuer,
            not_after: facts.not_after,
        })
    }

    /// When the CA itself expires; no leaf may outlive it.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// A server certificate (serverAuth) covering `hosts`, named after the first.
    pub fn issue_server(&self, hosts: &[Host], validity: Validity) -> Result<IssuedPair, PkiError> {
        let first = hosts.first().ok_or(PkiError::NoPrimaryHost)?;
        let mut params = base_params(&first.to_string(), validity);
        params.subject_alt_names = hosts.iter().map(san).collect::<Result<_, _>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign_leaf(params, "server certificate")
    }

    /// A client certificate (clientAuth) whose CN is the role `user`.
    pub fn issue_client(&self, user: &str, validity: Validity) -> Result<IssuedPair, PkiError> {
        check_role(user)?;
        let mut params = base_params(user, validity);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign_leaf(params, "client certificate")
    }

    fn sign_leaf(&self, mut params: CertificateParams, what: &str) -> Result<IssuedPair, PkiError> {
        if params.not_after > self.not_after {
            return Err(PkiError::InvalidValue {
                what: "validity",
                value: format!("until {}", params.not_after.date()),
                reason: format!("the CA expires sooner, on {}", self.not_after.date()),
            });
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let key = new_key(what)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|source| PkiError::Generate {
                what: what.into(),
                source,
            })?;
        Ok(IssuedPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn new_key(what: &str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Generate {
        what: format!("{what} key"),
        source,
    })
}

fn base_params(common_name: &str, validity: Validity) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    params.serial_number = Some(random_serial());
    params
}

fn san(host: &Host) -> Result<SanType, PkiError> {
    match host {
        Host::Ip(ip) => Ok(SanType::IpAddress(*ip)),
        Host::Dns(name) => {
            let name = name.clone().try_into().map_err(|_| PkiError::InvalidHost {
                host: name.clone(),
                reason: "not a valid DNS name".into(),
            })?;
            Ok(SanType::DnsName(name))
        }
    }
}

/// 16 random bytes, positive and without a leading zero byte, as RFC 5280
/// asks (at most 20 octets, non-negative); unpredictable serials also keep
/// two certificates from one CA from ever sharing a number.
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}
