//! Opening a connection to an engine at a resolved [`Endpoint`]: a unix
//! socket, TCP (plain or TLS through bollard's rustls support, on the `ring`
//! provider), or SSH through bollard's ssh support. Then the API version is
//! negotiated and the engine pinged, so a wrong address fails here, once,
//! with a message that names it.
//!
//! SSH runs the system `ssh` client (through the `openssh` crate), which
//! starts `docker system dial-stdio` on the remote host: that host needs the
//! Docker CLI, and the remote user access to its engine. The client's own
//! configuration applies (`~/.ssh/config`, keys in ssh-agent); host keys
//! are checked against `known_hosts`, and a host never seen before is
//! added to it (`StrictHostKeyChecking=accept-new`), as bollard sets it.

use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};

use super::endpoint::{self, Choice, Endpoint, EndpointError, TlsFiles};
use super::{DockerError, Engine, REQUEST_TIMEOUT};

/// How long the first exchange with an engine may take. Requests after it
/// get [`REQUEST_TIMEOUT`]; this one is short, so a dropped packet to a
/// firewalled address fails in seconds, not in a day.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `host` (`unix://`, `tcp://` or `ssh://`; TLS for TCP from
/// `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`) or, when `None`, to the local
/// default socket; negotiates the API version and pings.
pub async fn connect(host: Option<&str>) -> Result<Engine, DockerError> {
    let choice = Choice {
        global: host,
        ..Choice::default()
    };
    let target = endpoint::resolve(&choice, &|var| std::env::var(var).ok())?;
    connect_to(&target).await
}

/// Connects to `target`, negotiates the API version and pings.
pub async fn connect_to(target: &Endpoint) -> Result<Engine, DockerError> {
    let name = target.to_string();
    refuse_ssh_port(target)?;
    let tls = match target {
        Endpoint::Tcp { tls, .. } => tls.clone().map(Box::new),
        _ => None,
    };
    let failed = |source| DockerError::Connect {
        endpoint: name.clone(),
        tls: tls.clone(),
        source,
    };
    let docker = open(target).map_err(failed)?;
    warn_if_unencrypted(target);

    // Debian's engines speak API 1.41, older than bollard's default; the
    // negotiation is the first request, so an absent engine shows up here.
    let unreachable = |source| DockerError::Unreachable {
        endpoint: name.clone(),
        tls: tls.clone(),
        source,
    };
    let handshake = async {
        let docker = docker.negotiate_version().await?;
        docker.ping().await?;
        Ok(docker)
    };
    let docker = match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
        Ok(result) => result.map_err(unreachable)?,
        Err(_) => return Err(unreachable(bollard::errors::Error::RequestTimeoutError)),
    };
    let docker = docker.with_timeout(REQUEST_TIMEOUT);
    tracing::debug!(endpoint = %name, version = ?docker.client_version(), "docker engine connected");
    Ok(Engine::new(docker, name, target.is_local()))
}

/// Builds the client for `target`; nothing is sent yet.
fn open(target: &Endpoint) -> Result<Docker, bollard::errors::Error> {
    let timeout = REQUEST_TIMEOUT.as_secs();
    match target {
        Endpoint::Unix { path } => Docker::connect_with_unix(
            &format!("unix://{}", path.display()),
            timeout,
            API_DEFAULT_VERSION,
        ),
        Endpoint::Tcp { host, port, tls } => {
            let address = format!("tcp://{}", Endpoint::tcp_address(host, *port));
            match tls {
                None => Docker::connect_with_http(&address, timeout, API_DEFAULT_VERSION),
                Some(files) => Docker::connect_with_ssl(
                    &address,
                    &files.key,
                    &files.cert,
                    &files.ca,
                    timeout,
                    API_DEFAULT_VERSION,
                ),
            }
        }
        Endpoint::Ssh { .. } => {
            Docker::connect_with_ssh(&target.to_string(), timeout, API_DEFAULT_VERSION, None)
        }
    }
}

/// bollard gives the ssh client `USER@HOST:PORT` as one destination, which
/// ssh reads as a host name with a colon in it; refuse a port up front, with
/// the way around it, rather than fail with "could not resolve hostname".
// TODO: pass the port to ssh (`-p`) once bollard's ssh connector reads it
// from the address (bollard 0.21 does not).
fn refuse_ssh_port(target: &Endpoint) -> Result<(), EndpointError> {
    match target {
        Endpoint::Ssh {
            host,
            port: Some(port),
            ..
        } => Err(EndpointError::SshPort {
            endpoint: target.to_string(),
            host: host.clone(),
            port: *port,
        }),
        _ => Ok(()),
    }
}

/// Plain TCP to another machine hands root on that machine to anyone on
/// the path; say so once, where the choice is made.
fn warn_if_unencrypted(target: &Endpoint) {
    let Endpoint::Tcp {
        host, tls: None, ..
    } = target
    else {
        return;
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        tracing::warn!(
            endpoint = %target,
            "the Docker API is reached without TLS; set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, or use ssh://"
        );
    }
}

/// The fix for a failed connection, judged from the cause's text (bollard
/// wraps rustls' and ssh's errors without a type to match on).
pub(super) fn hint(
    endpoint: &str,
    tls: Option<&TlsFiles>,
    source: &bollard::errors::Error,
) -> String {
    let text = cause_text(source);
    let has = |needle: &str| text.contains(needle);
    if let Some(hint) = tls.and_then(|files| tls_hint(&text, files)) {
        return hint;
    }
    if endpoint.starts_with("ssh://") {
        let destination = endpoint.trim_start_matches("ssh://");
        return format!(
            "pgshadow runs `ssh {destination} docker system dial-stdio`: check that \
             `ssh {destination} docker version` works without a prompt (a key in ssh-agent \
             or ~/.ssh/config) and that the remote user may use Docker"
        );
    }
    if has("PermissionDenied") || has("ermission denied") {
        format!("{endpoint} is not permitted for this user: run as root or join the docker group")
    } else if matches!(source, bollard::errors::Error::RequestTimeoutError) {
        format!(
            "nothing answered at {endpoint} within 30 s: is the address right and the port open?"
        )
    } else if endpoint.starts_with("tcp://") {
        format!(
            "is a Docker engine listening at {endpoint} (dockerd \
             `-H tcp://0.0.0.0:PORT --tlsverify`), and is the port open to this machine?"
        )
    } else {
        "is the Docker daemon running? (`systemctl start docker`, or set DOCKER_HOST / --docker-host)"
            .into()
    }
}

/// The hint for a TLS failure, naming the file at fault; `None` when the
/// cause is not about certificates.
fn tls_hint(text: &str, files: &TlsFiles) -> Option<String> {
    let has = |needle: &str| text.contains(needle);
    if has("UnknownIssuer") || has("BadSignature") || has("invalid peer certificate") {
        Some(format!(
            "the engine's certificate is not signed by {}, or does not name the host dialled: \
             use the CA that signed dockerd's --tlscert, with the host in its SANs",
            files.ca.display()
        ))
    } else if has("CertificateRequired") || has("BadCertificate") || has("UnknownCA") {
        Some(format!(
            "the engine refused the client certificate {}: it must be signed by the CA in \
             dockerd's --tlscacert",
            files.cert.display()
        ))
    } else if has("Cannot open/read certificate") || has("Could not parse") || has("multiple keys")
    {
        Some(format!(
            "{}, {} and {} must be PEM files: the CA, a client certificate, and its one key",
            files.ca.display(),
            files.cert.display(),
            files.key.display()
        ))
    } else {
        None
    }
}

/// The error and all its causes, Display and Debug, as one string to search.
fn cause_text(error: &bollard::errors::Error) -> String {
    let mut text = format!("{error} {error:?}");
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        text.push_str(&format!(" {e} {e:?}"));
        cause = e.source();
    }
    text
}
