//! The firewall tests' bench: PostgreSQL in a container published on both
//! test hosts' host-side addresses, and the calls the tests make on it.

use crate::common::*;
use crate::lab::*;
use crate::{TEST, assert_exit, firewall, free_port, require_root};

/// PostgreSQL published on a free port of both test hosts' host-side
/// addresses (not on eth0), and everything to clean up afterwards.
pub struct Bench {
    pub port: u16,
    pub backend: &'static str,
    pub first: TestHost,
    pub second: TestHost,
    _containers: Containers,
    _lab: Lab,
}

impl Bench {
    pub fn start(foreign_port: u16) -> Bench {
        require_root();
        require_docker();
        let port = free_port();
        let mut lab = Lab::default();
        lab.comments = [
            format!("{port}"),
            format!("{port}-foreign"),
            format!("{foreign_port}"),
        ]
        .map(|suffix| format!("pgshadow:{suffix}"))
        .to_vec();
        let subnet = free_subnet();
        let (first, second) = (lab.test_host(subnet, 0), lab.test_host(subnet, 1));

        let mut containers = Containers::default();
        let name = unique("pgshadow-fw");
        containers.add(&name);
        let (label, env) = (test_labels(TEST), "POSTGRES_HOST_AUTH_METHOD=trust");
        let publish = |h: &TestHost| format!("{}:{port}:5432", h.host_ip);
        let (on_first, on_second) = (publish(&first), publish(&second));
        docker_ok(&[
            "run", "-d", "--name", &name, "--label", &label, "-p", &on_first, "-p", &on_second,
            "-e", env, IMAGE,
        ]);
        wait_for_postgres(&name, 60);
        Bench {
            port,
            backend: docker_backend(port),
            first,
            second,
            _containers: containers,
            _lab: lab,
        }
    }

    /// `pgshadow firewall ACTION --port P --allow HOSTS`, asserting the exit
    /// code; returns stdout.
    pub fn firewall(&self, action: &str, allow: &[&TestHost], code: i32) -> String {
        let port = self.port.to_string();
        let mut args = vec![action, "--port", &port];
        let allow: Vec<String> = allow.iter().map(|h| format!("{}/32", h.ns_ip)).collect();
        let allow = allow.join(",");
        if !allow.is_empty() {
            args.extend(["--allow", &allow]);
        }
        assert_exit(&firewall(&args), code)
    }

    pub fn connect(&self, host: &TestHost) -> i32 {
        connect(host, self.port)
    }

    /// pgshadow's rules for the port in Docker's backend.
    pub fn ours(&self) -> usize {
        count_ours(None, self.backend, self.port)
    }

    /// The chain without pgshadow's rules for the port.
    pub fn not_ours(&self) -> Vec<String> {
        let comment = format!("pgshadow:{}", self.port);
        let lines = chain_lines(None, self.backend).into_iter();
        lines.filter(|l| !has_comment(l, &comment)).collect()
    }

    /// Rules that are not ours: a look-alike comment and another port's rule.
    pub fn add_foreign_rules(&self, other_port: u16) {
        let port = self.port;
        let foreign = [
            format!("-s 192.0.2.254/32 -p tcp -m comment --comment pgshadow:{port}-foreign"),
            format!(
                "-s 192.0.2.254/32 -p tcp -m conntrack --ctorigdstport {other_port} \
                 -m comment --comment pgshadow:{other_port}"
            ),
        ];
        for rule in &foreign {
            let mut args = vec!["-I", "DOCKER-USER", "1"];
            args.extend(rule.split_whitespace());
            args.extend(["-j", "RETURN"]);
            run_ok(self.backend, &args);
        }
    }
}
