//! `pgshadow pki` as an operator runs it: the files it writes, that
//! OpenSSL (what PostgreSQL uses) accepts them, exit codes and messages.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::{describe, pgshadow};

fn pki(args: &[&str]) -> Output {
    pgshadow("pki_cli")
        .arg("pki")
        .args(args)
        .output()
        .expect("run pgshadow")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn init(dir: &Path) {
    let out = pki(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--primary-host",
        "203.0.113.10,db.example.com",
        "--standby-host",
        "198.51.100.7",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("these tests need openssl (Debian package `openssl`; .ci/run installs it)")
}

#[test]
fn init_writes_a_set_that_openssl_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    init(&dir);

    let out = pki(&["inspect", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let files = ["server.crt", "client.crt", "standby.crt"];
    let mut args = vec!["verify", "-CAfile", "ca.crt"];
    args.extend(files);
    let verify = Command::new("openssl")
        .args(&args)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", describe(&verify));
    assert_eq!(
        String::from_utf8_lossy(&verify.stdout),
        "server.crt: OK\nclient.crt: OK\nstandby.crt: OK\n"
    );

    // The purposes PostgreSQL's OpenSSL checks: server for the primary, client for the standby.
    let ca = dir.join("ca.crt");
    let ca = ca.to_str().unwrap();
    for (file, purpose) in [("server.crt", "sslserver"), ("client.crt", "sslclient")] {
        let cert = dir.join(file);
        let out = openssl(&[
            "verify",
            "-purpose",
            purpose,
            "-CAfile",
            ca,
            cert.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{file} as {purpose}: {}",
            describe(&out)
        );
    }
    let wrong = openssl(&[
        "verify",
        "-purpose",
        "sslserver",
        "-CAfile",
        ca,
        dir.join("client.crt").to_str().unwrap(),
    ]);
    assert!(
        !wrong.status.success(),
        "a client certificate must not serve TLS"
    );

    let text = openssl(&[
        "x509",
        "-noout",
        "-text",
        "-in",
        dir.join("server.crt").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("IP Address:203.0.113.10, DNS:db.example.com"),
        "{text}"
    );
    assert!(text.contains("ASN1 OID: prime256v1"), "{text}");
}

#[test]
fn init_says_where_each_file_goes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let out = pki(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--primary-host",
        "10.0.0.1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    let stdout = String::from_utf8_lossy(&out.stdout);
    let d = dir.display();
    assert!(stdout.contains(&format!(
        "primary: {d}/server.crt, {d}/server.key, {d}/ca.crt"
    )));
    assert!(stdout.contains(&format!(
        "standby: {d}/client.crt, {d}/client.key, {d}/ca.crt\n"
    )));
    assert!(stdout.contains(&format!("offline: {d}/ca.key")));
    assert!(
        !dir.join("standby.crt").exists(),
        "no --standby-host, no standby.*"
    );
}

#[test]
fn bad_input_exits_with_a_message_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let d = dir.to_str().unwrap();

    let out = pki(&["init", "--dir", d]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).starts_with(
        "error: no primary host given: the server certificate needs the address the standby dials\n  hint: pass --primary-host"
    ), "{}", describe(&out));

    let out = pki(&["init", "--dir", d, "--primary-host", "db..example.com"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).starts_with("error: invalid host `db..example.com`: neither an IP"));

    let out = pki(&[
        "init",
        "--dir",
        d,
        "--primary-host",
        "10.0.0.1",
        "--days",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).starts_with("error: invalid --days `0`: expected a number of days"));
    assert!(!dir.exists(), "nothing may be written");

    let out = pki(&[
        "init",
        "--dir",
        "/proc/pgshadow-pki",
        "--primary-host",
        "10.0.0.1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).starts_with("error: create directory /proc/pgshadow-pki\n  caused by: "));
}

#[test]
fn existing_files_survive_init_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    init(&dir);
    let key = std::fs::read(dir.join("ca.key")).unwrap();

    let out = pki(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--primary-host",
        "10.0.0.2",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("refusing to overwrite ca.crt, ca.key, server.crt"));
    assert!(stderr(&out).contains("hint: pass --force to replace them"));
    assert_eq!(std::fs::read(dir.join("ca.key")).unwrap(), key);

    let out = pki(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--primary-host",
        "10.0.0.2",
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let kept: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ca.key.replaced-"))
        .collect();
    assert_eq!(kept.len(), 1, "the old CA key is kept aside");
    assert_eq!(std::fs::read(dir.join(&kept[0])).unwrap(), key);
}

#[test]
fn issue_rotates_a_leaf_and_keeps_the_old_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    init(&dir);
    let d = dir.to_str().unwrap();

    let out = pki(&[
        "issue",
        "client",
        "--dir",
        d,
        "--user",
        "standby_two",
        "--days",
        "90",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("kept "),
        "{}",
        describe(&out)
    );
    let out = pki(&[
        "issue",
        "server",
        "--dir",
        d,
        "--name",
        "standby",
        "--host",
        "standby.example.com",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    let out = pki(&["inspect", "--dir", d, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let client = &reports.as_array().unwrap()[1];
    assert_eq!(client["file"], "client.crt");
    assert_eq!(client["cn"], "standby_two");
    assert!(client["days_left"].as_i64().unwrap() >= 89);
    let standby = &reports[3];
    assert_eq!(
        standby["sans"],
        serde_json::json!(["DNS:standby.example.com"])
    );
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.contains(".replaced-").then_some(name)
        })
        .collect();
    assert_eq!(
        names.len(),
        4,
        "client.* and standby.* kept aside: {names:?}"
    );

    let out = pki(&[
        "issue",
        "server",
        "--dir",
        tmp.path().to_str().unwrap(),
        "--host",
        "10.0.0.1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).starts_with(&format!(
        "error: {}/ca.crt: file is missing",
        tmp.path().display()
    )));
}

#[test]
fn inspect_exits_1_and_says_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    init(&dir);
    let key = dir.join("client.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();

    let out = pki(&["inspect", "--dir", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for report in reports.as_array().unwrap() {
        for key in [
            "file",
            "cn",
            "sans",
            "not_after",
            "days_left",
            "chain_ok",
            "key_ok",
            "mode_ok",
        ] {
            assert!(report.get(key).is_some(), "missing {key} in {report}");
        }
    }
    let client = &reports[1];
    assert_eq!(
        (client["key_ok"].as_bool(), client["mode_ok"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(
        client["problems"][0],
        "client.key has mode 0644, readable by group or others"
    );
    assert!(
        stderr(&out).contains("pki inspect: 1 problem(s) in "),
        "{}",
        describe(&out)
    );

    let out = pki(&[
        "inspect",
        "--dir",
        dir.to_str().unwrap(),
        "--warn-days",
        "400",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("server.crt [PROBLEM]"), "{stdout}");
    assert!(
        stdout.contains("problem:   expires in 396 days (warning below 400)"),
        "{stdout}"
    );
}

#[test]
fn the_directory_and_user_come_from_the_config() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("pgshadow.yaml");
    let yaml = "pki_dir: certs\nprimary:\n  host: 192.0.2.5\nreplication:\n  user: shadow\n";
    std::fs::write(&config, yaml).unwrap();

    let out = pgshadow("pki_cli")
        .args(["-c", config.to_str().unwrap(), "pki", "init"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = pgshadow("pki_cli")
        .args(["-c", config.to_str().unwrap(), "pki", "inspect", "--json"])
        .output()
        .unwrap();
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        reports[1]["cn"], "shadow",
        "replication.user is the client CN"
    );
    assert_eq!(
        reports[2]["sans"],
        serde_json::json!(["IP:192.0.2.5"]),
        "primary.host is the SAN"
    );
    assert!(
        tmp.path().join("certs/ca.crt").exists(),
        "pki_dir resolves against the config's folder"
    );
}

#[test]
fn help_shows_flags_defaults_and_an_example() {
    let out = pki(&["init", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--primary-host <HOST>"), "{help}");
    assert!(help.contains("[default: 397]"), "{help}");
    assert!(help.contains("[default: 3650]"), "{help}");
    assert!(help.contains("PGSHADOW_PKI_DIR"), "{help}");
    assert!(help.contains("Example:\n  pgshadow pki init"), "{help}");
    let out = pki(&["inspect", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("[default: 30]"));
}
