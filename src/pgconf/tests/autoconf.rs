use super::{AUTOCONF_EDGE_CASES, AUTOCONF_FIXTURES};
use crate::pgconf::autoconf::render_setting;
use crate::pgconf::{AutoConf, Conninfo};

#[test]
fn renders_every_fixture_byte_for_byte() {
    for (name, text) in AUTOCONF_FIXTURES
        .iter()
        .chain([&("edge-cases", AUTOCONF_EDGE_CASES)])
    {
        let conf = AutoConf::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(conf.render(), *text, "{name}");
    }
}

#[test]
fn reads_the_effective_values_pg_basebackup_wrote() {
    for (name, text) in AUTOCONF_FIXTURES {
        let conf = AutoConf::parse(text).unwrap();
        let conninfo = Conninfo::parse(conf.get("primary_conninfo").unwrap()).unwrap();
        assert_eq!(conninfo.get("port"), Some("5432"), "{name}");
        assert_eq!(conninfo.get("sslmode"), Some("verify-full"), "{name}");
        assert_eq!(conninfo.get("passfile"), Some("/root/.pgpass"), "{name}");
        let slot = conf.get("primary_slot_name");
        assert_eq!(
            slot,
            (!name.ends_with("-basebackup")).then_some("pgshadow"),
            "{name}"
        );
    }

    // The primary's own ALTER SYSTEM settings, a quote in a value and a quote
    // inside the conninfo inside a value (both quoting layers).
    let conf = AutoConf::parse(AUTOCONF_FIXTURES[5].1).unwrap();
    assert_eq!(conf.get("cluster_name"), Some("it's main"));
    assert_eq!(conf.get("ssl"), Some("on"));
    assert_eq!(
        conf.settings()
            .filter(|(n, _)| *n == "primary_conninfo")
            .count(),
        2
    );
    let conninfo = Conninfo::parse(conf.get("primary_conninfo").unwrap()).unwrap();
    assert_eq!(conninfo.get("user"), Some("o'brien"));
    assert_eq!(conninfo.get("application_name"), Some("standby one"));
    assert_eq!(conninfo.get("sslnegotiation"), Some("postgres"));
}

#[test]
fn decodes_every_quoting_form() {
    let conf = AutoConf::parse(AUTOCONF_EDGE_CASES).unwrap();
    let cases = [
        ("work_mem", "8MB"),
        ("shared_buffers", "128MB"),
        ("max_connections", "100"),
        ("cluster_name", "it's 'quoted'"),
        ("archive_command", "cp \"%p\" /mnt/wal\\%f"),
        ("restore_command", "echo it's"),
        ("log_line_prefix", "%m [%p] \t"),
        ("application_name", "octalAx"),
        ("search_path", "\"$user\", public"),
        ("ssl_ciphers", "HIGH:!aNULL"),
        ("data_directory", "/var/lib/postgresql/my data"),
        ("empty", ""),
    ];
    for (name, value) in cases {
        assert_eq!(conf.get(name), Some(value), "{name}");
    }
    let conninfo = Conninfo::parse(conf.get("primary_conninfo").unwrap()).unwrap();
    assert_eq!(conninfo.get("user"), Some("o'brien"));
    assert_eq!(conninfo.get("options"), Some("-c search_path=a,b"));
    assert_eq!(conninfo.get("passfile"), Some("/tmp/x y/.pgpass"));
}

#[test]
fn what_it_renders_parses_back_to_the_same_value() {
    let values = [
        "plain",
        "it's",
        "a\\b",
        "\\'",
        "x = 'y'",
        "",
        "tab\there",
        "line\nbreak",
        "ü",
    ];
    for value in values {
        let line = render_setting("some_setting", value);
        let conf = AutoConf::parse(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(conf.get("some_setting"), Some(value), "{line}");
    }
    assert_eq!(render_setting("a", "it's a\\b"), "a = 'it''s a\\\\b'");
}

#[test]
fn set_replaces_the_effective_occurrence_and_drops_earlier_ones() {
    let mut conf = AutoConf::parse(AUTOCONF_EDGE_CASES).unwrap();
    let before = conf.effective();
    conf.set("WORK_MEM", "16MB");
    conf.set("new_setting", "o'brien");

    let text = conf.render();
    let again = AutoConf::parse(&text).unwrap();
    assert_eq!(
        again.settings().filter(|(n, _)| *n == "work_mem").count(),
        1
    );
    assert_eq!(again.get("work_mem"), Some("16MB"));
    assert!(
        text.contains("\nwork_mem = '16MB'\nprimary_conninfo = "),
        "{text}"
    );
    assert!(text.ends_with("new_setting = 'o''brien'\n"), "{text}");

    // Everything else is effectively the same.
    let mut after = again.effective();
    assert_eq!(after.remove("new_setting").as_deref(), Some("o'brien"));
    after.insert("work_mem".into(), "8MB".into());
    assert_eq!(after, before);
}

#[test]
fn set_to_the_same_value_keeps_the_text() {
    let text = "# c\nssl='on'   # as written\n";
    let mut conf = AutoConf::parse(text).unwrap();
    conf.set("ssl", "on");
    assert_eq!(conf.render(), text);
    conf.set("ssl", "off");
    assert_eq!(conf.render(), "# c\nssl = 'off'\n");
}

#[test]
fn remove_drops_every_occurrence() {
    let mut conf = AutoConf::parse("a = '1'\nb = '2'\nA = '3'").unwrap();
    assert!(conf.remove("a"));
    assert!(!conf.remove("a"));
    assert_eq!(conf.render(), "b = '2'");
    conf.set("c", "3");
    assert_eq!(conf.render(), "b = '2'\nc = '3'\n");
}

#[test]
fn names_the_line_of_a_syntax_error() {
    let cases = [
        ("ok = '1'\nbad = 'open", "line 2: unterminated quoted value"),
        ("name =", "line 1: expected a value"),
        ("a = 'x' y", "line 1: unexpected text after the value"),
        ("# c\n\n= 'x'", "line 3: expected a setting name"),
        ("9lives = on", "line 1: expected a setting name"),
        ("a = 'x\\", "line 1: unterminated quoted value"),
    ];
    for (text, expected) in cases {
        let err = AutoConf::parse(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text:?}: got `{err}`");
    }
}

#[test]
fn keeps_a_missing_final_newline_and_an_empty_file() {
    for text in ["", "\n", "a = '1'", "a = '1'\n", "\n\n# x"] {
        assert_eq!(AutoConf::parse(text).unwrap().render(), text, "{text:?}");
    }
}
