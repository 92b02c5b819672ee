//! pgshadow: a live, certificate-authenticated PostgreSQL standby for
//! PostgreSQL servers that run in Docker.
//!
//! The binary (`src/main.rs`) parses the command line and calls into
//! [`commands`]; each command sequences the stages below it. Imports only
//! point downwards: commands use stages, stages use primitives.

pub mod archive;
pub mod cli;
pub mod commands;
pub mod config;
pub mod datadir;
pub mod docker;
pub mod error;
pub mod firewall;
pub mod health;
pub mod pg;
pub mod pgconf;
pub mod pki;
pub mod progress;
pub mod push;
pub mod signals;

pub use error::Error;
