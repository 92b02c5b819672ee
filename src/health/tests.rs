//! Thresholds, states and LSN arithmetic.

use super::*;

fn healthy() -> Report {
    Report {
        role: "standby".into(),
        container: "pg-standby".into(),
        running: true,
        streaming: true,
        receiver_status: Some("streaming".into()),
        lag_bytes: Some(0),
        replay_delay_seconds: Some(2.0),
        cert_days_left: Some(300),
        ..Default::default()
    }
}

#[test]
fn lsns_parse_into_byte_positions() {
    assert_eq!(parse_lsn("0/3000060"), Some(0x3000060));
    assert_eq!(parse_lsn("1/0"), Some(1 << 32));
    assert_eq!(parse_lsn("nonsense"), None);
}

#[test]
fn a_streaming_standby_within_limits_is_ok() {
    let mut report = healthy();
    evaluate(&mut report, &Thresholds::default());
    assert_eq!(report.state, Some(State::Ok));
    assert!(report.problems.is_empty());
}

#[test]
fn lag_thresholds_give_warning_then_critical() {
    let limits = Thresholds {
        warn_lag: 1000,
        crit_lag: 5000,
        ..Default::default()
    };
    let mut report = Report {
        lag_bytes: Some(2000),
        ..healthy()
    };
    evaluate(&mut report, &limits);
    assert_eq!(report.state, Some(State::Warning));
    assert_eq!(
        report.problems,
        ["lag 2000 bytes is at or above the warning threshold 1000"]
    );
    let mut report = Report {
        lag_bytes: Some(6000),
        ..healthy()
    };
    evaluate(&mut report, &limits);
    assert_eq!(report.state, Some(State::Critical));
}

#[test]
fn an_idle_primary_does_not_make_the_delay_a_problem() {
    let mut report = Report {
        replay_delay_seconds: Some(99_999.0),
        primary_idle: true,
        ..healthy()
    };
    evaluate(&mut report, &Thresholds::default());
    assert_eq!(report.state, Some(State::Ok));
    let mut report = Report {
        replay_delay_seconds: Some(99_999.0),
        ..healthy()
    };
    evaluate(&mut report, &Thresholds::default());
    assert_eq!(report.state, Some(State::Critical));
}

#[test]
fn not_streaming_or_stopped_is_critical() {
    let mut report = Report {
        streaming: false,
        receiver_status: Some("waiting".into()),
        ..healthy()
    };
    evaluate(&mut report, &Thresholds::default());
    assert_eq!(report.state, Some(State::Critical));
    assert_eq!(
        report.problems,
        ["not streaming from the primary (receiver: waiting)"]
    );
    let mut report = Report {
        running: false,
        ..healthy()
    };
    evaluate(&mut report, &Thresholds::default());
    assert_eq!(
        report.problems,
        ["standby container pg-standby is not running"]
    );
}

#[test]
fn certificates_warn_before_they_expire() {
    let mut report = Report {
        cert_days_left: Some(10),
        ..healthy()
    };
    evaluate(&mut report, &Thresholds::default());
    assert_eq!(report.state, Some(State::Warning));
    let mut report = Report {
        cert_days_left: Some(-1),
        ..healthy()
    };
    evaluate(&mut report, &Thresholds::default());
    assert_eq!(report.state, Some(State::Critical));
}

#[test]
fn an_inactive_slot_retaining_wal_warns() {
    let view = PrimaryView {
        senders: vec![],
        slots: vec![Slot {
            name: "old".into(),
            active: false,
            retained_bytes: Some(1 << 20),
        }],
    };
    let mut report = Report {
        primary_view: Some(view),
        ..healthy()
    };
    evaluate(&mut report, &Thresholds::default());
    assert_eq!(report.state, Some(State::Warning));
    assert!(report.problems[0].starts_with("inactive slot old retains"));
}

#[test]
fn prometheus_lines_are_well_formed() {
    let mut report = healthy();
    evaluate(&mut report, &Thresholds::default());
    let text = prometheus(&report);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(name.starts_with("pgshadow_"), "{line}");
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
    }
    assert!(text.contains("pgshadow_streaming 1\n"));
    assert!(text.contains("pgshadow_state 0\n"));
}
