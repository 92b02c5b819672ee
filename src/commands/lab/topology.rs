//! Where the lab's two servers run and how they reach each other: one
//! engine, or the standby on another engine (`--remote-standby`), and the
//! addresses, certificate names and pg_hba source that wiring implies.

use std::path::Path;

use super::Globals;
use crate::config::Config;
use crate::datadir::DataHost;
use crate::docker::Engine;
use crate::error::Error;
use crate::progress::Reporter;

/// The two engines of a lab: the same one unless the standby is remote.
pub(super) struct Engines {
    pub primary: Engine,
    pub standby: Engine,
}

impl Engines {
    /// The engines an existing lab's config names.
    pub async fn of(globals: &Globals, config: &Config) -> Result<Engines, Error> {
        Ok(Engines {
            primary: globals.primary_engine(config).await?,
            standby: globals.standby_engine(config).await?,
        })
    }
}

/// What `lab up` was asked for.
pub(super) struct Lab<'a> {
    pub dir: &'a Path,
    pub prefix: &'a str,
    pub user: &'a str,
    pub remote_standby: Option<&'a crate::config::DockerHost>,
    pub primary_address: Option<String>,
    pub standby_address: Option<std::net::IpAddr>,
}

/// The addresses the lab wires together: where the standby dials the
/// primary, and where the primary sees it come from (pg_hba.conf).
pub(super) struct Addresses {
    pub primary: String,
    pub standby: String,
    /// Every address the primary's certificate names.
    pub sans: Vec<String>,
}

/// On one engine both are the bridge's gateway. With a remote standby on
/// this machine, the standby dials its own engine's gateway (this host,
/// on that bridge) and is seen from this engine's gateway.
pub(super) async fn addresses(engines: &Engines, lab: &Lab<'_>) -> Result<Addresses, Error> {
    let local = bridge_gateway(&engines.primary).await?;
    if lab.remote_standby.is_none() {
        return Ok(Addresses {
            primary: local.clone(),
            standby: local.clone(),
            sans: vec![local],
        });
    }
    let primary = match &lab.primary_address {
        Some(address) => address.clone(),
        None => bridge_gateway(&engines.standby).await?,
    };
    let standby = lab
        .standby_address
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| local.clone());
    let mut sans = vec![primary.clone()];
    if local != primary {
        // A standby moved to this engine later dials the primary here.
        sans.push(local);
    }
    Ok(Addresses {
        primary,
        standby,
        sans,
    })
}

async fn bridge_gateway(engine: &Engine) -> Result<String, Error> {
    engine
        .network_gateway("bridge")
        .await?
        .ok_or_else(|| Error::Failed {
            message: format!(
                "the default bridge network of the engine at {} has no gateway address",
                engine.endpoint
            ),
            hint: Some("the lab needs Docker's default bridge network".into()),
        })
}

/// Deletes the standby's data directory on its remote host, through a
/// helper there (the folder on this machine holds only the rest).
pub(super) async fn purge_remote_standby(
    engine: &Engine,
    config: &Config,
    reporter: &Reporter,
) -> Result<(), Error> {
    let Some(data_dir) = config.standby.data_dir.as_deref() else {
        return Ok(());
    };
    let files = DataHost::open(engine, &config.image, data_dir).await?;
    let removed = files.remove_staging(data_dir).await;
    files.close().await;
    removed?;
    reporter.line(&format!(
        "removed {} on the engine at {}",
        data_dir.display(),
        engine.endpoint
    ));
    Ok(())
}
