//! `pgshadow status` and `pgshadow promote` on a real lab.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;

use common::lab::Lab;
use common::*;

fn status_json(lab: &Lab, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut args = vec!["status", "--json"];
    args.extend_from_slice(extra);
    let out = lab.run(&args, &[]);
    let value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    (out.status.code(), value)
}

#[test]
fn status_reports_health_lag_and_pushes() {
    let lab = Lab::up("status-lag");
    let (code, report) = status_json(&lab, &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["streaming"], true);
    assert_eq!(report["role"], "standby");
    assert_eq!(report["state"], "ok");
    assert!(report["cert_days_left"].as_i64().unwrap() > 300);
    for key in [
        "receiver_status",
        "lag_bytes",
        "replay_delay_seconds",
        "slot",
        "problems",
    ] {
        assert!(report.get(key).is_some(), "{key} missing from {report:#}");
    }

    // Prometheus text: every sample line is `pgshadow_<name> <number>`.
    let out = lab.run(&["status", "--prometheus"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(samples.len() >= 5, "{text}");
    for line in samples {
        let (name, value) = line.split_once(' ').expect("name and value");
        assert!(
            name.starts_with("pgshadow_")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
    }
    assert!(text.contains("pgshadow_streaming 1"));

    // --push: the monitor gets status=up, a message and the delay (which
    // exists once the standby has replayed a transaction).
    psql(&lab.primary(), "CREATE TABLE pushed(x int)");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while psql(
        &lab.standby(),
        "SELECT count(*) FROM pg_class WHERE relname = 'pushed'",
    ) != "1"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the table never reached the standby"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 2048];
        let n = conn.read(&mut buf).unwrap();
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let url = format!("http://127.0.0.1:{port}/api/push/token123");
    let out = lab.run(&["status", "--push", &url], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let request = server.join().unwrap();
    let first = request.lines().next().unwrap();
    assert!(
        first.starts_with("GET /api/push/token123?status=up&msg=Ok"),
        "{first}"
    );
    assert!(first.contains("&ping="), "{first}");

    // Pause replay and write: the lag grows and the thresholds decide.
    psql(&lab.standby(), "SELECT pg_wal_replay_pause()");
    pgbench(&lab.primary(), &["-i", "-s", "2", "-q"]);
    pgbench(&lab.primary(), &["-T", "3", "-c", "2"]);
    let (code, report) = status_json(&lab, &["--warn-lag", "1000", "--crit-lag", "100000000000"]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["state"], "warning");
    assert!(
        report["lag_bytes"].as_u64().unwrap() > 1_000_000,
        "{report:#}"
    );
    let (code, report) = status_json(&lab, &["--warn-lag", "1000", "--crit-lag", "2000"]);
    assert_eq!(code, Some(2), "{report:#}");
    assert_eq!(report["state"], "critical");
    assert!(
        report["problems"][0]
            .as_str()
            .unwrap()
            .contains("critical threshold"),
        "{report:#}"
    );
    psql(&lab.standby(), "SELECT pg_wal_replay_resume()");
}

#[test]
fn a_stopped_primary_is_critical_and_promote_fails_over() {
    let lab = Lab::up("status-promote");
    docker_ok(&["stop", &lab.primary()]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let report = loop {
        let (code, report) = status_json(&lab, &[]);
        if code == Some(2) || std::time::Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(report["state"], "critical", "{report:#}");
    assert_eq!(report["streaming"], false);
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("not streaming from the primary"),
        "{problems}"
    );
    assert!(problems.contains("cannot ask the primary"), "{problems}");

    let out = lab.run(&["promote"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    psql(
        &lab.standby(),
        "CREATE TABLE after_failover(x int); INSERT INTO after_failover VALUES (1)",
    );
    assert_eq!(
        psql(&lab.standby(), "SELECT count(*) FROM after_failover"),
        "1"
    );
    let (_, report) = status_json(&lab, &[]);
    assert_eq!(report["role"], "primary", "{report:#}");

    let out = lab.run(&["promote"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a standby"));
}
