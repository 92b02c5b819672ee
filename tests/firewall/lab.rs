//! The test bench for `pgshadow firewall`: test hosts made as network
//! namespaces with veth pairs into this host, TCP probes from them, and
//! reading and cleaning DOCKER-USER with the iptables programs directly
//! (never through pgshadow, so cleanup does not depend on the code under
//! test). Everything is removed when the [`Lab`] drops, also on panic.

use std::process::{Command, Output};

use crate::common::{describe, unique};

pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

pub fn run_ok(program: &str, args: &[&str]) -> String {
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
pub fn chain_lines(ns: Option<&str>, program: &str) -> Vec<String> {
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

pub fn has_comment(line: &str, comment: &str) -> bool {
    line.contains(&format!("--comment \"{comment}\""))
        || line.ends_with(&format!("--comment {comment}"))
        || line.contains(&format!("--comment {comment} "))
}

/// How many rules carry exactly `pgshadow:<port>`.
pub fn count_ours(ns: Option<&str>, program: &str, port: u16) -> usize {
    let comment = format!("pgshadow:{port}");
    chain_lines(ns, program)
        .iter()
        .filter(|l| has_comment(l, &comment))
        .count()
}

/// One test host: a namespace wired to the host by a veth pair, with a /30.
#[derive(Clone)]
pub struct TestHost {
    pub ns: String,
    pub host_ip: String,
    pub ns_ip: String,
}

/// What a test created on the host; removed on drop, also on panic.
#[derive(Default)]
pub struct Lab {
    pub namespaces: Vec<String>,
    pub links: Vec<String>,
    /// Rules whose comment is one of these are deleted from the host's chains.
    pub comments: Vec<String>,
}

impl Lab {
    /// A bare namespace, with its own empty firewall.
    pub fn namespace(&mut self) -> String {
        let ns = unique("pgfw");
        self.namespaces.push(ns.clone());
        run_ok("ip", &["netns", "add", &ns]);
        ns
    }

    /// A namespace wired to the host: the host side is `10.213.X.(4i+1)/30`,
    /// the namespace side `.(4i+2)`.
    pub fn test_host(&mut self, subnet: u8, i: u8) -> TestHost {
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
pub fn delete_commented(program: &str, comments: &[String]) {
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
pub fn free_subnet() -> u8 {
    let used =
        run_ok("ip", &["-4", "route", "show", "table", "all"]) + &run_ok("ip", &["-4", "addr"]);
    (0..=255u16)
        .map(|n| ((std::process::id() as u16).wrapping_add(n) % 250 + 2) as u8)
        .find(|x| !used.contains(&format!("10.213.{x}.")))
        .expect("a free 10.213.X.0/24")
}

/// The exit code of a TCP connect from `host` to its host-side address:
/// 0 connected, 124 no answer within 3 s (dropped), other codes refused.
pub fn connect(host: &TestHost, port: u16) -> i32 {
    let probe = format!("</dev/tcp/{}/{port}", host.host_ip);
    let out = run(
        "ip",
        &[
            "netns", "exec", &host.ns, "timeout", "3", "bash", "-c", &probe,
        ],
    );
    out.status.code().unwrap_or(-1)
}

/// The iptables program whose nat table holds Docker's DNAT for `port`.
pub fn docker_backend(port: u16) -> &'static str {
    let dport = format!("--dport {port} ");
    ["iptables-nft", "iptables-legacy"]
        .into_iter()
        .find(|p| {
            let out = run(p, &["-t", "nat", "-S", "DOCKER"]);
            String::from_utf8_lossy(&out.stdout).contains(&dport)
        })
        .expect("Docker's DNAT rule for the published port")
}
