//! Backend choice and transactions against a scripted runner (no root).

use std::cell::RefCell;
use std::collections::HashMap;

use super::*;
use crate::firewall::rules::Plan;

/// Answers by program and arguments; a program it does not know is "not
/// installed". Records every call.
#[derive(Default)]
struct Scripted {
    answers: HashMap<String, Ran>,
    installed: Vec<&'static str>,
    calls: RefCell<Vec<(String, Option<String>)>>,
}

impl Scripted {
    fn installed(mut self, programs: &[&'static str]) -> Self {
        self.installed.extend(programs);
        self
    }

    fn answer(mut self, command: &str, success: bool, stdout: &str) -> Self {
        let ran = Ran {
            success,
            stdout: stdout.into(),
            stderr: String::new(),
        };
        self.answers.insert(command.into(), ran);
        self
    }
}

impl Runner for Scripted {
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> std::io::Result<Ran> {
        let command = format!("{program} {}", args.join(" "));
        self.calls
            .borrow_mut()
            .push((command.clone(), stdin.map(str::to_string)));
        if !self.installed.contains(&program) {
            return Err(std::io::ErrorKind::NotFound.into());
        }
        // Anything not scripted fails the way iptables-nft does.
        let failed = Ran {
            success: false,
            stdout: String::new(),
            stderr: "# Warning: iptables-legacy tables present\niptables: No chain.\n".into(),
        };
        Ok(self.answers.get(&command).cloned().unwrap_or(failed))
    }
}

const CHAIN_OK: &str = "-N DOCKER-USER\n-A DOCKER-USER -j RETURN\n";
const DNAT: &str = "-N DOCKER\n-A DOCKER ! -i docker0 -p tcp -m tcp --dport 5432 -j DNAT \
                    --to-destination 172.17.0.2:5432\n";

#[test]
fn the_backend_with_docker_user_wins() {
    let runner = Scripted::default()
        .installed(&["iptables-nft", "iptables-legacy"])
        .answer("iptables-legacy -t filter -S DOCKER-USER", true, CHAIN_OK)
        .answer("iptables-nft -t filter -S DOCKER-USER", false, "");
    assert_eq!(detect(&runner).unwrap(), Backend::Legacy);
}

#[test]
fn published_ports_break_a_tie_and_nft_wins_an_even_one() {
    let both = || {
        Scripted::default()
            .installed(&["iptables-nft", "iptables-legacy"])
            .answer("iptables-legacy -t filter -S DOCKER-USER", true, CHAIN_OK)
            .answer("iptables-nft -t filter -S DOCKER-USER", true, CHAIN_OK)
    };
    assert_eq!(detect(&both()).unwrap(), Backend::Nft);
    let runner = both().answer("iptables-legacy -t nat -S DOCKER", true, DNAT);
    assert_eq!(detect(&runner).unwrap(), Backend::Legacy);
}

#[test]
fn plain_iptables_is_used_when_it_is_the_only_one() {
    let runner = Scripted::default().installed(&["iptables"]).answer(
        "iptables -t filter -S DOCKER-USER",
        true,
        CHAIN_OK,
    );
    assert_eq!(detect(&runner).unwrap(), Backend::Plain);
}

#[test]
fn no_iptables_and_no_chain_are_errors_with_hints() {
    let err = detect(&Scripted::default()).unwrap_err();
    assert_eq!(err.to_string(), "find `iptables`: it is not installed");
    assert!(err.hint().unwrap().contains("apt-get install iptables"));

    let runner = Scripted::default().installed(&["iptables-nft", "iptables-legacy"]);
    let err = detect(&runner).unwrap_err();
    assert_eq!(
        err.to_string(),
        "find the DOCKER-USER chain with iptables-nft or iptables-legacy"
    );
    assert!(err.hint().unwrap().contains("\"iptables\": false"));
}

#[test]
fn a_missing_ip6tables_chain_reads_as_none() {
    let runner = Scripted::default().installed(&["ip6tables-nft"]);
    assert_eq!(read_chain(&runner, Backend::Nft, Family::V6).unwrap(), None);
}

fn change(family: Family, live: &str, allow: &[&str]) -> Change {
    let allow: Vec<_> = allow.iter().map(|s| s.parse().unwrap()).collect();
    let plan = Plan::new(5432, &allow, true).unwrap();
    Change {
        family,
        port: 5432,
        live: parse_chain(live),
        wanted: plan.rules(family),
    }
}

#[test]
fn commit_replaces_old_rules_in_one_script() {
    let old = "-A DOCKER-USER -s 10.0.0.9/32 -p tcp -m conntrack --ctstate DNAT \
               --ctorigdstport 5432 --ctdir ORIGINAL -m comment --comment \"pgshadow:5432\" \
               -j ACCEPT\n-A DOCKER-USER -j RETURN\n";
    let runner = Scripted::default()
        .installed(&["iptables-nft-restore"])
        .answer("iptables-nft-restore --noflush", true, "");
    let changes = [change(Family::V4, old, &["198.51.100.7"])];
    commit(&runner, Backend::Nft, &changes).unwrap();

    let calls = runner.calls.borrow();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "iptables-nft-restore --noflush");
    let script = calls[0].1.as_deref().unwrap();
    let lines: Vec<&str> = script.lines().collect();
    assert!(
        lines[1].starts_with("-D DOCKER-USER -s 10.0.0.9/32 "),
        "{script}"
    );
    assert!(
        lines[1].contains("--comment pgshadow:5432 -j ACCEPT"),
        "{script}"
    );
    assert!(
        lines[2].starts_with("-I DOCKER-USER 1 -s 198.51.100.7/32 "),
        "{script}"
    );
    assert!(lines[3].starts_with("-I DOCKER-USER 2 -p tcp "), "{script}");
    assert_eq!(lines.len(), 5);
}

#[test]
fn a_failing_second_family_rolls_the_first_back() {
    let old = "-A DOCKER-USER -j RETURN\n-A DOCKER-USER -s 10.0.0.9/32 -p tcp -m conntrack \
               --ctstate DNAT --ctorigdstport 5432 --ctdir ORIGINAL -m comment --comment \
               \"pgshadow:5432\" -j ACCEPT\n";
    let runner = Scripted::default()
        .installed(&["iptables-nft-restore", "ip6tables-nft-restore"])
        .answer("iptables-nft-restore --noflush", true, "");
    let changes = [
        change(Family::V4, old, &["198.51.100.7", "2001:db8::7"]),
        change(Family::V6, CHAIN_OK, &["198.51.100.7", "2001:db8::7"]),
    ];
    let err = commit(&runner, Backend::Nft, &changes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`ip6tables-nft-restore --noflush` failed: iptables: No chain."
    );

    let calls = runner.calls.borrow();
    let programs: Vec<&str> = calls.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        programs,
        [
            "iptables-nft-restore --noflush",
            "ip6tables-nft-restore --noflush",
            "iptables-nft-restore --noflush"
        ]
    );
    let undo = calls[2].1.as_deref().unwrap();
    let lines: Vec<&str> = undo.lines().collect();
    assert!(
        lines[1].starts_with("-D DOCKER-USER -s 198.51.100.7/32 "),
        "{undo}"
    );
    assert!(lines[2].starts_with("-D DOCKER-USER -p tcp "), "{undo}");
    assert!(
        lines[3].starts_with("-I DOCKER-USER 2 -s 10.0.0.9/32 "),
        "{undo}"
    );
}

#[test]
fn nothing_to_remove_runs_nothing() {
    let runner = Scripted::default();
    let mut nothing = change(Family::V4, CHAIN_OK, &["198.51.100.7"]);
    nothing.wanted.clear();
    commit(&runner, Backend::Nft, &[nothing]).unwrap();
    assert!(runner.calls.borrow().is_empty());
}
