//! The reference Compose file runs a standby that pgshadow cloned.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::lab::Lab;
use common::*;

/// `docker compose` where the plugin exists, else Debian's `docker-compose`.
fn compose() -> Command {
    let plugin = Command::new("docker").args(["compose", "version"]).output();
    if plugin.map(|o| o.status.success()).unwrap_or(false) {
        let mut command = Command::new("docker");
        command.arg("compose");
        command
    } else {
        Command::new("docker-compose")
    }
}

#[test]
fn compose_runs_the_cloned_standby_and_it_streams() {
    let lab = Lab::up("compose");
    docker_ok(&["rm", "-f", &lab.standby()]);

    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/compose/standby.yaml");
    let project = unique("pgshadow-compose");
    let run = |args: &[&str]| {
        compose()
            .args(["-f", file, "-p", &project])
            .args(args)
            .env("PGSHADOW_IMAGE", IMAGE)
            .env("PGSHADOW_STANDBY_CONTAINER", lab.standby())
            .env("PGSHADOW_STANDBY_DATA_DIR", lab.standby_dir())
            .env("PGSHADOW_STANDBY_PORT", &port)
            .env("PGSHADOW_STANDBY_LABEL", test_labels("compose"))
            .output()
            .expect("run docker compose")
    };
    let up = run(&["up", "-d"]);
    assert!(up.status.success(), "{}", describe(&up));

    psql(
        &lab.primary(),
        "CREATE TABLE via_compose(x int); INSERT INTO via_compose VALUES (7)",
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = docker(&[
            "exec",
            &lab.standby(),
            "psql",
            "-U",
            "postgres",
            "-Atc",
            "SELECT x FROM via_compose",
        ]);
        if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "7" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the compose standby never caught up: {}",
            describe(&out)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        psql(&lab.standby(), "SELECT status FROM pg_stat_wal_receiver"),
        "streaming"
    );
    assert_eq!(psql(&lab.standby(), "SHOW ssl"), "on");

    let down = run(&["down"]);
    assert!(down.status.success(), "{}", describe(&down));
}
