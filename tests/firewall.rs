//! `pgshadow firewall` against the real firewall of this machine: a container
//! publishing a port, two test hosts made as network namespaces wired to the
//! host by veth pairs, and the rules in DOCKER-USER. Error cases and IPv6 run
//! in scratch namespaces, whose firewall is their own.
//!
//! These tests need root. Without it they fail; they never skip. Everything
//! they create (namespaces, veths, containers, rules) is removed when its
//! guard drops, also when a step fails.

#[path = "firewall/bench.rs"]
mod bench;
mod common;
#[path = "firewall/lab.rs"]
mod lab;

use std::net::TcpListener;
use std::process::{Command, Output};

use bench::Bench;
use common::*;
use lab::*;

const TEST: &str = "firewall";

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the firewall tests need root (network namespaces and iptables); run them as root"
    );
}

/// A TCP port nothing listens on, on any address.
fn free_port() -> u16 {
    let listener = TcpListener::bind("0.0.0.0:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// `pgshadow firewall ARGS` on the host, without config from the environment.
fn firewall(args: &[&str]) -> Output {
    pgshadow(TEST)
        .arg("firewall")
        .args(args)
        .env_remove("PGSHADOW_PRIMARY_ALLOW")
        .env_remove("PGSHADOW_PRIMARY_PORT")
        .output()
        .unwrap()
}

/// `pgshadow firewall ARGS` inside a namespace.
fn firewall_in(ns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            env!("CARGO_BIN_EXE_pgshadow"),
            "firewall",
        ])
        .args(args)
        .env("CI", "true")
        .env_remove("PGSHADOW_CONFIG")
        .env_remove("PGSHADOW_PRIMARY_ALLOW")
        .env_remove("PGSHADOW_PRIMARY_PORT")
        .output()
        .unwrap()
}

fn assert_exit(out: &Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn only_the_allowed_host_reaches_the_published_port() {
    let other_port = free_port();
    let bench = Bench::start(other_port);
    bench.add_foreign_rules(other_port);
    let foreign = bench.not_ours();
    let (first, second) = (&bench.first, &bench.second);
    assert_eq!(bench.connect(first), 0, "first host, before any rule");
    assert_eq!(bench.connect(second), 0, "second host, before any rule");
    bench.firewall("--check", &[first], 1);

    // --apply: the first host gets in, the second gets no answer at all.
    let out = bench.firewall("--apply", &[first], 0);
    assert!(
        out.contains(&format!("applied: {} DOCKER-USER", bench.backend)),
        "{out}"
    );
    assert!(out.contains("netfilter-persistent save"), "{out}");
    assert_eq!(bench.connect(first), 0, "the allowed host is let in");
    assert_eq!(
        bench.connect(second),
        124,
        "the other host's SYN is dropped"
    );
    assert_eq!(bench.ours(), 2);
    let lines = chain_lines(None, bench.backend);
    assert!(
        lines[0].contains(&format!("-s {}/32 ", first.ns_ip)),
        "{lines:?}"
    );
    assert!(lines[1].ends_with("-j DROP"), "{lines:?}");

    // --check agrees, and names the difference for another allow list.
    bench.firewall("--check", &[first], 0);
    let out = bench.firewall("--check", &[second], 1);
    assert!(
        out.contains(&format!("+ -s {}/32 -p tcp", second.ns_ip)),
        "{out}"
    );
    assert!(
        out.contains(&format!("- -A DOCKER-USER -s {}/32 ", first.ns_ip)),
        "{out}"
    );

    // The same --apply again changes nothing; a different one replaces.
    assert!(
        bench
            .firewall("--apply", &[first], 0)
            .contains("already in place")
    );
    assert_eq!(bench.ours(), 2);
    bench.firewall("--apply", &[first, second], 0);
    assert_eq!(bench.ours(), 3);
    assert_eq!(bench.connect(second), 0, "the second host, now allowed");
    let out = bench.firewall("--apply", &[first], 0);
    assert!(out.contains("replaced 3 earlier pgshadow rules"), "{out}");
    assert_eq!(bench.ours(), 2, "one set after two applies");
    assert_eq!(
        bench.connect(second),
        124,
        "the second host, excluded again"
    );
    bench.firewall("--check", &[first], 0);

    // --remove: both get in again; the foreign rules never moved.
    let out = bench.firewall("--remove", &[], 0);
    assert!(
        out.contains(&format!("removed: {}: 2 rules", bench.backend)),
        "{out}"
    );
    assert_eq!(bench.ours(), 0);
    assert_eq!(bench.connect(first), 0, "first host, after --remove");
    assert_eq!(bench.connect(second), 0, "second host, after --remove");
    bench.firewall("--check", &[first], 1);
    assert_eq!(bench.not_ours(), foreign);
    for other in ["iptables-nft", "iptables-legacy"] {
        if other != bench.backend {
            assert_eq!(count_ours(None, other, bench.port), 0, "{other} got rules");
        }
    }
}

#[test]
fn an_invalid_address_exits_2_and_changes_nothing() {
    require_root();
    let before = chain_lines(None, "iptables-nft");
    let out = firewall(&[
        "--apply",
        "--port",
        "5432",
        "--allow",
        "10.0.0.1,10.0.0.300/32",
    ]);
    assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: --allow: invalid CIDR `10.0.0.300/32`"),
        "{stderr}"
    );
    let out = firewall(&["--apply", "--port", "5432", "--allow", "10.0.0.1/40"]);
    assert_exit(&out, 2);
    let out = firewall(&["--apply", "--port", "0", "--allow", "10.0.0.1"]);
    assert_exit(&out, 2);
    let out = firewall(&["--check", "--port", "5432"]);
    assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no allowed sources"));
    assert_eq!(chain_lines(None, "iptables-nft"), before);
}

#[test]
fn without_root_it_refuses_but_still_prints() {
    require_root();
    let before = chain_lines(None, "iptables-nft");
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_pgshadow"))
            .args(["firewall", "--port", "5432", "--allow", "198.51.100.7"])
            .args(args)
            .env_remove("PGSHADOW_CONFIG")
            .output()
            .unwrap()
    };
    let out = as_nobody(&["--apply"]);
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: run iptables as uid 65534: it needs root"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: run it with sudo"), "{stderr}");

    let stdout = assert_exit(&as_nobody(&[]), 0);
    assert!(
        stdout.contains("iptables -I DOCKER-USER 1 -s 198.51.100.7/32 "),
        "{stdout}"
    );
    assert!(
        stdout.contains("iptables -I DOCKER-USER 2 -p tcp "),
        "{stdout}"
    );
    assert_eq!(chain_lines(None, "iptables-nft"), before);
}

#[test]
fn without_iptables_it_says_which_program_is_missing() {
    require_root();
    let empty = tempfile::tempdir().unwrap();
    let out = pgshadow(TEST)
        .args([
            "firewall",
            "--check",
            "--port",
            "5432",
            "--allow",
            "198.51.100.7",
        ])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: find `iptables`: it is not installed"),
        "{stderr}"
    );
    assert!(stderr.contains("apt-get install iptables"), "{stderr}");
}

#[test]
fn without_a_docker_user_chain_it_says_docker_is_not_filtering() {
    require_root();
    let mut lab = Lab::default();
    let ns = lab.namespace();
    for action in ["--apply", "--check", "--remove"] {
        let out = firewall_in(&ns, &[action, "--port", "5432", "--allow", "198.51.100.7"]);
        assert_exit(&out, 1);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(
                "error: find the DOCKER-USER chain with iptables-nft or iptables-legacy"
            ),
            "{action}: {stderr}"
        );
        assert!(stderr.contains("is Docker running"), "{stderr}");
    }
}

#[test]
fn ipv6_sources_go_to_ip6tables_when_docker_filters_ipv6() {
    require_root();
    let mut lab = Lab::default();
    let ns = lab.namespace();
    // A namespace where "Docker" made DOCKER-USER in the legacy backend only.
    for program in ["iptables-legacy", "ip6tables-legacy"] {
        run_ok("ip", &["netns", "exec", &ns, program, "-N", "DOCKER-USER"]);
        run_ok(
            "ip",
            &[
                "netns",
                "exec",
                &ns,
                program,
                "-A",
                "DOCKER-USER",
                "-j",
                "RETURN",
            ],
        );
    }
    let allow = "198.51.100.7,2001:db8::7";
    let out = assert_exit(
        &firewall_in(&ns, &["--apply", "--port", "6543", "--allow", allow]),
        0,
    );
    assert!(
        out.contains("applied: iptables-legacy DOCKER-USER"),
        "{out}"
    );
    assert!(
        out.contains("applied: ip6tables-legacy DOCKER-USER"),
        "{out}"
    );
    assert_eq!(count_ours(Some(&ns), "iptables-legacy", 6543), 2);
    assert_eq!(count_ours(Some(&ns), "ip6tables-legacy", 6543), 2);
    let v6 = chain_lines(Some(&ns), "ip6tables-legacy");
    assert!(
        v6[0].starts_with("-A DOCKER-USER -s 2001:db8::7/128 -p tcp"),
        "{v6:?}"
    );
    assert!(
        v6[1].ends_with("-j DROP") && v6[2] == "-A DOCKER-USER -j RETURN",
        "{v6:?}"
    );
    assert_exit(
        &firewall_in(&ns, &["--check", "--port", "6543", "--allow", allow]),
        0,
    );

    // Only IPv4 allowed now: IPv6 keeps a DROP, since Docker filters it here.
    let out = firewall_in(
        &ns,
        &["--apply", "--port", "6543", "--allow", "198.51.100.7"],
    );
    assert_exit(&out, 0);
    assert_eq!(count_ours(Some(&ns), "ip6tables-legacy", 6543), 1);

    assert_exit(&firewall_in(&ns, &["--remove", "--port", "6543"]), 0);
    assert_eq!(
        chain_lines(Some(&ns), "iptables-legacy"),
        ["-A DOCKER-USER -j RETURN"]
    );
    assert_eq!(
        chain_lines(Some(&ns), "ip6tables-legacy"),
        ["-A DOCKER-USER -j RETURN"]
    );
}

#[test]
fn ipv6_sources_are_refused_when_docker_does_not_filter_ipv6() {
    require_root();
    let mut lab = Lab::default();
    let ns = lab.namespace();
    run_ok(
        "ip",
        &["netns", "exec", &ns, "iptables-nft", "-N", "DOCKER-USER"],
    );
    run_ok(
        "ip",
        &[
            "netns",
            "exec",
            &ns,
            "iptables-nft",
            "-A",
            "DOCKER-USER",
            "-j",
            "RETURN",
        ],
    );

    let out = firewall_in(
        &ns,
        &[
            "--apply",
            "--port",
            "6543",
            "--allow",
            "198.51.100.7,2001:db8::7",
        ],
    );
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: find the DOCKER-USER chain with ip6tables-nft"),
        "{stderr}"
    );
    assert!(stderr.contains("docker-proxy"), "{stderr}");
    assert_eq!(
        chain_lines(Some(&ns), "iptables-nft"),
        ["-A DOCKER-USER -j RETURN"]
    );
}
