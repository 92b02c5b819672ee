//! `pgshadow config check|show` through the real binary: exit codes and messages.

mod common;

use common::*;

#[test]
fn config_check_prints_a_summary_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgshadow.yaml");
    std::fs::write(
        &file,
        "primary:\n  host: 203.0.113.10\nstandby:\n  data_dir: data\n",
    )
    .unwrap();
    let out = pgshadow("cli")
        .args(["-c", file.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("ok: "), "{stdout}");
    assert!(stdout.contains("primary 203.0.113.10:5432"), "{stdout}");
    assert!(
        stdout.contains(&format!("in {}", dir.path().join("data").display())),
        "{stdout}"
    );
}

#[test]
fn config_check_exits_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgshadow.yaml");
    std::fs::write(&file, "standby:\n  port: 99999\n").unwrap();
    let out = pgshadow("cli")
        .args(["-c", file.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "error: {}:2: standby.port: invalid port `99999`: expected a number from 1 to 65535",
        file.display()
    );
    assert_eq!(stderr.trim(), expected);
}

#[test]
fn a_named_config_file_that_does_not_exist_exits_2() {
    let out = pgshadow("cli")
        .args(["-c", "/nonexistent/x.yaml", "config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: /nonexistent/x.yaml: config file does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
}

#[test]
fn config_show_says_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgshadow.yaml");
    std::fs::write(
        &file,
        "image: pgshadow/postgres:15\nprimary:\n  port: 6543\n",
    )
    .unwrap();
    let out = pgshadow("cli")
        .args(["-c", file.to_str().unwrap(), "config", "show", "--json"])
        .env("PGSHADOW_REPLICATION_USER", "repl")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["primary.port"]["value"], "6543");
    assert_eq!(
        shown["primary.port"]["source"],
        format!("file {}:3", file.display())
    );
    assert_eq!(shown["replication.user"]["value"], "repl");
    assert_eq!(
        shown["replication.user"]["source"],
        "env PGSHADOW_REPLICATION_USER"
    );
    assert_eq!(shown["standby.owner"]["source"], "default");
}

#[test]
fn every_help_has_an_example() {
    for args in [&["--help"][..], &["config", "--help"]] {
        let out = pgshadow("cli").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Example"),
            "{args:?} help lacks an example:\n{text}"
        );
    }
}

#[test]
fn config_show_lists_each_sides_docker_engine_and_refuses_two_for_one_side() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgshadow.yaml");
    std::fs::write(&file, "standby:\n  docker_host: tcp://vps2:2376\n").unwrap();
    let out = pgshadow("cli")
        .args(["-c", file.to_str().unwrap(), "config", "show", "--json"])
        .env("PGSHADOW_PRIMARY_DOCKER_CONTEXT", "vps1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["standby.docker_host"]["value"], "tcp://vps2:2376");
    assert_eq!(
        shown["standby.docker_host"]["source"],
        format!("file {}:2", file.display())
    );
    assert_eq!(shown["primary.docker_context"]["value"], "vps1");
    assert_eq!(shown["primary.docker_host"]["source"], "default");

    let out = pgshadow("cli")
        .args(["-c", file.to_str().unwrap(), "config", "check"])
        .env("PGSHADOW_STANDBY_DOCKER_CONTEXT", "vps2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`standby.docker_host`") && stderr.contains("`standby.docker_context`"),
        "{stderr}"
    );
}
