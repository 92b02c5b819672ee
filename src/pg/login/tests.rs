//! The login probe's pure parts: classifying real psql failures, parsing
//! IDENTIFY_SYSTEM, rendering the conninfo.

use super::*;

fn target() -> LoginTarget {
    LoginTarget {
        host: "172.17.0.1".into(),
        port: 38629,
        user: "replication_user".into(),
        sslmode: SslMode::VerifyFull,
        ca: "/etc/pgshadow/pki/ca.crt".into(),
        cert: "/etc/pgshadow/pki/client.crt".into(),
        key: "/etc/pgshadow/pki/client.key".into(),
    }
}

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/login/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn real_failures_are_classified_by_cause() {
    let cases: &[(&str, &str)] = &[
        (
            "refused",
            "reach the primary at 172.17.0.1:38629: connection refused",
        ),
        (
            "host-mismatch",
            "verify the primary at 172.17.0.1:38629: its certificate does not name 172.17.0.1",
        ),
        (
            "server-untrusted",
            "trust the primary at 172.17.0.1:38629: its certificate is not signed by \
             /etc/pgshadow/pki/ca.crt",
        ),
        (
            "client-unknown-ca",
            "log in to 172.17.0.1:38629 as replication_user: the primary does not trust the \
             CA of the client certificate",
        ),
        (
            "client-expired",
            "log in to 172.17.0.1:38629 as replication_user: the primary says the client \
             certificate has expired",
        ),
        (
            "cn-mismatch",
            "log in to 172.17.0.1:38629 as replication_user: the client certificate's CN is \
             not replication_user",
        ),
        (
            "no-hba",
            "log in to 172.17.0.1:38629 as replication_user: no pg_hba.conf line on the \
             primary matches this connection",
        ),
        (
            "role-missing",
            "log in to 172.17.0.1:38629: role replication_user does not exist on the primary",
        ),
        (
            "not-replication-role",
            "log in to 172.17.0.1:38629 as replication_user: the role may not start \
             replication",
        ),
        (
            "no-ssl",
            "log in to 172.17.0.1:38629: the primary does not support SSL, and \
             sslmode=verify-full requires it",
        ),
        (
            "key-mode",
            "use the client certificate files for 172.17.0.1:38629: private key file \
             \"/etc/pgshadow/pki/client.key\" has group or world access; file must have \
             permissions u=rw (0600) or less if owned by the current user, or permissions \
             u=rw,g=r (0640) or less if owned by root",
        ),
    ];
    for (name, message) in cases {
        let error = classify(&target(), &fixture(name), "");
        assert_eq!(error.to_string(), *message, "{name}");
        assert!(
            error.hint().is_some(),
            "{name}: every known cause has a hint"
        );
    }
}

#[test]
fn an_unknown_failure_keeps_the_servers_words() {
    let stderr = "psql: error: connection to server at \"172.17.0.1\", port 38629 failed: \
                  FATAL:  the database system is starting up\n";
    let error = classify(&target(), stderr, "");
    assert!(matches!(error, LoginError::Other { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "log in to 172.17.0.1:38629 as replication_user: the database system is starting up"
    );
    assert_eq!(error.hint(), None);
}

#[test]
fn a_client_alert_without_a_known_name_is_a_rejection() {
    let stderr = "psql: error: connection to server at \"172.17.0.1\", port 5432 failed: \
                  SSL error: sslv3 alert bad certificate\n";
    let error = classify(&target(), stderr, "");
    assert_eq!(
        error.to_string(),
        "log in to 172.17.0.1:38629 as replication_user: the primary refused the client \
         certificate (bad certificate)"
    );
}

#[test]
fn identify_system_output_parses() {
    let id = parse_identify_system("7441234567890123456|1|0/3000148|\n").unwrap();
    assert_eq!(id.system_id, "7441234567890123456");
    assert_eq!(id.timeline, 1);
    assert_eq!(id.wal_position, "0/3000148");
    assert_eq!(parse_identify_system("SET\n"), None);
}

#[test]
fn the_conninfo_quotes_values_and_points_at_the_mounts() {
    let mut target = target();
    target.user = "it's me\\".into();
    let conninfo = target.conninfo();
    assert!(conninfo.starts_with("host='172.17.0.1' port='38629' user='it\\'s me\\\\' "));
    assert!(
        conninfo.contains("sslkey='/run/pgshadow-login/client.key'"),
        "{conninfo}"
    );
    assert!(conninfo.ends_with("replication='true'"), "{conninfo}");
    target.host = "2001:db8::1".into();
    assert_eq!(target.addr(), "[2001:db8::1]:38629");
}
