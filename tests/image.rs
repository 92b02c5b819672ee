//! The local PostgreSQL image behaves like the official one where pgshadow
//! relies on it: 999:999, initdb into an empty bind mount, start, answer.

mod common;

use common::*;

#[test]
fn the_test_image_initialises_an_empty_bind_mount_as_999() {
    require_docker();
    let data = tempfile::tempdir().unwrap();
    give_to_postgres(data.path());
    let name = unique("pgshadow-test-image");
    let mut containers = Containers::default();
    containers.add(&name);

    let mount = format!("{}:/var/lib/postgresql/data", data.path().display());
    let label = test_labels("image");
    docker_ok(&[
        "run", "-d", "--name", &name, "--label", &label, "--user", "999:999", "-v", &mount, IMAGE,
    ]);
    wait_for_postgres(&name, 60);

    assert_eq!(psql(&name, "SELECT 1"), "1");
    assert_eq!(docker_ok(&["exec", &name, "id", "-u"]), "999");
    assert_eq!(
        psql(&name, "SHOW data_directory"),
        "/var/lib/postgresql/data"
    );
    assert!(psql(&name, "SELECT version()").starts_with("PostgreSQL 15"));
    let meta = std::fs::metadata(data.path().join("PG_VERSION")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 999);

    drop(containers);
    assert!(labelled_containers("image").is_empty());
}
