//! `pgshadow primary configure` and `pgshadow primary up`: the primary's
//! side of mutual-TLS replication.

use std::path::Path;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::Globals;
use crate::config::Config;
use crate::datadir::{self, DataHost};
use crate::docker::{ContainerState, Engine, LABEL_DATA_DIR, LABEL_ROLE, ServiceSpec};
use crate::error::Error;
use crate::pg::primary::{self as steps, Change};
use crate::pg::server;
use crate::progress::Reporter;

const EXAMPLES: &str = "\
Examples:
  pgshadow primary up
  pgshadow primary configure --restart
  pgshadow -c /etc/pgshadow.yaml primary configure";

/// Prepare the primary for mutual-TLS replication.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct PrimaryArgs {
    #[command(subcommand)]
    pub action: PrimaryAction,
}

/// What to do on the primary.
#[derive(Debug, Subcommand)]
pub enum PrimaryAction {
    /// Configure the running primary.container: certificates, TLS, pg_hba.conf, role, slot
    ///
    /// Idempotent: a second run changes nothing and says so. Reads pki_dir
    /// (ca.crt, server.crt, server.key), primary.allow, replication.user and
    /// replication.slot.
    Configure {
        /// Restart the container when a changed setting needs it (wal_level, max_wal_senders)
        #[arg(long)]
        restart: bool,
    },
    /// Create the primary container (initdb into primary.data_dir when empty), then configure it
    ///
    /// Publishes primary.port, runs as standby.owner's uid:gid (the image's
    /// postgres), restart policy unless-stopped. An existing container of
    /// that name is reused only when pgshadow made it for this data directory.
    Up,
}

/// Runs `primary configure` or `primary up`.
pub async fn run(globals: &Globals, args: PrimaryArgs) -> Result<u8, Error> {
    let config = globals.load_config(Vec::new())?;
    let reporter = globals.reporter();
    let engine = globals.primary_engine(&config).await?;
    match args.action {
        PrimaryAction::Configure { restart } => {
            configure(&engine, &config, &reporter, restart).await?;
        }
        PrimaryAction::Up => up(&engine, &config, &reporter).await?,
    }
    Ok(0)
}

/// Creates (or reuses) the primary container and configures it.
pub async fn up(engine: &Engine, config: &Config, reporter: &Reporter) -> Result<(), Error> {
    let data_dir = config.require_primary_data_dir("primary up")?;
    let name = &config.primary.container;
    let step = reporter.step(&format!("primary container {name}"));
    match engine.container_state(name).await? {
        ContainerState::Present {
            running, labels, ..
        } => {
            let ours = labels.get(LABEL_ROLE).map(String::as_str) == Some("primary")
                && labels.get(LABEL_DATA_DIR).map(String::as_str)
                    == Some(&*data_dir.to_string_lossy());
            if !ours {
                return Err(Error::Failed {
                    message: format!(
                        "a container named {name} exists and pgshadow did not make it for {}",
                        data_dir.display()
                    ),
                    hint: Some(format!(
                        "use `pgshadow primary configure` for an existing primary, or remove {name} first"
                    )),
                });
            }
            if !running {
                engine.start_existing(name).await?;
            }
            step.done("reused");
        }
        ContainerState::Absent => {
            create_primary(engine, config, data_dir).await?;
            step.done(&format!("created, port {} published", config.primary.port));
        }
    }
    let step = reporter.step("wait until the primary accepts connections");
    server::wait_until_ready(engine, name, Duration::from_secs(120)).await?;
    step.done("");
    configure(engine, config, reporter, true).await?;
    Ok(())
}

async fn create_primary(engine: &Engine, config: &Config, data_dir: &Path) -> Result<(), Error> {
    let owner = config.standby.owner;
    // initdb runs as the image's postgres user and needs to own the directory.
    let files = DataHost::open(engine, &config.image, data_dir).await?;
    let prepared = files.prepare_new_dir(data_dir, owner).await;
    files.close().await;
    prepared?;
    let spec = ServiceSpec {
        name: config.primary.container.clone(),
        role: "primary",
        image: config.image.clone(),
        user: owner.to_string(),
        data_dir: data_dir.to_path_buf(),
        pgdata: config.standby.pgdata.clone(),
        port: Some(config.primary.port),
        args: vec!["-c".into(), "wal_level=replica".into()],
        // The image's initdb wants a superuser password; a random one that
        // nobody is told keeps network logins closed until the operator sets one.
        env: vec![
            format!("POSTGRES_PASSWORD={}", random_token()),
            "POSTGRES_HOST_AUTH_METHOD=scram-sha-256".into(),
        ],
    };
    engine.start_service(&spec).await?;
    Ok(())
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the system random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Configures the running primary; returns what changed.
pub async fn configure(
    engine: &Engine,
    config: &Config,
    reporter: &Reporter,
    restart: bool,
) -> Result<Vec<Change>, Error> {
    let name = &config.primary.container;
    let server_set = crate::pki::check_server_set(&config.pki_dir)?;
    let step = reporter.step(&format!("configure primary {name}"));
    let pgdata = steps::data_directory(engine, name).await?;

    let mut changes = Vec::new();
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| datadir::DatadirError::Io {
            action: "read",
            path: p.into(),
            source,
        })
    };
    let files = [
        ("server.crt", read(&server_set.cert)?),
        ("server.key", read(&server_set.key)?),
        ("ca.crt", read(&server_set.ca)?),
    ];
    changes.extend(steps::install_server_certs(engine, name, &pgdata, &files).await?);
    let certs = format!("{pgdata}/certs");
    let settings = [
        ("ssl", "on".to_string()),
        ("ssl_cert_file", format!("{certs}/server.crt")),
        ("ssl_key_file", format!("{certs}/server.key")),
        ("ssl_ca_file", format!("{certs}/ca.crt")),
    ];
    changes.extend(steps::ensure_settings(engine, name, &settings).await?);
    let wal_level = server::query(engine, name, "SHOW wal_level").await?;
    if wal_level == "minimal" {
        changes.extend(
            steps::ensure_settings(engine, name, &[("wal_level", "replica".into())]).await?,
        );
    }
    changes.extend(steps::ensure_at_least(engine, name, "max_wal_senders", 10).await?);
    changes.extend(steps::ensure_at_least(engine, name, "max_replication_slots", 10).await?);
    changes.extend(
        steps::ensure_hba(
            engine,
            name,
            &config.replication.user,
            &config.primary.allow,
        )
        .await?,
    );
    changes.extend(steps::ensure_role(engine, name, &config.replication.user).await?);
    if let Some(slot) = &config.replication.slot {
        changes.extend(steps::ensure_slot(engine, name, slot).await?);
    }
    let pending = steps::reload(engine, name).await?;
    step.done(if changes.is_empty() {
        "nothing to change"
    } else {
        "changed"
    });

    report(reporter, config, &changes);
    restart_if_needed(engine, reporter, name, &pending, restart).await?;
    Ok(changes)
}

fn report(reporter: &Reporter, config: &Config, changes: &[Change]) {
    if changes.is_empty() {
        reporter.line("primary configure: already configured, nothing changed");
    }
    for change in changes {
        let restart = if change.needs_restart {
            " (needs a restart)"
        } else {
            ""
        };
        reporter.line(&format!("  changed: {}{restart}", change.what));
    }
    let allow: Vec<String> = config.primary.allow.iter().map(|c| c.to_string()).collect();
    if !allow.is_empty() {
        reporter.line(&format!(
            "next: close port {} to all but {} with `pgshadow firewall --apply` (Docker bypasses ufw)",
            config.primary.port,
            allow.join(", ")
        ));
    }
}

async fn restart_if_needed(
    engine: &Engine,
    reporter: &Reporter,
    name: &str,
    pending: &[String],
    restart: bool,
) -> Result<(), Error> {
    if pending.is_empty() {
        return Ok(());
    }
    if !restart {
        reporter.line(&format!(
            "restart needed for: {}; run `pgshadow primary configure --restart` or `docker restart {name}`",
            pending.join(", ")
        ));
        return Ok(());
    }
    let step = reporter.step(&format!("restart {name} for {}", pending.join(", ")));
    engine.stop_container(name, 60).await?;
    engine.start_existing(name).await?;
    server::wait_until_ready(engine, name, Duration::from_secs(120)).await?;
    step.done("");
    Ok(())
}
