//! Talking to PostgreSQL servers: commands run through libpq tools in containers.

pub mod login;
