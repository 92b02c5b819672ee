//! PostgreSQL operations run in containers: base backups and verification in
//! one-shot helpers, replication logins with the client certificate, SQL
//! over the local socket of a running server.

pub mod basebackup;
pub mod compression;
pub mod login;
pub mod primary;
pub mod server;
