//! Value types of the configuration that need validation: CIDR blocks, owners
//! and the libpq `sslmode`. Each parses from a string so that the YAML file,
//! the environment and flags share one rule and one error message.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An address block such as `198.51.100.7/32` or `2001:db8::/64`.
///
/// A bare address means the single host (`/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    /// The network address as written.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let expected = || format!("invalid CIDR `{text}`: expected ADDRESS or ADDRESS/PREFIX");
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| expected())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.trim().parse::<u8>().map_err(|_| expected())?,
        };
        if prefix > max {
            return Err(format!(
                "invalid CIDR `{text}`: the prefix must be at most {max}"
            ));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<Cidr> for String {
    fn from(cidr: Cidr) -> String {
        cidr.to_string()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The numeric owner of a data directory, written `UID:GID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Owner {
    /// Numeric user id.
    pub uid: u32,
    /// Numeric group id.
    pub gid: u32,
}

impl FromStr for Owner {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = || format!("invalid owner `{text}`: expected UID:GID, such as 999:999");
        let (uid, gid) = text.split_once(':').ok_or_else(invalid)?;
        Ok(Owner {
            uid: uid.trim().parse().map_err(|_| invalid())?,
            gid: gid.trim().parse().map_err(|_| invalid())?,
        })
    }
}

impl TryFrom<String> for Owner {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<Owner> for String {
    fn from(owner: Owner) -> String {
        owner.to_string()
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

/// How strictly the standby checks the primary's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// The certificate chains to `ca.crt` and names the host dialled.
    VerifyFull,
    /// The certificate chains to `ca.crt`; the name is not checked.
    VerifyCa,
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "verify-full" => Ok(SslMode::VerifyFull),
            "verify-ca" => Ok(SslMode::VerifyCa),
            _ => Err(format!(
                "invalid sslmode `{text}`: expected verify-full or verify-ca"
            )),
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::VerifyFull => "verify-full",
            SslMode::VerifyCa => "verify-ca",
        })
    }
}

/// Parses a TCP port, refusing 0.
pub fn parse_port(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(0) | Err(_) => Err(format!(
            "invalid port `{text}`: expected a number from 1 to 65535"
        )),
        Ok(port) => Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_accepts_hosts_and_blocks() {
        assert_eq!(
            "10.0.0.1".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.1/32"
        );
        assert_eq!("10.0.0.0/8".parse::<Cidr>().unwrap().prefix, 8);
        assert_eq!("2001:db8::1".parse::<Cidr>().unwrap().prefix, 128);
    }

    #[test]
    fn cidr_refuses_bad_prefixes_and_addresses() {
        let err = "10.0.0.1/33".parse::<Cidr>().unwrap_err();
        assert_eq!(
            err,
            "invalid CIDR `10.0.0.1/33`: the prefix must be at most 32"
        );
        let err = "example.com/32".parse::<Cidr>().unwrap_err();
        assert!(err.starts_with("invalid CIDR `example.com/32`"), "{err}");
    }

    #[test]
    fn owner_parses_uid_gid() {
        assert_eq!(
            "999:999".parse::<Owner>().unwrap(),
            Owner { uid: 999, gid: 999 }
        );
        let err = "postgres".parse::<Owner>().unwrap_err();
        assert_eq!(
            err,
            "invalid owner `postgres`: expected UID:GID, such as 999:999"
        );
    }

    #[test]
    fn port_refuses_zero_and_overflow() {
        assert_eq!(parse_port("5432"), Ok(5432));
        assert!(parse_port("0").is_err());
        assert!(parse_port("70000").is_err());
    }
}
