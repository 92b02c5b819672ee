//! The human table and the Prometheus text exposition of a [`Report`].

use std::fmt::Write;

use super::{Report, State};

fn or_dash<T: std::fmt::Display>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map(|v| v.to_string())
        .unwrap_or_else(|| "-".into())
}

/// A short table for people.
pub fn table(report: &Report) -> String {
    let state = report.state.unwrap_or(State::Unknown);
    let delay = match (report.replay_delay_seconds, report.primary_idle) {
        (Some(d), true) => format!("{d:.1}s (primary idle: time since its last commit)"),
        (Some(d), false) => format!("{d:.1}s"),
        (None, _) => "-".into(),
    };
    let rows = [
        ("state", format!("{state:?}").to_uppercase()),
        ("container", report.container.clone()),
        ("role", report.role.clone()),
        ("streaming", report.streaming.to_string()),
        ("receiver", or_dash(&report.receiver_status)),
        ("slot", or_dash(&report.slot)),
        ("received lsn", or_dash(&report.received_lsn)),
        ("replayed lsn", or_dash(&report.replayed_lsn)),
        ("primary lsn", or_dash(&report.primary_lsn)),
        (
            "lag",
            report
                .lag_bytes
                .map(|b| format!("{b} bytes"))
                .unwrap_or_else(|| "-".into()),
        ),
        ("replay delay", delay),
        (
            "client cert",
            report
                .cert_days_left
                .map(|d| format!("{d} days left"))
                .unwrap_or_else(|| "-".into()),
        ),
    ];
    let mut out = String::new();
    for (key, value) in rows {
        let _ = writeln!(out, "{key:<14}{value}");
    }
    if let Some(view) = &report.primary_view {
        for s in &view.senders {
            let lag = or_dash(&s.replay_lag_bytes);
            let _ = writeln!(
                out,
                "sender        {} from {} {} (lag {lag} bytes)",
                s.application_name, s.client_addr, s.state
            );
        }
        for s in &view.slots {
            let active = if s.active { "active" } else { "INACTIVE" };
            let _ = writeln!(
                out,
                "slot          {} {active}, retains {} bytes",
                s.name,
                or_dash(&s.retained_bytes)
            );
        }
    }
    for problem in &report.problems {
        let _ = writeln!(out, "problem       {problem}");
    }
    out
}

/// The text exposition format, for node_exporter's textfile collector.
pub fn prometheus(report: &Report) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, value: Option<f64>| {
        if let Some(value) = value {
            let _ = writeln!(
                out,
                "# HELP pgshadow_{name} {help}\n# TYPE pgshadow_{name} gauge\npgshadow_{name} {value}"
            );
        }
    };
    let flag = |b: bool| Some(if b { 1.0 } else { 0.0 });
    metric(
        "state",
        "0 ok, 1 warning, 2 critical, 3 unknown",
        report.state.map(|s| s.exit_code() as f64),
    );
    metric(
        "up",
        "The standby container is running",
        flag(report.running),
    );
    metric(
        "in_recovery",
        "The server is a standby",
        flag(report.role == "standby"),
    );
    metric(
        "streaming",
        "The WAL receiver streams",
        flag(report.streaming),
    );
    metric(
        "lag_bytes",
        "Primary WAL position minus replayed position",
        report.lag_bytes.map(|v| v as f64),
    );
    metric(
        "replay_lag_bytes",
        "Received but not yet replayed",
        report.replay_lag_bytes.map(|v| v as f64),
    );
    metric(
        "replay_delay_seconds",
        "Seconds since the last replayed transaction",
        report.replay_delay_seconds,
    );
    metric(
        "primary_idle",
        "The standby has replayed all the primary wrote",
        flag(report.primary_idle),
    );
    metric(
        "client_cert_days_left",
        "Days until the client certificate expires",
        report.cert_days_left.map(|d| d as f64),
    );
    metric(
        "standby_cert_days_left",
        "Days until the standby certificate expires",
        report.standby_cert_days_left.map(|d| d as f64),
    );
    out
}
