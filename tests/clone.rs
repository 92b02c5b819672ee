//! `pgshadow clone-standby` against a primary made by `pgshadow primary up`
//! (through `lab up`): refusals, --force, and failures that must leave the
//! host exactly as it was.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::lab::{Lab, env_refs, listing, staging_leftovers};
use common::*;

/// Environment that points a clone at a second standby beside the lab's.
fn second_standby(lab: &Lab, name: &str) -> Vec<(&'static str, String)> {
    lab.second_standby(name, name)
}

fn slot_exists(lab: &Lab, slot: &str) -> bool {
    lab.slot_exists(slot)
}

fn assert_only_lab_containers(lab: &Lab) {
    lab.assert_only_lab_containers();
}

#[test]
fn a_second_clone_refuses_without_force_and_replaces_with_it() {
    let lab = Lab::up("clone-force");
    let before = listing(&lab.standby_dir());

    let out = lab.run(&["clone-standby"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let target = lab.standby_dir().display().to_string();
    assert!(
        stderr.contains(&format!("data directory {target} is not empty")),
        "{stderr}"
    );
    assert!(stderr.contains("pass --force"), "{stderr}");
    assert_eq!(listing(&lab.standby_dir()), before);

    std::fs::write(lab.standby_dir().join("pgshadow-test-marker"), "old").unwrap();
    psql(
        &lab.primary(),
        "CREATE TABLE after_first(x int); INSERT INTO after_first VALUES (42)",
    );
    let out = lab.run(&["clone-standby", "--force"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let kept: Vec<String> = std::fs::read_dir(lab.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("standby.replaced-"))
        .collect();
    assert_eq!(kept.len(), 1, "the replaced directory is kept aside");
    // The old standby ran until --force stopped it, so its files changed; the
    // marker shows that the kept directory is the old one, whole.
    let kept = lab.dir.path().join(&kept[0]);
    assert_eq!(
        std::fs::read_to_string(kept.join("pgshadow-test-marker")).unwrap(),
        "old"
    );
    assert!(kept.join("PG_VERSION").exists() && kept.join("base").is_dir());
    assert!(!lab.standby_dir().join("pgshadow-test-marker").exists());
    assert_eq!(psql(&lab.standby(), "SELECT x FROM after_first"), "42");
    assert_eq!(
        psql(&lab.standby(), "SELECT status FROM pg_stat_wal_receiver"),
        "streaming"
    );
    assert_only_lab_containers(&lab);
    assert!(staging_leftovers(lab.dir.path()).is_empty());
}

#[test]
fn a_stopped_primary_fails_in_preflight_and_leaves_nothing() {
    let lab = Lab::up("clone-primary-down");
    let env = second_standby(&lab, "second");
    docker_ok(&["stop", &lab.primary()]);

    let out = lab.run(&["clone-standby"], &env_refs(&env));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("clone-standby failed at stage `preflight`"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot reach the primary at"), "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
    assert!(!lab.dir.path().join("second").exists());
    assert!(staging_leftovers(lab.dir.path()).is_empty());
    docker_ok(&["start", &lab.primary()]);
    wait_for_postgres(&lab.primary(), 60);
    assert!(!slot_exists(&lab, "second"));
    assert_only_lab_containers(&lab);
}

#[test]
fn a_client_certificate_from_another_ca_is_refused_with_a_reason() {
    let lab = Lab::up("clone-foreign-ca");
    let foreign = tempfile::tempdir().unwrap();
    let out = pgshadow("clone-foreign-ca")
        .args([
            "pki",
            "init",
            "--dir",
            foreign.path().to_str().unwrap(),
            "--primary-host",
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let mut env = second_standby(&lab, "third");
    env.push(("PGSHADOW_PKI_DIR", foreign.path().display().to_string()));

    let out = lab.run(&["clone-standby"], &env_refs(&env));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("clone-standby failed at stage `preflight`"),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    assert!(!lab.dir.path().join("third").exists());
    assert!(staging_leftovers(lab.dir.path()).is_empty());
    assert_only_lab_containers(&lab);
}

#[test]
fn sigint_while_copying_removes_the_container_the_staging_dir_and_the_slot() {
    let lab = Lab::up("clone-sigint");
    // Enough data that a rate-limited copy takes many seconds.
    psql(
        &lab.primary(),
        "CREATE TABLE bulk AS SELECT g AS id, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 400000) g",
    );
    let env = second_standby(&lab, "fourth");
    let child = Command::new(env!("CARGO_BIN_EXE_pgshadow"))
        .arg("-c")
        .arg(lab.config())
        .args(["clone-standby", "--max-rate", "2M"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PGSHADOW_LABELS", test_labels(&lab.test))
        .env("CI", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait until the base backup container runs, then interrupt.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = labelled_containers(&lab.test)
            .iter()
            .any(|n| n.contains("basebackup"));
        if running
            && lab
                .dir
                .path()
                .read_dir()
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().contains("staging"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the copy never started");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();

    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("interrupted by SIGINT during stage `pg_basebackup`"),
        "{stderr}"
    );
    assert_only_lab_containers(&lab);
    assert!(
        staging_leftovers(lab.dir.path()).is_empty(),
        "{:?}",
        staging_leftovers(lab.dir.path())
    );
    assert!(!lab.dir.path().join("fourth").exists());
    assert!(
        !slot_exists(&lab, "fourth"),
        "the slot this run created was not dropped"
    );
}
