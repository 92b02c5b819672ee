//! Reading a Docker CLI context (`docker context create NAME --docker
//! host=...`). The CLI keeps each context in a folder named by the hex
//! SHA-256 of its name: `contexts/meta/<hash>/meta.json` holds the engine's
//! address, and `contexts/tls/<hash>/docker/{ca,cert,key}.pem` its TLS
//! material, if any. pgshadow reads those files in place; it never copies
//! the key anywhere.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Endpoint, EndpointError, TlsFiles};
use crate::config::DockerHost;

/// The parts of `meta.json` pgshadow reads; the CLI writes more.
#[derive(Debug, Deserialize)]
struct Meta {
    #[serde(rename = "Endpoints", default)]
    endpoints: Endpoints,
}

#[derive(Debug, Default, Deserialize)]
struct Endpoints {
    docker: Option<DockerEndpoint>,
}

#[derive(Debug, Deserialize)]
struct DockerEndpoint {
    #[serde(rename = "Host")]
    host: String,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// The folder name the Docker CLI uses for context `name`.
fn folder_name(name: &str) -> String {
    Sha256::digest(name.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Resolves context `name` from the Docker CLI folder `config_dir`
/// (`$DOCKER_CONFIG` or `~/.docker`). `default` is the local engine, as in
/// the CLI, which keeps no files for it.
pub fn read_context(config_dir: &Path, name: &str) -> Result<Endpoint, EndpointError> {
    if name == "default" {
        return Ok(Endpoint::local());
    }
    let hash = folder_name(name);
    let meta_dir = config_dir.join("contexts").join("meta");
    let path = meta_dir.join(&hash).join("meta.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EndpointError::UnknownContext {
                name: name.to_string(),
                folder: meta_dir,
            });
        }
        Err(source) => return Err(EndpointError::ReadContext { path, source }),
    };
    let bad = |message: String| EndpointError::BadContext {
        path: path.clone(),
        message,
    };

    let meta: Meta = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let docker = meta
        .endpoints
        .docker
        .ok_or_else(|| bad("the context has no docker endpoint".into()))?;
    let host: DockerHost = docker.host.parse().map_err(bad)?;

    let tls_dir = config_dir
        .join("contexts")
        .join("tls")
        .join(&hash)
        .join("docker");
    Ok(match host {
        DockerHost::Unix(path) => Endpoint::Unix { path },
        DockerHost::Ssh { user, host, port } => Endpoint::Ssh { user, host, port },
        DockerHost::Tcp { host, port } => {
            let tls = context_tls(&tls_dir, name)?;
            if tls.is_some() && docker.skip_tls_verify {
                return Err(bad(
                    "SkipTLSVerify is true; pgshadow always verifies the engine's certificate \
                     (recreate the context with --docker ca=FILE)"
                        .into(),
                ));
            }
            Endpoint::Tcp { host, port, tls }
        }
    })
}

/// The context's TLS files: none when the CLI stored no TLS material (plain
/// TCP), all three when it did.
fn context_tls(dir: &Path, name: &str) -> Result<Option<TlsFiles>, EndpointError> {
    let any = ["ca.pem", "cert.pem", "key.pem"]
        .iter()
        .any(|file| dir.join(file).exists());
    if !any {
        return Ok(None);
    }
    let fix = format!(
        "recreate the context with all three files: `docker context create {name} --docker \
         host=tcp://HOST:2376,ca=CA,cert=CERT,key=KEY`"
    );
    TlsFiles::in_dir(dir, &fix).map(Some)
}

/// Where the Docker CLI keeps context `name`'s `meta.json`, for tests and messages.
pub fn meta_path(config_dir: &Path, name: &str) -> PathBuf {
    config_dir
        .join("contexts")
        .join("meta")
        .join(folder_name(name))
        .join("meta.json")
}
