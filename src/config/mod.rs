//! The effective configuration: defaults, then `pgshadow.yaml`, then
//! `PGSHADOW_*` environment variables, then flags, each later layer winning.
//! Every value remembers where it came from, for `pgshadow config show` and
//! for error messages that point at the right place.

mod docker_host;
mod file;
mod types;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use docker_host::{DockerHost, parse_context_name};
pub use types::{Cidr, Owner, SslMode, parse_port};

/// The file read when neither `-c` nor `PGSHADOW_CONFIG` names one.
pub const DEFAULT_FILE: &str = "pgshadow.yaml";

/// Every key pgshadow knows, in the order `config show` prints them.
pub const KEYS: &[&str] = &[
    "image",
    "pki_dir",
    "primary.host",
    "primary.port",
    "primary.container",
    "primary.data_dir",
    "primary.allow",
    "primary.docker_host",
    "primary.docker_context",
    "replication.user",
    "replication.slot",
    "replication.sslmode",
    "standby.container",
    "standby.data_dir",
    "standby.port",
    "standby.owner",
    "standby.pgdata",
    "standby.docker_host",
    "standby.docker_context",
];

/// A failure to build the configuration. Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: config file does not exist")]
    NotFound { path: PathBuf },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{var}: {message}")]
    Env { var: String, message: String },
    #[error("{flag}: {message}")]
    Flag { flag: String, message: String },
    #[error("`{first}` ({first_origin}) and `{second}` ({second_origin}) are both set")]
    Conflict {
        first: &'static str,
        first_origin: Source,
        second: &'static str,
        second_origin: Source,
    },
    #[error("{origin}: missing key `{key}`, which `{command}` needs")]
    Missing {
        origin: String,
        key: &'static str,
        command: &'static str,
    },
}

impl ConfigError {
    /// What the user can do about it, where we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            ConfigError::NotFound { .. } => Some(
                "create it (see the README's pgshadow.yaml example) or point -c at the right file"
                    .into(),
            ),
            ConfigError::Missing { key, .. } => Some(format!(
                "set `{key}` in the config file, or export {}",
                env_var_for(key)
            )),
            ConfigError::Conflict { first, second, .. } => Some(format!(
                "keep one: `{first}` names the engine directly, `{second}` names a Docker CLI context"
            )),
            _ => None,
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// pgshadow's built-in default.
    Default,
    /// The config file, at this line (0 when the line is unknown).
    File { path: PathBuf, line: usize },
    /// A `PGSHADOW_*` variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path, line: 0 } => write!(f, "file {}", path.display()),
            Source::File { path, line } => write!(f, "file {}:{line}", path.display()),
            Source::Env(var) => write!(f, "env {var}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// The primary's side of the configuration.
#[derive(Debug, Clone)]
pub struct Primary {
    pub host: Option<String>,
    pub port: u16,
    pub container: String,
    pub data_dir: Option<PathBuf>,
    pub allow: Vec<Cidr>,
    /// The engine that runs the primary; `None` means the global one.
    pub docker_host: Option<DockerHost>,
    /// A Docker CLI context naming the primary's engine.
    pub docker_context: Option<String>,
}

/// How the standby logs in to the primary.
#[derive(Debug, Clone)]
pub struct Replication {
    pub user: String,
    pub slot: Option<String>,
    pub sslmode: SslMode,
}

/// The standby's side of the configuration.
#[derive(Debug, Clone)]
pub struct Standby {
    pub container: String,
    pub data_dir: Option<PathBuf>,
    pub port: Option<u16>,
    pub owner: Owner,
    pub pgdata: String,
    /// The engine that runs the standby; `None` means the global one.
    pub docker_host: Option<DockerHost>,
    /// A Docker CLI context naming the standby's engine.
    pub docker_context: Option<String>,
}

/// The merged configuration every command reads.
#[derive(Debug, Clone)]
pub struct Config {
    pub image: String,
    pub pki_dir: PathBuf,
    pub primary: Primary,
    pub replication: Replication,
    pub standby: Standby,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    sources: BTreeMap<&'static str, Source>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            image: "postgres:17".into(),
            pki_dir: PathBuf::from("./pki"),
            primary: Primary {
                host: None,
                port: 5432,
                container: "pg-primary".into(),
                data_dir: None,
                allow: Vec::new(),
                docker_host: None,
                docker_context: None,
            },
            replication: Replication {
                user: "replication_user".into(),
                slot: None,
                sslmode: SslMode::VerifyFull,
            },
            standby: Standby {
                container: "pg-standby".into(),
                data_dir: None,
                port: None,
                owner: Owner { uid: 999, gid: 999 },
                pgdata: "/var/lib/postgresql/data".into(),
                docker_host: None,
                docker_context: None,
            },
            file: None,
            sources: BTreeMap::new(),
        }
    }
}

/// The name of the environment variable for a key: `primary.port` is
/// `PGSHADOW_PRIMARY_PORT`.
pub fn env_var_for(key: &str) -> String {
    format!("PGSHADOW_{}", key.replace('.', "_").to_uppercase())
}

mod layers;
pub use layers::{LoadOptions, load};

impl Config {
    /// Where `key`'s value came from.
    pub fn source(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }

    /// The value of `key` rendered for people (`-` when unset).
    pub fn display_value(&self, key: &str) -> String {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let value = match key {
            "image" => Some(self.image.clone()),
            "pki_dir" => Some(self.pki_dir.display().to_string()),
            "primary.host" => self.primary.host.clone(),
            "primary.port" => Some(self.primary.port.to_string()),
            "primary.container" => Some(self.primary.container.clone()),
            "primary.data_dir" => path(&self.primary.data_dir),
            "primary.allow" => Some(
                self.primary
                    .allow
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            "primary.docker_host" => self.primary.docker_host.as_ref().map(|h| h.to_string()),
            "primary.docker_context" => self.primary.docker_context.clone(),
            "replication.user" => Some(self.replication.user.clone()),
            "replication.slot" => self.replication.slot.clone(),
            "replication.sslmode" => Some(self.replication.sslmode.to_string()),
            "standby.container" => Some(self.standby.container.clone()),
            "standby.data_dir" => path(&self.standby.data_dir),
            "standby.port" => self.standby.port.map(|p| p.to_string()),
            "standby.owner" => Some(self.standby.owner.to_string()),
            "standby.pgdata" => Some(self.standby.pgdata.clone()),
            "standby.docker_host" => self.standby.docker_host.as_ref().map(|h| h.to_string()),
            "standby.docker_context" => self.standby.docker_context.clone(),
            _ => None,
        };
        value.unwrap_or_else(|| "-".into())
    }

    /// The error for a key that `command` needs and nobody set.
    pub fn missing(&self, key: &'static str, command: &'static str) -> ConfigError {
        let origin = match &self.file {
            Some(path) => path.display().to_string(),
            None => format!("{DEFAULT_FILE} (not found)"),
        };
        ConfigError::Missing {
            origin,
            key,
            command,
        }
    }

    /// `primary.host`, or the error naming the command that needs it.
    pub fn require_primary_host(&self, command: &'static str) -> Result<&str, ConfigError> {
        self.primary
            .host
            .as_deref()
            .ok_or_else(|| self.missing("primary.host", command))
    }

    /// `primary.data_dir`, or the error naming the command that needs it.
    pub fn require_primary_data_dir(&self, command: &'static str) -> Result<&Path, ConfigError> {
        self.primary
            .data_dir
            .as_deref()
            .ok_or_else(|| self.missing("primary.data_dir", command))
    }

    /// `standby.data_dir`, or the error naming the command that needs it.
    pub fn require_standby_data_dir(&self, command: &'static str) -> Result<&Path, ConfigError> {
        self.standby
            .data_dir
            .as_deref()
            .ok_or_else(|| self.missing("standby.data_dir", command))
    }
}

#[cfg(test)]
mod tests;
