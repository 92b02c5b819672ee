//! `pgshadow promote`: fail over to the standby. Promotes it with
//! `pg_promote(wait)`, confirms it left recovery and accepts a write, and
//! says what is left to do by hand.

use std::time::Duration;

use clap::Args;

use super::Globals;
use crate::error::Error;
use crate::pg::server::{self, query};

const EXAMPLES: &str = "\
Examples:
  pgshadow promote --dry-run
  pgshadow promote --wait 120";

/// Promote the standby to a primary (failover).
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct PromoteArgs {
    /// Seconds to wait for the promotion to finish
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub wait: u32,
    /// Check that the standby can be promoted and say what would happen
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `promote`.
pub async fn run(globals: &Globals, args: PromoteArgs) -> Result<u8, Error> {
    let config = globals.load_config(Vec::new())?;
    let reporter = globals.reporter();
    let engine = globals.standby_engine(&config).await?;
    let name = &config.standby.container;

    let in_recovery = query(&engine, name, "SELECT pg_is_in_recovery()").await?;
    if in_recovery != "t" {
        return Err(Error::Failed {
            message: format!("{name} is not a standby: it is not in recovery (already promoted?)"),
            hint: Some("nothing to promote; `pgshadow status` shows its role".into()),
        });
    }
    let receiver = query(
        &engine,
        name,
        "SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')",
    )
    .await?;
    if args.dry_run {
        reporter.line(&format!(
            "dry run: {name} is a standby (receiver: {receiver}); `pgshadow promote` would run \
             pg_promote(true, {}) and check that it accepts writes",
            args.wait
        ));
        return Ok(0);
    }

    let step = reporter.step(&format!("promote {name}"));
    let promoted = query(
        &engine,
        name,
        &format!("SELECT pg_promote(true, {})", args.wait),
    )
    .await?;
    if promoted != "t" {
        step.failed("not finished");
        return Err(Error::Failed {
            message: format!("{name} did not finish promoting within {}s", args.wait),
            hint: Some(format!(
                "see `docker logs {name}`; run again with a larger --wait"
            )),
        });
    }
    step.done("");

    let step = reporter.step("confirm it left recovery and accepts a write");
    server::wait_until_ready(&engine, name, Duration::from_secs(30)).await?;
    let check = query(
        &engine,
        name,
        "SELECT NOT pg_is_in_recovery(), txid_current() > 0",
    )
    .await?;
    if check != "t|t" {
        return Err(Error::Failed {
            message: format!("{name} still refuses writes after promotion ({check})"),
            hint: None,
        });
    }
    step.done("writable");
    reporter.line(&next_steps(name, &config));
    Ok(0)
}

fn next_steps(name: &str, config: &crate::config::Config) -> String {
    let slot = config.replication.slot.as_deref().unwrap_or("<slot>");
    format!(
        "{name} is a primary now. Left to do:\n\
         1. point clients at this host ({}) instead of the old primary;\n\
         2. on the old primary, if it comes back: do NOT start it as a primary; \
         drop its slot ({slot}) and its pgshadow pg_hba line, then rebuild it as a standby of this one with clone-standby;\n\
         3. `pgshadow status` now reports role: primary.",
        config
            .standby
            .port
            .map(|p| format!("port {p}"))
            .unwrap_or_else(|| "its published port".into())
    )
}
