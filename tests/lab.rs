//! `pgshadow lab up`, `primary configure` and `lab down` against the real engine.

mod common;

use std::time::{Duration, Instant};

use common::lab::{Lab, assert_standby_dir, listing};
use common::*;

fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {secs}s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn lab_up_replicates_rows_and_lab_down_purges_everything() {
    let lab = Lab::up("lab-up");
    let (primary, standby) = (lab.primary(), lab.standby());

    psql(&primary, "CREATE TABLE t(id int primary key, v text)");
    psql(
        &primary,
        "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1,1000) g",
    );
    wait_for("1000 rows on the standby", 10, || {
        docker(&[
            "exec",
            &standby,
            "psql",
            "-U",
            "postgres",
            "-Atc",
            "SELECT count(*) FROM t",
        ])
        .stdout
        .starts_with(b"1000")
    });
    assert_eq!(psql(&standby, "SELECT pg_is_in_recovery()"), "t");
    assert_eq!(
        psql(&standby, "SELECT status FROM pg_stat_wal_receiver"),
        "streaming"
    );

    // The clone's recovery settings point at permanent paths only.
    let auto = std::fs::read_to_string(lab.standby_dir().join("postgresql.auto.conf")).unwrap();
    assert!(!auto.contains("/run/pgshadow-certs"), "{auto}");
    let auto = pgshadow::pgconf::AutoConf::parse(&auto).unwrap();
    let conninfo =
        pgshadow::pgconf::Conninfo::parse(auto.get("primary_conninfo").unwrap()).unwrap();
    assert_eq!(
        conninfo.get("sslcert"),
        Some("/var/lib/postgresql/data/certs/client.crt")
    );
    assert_eq!(
        conninfo.get("sslkey"),
        Some("/var/lib/postgresql/data/certs/client.key")
    );
    assert_eq!(
        conninfo.get("sslrootcert"),
        Some("/var/lib/postgresql/data/certs/ca.crt")
    );
    assert_eq!(conninfo.get("sslmode"), Some("verify-full"));
    assert_eq!(conninfo.get("application_name"), Some(standby.as_str()));

    // Every file belongs to the image's postgres; keys are private.
    assert_standby_dir(&lab.standby_dir());

    // No ca.key in either data directory, and the primary's key is not on the standby.
    for dir in [lab.primary_dir(), lab.standby_dir()] {
        assert!(
            !listing(&dir).iter().any(|p| p.ends_with("ca.key")),
            "ca.key in {}",
            dir.display()
        );
    }

    let out = lab.run(
        &[
            "lab",
            "down",
            "--purge",
            "--dir",
            lab.dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(labelled_containers("lab-up").is_empty());
    assert!(!lab.dir.path().exists());
}

#[test]
fn primary_configure_twice_changes_nothing_the_second_time() {
    let lab = Lab::up("lab-configure");
    let primary = lab.primary();

    let first = lab.run(&["primary", "configure"], &[]);
    assert!(first.status.success(), "{}", describe(&first));
    let second = lab.run(&["primary", "configure"], &[]);
    assert!(second.status.success(), "{}", describe(&second));
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(text.contains("nothing changed"), "{text}");

    let hba_path = psql(&primary, "SHOW hba_file");
    let hba = docker_ok(&["exec", &primary, "cat", &hba_path]);
    let ours: Vec<&str> = hba.lines().filter(|l| l.contains("# pgshadow")).collect();
    let shown = lab.run(&["config", "show", "--json"], &[]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let gateway = shown["primary.host"]["value"].as_str().unwrap().to_string();
    assert_eq!(ours.len(), 1, "{hba}");
    let fields: Vec<&str> = ours[0].split_whitespace().collect();
    assert_eq!(
        &fields[..5],
        [
            "hostssl",
            "replication",
            "replication_user",
            &format!("{gateway}/32"),
            "cert"
        ]
    );
    assert_eq!(
        psql(
            &primary,
            "SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'replication_user'"
        ),
        "t"
    );
    assert_eq!(psql(&primary, "SHOW ssl"), "on");
}
