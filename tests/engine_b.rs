//! The "second VPS" fixture: engine B, a second Docker daemon on this
//! machine, answers over TCP only with a client certificate, holds the test
//! image, lets its containers reach ports that engine A publishes, and leaves
//! nothing behind.

mod common;

use common::engine_b::EngineB;
use common::fixture;
use common::*;

const TEST: &str = "engine_b";
const PASSWORD: &str = "engine-b-test";

#[test]
fn engine_b_is_a_tls_daemon_whose_containers_reach_engine_a() {
    require_docker();
    let b = EngineB::start();
    let (bridge, dir) = (b.bridge.clone(), b.dir.clone());
    let pids = [b.dockerd_pid(), b.containerd_pid()];

    answers_only_with_a_client_certificate(&b);
    b.docker_tcp_ok(&["image", "inspect", "--format", "{{.Id}}", IMAGE]);
    reaches_a_port_published_on_a(&b);
    containers_on_b_reach_each_other(&b);

    drop(b);
    for pid in pids {
        assert!(
            !fixture::running(pid),
            "pid {pid} of engine B still runs after down.sh"
        );
    }
    let link = std::process::Command::new("ip")
        .args(["link", "show", &bridge])
        .output()
        .expect("run ip");
    assert!(!link.status.success(), "bridge {bridge} is still there");
    assert!(!dir.exists(), "{} is still there", dir.display());
    let rules = std::process::Command::new("iptables-save")
        .output()
        .expect("run iptables-save");
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        !rules.contains(&format!("engine-b {bridge}")),
        "iptables rules for {bridge} remain:\n{rules}"
    );
}

/// B is a daemon of its own, reached over TLS; without a client certificate,
/// or without TLS at all, it gives no answer.
fn answers_only_with_a_client_certificate(b: &EngineB) {
    let id_a = docker_ok(&["info", "--format", "{{.ID}}"]);
    let id_b = b.docker_tcp_ok(&["info", "--format", "{{.ID}}"]);
    assert_ne!(id_a, id_b, "the TCP endpoint answered as engine A");
    let root = b.docker_tcp_ok(&["info", "--format", "{{.DockerRootDir}}"]);
    assert!(
        root.starts_with(b.dir.to_str().unwrap()),
        "B keeps data in {root}"
    );

    // DOCKER_CERT_PATH's layout, as a pgshadow child process reads it.
    let by_env = std::process::Command::new("docker")
        .args(["-H", &b.tcp, "info", "--format", "{{.ID}}"])
        .envs(b.tls_env())
        .output()
        .expect("run docker");
    assert!(
        by_env.status.success(),
        "TLS from the environment: {}",
        describe(&by_env)
    );
    assert_eq!(String::from_utf8_lossy(&by_env.stdout).trim(), id_b);

    let ca = b.cert_path.join("ca.pem");
    let no_cert = docker(&[
        "-H",
        &b.tcp,
        "--tlsverify",
        "--tlscacert",
        ca.to_str().unwrap(),
        "version",
        "--format",
        "{{.Server.Version}}",
    ]);
    assert!(
        !no_cert.status.success(),
        "B answered a client without a certificate"
    );
    assert!(
        String::from_utf8_lossy(&no_cert.stderr).contains("certificate"),
        "B refused a client without a certificate for another reason: {}",
        describe(&no_cert)
    );

    let plain = docker(&["-H", &b.tcp, "version", "--format", "{{.Server.Version}}"]);
    assert!(!plain.status.success(), "B answered plain HTTP");
}

/// A container on B dials B's gateway and the port a server on A publishes;
/// the server sees the connection come from A's gateway, a host address, as
/// it would see another VPS's address.
fn reaches_a_port_published_on_a(b: &EngineB) {
    let mut on_a = Containers::default();
    let server = unique("pgsb-a-server");
    on_a.add(&server);
    let args = server_run_args(&server, &["-p", "5432"]);
    docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let port = published_port(&server);
    wait_for_postgres(&server, 60);

    let seen_from = psql_from_b(b, &b.gateway, &port, "SELECT host(inet_client_addr())");
    let gateway_a = docker_ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.Gateway}}",
        &server,
    ]);
    assert_eq!(
        seen_from, gateway_a,
        "the server on A saw B's connection come from {seen_from}"
    );
}

/// Two containers on B's bridge talk to each other directly.
fn containers_on_b_reach_each_other(b: &EngineB) {
    let server = unique("pgsb-b-server");
    let args = server_run_args(&server, &[]);
    b.docker_tcp_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let ip = b.docker_tcp_ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.IPAddress}}",
        &server,
    ]);
    wait_for("the server on B to accept connections", 60, || {
        let ready = b.docker_tcp(&["exec", &server, "pg_isready", "-h", "127.0.0.1"]);
        ready.status.success()
    });
    assert_eq!(psql_from_b(b, &ip, "5432", "SELECT 1"), "1");
}

/// `docker run` arguments for a labelled test server named `name`, with
/// `extra` options (a published port) before the image.
fn server_run_args(name: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["run", "-d", "--name", name, "--label"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(test_labels(TEST));
    args.push("-e".into());
    args.push(format!("POSTGRES_PASSWORD={PASSWORD}"));
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(IMAGE.into());
    args
}

/// Runs `sql` through psql in a throw-away container on B against HOST:PORT,
/// retrying for a few seconds while a fresh server finishes starting.
fn psql_from_b(b: &EngineB, host: &str, port: &str, sql: &str) -> String {
    let conninfo = format!(
        "host={host} port={port} user=postgres dbname=postgres password={PASSWORD} connect_timeout=5"
    );
    let labels = test_labels(TEST);
    let args = [
        "run", "--rm", "--label", &labels, IMAGE, "psql", &conninfo, "-XAtc", sql,
    ];
    let mut last = None;
    for _ in 0..5 {
        let out = b.docker_tcp(&args);
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        last = Some(out);
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    panic!(
        "psql from B to {host}:{port} failed: {}",
        describe(&last.unwrap())
    );
}

/// The host port that `container` publishes on all addresses for 5432/tcp.
fn published_port(container: &str) -> String {
    let ports = docker_ok(&["port", container, "5432/tcp"]);
    ports
        .lines()
        .find_map(|line| line.strip_prefix("0.0.0.0:"))
        .unwrap_or_else(|| panic!("{container} publishes 5432 on no IPv4 address: {ports}"))
        .to_string()
}
