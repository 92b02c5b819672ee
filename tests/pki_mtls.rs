//! pgshadow's certificates against a real PostgreSQL primary: a TLS server
//! with `server.crt`, `ssl_ca_file = ca.crt` and the pg_hba line
//! `hostssl replication replication_user <gateway>/32 cert`. The replication
//! login probe must succeed with the right client certificate and name the
//! cause, in words, for each wrong one.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use pgshadow::config::SslMode;
use pgshadow::docker::Engine;
use pgshadow::pg::login::{LoginError, LoginTarget, probe_replication_login};
use pgshadow::pki::issue::{Validity, parse_host};
use pgshadow::pki::make::{InitPlan, init, issue_client};
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};

const USER: &str = "replication_user";
const CERTS: &str = "/etc/pgshadow-test-certs";

/// A running primary and what a client needs to reach it.
struct Primary {
    name: String,
    /// The docker bridge's gateway: where a container reaches published ports.
    gateway: String,
    /// The published port on the gateway.
    port: u16,
    /// The primary container's own bridge address (not a SAN of server.crt).
    container_ip: String,
    pki: TempDir,
    _data: TempDir,
    _certs: TempDir,
    _containers: Containers,
}

fn bridge_gateway() -> String {
    let gateway = docker_ok(&[
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
    ]);
    if !gateway.is_empty() {
        return gateway;
    }
    // Some engines leave Gateway empty; the bridge then takes the subnet's first address.
    let subnet = docker_ok(&[
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
    ]);
    let network: std::net::Ipv4Addr = subnet.split('/').next().unwrap().parse().unwrap();
    std::net::Ipv4Addr::from(u32::from(network) + 1).to_string()
}

fn free_port(ip: &str) -> u16 {
    let listener = TcpListener::bind((ip, 0)).expect("bind a free port on the bridge gateway");
    listener.local_addr().unwrap().port()
}

fn make_pki(dir: &Path, primary_host: &str) {
    let plan = InitPlan {
        dir: dir.to_path_buf(),
        primary_hosts: vec![parse_host(primary_host).unwrap()],
        user: USER.into(),
        standby_hosts: Vec::new(),
        leaf_days: 30,
        ca_days: 365,
        force: true,
    };
    init(&plan, OffsetDateTime::now_utc()).unwrap();
}

/// The server's files, owned by postgres (999), key 0600, plus its pg_hba.conf.
fn server_files(pki: &Path, gateway: &str) -> TempDir {
    let certs = tempfile::tempdir().unwrap();
    for name in ["server.crt", "server.key", "ca.crt"] {
        std::fs::copy(pki.join(name), certs.path().join(name)).unwrap();
    }
    let hba = format!("local all all trust\nhostssl replication {USER} {gateway}/32 cert\n");
    std::fs::write(certs.path().join("pg_hba.conf"), hba).unwrap();
    for entry in std::fs::read_dir(certs.path()).unwrap() {
        std::os::unix::fs::chown(entry.unwrap().path(), Some(999), Some(999)).unwrap();
    }
    let key = certs.path().join("server.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    give_to_postgres(certs.path());
    certs
}

fn start_primary(test: &str) -> Primary {
    require_docker();
    let gateway = bridge_gateway();
    let port = free_port(&gateway);
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path(), &gateway);
    let certs = server_files(pki.path(), &gateway);
    let data = tempfile::tempdir().unwrap();
    give_to_postgres(data.path());

    let name = unique("pgshadow-test-mtls");
    let mut containers = Containers::default();
    containers.add(&name);
    let (label, publish) = (test_labels(test), format!("{gateway}:{port}:5432"));
    let data_mount = format!("{}:/var/lib/postgresql/data", data.path().display());
    let certs_mount = format!("{}:{CERTS}:ro", certs.path().display());
    let settings = [
        "ssl=on".to_string(),
        format!("ssl_cert_file={CERTS}/server.crt"),
        format!("ssl_key_file={CERTS}/server.key"),
        format!("ssl_ca_file={CERTS}/ca.crt"),
        format!("hba_file={CERTS}/pg_hba.conf"),
    ];
    let mut args = vec![
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &label,
        "--user",
        "999:999",
        "-v",
        &data_mount,
        "-v",
        &certs_mount,
        "-p",
        &publish,
        IMAGE,
    ];
    for setting in &settings {
        args.extend(["-c", setting]);
    }
    docker_ok(&args);
    wait_for_postgres(&name, 60);
    psql(&name, &format!("CREATE ROLE {USER} WITH REPLICATION LOGIN"));

    let container_ip = docker_ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &name]);
    Primary {
        name,
        gateway,
        port,
        container_ip,
        pki,
        _data: data,
        _certs: certs,
        _containers: containers,
    }
}

impl Primary {
    /// A verify-full login to the gateway address with `client.*` from `dir`.
    fn target(&self, dir: &Path) -> LoginTarget {
        LoginTarget {
            host: self.gateway.clone(),
            port: self.port,
            user: USER.into(),
            sslmode: SslMode::VerifyFull,
            ca: self.pki.path().join("ca.crt"),
            cert: dir.join("client.crt"),
            key: dir.join("client.key"),
        }
    }

    fn addr(&self) -> String {
        format!("{}:{}", self.gateway, self.port)
    }
}

/// A directory with the primary's CA and a client certificate for `user`
/// valid over `validity`, issued through the library's own API.
fn client_dir(pki: &Path, user: &str, validity: Validity) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["ca.crt", "ca.key"] {
        std::fs::copy(pki.join(name), dir.path().join(name)).unwrap();
    }
    issue_client(dir.path(), user, validity, OffsetDateTime::now_utc()).unwrap();
    dir
}

async fn engine(test: &str) -> Engine {
    let mut engine = pgshadow::docker::connect(None)
        .await
        .expect("connect to docker");
    engine.add_label(TEST_LABEL, test);
    engine
}

async fn probe(engine: &Engine, target: &LoginTarget) -> Result<String, LoginError> {
    probe_replication_login(engine, IMAGE, target)
        .await
        .map(|id| id.system_id)
}

fn expect_err(result: Result<String, LoginError>, case: &str) -> LoginError {
    match result {
        Ok(id) => panic!("{case}: the login succeeded (system {id}) but must fail"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_client_certificate_logs_in_with_verify_full_against_the_ip_san() {
    let test = "pki_mtls_success";
    let primary = start_primary(test);
    let engine = engine(test).await;

    // The right certificate, verify-full against the IP SAN.
    let identity = probe_replication_login(&engine, IMAGE, &primary.target(primary.pki.path()))
        .await
        .expect("the replication login with client.crt succeeds");
    let system_id = psql(
        &primary.name,
        "SELECT system_identifier FROM pg_control_system()",
    );
    assert_eq!(identity.system_id, system_id);
    assert_eq!(identity.timeline, 1);
    assert!(identity.wal_position.contains('/'), "{identity}");

    // The same primary dialled at an address that is not a SAN.
    let mut target = primary.target(primary.pki.path());
    target.host = primary.container_ip.clone();
    target.port = 5432;
    let err = expect_err(probe(&engine, &target).await, "an address outside the SANs");
    assert!(
        matches!(err, LoginError::ServerCertHostMismatch { .. }),
        "{err:?}"
    );
    let addr = format!("{}:5432", primary.container_ip);
    assert_eq!(
        err.to_string(),
        format!(
            "verify the primary at {addr}: its certificate does not name {}",
            primary.container_ip
        )
    );
    assert!(
        err.hint()
            .unwrap()
            .contains("pgshadow pki issue server --host")
    );

    // A port where nothing listens.
    let mut target = primary.target(primary.pki.path());
    target.port = free_port(&primary.gateway);
    let err = expect_err(probe(&engine, &target).await, "a closed port");
    assert!(matches!(err, LoginError::Unreachable { .. }), "{err:?}");
    let addr = format!("{}:{}", primary.gateway, target.port);
    assert_eq!(
        err.to_string(),
        format!("reach the primary at {addr}: connection refused")
    );

    drop(primary);
    assert!(
        labelled_containers(test).is_empty(),
        "containers left behind"
    );
}

#[tokio::test]
async fn the_primary_refuses_wrong_client_certificates() {
    let test = "pki_mtls_refusals";
    let primary = start_primary(test);
    let engine = engine(test).await;
    let addr = primary.addr();

    // A client certificate from another CA (the server is still trusted).
    let foreign = tempfile::tempdir().unwrap();
    make_pki(foreign.path(), &primary.gateway);
    let mut target = primary.target(foreign.path());
    target.ca = primary.pki.path().join("ca.crt");
    let err = expect_err(
        probe(&engine, &target).await,
        "a client certificate from another CA",
    );
    assert!(
        matches!(err, LoginError::ClientCertUntrusted { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "log in to {addr} as {USER}: the primary does not trust the CA of the client certificate"
        )
    );

    // Our CA, but the CN of another role.
    let other = client_dir(
        primary.pki.path(),
        "someone_else",
        Validity::days_from_now(30),
    );
    let err = expect_err(
        probe(&engine, &primary.target(other.path())).await,
        "another CN",
    );
    assert!(
        matches!(err, LoginError::CertNameMismatch { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("log in to {addr} as {USER}: the client certificate's CN is not {USER}")
    );
    assert!(
        err.hint()
            .unwrap()
            .contains(&format!("pgshadow pki issue client --user {USER}"))
    );

    // Our CA, the right CN, but expired yesterday.
    let now = OffsetDateTime::now_utc();
    let past = Validity {
        not_before: now - Duration::days(10),
        not_after: now - Duration::days(1),
    };
    let expired = client_dir(primary.pki.path(), USER, past);
    let err = expect_err(
        probe(&engine, &primary.target(expired.path())).await,
        "expired",
    );
    assert!(
        matches!(err, LoginError::ClientCertExpired { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("log in to {addr} as {USER}: the primary says the client certificate has expired")
    );

    // Trusting another CA than the one that signed the primary's certificate.
    let mut target = primary.target(primary.pki.path());
    target.ca = foreign.path().join("ca.crt");
    let err = expect_err(
        probe(&engine, &target).await,
        "a server certificate from another CA",
    );
    assert!(
        matches!(err, LoginError::ServerCertUntrusted { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "trust the primary at {addr}: its certificate is not signed by {}",
            target.ca.display()
        )
    );

    // A client key that others may read: libpq itself refuses to use it.
    let loose = client_dir(primary.pki.path(), USER, Validity::days_from_now(30));
    let key = loose.path().join("client.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = expect_err(
        probe(&engine, &primary.target(loose.path())).await,
        "key mode 0644",
    );
    assert!(matches!(err, LoginError::ClientFiles { .. }), "{err:?}");
    let expected = format!(
        "use the client certificate files for {addr}: private key file \"{}\" has group or world \
         access",
        key.display()
    );
    assert!(err.to_string().starts_with(&expected), "{err}");

    // A role that pg_hba.conf does not list, with a matching certificate.
    let ghost = client_dir(primary.pki.path(), "ghost", Validity::days_from_now(30));
    let mut target = primary.target(ghost.path());
    target.user = "ghost".into();
    let err = expect_err(probe(&engine, &target).await, "a role outside pg_hba.conf");
    assert!(matches!(err, LoginError::NoHbaEntry { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "log in to {addr} as ghost: no pg_hba.conf line on the primary matches this connection"
        )
    );

    drop(primary);
    assert!(
        labelled_containers(test).is_empty(),
        "containers left behind"
    );
}
