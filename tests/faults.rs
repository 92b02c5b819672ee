//! Faults during and after `clone-standby`, on a real lab: the primary
//! killed mid-copy, SIGTERM, a target file system that fills up, the link
//! cut while the primary takes writes, and a standby that stops or crashes.
//! A failed clone must leave no container, no staging directory and no
//! target; a cut or a restart must lose no row.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::lab::{Lab, env_refs, listing, staging_leftovers};
use common::*;
use nix::sys::signal::Signal;

/// Fills the primary with pgbench tables of `scale` (about 13 MB each),
/// generated server-side, and returns the size of all databases in bytes.
fn fill_primary(lab: &Lab, scale: u32) -> u64 {
    pgbench(
        &lab.primary(),
        &["-i", "-I", "dtG", "-s", &scale.to_string()],
    );
    psql(
        &lab.primary(),
        "SELECT sum(pg_database_size(datname)) FROM pg_database",
    )
    .parse()
    .unwrap()
}

/// A tmpfs of `megabytes` mounted at `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, megabytes: u32) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let size = format!("size={megabytes}m");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &size, "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "mount tmpfs: {}", describe(&out));
        Tmpfs(dir.to_path_buf())
    }

    /// Writes `filler` until the file system has no byte left.
    fn fill_up(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.0.join("filler")).unwrap();
        let chunk = vec![0u8; 1 << 20];
        loop {
            match filler.write_all(&chunk) {
                Ok(()) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("fill {}: {e}", self.0.display()),
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

#[test]
fn a_primary_killed_mid_clone_fails_at_pg_basebackup_and_reports_the_slot() {
    let lab = Lab::up("fault-primary-killed");
    let size = fill_primary(&lab, 38);
    assert!(size >= 500_000_000, "only {size} bytes of data");
    let env = lab.second_standby("killed", "killed");
    let child = lab.spawn(&["clone-standby", "--max-rate", "25M"], &env_refs(&env));

    lab.wait_for_copy(lab.dir.path(), 40_000_000, 90);
    docker_ok(&["kill", &lab.primary()]);
    let out = child.wait_with_output().unwrap();

    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains("clone-standby failed at stage `pg_basebackup`"),
        "{stderr}"
    );
    // The primary is dead, so the slot cannot be dropped: say so, and how.
    let warning = "warning: the slot killed this run created could not be dropped";
    let output = format!("{stdout}{stderr}");
    assert!(output.contains(warning), "{}", describe(&out));
    assert!(
        output.contains("SELECT pg_drop_replication_slot('killed')"),
        "{output}"
    );
    assert!(staging_leftovers(lab.dir.path()).is_empty());
    assert!(!lab.dir.path().join("killed").exists());
    lab.assert_only_lab_containers();

    // Back up, the primary still holds the slot; the reported command drops it.
    docker_ok(&["start", &lab.primary()]);
    wait_for_postgres(&lab.primary(), 90);
    assert!(
        lab.slot_exists("killed"),
        "the report named a slot that is not there"
    );
    psql(&lab.primary(), "SELECT pg_drop_replication_slot('killed')");
    assert!(!lab.slot_exists("killed"));
}

#[test]
fn sigterm_mid_clone_removes_the_container_the_staging_dir_and_the_slot() {
    let lab = Lab::up("fault-sigterm");
    fill_primary(&lab, 6);
    let env = lab.second_standby("termed", "termed");
    let child = lab.spawn(&["clone-standby", "--max-rate", "4M"], &env_refs(&env));

    lab.wait_for_copy(lab.dir.path(), 8_000_000, 60);
    send_signal(&child, Signal::SIGTERM);
    let out = child.wait_with_output().unwrap();

    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("interrupted by SIGTERM during stage `pg_basebackup`"),
        "{stderr}"
    );
    lab.assert_only_lab_containers();
    assert!(staging_leftovers(lab.dir.path()).is_empty());
    assert!(!lab.dir.path().join("termed").exists());
    assert!(
        !lab.slot_exists("termed"),
        "the slot this run created was not dropped"
    );
}

#[test]
fn a_full_target_file_system_is_a_clear_no_space_error_that_leaves_nothing() {
    let lab = Lab::up("fault-disk-full");
    fill_primary(&lab, 4);

    // Too small from the start: the first progress line is enough to stop.
    let small = Tmpfs::mount(&lab.dir.path().join("small"), 30);
    let env = lab.second_standby("small", "small/standby");
    let out = lab.run(&["clone-standby"], &env_refs(&env));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("clone-standby failed at stage `pg_basebackup`"),
        "{stderr}"
    );
    // The first progress line usually stops it (total > free), unless the
    // copy outruns it and the file system fills first; both name the place.
    let staging = lab.dir.path().join("small/.standby.pgshadow-staging-");
    let early = stderr.contains("not enough space in") && stderr.contains("free space on that");
    let late = stderr.contains("No space left on device") && stderr.contains("file system is full");
    assert!(early || late, "{stderr}");
    assert!(stderr.contains(&staging.display().to_string()), "{stderr}");
    assert!(listing(&small.0).is_empty(), "{:?}", listing(&small.0));
    assert!(!lab.slot_exists("small"));
    drop(small);

    // Room at the start, then another writer takes it all during the copy.
    let filled = Tmpfs::mount(&lab.dir.path().join("filled"), 400);
    let env = lab.second_standby("filled", "filled/standby");
    let child = lab.spawn(&["clone-standby", "--max-rate", "4M"], &env_refs(&env));
    lab.wait_for_copy(&filled.0, 4_000_000, 60);
    filled.fill_up();
    let out = child.wait_with_output().unwrap();

    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("clone-standby failed at stage `pg_basebackup`"),
        "{stderr}"
    );
    assert!(stderr.contains("No space left on device"), "{stderr}");
    let staging = filled.0.join(".standby.pgshadow-staging-");
    assert!(stderr.contains(&staging.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("hint: the target file system is full"),
        "{stderr}"
    );
    assert_eq!(listing(&filled.0), vec!["filler".to_string()]);
    assert!(!lab.slot_exists("filled"));
    lab.assert_only_lab_containers();
}

/// Waits until the standby has replayed everything the primary wrote.
fn wait_until_caught_up(lab: &Lab, secs: u64) {
    let target = psql(&lab.primary(), "SELECT pg_current_wal_lsn()");
    let sql = format!("SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn");
    wait_for("the standby to catch up", secs, || {
        try_psql(&lab.standby(), &sql).as_deref() == Some("t")
    });
}

/// Docker's network connection of a container, restored when dropped.
struct Unplugged(String);

impl Unplugged {
    fn unplug(container: &str) -> Unplugged {
        docker_ok(&["network", "disconnect", "bridge", container]);
        Unplugged(container.to_string())
    }
}

impl Drop for Unplugged {
    fn drop(&mut self) {
        let _ = docker(&["network", "connect", "bridge", &self.0]);
    }
}

#[test]
fn a_link_cut_for_30_seconds_while_the_primary_writes_loses_no_row() {
    let lab = Lab::up("fault-link-cut");
    psql(
        &lab.primary(),
        "CREATE TABLE ledger(id int PRIMARY KEY, note text)",
    );
    wait_until_caught_up(&lab, 30);

    let cut = Unplugged::unplug(&lab.standby());
    for batch in 0..10 {
        let from = batch * 5000;
        psql(
            &lab.primary(),
            &format!(
                "INSERT INTO ledger SELECT g, md5(g::text) FROM generate_series({from}, {from} + 4999) g"
            ),
        );
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
    // The slot holds the WAL the absent standby has not received. (Whether
    // the primary has noticed the cut yet, `active`, depends on timeouts.)
    let slot = lab.prefix.replace('-', "_");
    let held = psql(
        &lab.primary(),
        &format!(
            "SELECT wal_status, restart_lsn < pg_current_wal_lsn() \
             FROM pg_replication_slots WHERE slot_name = '{slot}'"
        ),
    );
    assert_eq!(held, "reserved|t", "slot {slot} during the cut");
    drop(cut);

    wait_until_caught_up(&lab, 120);
    assert_eq!(
        table_fingerprint(&lab.standby(), "ledger"),
        table_fingerprint(&lab.primary(), "ledger")
    );
    assert!(table_fingerprint(&lab.primary(), "ledger").starts_with("50000 "));
}

/// Waits until the standby's WAL receiver streams again.
fn wait_until_streaming(lab: &Lab, secs: u64) {
    wait_for("the standby to stream", secs, || {
        let status = try_psql(&lab.standby(), "SELECT status FROM pg_stat_wal_receiver");
        status.as_deref() == Some("streaming")
    });
}

#[test]
fn a_stopped_or_crashed_standby_streams_again_without_help() {
    let lab = Lab::up("fault-standby-restart");
    psql(&lab.primary(), "CREATE TABLE beat(n int)");

    docker_ok(&["stop", &lab.standby()]);
    psql(&lab.primary(), "INSERT INTO beat VALUES (1)");
    docker_ok(&["start", &lab.standby()]);
    wait_until_streaming(&lab, 60);
    wait_until_caught_up(&lab, 60);
    assert_eq!(psql(&lab.standby(), "SELECT sum(n) FROM beat"), "1");

    // The server process dies (not `docker stop`): the restart policy brings it back.
    let restarts = || docker_ok(&["inspect", "-f", "{{.RestartCount}}", &lab.standby()]);
    assert_eq!(restarts(), "0");
    let pid = docker_ok(&["inspect", "-f", "{{.State.Pid}}", &lab.standby()]);
    let pid = nix::unistd::Pid::from_raw(pid.parse().unwrap());
    nix::sys::signal::kill(pid, Signal::SIGKILL).unwrap();
    psql(&lab.primary(), "INSERT INTO beat VALUES (2)");
    wait_for("docker to restart the standby", 60, || restarts() == "1");
    wait_until_streaming(&lab, 90);
    wait_until_caught_up(&lab, 60);
    assert_eq!(psql(&lab.standby(), "SELECT sum(n) FROM beat"), "3");
}

#[test]
fn an_export_that_fills_its_file_system_restarts_the_standby_intact() {
    let lab = Lab::up("fault-export-full");
    psql(
        &lab.primary(),
        "CREATE TABLE kept AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 20000) g",
    );
    wait_until_caught_up(&lab, 60);
    let small = Tmpfs::mount(&lab.dir.path().join("small"), 10);

    let archive = small.0.join("standby.tar");
    let out = lab.run(&["export", "--out", archive.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("export failed at stage `stream`"),
        "{stderr}"
    );
    assert!(stderr.contains("No space left on device"), "{stderr}");
    let named = format!("write the archive to {}", archive.display());
    assert!(stderr.contains(&named), "{stderr}");
    assert!(
        stderr.contains("is full: free space or write elsewhere"),
        "{stderr}"
    );
    assert!(listing(&small.0).is_empty(), "{:?}", listing(&small.0));

    // The standby was started again on its untouched directory.
    wait_until_streaming(&lab, 60);
    psql(
        &lab.primary(),
        "INSERT INTO kept VALUES (0, 'after the export')",
    );
    wait_until_caught_up(&lab, 60);
    assert_eq!(
        table_fingerprint(&lab.standby(), "kept"),
        table_fingerprint(&lab.primary(), "kept")
    );
    lab.assert_only_lab_containers();
}
