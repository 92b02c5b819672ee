use super::AUTOCONF_FIXTURES;
use crate::pgconf::conninfo::quote_value;
use crate::pgconf::{AutoConf, Conninfo, PgconfError};

fn pairs(c: &Conninfo) -> Vec<(&str, &str)> {
    c.entries().collect()
}

#[test]
fn parses_every_quoting_form() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("host=db port=5432", &[("host", "db"), ("port", "5432")]),
        (
            "  host = db\tport =5432  ",
            &[("host", "db"), ("port", "5432")],
        ),
        ("user='o\\'brien'", &[("user", "o'brien")]),
        (
            "sslcert='/my certs/client.crt'",
            &[("sslcert", "/my certs/client.crt")],
        ),
        (
            "options='-c search_path=a,b'",
            &[("options", "-c search_path=a,b")],
        ),
        ("password=a\\\\b\\ c", &[("password", "a\\b c")]),
        ("password='a\\\\b'", &[("password", "a\\b")]),
        (
            "application_name='' host=x",
            &[("application_name", ""), ("host", "x")],
        ),
        ("host=a host=b", &[("host", "a"), ("host", "b")]),
        ("dbname=x=y", &[("dbname", "x=y")]),
        ("", &[]),
    ];
    for (input, expected) in cases {
        let parsed = Conninfo::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(pairs(&parsed), *expected, "{input}");
    }
}

#[test]
fn reports_bad_strings_with_their_position() {
    let cases: &[(&str, &str)] = &[
        (
            "host='abc",
            "unterminated quoted value of `host` starting at position 5",
        ),
        ("host=x port", "missing `=` after `port` at position 11"),
        (
            "host=x port 5432",
            "missing `=` after `port` at position 12",
        ),
        ("=x", "a keyword is missing before `=` at position 0"),
        (
            "user='a\\'",
            "unterminated quoted value of `user` starting at position 5",
        ),
        ("postgresql://u@h/db", "the URI form"),
    ];
    for (input, expected) in cases {
        let err = Conninfo::parse(input).unwrap_err().to_string();
        assert!(err.contains(expected), "{input}: got `{err}`");
    }
}

#[test]
fn quotes_values_as_libpq_does() {
    let cases = [
        ("db", "db"),
        ("1.2_x", "1.2_x"),
        ("verify-full", "'verify-full'"),
        ("o'brien", "'o\\'brien'"),
        ("a\\b", "'a\\\\b'"),
        ("", "''"),
        ("/a b/c.crt", "'/a b/c.crt'"),
        ("x=y", "'x=y'"),
    ];
    for (value, quoted) in cases {
        assert_eq!(quote_value(value), quoted, "{value}");
        let rendered = format!("k={quoted}");
        let back = Conninfo::parse(&rendered).unwrap();
        assert_eq!(back.get("k"), Some(value), "{rendered}");
    }
}

/// pg_basebackup quotes exactly as we do, so its strings render back as
/// they were written.
#[test]
fn renders_pg_basebackup_strings_unchanged() {
    for (name, text) in AUTOCONF_FIXTURES {
        let conf = AutoConf::parse(text).unwrap();
        let written = conf.get("primary_conninfo").unwrap();
        let parsed = Conninfo::parse(written).unwrap();
        assert_eq!(parsed.render(), written, "{name}");
        assert!(
            parsed
                .get("sslcert")
                .unwrap()
                .starts_with("/run/pgshadow-certs/"),
            "{name}"
        );
    }
}

#[test]
fn set_replaces_in_place_and_drops_later_duplicates() {
    let mut c = Conninfo::parse("host=a port=1 host=b user=u").unwrap();
    c.set("host", "c d");
    assert_eq!(c.render(), "host='c d' port=1 user=u");

    c.set("sslmode", "verify-full");
    assert_eq!(c.get("sslmode"), Some("verify-full"));
    assert!(c.render().ends_with(" sslmode='verify-full'"));

    assert!(c.remove("port"));
    assert!(!c.remove("port"));
    assert_eq!(c.render(), "host='c d' user=u sslmode='verify-full'");
}

#[test]
fn get_returns_the_last_duplicate() {
    let c = Conninfo::parse("host=a host=b").unwrap();
    assert_eq!(c.get("host"), Some("b"));
    assert_eq!(c.get("port"), None);
    assert!(matches!(
        Conninfo::parse("host="),
        Ok(ref c) if c.get("host") == Some("")
    ));
    assert!(matches!(
        Conninfo::parse("x"),
        Err(PgconfError::ConninfoMissingEquals { .. })
    ));
}
