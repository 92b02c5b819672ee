//! Two engines driven from one client: the primary on engine A (this
//! machine's daemon), the standby on engine B (a second daemon reached only
//! over TCP with mutual TLS, see `common::engine_b`). pgshadow reaches B's
//! files only through helper containers there. The standby clones, streams,
//! reports, is exported from B and imported onto A, where it streams again.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::engine_b::EngineB;
use common::lab::assert_standby_dir;
use common::*;

const TEST: &str = "remote_engines";
const TABLE_SUM: &str =
    "SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY id)) FROM t";

/// Runs pgshadow with B's TLS settings in the environment.
fn run(b: &EngineB, args: &[&str]) -> Output {
    pgshadow(TEST)
        .envs(b.tls_env())
        .args(args)
        .output()
        .expect("run pgshadow")
}

fn run_ok(b: &EngineB, args: &[&str]) -> String {
    let out = run(b, args);
    assert!(
        out.status.success(),
        "pgshadow {args:?}: {}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rows of `t` in `container` on B.
fn rows_on_b(b: &EngineB, container: &str) -> String {
    let out = b.docker_tcp(&[
        "exec", container, "psql", "-U", "postgres", "-X", "-Atc", TABLE_SUM,
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The rows of `t` in `container` on A.
fn rows_on_a(container: &str) -> String {
    try_psql(container, TABLE_SUM).unwrap_or_default()
}

/// The config for the standby moved onto engine A: the lab's, with the
/// standby on A under another name and folder, dialling the primary at A's
/// bridge gateway (which its certificate names).
fn moved_config(lab_config: &Path, moved: &str, moved_dir: &Path, gateway_a: &str) -> PathBuf {
    let text = std::fs::read_to_string(lab_config).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("docker_host:") || trimmed.starts_with("# The standby's engine") {
            continue;
        }
        let line = if trimmed.starts_with("host:") {
            format!("  host: {gateway_a}")
        } else if trimmed.starts_with("container:") && trimmed.ends_with("-standby") {
            format!("  container: {moved}")
        } else if trimmed == "data_dir: standby" {
            format!("  data_dir: {}", moved_dir.display())
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    let path = lab_config.with_file_name("moved.yaml");
    std::fs::write(&path, out).unwrap();
    path
}

/// `lab up --remote-standby B`: the primary on A, the standby cloned onto B.
fn lab_up_remote(b: &EngineB, lab_dir: &Path, prefix: &str) {
    run_ok(
        b,
        &[
            "lab",
            "up",
            "--dir",
            lab_dir.to_str().unwrap(),
            "--name",
            prefix,
            "--image",
            IMAGE,
            "--remote-standby",
            &b.tcp,
        ],
    );
}

/// This test's containers on B, by name.
fn labelled_on_b(b: &EngineB) -> Vec<String> {
    let filter = format!("label={}", test_labels(TEST));
    let names = b.docker_tcp_ok(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]);
    names.lines().map(str::to_string).collect()
}

#[test]
fn a_standby_on_a_remote_engine_clones_streams_exports_and_moves_back() {
    require_docker();
    let b = EngineB::start();
    let dir = tempfile::tempdir().unwrap();
    let lab_dir = dir.path().join("lab");
    let prefix = unique("pgrm");
    let (primary, standby, moved) = (
        format!("{prefix}-primary"),
        format!("{prefix}-standby"),
        format!("{prefix}-moved"),
    );
    let mut on_a = Containers::default();
    on_a.add(&primary);
    on_a.add(&moved);

    // The primary on A, the standby cloned onto B from here.
    lab_up_remote(&b, &lab_dir, &prefix);
    let on_b = b.docker_tcp_ok(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(on_b.lines().collect::<Vec<_>>(), [standby.as_str()]);
    assert!(
        !docker(&["inspect", &standby]).status.success(),
        "standby on A"
    );
    let config = lab_dir.join("pgshadow.yaml");
    let config_text = std::fs::read_to_string(&config).unwrap();
    assert!(
        config_text.contains(&format!("docker_host: {}", b.tcp)),
        "{config_text}"
    );
    assert!(
        config_text.contains(&format!("host: {}", b.gateway)),
        "{config_text}"
    );
    // B runs on this machine, so its host paths are ours to look at.
    assert_standby_dir(&lab_dir.join("standby"));

    // Rows written on A reach the standby on B.
    psql(&primary, "CREATE TABLE t (id int PRIMARY KEY, v text)");
    psql(
        &primary,
        "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g",
    );
    let want = psql(&primary, TABLE_SUM);
    wait_for("the rows on B", 60, || rows_on_b(&b, &standby) == want);

    // status reads the standby through B and the primary through A.
    let cfg = config.to_str().unwrap();
    let json = run_ok(&b, &["-c", cfg, "status", "--json", "--primary"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["role"], "standby", "{report:#}");
    assert_eq!(report["streaming"], true, "{report:#}");
    assert_eq!(report["state"], "ok", "{report:#}");
    let senders = report["primary_view"]["senders"].as_array().unwrap();
    assert!(
        senders
            .iter()
            .any(|s| s["application_name"] == standby.as_str()),
        "{report:#}"
    );

    // clone-standby run from here replaces the standby on B (--force):
    // the old directory is kept aside on B's host, the new one streams.
    let json = run_ok(&b, &["-c", cfg, "clone-standby", "--force", "--json"]);
    let summary: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(summary["verified"], true, "{summary:#}");
    let kept = summary["replaced"]
        .as_str()
        .expect("the old directory is kept");
    assert!(Path::new(kept).join("PG_VERSION").exists(), "{summary:#}");
    assert_standby_dir(&lab_dir.join("standby"));
    psql(
        &primary,
        "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(5001, 5500) g",
    );
    let want = psql(&primary, TABLE_SUM);
    wait_for("the rows on B's new standby", 60, || {
        rows_on_b(&b, &standby) == want
    });

    // Export from B through its helper, leaving the old standby stopped.
    let archive = dir.path().join("standby.tar.zst");
    run_ok(
        &b,
        &[
            "-c",
            cfg,
            "export",
            "--out",
            archive.to_str().unwrap(),
            "--compress",
            "zstd",
            "--stop",
        ],
    );
    assert!(std::fs::metadata(&archive).unwrap().len() > 1_000_000);
    let state = b.docker_tcp_ok(&["inspect", "-f", "{{.State.Running}}", &standby]);
    assert_eq!(
        state, "false",
        "export --stop leaves the standby on B stopped"
    );

    // Import onto A, which reaches the primary at its own bridge gateway.
    let gateway_a = docker_ok(&["inspect", "-f", "{{.NetworkSettings.Gateway}}", &primary]);
    let moved_dir = dir.path().join("moved");
    let moved_cfg = moved_config(&config, &moved, &moved_dir, &gateway_a);
    let moved_cfg = moved_cfg.to_str().unwrap();
    run_ok(
        &b,
        &[
            "-c",
            moved_cfg,
            "import",
            "--from",
            archive.to_str().unwrap(),
        ],
    );
    psql(
        &primary,
        "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(5501, 6000) g",
    );
    let want = psql(&primary, TABLE_SUM);
    wait_for("the rows on A's moved standby", 60, || {
        rows_on_a(&moved) == want
    });
    let conf = std::fs::read_to_string(moved_dir.join("postgresql.auto.conf")).unwrap();
    assert!(conf.contains(&format!("host={gateway_a}")), "{conf}");

    // No temporary container is left on either engine.
    let mut left = labelled_containers(TEST);
    left.sort();
    let mut expected = vec![moved.clone(), primary.clone()];
    expected.sort();
    assert_eq!(left, expected, "temporary containers left on A");
    assert_eq!(
        labelled_on_b(&b),
        [standby.as_str()],
        "temporary containers left on B"
    );

    // lab down removes the containers on both engines.
    run_ok(&b, &["lab", "down", "--dir", lab_dir.to_str().unwrap()]);
    assert!(!docker(&["inspect", &primary]).status.success());
    assert!(!b.docker_tcp(&["inspect", &standby]).status.success());
}

/// A Docker CLI context for B in its own config folder, as `docker context
/// create` writes it.
fn context_for(b: &EngineB, docker_config: &Path) -> &'static str {
    let cert = |name: &str| b.cert_path.join(name).display().to_string();
    let endpoint = format!(
        "host={},ca={},cert={},key={}",
        b.tcp,
        cert("ca.pem"),
        cert("cert.pem"),
        cert("key.pem")
    );
    let out = std::process::Command::new("docker")
        .env("DOCKER_CONFIG", docker_config)
        .args(["context", "create", "pgshadow-b", "--docker", &endpoint])
        .output()
        .expect("run docker context create");
    assert!(out.status.success(), "{}", describe(&out));
    "pgshadow-b"
}

#[test]
fn failures_on_a_remote_engine_leave_its_host_as_it_was() {
    require_docker();
    let b = EngineB::start();
    let dir = tempfile::tempdir().unwrap();
    let lab_dir = dir.path().join("lab");
    let prefix = unique("pgrf");
    let (primary, standby) = (format!("{prefix}-primary"), format!("{prefix}-standby"));
    let mut on_a = Containers::default();
    on_a.add(&primary);
    lab_up_remote(&b, &lab_dir, &prefix);

    // From here B is named by a Docker CLI context, not by address and
    // environment: the context store alone says where and with which keys.
    let docker_config = dir.path().join("docker-config");
    let context = context_for(&b, &docker_config);
    let config = lab_dir.join("pgshadow.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        &format!("docker_host: {}", b.tcp),
        &format!("docker_context: {context}"),
    );
    std::fs::write(&config, text).unwrap();
    let cfg = config.to_str().unwrap();
    let with_context = |args: &[&str]| {
        pgshadow(TEST)
            .env("DOCKER_CONFIG", &docker_config)
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .arg("-c")
            .arg(cfg)
            .args(args)
            .output()
            .expect("run pgshadow")
    };
    let out = with_context(&["status", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["streaming"], true, "{report:#}");

    // A clone over the standby's directory without --force stops in
    // preflight, naming the directory on B's host.
    let standby_dir = lab_dir.join("standby");
    // The standby runs on it, so its WAL moves; its settings must not.
    let auto_conf = || std::fs::read_to_string(standby_dir.join("postgresql.auto.conf")).unwrap();
    let before = auto_conf();
    let out = with_context(&["clone-standby"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not empty"), "{stderr}");
    assert!(
        stderr.contains(&standby_dir.display().to_string()),
        "{stderr}"
    );
    assert_eq!(auto_conf(), before);
    assert!(common::lab::staging_leftovers(&lab_dir).is_empty());
    assert_eq!(labelled_on_b(&b), [standby.as_str()]);

    // An interrupted clone onto B removes its staging directory and
    // temporary containers there, and starts the old standby again.
    let mut child = pgshadow(TEST)
        .env("DOCKER_CONFIG", &docker_config)
        .args(["-c", cfg, "clone-standby", "--force", "--max-rate", "1M"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start pgshadow");
    wait_for("the copy onto B to start", 90, || {
        let copying = labelled_on_b(&b).iter().any(|n| n.contains("basebackup"));
        let staged: u64 = common::lab::staging_leftovers(&lab_dir)
            .iter()
            .map(|name| common::lab::disk_usage(&lab_dir.join(name)))
            .sum();
        copying && staged >= 2_000_000
    });
    send_signal(&child, nix::sys::signal::Signal::SIGINT);
    let status = child.wait().expect("wait for pgshadow");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(common::lab::staging_leftovers(&lab_dir).is_empty());
    assert_eq!(labelled_on_b(&b), [standby.as_str()], "{stderr}");
    let running = b.docker_tcp_ok(&["inspect", "-f", "{{.State.Running}}", &standby]);
    assert_eq!(running, "true", "the old standby runs again");
    assert_eq!(auto_conf(), before);

    // A truncated archive imported onto B fails naming the cut and leaves
    // neither a directory nor a container there.
    let archive = dir.path().join("standby.tar");
    let out = with_context(&["export", "--out", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
    let second = lab_dir.join("second");
    let out = pgshadow(TEST)
        .env("DOCKER_CONFIG", &docker_config)
        .env("PGSHADOW_STANDBY_CONTAINER", format!("{prefix}-second"))
        .env("PGSHADOW_STANDBY_DATA_DIR", &second)
        .args(["-c", cfg, "import", "--from", archive.to_str().unwrap()])
        .output()
        .expect("run pgshadow");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("truncated"), "{stderr}");
    assert!(!second.exists(), "{} was created", second.display());
    assert!(common::lab::staging_leftovers(&lab_dir).is_empty());
    assert_eq!(labelled_on_b(&b), [standby.as_str()]);
}
