//! Table tests of the pgconf parsers over the real files under `fixtures/`
//! (see fixtures/README.md for how each was produced) and hand-made edge
//! cases.

mod autoconf;
mod conninfo;
mod hba;
mod recovery;

/// The `postgresql.auto.conf` files pg_basebackup -R wrote, by name.
const AUTOCONF_FIXTURES: [(&str, &str); 6] = [
    (
        "pg15-basebackup",
        include_str!("../../../fixtures/autoconf/pg15-basebackup.conf"),
    ),
    (
        "pg15-basebackup-slot",
        include_str!("../../../fixtures/autoconf/pg15-basebackup-slot.conf"),
    ),
    (
        "pg15-altersystem",
        include_str!("../../../fixtures/autoconf/pg15-altersystem.conf"),
    ),
    (
        "pg17-basebackup",
        include_str!("../../../fixtures/autoconf/pg17-basebackup.conf"),
    ),
    (
        "pg17-basebackup-slot",
        include_str!("../../../fixtures/autoconf/pg17-basebackup-slot.conf"),
    ),
    (
        "pg17-altersystem",
        include_str!("../../../fixtures/autoconf/pg17-altersystem.conf"),
    ),
];

const AUTOCONF_EDGE_CASES: &str = include_str!("../../../fixtures/autoconf/edge-cases.conf");

/// The `pg_hba.conf` files initdb and the image's entrypoint wrote.
const HBA_FIXTURES: [(&str, &str); 2] = [
    (
        "pg15-initdb",
        include_str!("../../../fixtures/hba/pg15-initdb.conf"),
    ),
    (
        "pg17-initdb",
        include_str!("../../../fixtures/hba/pg17-initdb.conf"),
    ),
];

const HBA_EDGE_CASES: &str = include_str!("../../../fixtures/hba/edge-cases.conf");
