//! Unit tests of the PKI: generated certificates parsed back, files and
//! modes, and bad input that must write nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::inspect::CertFacts;
use super::issue::{Host, Validity, parse_host};
use super::make::{InitPlan, init, issue_client, issue_server};
use super::*;

mod checks;

fn plan(dir: &Path) -> InitPlan {
    InitPlan {
        dir: dir.to_path_buf(),
        primary_hosts: vec![
            parse_host("203.0.113.10").unwrap(),
            parse_host("db.example.com").unwrap(),
        ],
        user: "replication_user".into(),
        standby_hosts: vec![parse_host("198.51.100.7").unwrap()],
        leaf_days: 397,
        ca_days: 3650,
        force: false,
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read(path).unwrap();
    x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn init_writes_the_whole_set_with_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    init(&plan(&dir), now()).unwrap();

    let expected = [
        "ca.crt",
        "ca.key",
        "client.crt",
        "client.key",
        "server.crt",
        "server.key",
        "standby.crt",
        "standby.key",
    ];
    assert_eq!(listing(&dir), expected);
    assert_eq!(mode(&dir), 0o700);
    for name in expected {
        let want = if name.ends_with(".key") { 0o600 } else { 0o644 };
        assert_eq!(mode(&dir.join(name)), want, "{name}");
    }
}

#[test]
fn the_ca_is_a_ca_and_signs_only() {
    let tmp = tempfile::tempdir().unwrap();
    init(&plan(tmp.path()), now()).unwrap();
    let der = der(&tmp.path().join(CA_CERT));
    let (_, ca) = X509Certificate::from_der(&der).unwrap();

    let constraints = ca.basic_constraints().unwrap().unwrap().value;
    assert!(constraints.ca);
    assert_eq!(constraints.path_len_constraint, Some(0));
    let usage = ca.key_usage().unwrap().unwrap().value;
    assert!(usage.key_cert_sign() && usage.crl_sign());
    assert_eq!(ca.subject().to_string(), "CN=pgshadow replication CA");
    let days = (ca.validity().not_after.to_datetime() - now()).whole_days();
    assert!((3649..=3650).contains(&days), "{days}");
}

#[test]
fn the_server_certificate_has_ip_and_dns_sans_and_server_auth() {
    let tmp = tempfile::tempdir().unwrap();
    init(&plan(tmp.path()), now()).unwrap();
    let der = der(&tmp.path().join(SERVER_CERT));
    let (_, cert) = X509Certificate::from_der(&der).unwrap();

    let sans = cert.subject_alternative_name().unwrap().unwrap().value;
    assert_eq!(
        sans.general_names,
        [
            GeneralName::IPAddress(&[203, 0, 113, 10]),
            GeneralName::DNSName("db.example.com")
        ]
    );
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);
    assert!(!cert.is_ca());
    assert_eq!(cert.subject().to_string(), "CN=203.0.113.10");
    assert_eq!(cert.issuer().to_string(), "CN=pgshadow replication CA");
}

#[test]
fn the_client_certificate_names_the_role_and_has_client_auth() {
    let tmp = tempfile::tempdir().unwrap();
    init(&plan(tmp.path()), now()).unwrap();
    let der = der(&tmp.path().join(CLIENT_CERT));
    let (_, cert) = X509Certificate::from_der(&der).unwrap();

    assert_eq!(cert.subject().to_string(), "CN=replication_user");
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert!(cert.subject_alternative_name().unwrap().is_none());
    assert!(!cert.is_ca());
}

#[test]
fn leaves_have_explicit_validity_and_distinct_serials() {
    let tmp = tempfile::tempdir().unwrap();
    let start = now();
    init(&plan(tmp.path()), start).unwrap();

    let mut serials = Vec::new();
    for name in [CA_CERT, SERVER_CERT, CLIENT_CERT, STANDBY_CERT] {
        let der = der(&tmp.path().join(name));
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let serial = cert.raw_serial().to_vec();
        assert_eq!(serial.len(), 16, "{name}: 16 random bytes");
        assert!(serial[0] & 0x80 == 0, "{name}: positive serial");
        serials.push(serial);
        if name != CA_CERT {
            let validity = cert.validity();
            let span = validity.not_after.to_datetime() - validity.not_before.to_datetime();
            assert_eq!(span, Duration::days(397) + Duration::hours(1), "{name}");
            let backdate = start - validity.not_before.to_datetime();
            let second = Duration::seconds(1);
            assert!(backdate >= Duration::hours(1) && backdate < Duration::hours(1) + second);
        }
    }
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 4, "serials must differ");
}

#[test]
fn generated_sets_pass_their_own_checks() {
    let tmp = tempfile::tempdir().unwrap();
    init(&plan(tmp.path()), now()).unwrap();

    let client = check_client_set(tmp.path()).unwrap();
    assert_eq!(client.client_cn, "replication_user");
    assert_eq!(
        client.standby,
        Some((tmp.path().join(STANDBY_CERT), tmp.path().join(STANDBY_KEY)))
    );
    assert!(
        (396..=397).contains(&client.days_left),
        "{}",
        client.days_left
    );
    let server = check_server_set(tmp.path()).unwrap();
    assert_eq!(server.cert, tmp.path().join(SERVER_CERT));
    assert_eq!(days_left(&tmp.path().join(CA_CERT)).unwrap(), 3649);
}

#[test]
fn no_primary_host_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let mut plan = plan(&dir);
    plan.primary_hosts.clear();
    let err = init(&plan, now()).unwrap_err();

    assert_eq!(
        err.to_string(),
        "no primary host given: the server certificate needs the address the standby dials"
    );
    assert!(err.is_usage());
    assert!(!dir.exists());
}

#[test]
fn hosts_that_are_neither_ip_nor_dns_are_refused() {
    assert_eq!(
        parse_host("10.0.0.1").unwrap(),
        Host::Ip("10.0.0.1".parse().unwrap())
    );
    assert_eq!(
        parse_host("[2001:db8::1]").unwrap(),
        Host::Ip("2001:db8::1".parse().unwrap())
    );
    assert_eq!(
        parse_host("DB-1.Example.com.").unwrap(),
        Host::Dns("db-1.example.com".into())
    );
    let cases = [
        (
            "db_1.example.com",
            "neither an IP address nor a DNS name (letters, digits, `-` and `.` only)",
        ),
        (
            "host name",
            "neither an IP address nor a DNS name (letters, digits, `-` and `.` only)",
        ),
        (
            "-db.example.com",
            "a DNS label may not start or end with `-`",
        ),
        (
            "10.0.0.300",
            "looks like an IP address but is not a valid one",
        ),
        ("", "neither an IP address nor a DNS name"),
    ];
    for (host, reason) in cases {
        let err = parse_host(host).unwrap_err();
        assert_eq!(err.to_string(), format!("invalid host `{host}`: {reason}"));
        assert!(err.is_usage());
    }
}

#[test]
fn existing_files_are_not_overwritten_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    init(&plan(tmp.path()), now()).unwrap();
    let before = std::fs::read(tmp.path().join(CA_KEY)).unwrap();

    let err = init(&plan(tmp.path()), now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: refusing to overwrite ca.crt, ca.key, server.crt, server.key, client.crt, \
             client.key, standby.crt, standby.key",
            tmp.path().display()
        )
    );
    assert!(err.hint().unwrap().starts_with("pass --force"));
    assert_eq!(std::fs::read(tmp.path().join(CA_KEY)).unwrap(), before);
    assert_eq!(listing(tmp.path()).len(), 8);

    let mut forced = plan(tmp.path());
    forced.force = true;
    let written = init(&forced, now()).unwrap();
    assert_eq!(written.kept.len(), 8, "every replaced file is kept aside");
    assert_ne!(std::fs::read(tmp.path().join(CA_KEY)).unwrap(), before);
}

#[test]
fn a_corrupt_ca_key_stops_issue_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    init(&plan(tmp.path()), now()).unwrap();
    std::fs::write(
        tmp.path().join(CA_KEY),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let before = listing(tmp.path());
    let client_before = std::fs::read(tmp.path().join(CLIENT_CERT)).unwrap();

    let err = issue_client(
        tmp.path(),
        "replication_user",
        Validity::days_from_now(30),
        now(),
    )
    .unwrap_err();
    let key = tmp.path().join(CA_KEY);
    assert_eq!(
        err.to_string(),
        format!("{}: not a usable private key", key.display())
    );
    assert_eq!(
        err.hint().unwrap(),
        format!(
            "{} must be the PEM key `pgshadow pki init` wrote beside ca.crt",
            key.display()
        )
    );
    assert_eq!(listing(tmp.path()), before);
    assert_eq!(
        std::fs::read(tmp.path().join(CLIENT_CERT)).unwrap(),
        client_before
    );
}

#[test]
fn a_ca_key_from_another_ca_is_refused() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    init(&plan(one.path()), now()).unwrap();
    init(&plan(two.path()), now()).unwrap();
    std::fs::copy(two.path().join(CA_KEY), one.path().join(CA_KEY)).unwrap();

    let hosts = [parse_host("10.1.1.1").unwrap()];
    let err = issue_server(
        one.path(),
        "server",
        &hosts,
        Validity::days_from_now(30),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} does not belong to {}",
            one.path().join(CA_KEY).display(),
            one.path().join(CA_CERT).display()
        )
    );
}

#[test]
fn issue_rotates_and_keeps_the_old_pair() {
    let tmp = tempfile::tempdir().unwrap();
    init(&plan(tmp.path()), now()).unwrap();
    let old = CertFacts::read(&tmp.path().join(CLIENT_CERT)).unwrap();

    let written =
        issue_client(tmp.path(), "other_role", Validity::days_from_now(30), now()).unwrap();
    assert_eq!(written.kept.len(), 2);
    let kept = CertFacts::read(&written.kept[0].1).unwrap();
    assert_eq!(kept.der, old.der);
    let set = check_client_set(tmp.path()).unwrap();
    assert_eq!(set.client_cn, "other_role");
    assert!((29..=30).contains(&set.days_left));

    let hosts = [parse_host("standby.example.com").unwrap()];
    issue_server(
        tmp.path(),
        "standby2",
        &hosts,
        Validity::days_from_now(30),
        now(),
    )
    .unwrap();
    let facts = CertFacts::read(&tmp.path().join("standby2.crt")).unwrap();
    assert_eq!(facts.sans, ["DNS:standby.example.com"]);
    let err = issue_server(tmp.path(), "ca", &hosts, Validity::days_from_now(30), now());
    assert!(
        err.unwrap_err()
            .to_string()
            .starts_with("invalid --name `ca`: ca and client are taken")
    );
}

#[test]
fn a_leaf_may_not_outlive_its_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let mut plan = plan(tmp.path());
    plan.ca_days = 100;
    let err = init(&plan, now()).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid validity `until "),
        "{err}"
    );
    assert!(
        err.to_string().contains(": the CA expires sooner, on "),
        "{err}"
    );
    assert!(listing(tmp.path()).is_empty());
}
