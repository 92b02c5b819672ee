//! Attacks on a real lab's replication port, each refused with a message
//! that says why: wrong client certificates, a source address pg_hba.conf
//! does not allow, a connection without TLS, and a man in the middle that
//! answers at the primary's address. And at `-vvv`, no private key and no
//! password appears in anything pgshadow prints.

mod common;

use std::path::Path;

use common::lab::{Lab, env_refs};
use common::*;
use pgshadow::pki::issue::Validity;
use pgshadow::pki::make::issue_client;
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};

const USER: &str = "replication_user";

/// A pki_dir with the lab's CA and a client certificate for `user`, valid
/// over `validity`.
fn client_pki(lab: &Lab, user: &str, validity: Validity) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["ca.crt", "ca.key"] {
        std::fs::copy(lab.dir.path().join("pki").join(name), dir.path().join(name)).unwrap();
    }
    issue_client(dir.path(), user, validity, OffsetDateTime::now_utc()).unwrap();
    dir
}

/// `clone-standby --dry-run` for a second standby, with extra environment;
/// asserts exit 1 and returns stdout and stderr together.
fn refused_dry_run(lab: &Lab, extra: &[(&'static str, String)]) -> String {
    let mut env = lab.second_standby("intruder", "intruder");
    env.extend(extra.iter().cloned());
    let out = lab.run(&["clone-standby", "--dry-run"], &env_refs(&env));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(!lab.dir.path().join("intruder").exists());
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The lab's primary host and port, as its config file says.
fn primary_addr(lab: &Lab) -> (String, u16) {
    let text = std::fs::read_to_string(lab.config()).unwrap();
    let config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let host = config["primary"]["host"].as_str().unwrap().to_string();
    (host, config["primary"]["port"].as_u64().unwrap() as u16)
}

#[test]
fn wrong_client_certificates_a_foreign_address_and_plain_tcp_are_refused() {
    let lab = Lab::up("attack-refusals");
    let (host, port) = primary_addr(&lab);
    let addr = format!("{host}:{port}");

    // Our CA and role, but expired yesterday: refused before it is even sent.
    let now = OffsetDateTime::now_utc();
    let past = Validity {
        not_before: now - Duration::days(10),
        not_after: now - Duration::days(1),
    };
    let expired = client_pki(&lab, USER, past);
    let pki = ("PGSHADOW_PKI_DIR", expired.path().display().to_string());
    let text = refused_dry_run(&lab, &[pki]);
    let client_crt = expired.path().join("client.crt");
    assert!(
        text.contains(&format!("{}: certificate expired on", client_crt.display())),
        "{text}"
    );

    // Our CA, but the CN of another role: the primary refuses it.
    let other = client_pki(&lab, "someone_else", Validity::days_from_now(30));
    let pki = ("PGSHADOW_PKI_DIR", other.path().display().to_string());
    let text = refused_dry_run(&lab, &[pki]);
    assert!(
        text.contains(&format!(
            "log in to {addr} as {USER}: the client certificate's CN is not {USER}"
        )),
        "{text}"
    );

    // pg_hba.conf allows another source address only.
    let allow = [("PGSHADOW_PRIMARY_ALLOW", "198.51.100.7/32")];
    let out = lab.run(&["primary", "configure"], &allow);
    assert!(out.status.success(), "{}", describe(&out));
    let text = refused_dry_run(&lab, &[]);
    assert!(
        text.contains(&format!(
            "log in to {addr} as {USER}: no pg_hba.conf line on the primary matches this connection"
        )),
        "{text}"
    );
    let out = lab.run(&["primary", "configure"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let env = lab.second_standby("intruder", "intruder");
    let out = lab.run(&["clone-standby", "--dry-run"], &env_refs(&env));
    assert!(out.status.success(), "allowed again: {}", describe(&out));

    // Without TLS the server has no line for a replication connection...
    let conninfo = format!("host={host} port={port} user={USER} sslmode=disable replication=true");
    let name = unique("plain-psql");
    let mut containers = Containers::default();
    containers.add(&name);
    let label = test_labels(&lab.test);
    let out = docker(&[
        "run",
        "--name",
        &name,
        "--label",
        &label,
        IMAGE,
        "psql",
        &conninfo,
        "-c",
        "IDENTIFY_SYSTEM",
    ]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "no pg_hba.conf entry for replication connection from host \"{host}\", user \"{USER}\", no encryption"
    );
    assert!(stderr.contains(&expected), "{stderr}");
    // ...and pgshadow cannot be configured to try.
    let sslmode = [("PGSHADOW_REPLICATION_SSLMODE", "disable")];
    let out = lab.run(&["clone-standby", "--dry-run"], &sslmode);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PGSHADOW_REPLICATION_SSLMODE: invalid sslmode `disable`"),
        "{stderr}"
    );
}

/// A free TCP port on the host.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts, with `pgshadow primary up`, a server with its own CA that
/// claims the lab primary's address, on another port; returns the port.
fn start_impostor(lab: &Lab, dir: &Path, containers: &mut Containers) -> u16 {
    let (host, _) = primary_addr(lab);
    let out = pgshadow(&lab.test)
        .args(["pki", "init", "--dir"])
        .arg(dir.join("pki"))
        .args(["--primary-host", &host])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));

    let name = unique("impostor");
    containers.add(&name);
    let port = free_port();
    let config = dir.join("pgshadow.yaml");
    std::fs::write(
        &config,
        format!(
            "image: {IMAGE}\npki_dir: pki\nprimary:\n  host: {host}\n  port: {port}\n  \
             container: {name}\n  data_dir: data\n  allow: [{host}/32]\n"
        ),
    )
    .unwrap();
    let out = pgshadow(&lab.test)
        .arg("-c")
        .arg(&config)
        .args(["primary", "up"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    port
}

#[test]
fn a_man_in_the_middle_fails_verify_full() {
    let lab = Lab::up("attack-mitm");
    let (host, _) = primary_addr(&lab);
    let mut containers = Containers::default();

    // Another CA's server at the configured host, with a certificate for it.
    let impostor = tempfile::tempdir().unwrap();
    let port = start_impostor(&lab, impostor.path(), &mut containers);
    let text = refused_dry_run(&lab, &[("PGSHADOW_PRIMARY_PORT", port.to_string())]);
    let ca = lab.dir.path().join("pki").join("ca.crt");
    assert!(
        text.contains(&format!(
            "trust the primary at {host}:{port}: its certificate is not signed by {}",
            ca.display()
        )),
        "{text}"
    );

    // The real primary, with our CA's certificate, reached at an address
    // that certificate does not name.
    let ip = docker_ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.IPAddress}}",
        &lab.primary(),
    ]);
    let elsewhere = [
        ("PGSHADOW_PRIMARY_HOST", ip.clone()),
        ("PGSHADOW_PRIMARY_PORT", "5432".to_string()),
    ];
    let text = refused_dry_run(&lab, &elsewhere);
    assert!(
        text.contains(&format!(
            "verify the primary at {ip}:5432: its certificate does not name {ip}"
        )),
        "{text}"
    );
    let temporaries: Vec<String> = labelled_containers(&lab.test)
        .into_iter()
        .filter(|n| n.starts_with("pgshadow-"))
        .collect();
    assert!(temporaries.is_empty(), "left behind: {temporaries:?}");
}

/// The lines of every PEM private key under `dirs` that could identify it:
/// each base64 body line of at least 16 characters.
fn key_lines(dirs: &[&Path]) -> Vec<String> {
    let mut lines = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "key") {
                let text = std::fs::read_to_string(entry.path()).unwrap();
                lines.extend(
                    text.lines()
                        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                        .map(str::to_string),
                );
            }
        }
    }
    lines
}

#[test]
fn at_vvv_no_private_key_and_no_password_is_printed() {
    let (mut lab, lab_up) = Lab::up_with("attack-vvv", &["-vvv"]);
    lab.track("verbose");
    let mut outputs = vec![("lab up", lab_up)];
    let pki = tempfile::tempdir().unwrap();
    let init = pgshadow(&lab.test)
        .args(["-vvv", "pki", "init", "--dir"])
        .arg(pki.path())
        .args(["--primary-host", "192.0.2.1"])
        .output()
        .unwrap();
    outputs.push(("pki init", init));
    let env = lab.second_standby("verbose", "verbose");
    let clone = lab.run(&["-vvv", "clone-standby"], &env_refs(&env));
    assert!(clone.status.success(), "{}", describe(&clone));
    outputs.push(("clone-standby", clone));
    outputs.push((
        "dry run",
        lab.run(&["-vvv", "clone-standby", "--dry-run", "--force"], &[]),
    ));
    outputs.push(("status", lab.run(&["-vvv", "status", "--primary"], &[])));

    let keys = key_lines(&[&lab.dir.path().join("pki"), pki.path()]);
    assert!(keys.len() >= 5, "found only {} key lines", keys.len());
    let env = docker_ok(&["inspect", "-f", "{{json .Config.Env}}", &lab.primary()]);
    let password = env
        .split('"')
        .find_map(|v| v.strip_prefix("POSTGRES_PASSWORD="))
        .expect("the primary has a POSTGRES_PASSWORD")
        .to_string();
    assert!(password.len() >= 16, "{password}");

    for (what, out) in &outputs {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // pki init talks to no engine and logs nothing more at -vvv.
        assert!(
            *what == "pki init" || text.contains("TRACE"),
            "{what} did not log at trace level:\n{text}"
        );
        assert!(
            !text.contains(&password),
            "{what} -vvv printed POSTGRES_PASSWORD"
        );
        for line in &keys {
            assert!(
                !text.contains(line.as_str()),
                "{what} -vvv printed a private key line"
            );
        }
        assert!(
            !text.contains("PRIVATE KEY"),
            "{what} -vvv printed a PEM key"
        );
    }
}
