//! Resolution order, TLS from the environment, and the Docker CLI's context
//! store, each with real files in the layout the CLI writes.

use std::collections::HashMap;
use std::path::Path;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |var| map.get(var).cloned()
}

fn write_tls(dir: &Path, files: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    for file in files {
        std::fs::write(dir.join(file), "-----BEGIN CERTIFICATE-----\n").unwrap();
    }
}

/// Writes context `name` as `docker context create` does.
fn write_context(config_dir: &Path, name: &str, host: &str, skip_verify: bool) {
    let meta = context_meta_path(config_dir, name);
    std::fs::create_dir_all(meta.parent().unwrap()).unwrap();
    let json = serde_json::json!({
        "Name": name,
        "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}}
    });
    std::fs::write(meta, json.to_string()).unwrap();
}

fn tls_dir_of(config_dir: &Path, name: &str) -> std::path::PathBuf {
    let hash = context_meta_path(config_dir, name);
    let hash = hash.parent().unwrap().file_name().unwrap();
    config_dir.join("contexts/tls").join(hash).join("docker")
}

#[test]
fn the_context_folder_is_the_sha256_of_the_name() {
    // `printf vps2 | sha256sum`, as the Docker CLI names the folder.
    let path = context_meta_path(Path::new("/h/.docker"), "vps2");
    let expected = "/h/.docker/contexts/meta/\
        b6145c58bd0dd8cfc4f252537417e597577e81d6ce8410583b766f246bb8d410/meta.json";
    assert_eq!(path, Path::new(expected));
}

#[test]
fn the_role_host_wins_then_the_context_then_the_global_then_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    write_context(dir.path(), "vps2", "ssh://deploy@vps2", false);
    let env = env_of(&[("DOCKER_CONFIG", dir.path().to_str().unwrap())]);
    let host: DockerHost = "unix:///run/other.sock".parse().unwrap();

    let mut choice = Choice {
        host: Some(&host),
        context: Some("vps2"),
        global: Some("tcp://vps9:2375"),
    };
    let unix = |p: &str| Endpoint::Unix { path: p.into() };
    assert_eq!(resolve(&choice, &env).unwrap(), unix("/run/other.sock"));
    choice.host = None;
    let ssh = resolve(&choice, &env).unwrap();
    assert_eq!(ssh.to_string(), "ssh://deploy@vps2");
    choice.context = None;
    let tcp = resolve(&choice, &env).unwrap();
    assert_eq!(tcp.to_string(), "tcp://vps9:2375");
    choice.global = None;
    assert_eq!(resolve(&choice, &env).unwrap(), unix(DEFAULT_SOCKET));
    assert!(resolve(&choice, &env).unwrap().is_local());
    assert!(!tcp.is_local() && !ssh.is_local());
}

#[test]
fn tcp_uses_tls_from_docker_cert_path_when_docker_tls_verify_is_set() {
    let certs = tempfile::tempdir().unwrap();
    write_tls(certs.path(), &["ca.pem", "cert.pem", "key.pem"]);
    let env = env_of(&[
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", certs.path().to_str().unwrap()),
    ]);
    let choice = Choice {
        global: Some("tcp://203.0.113.20:2376"),
        ..Choice::default()
    };
    let endpoint = resolve(&choice, &env).unwrap();
    let Endpoint::Tcp { tls: Some(tls), .. } = &endpoint else {
        panic!("expected TLS: {endpoint:?}");
    };
    assert_eq!(tls.key, certs.path().join("key.pem"));
    assert_eq!(endpoint.to_string(), "tcp://203.0.113.20:2376 (TLS)");

    // An empty DOCKER_TLS_VERIFY means off, as in the Docker CLI.
    let env = env_of(&[("DOCKER_TLS_VERIFY", "")]);
    let endpoint = resolve(&choice, &env).unwrap();
    assert!(matches!(endpoint, Endpoint::Tcp { tls: None, .. }));
}

#[test]
fn tls_defaults_to_the_docker_folder_and_names_a_missing_file() {
    let home = tempfile::tempdir().unwrap();
    let docker_dir = home.path().join(".docker");
    write_tls(&docker_dir, &["ca.pem", "cert.pem"]);
    let env = env_of(&[
        ("DOCKER_TLS_VERIFY", "1"),
        ("HOME", home.path().to_str().unwrap()),
    ]);
    let host: DockerHost = "tcp://vps2:2376".parse().unwrap();
    let choice = Choice {
        host: Some(&host),
        ..Choice::default()
    };
    let err = resolve(&choice, &env).unwrap_err();
    let key = docker_dir.join("key.pem");
    assert_eq!(
        err.to_string(),
        format!("TLS file {} does not exist", key.display())
    );
    assert!(err.hint().unwrap().contains("DOCKER_CERT_PATH"), "{err:?}");
}

#[test]
fn a_context_with_tls_material_gives_tls_from_its_own_folder() {
    let dir = tempfile::tempdir().unwrap();
    write_context(dir.path(), "vps2", "tcp://vps2.example.com:2376", false);
    let tls_dir = tls_dir_of(dir.path(), "vps2");
    write_tls(&tls_dir, &["ca.pem", "cert.pem", "key.pem"]);

    let endpoint = read_context(dir.path(), "vps2").unwrap();
    assert_eq!(
        endpoint,
        Endpoint::Tcp {
            host: "vps2.example.com".into(),
            port: 2376,
            tls: Some(TlsFiles {
                ca: tls_dir.join("ca.pem"),
                cert: tls_dir.join("cert.pem"),
                key: tls_dir.join("key.pem"),
            }),
        }
    );
}

#[test]
fn a_context_without_tls_material_is_plain_tcp_and_partial_material_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_context(dir.path(), "plain", "tcp://10.0.0.2:2375", false);
    let endpoint = read_context(dir.path(), "plain").unwrap();
    assert!(matches!(endpoint, Endpoint::Tcp { tls: None, .. }));

    write_tls(&tls_dir_of(dir.path(), "plain"), &["ca.pem"]);
    let err = read_context(dir.path(), "plain").unwrap_err();
    assert!(
        err.to_string().ends_with("cert.pem does not exist"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("docker context create plain"));
}

#[test]
fn skip_tls_verify_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_context(dir.path(), "lax", "tcp://10.0.0.2:2376", true);
    write_tls(
        &tls_dir_of(dir.path(), "lax"),
        &["ca.pem", "cert.pem", "key.pem"],
    );
    let err = read_context(dir.path(), "lax").unwrap_err();
    assert!(err.to_string().contains("SkipTLSVerify is true"), "{err}");
}

#[test]
fn an_unknown_context_names_the_folder_and_suggests_docker_context_ls() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_context(dir.path(), "nope").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Docker context `nope` is not in {}",
            dir.path().join("contexts/meta").display()
        )
    );
    assert!(err.hint().unwrap().contains("docker context ls"));
}

#[test]
fn the_default_context_is_the_local_engine_without_any_files() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        read_context(dir.path(), "default").unwrap(),
        Endpoint::local()
    );
}

#[test]
fn a_broken_context_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_context(dir.path(), "odd", "npipe:////./pipe/docker_engine", false);
    let err = read_context(dir.path(), "odd").unwrap_err();
    let meta = context_meta_path(dir.path(), "odd");
    assert!(
        err.to_string()
            .starts_with(&format!("{}: invalid Docker host", meta.display())),
        "{err}"
    );
    std::fs::write(&meta, "{").unwrap();
    assert!(read_context(dir.path(), "odd").is_err());
}

#[test]
fn a_bad_global_host_is_a_usage_error() {
    let choice = Choice {
        global: Some("docker.example.com"),
        ..Choice::default()
    };
    let err = resolve(&choice, &env_of(&[])).unwrap_err();
    assert!(err.is_usage());
    assert!(
        err.to_string()
            .starts_with("--docker-host / DOCKER_HOST: invalid")
    );
}
