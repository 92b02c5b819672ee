//! `pgshadow clone-standby`: clone the primary over mutual TLS into a
//! staging directory, finalize and verify it, swap it into place and start
//! a streaming standby container. See DESIGN.md, "The flow of clone-standby".

mod preflight;
mod stages;
mod summary;

pub(crate) use preflight::{check_container_free, check_dir_unused, check_target};
pub use stages::Options;
pub(crate) use stages::standby_spec;
pub use summary::Summary;

use std::time::Duration;

use clap::Args;

use super::Globals;
use crate::config::Config;
use crate::datadir::DataHost;
use crate::docker::Engine;
use crate::error::Error;

const EXAMPLES: &str = "\
Examples:
  pgshadow clone-standby --dry-run
  pgshadow clone-standby --compress server-zstd
  pgshadow clone-standby --compress none
  pgshadow -c /etc/pgshadow.yaml clone-standby --force --timeout 300";

/// Clone the primary into a new streaming standby container.
///
/// Runs on the standby's host. Reads pki_dir (ca.crt, client.crt, client.key,
/// and standby.* when present), primary.host/port, replication.*, standby.*
/// and image. Nothing is written until every preflight check passes; a
/// failure or Ctrl-C removes what this run created.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct CloneArgs {
    /// Replace a non-empty standby.data_dir (the old one is kept as <dir>.replaced-<time>)
    #[arg(long)]
    pub force: bool,

    /// Run the preflight checks, print each, and stop
    #[arg(long)]
    pub dry_run: bool,

    /// Skip pg_verifybackup on the copy (the summary says so)
    #[arg(long)]
    pub no_verify: bool,

    /// Seconds to wait for the standby to start streaming
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,

    /// Compression on the wire, passed to pg_basebackup (server-zstd, server-lz4,
    /// server-zstd:level=1, or none) [default: server-zstd when primary.host is not local
    /// (not loopback, private or link-local), else none]
    #[arg(long, value_name = "METHOD")]
    pub compress: Option<String>,

    /// Bandwidth limit, passed to pg_basebackup (e.g. 32M for 32 MB/s)
    #[arg(long, value_name = "RATE")]
    pub max_rate: Option<String>,

    /// Print the summary as JSON on stdout (progress goes to stderr)
    #[arg(long)]
    pub json: bool,
}

/// Runs `clone-standby`.
pub async fn run(globals: &Globals, args: CloneArgs) -> Result<u8, Error> {
    let config = globals.load_config(Vec::new())?;
    let reporter = crate::progress::Reporter::new(globals.quiet, args.json);
    let engine = globals.standby_engine(&config).await?;
    let data_dir = config.require_standby_data_dir("clone-standby")?;
    let files = DataHost::open(&engine, &config.image, data_dir).await?;
    let result = clone(&engine, &files, &config, &reporter, args).await;
    files.close().await;
    result
}

async fn clone(
    engine: &Engine,
    files: &DataHost,
    config: &Config,
    reporter: &crate::progress::Reporter,
    args: CloneArgs,
) -> Result<u8, Error> {
    let mut lines = Vec::new();
    let ready = preflight::run(engine, files, config, args.force, args.dry_run, &mut lines).await;
    if args.dry_run {
        // A failure before the first check (a missing key) is not a check result.
        if let Err(e) = ready
            && lines.iter().all(|l| l.ok)
        {
            return Err(e);
        }
        return Ok(print_checks(reporter, &lines, args.json));
    }
    let ready = ready.map_err(|e| e.at("clone-standby", "preflight"))?;
    reporter.line(&format!("preflight: {} checks passed", lines.len()));

    let options = Options {
        verify: !args.no_verify,
        timeout: Duration::from_secs(args.timeout),
        compress: crate::pg::compression::choose(args.compress.as_deref(), &ready.target.host),
        max_rate: args.max_rate,
    };
    let summary = stages::run(engine, files, config, reporter, ready, options).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary.to_json()).expect("json")
        );
    } else {
        reporter.line(&summary.render());
    }
    Ok(0)
}

/// Preflight and every stage, for callers that compose commands (`lab up`).
/// `engine` is the standby's.
pub async fn clone_standby(
    engine: &Engine,
    config: &Config,
    reporter: &crate::progress::Reporter,
    force: bool,
    options: Options,
) -> Result<Summary, Error> {
    let data_dir = config.require_standby_data_dir("clone-standby")?;
    let files = DataHost::open(engine, &config.image, data_dir).await?;
    let mut lines = Vec::new();
    let ready = preflight::run(engine, &files, config, force, false, &mut lines)
        .await
        .map_err(|e| e.at("clone-standby", "preflight"));
    let result = match ready {
        Ok(ready) => stages::run(engine, &files, config, reporter, ready, options).await,
        Err(e) => Err(e),
    };
    files.close().await;
    result
}

/// Prints the dry run's checks; exit 0 when all passed, 1 otherwise.
fn print_checks(
    reporter: &crate::progress::Reporter,
    lines: &[preflight::CheckLine],
    json: bool,
) -> u8 {
    let all_ok = lines.iter().all(|l| l.ok);
    if json {
        let checks: Vec<_> = lines
            .iter()
            .map(|l| serde_json::json!({"check": l.name, "ok": l.ok, "detail": l.detail, "hint": l.hint}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&checks).expect("json"));
    } else {
        for line in lines {
            let status = if line.ok { "ok" } else { "FAILED" };
            println!("{status:>6}  {}: {}", line.name, line.detail);
            if let Some(hint) = &line.hint {
                println!("        hint: {hint}");
            }
        }
        reporter.line(if all_ok {
            "dry run: all checks passed"
        } else {
            "dry run: some checks failed"
        });
    }
    if all_ok { 0 } else { crate::error::EXIT_FAILED }
}
