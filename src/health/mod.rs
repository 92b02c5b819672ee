//! Replication health: what `pgshadow status` measured, how thresholds turn
//! it into a monitoring state, and how it is rendered (table, JSON,
//! Prometheus text). Pure: the measuring happens in `commands::status`.

mod render;

use serde::Serialize;

pub use render::{prometheus, table};

/// A monitoring-plugin state; the exit code is its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl State {
    /// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub fn exit_code(self) -> u8 {
        self as u8
    }
}

/// Everything `status` measured. `None` means it could not be measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// `standby` or `primary` (after a promotion), or `unknown`.
    pub role: String,
    pub container: String,
    pub running: bool,
    pub streaming: bool,
    pub receiver_status: Option<String>,
    pub slot: Option<String>,
    pub received_lsn: Option<String>,
    pub replayed_lsn: Option<String>,
    /// Received but not yet replayed.
    pub replay_lag_bytes: Option<u64>,
    /// The primary's current WAL position minus what the standby replayed.
    pub lag_bytes: Option<u64>,
    pub primary_lsn: Option<String>,
    /// `now() - pg_last_xact_replay_timestamp()`.
    pub replay_delay_seconds: Option<f64>,
    /// The standby has replayed everything the primary has: the delay only
    /// says how long ago the primary last committed.
    pub primary_idle: bool,
    /// Days left of the client certificate (and the standby's, when present).
    pub cert_days_left: Option<i64>,
    pub standby_cert_days_left: Option<i64>,
    /// Why the primary could not be asked for its WAL position, if it could not.
    pub primary_error: Option<String>,
    /// The primary's view (`--primary`), when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_view: Option<PrimaryView>,
    pub state: Option<State>,
    pub problems: Vec<String>,
}

/// The primary's side: its walsenders and slots.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PrimaryView {
    pub senders: Vec<Sender>,
    pub slots: Vec<Slot>,
}

/// One row of `pg_stat_replication`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sender {
    pub application_name: String,
    pub client_addr: String,
    pub state: String,
    pub replay_lag_bytes: Option<u64>,
}

/// One replication slot and the WAL it keeps on the primary's disk.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Slot {
    pub name: String,
    pub active: bool,
    pub retained_bytes: Option<u64>,
}

/// Where WARNING and CRITICAL start.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub warn_lag: u64,
    pub crit_lag: u64,
    pub warn_delay: f64,
    pub crit_delay: f64,
    pub cert_warn_days: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warn_lag: 16 * 1024 * 1024,
            crit_lag: 256 * 1024 * 1024,
            warn_delay: 300.0,
            crit_delay: 1800.0,
            cert_warn_days: 30,
        }
    }
}

/// Parses an LSN written `X/Y` (two hex halves) into a byte position.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.trim().split_once('/')?;
    Some((u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?)
}

/// Sets `state` and `problems` from what was measured.
pub fn evaluate(report: &mut Report, limits: &Thresholds) {
    let mut found: Vec<(State, String)> = Vec::new();
    let mut flag = |state: State, text: String| found.push((state, text));

    if !report.running {
        flag(
            State::Critical,
            format!("standby container {} is not running", report.container),
        );
    } else if report.role == "primary" {
        flag(
            State::Warning,
            format!(
                "{} is not in recovery: it was promoted and is a primary now",
                report.container
            ),
        );
    } else if !report.streaming {
        let status = report
            .receiver_status
            .as_deref()
            .unwrap_or("no WAL receiver");
        flag(
            State::Critical,
            format!("not streaming from the primary (receiver: {status})"),
        );
    }
    if let Some(error) = &report.primary_error {
        flag(
            State::Warning,
            format!("cannot ask the primary for its WAL position: {error}"),
        );
    }
    if let Some(lag) = report.lag_bytes.or(report.replay_lag_bytes) {
        grade(
            &mut flag,
            lag as f64,
            limits.warn_lag as f64,
            limits.crit_lag as f64,
            |v| format!("lag {v:.0} bytes"),
        );
    }
    if let Some(delay) = report.replay_delay_seconds.filter(|_| !report.primary_idle) {
        grade(
            &mut flag,
            delay,
            limits.warn_delay,
            limits.crit_delay,
            |v| format!("replay delay {v:.0}s"),
        );
    }
    for (name, days) in [
        ("client", report.cert_days_left),
        ("standby", report.standby_cert_days_left),
    ] {
        match days {
            Some(d) if d <= 0 => flag(
                State::Critical,
                format!("the {name} certificate has expired"),
            ),
            Some(d) if d <= limits.cert_warn_days => flag(
                State::Warning,
                format!("the {name} certificate expires in {d} days"),
            ),
            _ => {}
        }
    }
    for slot in report.primary_view.iter().flat_map(|v| &v.slots) {
        if !slot.active && slot.retained_bytes.unwrap_or(0) > 0 {
            let bytes = slot.retained_bytes.unwrap_or(0);
            flag(
                State::Warning,
                format!(
                    "inactive slot {} retains {bytes} bytes of WAL on the primary",
                    slot.name
                ),
            );
        }
    }
    report.state = Some(found.iter().map(|(s, _)| *s).max().unwrap_or(State::Ok));
    report.problems = found.into_iter().map(|(_, text)| text).collect();
}

fn grade(
    flag: &mut impl FnMut(State, String),
    value: f64,
    warn: f64,
    crit: f64,
    what: impl Fn(f64) -> String,
) {
    if value >= crit {
        flag(
            State::Critical,
            format!(
                "{} is at or above the critical threshold {crit:.0}",
                what(value)
            ),
        );
    } else if value >= warn {
        flag(
            State::Warning,
            format!(
                "{} is at or above the warning threshold {warn:.0}",
                what(value)
            ),
        );
    }
}

#[cfg(test)]
mod tests;
