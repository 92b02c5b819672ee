//! A standby cloned through an engine reached over SSH: bollard's ssh support
//! runs the system ssh client against an sshd of the test's own (see
//! `common::ssh_host`), whose `docker system dial-stdio` lands on this
//! machine's engine. pgshadow sees an `ssh://` address, so it must do every
//! file operation on the standby's side through a helper container, and
//! every Docker request for that side must travel through sshd.

mod common;

use std::process::Output;

use common::fixture;
use common::lab::Lab;
use common::ssh_host::SshHost;
use common::*;

const TEST: &str = "remote_ssh";

/// Runs `pgshadow -vv -c <lab config> ARGS...` with the standby's engine
/// named by the SSH host's URL and the agent in the environment.
fn run_over_ssh(lab: &Lab, ssh: &SshHost, args: &[&str]) -> Output {
    let mut command = pgshadow(TEST);
    command
        .env("PGSHADOW_STANDBY_DOCKER_HOST", &ssh.url)
        .envs(ssh.env())
        .arg("-vv")
        .arg("-c")
        .arg(lab.config())
        .args(args);
    command.output().expect("run pgshadow")
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", describe(out)))
}

/// Sessions sshd has started so far (each Docker connection is one).
fn sessions(ssh: &SshHost) -> usize {
    ssh.sshd_log().matches("Starting session: command").count()
}

#[test]
fn a_standby_behind_ssh_clones_through_the_helper_and_streams() {
    let lab = Lab::up(TEST);
    let ssh = SshHost::start();
    let sessions_before = sessions(&ssh);
    psql(
        &lab.primary(),
        "CREATE TABLE before_clone (id int); INSERT INTO before_clone SELECT generate_series(1, 1000)",
    );

    // The clone, with every request for the standby's side sent over SSH.
    let out = run_over_ssh(&lab, &ssh, &["clone-standby", "--force", "--json"]);
    assert!(out.status.success(), "clone over ssh: {}", describe(&out));
    let summary = json_of(&out);
    assert_eq!(summary["verified"], true, "{summary:#}");
    assert_eq!(summary["container"], lab.standby().as_str(), "{summary:#}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let helper = stderr
        .lines()
        .find(|l| l.contains("file helper started"))
        .unwrap_or_else(|| panic!("no file helper was started: {}", describe(&out)));
    assert!(
        helper.contains(&ssh.url),
        "helper on another engine: {helper}"
    );
    assert!(
        sessions(&ssh) > sessions_before,
        "sshd saw no session:\n{}",
        ssh.sshd_log()
    );
    assert_eq!(
        psql(&lab.standby(), "SELECT count(*) FROM before_clone"),
        "1000"
    );

    // status reads the standby through SSH too.
    let out = run_over_ssh(&lab, &ssh, &["status", "--json"]);
    assert!(out.status.success(), "status over ssh: {}", describe(&out));
    let report = json_of(&out);
    assert_eq!(report["role"], "standby", "{report:#}");
    assert_eq!(report["streaming"], true, "{report:#}");
    assert_eq!(report["state"], "ok", "{report:#}");

    // Rows written on the primary afterwards reach the new standby.
    psql(
        &lab.primary(),
        "CREATE TABLE after_clone (id int PRIMARY KEY, v text); \
         INSERT INTO after_clone SELECT g, md5(g::text) FROM generate_series(1, 2000) g",
    );
    let want = table_fingerprint(&lab.primary(), "after_clone");
    wait_for("the rows on the standby", 60, || {
        try_psql(&lab.standby(), "SELECT count(*) FROM after_clone").as_deref() == Some("2000")
    });
    assert_eq!(table_fingerprint(&lab.standby(), "after_clone"), want);

    // promote drives the standby's engine over SSH as well: a dry run
    // changes nothing, the real one leaves a writable primary.
    let out = run_over_ssh(&lab, &ssh, &["promote", "--dry-run"]);
    assert!(
        out.status.success(),
        "promote --dry-run: {}",
        describe(&out)
    );
    assert_eq!(psql(&lab.standby(), "SELECT pg_is_in_recovery()"), "t");
    let out = run_over_ssh(&lab, &ssh, &["promote", "--wait", "60"]);
    assert!(out.status.success(), "promote over ssh: {}", describe(&out));
    assert_eq!(psql(&lab.standby(), "SELECT pg_is_in_recovery()"), "f");
    psql(
        &lab.standby(),
        "INSERT INTO after_clone VALUES (2001, 'promoted')",
    );
    assert_eq!(
        psql(&lab.standby(), "SELECT count(*) FROM after_clone"),
        "2001"
    );
    let out = run_over_ssh(&lab, &ssh, &["promote"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a second promote is refused: {}",
        describe(&out)
    );
    assert!(
        describe(&out).contains("is not a standby"),
        "{}",
        describe(&out)
    );

    // Nothing pgshadow started is left: no helper container, no ssh master.
    lab.assert_only_lab_containers();
    // bollard starts ssh masters with ControlPersist=yes: only pgshadow
    // closing its connections ends them and removes their control folders.
    assert_eq!(
        ssh.ssh_clients(),
        Vec::<u32>::new(),
        "ssh masters left running"
    );
    assert_eq!(
        ssh.control_dirs_left(),
        Vec::<String>::new(),
        "control folders left"
    );

    // The fixture removes itself completely.
    let dir = ssh.dir.clone();
    let netns = ssh.netns();
    let sshd = fixture::read_pid(&dir.join("sshd.pid"));
    let agent = fixture::read_pid(&dir.join("agent.pid"));
    let line = std::fs::read_to_string(dir.join("known_hosts_line")).unwrap();
    let known = std::fs::read_to_string(dir.join("known_hosts_file")).unwrap();
    drop(ssh);
    assert!(!dir.exists(), "{} left", dir.display());
    assert!(
        !fixture::running(sshd) && !fixture::running(agent),
        "sshd or ssh-agent still runs"
    );
    let namespaces = String::from_utf8_lossy(
        &std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(!namespaces.contains(&netns), "{netns} left: {namespaces}");
    let veth = format!("{netns}h");
    let link = std::process::Command::new("ip")
        .args(["link", "show", &veth])
        .output()
        .unwrap();
    assert!(!link.status.success(), "{veth} left");
    let known_now = std::fs::read_to_string(known.trim()).unwrap_or_default();
    assert!(
        !known_now.contains(line.trim()),
        "known_hosts line left: {known_now}"
    );
}
