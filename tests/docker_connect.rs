//! Connecting to engines: the local socket, and TCP with TLS against real
//! TLS peers. No second Docker daemon is started here: the TLS cases use a
//! rustls server in this process that only does the handshake (it is a TLS
//! peer, not a stand-in for the Docker API), so each failure is the real
//! one rustls and bollard produce, and the hint must name the file at fault.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use pgshadow::docker::{DockerError, Endpoint, TlsFiles, connect_to};
use pgshadow::pki::issue::{CertAuthority, IssuedPair, Validity, parse_host};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tempfile::TempDir;
use tokio::sync::oneshot;

fn ca(name: &str) -> CertAuthority {
    CertAuthority::generate(name, Validity::days_from_now(2)).unwrap()
}

fn server_pair(ca: &CertAuthority) -> IssuedPair {
    let host = parse_host("127.0.0.1").unwrap();
    ca.issue_server(&[host], Validity::days_from_now(1))
        .unwrap()
}

/// Writes the client side as the Docker CLI expects it: ca.pem, cert.pem,
/// key.pem (0600).
fn client_dir(trusted: &CertAuthority, client: &IssuedPair) -> (TempDir, TlsFiles) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &trusted.pair.cert_pem).unwrap();
    std::fs::write(dir.path().join("cert.pem"), &client.cert_pem).unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, &client.key_pem).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let files = TlsFiles::in_dir(dir.path(), "test").unwrap();
    (dir, files)
}

/// A TLS server on 127.0.0.1 that shows `server` and requires a client
/// certificate signed by `client_ca`. It answers one handshake, reports
/// whether it completed, and closes.
async fn tls_server(
    server: &IssuedPair,
    client_ca: &CertAuthority,
) -> (u16, oneshot::Receiver<bool>) {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(client_ca.pair.cert_pem.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let chain = vec![CertificateDer::from_pem_slice(server.cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (done, result) = oneshot::channel();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let accepted = acceptor.accept(socket).await;
        let _ = done.send(accepted.is_ok());
    });
    (port, result)
}

fn tcp(port: u16, tls: TlsFiles) -> Endpoint {
    Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port,
        tls: Some(tls),
    }
}

fn hint_of(error: &DockerError) -> String {
    error.hint().expect("a connection error has a hint")
}

#[tokio::test]
async fn the_local_socket_is_local() {
    let engine = connect_to(&Endpoint::local()).await.unwrap();
    assert!(engine.is_local());
    assert_eq!(engine.endpoint, "unix:///var/run/docker.sock");
}

#[tokio::test]
async fn nothing_listening_at_a_tls_address_names_the_address() {
    let authority = ca("conn-test-ca");
    let client = authority
        .issue_client("conn_test", Validity::days_from_now(1))
        .unwrap();
    let (_dir, files) = client_dir(&authority, &client);
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };

    let error = connect_to(&tcp(port, files)).await.err().unwrap();
    let address = format!("tcp://127.0.0.1:{port} (TLS)");
    assert_eq!(
        error.to_string(),
        format!("the Docker engine at {address} does not answer")
    );
    assert!(hint_of(&error).contains(&address), "{}", hint_of(&error));
}

#[tokio::test]
async fn an_engine_certificate_from_another_ca_names_our_ca_file() {
    let engine_ca = ca("conn-test-engine-ca");
    let our_ca = ca("conn-test-other-ca");
    let client = our_ca
        .issue_client("conn_test", Validity::days_from_now(1))
        .unwrap();
    let (port, handshake) = tls_server(&server_pair(&engine_ca), &our_ca).await;
    let (_dir, files) = client_dir(&our_ca, &client);

    let error = connect_to(&tcp(port, files.clone())).await.err().unwrap();
    let hint = hint_of(&error);
    assert!(hint.contains(&files.ca.display().to_string()), "{hint}");
    assert!(hint.contains("not signed by"), "{hint}");
    assert!(!handshake.await.unwrap());
}

#[tokio::test]
async fn a_client_certificate_the_engine_does_not_trust_names_our_cert_file() {
    let engine_ca = ca("conn-test-engine-ca");
    let stranger_ca = ca("conn-test-stranger-ca");
    let client = stranger_ca
        .issue_client("conn_test", Validity::days_from_now(1))
        .unwrap();
    let (port, handshake) = tls_server(&server_pair(&engine_ca), &engine_ca).await;
    let (_dir, files) = client_dir(&engine_ca, &client);

    let error = connect_to(&tcp(port, files.clone())).await.err().unwrap();
    let hint = hint_of(&error);
    assert!(hint.contains(&files.cert.display().to_string()), "{hint}");
    assert!(hint.contains("refused the client certificate"), "{hint}");
    assert!(!handshake.await.unwrap());
}

#[tokio::test]
async fn the_right_files_complete_a_mutual_tls_handshake() {
    let engine_ca = ca("conn-test-engine-ca");
    let client = engine_ca
        .issue_client("conn_test", Validity::days_from_now(1))
        .unwrap();
    let (port, handshake) = tls_server(&server_pair(&engine_ca), &engine_ca).await;
    let (_dir, files) = client_dir(&engine_ca, &client);

    // The peer closes after the handshake: the connection fails later, for
    // a reason that is not about certificates.
    let error = connect_to(&tcp(port, files)).await.err().unwrap();
    assert!(
        handshake.await.unwrap(),
        "the server saw no valid client certificate"
    );
    assert!(!hint_of(&error).contains(".pem"), "{}", hint_of(&error));
}

#[test]
fn the_key_file_is_named_nowhere_in_an_endpoint() {
    let files = TlsFiles {
        ca: Path::new("/c/ca.pem").into(),
        cert: Path::new("/c/cert.pem").into(),
        key: Path::new("/c/key.pem").into(),
    };
    assert_eq!(tcp(2376, files).to_string(), "tcp://127.0.0.1:2376 (TLS)");
}

/// The Docker CLI itself writes the context; pgshadow must read it in place.
#[test]
fn a_context_written_by_the_docker_cli_resolves_to_its_tls_files() {
    let config_dir = tempfile::tempdir().unwrap();
    let authority = ca("conn-test-ca");
    let client = authority
        .issue_client("conn_test", Validity::days_from_now(1))
        .unwrap();
    let (source, files) = client_dir(&authority, &client);
    let spec = format!(
        "host=tcp://vps2.example.com:2376,ca={},cert={},key={}",
        files.ca.display(),
        files.cert.display(),
        files.key.display()
    );
    let out = std::process::Command::new("docker")
        .args(["context", "create", "conn-test-vps2", "--docker", &spec])
        .env("DOCKER_CONFIG", config_dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(source);

    let endpoint = pgshadow::docker::endpoint::read_context(config_dir.path(), "conn-test-vps2");
    let Endpoint::Tcp {
        host,
        port,
        tls: Some(tls),
    } = endpoint.unwrap()
    else {
        panic!("expected TCP with TLS");
    };
    assert_eq!((host.as_str(), port), ("vps2.example.com", 2376));
    assert!(tls.key.starts_with(config_dir.path().join("contexts/tls")));
    assert_eq!(std::fs::read_to_string(&tls.key).unwrap(), client.key_pem);
}

#[test]
fn a_command_on_an_unknown_context_names_the_folder() {
    let config_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pgshadow"))
        .args(["-c", "/dev/null", "promote"])
        .env("DOCKER_CONFIG", config_dir.path())
        .env("PGSHADOW_STANDBY_DOCKER_CONTEXT", "conn-test-nope")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let folder = config_dir.path().join("contexts/meta");
    assert!(
        stderr.contains(&format!("`conn-test-nope` is not in {}", folder.display())),
        "{stderr}"
    );
    assert!(stderr.contains("docker context ls"), "{stderr}");
}

#[tokio::test]
async fn an_ssh_port_is_refused_with_the_ssh_config_way_around_it() {
    let endpoint = Endpoint::Ssh {
        user: Some("deploy".into()),
        host: "vps2".into(),
        port: Some(2222),
    };
    let error = connect_to(&endpoint).await.err().unwrap();
    assert_eq!(
        error.to_string(),
        "ssh://deploy@vps2:2222: a port in an ssh:// address is not supported"
    );
    let hint = error.hint().unwrap();
    assert!(hint.contains("`Port 2222` in ~/.ssh/config"), "{hint}");
}
