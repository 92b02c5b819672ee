use super::{AUTOCONF_EDGE_CASES, AUTOCONF_FIXTURES};
use crate::pgconf::{
    AutoConf, Conninfo, PgconfError, SettingChange, StandbySettings, changed_settings,
    rewrite_for_standby,
};

const CERTS: &str = "/var/lib/postgresql/data/certs";

fn settings(slot: Option<&'static str>, serve_tls: bool) -> StandbySettings<'static> {
    StandbySettings {
        cert_dir: CERTS,
        sslmode: "verify-full",
        application_name: "standby 'one'",
        slot,
        serve_tls,
        temp_prefix: "/run/pgshadow-certs",
        primary: None,
    }
}

#[test]
fn a_new_primary_address_replaces_host_and_port_only() {
    let text =
        "primary_conninfo = 'user=replication_user host=10.0.0.5 port=5433 sslmode=verify-full'\n";
    let mut s = settings(None, false);
    s.primary = Some(("172.17.0.1", 41234));
    let out = rewrite_for_standby(text, &s).unwrap();
    let conninfo = conninfo_of(&AutoConf::parse(&out).unwrap());
    assert_eq!(conninfo.get("host"), Some("172.17.0.1"));
    assert_eq!(conninfo.get("port"), Some("41234"));
    assert_eq!(conninfo.get("user"), Some("replication_user"));

    let kept = rewrite_for_standby(text, &settings(None, false)).unwrap();
    let conninfo = conninfo_of(&AutoConf::parse(&kept).unwrap());
    assert_eq!(conninfo.get("host"), Some("10.0.0.5"));
    assert_eq!(conninfo.get("port"), Some("5433"));
}

fn conninfo_of(conf: &AutoConf) -> Conninfo {
    Conninfo::parse(conf.get("primary_conninfo").unwrap()).unwrap()
}

/// Every fixture, with and without a slot and standby TLS, checked key by
/// key against the file it came from.
#[test]
fn rewrites_every_fixture_for_the_standby() {
    let fixtures = AUTOCONF_FIXTURES
        .iter()
        .chain([&("edge-cases", AUTOCONF_EDGE_CASES)]);
    for (name, text) in fixtures {
        for (slot, serve_tls) in [(Some("pgshadow_1"), true), (None, false)] {
            let s = settings(slot, serve_tls);
            let out = rewrite_for_standby(text, &s).unwrap_or_else(|e| panic!("{name}: {e}"));
            let case = format!("{name} slot={slot:?} tls={serve_tls}");
            check_rewrite(
                &AutoConf::parse(text).unwrap(),
                &AutoConf::parse(&out).unwrap(),
                &s,
                &case,
            );
            assert!(!out.contains("/run/pgshadow-certs"), "{case}");
            assert!(
                out.starts_with(text.lines().next().unwrap()),
                "{case}: header kept"
            );
            assert_eq!(
                rewrite_for_standby(&out, &s).unwrap(),
                out,
                "{case}: idempotent"
            );
        }
    }
}

fn check_rewrite(before: &AutoConf, after: &AutoConf, s: &StandbySettings, case: &str) {
    let count = |name: &str| after.settings().filter(|(n, _)| *n == name).count();
    assert_eq!(count("primary_conninfo"), 1, "{case}");

    let old = conninfo_of(before);
    let new = conninfo_of(after);
    let expected = [
        ("sslcert", format!("{CERTS}/client.crt")),
        ("sslkey", format!("{CERTS}/client.key")),
        ("sslrootcert", format!("{CERTS}/ca.crt")),
        ("sslmode", s.sslmode.to_string()),
        ("application_name", s.application_name.to_string()),
    ];
    for (key, value) in &expected {
        assert_eq!(new.get(key), Some(value.as_str()), "{case}: {key}");
    }
    assert_eq!(new.get("passfile"), None, "{case}");
    for (key, value) in old.entries() {
        if key != "passfile" && !expected.iter().any(|(k, _)| *k == key) {
            assert_eq!(new.get(key), Some(value), "{case}: {key} kept");
        }
    }

    assert_eq!(after.get("primary_slot_name"), s.slot, "{case}");
    assert!(count("primary_slot_name") <= 1, "{case}");
    let tls = [
        ("ssl_cert_file", "standby.crt"),
        ("ssl_key_file", "standby.key"),
        ("ssl_ca_file", "ca.crt"),
    ];
    assert_eq!(
        after.get("ssl"),
        Some(if s.serve_tls { "on" } else { "off" }),
        "{case}"
    );
    for (setting, file) in tls {
        let want = s.serve_tls.then(|| format!("{CERTS}/{file}"));
        assert_eq!(
            after.get(setting).map(str::to_string),
            want,
            "{case}: {setting}"
        );
    }

    // Every other setting survives with its value.
    let touched = [
        "primary_conninfo",
        "primary_slot_name",
        "ssl",
        "ssl_cert_file",
        "ssl_key_file",
        "ssl_ca_file",
    ];
    let mut rest_before = before.effective();
    let mut rest_after = after.effective();
    for name in touched {
        rest_before.remove(name);
        rest_after.remove(name);
    }
    assert_eq!(rest_after, rest_before, "{case}: untouched settings");
}

/// The whole file for the primary that had its own TLS settings and a
/// stale primary_conninfo, as the standby will read it.
#[test]
fn rewrites_the_altersystem_fixture_to_the_expected_text() {
    let s = settings(Some("pgshadow"), false);
    let out = rewrite_for_standby(AUTOCONF_FIXTURES[2].1, &s).unwrap();
    let expected = "\
# Do not edit this file manually!
# It will be overwritten by the ALTER SYSTEM command.
ssl = 'off'
cluster_name = 'it''s main'
work_mem = '8MB'
primary_conninfo = 'user=''o\\\\''brien'' channel_binding=prefer host=172.17.0.3 port=5432 \
application_name=''standby \\\\''one\\\\'''' sslmode=''verify-full'' sslcompression=0 \
sslcert=''/var/lib/postgresql/data/certs/client.crt'' sslkey=''/var/lib/postgresql/data/certs/client.key'' \
sslrootcert=''/var/lib/postgresql/data/certs/ca.crt'' sslsni=1 ssl_min_protocol_version=TLSv1.2 \
gssencmode=prefer krbsrvname=postgres target_session_attrs=any'
primary_slot_name = 'pgshadow'
";
    assert_eq!(out, expected);
}

#[test]
fn refuses_a_file_without_primary_conninfo() {
    let err = rewrite_for_standby("# empty\nwork_mem = '4MB'\n", &settings(None, false));
    assert!(
        matches!(err, Err(PgconfError::NoPrimaryConninfo)),
        "{err:?}"
    );
}

#[test]
fn refuses_when_the_temporary_mount_is_still_named() {
    let cases = [
        (
            "primary_conninfo = 'host=db'\nssl_crl_file = '/run/pgshadow-certs/crl.pem'\n",
            "`ssl_crl_file`",
        ),
        (
            "primary_conninfo = 'host=db sslcrl=''/run/pgshadow-certs/crl.pem'''\n",
            "`primary_conninfo (sslcrl)`",
        ),
    ];
    for (text, named) in cases {
        let err = rewrite_for_standby(text, &settings(None, false)).unwrap_err();
        assert!(
            matches!(err, PgconfError::TemporaryPathRemains { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(named), "{err}");
        assert!(err.to_string().contains("/run/pgshadow-certs"), "{err}");
    }
}

#[test]
fn names_the_line_of_a_broken_primary_conninfo() {
    let text = "# c\nprimary_conninfo = 'host=''db'\n";
    let err = rewrite_for_standby(text, &settings(None, false)).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        cause.contains("unterminated quoted value of `host`"),
        "{cause}"
    );
}

#[test]
fn reports_which_settings_changed() {
    let before = AUTOCONF_FIXTURES[2].1;
    let after = rewrite_for_standby(before, &settings(Some("new_slot"), true)).unwrap();
    // ssl stays on and ssl_ca_file stays the same path: not reported.
    let changes = changed_settings(before, &after).unwrap();
    let changed = |n: &str| SettingChange::Changed(n.to_string());
    assert_eq!(
        changes,
        vec![
            changed("primary_conninfo"),
            changed("primary_slot_name"),
            changed("ssl_cert_file"),
            changed("ssl_key_file"),
        ]
    );

    let after = rewrite_for_standby(before, &settings(None, false)).unwrap();
    let changes = changed_settings(before, &after).unwrap();
    let removed = |n: &str| SettingChange::Removed(n.to_string());
    assert!(
        changes.contains(&removed("primary_slot_name")),
        "{changes:?}"
    );
    assert!(changes.contains(&removed("ssl_cert_file")), "{changes:?}");
    assert!(changes.contains(&changed("ssl")), "{changes:?}");
    let added = changed_settings("", "a = '1'").unwrap();
    assert_eq!(added, vec![SettingChange::Added("a".into())]);
}
