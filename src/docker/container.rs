//! Long-lived containers (primary, standby) and the container operations
//! every command shares: find, inspect, create, stop, remove, logs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StopContainerOptions,
};
use futures_util::StreamExt;

use super::{DockerError, Engine, LABEL_DATA_DIR, is_not_found};

/// What the engine says about a container we looked up by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    /// No container has that name.
    Absent,
    /// It exists; `running` says whether it runs now.
    Present {
        running: bool,
        labels: HashMap<String, String>,
        binds: Vec<Mount>,
    },
}

/// A bind mount of a host path into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Host path.
    pub source: PathBuf,
    /// Path inside the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

impl Mount {
    pub(crate) fn to_bind(&self) -> String {
        let mode = if self.read_only { ":ro" } else { "" };
        format!("{}:{}{mode}", self.source.display(), self.target)
    }
}

/// A PostgreSQL server container that outlives pgshadow (primary or standby).
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub role: &'static str,
    pub image: String,
    /// `uid:gid` the server runs as.
    pub user: String,
    pub data_dir: PathBuf,
    pub pgdata: String,
    /// Host port to publish 5432 on, if any.
    pub port: Option<u16>,
    /// Arguments after `postgres` (for example `-c hot_standby=on`).
    pub args: Vec<String>,
    pub env: Vec<String>,
}

impl Engine {
    /// Looks a container up by name.
    pub async fn container_state(&self, name: &str) -> Result<ContainerState, DockerError> {
        let inspect = match self.docker.inspect_container(name, None).await {
            Ok(inspect) => inspect,
            Err(e) if is_not_found(&e) => return Ok(ContainerState::Absent),
            Err(source) => {
                return Err(DockerError::Container {
                    action: "inspect",
                    container: name.into(),
                    source,
                });
            }
        };
        let running = inspect.state.and_then(|s| s.running).unwrap_or(false);
        let labels = inspect.config.and_then(|c| c.labels).unwrap_or_default();
        let binds = inspect
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                Some(Mount {
                    source: PathBuf::from(m.source?),
                    target: m.destination?,
                    read_only: !m.rw.unwrap_or(true),
                })
            })
            .collect();
        Ok(ContainerState::Present {
            running,
            labels,
            binds,
        })
    }

    /// Names of containers (running or not) that bind-mount `dir` or a path inside it.
    pub async fn containers_using(&self, dir: &Path) -> Result<Vec<String>, DockerError> {
        let options = ListContainersOptions {
            all: true,
            ..Default::default()
        };
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|source| DockerError::List { source })?;
        let users = list
            .into_iter()
            .filter(|c| {
                c.mounts.iter().flatten().any(|m| {
                    m.source
                        .as_deref()
                        .map(|s| Path::new(s).starts_with(dir))
                        .unwrap_or(false)
                })
            })
            .filter_map(|c| {
                c.names?
                    .first()
                    .map(|n| n.trim_start_matches('/').to_string())
            })
            .collect();
        Ok(users)
    }

    /// Creates and starts a server container with a restart policy, labels
    /// and the data directory bind-mounted at `pgdata`.
    pub async fn start_service(&self, spec: &ServiceSpec) -> Result<(), DockerError> {
        let mut labels = self.labels(spec.role);
        labels.insert(LABEL_DATA_DIR.into(), spec.data_dir.display().to_string());
        let mount = Mount {
            source: spec.data_dir.clone(),
            target: spec.pgdata.clone(),
            read_only: false,
        };
        let port_bindings = spec.port.map(|port| {
            HashMap::from([(
                "5432/tcp".to_string(),
                Some(vec![PortBinding {
                    host_ip: None,
                    host_port: Some(port.to_string()),
                }]),
            )])
        });
        let mut cmd = vec!["postgres".to_string()];
        cmd.extend(spec.args.iter().cloned());
        let mut env = vec![format!("PGDATA={}", spec.pgdata)];
        env.extend(spec.env.iter().cloned());

        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            user: Some(spec.user.clone()),
            cmd: Some(cmd),
            env: Some(env),
            labels: Some(labels),
            // A fast shutdown: SIGTERM would wait for every client to leave.
            stop_signal: Some("SIGINT".into()),
            exposed_ports: spec.port.map(|_| vec!["5432/tcp".to_string()]),
            host_config: Some(HostConfig {
                binds: Some(vec![mount.to_bind()]),
                port_bindings,
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.create_named(&spec.name, body).await?;
        self.start_existing(&spec.name).await
    }

    pub(crate) async fn create_named(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<(), DockerError> {
        let options = CreateContainerOptions {
            name: Some(name.to_string()),
            ..Default::default()
        };
        self.docker
            .create_container(Some(options), body)
            .await
            .map(|_| ())
            .map_err(|source| DockerError::Container {
                action: "create",
                container: name.into(),
                source,
            })
    }

    /// Stops a container with `signal`, waiting up to `timeout_s` seconds before SIGKILL.
    pub async fn stop_container(&self, name: &str, timeout_s: i32) -> Result<(), DockerError> {
        let options = StopContainerOptions {
            t: Some(timeout_s),
            signal: None,
        };
        match self.docker.stop_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(source) => Err(DockerError::Container {
                action: "stop",
                container: name.into(),
                source,
            }),
        }
    }

    /// Sends `signal` to a running container.
    pub async fn kill_container(&self, name: &str, signal: &str) -> Result<(), DockerError> {
        let options = KillContainerOptions {
            signal: signal.to_string(),
        };
        self.docker
            .kill_container(name, Some(options))
            .await
            .map_err(|source| DockerError::Container {
                action: "signal",
                container: name.into(),
                source,
            })
    }

    /// Starts an existing container.
    pub async fn start_existing(&self, name: &str) -> Result<(), DockerError> {
        self.docker
            .start_container(name, None)
            .await
            .map_err(|source| DockerError::Container {
                action: "start",
                container: name.into(),
                source,
            })
    }

    /// Removes a container, running or not; an absent one is not an error.
    pub async fn remove_container(&self, name: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(source) => Err(DockerError::Container {
                action: "remove",
                container: name.into(),
                source,
            }),
        }
    }

    /// The last `lines` lines of a container's output, for error reports.
    pub async fn log_tail(&self, name: &str, lines: usize) -> String {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let mut stream = self.docker.logs(name, Some(options));
        let mut text = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        text
    }

    /// The gateway address of a Docker network (`bridge` is the default one):
    /// where a container's connection to a published port on this host comes from.
    pub async fn network_gateway(&self, network: &str) -> Result<Option<String>, DockerError> {
        let inspect = self
            .docker
            .inspect_network(network, None)
            .await
            .map_err(|source| DockerError::Network {
                network: network.into(),
                source,
            })?;
        let configs = inspect
            .ipam
            .and_then(|ipam| ipam.config)
            .unwrap_or_default();
        // Some engines leave the gateway out of the default bridge's IPAM
        // config; Docker then gives the bridge the subnet's first address.
        let gateway = configs.iter().find_map(|c| c.gateway.clone());
        Ok(gateway.or_else(|| {
            configs
                .iter()
                .find_map(|c| first_host(c.subnet.as_deref()?))
        }))
    }
}

/// The first host address of an IPv4 subnet (`172.17.0.0/16` gives `172.17.0.1`).
fn first_host(subnet: &str) -> Option<String> {
    let (network, _) = subnet.split_once('/')?;
    let network: std::net::Ipv4Addr = network.parse().ok()?;
    Some(std::net::Ipv4Addr::from(u32::from(network) + 1).to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_host_follows_the_network_address() {
        assert_eq!(
            super::first_host("172.17.0.0/16").as_deref(),
            Some("172.17.0.1")
        );
        assert_eq!(super::first_host("fd00::/64"), None);
    }
}
