//! The wanted rule set, pure: for a port and its allowed sources, the rules
//! pgshadow puts at the top of `DOCKER-USER`, rendered as argument lists,
//! as commands a person can read and run, and as `iptables-restore` input.

use std::fmt;
use std::net::IpAddr;

use super::{CHAIN, FirewallError};
use crate::config::Cidr;

/// Which of the two tables a rule belongs to: iptables or ip6tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The family of an address block.
    pub fn of(cidr: &Cidr) -> Family {
        match cidr.addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// What a rule does with a matching packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
}

/// One pgshadow rule: TCP to the published `port`, from `source` (ACCEPT)
/// or from anyone (DROP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub family: Family,
    pub source: Option<Cidr>,
    pub port: u16,
    pub verdict: Verdict,
}

/// The comment that marks pgshadow's rules for one port.
pub fn comment(port: u16) -> String {
    format!("pgshadow:{port}")
}

impl Rule {
    /// The rule's match and target, in the order `iptables -S` prints them.
    ///
    /// `--ctstate DNAT` limits the rule to connections Docker port-forwarded:
    /// without it, the DROP would also stop containers on this host from
    /// dialling port N on some other machine, since those connections pass
    /// FORWARD with the same original destination port. `--ctdir ORIGINAL`
    /// keeps the replies of allowed connections out of the DROP.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(source) = &self.source {
            args.extend(["-s".to_string(), source.to_string()]);
        }
        let port = self.port.to_string();
        let verdict = match self.verdict {
            Verdict::Accept => "ACCEPT",
            Verdict::Drop => "DROP",
        };
        let rest = [
            "-p",
            "tcp",
            "-m",
            "conntrack",
            "--ctstate",
            "DNAT",
            "--ctorigdstport",
            &port,
            "--ctdir",
            "ORIGINAL",
            "-m",
            "comment",
            "--comment",
            &comment(self.port),
            "-j",
            verdict,
        ];
        args.extend(rest.iter().map(|s| s.to_string()));
        args
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.args().join(" "))
    }
}

/// The wanted rules for one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub port: u16,
    /// Allowed sources, each reduced to its network address, without repeats.
    pub sources: Vec<Cidr>,
    /// Whether ip6tables gets rules too.
    pub ipv6: bool,
}

impl Plan {
    /// Plans the rules for `port`. IPv6 gets its own set (ACCEPTs, then a
    /// DROP) when an IPv6 source is allowed or when `docker_filters_ipv6`
    /// says ip6tables has a `DOCKER-USER` chain; otherwise Docker does not
    /// forward IPv6 to containers, and an ip6tables rule would have no chain
    /// to live in.
    pub fn new(
        port: u16,
        allow: &[Cidr],
        docker_filters_ipv6: bool,
    ) -> Result<Plan, FirewallError> {
        if allow.is_empty() {
            return Err(FirewallError::NoSources { port });
        }
        let mut sources: Vec<Cidr> = Vec::new();
        for cidr in allow.iter().map(network) {
            if !sources.contains(&cidr) {
                sources.push(cidr);
            }
        }
        let ipv6 = docker_filters_ipv6 || sources.iter().any(|c| Family::of(c) == Family::V6);
        Ok(Plan {
            port,
            sources,
            ipv6,
        })
    }

    /// The families this plan writes rules for.
    pub fn families(&self) -> Vec<Family> {
        match self.ipv6 {
            true => vec![Family::V4, Family::V6],
            false => vec![Family::V4],
        }
    }

    /// The rules of one family in chain order: an ACCEPT per allowed source
    /// of that family, then the DROP for everyone else.
    pub fn rules(&self, family: Family) -> Vec<Rule> {
        let rule = |source, verdict| Rule {
            family,
            source,
            port: self.port,
            verdict,
        };
        let accepts = self.sources.iter().filter(|c| Family::of(c) == family);
        let mut rules: Vec<Rule> = accepts.map(|c| rule(Some(*c), Verdict::Accept)).collect();
        rules.push(rule(None, Verdict::Drop));
        rules
    }
}

/// The block with its host bits cleared, as iptables stores and prints it.
pub fn network(cidr: &Cidr) -> Cidr {
    let addr = match cidr.addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(cidr.prefix))
                .unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(cidr.prefix))
                .unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    };
    Cidr {
        addr,
        prefix: cidr.prefix,
    }
}

/// The commands that put `rules` at the top of the chain, in order.
pub fn insert_commands(program: &str, rules: &[Rule]) -> Vec<String> {
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| format!("{program} -I {CHAIN} {} {rule}", i + 1))
        .collect()
}

/// An `iptables-restore --noflush` script that deletes the rules given by
/// their arguments, then inserts rules at 1-based positions, in one
/// transaction: either all of it happens or none of it.
pub fn restore_script(deletes: &[Vec<String>], inserts: &[(usize, Vec<String>)]) -> String {
    let words = |args: &[String]| args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
    let mut script = String::from("*filter\n");
    for args in deletes {
        script.push_str(&format!("-D {CHAIN} {}\n", words(args)));
    }
    for (position, args) in inserts {
        script.push_str(&format!("-I {CHAIN} {position} {}\n", words(args)));
    }
    script.push_str("COMMIT\n");
    script
}

/// The inserts that put `rules` at the top of the chain, in order.
pub fn at_top(rules: &[Rule]) -> Vec<(usize, Vec<String>)> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| (i + 1, r.args()))
        .collect()
}

/// Quotes an argument for iptables-restore when it holds blanks or quotes.
fn quote(arg: &str) -> String {
    if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
        format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        arg.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn accepts_come_before_the_drop_and_carry_the_comment() {
        let plan = Plan::new(5432, &cidrs(&["198.51.100.7", "203.0.113.0/24"]), false).unwrap();
        let lines: Vec<String> = plan
            .rules(Family::V4)
            .iter()
            .map(|r| r.to_string())
            .collect();
        let tail = "-p tcp -m conntrack --ctstate DNAT --ctorigdstport 5432 --ctdir ORIGINAL \
                    -m comment --comment pgshadow:5432";
        assert_eq!(
            lines,
            [
                format!("-s 198.51.100.7/32 {tail} -j ACCEPT"),
                format!("-s 203.0.113.0/24 {tail} -j ACCEPT"),
                format!("{tail} -j DROP"),
            ]
        );
    }

    #[test]
    fn ipv6_sources_go_to_their_own_family_with_their_own_drop() {
        let plan = Plan::new(6432, &cidrs(&["198.51.100.7", "2001:db8::7"]), false).unwrap();
        assert_eq!(plan.families(), [Family::V4, Family::V6]);
        let v4 = plan.rules(Family::V4);
        let v6 = plan.rules(Family::V6);
        assert_eq!(v4.len(), 2);
        assert_eq!(v6.len(), 2);
        assert_eq!(v6[0].source, Some("2001:db8::7/128".parse().unwrap()));
        assert_eq!((v6[1].source, v6[1].verdict), (None, Verdict::Drop));
        assert!(v4.iter().all(|r| r.family == Family::V4));
    }

    #[test]
    fn ipv6_gets_a_drop_only_when_docker_filters_ipv6() {
        let allow = cidrs(&["198.51.100.7"]);
        assert_eq!(
            Plan::new(5432, &allow, false).unwrap().families(),
            [Family::V4]
        );
        let plan = Plan::new(5432, &allow, true).unwrap();
        assert_eq!(plan.families(), [Family::V4, Family::V6]);
        assert_eq!(plan.rules(Family::V6).len(), 1, "only the DROP");
    }

    #[test]
    fn sources_are_reduced_to_networks_without_repeats() {
        let allow = cidrs(&[
            "10.1.2.3/24",
            "10.1.2.0/24",
            "2001:db8::1:2/112",
            "0.0.0.0/0",
        ]);
        let plan = Plan::new(5432, &allow, false).unwrap();
        let shown: Vec<String> = plan.sources.iter().map(|c| c.to_string()).collect();
        assert_eq!(shown, ["10.1.2.0/24", "2001:db8::1:0/112", "0.0.0.0/0"]);
    }

    #[test]
    fn an_empty_allow_list_is_refused() {
        let err = Plan::new(5432, &[], false).unwrap_err();
        assert!(err.is_usage());
        assert_eq!(
            err.to_string(),
            "plan rules for port 5432: no allowed sources"
        );
    }

    #[test]
    fn commands_insert_at_the_top_in_order() {
        let plan = Plan::new(5432, &cidrs(&["198.51.100.7"]), false).unwrap();
        let commands = insert_commands("iptables-nft", &plan.rules(Family::V4));
        assert!(commands[0].starts_with("iptables-nft -I DOCKER-USER 1 -s 198.51.100.7/32 "));
        assert!(commands[1].starts_with("iptables-nft -I DOCKER-USER 2 -p tcp "));
        assert!(commands[1].ends_with(" -j DROP"));
    }

    #[test]
    fn restore_script_deletes_first_and_quotes_what_needs_it() {
        let plan = Plan::new(5432, &cidrs(&["198.51.100.7"]), false).unwrap();
        let old = vec![vec![
            "-s".into(),
            "10.0.0.1/32".into(),
            "-m".into(),
            "comment".into(),
        ]];
        let odd = vec![vec!["--comment".into(), "a \"b\"".into()]];
        let script = restore_script(&[old, odd].concat(), &at_top(&plan.rules(Family::V4)));
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines[0], "*filter");
        assert_eq!(lines[1], "-D DOCKER-USER -s 10.0.0.1/32 -m comment");
        assert_eq!(lines[2], r#"-D DOCKER-USER --comment "a \"b\"""#);
        assert!(lines[3].starts_with("-I DOCKER-USER 1 -s 198.51.100.7/32"));
        assert!(lines[4].starts_with("-I DOCKER-USER 2 -p tcp"));
        assert_eq!(lines[5], "COMMIT");
    }
}
