//! Support shared by the integration tests: the Docker guard, the test image,
//! unique names, and running the real `pgshadow` binary.
//!
//! Every container a test starts carries the `io.pgshadow.test` label (those
//! pgshadow starts get it through `PGSHADOW_LABELS`) and is removed when its
//! guard drops, also when the test panics.
#![allow(dead_code)]

pub mod engine_b;
pub mod fixture;
pub mod lab;
pub mod ssh_host;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The local image every integration test uses (`make image`).
pub const IMAGE: &str = "pgshadow/postgres:15";
/// The label on every container a test creates.
pub const TEST_LABEL: &str = "io.pgshadow.test";

/// Fails the test, loudly, when Docker or the test image is missing: a
/// Docker test never passes by skipping.
pub fn require_docker() {
    let info = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match info {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "these tests need a Docker engine, and `docker info` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("these tests need the docker CLI and engine: {e}"),
    }
    let image = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .unwrap();
    assert!(
        image.status.success(),
        "the test image {IMAGE} is missing: run `make image`"
    );
}

/// A name unique to this test process: `prefix-<pid>-<n>`.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// Runs the docker CLI and returns its output; panics when it cannot start.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

/// Runs the docker CLI, asserting success, and returns stdout trimmed.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Removes the named containers when dropped (also on panic).
#[derive(Default)]
pub struct Containers(Vec<String>);

impl Containers {
    /// Removes `name` at the end of the test.
    pub fn add(&mut self, name: &str) {
        self.0.push(name.to_string());
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v", name])
                .output();
        }
    }
}

/// The test label value for one test: `<test name>`.
pub fn test_labels(test: &str) -> String {
    format!("{TEST_LABEL}={test}")
}

/// A `pgshadow` command with the test label on every container it creates.
pub fn pgshadow(test: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pgshadow"));
    command
        .env("PGSHADOW_LABELS", test_labels(test))
        .env("CI", "true")
        .env_remove("PGSHADOW_CONFIG");
    command
}

/// Text of a finished command, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Containers still carrying this test's label.
pub fn labelled_containers(test: &str) -> Vec<String> {
    let filter = format!("label={}", test_labels(test));
    docker_ok(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Makes `dir` owned by the image's postgres user (999:999).
pub fn give_to_postgres(dir: &Path) {
    std::os::unix::fs::chown(dir, Some(999), Some(999))
        .expect("chown to 999:999 (tests run as root)");
}

/// Waits until `psql -c 'SELECT 1'` works in `container`, up to `secs` seconds.
pub fn wait_for_postgres(container: &str, secs: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let out = docker(&[
            "exec", container, "psql", "-U", "postgres", "-Atc", "SELECT 1",
        ]);
        if out.status.success() {
            return;
        }
        if std::time::Instant::now() > deadline {
            let logs = docker(&["logs", "--tail", "30", container]);
            panic!(
                "{container} did not accept connections in {secs}s:\n{}",
                describe(&logs)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// Runs pgbench in `container` as postgres against the `postgres` database,
/// asserting success.
pub fn pgbench(container: &str, args: &[&str]) {
    let mut command = vec!["exec", container, "pgbench", "-U", "postgres"];
    command.extend_from_slice(args);
    command.push("postgres");
    docker_ok(&command);
}

/// Runs SQL through psql in `container` as postgres; `None` when psql fails
/// (the server is still starting, or the table is not there yet).
pub fn try_psql(container: &str, sql: &str) -> Option<String> {
    let out = docker(&[
        "exec", container, "psql", "-U", "postgres", "-X", "-Atc", sql,
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs SQL through psql in `container` as postgres and returns trimmed output.
pub fn psql(container: &str, sql: &str) -> String {
    docker_ok(&[
        "exec", container, "psql", "-U", "postgres", "-X", "-Atc", sql,
    ])
}

/// Polls `check` every 300 ms until it holds, failing after `secs` seconds.
pub fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen within {secs}s"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// Row count and an md5 over every row of `table` in id order: equal on
/// two servers only when they hold the same rows.
pub fn table_fingerprint(container: &str, table: &str) -> String {
    psql(
        container,
        &format!(
            "SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {table} t"
        ),
    )
}

/// Sends `signal` to a process this test started.
pub fn send_signal(child: &std::process::Child, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).expect("signal the pgshadow process");
}
