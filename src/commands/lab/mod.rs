//! `pgshadow lab up` / `pgshadow lab down`: a primary and a streaming
//! standby on the local Docker engine in one command, through the same code
//! paths as the real commands (pki init, primary up, clone-standby).
//!
//! The lab mirrors production: the standby reaches the primary only through
//! the port published on the host, with verify-full against an IP SAN. On one
//! Docker host a container that dials the host's published port arrives from
//! the bridge's gateway address (172.17.0.1 on the default bridge), so that
//! address is both the primary's host and the one pg_hba.conf allows.
//! With `--remote-standby URL` the standby runs on another engine and its
//! files are reached through helper containers there (see `topology`).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::Globals;
use crate::config::{Config, LoadOptions};
use crate::docker::{ContainerState, Engine};
use crate::error::Error;
use crate::progress::Reporter;

mod topology;

use topology::{Engines, Lab, addresses, purge_remote_standby};

const EXAMPLES: &str = "\
Examples:
  pgshadow lab up
  pgshadow lab up --dir /tmp/lab --name ci --image pgshadow/postgres:15
  pgshadow -c lab/pgshadow.yaml status
  pgshadow lab down --purge";

/// The image tried first, and the local one built by `make image`.
const OFFICIAL_IMAGE: &str = "postgres:17";
const LOCAL_IMAGE: &str = "pgshadow/postgres:15";

/// A local primary with a streaming standby, for CI and first tries.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct LabArgs {
    #[command(subcommand)]
    pub action: LabAction,
}

/// Build or remove the lab.
#[derive(Debug, Subcommand)]
pub enum LabAction {
    /// Create certificates, a primary and a cloned standby; write DIR/pgshadow.yaml
    Up {
        /// Folder for the lab's certificates, data and config
        #[arg(long, default_value = "./lab", value_name = "DIR")]
        dir: PathBuf,
        /// Prefix of the container names (PREFIX-primary, PREFIX-standby)
        #[arg(long = "name", default_value = "pgshadow-lab", value_name = "PREFIX")]
        prefix: String,
        /// Image for both servers [default: postgres:17 when present or pullable, else pgshadow/postgres:15]
        #[arg(long, value_name = "IMAGE")]
        image: Option<String>,
        /// Replication role (the client certificate's CN)
        #[arg(long, default_value = "replication_user", value_name = "NAME")]
        user: String,
        /// Host port for the primary [default: a free one]
        #[arg(long, value_name = "N")]
        port: Option<u16>,
        /// Put the standby on another Docker engine (tcp://HOST:PORT with DOCKER_TLS_VERIFY
        /// and DOCKER_CERT_PATH, ssh://USER@HOST, unix://PATH); written to standby.docker_host
        #[arg(long, value_name = "URL")]
        remote_standby: Option<crate::config::DockerHost>,
        /// With --remote-standby: where the standby's host reaches this host's published port
        /// [default: the remote engine's bridge gateway, right when that engine runs on this
        /// machine; give this machine's public address otherwise]
        #[arg(long, value_name = "ADDR", requires = "remote_standby")]
        primary_address: Option<String>,
        /// With --remote-standby: the address the primary sees the standby's connections come
        /// from, for pg_hba.conf [default: this engine's bridge gateway, as when both engines
        /// run on this machine; give the standby host's public address otherwise]
        #[arg(long, value_name = "IP", requires = "remote_standby")]
        standby_address: Option<std::net::IpAddr>,
    },
    /// Remove the lab's containers (and with --purge its folder)
    Down {
        /// The lab's folder
        #[arg(long, default_value = "./lab", value_name = "DIR")]
        dir: PathBuf,
        /// Also delete DIR (certificates and data)
        #[arg(long)]
        purge: bool,
    },
}

/// Runs `lab up` or `lab down`.
pub async fn run(globals: &Globals, args: LabArgs) -> Result<u8, Error> {
    let reporter = globals.reporter();
    match args.action {
        LabAction::Up {
            dir,
            prefix,
            image,
            user,
            port,
            remote_standby,
            primary_address,
            standby_address,
        } => {
            let dir = std::path::absolute(&dir).unwrap_or(dir);
            let file = dir.join("pgshadow.yaml");
            if file.exists() {
                let config = load_lab(&file)?;
                let engines = Engines::of(globals, &config).await?;
                return lab_exists(&engines, &reporter, &config, &file).await;
            }
            let engine = globals.engine().await?;
            let remote = match &remote_standby {
                Some(host) => Some(globals.engine_at(host).await?),
                None => None,
            };
            let engines = Engines {
                standby: remote.clone().unwrap_or_else(|| engine.clone()),
                primary: engine,
            };
            let lab = Lab {
                dir: &dir,
                prefix: &prefix,
                user: &user,
                remote_standby: remote_standby.as_ref(),
                primary_address,
                standby_address,
            };
            up(&engines, &reporter, &lab, image, port).await
        }
        LabAction::Down { dir, purge } => down(globals, &reporter, &dir, purge).await,
    }
}

async fn up(
    engines: &Engines,
    reporter: &Reporter,
    lab: &Lab<'_>,
    image: Option<String>,
    port: Option<u16>,
) -> Result<u8, Error> {
    let (dir, prefix, user) = (lab.dir, lab.prefix, lab.user);
    let file = dir.join("pgshadow.yaml");
    let image = choose_image(&engines.primary, reporter, image).await?;
    if lab.remote_standby.is_some() && !engines.standby.has_image(&image).await? {
        return Err(Error::Failed {
            message: format!(
                "image {image} is not on the standby's engine at {}",
                engines.standby.endpoint
            ),
            hint: Some(format!(
                "copy it there: docker save {image} | docker -H {} load",
                engines.standby.endpoint
            )),
        });
    }
    let addresses = addresses(engines, lab).await?;
    let port = match port {
        Some(port) => port,
        None => free_port()?,
    };

    let step = reporter.step(&format!("certificates in {}/pki", dir.display()));
    make_pki(dir, &addresses.sans, user)?;
    step.done(&format!(
        "server SAN {}, client CN {user}",
        addresses.sans.join(", ")
    ));
    let settings = LabConfig {
        image: &image,
        primary_address: &addresses.primary,
        standby_address: &addresses.standby,
        port,
        prefix,
        user,
        standby_engine: lab.remote_standby,
    };
    write_lab_config(&file, &settings)?;
    let config = load_lab(&file)?;

    super::primary::up(&engines.primary, &config, reporter)
        .await
        .map_err(|e| e.at("lab up", "primary up"))?;
    let options = super::clone::Options::default();
    let summary =
        super::clone::clone_standby(&engines.standby, &config, reporter, false, options).await?;
    reporter.line(&summary.render());

    let mut status = super::status::gather(&engines.standby, &config).await;
    crate::health::evaluate(&mut status, &crate::health::Thresholds::default());
    reporter.line(&crate::health::table(&status));
    reporter.line(&format!(
        "lab is up: primary {prefix}-primary on port {port}, standby {prefix}-standby streaming\n\
         config: {}\nnext: pgshadow -c {} status",
        file.display(),
        file.display()
    ));
    Ok(0)
}

/// A lab whose config exists: fine when both containers run, else refused.
async fn lab_exists(
    engines: &Engines,
    reporter: &Reporter,
    config: &Config,
    file: &Path,
) -> Result<u8, Error> {
    let mut down = Vec::new();
    for (engine, name) in [
        (&engines.primary, &config.primary.container),
        (&engines.standby, &config.standby.container),
    ] {
        if !matches!(
            engine.container_state(name).await?,
            ContainerState::Present { running: true, .. }
        ) {
            down.push(name.clone());
        }
    }
    if down.is_empty() {
        reporter.line(&format!(
            "lab at {} is already up; nothing changed",
            file.display()
        ));
        return Ok(0);
    }
    Err(Error::Failed {
        message: format!(
            "{} holds a lab whose container(s) {} are not running",
            file.display(),
            down.join(", ")
        ),
        hint: Some("`pgshadow lab down --purge --dir DIR` first, or use another --dir".into()),
    })
}

fn load_lab(file: &Path) -> Result<Config, Error> {
    let options = LoadOptions {
        file: Some(file.to_path_buf()),
        flags: Vec::new(),
    };
    Ok(crate::config::load(&options, |var| {
        std::env::var(var).ok()
    })?)
}

/// The official image where it is present or can be pulled, else the local one.
async fn choose_image(
    engine: &Engine,
    reporter: &Reporter,
    image: Option<String>,
) -> Result<String, Error> {
    if let Some(image) = image {
        engine.ensure_image(&image, |_| {}).await?;
        return Ok(image);
    }
    let pull = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        engine.ensure_image(OFFICIAL_IMAGE, |_| {}),
    );
    match pull.await {
        Ok(Ok(_)) => {
            reporter.line(&format!("image: {OFFICIAL_IMAGE} (the official image)"));
            return Ok(OFFICIAL_IMAGE.into());
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "official image unavailable"),
        Err(_) => tracing::debug!("pulling the official image timed out"),
    }
    if engine.has_image(LOCAL_IMAGE).await? {
        reporter.line(&format!(
            "image: {LOCAL_IMAGE} ({OFFICIAL_IMAGE} is not present and cannot be pulled here)"
        ));
        return Ok(LOCAL_IMAGE.into());
    }
    Err(Error::Failed {
        message: format!("neither {OFFICIAL_IMAGE} nor {LOCAL_IMAGE} is available"),
        hint: Some("build the local image with `make image`, or pull postgres:17 where a registry is reachable".into()),
    })
}

fn free_port() -> Result<u16, Error> {
    let listener = std::net::TcpListener::bind("0.0.0.0:0").map_err(|e| Error::Failed {
        message: format!("find a free TCP port: {e}"),
        hint: Some("pass --port".into()),
    })?;
    Ok(listener.local_addr().map(|a| a.port()).unwrap_or(0))
}

fn make_pki(dir: &Path, sans: &[String], user: &str) -> Result<(), Error> {
    let mut hosts = Vec::new();
    for name in sans
        .iter()
        .map(String::as_str)
        .chain(["127.0.0.1", "localhost"])
    {
        hosts.push(crate::pki::issue::parse_host(name)?);
    }
    let plan = crate::pki::make::InitPlan {
        dir: dir.join("pki"),
        primary_hosts: hosts.clone(),
        user: user.to_string(),
        standby_hosts: hosts,
        leaf_days: 397,
        ca_days: 3650,
        force: false,
    };
    crate::pki::make::init(&plan, time::OffsetDateTime::now_utc())?;
    Ok(())
}

/// What the lab's pgshadow.yaml says.
struct LabConfig<'a> {
    image: &'a str,
    primary_address: &'a str,
    standby_address: &'a str,
    port: u16,
    prefix: &'a str,
    user: &'a str,
    standby_engine: Option<&'a crate::config::DockerHost>,
}

fn write_lab_config(file: &Path, lab: &LabConfig<'_>) -> Result<(), Error> {
    let LabConfig {
        image,
        primary_address,
        standby_address,
        port,
        prefix,
        user,
        standby_engine,
    } = lab;
    let mut text = format!(
        "# Written by `pgshadow lab up`; paths are relative to this file.\n\
         image: {image}\n\
         pki_dir: pki\n\
         primary:\n  host: {primary_address}\n  port: {port}\n  container: {prefix}-primary\n  data_dir: primary\n\
         \x20 allow: [{standby_address}/{bits}]\n\
         replication:\n  user: {user}\n  slot: {slot}\n  sslmode: verify-full\n\
         standby:\n  container: {prefix}-standby\n  data_dir: standby\n  owner: \"999:999\"\n",
        slot = prefix.replace(['-', '.'], "_"),
        bits = if standby_address.contains(':') {
            128
        } else {
            32
        },
    );
    if let Some(engine) = standby_engine {
        text.push_str(&format!(
            "  # The standby's engine; its data_dir is that host's path.\n  docker_host: {engine}\n"
        ));
    }
    std::fs::write(file, text).map_err(|source| crate::datadir::DatadirError::Io {
        action: "write",
        path: file.into(),
        source,
    })?;
    Ok(())
}

async fn down(
    globals: &Globals,
    reporter: &Reporter,
    dir: &Path,
    purge: bool,
) -> Result<u8, Error> {
    let file = dir.join("pgshadow.yaml");
    if !file.exists() {
        return Err(Error::Usage(format!(
            "{}: no lab here (pgshadow.yaml is missing)",
            dir.display()
        )));
    }
    let config = load_lab(&file)?;
    let engines = Engines::of(globals, &config).await?;
    for (engine, name) in [
        (&engines.standby, &config.standby.container),
        (&engines.primary, &config.primary.container),
    ] {
        engine.remove_container(name).await?;
        reporter.line(&format!("removed container {name}"));
    }
    if purge && !engines.standby.is_local() {
        purge_remote_standby(&engines.standby, &config, reporter).await?;
    }
    if purge {
        std::fs::remove_dir_all(dir).map_err(|source| crate::datadir::DatadirError::Io {
            action: "remove",
            path: dir.into(),
            source,
        })?;
        reporter.line(&format!("removed {}", dir.display()));
    }
    Ok(0)
}
