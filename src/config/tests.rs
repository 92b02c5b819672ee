//! The config layers and every kind of bad input, each with its message.

use std::collections::HashMap;
use std::path::PathBuf;

use super::*;

fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("pgshadow.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn load_with(
    file: Option<PathBuf>,
    env: &[(&str, &str)],
    flags: Vec<(&'static str, String, &'static str)>,
) -> Result<Config, ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load(&LoadOptions { file, flags }, |var| env.get(var).cloned())
}

fn error_text(file_text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, file_text);
    let err = load_with(Some(path.clone()), &[], vec![]).unwrap_err();
    err.to_string().replace(&path.display().to_string(), "FILE")
}

const FULL: &str = "\
image: postgres:17
pki_dir: ./pki
primary:
  host: 203.0.113.10
  port: 5432
  container: pg-primary
  data_dir: /opt/pgsql/primary
  allow: [198.51.100.7/32]
replication:
  user: replication_user
  slot: standby1
  sslmode: verify-full
standby:
  container: pg-standby
  data_dir: /opt/pgsql/data
  port: 5433
  owner: \"999:999\"
  pgdata: /var/lib/postgresql/data
";

#[test]
fn the_documented_file_parses_with_sources() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, FULL);
    let config = load_with(Some(path.clone()), &[], vec![]).unwrap();
    assert_eq!(config.primary.host.as_deref(), Some("203.0.113.10"));
    assert_eq!(config.primary.allow[0].to_string(), "198.51.100.7/32");
    assert_eq!(config.standby.port, Some(5433));
    assert_eq!(config.replication.slot.as_deref(), Some("standby1"));
    assert_eq!(
        config.source("primary.port"),
        Source::File {
            path: path.clone(),
            line: 5
        }
    );
    assert_eq!(
        config.source("standby.pgdata"),
        Source::File { path, line: 18 }
    );
}

#[test]
fn relative_paths_resolve_against_the_file_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "pki_dir: certs\nstandby:\n  data_dir: ./data\n");
    let config = load_with(Some(path), &[], vec![]).unwrap();
    assert_eq!(config.pki_dir, dir.path().join("certs"));
    assert_eq!(config.standby.data_dir, Some(dir.path().join("data")));
}

#[test]
fn flags_beat_env_beat_file_beat_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "primary:\n  port: 6000\n  host: file-host\nreplication:\n  user: file_user\n",
    );
    let env = [
        ("PGSHADOW_PRIMARY_PORT", "7000"),
        ("PGSHADOW_REPLICATION_USER", "env_user"),
    ];
    let flags = vec![("primary.port", "8000".to_string(), "--port")];
    let config = load_with(Some(path.clone()), &env, flags).unwrap();
    assert_eq!(config.primary.port, 8000);
    assert_eq!(config.source("primary.port"), Source::Flag("--port".into()));
    assert_eq!(config.replication.user, "env_user");
    assert_eq!(
        config.source("replication.user"),
        Source::Env("PGSHADOW_REPLICATION_USER".into())
    );
    assert_eq!(config.primary.host.as_deref(), Some("file-host"));
    assert_eq!(
        config.source("primary.host"),
        Source::File { path, line: 3 }
    );
    assert_eq!(config.standby.container, "pg-standby");
    assert_eq!(config.source("standby.container"), Source::Default);
}

#[test]
fn no_file_at_the_default_path_is_fine_but_a_named_missing_file_is_not() {
    let config = load_with(None, &[], vec![]);
    // The default file is relative to the working directory, which has none.
    assert!(config.is_ok() || std::path::Path::new(DEFAULT_FILE).exists());

    let err = load_with(Some("/nonexistent/pgshadow.yaml".into()), &[], vec![]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/pgshadow.yaml: config file does not exist"
    );
}

#[test]
fn an_unknown_key_names_file_line_and_key() {
    let err = error_text("primary:\n  host: a\n  hots: b\n");
    assert!(
        err.starts_with("FILE:3: primary: unknown field `hots`, expected one of"),
        "{err}"
    );
}

#[test]
fn an_unknown_top_level_key_is_refused() {
    let err = error_text("image: x\nstandbys: {}\n");
    assert!(err.starts_with("FILE:2: unknown field `standbys`"), "{err}");
}

#[test]
fn a_wrong_type_names_the_key_and_what_was_expected() {
    let err = error_text("primary:\n  port: fivefourthreetwo\n");
    assert_eq!(
        err,
        "FILE:2: primary.port: invalid type: string \"fivefourthreetwo\", expected u64"
    );
}

#[test]
fn an_out_of_range_port_is_refused() {
    let err = error_text("standby:\n  port: 70000\n");
    assert_eq!(
        err,
        "FILE:2: standby.port: invalid port `70000`: expected a number from 1 to 65535"
    );
    let err = error_text("primary:\n  port: 0\n");
    assert_eq!(
        err,
        "FILE:2: primary.port: invalid port `0`: expected a number from 1 to 65535"
    );
}

#[test]
fn an_invalid_cidr_names_the_entry() {
    let err = error_text("primary:\n  allow:\n    - 10.0.0.1/32\n    - 10.0.0.300/32\n");
    assert_eq!(
        err,
        "FILE:4: primary.allow[1]: invalid CIDR `10.0.0.300/32`: expected ADDRESS or ADDRESS/PREFIX"
    );
}

#[test]
fn an_invalid_owner_is_refused() {
    let err = error_text("standby:\n  owner: postgres\n");
    assert_eq!(
        err,
        "FILE:2: standby.owner: invalid owner `postgres`: expected UID:GID, such as 999:999"
    );
}

#[test]
fn an_invalid_sslmode_is_refused() {
    let err = error_text("replication:\n  sslmode: require\n");
    assert_eq!(
        err,
        "FILE:2: replication.sslmode: invalid sslmode `require`: expected verify-full or verify-ca"
    );
}

#[test]
fn a_file_that_is_not_yaml_is_refused_with_its_line() {
    let err = error_text("primary:\n  host: \"unclosed\n  port: 1\n");
    assert_eq!(
        err,
        "FILE:4: found unexpected end of stream, while scanning a quoted scalar at line 2 column 9"
    );
    let err = error_text("just a sentence\n");
    assert!(
        err.starts_with("FILE:1: invalid type: string \"just a sentence\""),
        "{err}"
    );
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    let err = load_with(None, &[("PGSHADOW_STANDBY_OWNER", "x")], vec![]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "PGSHADOW_STANDBY_OWNER: invalid owner `x`: expected UID:GID, such as 999:999"
    );
    let err = load_with(None, &[("PGSHADOW_PRIMARY_ALLOW", "10.0.0.1,nope")], vec![]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("PGSHADOW_PRIMARY_ALLOW: invalid CIDR `nope`")
    );
}

#[test]
fn a_missing_key_names_the_file_the_key_and_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "image: x\n");
    let config = load_with(Some(path.clone()), &[], vec![]).unwrap();
    let err = config
        .require_standby_data_dir("clone-standby")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: missing key `standby.data_dir`, which `clone-standby` needs",
            path.display()
        )
    );
    assert_eq!(
        err.hint().unwrap(),
        "set `standby.data_dir` in the config file, or export PGSHADOW_STANDBY_DATA_DIR"
    );
}

#[test]
fn an_empty_file_is_an_empty_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "# nothing yet\n");
    let config = load_with(Some(path), &[], vec![]).unwrap();
    assert_eq!(config.primary.port, 5432);
}

#[test]
fn docker_hosts_and_contexts_come_from_every_layer() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "primary:\n  docker_host: ssh://deploy@vps1:2222\nstandby:\n  docker_context: vps2\n",
    );
    let env = [("PGSHADOW_STANDBY_DOCKER_CONTEXT", "vps3")];
    let config = load_with(Some(path.clone()), &env, vec![]).unwrap();
    assert_eq!(
        config.primary.docker_host,
        Some(DockerHost::Ssh {
            user: Some("deploy".into()),
            host: "vps1".into(),
            port: Some(2222)
        })
    );
    assert_eq!(
        config.source("primary.docker_host"),
        Source::File { path, line: 2 }
    );
    assert_eq!(config.standby.docker_context.as_deref(), Some("vps3"));
    assert_eq!(config.display_value("standby.docker_host"), "-");
    assert_eq!(
        config.display_value("primary.docker_host"),
        "ssh://deploy@vps1:2222"
    );
}

#[test]
fn a_bad_docker_host_names_the_key_and_where_it_was_set() {
    let err = error_text("standby:\n  docker_host: http://vps2:2375\n");
    assert!(
        err.starts_with("FILE:2: standby.docker_host: invalid Docker host `http://vps2:2375`"),
        "{err}"
    );
    let env = [("PGSHADOW_PRIMARY_DOCKER_HOST", "tcp://vps1")];
    let err = load_with(None, &env, vec![]).unwrap_err().to_string();
    assert!(
        err.starts_with("PGSHADOW_PRIMARY_DOCKER_HOST: invalid Docker host `tcp://vps1`"),
        "{err}"
    );
}

#[test]
fn a_docker_host_and_a_context_for_one_role_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "standby:\n  docker_host: tcp://vps2:2376\n");
    let env = [("PGSHADOW_STANDBY_DOCKER_CONTEXT", "vps2")];
    let err = load_with(Some(path.clone()), &env, vec![]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`standby.docker_host` (file {}:2) and `standby.docker_context` \
             (env PGSHADOW_STANDBY_DOCKER_CONTEXT) are both set",
            path.display()
        )
    );
    assert!(err.hint().unwrap().contains("keep one"));

    // One role each is fine.
    let env = [("PGSHADOW_PRIMARY_DOCKER_CONTEXT", "vps1")];
    assert!(load_with(Some(path), &env, vec![]).is_ok());
}
