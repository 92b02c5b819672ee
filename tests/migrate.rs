//! `pgshadow export` and `pgshadow import` on a lab made by `pgshadow lab up`:
//! a second standby made from an archive streams and holds every row;
//! damaged archives fail naming the file and leave nothing; a pipe works end
//! to end; an interrupted export starts the standby again.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::lab::{Lab, env_refs, staging_leftovers};
use common::*;

const TABLE_SUM: &str =
    "SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY id)) FROM t";

fn second_dir(lab: &Lab, name: &str) -> PathBuf {
    lab.dir.path().join(name)
}

fn slot_name(name: &str) -> String {
    name.replace('-', "_")
}

/// A table with rows, and the second standby's slot, made before the export
/// so that the primary keeps every WAL segment the copy will need.
fn prepare_primary(lab: &Lab, second: &str) {
    psql(
        &lab.primary(),
        "CREATE TABLE t (id int PRIMARY KEY, v text)",
    );
    insert_rows(lab, 1, 5000);
    let slot = slot_name(second);
    psql(
        &lab.primary(),
        &format!("SELECT pg_create_physical_replication_slot('{slot}', true)"),
    );
}

fn insert_rows(lab: &Lab, from: u32, to: u32) {
    psql(
        &lab.primary(),
        &format!("INSERT INTO t SELECT g, md5(g::text) FROM generate_series({from}, {to}) g"),
    );
}

/// Waits until `container` holds exactly the primary's rows.
fn assert_same_rows(lab: &Lab, container: &str) {
    let want = psql(&lab.primary(), TABLE_SUM);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = docker(&[
            "exec", container, "psql", "-U", "postgres", "-X", "-Atc", TABLE_SUM,
        ]);
        let got = String::from_utf8_lossy(&got.stdout).trim().to_string();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{container} has `{got}`, the primary `{want}`"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn is_running(container: &str) -> bool {
    docker_ok(&["inspect", "-f", "{{.State.Running}}", container]) == "true"
}

/// Where the data of `path`'s largest file starts in a plain archive, and its size.
fn largest_file(archive: &[u8]) -> (String, usize, usize) {
    let mut reader = tar::Archive::new(archive);
    reader
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let path = e.path().unwrap().display().to_string();
            (path, e.raw_file_position() as usize, e.size() as usize)
        })
        .filter(|(path, _, _)| !path.starts_with("pgshadow-"))
        .max_by_key(|(_, _, size)| *size)
        .unwrap()
}

/// Renames the entry `from` to `to` (same length) in a plain archive's header.
fn rename_entry(archive: &mut [u8], from: &str, to: &str) {
    let mut at = 0;
    while at + 512 <= archive.len() {
        let header = tar::Header::from_byte_slice(&archive[at..at + 512]);
        if header.path_bytes().as_ref() == from.as_bytes() {
            let mut header = header.clone();
            header.as_old_mut().name[..to.len()].copy_from_slice(to.as_bytes());
            header.set_cksum();
            archive[at..at + 512].copy_from_slice(header.as_bytes());
            return;
        }
        let size = header.entry_size().unwrap_or(0) as usize;
        at += 512 + size.div_ceil(512) * 512;
    }
    panic!("{from} is not in the archive");
}

/// Imports `archive` as the second standby and expects a failure naming
/// `file` (and `words`), leaving no directory, staging or container behind.
fn assert_refused(lab: &Lab, name: &str, archive: &Path, file: &str, words: &str) {
    let env = lab.second_standby(name, name);
    let out = lab.run(
        &["import", "--from", archive.to_str().unwrap()],
        &env_refs(&env),
    );
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(file) && text.contains(words),
        "expected {file} and `{words}`: {text}"
    );
    assert!(!second_dir(lab, name).exists(), "{text}");
    assert!(staging_leftovers(lab.dir.path()).is_empty(), "{text}");
    assert!(
        !labelled_containers(&lab.test).contains(&name.to_string()),
        "{text}"
    );
}

#[test]
fn export_to_a_file_then_import_as_a_second_standby_that_streams_every_row() {
    let mut lab = Lab::up("migrate-file");
    let second = format!("{}-standby2", lab.prefix);
    lab.track(&second);
    prepare_primary(&lab, &second);
    let archive = lab.dir.path().join("standby.tar");

    let out = lab.run(&["export", "--out", archive.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        is_running(&lab.standby()),
        "export starts the standby again"
    );
    insert_rows(&lab, 5001, 9000);

    let env = lab.second_standby(&second, &second);
    let out = lab.run(
        &["import", "--from", archive.to_str().unwrap()],
        &env_refs(&env),
    );
    let text = describe(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("hostssl replication replication_user"),
        "{text}"
    );
    assert_same_rows(&lab, &second);
    insert_rows(&lab, 9001, 9500);
    assert_same_rows(&lab, &second);
    let streaming = psql(
        &lab.primary(),
        &format!("SELECT state FROM pg_stat_replication WHERE application_name = '{second}'"),
    );
    assert_eq!(streaming, "streaming");

    // Owner of this host's config, modes as recorded.
    let dir = second_dir(&lab, &second);
    let meta = std::fs::metadata(dir.join("PG_VERSION")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (999, 999, 0o600)
    );
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);

    // A second import into the same, now non-empty directory is refused.
    let out = lab.run(
        &["import", "--from", archive.to_str().unwrap()],
        &env_refs(&env),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        describe(&out).contains("is not empty"),
        "{}",
        describe(&out)
    );
    assert!(staging_leftovers(lab.dir.path()).is_empty());
}

#[test]
fn damaged_archives_fail_naming_the_file_and_leave_nothing() {
    let lab = Lab::up("migrate-damaged");
    let second = format!("{}-standby2", lab.prefix);
    prepare_primary(&lab, &second);
    let archive = lab.dir.path().join("standby.tar");
    let out = lab.run(&["export", "--out", archive.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let bytes = std::fs::read(&archive).unwrap();
    let (file, start, size) = largest_file(&bytes);

    let truncated = lab.dir.path().join("truncated.tar");
    std::fs::write(&truncated, &bytes[..start + size / 2]).unwrap();
    assert_refused(&lab, &second, &truncated, &file, "truncated");

    let mut flipped = bytes.clone();
    flipped[start + size / 2] ^= 0x40;
    let flipped_path = lab.dir.path().join("flipped.tar");
    std::fs::write(&flipped_path, &flipped).unwrap();
    assert_refused(&lab, &second, &flipped_path, &file, "does not match");

    let mut escaping = bytes;
    rename_entry(&mut escaping, "PG_VERSION", "../escaped");
    let escaping_path = lab.dir.path().join("escaping.tar");
    std::fs::write(&escaping_path, &escaping).unwrap();
    assert_refused(&lab, &second, &escaping_path, "../escaped", "unsafe entry");
    assert!(!lab.dir.path().join("escaped").exists());
}

#[test]
fn a_zstd_pipe_works_end_to_end_and_an_interrupted_export_restarts_the_standby() {
    let mut lab = Lab::up("migrate-pipe");
    let second = format!("{}-standby2", lab.prefix);
    lab.track(&second);
    prepare_primary(&lab, &second);

    let env = lab.second_standby(&second, &second);
    let pgshadow = env!("CARGO_BIN_EXE_pgshadow");
    let config = lab.config().display().to_string();
    // The overrides apply to the importing side only, as on another host.
    let overrides: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let script = format!(
        "set -o pipefail; {pgshadow} -c {config} export --out - --compress zstd \
         | env {} {pgshadow} -c {config} import --from -",
        overrides.join(" ")
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .env("PGSHADOW_LABELS", test_labels(&lab.test))
        .env("CI", "true")
        .env_remove("PGSHADOW_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(is_running(&lab.standby()));
    insert_rows(&lab, 5001, 6000);
    assert_same_rows(&lab, &second);

    // SIGINT while the archive is in flight: exit 1, the standby runs again.
    let mut export = pgshadow_cmd(&lab)
        .args(["export", "--out", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = export.stdout.take().unwrap();
    let mut first = vec![0u8; 1 << 20];
    stdout.read_exact(&mut first).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(export.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    // Keep reading until the export exits: closing the pipe here would race
    // the signal, and a write failing with EPIPE first is another failure
    // than the one this part checks.
    let drain = std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let out = export.wait_with_output().unwrap();
    drain.join().unwrap().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        describe(&out).contains("interrupted by SIGINT"),
        "{}",
        describe(&out)
    );
    assert!(is_running(&lab.standby()));
    assert_same_rows(&lab, &lab.standby());
}

fn pgshadow_cmd(lab: &Lab) -> Command {
    let mut command = pgshadow(&lab.test);
    command.arg("-c").arg(lab.config());
    command
}
