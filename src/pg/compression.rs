//! Which compression `clone-standby` asks pg_basebackup for.
//!
//! On a 100 Mbit/s link the copy is bound by the wire, and server-side
//! zstd sends a fraction of pgbench's bytes, so it more than halves the
//! clone time (docs/BENCHMARKS.md, item 2). On this host or a private
//! network the link is rarely the limit, so the default there stays
//! uncompressed and the primary's CPU is left alone. `--compress` always
//! wins: a method, or `none`.

use std::net::{IpAddr, ToSocketAddrs};

/// The method used for a primary that is not local (see [`is_local`]).
pub const REMOTE_DEFAULT: &str = "server-zstd";

/// The value of `--compress` that turns compression off.
pub const NONE: &str = "none";

/// The `--compress` value pg_basebackup gets: the flag as given, nothing
/// for `none`, and without the flag [`REMOTE_DEFAULT`] for a primary that
/// is not local.
pub fn choose(flag: Option<&str>, primary_host: &str) -> Option<String> {
    match flag {
        Some(NONE) => None,
        Some(method) => Some(method.to_string()),
        None if is_local(primary_host) => None,
        None => Some(REMOTE_DEFAULT.to_string()),
    }
}

/// Whether `host` is on this machine or on a private network: every
/// address it names is loopback, private (10/8, 172.16/12 (Docker's
/// bridges among them), 192.168/16), link-local, or an IPv6 unique-local
/// or link-local address. A name is resolved; one that does not resolve
/// counts as remote (the preflight's TCP check then says why).
/// Carrier-grade NAT addresses (100.64/10, used by overlay VPNs between
/// clouds) count as remote: such links are usually the slow ones.
pub fn is_local(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => match (host, 0).to_socket_addrs() {
            Ok(found) => found.map(|a| a.ip()).collect(),
            Err(_) => Vec::new(),
        },
    };
    !addresses.is_empty() && addresses.iter().all(is_local_address)
}

fn is_local_address(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_local_address(&IpAddr::V4(v4)),
            None => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_private_and_bridge_addresses_are_local() {
        for host in [
            "127.0.0.1",
            "localhost",
            "10.1.2.3",
            "172.17.0.1",
            "172.31.255.254",
            "192.168.1.20",
            "169.254.1.1",
            "::1",
            "[::1]",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:192.168.1.1",
        ] {
            assert!(is_local(host), "{host} should be local");
        }
    }

    #[test]
    fn public_and_cgnat_addresses_are_remote() {
        for host in [
            "203.0.113.10",
            "172.32.0.1",
            "100.64.0.7",
            "8.8.8.8",
            "2001:db8::1",
            "::ffff:203.0.113.10",
        ] {
            assert!(!is_local(host), "{host} should be remote");
        }
    }

    #[test]
    fn the_flag_wins_and_none_turns_compression_off() {
        assert_eq!(
            choose(None, "203.0.113.10").as_deref(),
            Some(REMOTE_DEFAULT)
        );
        assert_eq!(choose(None, "172.17.0.1"), None);
        assert_eq!(choose(Some("none"), "203.0.113.10"), None);
        assert_eq!(
            choose(Some("server-lz4"), "127.0.0.1").as_deref(),
            Some("server-lz4")
        );
    }
}
