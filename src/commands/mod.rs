//! One module per subcommand. Each only sequences stages and reports.

pub mod clone;
pub mod config;
pub mod firewall;
pub mod lab;
pub mod migrate;
pub mod pki;
pub mod primary;
pub mod promote;
pub mod status;

use std::path::PathBuf;

use crate::cli::{Cli, Command};
use crate::config::{Config, LoadOptions};
use crate::docker::endpoint::{self, Choice};
use crate::docker::{self, Engine};
use crate::error::Error;
use crate::progress::Reporter;

/// The global options every command may use.
#[derive(Debug, Clone)]
pub struct Globals {
    pub config_file: Option<PathBuf>,
    pub docker_host: Option<String>,
    pub quiet: bool,
    pub verbose: u8,
}

impl Globals {
    /// Loads the configuration with `flags` (key, value, flag name) on top.
    pub fn load_config(
        &self,
        flags: Vec<(&'static str, String, &'static str)>,
    ) -> Result<Config, Error> {
        let options = LoadOptions {
            file: self.config_file.clone(),
            flags,
        };
        Ok(crate::config::load(&options, |var| {
            std::env::var(var).ok()
        })?)
    }

    /// Connects to the global engine (`--docker-host`, `DOCKER_HOST`, or the
    /// local socket) and pings it.
    pub async fn engine(&self) -> Result<Engine, Error> {
        Ok(docker::connect(self.docker_host.as_deref()).await?)
    }

    /// Connects to the engine that runs the primary: `primary.docker_host`,
    /// else `primary.docker_context`, else the global engine.
    pub async fn primary_engine(&self, config: &Config) -> Result<Engine, Error> {
        let choice = Choice {
            host: config.primary.docker_host.as_ref(),
            context: config.primary.docker_context.as_deref(),
            global: self.docker_host.as_deref(),
        };
        self.engine_for(&choice).await
    }

    /// Connects to the engine that runs the standby: `standby.docker_host`,
    /// else `standby.docker_context`, else the global engine.
    pub async fn standby_engine(&self, config: &Config) -> Result<Engine, Error> {
        let choice = Choice {
            host: config.standby.docker_host.as_ref(),
            context: config.standby.docker_context.as_deref(),
            global: self.docker_host.as_deref(),
        };
        self.engine_for(&choice).await
    }

    /// Connects to the engine at `host` (`lab up --remote-standby`), with
    /// TLS settings from the environment as for the config's keys.
    pub async fn engine_at(&self, host: &crate::config::DockerHost) -> Result<Engine, Error> {
        let choice = Choice {
            host: Some(host),
            context: None,
            global: None,
        };
        self.engine_for(&choice).await
    }

    async fn engine_for(&self, choice: &Choice<'_>) -> Result<Engine, Error> {
        let endpoint = endpoint::resolve(choice, &|var| std::env::var(var).ok())
            .map_err(docker::DockerError::from)?;
        Ok(docker::connect_to(&endpoint).await?)
    }

    /// A progress reporter honouring `--quiet`, `CI` and the terminal.
    pub fn reporter(&self) -> Reporter {
        Reporter::new(self.quiet, false)
    }
}

/// Runs the parsed command line; the result is the process exit code.
pub async fn run(cli: Cli) -> Result<u8, Error> {
    let globals = Globals {
        config_file: cli.config,
        docker_host: cli.docker_host,
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Config(args) => config::run(&globals, args),
        Command::Pki(args) => pki::run(&globals, args),
        Command::Firewall(args) => firewall::run(&globals, args),
        Command::CloneStandby(args) => clone::run(&globals, args).await,
        Command::Primary(args) => primary::run(&globals, args).await,
        Command::Lab(args) => lab::run(&globals, args).await,
        Command::Status(args) => status::run(&globals, args).await,
        Command::Promote(args) => promote::run(&globals, args).await,
        Command::Export(args) => migrate::export::run(&globals, args).await,
        Command::Import(args) => migrate::import::run(&globals, args).await,
    }
}
