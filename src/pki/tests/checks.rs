//! Unit tests of the checks other commands run on a certificate folder,
//! and of `pki inspect`: each problem named with its file and its fix.

use std::os::unix::fs::PermissionsExt;

use time::Duration;

use super::{now, plan};
use crate::pki::inspect::inspect_dir;
use crate::pki::issue::Validity;
use crate::pki::make::{init, issue_client};
use crate::pki::*;

#[test]
fn checks_name_the_file_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    init(&plan(tmp.path()), now()).unwrap();
    let key = tmp.path().join(CLIENT_KEY);

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = check_client_set(tmp.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: private key has mode 0640, readable by group or others",
            key.display()
        )
    );
    assert_eq!(err.hint().unwrap(), format!("chmod 600 {}", key.display()));

    std::fs::copy(tmp.path().join(SERVER_KEY), &key).unwrap();
    let err = check_client_set(tmp.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} does not belong to {}",
            key.display(),
            tmp.path().join(CLIENT_CERT).display()
        )
    );

    std::fs::remove_file(tmp.path().join(SERVER_KEY)).unwrap();
    let err = check_server_set(tmp.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: file is missing", tmp.path().join(SERVER_KEY).display())
    );

    let fresh = tempfile::tempdir().unwrap();
    init(&plan(fresh.path()), now()).unwrap();
    std::fs::remove_file(fresh.path().join(STANDBY_KEY)).unwrap();
    let err = check_client_set(fresh.path()).unwrap_err();
    let standby = fresh.path().join(STANDBY_CERT);
    assert_eq!(
        err.to_string(),
        format!("{}: standby.crt without standby.key", standby.display())
    );
    assert_eq!(err.hint().unwrap(), "copy standby.key too, or remove both");
}

#[test]
fn an_expired_or_foreign_certificate_fails_the_checks() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    init(&plan(one.path()), now()).unwrap();
    init(&plan(two.path()), now()).unwrap();

    let past = Validity {
        not_before: now() - Duration::days(10),
        not_after: now() - Duration::days(1),
    };
    issue_client(one.path(), "replication_user", past, now()).unwrap();
    let err = check_client_set(one.path()).unwrap_err();
    let cert = one.path().join(CLIENT_CERT);
    assert!(
        err.to_string()
            .starts_with(&format!("{}: certificate expired on ", cert.display())),
        "{err}"
    );
    assert_eq!(
        err.hint().unwrap(),
        format!(
            "issue a new certificate: `pgshadow pki issue client --dir {} --user ROLE`",
            one.path().display()
        )
    );

    std::fs::copy(two.path().join(SERVER_CERT), one.path().join(SERVER_CERT)).unwrap();
    std::fs::copy(two.path().join(SERVER_KEY), one.path().join(SERVER_KEY)).unwrap();
    let err = check_server_set(one.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} was not signed by {}",
            one.path().join(SERVER_CERT).display(),
            one.path().join(CA_CERT).display()
        )
    );
}

#[test]
fn inspect_reports_every_certificate_and_its_problems() {
    let tmp = tempfile::tempdir().unwrap();
    init(&plan(tmp.path()), now()).unwrap();
    std::fs::set_permissions(
        tmp.path().join(SERVER_KEY),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    issue_client(
        tmp.path(),
        "replication_user",
        Validity::days_from_now(10),
        now(),
    )
    .unwrap();

    let reports = inspect_dir(tmp.path(), 30, now()).unwrap();
    let files: Vec<&str> = reports.iter().map(|r| r.file.as_str()).collect();
    assert_eq!(files, ["ca.crt", "client.crt", "server.crt", "standby.crt"]);
    let ca = &reports[0];
    assert!(ca.is_ca && ca.chain_ok && ca.problems.is_empty());
    assert_eq!((ca.key_ok, ca.mode_ok), (Some(true), Some(true)));
    let client = &reports[1];
    assert_eq!(client.days_left, 9);
    assert_eq!(client.problems, ["expires in 9 days (warning below 30)"]);
    let server = &reports[2];
    assert_eq!(server.sans, ["IP:203.0.113.10", "DNS:db.example.com"]);
    assert_eq!((server.key_ok, server.mode_ok), (Some(true), Some(false)));
    assert_eq!(server.key_mode.as_deref(), Some("0644"));
    assert_eq!(
        server.problems,
        ["server.key has mode 0644, readable by group or others"]
    );
    assert!(reports[3].problems.is_empty());

    std::fs::remove_file(tmp.path().join(CA_KEY)).unwrap();
    let reports = inspect_dir(tmp.path(), 30, now()).unwrap();
    assert_eq!(
        reports[0].key_ok, None,
        "ca.key belongs offline: its absence is fine"
    );
    assert!(reports[0].problems.is_empty());
}
