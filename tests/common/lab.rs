//! A lab (primary + streaming standby) made by the real `pgshadow lab up`,
//! removed when dropped.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};

use super::*;

/// A running lab in a temporary folder.
pub struct Lab {
    pub test: String,
    pub dir: tempfile::TempDir,
    pub prefix: String,
    containers: Containers,
}

impl Lab {
    /// `pgshadow lab up` with the test image; panics (with pgshadow's output) on failure.
    pub fn up(test: &str) -> Lab {
        Lab::up_with(test, &[]).0
    }

    /// `pgshadow GLOBAL... lab up` with the test image, and what it printed.
    pub fn up_with(test: &str, global: &[&str]) -> (Lab, Output) {
        require_docker();
        let dir = tempfile::tempdir().expect("temporary folder");
        let prefix = unique("pgst");
        let mut containers = Containers::default();
        containers.add(&format!("{prefix}-standby"));
        containers.add(&format!("{prefix}-primary"));
        let out = pgshadow(test)
            .args(global)
            .args([
                "lab",
                "up",
                "--dir",
                dir.path().to_str().unwrap(),
                "--name",
                &prefix,
                "--image",
                IMAGE,
            ])
            .output()
            .expect("run pgshadow");
        assert!(out.status.success(), "lab up failed: {}", describe(&out));
        let lab = Lab {
            test: test.to_string(),
            dir,
            prefix,
            containers,
        };
        (lab, out)
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("pgshadow.yaml")
    }

    pub fn primary(&self) -> String {
        format!("{}-primary", self.prefix)
    }

    pub fn standby(&self) -> String {
        format!("{}-standby", self.prefix)
    }

    pub fn standby_dir(&self) -> PathBuf {
        self.dir.path().join("standby")
    }

    pub fn primary_dir(&self) -> PathBuf {
        self.dir.path().join("primary")
    }

    /// Runs `pgshadow -c <lab config> ARGS...` with extra environment.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = pgshadow(&self.test);
        command.arg("-c").arg(self.config()).args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().expect("run pgshadow")
    }

    /// Starts `pgshadow -c <lab config> ARGS...` without waiting for it.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Child {
        let mut command = pgshadow(&self.test);
        command.arg("-c").arg(self.config()).args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pgshadow")
    }

    /// Also remove `name` when the lab is dropped.
    pub fn track(&mut self, name: &str) {
        self.containers.add(name);
    }

    /// Environment that points a clone at a second standby `name` beside
    /// the lab's, in `<lab dir>/<dir>`, with a slot of its own.
    pub fn second_standby(&self, name: &str, dir: &str) -> Vec<(&'static str, String)> {
        vec![
            ("PGSHADOW_STANDBY_CONTAINER", name.to_string()),
            (
                "PGSHADOW_STANDBY_DATA_DIR",
                self.dir.path().join(dir).display().to_string(),
            ),
            ("PGSHADOW_REPLICATION_SLOT", name.replace('-', "_")),
        ]
    }

    /// Whether the primary has the replication slot `slot`.
    pub fn slot_exists(&self, slot: &str) -> bool {
        let sql = format!("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}'");
        psql(&self.primary(), &sql) == "1"
    }

    /// Only the lab's own containers carry this test's label.
    pub fn assert_only_lab_containers(&self) {
        let mut left = labelled_containers(&self.test);
        left.sort();
        let mut expected = vec![self.primary(), self.standby()];
        expected.sort();
        assert_eq!(left, expected, "a temporary container was left behind");
    }

    /// Waits until a pg_basebackup container of this test runs and has
    /// written `bytes` into a staging directory under `parent`.
    pub fn wait_for_copy(&self, parent: &Path, bytes: u64, secs: u64) {
        wait_for("the copy to start", secs, || {
            let copying = labelled_containers(&self.test)
                .iter()
                .any(|n| n.contains("basebackup"));
            let staged: u64 = staging_leftovers(parent)
                .iter()
                .map(|name| disk_usage(&parent.join(name)))
                .sum();
            copying && staged >= bytes
        });
    }
}

/// `(key, value)` pairs borrowed, as [`Lab::run`] takes them.
pub fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Bytes of the files under `dir`.
pub fn disk_usage(dir: &Path) -> u64 {
    pgshadow::datadir::bytes_under(dir)
}

/// Every path under `dir`, relative, sorted (for before/after comparisons).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if let Ok(entries) = std::fs::read_dir(&path) {
            for entry in entries.flatten() {
                let p = entry.path();
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
                if p.is_dir() && !p.is_symlink() {
                    pending.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// Names in `dir`'s parent that look like pgshadow staging directories.
pub fn staging_leftovers(parent: &Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("pgshadow-staging"))
                .collect()
        })
        .unwrap_or_default()
}

/// A cloned standby's directory as PostgreSQL and our promises want it:
/// mode 0700, every entry owned by the image's postgres (999:999), keys
/// 0600, its own client key in `certs/` but not the primary's server key,
/// and no temporary certificate path left in the recovery settings.
pub fn assert_standby_dir(dir: &Path) {
    let mode = std::fs::metadata(dir).expect("data directory").mode() & 0o777;
    assert_eq!(mode, 0o700, "{} mode", dir.display());
    for entry in listing(dir) {
        let meta = std::fs::symlink_metadata(dir.join(&entry)).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (999, 999),
            "{entry} is not owned by 999:999"
        );
        if entry.ends_with(".key") {
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{entry}");
        }
    }
    assert!(dir.join("certs/client.key").exists(), "{}", dir.display());
    assert!(
        !dir.join("certs/server.key").exists(),
        "the primary's key is in {}",
        dir.display()
    );
    let conf = std::fs::read_to_string(dir.join("postgresql.auto.conf")).unwrap();
    assert!(
        !conf.contains("/run/pgshadow"),
        "temporary paths left: {conf}"
    );
}
