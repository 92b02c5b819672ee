//! Reporting to an Uptime Kuma push monitor: one HTTP(S) GET whose query
//! carries `status=up|down`, a short `msg` and `ping` (the replay delay in
//! milliseconds). HTTPS uses rustls with the ring provider and the Mozilla
//! root certificates, so no system OpenSSL is needed.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::health::{Report, State};

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("invalid push URL: {0}")]
    Url(String),
    #[error("connect to {addr}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the monitor answered `{0}`")]
    Status(String),
    #[error("no answer within 10 s")]
    Timeout,
}

/// A parsed `http://` or `https://` URL.
#[derive(Debug, PartialEq, Eq)]
struct Url {
    tls: bool,
    host: String,
    port: u16,
    /// Path and query, starting with `/`.
    target: String,
}

fn parse_url(url: &str) -> Result<Url, PushError> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(PushError::Url(
            "it must start with http:// or https://".into(),
        ));
    };
    let (authority, target) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse()
                .map_err(|_| PushError::Url(format!("bad port `{port}`")))?,
        ),
        None => (authority, if tls { 443 } else { 80 }),
    };
    if host.is_empty() {
        return Err(PushError::Url("no host".into()));
    }
    Ok(Url {
        tls,
        host: host.to_string(),
        port,
        target: target.to_string(),
    })
}

/// The URL without its path: push tokens live in the path and are secrets.
pub fn redact(url: &str) -> String {
    match parse_url(url) {
        Ok(u) => format!(
            "{}://{}:{}/…",
            if u.tls { "https" } else { "http" },
            u.host,
            u.port
        ),
        Err(_) => "the push URL".into(),
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The query Uptime Kuma reads: `status`, `msg`, `ping`.
pub fn push_query(report: &Report) -> String {
    let state = report.state.unwrap_or(State::Unknown);
    let status = if matches!(state, State::Ok | State::Warning) {
        "up"
    } else {
        "down"
    };
    let msg = match report.problems.first() {
        Some(problem) => format!("{state:?}: {problem}"),
        None => format!("{state:?}"),
    };
    let ping = report
        .replay_delay_seconds
        .map(|s| format!("&ping={}", (s * 1000.0).round() as u64))
        .unwrap_or_default();
    format!("status={status}&msg={}{ping}", encode(&msg))
}

/// Sends the report to an Uptime Kuma push URL.
pub async fn uptime_kuma(url: &str, report: &Report) -> Result<(), PushError> {
    let mut url = parse_url(url)?;
    // The monitor's own URL may carry a default query; ours replaces it.
    let path = url.target.split('?').next().unwrap_or("/").to_string();
    url.target = format!("{path}?{}", push_query(report));
    match tokio::time::timeout(Duration::from_secs(10), get(&url)).await {
        Ok(result) => result,
        Err(_) => Err(PushError::Timeout),
    }
}

async fn get(url: &Url) -> Result<(), PushError> {
    let addr = format!("{}:{}", url.host, url.port);
    let connect = |source| PushError::Connect {
        addr: addr.clone(),
        source,
    };
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(connect)?;
    if !url.tls {
        return exchange(tcp, url).await;
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| connect(std::io::Error::other(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(url.host.clone())
        .map_err(|e| PushError::Url(e.to_string()))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(connect)?;
    exchange(tls, url).await
}

async fn exchange(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    url: &Url,
) -> Result<(), PushError> {
    let io = |source| PushError::Connect {
        addr: url.host.clone(),
        source,
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: pgshadow/{}\r\nConnection: close\r\n\r\n",
        url.target,
        url.host,
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut head = vec![0u8; 512];
    let n = stream.read(&mut head).await.map_err(io)?;
    let status_line = String::from_utf8_lossy(&head[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    if status_line
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code.starts_with('2'))
    {
        Ok(())
    } else {
        Err(PushError::Status(status_line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports() {
        let url = parse_url("https://kuma.example.com/api/push/abc?status=up").unwrap();
        assert_eq!(
            (url.tls, url.host.as_str(), url.port),
            (true, "kuma.example.com", 443)
        );
        assert_eq!(url.target, "/api/push/abc?status=up");
        assert_eq!(parse_url("http://127.0.0.1:3001/x").unwrap().port, 3001);
        assert!(parse_url("ftp://x").is_err());
    }

    #[test]
    fn the_token_never_shows_in_messages() {
        assert_eq!(
            redact("https://kuma.example.com/api/push/SECRET"),
            "https://kuma.example.com:443/…"
        );
    }

    #[test]
    fn the_query_says_up_or_down_with_the_delay_in_ms() {
        let report = Report {
            state: Some(State::Ok),
            replay_delay_seconds: Some(1.25),
            ..Default::default()
        };
        assert_eq!(push_query(&report), "status=up&msg=Ok&ping=1250");
        let report = Report {
            state: Some(State::Critical),
            problems: vec!["not streaming".into()],
            ..Default::default()
        };
        assert_eq!(
            push_query(&report),
            "status=down&msg=Critical%3A%20not%20streaming"
        );
    }
}
