//! `pgshadow firewall` against the real firewall of this machine: a container
//! publishing a port, two test hosts made as network namespaces wired to the
//! host by veth pairs, and the rules in DOCKER-USER. Error cases and IPv6 run
//! in scratch namespaces, whose firewall is their own.
//!
//! These tests need root. Without it they fail; they never skip. Everything
//! they create (namespaces, veths, containers, rules) is removed when its
//! guard drops, also when a step fails.

mod common;

use std::net::TcpListener;
use std::process::{Command, Output};

use common::*;

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

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `-A DOCKER-USER` lines of one iptables program, in the host's or a
/// namespace's firewall; empty when the chain does not exist.
fn chain_lines(ns: Option<&str>, program: &str) -> Vec<String> {
    let mut args = vec![program, "-S", "DOCKER-USER"];
    if let Some(ns) = ns {
        args.splice(0..0, ["netns", "exec", ns]);
    }
    let out = match ns {
        Some(_) => run("ip", &args),
        None => run(program, &args[1..]),
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("-A DOCKER-USER"))
        .map(str::to_string)
        .collect()
}

fn has_comment(line: &str, comment: &str) -> bool {
    line.contains(&format!("--comment \"{comment}\""))
        || line.ends_with(&format!("--comment {comment}"))
        || line.contains(&format!("--comment {comment} "))
}

/// How many rules carry exactly `pgshadow:<port>`.
fn count_ours(ns: Option<&str>, program: &str, port: u16) -> usize {
    let comment = format!("pgshadow:{port}");
    chain_lines(ns, program)
        .iter()
        .filter(|l| has_comment(l, &comment))
        .count()
}

/// One test host: a namespace wired to the host by a veth pair, with a /30.
#[derive(Clone)]
struct TestHost {
    ns: String,
    host_ip: String,
    ns_ip: String,
}

/// What a test created on the host; removed on drop, also on panic.
#[derive(Default)]
struct Lab {
    namespaces: Vec<String>,
    links: Vec<String>,
    /// Rules whose comment is one of these are deleted from the host's chains.
    comments: Vec<String>,
}

impl Lab {
    /// A bare namespace, with its own empty firewall.
    fn namespace(&mut self) -> String {
        let ns = unique("pgfw");
        self.namespaces.push(ns.clone());
        run_ok("ip", &["netns", "add", &ns]);
        ns
    }

    /// A namespace wired to the host: the host side is `10.213.X.(4i+1)/30`,
    /// the namespace side `.(4i+2)`.
    fn test_host(&mut self, subnet: u8, i: u8) -> TestHost {
        let ns = self.namespace();
        let host_if = format!("pgfw{}{i}h", std::process::id() % 100_000);
        let ns_if = format!("pgfw{}{i}n", std::process::id() % 100_000);
        self.links.push(host_if.clone());
        let host_ip = format!("10.213.{subnet}.{}", 4 * i + 1);
        let ns_ip = format!("10.213.{subnet}.{}", 4 * i + 2);

        run_ok(
            "ip",
            &[
                "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ],
        );
        run_ok("ip", &["link", "set", &ns_if, "netns", &ns]);
        run_ok(
            "ip",
            &["addr", "add", &format!("{host_ip}/30"), "dev", &host_if],
        );
        run_ok("ip", &["link", "set", &host_if, "up"]);
        run_ok(
            "ip",
            &[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{ns_ip}/30"),
                "dev",
                &ns_if,
            ],
        );
        run_ok("ip", &["-n", &ns, "link", "set", &ns_if, "up"]);
        run_ok("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        TestHost { ns, host_ip, ns_ip }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = run("ip", &["netns", "del", ns]);
        }
        for link in &self.links {
            let _ = Command::new("ip").args(["link", "del", link]).output();
        }
        let programs = [
            "iptables-nft",
            "iptables-legacy",
            "ip6tables-nft",
            "ip6tables-legacy",
        ];
        for program in programs {
            delete_commented(program, &self.comments);
        }
    }
}

/// Deletes, by position, every host rule in DOCKER-USER with one of `comments`.
fn delete_commented(program: &str, comments: &[String]) {
    loop {
        let lines = chain_lines(None, program);
        let Some(i) = lines
            .iter()
            .position(|l| comments.iter().any(|c| has_comment(l, c)))
        else {
            return;
        };
        let position = (i + 1).to_string();
        if !run(program, &["-D", "DOCKER-USER", &position])
            .status
            .success()
        {
            return;
        }
    }
}

/// A third octet for 10.213.X.0/24 that no address or route on this host uses.
fn free_subnet() -> u8 {
    let used =
        run_ok("ip", &["-4", "route", "show", "table", "all"]) + &run_ok("ip", &["-4", "addr"]);
    (0..=255u16)
        .map(|n| ((std::process::id() as u16).wrapping_add(n) % 250 + 2) as u8)
        .find(|x| !used.contains(&format!("10.213.{x}.")))
        .expect("a free 10.213.X.0/24")
}

/// The exit code of a TCP connect from `host` to its host-side address:
/// 0 connected, 124 no answer within 3 s (dropped), other codes refused.
fn connect(host: &TestHost, port: u16) -> i32 {
    let probe = format!("</dev/tcp/{}/{port}", host.host_ip);
    let out = run(
        "ip",
        &[
            "netns", "exec", &host.ns, "timeout", "3", "bash", "-c", &probe,
        ],
    );
    out.status.code().unwrap_or(-1)
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

/// The iptables program whose nat table holds Docker's DNAT for `port`.
fn docker_backend(port: u16) -> &'static str {
    let dport = format!("--dport {port} ");
    ["iptables-nft", "iptables-legacy"]
        .into_iter()
        .find(|p| {
            let out = run(p, &["-t", "nat", "-S", "DOCKER"]);
            String::from_utf8_lossy(&out.stdout).contains(&dport)
        })
        .expect("Docker's DNAT rule for the published port")
}

#[test]
fn only_the_allowed_host_reaches_the_published_port() {
    require_root();
    require_docker();
    let port = free_port();
    let p = port.to_string();
    let other_port = free_port();
    let mut lab = Lab::default();
    lab.comments = vec![
        format!("pgshadow:{port}"),
        format!("pgshadow:{port}-foreign"),
        format!("pgshadow:{other_port}"),
    ];
    let subnet = free_subnet();
    let first = lab.test_host(subnet, 0);
    let second = lab.test_host(subnet, 1);

    // PostgreSQL published on both host-side addresses only, not on eth0.
    let mut containers = Containers::default();
    let name = unique("pgshadow-fw");
    containers.add(&name);
    let publish = |h: &TestHost| format!("{}:{port}:5432", h.host_ip);
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &test_labels(TEST),
        "-p",
        &publish(&first),
        "-p",
        &publish(&second),
        "-e",
        "POSTGRES_HOST_AUTH_METHOD=trust",
        IMAGE,
    ]);
    wait_for_postgres(&name, 60);
    let backend = docker_backend(port);

    // Rules that are not ours: a look-alike comment and another port's rule.
    let foreign = [
        format!("-s 192.0.2.254/32 -p tcp -m comment --comment pgshadow:{port}-foreign -j RETURN"),
        format!(
            "-s 192.0.2.254/32 -p tcp -m conntrack --ctorigdstport {other_port} -m comment --comment pgshadow:{other_port} -j RETURN"
        ),
    ];
    for rule in &foreign {
        let args: Vec<&str> = ["-I", "DOCKER-USER", "1"]
            .into_iter()
            .chain(rule.split(' '))
            .collect();
        run_ok(backend, &args);
    }
    let not_ours = |lines: Vec<String>| -> Vec<String> {
        let comment = format!("pgshadow:{port}");
        lines
            .into_iter()
            .filter(|l| !has_comment(l, &comment))
            .collect()
    };
    let foreign_before = not_ours(chain_lines(None, backend));

    assert_eq!(connect(&first, port), 0, "first host, before any rule");
    assert_eq!(connect(&second, port), 0, "second host, before any rule");
    let first_allow = format!("{}/32", first.ns_ip);
    let second_allow = format!("{}/32", second.ns_ip);
    assert_exit(
        &firewall(&["--check", "--port", &p, "--allow", &first_allow]),
        1,
    );

    // --apply: the first host gets in, the second gets no answer.
    let out = assert_exit(
        &firewall(&["--apply", "--port", &p, "--allow", &first_allow]),
        0,
    );
    assert!(
        out.contains(&format!("applied: {backend} DOCKER-USER")),
        "{out}"
    );
    assert!(out.contains("netfilter-persistent save"), "{out}");
    assert_eq!(connect(&first, port), 0, "the allowed host is let in");
    assert_eq!(
        connect(&second, port),
        124,
        "the other host's SYN is dropped"
    );
    assert_eq!(count_ours(None, backend, port), 2);
    let lines = chain_lines(None, backend);
    assert!(
        lines[0].contains(&format!("-s {first_allow} ")),
        "{lines:?}"
    );
    assert!(lines[1].ends_with("-j DROP"), "{lines:?}");
    assert_exit(
        &firewall(&["--check", "--port", &p, "--allow", &first_allow]),
        0,
    );
    let out = assert_exit(
        &firewall(&["--check", "--port", &p, "--allow", &second_allow]),
        1,
    );
    assert!(
        out.contains(&format!("+ -s {second_allow} -p tcp")),
        "{out}"
    );
    assert!(
        out.contains(&format!("- -A DOCKER-USER -s {first_allow} -p tcp")),
        "{out}"
    );

    // A second identical --apply changes nothing; a different one replaces.
    let out = assert_exit(
        &firewall(&["--apply", "--port", &p, "--allow", &first_allow]),
        0,
    );
    assert!(out.contains("already in place"), "{out}");
    assert_eq!(count_ours(None, backend, port), 2);
    let both = format!("{first_allow},{second_allow}");
    assert_exit(&firewall(&["--apply", "--port", &p, "--allow", &both]), 0);
    assert_eq!(count_ours(None, backend, port), 3);
    assert_eq!(connect(&second, port), 0, "the second host, now allowed");
    let out = assert_exit(
        &firewall(&["--apply", "--port", &p, "--allow", &first_allow]),
        0,
    );
    assert!(out.contains("replaced 3 earlier pgshadow rules"), "{out}");
    assert_eq!(
        count_ours(None, backend, port),
        2,
        "one set after two applies"
    );
    assert_eq!(
        connect(&second, port),
        124,
        "the second host, excluded again"
    );
    assert_exit(
        &firewall(&["--check", "--port", &p, "--allow", &first_allow]),
        0,
    );

    // --remove: both get in again; the foreign rules never moved.
    let out = assert_exit(&firewall(&["--remove", "--port", &p]), 0);
    assert!(
        out.contains(&format!("removed: {backend}: 2 rules")),
        "{out}"
    );
    assert_eq!(count_ours(None, backend, port), 0);
    assert_eq!(connect(&first, port), 0, "first host, after --remove");
    assert_eq!(connect(&second, port), 0, "second host, after --remove");
    assert_exit(
        &firewall(&["--check", "--port", &p, "--allow", &first_allow]),
        1,
    );
    assert_eq!(not_ours(chain_lines(None, backend)), foreign_before);
    for other in ["iptables-nft", "iptables-legacy"]
        .iter()
        .filter(|o| **o != backend)
    {
        assert_eq!(count_ours(None, other, port), 0, "{other} got rules");
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
