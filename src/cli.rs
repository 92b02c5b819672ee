//! The command line: global options and the list of subcommands. Each
//! subcommand's own flags live beside its code in `commands/`.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

use crate::commands;

const EXAMPLE: &str = "\
Examples:
  pgshadow config check
  pgshadow -c /etc/pgshadow.yaml config show";

/// Give a PostgreSQL server in Docker a live, certificate-authenticated standby.
///
/// pgshadow clones a streaming-replication standby over mutual TLS, keeps its
/// certificates and recovery settings right, and starts it as a container.
/// Settings come from flags, then PGSHADOW_* variables, then pgshadow.yaml,
/// then defaults.
#[derive(Debug, Parser)]
#[command(name = "pgshadow", version, after_help = EXAMPLE)]
pub struct Cli {
    /// Config file; relative paths in it resolve against its folder
    /// [default: ./pgshadow.yaml, which may be absent]
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        env = "PGSHADOW_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// Docker engine to drive when primary.docker_host / standby.docker_host
    /// (or a docker_context) say nothing: unix:///PATH, tcp://HOST:PORT (TLS
    /// with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH) or ssh://[USER@]HOST
    /// [default: the local socket]
    #[arg(long, global = true, env = "DOCKER_HOST", value_name = "URL")]
    pub docker_host: Option<String>,

    /// More log output on stderr (-v info, -vv debug, -vvv trace); PGSHADOW_LOG overrides
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only errors and the final result
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check or show the effective configuration
    Config(commands::config::ConfigArgs),
    /// Make the private CA and the certificates for mutual-TLS replication
    Pki(commands::pki::PkiArgs),
    /// Close the primary's published port to everyone but the standby (DOCKER-USER rules)
    #[command(long_about = commands::firewall::ABOUT)]
    Firewall(commands::firewall::FirewallArgs),
    /// Clone the primary into a new streaming standby container
    CloneStandby(commands::clone::CloneArgs),
    /// Prepare the primary for mutual-TLS replication (configure, or create and configure)
    Primary(commands::primary::PrimaryArgs),
    /// A local primary with a streaming standby in one command (CI, first tries)
    Lab(commands::lab::LabArgs),
    /// Show lag, delay and certificate lifetimes; exit 0-3 like a monitoring plugin
    Status(commands::status::StatusArgs),
    /// Promote the standby to a primary (failover)
    Promote(commands::promote::PromoteArgs),
    /// Stream the standby's data directory as an archive (to move it to another host)
    Export(commands::migrate::export::ExportArgs),
    /// Make this host's standby from an archive written by `pgshadow export`
    Import(commands::migrate::import::ImportArgs),
}
