//! Which Docker engine a role (primary or standby) is driven through, and
//! how to reach it: a unix socket on this machine, TCP (with TLS the way the
//! Docker CLI sets it up), or SSH. The answer comes, first match wins, from
//! the role's `docker_host`, the role's `docker_context`, the global
//! `--docker-host`/`DOCKER_HOST`, or the local default socket.
//!
//! Nothing here connects: resolution only reads the environment and the
//! Docker CLI's files, so it is unit-tested with temporary folders.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::DockerHost;

mod context;

pub use context::{meta_path as context_meta_path, read_context};

/// The socket a local engine listens on when nothing else is said.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Where to connect, resolved and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket on this machine: the engine's bind mounts are our paths.
    Unix { path: PathBuf },
    /// A TCP address, with TLS when `tls` names the certificate files.
    Tcp {
        host: String,
        port: u16,
        tls: Option<TlsFiles>,
    },
    /// An engine reached through the system's ssh client, which runs
    /// `docker system dial-stdio` on the remote host.
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
    },
}

/// The PEM files of a TLS connection to an engine, named as the Docker CLI
/// names them: `ca.pem` (the CA that signed the engine's certificate),
/// `cert.pem` and `key.pem` (our client certificate and its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// The three files in `dir`, each checked to exist.
    pub fn in_dir(dir: &Path, fix: &str) -> Result<TlsFiles, EndpointError> {
        let files = TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        for path in [&files.ca, &files.cert, &files.key] {
            if !path.is_file() {
                return Err(EndpointError::TlsFileMissing {
                    path: path.clone(),
                    fix: fix.to_string(),
                });
            }
        }
        Ok(files)
    }
}

/// A failure to work out which engine to connect to.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("--docker-host / DOCKER_HOST: {message}")]
    GlobalHost { message: String },
    #[error("TLS file {path} does not exist")]
    TlsFileMissing { path: PathBuf, fix: String },
    #[error("Docker context `{name}` is not in {folder}")]
    UnknownContext { name: String, folder: PathBuf },
    #[error("read Docker context file {path}")]
    ReadContext {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    BadContext { path: PathBuf, message: String },
    #[error("{endpoint}: a port in an ssh:// address is not supported")]
    SshPort {
        endpoint: String,
        host: String,
        port: u16,
    },
    #[error("HOME is not set, so the Docker CLI's folder (~/.docker) is unknown")]
    NoHome,
}

impl EndpointError {
    /// The fix, where we know it.
    pub fn hint(&self) -> Option<String> {
        match self {
            EndpointError::TlsFileMissing { fix, .. } => Some(fix.clone()),
            EndpointError::UnknownContext { .. } => Some(
                "`docker context ls` lists the contexts; DOCKER_CONFIG moves the folder".into(),
            ),
            EndpointError::SshPort { host, port, .. } => Some(format!(
                "bollard hands the ssh client the host only; put `Host {host}` with \
                 `Port {port}` in ~/.ssh/config and write ssh://[USER@]{host}"
            )),
            EndpointError::NoHome => Some("set HOME, or DOCKER_CONFIG to the folder".into()),
            EndpointError::GlobalHost { .. } => Some(
                "write it as unix:///var/run/docker.sock, tcp://HOST:2376 or ssh://USER@HOST"
                    .into(),
            ),
            _ => None,
        }
    }

    /// True when the user's input is at fault rather than the machine (exit 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, EndpointError::GlobalHost { .. })
    }
}

/// What the configuration says about one role's engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Choice<'a> {
    /// The role's `docker_host`.
    pub host: Option<&'a DockerHost>,
    /// The role's `docker_context`.
    pub context: Option<&'a str>,
    /// `--docker-host` or `DOCKER_HOST`, unparsed.
    pub global: Option<&'a str>,
}

/// Resolves `choice` to an endpoint. `env` looks a variable up
/// (`std::env::var` in the binary, a table in tests).
pub fn resolve(
    choice: &Choice<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Endpoint, EndpointError> {
    if let Some(host) = choice.host {
        return from_host(host, env);
    }
    if let Some(name) = choice.context {
        return read_context(&docker_config_dir(env)?, name);
    }
    match choice.global {
        Some(text) => {
            let host = text
                .parse::<DockerHost>()
                .map_err(|message| EndpointError::GlobalHost { message })?;
            from_host(&host, env)
        }
        None => Ok(Endpoint::local()),
    }
}

/// An address from `DOCKER_HOST` or a `docker_host` key. A TCP address gets
/// TLS as the Docker CLI gives it: when `DOCKER_TLS_VERIFY` is set non-empty
/// or `DOCKER_CERT_PATH` names the certificates.
fn from_host(
    host: &DockerHost,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Endpoint, EndpointError> {
    let set = |var: &str| env(var).filter(|v| !v.is_empty());
    Ok(match host.clone() {
        DockerHost::Unix(path) => Endpoint::Unix { path },
        DockerHost::Ssh { user, host, port } => Endpoint::Ssh { user, host, port },
        DockerHost::Tcp { host, port } => {
            let cert_path = set("DOCKER_CERT_PATH");
            let tls = if set("DOCKER_TLS_VERIFY").is_some() || cert_path.is_some() {
                let dir = match cert_path {
                    Some(dir) => PathBuf::from(dir),
                    None => docker_config_dir(env)?,
                };
                let fix = format!(
                    "put the engine's CA and a client certificate and key signed by it in {} \
                     as ca.pem, cert.pem and key.pem, or point DOCKER_CERT_PATH at the folder \
                     that holds them",
                    dir.display()
                );
                Some(TlsFiles::in_dir(&dir, &fix)?)
            } else {
                None
            };
            Endpoint::Tcp { host, port, tls }
        }
    })
}

/// The Docker CLI's folder: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir(env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, EndpointError> {
    if let Some(dir) = env("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = env("HOME")
        .filter(|v| !v.is_empty())
        .ok_or(EndpointError::NoHome)?;
    Ok(Path::new(&home).join(".docker"))
}

impl Endpoint {
    /// The local engine's default socket.
    pub fn local() -> Endpoint {
        Endpoint::Unix {
            path: PathBuf::from(DEFAULT_SOCKET),
        }
    }

    /// True when the engine runs on this machine, so the paths of its bind
    /// mounts are paths pgshadow can open itself.
    pub fn is_local(&self) -> bool {
        matches!(self, Endpoint::Unix { .. })
    }

    /// `host:port` for TCP, with brackets around an IPv6 address.
    pub fn tcp_address(host: &str, port: u16) -> String {
        match host.contains(':') {
            true => format!("[{host}]:{port}"),
            false => format!("{host}:{port}"),
        }
    }
}

/// The address as a URL, plus "with TLS" where it applies; never key material.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix { path } => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { host, port, tls } => {
                write!(f, "tcp://{}", Endpoint::tcp_address(host, *port))?;
                match tls {
                    Some(_) => f.write_str(" (TLS)"),
                    None => Ok(()),
                }
            }
            Endpoint::Ssh { user, host, port } => {
                let host = DockerHost::Ssh {
                    user: user.clone(),
                    host: host.clone(),
                    port: *port,
                };
                write!(f, "{host}")
            }
        }
    }
}

#[cfg(test)]
mod tests;
