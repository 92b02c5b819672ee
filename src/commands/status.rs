//! `pgshadow status`: is the standby current? For people (a table), for
//! monitors (exit codes 0-3, `--json`, `--prometheus`, `--push`).

use clap::Args;

use super::Globals;
use crate::config::Config;
use crate::docker::{ContainerState, Engine};
use crate::error::Error;
use crate::health::{self, PrimaryView, Report, Sender, Slot, State, Thresholds, parse_lsn};
use crate::pg::server::query;

const EXAMPLES: &str = "\
Examples:
  pgshadow status
  pgshadow status --json --warn-lag 1048576 --crit-lag 67108864
  pgshadow status --prometheus > /var/lib/node_exporter/textfile/pgshadow.prom
  pgshadow status --push https://kuma.example.com/api/push/AbCdEf
Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (as monitoring plugins use them).";

/// Show replication lag, delay and certificate lifetimes of the standby.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct StatusArgs {
    /// One JSON object on stdout
    #[arg(long, conflicts_with = "prometheus")]
    pub json: bool,
    /// Prometheus text exposition format (for node_exporter's textfile collector)
    #[arg(long)]
    pub prometheus: bool,
    /// Lag in bytes from which the state is WARNING
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_name = "BYTES")]
    pub warn_lag: u64,
    /// Lag in bytes from which the state is CRITICAL
    #[arg(long, default_value_t = 256 * 1024 * 1024, value_name = "BYTES")]
    pub crit_lag: u64,
    /// Replay delay from which the state is WARNING (ignored while the primary is idle)
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    pub warn_delay: f64,
    /// Replay delay from which the state is CRITICAL (ignored while the primary is idle)
    #[arg(long, default_value_t = 1800.0, value_name = "SECONDS")]
    pub crit_delay: f64,
    /// Certificate days left from which the state is WARNING (expired is CRITICAL)
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub cert_warn_days: i64,
    /// Also report to an Uptime Kuma push monitor (status, msg, ping = replay delay in ms)
    #[arg(long, value_name = "URL")]
    pub push: Option<String>,
    /// Add the primary's view (its container on primary.docker_host's engine): senders and slots
    #[arg(long)]
    pub primary: bool,
}

/// Runs `status`; the exit code is the monitoring state.
pub async fn run(globals: &Globals, args: StatusArgs) -> Result<u8, Error> {
    let config = globals.load_config(Vec::new())?;
    let limits = Thresholds {
        warn_lag: args.warn_lag,
        crit_lag: args.crit_lag,
        warn_delay: args.warn_delay,
        crit_delay: args.crit_delay,
        cert_warn_days: args.cert_warn_days,
    };
    let mut report = match globals.standby_engine(&config).await {
        Ok(engine) => {
            let mut report = gather(&engine, &config).await;
            if args.primary {
                add_primary_view(globals, &config, &mut report).await;
            }
            report
        }
        Err(e) => unknown(&config, &e),
    };
    if report.state.is_none() {
        health::evaluate(&mut report, &limits);
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    } else if args.prometheus {
        print!("{}", health::prometheus(&report));
    } else {
        print!("{}", health::table(&report));
    }
    if let Some(url) = &args.push
        && let Err(e) = crate::push::uptime_kuma(url, &report).await
    {
        // A failed push is reported and does not change the state.
        eprintln!("warning: push to {} failed: {e}", crate::push::redact(url));
    }
    Ok(report.state.unwrap_or(State::Unknown).exit_code())
}

/// The report when Docker itself cannot be asked: UNKNOWN.
fn unknown(config: &Config, error: &Error) -> Report {
    Report {
        role: "unknown".into(),
        container: config.standby.container.clone(),
        state: Some(State::Unknown),
        problems: vec![format!(
            "{error}{}",
            error.hint().map(|h| format!(" ({h})")).unwrap_or_default()
        )],
        ..Default::default()
    }
}

/// The primary's senders and slots, read through the primary's engine
/// (which may be another host's); a failure is a problem in the report.
async fn add_primary_view(globals: &Globals, config: &Config, report: &mut Report) {
    let view = match globals.primary_engine(config).await {
        Ok(engine) => primary_view(&engine, &config.primary.container).await,
        Err(e) => Err(e),
    };
    match view {
        Ok(view) => report.primary_view = Some(view),
        Err(e) => report
            .problems
            .push(format!("cannot read the primary's view: {e}")),
    }
}

/// Measures the standby through its engine.
pub async fn gather(engine: &Engine, config: &Config) -> Report {
    let container = &config.standby.container;
    let mut report = Report {
        container: container.clone(),
        role: "unknown".into(),
        ..Default::default()
    };
    report.running = matches!(
        engine.container_state(container).await,
        Ok(ContainerState::Present { running: true, .. })
    );
    if report.running
        && let Err(e) = read_standby(engine, container, &mut report).await
    {
        report
            .problems
            .push(format!("cannot query {container}: {e}"));
        report.state = Some(State::Critical);
    }
    certificate_days(config, &mut report);
    if report.role == "standby" {
        primary_position(engine, config, &mut report).await;
    }
    report
}

async fn read_standby(engine: &Engine, container: &str, report: &mut Report) -> Result<(), Error> {
    let sql = "SELECT pg_is_in_recovery(), \
        coalesce((SELECT status FROM pg_stat_wal_receiver), ''), \
        coalesce((SELECT slot_name FROM pg_stat_wal_receiver), ''), \
        coalesce(pg_last_wal_receive_lsn()::text, ''), coalesce(pg_last_wal_replay_lsn()::text, ''), \
        coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::text, '')";
    let row = query(engine, container, sql).await?;
    let fields: Vec<&str> = row.split('|').collect();
    let field = |i: usize| {
        fields
            .get(i)
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string())
    };

    report.role = if field(0).as_deref() == Some("t") {
        "standby"
    } else {
        "primary"
    }
    .into();
    report.receiver_status = field(1);
    report.streaming = report.receiver_status.as_deref() == Some("streaming");
    report.slot = field(2);
    report.received_lsn = field(3);
    report.replayed_lsn = field(4);
    report.replay_delay_seconds = field(5).and_then(|s| s.parse().ok());
    let (received, replayed) = (
        report.received_lsn.as_deref().and_then(parse_lsn),
        report.replayed_lsn.as_deref().and_then(parse_lsn),
    );
    if let (Some(received), Some(replayed)) = (received, replayed) {
        report.replay_lag_bytes = Some(received.saturating_sub(replayed));
    }
    Ok(())
}

fn certificate_days(config: &Config, report: &mut Report) {
    let dir = &config.pki_dir;
    report.cert_days_left = crate::pki::days_left(&dir.join("client.crt")).ok();
    let standby = dir.join("standby.crt");
    if standby.exists() {
        report.standby_cert_days_left = crate::pki::days_left(&standby).ok();
    }
}

/// The primary's WAL position over a replication connection with the
/// client certificate (IDENTIFY_SYSTEM), giving the true byte lag.
async fn primary_position(engine: &Engine, config: &Config, report: &mut Report) {
    let Some(host) = config.primary.host.clone() else {
        return;
    };
    let target = crate::pg::login::LoginTarget {
        host,
        port: config.primary.port,
        user: config.replication.user.clone(),
        sslmode: config.replication.sslmode,
        ca: config.pki_dir.join("ca.crt"),
        cert: config.pki_dir.join("client.crt"),
        key: config.pki_dir.join("client.key"),
    };
    match crate::pg::login::probe_replication_login(engine, &config.image, &target).await {
        Ok(identity) => {
            let primary = parse_lsn(&identity.wal_position);
            let replayed = report.replayed_lsn.as_deref().and_then(parse_lsn);
            if let (Some(primary), Some(replayed)) = (primary, replayed) {
                report.lag_bytes = Some(primary.saturating_sub(replayed));
                report.primary_idle = replayed >= primary;
            }
            report.primary_lsn = Some(identity.wal_position);
        }
        Err(e) => report.primary_error = Some(e.to_string()),
    }
}

async fn primary_view(engine: &Engine, container: &str) -> Result<PrimaryView, Error> {
    let senders = query(
        engine,
        container,
        "SELECT application_name, coalesce(client_addr::text, 'local'), state, \
         coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint::text, '') FROM pg_stat_replication",
    )
    .await?;
    let slots = query(
        engine,
        container,
        "SELECT slot_name, active, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text, '') \
         FROM pg_replication_slots ORDER BY slot_name",
    )
    .await?;
    let rows = |text: &str| {
        text.lines()
            .map(|l| l.split('|').map(str::to_string).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    Ok(PrimaryView {
        senders: rows(&senders)
            .into_iter()
            .filter(|r| r.len() == 4)
            .map(|r| Sender {
                application_name: r[0].clone(),
                client_addr: r[1].clone(),
                state: r[2].clone(),
                replay_lag_bytes: r[3].parse().ok(),
            })
            .collect(),
        slots: rows(&slots)
            .into_iter()
            .filter(|r| r.len() == 3)
            .map(|r| Slot {
                name: r[0].clone(),
                active: r[1] == "t",
                retained_bytes: r[2].parse().ok(),
            })
            .collect(),
    })
}
