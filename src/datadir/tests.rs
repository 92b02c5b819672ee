//! Staging, swap and the owner/mode decisions, on temporary directories.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::owner::{self, FsOps, walk};
use super::*;
use crate::config::Owner;

#[test]
fn the_target_is_absent_empty_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("data");
    assert_eq!(inspect_target(&target).unwrap(), TargetState::Absent);
    std::fs::create_dir(&target).unwrap();
    assert_eq!(inspect_target(&target).unwrap(), TargetState::Empty);
    std::fs::write(target.join("PG_VERSION"), "15\n").unwrap();
    assert_eq!(inspect_target(&target).unwrap(), TargetState::NonEmpty);
}

#[test]
fn a_file_as_target_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("data");
    std::fs::write(&target, "x").unwrap();
    let err = inspect_target(&target).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("data directory {} is not a directory", target.display())
    );
}

#[test]
fn staging_is_a_hidden_sibling() {
    let staging = staging_path(Path::new("/opt/pgsql/data"), "abc");
    assert_eq!(
        staging,
        PathBuf::from("/opt/pgsql/.data.pgshadow-staging-abc")
    );
}

#[test]
fn swap_keeps_a_non_empty_target_aside() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("data");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("old"), "old").unwrap();
    let staging = staging_path(&target, "r1");
    create_staging(&staging).unwrap();
    std::fs::write(staging.join("new"), "new").unwrap();

    let kept = swap_into_place(&staging, &target, "20260101T000000Z")
        .unwrap()
        .unwrap();
    assert_eq!(kept, dir.path().join("data.replaced-20260101T000000Z"));
    assert!(kept.join("old").exists());
    assert!(target.join("new").exists());
    assert!(!staging.exists());
}

#[test]
fn swap_replaces_an_empty_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("data");
    std::fs::create_dir(&target).unwrap();
    let staging = staging_path(&target, "r2");
    create_staging(&staging).unwrap();
    assert_eq!(swap_into_place(&staging, &target, "x").unwrap(), None);
    assert!(target.is_dir());
}

#[test]
fn no_space_names_the_path_and_the_figures() {
    let dir = tempfile::tempdir().unwrap();
    let err = ensure_space(dir.path(), u64::MAX).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with(&format!(
        "not enough space in {}: the copy needs",
        dir.path().display()
    )));
    assert!(free_bytes(dir.path()).unwrap() > 0);
}

#[test]
fn modes_fix_the_root_and_readable_keys_only() {
    assert_eq!(plan_modes(Path::new(""), true, 0o40755), Some(0o700));
    assert_eq!(plan_modes(Path::new(""), true, 0o40700), None);
    assert_eq!(
        plan_modes(Path::new("certs/client.key"), false, 0o100644),
        Some(0o600)
    );
    assert_eq!(
        plan_modes(Path::new("certs/client.key"), false, 0o100600),
        None
    );
    assert_eq!(
        plan_modes(Path::new("certs/client.crt"), false, 0o100644),
        None
    );
    assert_eq!(plan_modes(Path::new("base"), true, 0o40750), None);
}

/// Records calls instead of making them, so the walk runs without root.
#[derive(Default)]
struct Recorder {
    chowns: Mutex<Vec<PathBuf>>,
    chmods: Mutex<Vec<(PathBuf, u32)>>,
}

impl FsOps for Recorder {
    fn lchown(&self, path: &Path, _owner: Owner) -> std::io::Result<()> {
        self.chowns.lock().unwrap().push(path.to_path_buf());
        Ok(())
    }
    fn lchown_in(
        &self,
        _handle: &std::fs::File,
        dir: &Path,
        name: &std::ffi::OsStr,
        _owner: Owner,
    ) -> std::io::Result<()> {
        self.chowns.lock().unwrap().push(dir.join(name));
        Ok(())
    }
    fn chmod(&self, path: &Path, mode: u32) -> std::io::Result<()> {
        self.chmods.lock().unwrap().push((path.to_path_buf(), mode));
        Ok(())
    }
}

#[test]
fn the_walk_visits_everything_and_follows_no_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    std::fs::create_dir_all(root.join("certs")).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(root.join("certs/client.key"), "k").unwrap();
    std::fs::set_permissions(
        root.join("certs/client.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();

    let ops = Recorder::default();
    let plan = walk(&root, Owner { uid: 999, gid: 999 }, &ops).unwrap();
    assert_eq!(plan.chowned, 4);
    assert_eq!(plan.chmodded, 2);
    let chmods = ops.chmods.lock().unwrap();
    assert!(chmods.contains(&(root.clone(), 0o700)));
    assert!(chmods.contains(&(root.join("certs/client.key"), 0o600)));
    assert!(
        !ops.chowns
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.starts_with("/etc"))
    );
}

#[test]
fn entries_whose_mode_is_never_changed_are_not_inspected() {
    let cases = [
        ("", true, true),
        ("certs/client.key", false, true),
        ("server.key", false, true),
        ("certs", true, false),
        ("base/1/1259", false, false),
        ("keys.key", true, false),
    ];
    for (relative, is_dir, matters) in cases {
        assert_eq!(
            owner::mode_matters(Path::new(relative), is_dir),
            matters,
            "{relative}"
        );
        if !matters {
            for mode in [0o100777, 0o100600, 0o40777] {
                assert_eq!(plan_modes(Path::new(relative), is_dir, mode), None);
            }
        }
    }
}
