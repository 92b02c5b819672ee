//! The Docker Engine: connecting, labels, and the temporary containers
//! pgshadow starts. Every container pgshadow creates carries
//! `io.pgshadow.role` and `io.pgshadow.run`; temporary ones are tracked here
//! and removed on success, failure and interrupt.

mod connect;
mod container;
pub mod endpoint;
mod exec;
mod files;
mod image;
mod oneshot;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;

pub use connect::{connect, connect_to};
pub use container::{ContainerState, Mount, ServiceSpec};
pub use endpoint::{Endpoint, EndpointError, TlsFiles};
pub use exec::ExecOutput;
pub use files::{FileEntry, client_certs_upload};
pub use image::ImageSource;
pub use oneshot::{Finished, OneShot, Upload};

/// Label naming what a container is for (`helper`, `basebackup`, `primary`, `standby`).
pub const LABEL_ROLE: &str = "io.pgshadow.role";
/// Label carrying the id of the pgshadow run that created a container.
pub const LABEL_RUN: &str = "io.pgshadow.run";
/// Label carrying the data directory a long-lived container serves.
pub const LABEL_DATA_DIR: &str = "io.pgshadow.data-dir";
/// Extra `key=value` labels, comma-separated, put on every container
/// pgshadow creates (CI jobs use it to find their containers).
pub const EXTRA_LABELS_ENV: &str = "PGSHADOW_LABELS";

/// A failure talking to the Docker Engine. Each names the operation and the thing.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("connect to the Docker engine at {endpoint}")]
    Connect {
        endpoint: String,
        /// The TLS files in use, so that a hint can name the one at fault.
        tls: Option<Box<TlsFiles>>,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("the Docker engine at {endpoint} does not answer")]
    Unreachable {
        endpoint: String,
        tls: Option<Box<TlsFiles>>,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("image {image} is not present on the engine at {endpoint} and could not be pulled")]
    ImageMissing {
        image: String,
        endpoint: String,
        /// The engine runs on another host.
        remote: bool,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("inspect image {image}")]
    InspectImage {
        image: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{action} container {container}")]
    Container {
        action: &'static str,
        container: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("run `{command}` in container {container}")]
    Exec {
        container: String,
        command: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("list containers")]
    List {
        #[source]
        source: bollard::errors::Error,
    },
    #[error("read {path} to copy it into a container")]
    ReadLocal {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("inspect network {network}")]
    Network {
        network: String,
        #[source]
        source: bollard::errors::Error,
    },
}

impl DockerError {
    /// The fix, where we know it.
    pub fn hint(&self) -> Option<String> {
        match self {
            DockerError::Endpoint(e) => e.hint(),
            DockerError::Connect {
                endpoint,
                tls,
                source,
            }
            | DockerError::Unreachable {
                endpoint,
                tls,
                source,
            } => Some(connect::hint(endpoint, tls.as_deref(), source)),
            DockerError::ImageMissing {
                image,
                endpoint,
                remote: true,
                ..
            } => Some(format!(
                "copy it to that engine from one that has it: docker save {image} | docker -H {endpoint} load"
            )),
            DockerError::ImageMissing { image, .. } if image.starts_with("pgshadow/") => {
                Some("build it with `make image` (PG=17 for pgshadow/postgres:17)".into())
            }
            DockerError::ImageMissing { image, .. } => Some(format!(
                "pull it where a registry is reachable (`docker pull {image}`), or set `image:` to a local one such as pgshadow/postgres:15 (`make image`)"
            )),
            _ => None,
        }
    }
}

/// True when the engine answered 404 for the thing asked about.
pub fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// A connected engine, plus this run's bookkeeping of temporary containers.
#[derive(Clone)]
pub struct Engine {
    /// The bollard client, negotiated to the engine's API version.
    pub docker: Docker,
    /// Where the engine was reached, for messages (an address; never key material).
    pub endpoint: String,
    /// True when the engine listens on a unix socket of this machine.
    local: bool,
    /// This run's id, put in `io.pgshadow.run` and in temporary names.
    pub run_id: String,
    temporaries: Arc<Mutex<BTreeSet<String>>>,
    /// Numbers this run's temporary containers, so two never share a name.
    serial: Arc<std::sync::atomic::AtomicU32>,
    extra_labels: Vec<(String, String)>,
}

/// Long enough for a multi-gigabyte pg_basebackup to finish: bollard applies
/// its timeout to whole requests, including a `wait` on a container.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A short id for this run: the time in hex plus the process id, enough to
/// keep two runs' temporary containers apart on one host.
fn new_run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:x}{:x}",
        now.as_millis() & 0xffff_ffff,
        std::process::id() & 0xffff
    )
}

impl Engine {
    fn new(docker: Docker, endpoint: String, local: bool) -> Engine {
        Engine {
            docker,
            endpoint,
            local,
            run_id: new_run_id(),
            temporaries: Default::default(),
            serial: Default::default(),
            extra_labels: Vec::new(),
        }
    }

    /// True when the engine runs on this machine (a unix socket), so the
    /// paths of its bind mounts are paths pgshadow can open itself; false
    /// for TCP and SSH, where files are reached through helper containers.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// Labels for a container of `role` made by this run, plus `PGSHADOW_LABELS`.
    pub fn labels(&self, role: &str) -> HashMap<String, String> {
        let mut labels = HashMap::from([
            (LABEL_ROLE.to_string(), role.to_string()),
            (LABEL_RUN.to_string(), self.run_id.clone()),
        ]);
        if let Ok(extra) = std::env::var(EXTRA_LABELS_ENV) {
            for pair in extra.split(',').filter(|p| !p.trim().is_empty()) {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                labels.insert(key.trim().to_string(), value.trim().to_string());
            }
        }
        labels.extend(self.extra_labels.iter().cloned());
        labels
    }

    /// Puts `key=value` on every container this engine creates from now on,
    /// as `PGSHADOW_LABELS` does for the binary (tests call it in-process,
    /// where changing the environment would need `unsafe`).
    pub fn add_label(&mut self, key: &str, value: &str) {
        self.extra_labels.push((key.to_string(), value.to_string()));
    }

    /// The same connection and run id, with its own set of temporary
    /// containers: a long-lived helper kept out of [`Engine::remove_temporaries`]
    /// of the command that uses it, and removed by its owner.
    pub fn detached(&self) -> Engine {
        Engine {
            temporaries: Default::default(),
            ..self.clone()
        }
    }

    pub(crate) fn next_serial(&self) -> u32 {
        self.serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Records a temporary container so that [`Engine::remove_temporaries`] removes it.
    pub(crate) fn track(&self, name: &str) {
        self.temporaries
            .lock()
            .expect("temporaries lock")
            .insert(name.to_string());
    }

    pub(crate) fn untrack(&self, name: &str) {
        self.temporaries
            .lock()
            .expect("temporaries lock")
            .remove(name);
    }

    /// Force-removes every temporary container this run still has. Best
    /// effort: a failure is logged here, where it is handled, and not returned.
    pub async fn remove_temporaries(&self) {
        let names: Vec<String> = self
            .temporaries
            .lock()
            .expect("temporaries lock")
            .iter()
            .cloned()
            .collect();
        for name in names {
            match self.remove_container(&name).await {
                Ok(()) => self.untrack(&name),
                Err(e) => {
                    tracing::warn!(container = %name, error = %e, "could not remove temporary container")
                }
            }
        }
    }
}
