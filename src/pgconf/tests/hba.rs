use super::{HBA_EDGE_CASES, HBA_FIXTURES};
use crate::config::Cidr;
use crate::pgconf::hba::{Address, ConnType, RecordKind, Rule, quote_token};
use crate::pgconf::{HbaFile, apply_pgshadow_lines};

fn cidrs(list: &[&str]) -> Vec<Cidr> {
    list.iter().map(|c| c.parse().unwrap()).collect()
}

fn rules(text: &str) -> Vec<Rule> {
    let file = HbaFile::parse(text).unwrap();
    let rules = file.records.into_iter().filter_map(|r| match r.kind {
        RecordKind::Rule(rule) => Some(rule),
        _ => None,
    });
    rules.collect()
}

/// The lines without pgshadow's mark, in order.
fn foreign_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.ends_with("# pgshadow"))
        .collect()
}

const BRANCH: &str = "hostssl replication replicator 172.17.0.1/32 cert  # pgshadow";

#[test]
fn renders_every_fixture_byte_for_byte() {
    for (name, text) in HBA_FIXTURES.iter().chain([&("edge-cases", HBA_EDGE_CASES)]) {
        let file = HbaFile::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(file.render(), *text, "{name}");
    }
}

#[test]
fn reads_the_rules_initdb_wrote() {
    for (name, text) in HBA_FIXTURES {
        let rules = rules(text);
        assert_eq!(rules.len(), 7, "{name}");
        let last = rules.last().unwrap();
        assert_eq!(last.conn_type, ConnType::Host, "{name}");
        assert_eq!(last.address, Some(Address::All), "{name}");
        assert_eq!(last.method, "scram-sha-256", "{name}");
        assert!(rules[3].databases[0].is_keyword("replication"), "{name}");
        assert_eq!(rules[3].address, None, "{name}");
    }
}

#[test]
fn reads_every_field_form() {
    let rules = rules(HBA_EDGE_CASES);
    assert_eq!(rules.len(), 10);
    assert_eq!(rules[0].options, ["map=admins"]);
    assert!(
        !rules[1].databases[0].is_keyword("all"),
        "a quoted \"all\" is a name"
    );
    assert_eq!(rules[1].users[0].text, "my user");
    let names = |r: &Rule| {
        r.databases
            .iter()
            .map(|t| t.text.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&rules[2]), ["db1", "db2", "db3"]);
    assert_eq!(rules[2].users.len(), 2);
    assert_eq!(
        rules[2].address,
        Some(Address::Cidr("192.168.0.0/16".parse().unwrap()))
    );
    assert_eq!(rules[2].method, "md5");
    assert_eq!(rules[2].comment.as_deref(), Some("# addr and mask"));
    assert_eq!(
        rules[3].address,
        Some(Address::Hostname(".example.com".into()))
    );
    assert_eq!(rules[3].options, ["clientname=DN"]);
    assert_eq!(rules[5].conn_type, ConnType::HostGssEnc);
    assert_eq!(rules[7].address, Some(Address::SameNet));
    assert_eq!(rules[8].method, "trust", "continued on the next line");
    assert_eq!(rules[9].users[0].text, "quote\"d");
    assert_eq!(
        rules[9].comment.as_deref(),
        Some("#no space before comment")
    );

    let file = HbaFile::parse(HBA_EDGE_CASES).unwrap();
    let includes = file.records.iter().filter_map(|r| match &r.kind {
        RecordKind::Include { keyword, target } => {
            Some((keyword.as_str(), target.as_str(), r.line))
        }
        _ => None,
    });
    let includes: Vec<_> = includes.collect();
    assert_eq!(
        includes,
        [
            ("include_if_exists", "local rules.conf", 12),
            ("include_dir", "conf.d", 13)
        ]
    );
}

#[test]
fn names_the_line_of_a_bad_record() {
    let cases = [
        (
            "# x\nhots all all all trust",
            "line 2: unknown connection type `hots`",
        ),
        (
            "host all all 10.0.0.0/8",
            "line 1: the authentication method is missing",
        ),
        (
            "host all \"open all 10.0.0.0/8 trust",
            "line 1: unterminated double quote",
        ),
        (
            "host all all 10.0.0.1 255.0.255.0 md5",
            "line 1: `255.0.255.0` is not a netmask",
        ),
        (
            "host all all 10.0.0.1 ffff:: md5",
            "line 1: `ffff::` is not a netmask",
        ),
        (
            "host all all 10.0.0.1",
            "line 1: the address `10.0.0.1` needs a /prefix or a netmask",
        ),
        ("host all all 10.0.0.0/40 trust", "line 1: invalid CIDR"),
        ("include", "line 1: `include` needs a target"),
    ];
    for (text, expected) in cases {
        let err = HbaFile::parse(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text:?}: got `{err}`");
    }
}

#[test]
fn adds_the_line_before_the_entrypoint_rule_and_is_idempotent() {
    for (name, text) in HBA_FIXTURES {
        let (out, changes) =
            apply_pgshadow_lines(text, "replicator", &cidrs(&["172.17.0.1"])).unwrap();
        assert_eq!(changes.added, [BRANCH], "{name}");
        assert!(changes.removed.is_empty(), "{name}");
        let expected = format!("{BRANCH}\nhost all all all scram-sha-256\n");
        assert!(out.ends_with(&expected), "{name}: {out}");
        assert_eq!(foreign_lines(&out), foreign_lines(text), "{name}");

        let (again, changes) =
            apply_pgshadow_lines(&out, "replicator", &cidrs(&["172.17.0.1"])).unwrap();
        assert_eq!(again, out, "{name}");
        assert!(changes.is_empty(), "{name}: {changes:?}");
    }
}

#[test]
fn removes_the_line_of_a_dropped_cidr_only() {
    let text = HBA_FIXTURES[0].1;
    let both = cidrs(&["172.17.0.1/32", "2001:db8::/64"]);
    let (two, changes) = apply_pgshadow_lines(text, "replicator", &both).unwrap();
    assert_eq!(changes.added.len(), 2);
    let v6 = "hostssl replication replicator 2001:db8::/64 cert  # pgshadow";
    assert!(
        two.contains(&format!("{BRANCH}\n{v6}\nhost all all all")),
        "{two}"
    );

    let (one, changes) = apply_pgshadow_lines(&two, "replicator", &cidrs(&["172.17.0.1"])).unwrap();
    assert_eq!(changes.removed, [v6]);
    assert!(changes.added.is_empty());
    assert!(one.contains(BRANCH) && !one.contains(v6));
    assert_eq!(foreign_lines(&one), foreign_lines(text));

    let (none, changes) = apply_pgshadow_lines(&one, "replicator", &[]).unwrap();
    assert_eq!(changes.removed, [BRANCH]);
    assert_eq!(none, text);
}

/// Where the line goes for each kind of existing rule: before the first
/// one that could match a replication connection from 172.17.0.1, after
/// every one that cannot.
#[test]
fn places_the_line_before_the_first_rule_that_could_match() {
    let matching = [
        "host all all all scram-sha-256",
        "host replication all 172.16.0.0/12 scram-sha-256",
        "hostssl replication,other +admins 0.0.0.0/0 reject",
        "hostnogssenc @dbs replicator samenet md5",
        "host replication /^rep 172.17.0.1 255.255.255.255 trust",
        "host replication all db.example.com trust",
        "include_dir conf.d",
    ];
    let not_matching = [
        "local replication all trust",
        "hostnossl all all all reject",
        "hostgssenc replication all all gss",
        "host replication all 10.0.0.0/8 trust",
        "host replication other 172.17.0.1/32 trust",
        "host \"replication\" \"all\" all trust",
        "host sameuser all ::/0 trust",
        "host replication all 172.17.0.2/32 trust",
    ];
    for first in matching {
        let text = format!("{}\n{first}\n", not_matching.join("\n"));
        let (out, _) = apply_pgshadow_lines(&text, "replicator", &cidrs(&["172.17.0.1"])).unwrap();
        let expected = format!("{}\n{BRANCH}\n{first}\n", not_matching.join("\n"));
        assert_eq!(out, expected, "{first}");
    }
}

#[test]
fn moves_its_line_above_a_broader_rule_added_later() {
    let text = format!("host all all all scram-sha-256\n{BRANCH}\n");
    let (out, changes) =
        apply_pgshadow_lines(&text, "replicator", &cidrs(&["172.17.0.1"])).unwrap();
    assert_eq!(out, format!("{BRANCH}\nhost all all all scram-sha-256\n"));
    assert_eq!(
        (changes.added, changes.removed),
        (vec![BRANCH.to_string()], vec![BRANCH.to_string()])
    );
}

#[test]
fn replaces_lines_of_another_user_and_duplicates() {
    let old = "hostssl replication olduser 172.17.0.1/32 cert  # pgshadow";
    let text = format!("{old}\n{BRANCH}\n{BRANCH}\nlocal all all trust\n");
    let (out, changes) =
        apply_pgshadow_lines(&text, "replicator", &cidrs(&["172.17.0.1"])).unwrap();
    assert_eq!(out, format!("{BRANCH}\nlocal all all trust\n"));
    assert_eq!(changes.removed, [old, BRANCH]);
    assert!(changes.added.is_empty());
}

#[test]
fn never_touches_lines_it_did_not_write() {
    // Marked, but not the shape pgshadow writes: the operator's.
    let text = "hostssl replication replicator 172.17.0.1/32 cert map=x  # pgshadow\n\
                host all all 127.0.0.1/32 trust # pgshadow\n";
    let (out, changes) = apply_pgshadow_lines(text, "replicator", &[]).unwrap();
    assert_eq!(out, text);
    assert!(changes.is_empty());
    let (out, _) = apply_pgshadow_lines(text, "replicator", &cidrs(&["172.17.0.1"])).unwrap();
    assert_eq!(out, format!("{BRANCH}\n{text}"));
}

#[test]
fn quotes_unusual_user_names() {
    let cases = [
        ("replicator", "replicator"),
        ("o'brien", "\"o'brien\""),
        ("my user", "\"my user\""),
        ("all", "\"all\""),
        ("+ops", "\"+ops\""),
        ("say\"hi", "\"say\"\"hi\""),
        ("rep-1.x", "rep-1.x"),
    ];
    for (user, quoted) in cases {
        assert_eq!(quote_token(user), quoted, "{user}");
        let (out, _) = apply_pgshadow_lines("", user, &cidrs(&["10.0.0.0/8"])).unwrap();
        let (again, changes) = apply_pgshadow_lines(&out, user, &cidrs(&["10.0.0.0/8"])).unwrap();
        assert_eq!(again, out, "{user}");
        assert!(changes.is_empty(), "{user}: {out}");
        assert_eq!(rules(&out)[0].users[0].text, user);
    }
}
