//! Parsing real `-S` output (fixtures/firewall) and the difference to the plan.

use super::*;
use crate::firewall::rules::Plan;

const NFT: &str = include_str!("../../../fixtures/firewall/docker-user-nft.txt");
const LEGACY: &str = include_str!("../../../fixtures/firewall/docker-user-legacy.txt");
const V6_NFT: &str = include_str!("../../../fixtures/firewall/docker-user-v6-nft.txt");

fn plan(allow: &[&str]) -> Plan {
    let allow: Vec<_> = allow.iter().map(|s| s.parse().unwrap()).collect();
    Plan::new(5432, &allow, false).unwrap()
}

#[test]
fn both_backends_print_the_same_rules() {
    assert_eq!(parse_chain(NFT), parse_chain(LEGACY));
}

#[test]
fn rules_are_found_by_their_exact_comment() {
    let chain = parse_chain(NFT);
    assert_eq!(chain.len(), 7);
    let ours: Vec<usize> = chain
        .iter()
        .filter(|r| r.is_pgshadow(5432))
        .map(|r| r.position)
        .collect();
    assert_eq!(
        ours,
        [2, 4, 7],
        "not 6432's rule, not `pgshadow:5432-old`, not ssh"
    );
    assert_eq!(chain[4].comment(), Some("admin ssh"));
    assert!(chain.iter().filter(|r| r.is_pgshadow(6432)).count() == 1);
}

#[test]
fn quoted_words_and_warning_lines() {
    let text = "# Warning: iptables-legacy tables present, use iptables-legacy to see them\n\
                -N DOCKER-USER\n\
                -A DOCKER-USER -m comment --comment \"say \\\"hi\\\" there\" -j RETURN\n";
    let chain = parse_chain(text);
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].comment(), Some("say \"hi\" there"));
    assert!(parse_chain("-N DOCKER-USER\n").is_empty());
}

#[test]
fn a_live_rule_reads_back_as_the_planned_rule() {
    let chain = parse_chain(NFT);
    let wanted = plan(&["198.51.100.7"]).rules(Family::V4);
    assert_eq!(chain[1].as_rule(Family::V4).as_ref(), Some(&wanted[0]));
    assert_eq!(chain[3].as_rule(Family::V4).as_ref(), Some(&wanted[1]));
    // The look-alike lacks `--ctstate DNAT` and the ssh rule has `-i`.
    assert_eq!(chain[2].as_rule(Family::V4), None);
    assert_eq!(chain[4].as_rule(Family::V4), None);
}

#[test]
fn the_planned_rules_print_exactly_as_iptables_prints_them() {
    let chain = parse_chain(V6_NFT);
    let allow = ["2001:db8::7".parse().unwrap()];
    let wanted = Plan::new(5432, &allow, false).unwrap().rules(Family::V6);
    for (live, rule) in chain.iter().zip(&wanted) {
        let printed = live.line.replace('"', "");
        assert_eq!(printed, format!("-A DOCKER-USER {rule}"));
    }
    let drift = Drift::between(Family::V6, &wanted, &chain);
    assert!(drift.is_clean(), "{:?}", drift.lines());
}

#[test]
fn drift_names_missing_unexpected_and_shadowed_rules() {
    let wanted = plan(&["198.51.100.7", "198.51.100.8"]).rules(Family::V4);
    let drift = Drift::between(Family::V4, &wanted, &parse_chain(NFT));
    assert!(!drift.is_clean());
    assert_eq!(drift.missing, [wanted[1].clone()]);
    assert_eq!(drift.unexpected.len(), 1);
    assert!(drift.unexpected[0].line.contains("-s 10.9.0.0/16"));
    assert_eq!(drift.shadowed.len(), 1);
    assert_eq!(drift.shadowed[0].1.line, "-A DOCKER-USER -j RETURN");
    let lines = drift.lines();
    assert!(
        lines[0].starts_with("+ -s 198.51.100.8/32 -p tcp"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("- -A DOCKER-USER -s 10.9.0.0/16"),
        "{lines:?}"
    );
    assert!(lines[2].starts_with("! rule 7 comes after `-A DOCKER-USER -j RETURN` (rule 6)"));
}

#[test]
fn drift_sees_rules_in_the_wrong_order() {
    let wanted = plan(&["198.51.100.7"]).rules(Family::V4);
    let text = format!(
        "-A DOCKER-USER {}\n-A DOCKER-USER {}\n-A DOCKER-USER -j RETURN\n",
        wanted[1], wanted[0]
    );
    let drift = Drift::between(Family::V4, &wanted, &parse_chain(&text));
    assert!(drift.reordered);
    assert!(drift.missing.is_empty() && drift.unexpected.is_empty());
    assert_eq!(drift.lines(), ["! the rules are there, in another order"]);
}

#[test]
fn an_empty_chain_misses_every_rule_and_duplicates_are_unexpected() {
    let wanted = plan(&["198.51.100.7"]).rules(Family::V4);
    let drift = Drift::between(Family::V4, &wanted, &parse_chain("-N DOCKER-USER\n"));
    assert_eq!(drift.missing, wanted);

    let once: String = wanted
        .iter()
        .map(|r| format!("-A DOCKER-USER {r}\n"))
        .collect();
    let twice = parse_chain(&format!("{once}{once}"));
    let drift = Drift::between(Family::V4, &wanted, &twice);
    assert!(drift.missing.is_empty());
    assert_eq!(drift.unexpected.len(), 2);
}
