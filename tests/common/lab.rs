//! A lab (primary + streaming standby) made by the real `pgshadow lab up`,
//! removed when dropped.

use std::path::{Path, PathBuf};
use std::process::Output;

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
        require_docker();
        let dir = tempfile::tempdir().expect("temporary folder");
        let prefix = unique("pgst");
        let mut containers = Containers::default();
        containers.add(&format!("{prefix}-standby"));
        containers.add(&format!("{prefix}-primary"));
        let out = pgshadow(test)
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
        Lab {
            test: test.to_string(),
            dir,
            prefix,
            containers,
        }
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

    /// Also remove `name` when the lab is dropped.
    pub fn track(&mut self, name: &str) {
        self.containers.add(name);
    }
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
