//! Bad input at the command line: every kind of config error, a data
//! directory that is a file, an image or a Docker socket that does not
//! exist, a pki_dir with a file missing. Each is a clear error with the
//! documented exit code (2 for usage and configuration, 1 for a failed
//! operation), and nothing is created. Plus what must simply work: a data
//! directory whose path has spaces, and `lab up` run twice.

mod common;

use std::path::Path;
use std::process::Output;

use common::lab::{Lab, env_refs, staging_leftovers};
use common::*;

const TEST: &str = "bad-input";

/// Runs `pgshadow -c FILE ARGS...` with extra environment.
fn run(file: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = pgshadow(TEST);
    command.arg("-c").arg(file).args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A valid config for a standby in `dir/standby`, certificates in `dir/pki`.
fn valid_config(dir: &Path) -> String {
    format!(
        "image: {IMAGE}\npki_dir: pki\nprimary:\n  host: 127.0.0.1\n  port: 5432\n\
         standby:\n  container: {}\n  data_dir: {}\n",
        unique("bad-input-standby"),
        dir.join("standby").display()
    )
}

#[test]
fn every_config_error_exits_2_from_config_check_and_clone_standby() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgshadow.yaml");
    let valid = valid_config(dir.path());
    let cases: &[(String, &str)] = &[
        (
            format!("{valid}replication:\n  hots: x\n"),
            "unknown field `hots`",
        ),
        (
            format!("{valid}standbys: {{}}\n"),
            "unknown field `standbys`",
        ),
        (
            valid.replace("port: 5432", "port: fivefourthreetwo"),
            "primary.port",
        ),
        (
            valid.replace("port: 5432", "port: 70000"),
            "invalid port `70000`",
        ),
        (valid.replace("port: 5432", "port: 0"), "invalid port `0`"),
        (format!("{valid}  owner: postgres\n"), "standby.owner"),
        (
            valid.replace("port: 5432\n", "port: 5432\n  allow: [10.0.0.300/32]\n"),
            "10.0.0.300/32",
        ),
        (
            format!("{valid}replication:\n  sslmode: require\n"),
            "invalid sslmode `require`",
        ),
        (format!("{valid}primary: \"unclosed\n"), "pgshadow.yaml:"),
        ("just a sentence\n".to_string(), "pgshadow.yaml"),
    ];
    for (text, expected) in cases {
        std::fs::write(&file, text).unwrap();
        for args in [&["config", "check"][..], &["clone-standby"][..]] {
            let out = run(&file, args, &[]);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?} {text}\n{}",
                describe(&out)
            );
            assert!(
                stderr(&out).contains(expected),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }

    // A bad value in the environment names the variable.
    std::fs::write(&file, &valid).unwrap();
    let out = run(
        &file,
        &["clone-standby"],
        &[("PGSHADOW_STANDBY_OWNER", "x")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("PGSHADOW_STANDBY_OWNER"),
        "{}",
        stderr(&out)
    );

    // A key the command needs, missing.
    std::fs::write(&file, valid.replace("  host: 127.0.0.1\n", "")).unwrap();
    let out = run(&file, &["clone-standby"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("primary.host"), "{}", stderr(&out));

    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "only the config file: {left:?}");
}

#[test]
fn bad_paths_images_sockets_and_certificates_fail_clearly_and_create_nothing() {
    require_docker();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgshadow.yaml");
    std::fs::write(&file, valid_config(dir.path())).unwrap();
    let pki = dir.path().join("pki");
    let out = pgshadow(TEST)
        .args([
            "pki",
            "init",
            "--dir",
            pki.to_str().unwrap(),
            "--primary-host",
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let standby = dir.path().join("standby");

    // An image that does not exist, and no registry has.
    let image = [("PGSHADOW_IMAGE", "pgshadow/nonexistent:1")];
    let out = run(&file, &["clone-standby"], &image);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = stderr(&out);
    assert!(
        text.contains("clone-standby failed at stage `preflight`"),
        "{text}"
    );
    assert!(
        text.contains("image pgshadow/nonexistent:1 is not present on the engine at"),
        "{text}"
    );
    assert!(text.contains("hint: "), "{text}");

    // A Docker socket that does not exist.
    let out = pgshadow(TEST)
        .args(["--docker-host", "unix:///nonexistent.sock", "-c"])
        .arg(&file)
        .arg("clone-standby")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = stderr(&out);
    assert!(
        text.starts_with("error: connect to the Docker engine at unix:///nonexistent.sock"),
        "{text}"
    );
    assert!(
        text.contains("hint: is the Docker daemon running?"),
        "{text}"
    );

    // standby.data_dir names a file.
    std::fs::write(&standby, "not a directory").unwrap();
    let out = run(&file, &["clone-standby"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = stderr(&out);
    let expected = format!("data directory {} is not a directory", standby.display());
    assert!(text.contains(&expected), "{text}");
    assert!(
        text.contains("hint: standby.data_dir must name a directory"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(&standby).unwrap(),
        "not a directory"
    );
    std::fs::remove_file(&standby).unwrap();

    // A pki_dir without the client key.
    std::fs::remove_file(pki.join("client.key")).unwrap();
    let out = run(&file, &["clone-standby"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = stderr(&out);
    let expected = format!("{}: file is missing", pki.join("client.key").display());
    assert!(text.contains(&expected), "{text}");
    assert!(text.contains("pgshadow pki issue client"), "{text}");

    assert!(!standby.exists());
    assert!(staging_leftovers(dir.path()).is_empty());
    assert!(
        labelled_containers(TEST).is_empty(),
        "{:?}",
        labelled_containers(TEST)
    );
}

#[test]
fn a_data_directory_with_spaces_in_its_path_clones_and_streams() {
    let mut lab = Lab::up("bad-input-spaces");
    let name = unique("spaced");
    lab.track(&name);
    std::fs::create_dir(lab.dir.path().join("my data")).unwrap();
    let env = lab.second_standby(&name, "my data/standby");

    let out = lab.run(&["clone-standby"], &env_refs(&env));
    assert!(out.status.success(), "{}", describe(&out));
    let data_dir = lab.dir.path().join("my data/standby");
    assert!(data_dir.join("PG_VERSION").exists());
    assert!(data_dir.join("standby.signal").exists());
    psql(
        &lab.primary(),
        "CREATE TABLE spaced(x int); INSERT INTO spaced VALUES (7)",
    );
    wait_for("the row on the standby", 60, || {
        let out = docker(&[
            "exec",
            &name,
            "psql",
            "-U",
            "postgres",
            "-XAtc",
            "SELECT x FROM spaced",
        ]);
        String::from_utf8_lossy(&out.stdout).trim() == "7"
    });
    let out = lab.run(&["status"], &env_refs(&env));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn lab_up_twice_says_nothing_changed_and_changes_nothing() {
    let lab = Lab::up("bad-input-lab-twice");
    let ids = || {
        [lab.primary(), lab.standby()]
            .map(|c| docker_ok(&["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", &c]))
    };
    let before = ids();
    let config = std::fs::read_to_string(lab.config()).unwrap();

    let out = pgshadow(&lab.test)
        .args([
            "lab",
            "up",
            "--dir",
            lab.dir.path().to_str().unwrap(),
            "--name",
            &lab.prefix,
        ])
        .args(["--image", IMAGE])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(text.contains("is already up; nothing changed"), "{text}");
    assert_eq!(ids(), before);
    assert_eq!(std::fs::read_to_string(lab.config()).unwrap(), config);
    lab.assert_only_lab_containers();
}
