//! The address of a Docker engine as the Docker CLI writes it in `DOCKER_HOST`:
//! `unix://PATH`, `tcp://HOST:PORT` or `ssh://[USER@]HOST[:PORT]`. One parser
//! serves `primary.docker_host`, `standby.docker_host`, `--docker-host` and
//! the hosts found in Docker CLI contexts, so all of them refuse the same
//! mistakes with the same words.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where a Docker engine listens, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    /// A unix socket on this machine.
    Unix(PathBuf),
    /// A TCP address; whether TLS is used is decided when connecting.
    Tcp { host: String, port: u16 },
    /// An engine reached through the system's ssh client.
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
    },
}

const EXPECTED: &str = "expected unix://PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]";

impl FromStr for DockerHost {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let invalid = |why: &str| format!("invalid Docker host `{text}`: {why}");
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(invalid(EXPECTED));
        };
        match scheme {
            "unix" if rest.starts_with('/') => Ok(DockerHost::Unix(PathBuf::from(rest))),
            "unix" => Err(invalid(
                "the socket path must be absolute (unix:///run/docker.sock)",
            )),
            "tcp" => {
                let (host, port) = split_host_port(rest.trim_end_matches('/')).map_err(invalid)?;
                let port =
                    port.ok_or_else(|| invalid("a tcp address needs a port (2376 for TLS)"))?;
                Ok(DockerHost::Tcp { host, port })
            }
            "ssh" => {
                let rest = rest.trim_end_matches('/');
                let (user, address) = match rest.rsplit_once('@') {
                    Some(("", _)) => return Err(invalid("the user is empty")),
                    Some((user, address)) => (Some(user.to_string()), address),
                    None => (None, rest),
                };
                let (host, port) = split_host_port(address).map_err(invalid)?;
                Ok(DockerHost::Ssh { user, host, port })
            }
            _ => Err(invalid(EXPECTED)),
        }
    }
}

/// Splits `HOST[:PORT]`, where an IPv6 host is written in brackets.
fn split_host_port(text: &str) -> Result<(String, Option<u16>), &'static str> {
    let (host, port) = match text.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or("an IPv6 host lacks its `]`")?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(after.strip_prefix(':').ok_or("junk after the `]`")?),
                ),
            }
        }
        None => match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        },
    };
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err("the host is missing or not a host name");
    }
    let port = match port {
        None => None,
        Some(port) => match port.parse::<u16>() {
            Ok(0) | Err(_) => return Err("the port must be a number from 1 to 65535"),
            Ok(port) => Some(port),
        },
    };
    Ok((host.to_string(), port))
}

impl fmt::Display for DockerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = |host: &str| match host.contains(':') {
            true => format!("[{host}]"),
            false => host.to_string(),
        };
        match self {
            DockerHost::Unix(path) => write!(f, "unix://{}", path.display()),
            DockerHost::Tcp { host: h, port } => write!(f, "tcp://{}:{port}", host(h)),
            DockerHost::Ssh {
                user,
                host: h,
                port,
            } => {
                f.write_str("ssh://")?;
                if let Some(user) = user {
                    write!(f, "{user}@")?;
                }
                f.write_str(&host(h))?;
                match port {
                    Some(port) => write!(f, ":{port}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Checks a Docker CLI context name: what `docker context create` accepts
/// (a letter or digit, then letters, digits, `_`, `.`, `+`, `-`).
pub fn parse_context_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c));
    if first_ok && rest_ok {
        Ok(name.to_string())
    } else {
        Err(format!(
            "invalid Docker context name `{name}`: expected a letter or digit, then letters, digits, `_`, `.`, `+` or `-`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_schemes_parse_and_render_back() {
        for text in [
            "unix:///var/run/docker.sock",
            "tcp://203.0.113.10:2376",
            "tcp://[2001:db8::1]:2376",
            "ssh://deploy@vps2.example.com:2222",
            "ssh://vps2.example.com",
        ] {
            let parsed: DockerHost = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!(
            "ssh://me@host".parse::<DockerHost>().unwrap(),
            DockerHost::Ssh {
                user: Some("me".into()),
                host: "host".into(),
                port: None
            }
        );
    }

    #[test]
    fn bad_hosts_say_what_is_wrong() {
        let cases = [
            ("http://x:1", EXPECTED),
            ("/var/run/docker.sock", EXPECTED),
            ("unix://run/docker.sock", "must be absolute"),
            ("tcp://host", "needs a port"),
            ("tcp://host:0", "from 1 to 65535"),
            ("tcp://:2376", "host is missing"),
            ("ssh://@host", "user is empty"),
            ("ssh://host:ssh", "from 1 to 65535"),
        ];
        for (text, wanted) in cases {
            let err = text.parse::<DockerHost>().unwrap_err();
            assert!(err.contains(wanted), "{text}: {err}");
            assert!(err.contains(&format!("`{text}`")), "{err}");
        }
    }

    #[test]
    fn context_names_follow_the_docker_cli_rule() {
        assert_eq!(parse_context_name("vps-2.prod").unwrap(), "vps-2.prod");
        assert!(parse_context_name("").is_err());
        assert!(parse_context_name("-x").is_err());
        assert!(parse_context_name("../etc").is_err());
    }
}
