//! Where an organization's peers are: the `peers` of each `Organization` in the channel
//! configuration ([`PeerEndpoint`]), checked when the channel is. A gateway asks these
//! peers for their organization's endorsement when a contract's policy needs it and the
//! gateway's own node is not a peer of that organization.
//!
//! An address is `host:port` without a scheme: a DNS name, an IPv4 address or a bracketed
//! IPv6 address, and a port from 1 to 65535. A peer with a `tls_ca` speaks TLS with a
//! certificate for `host` that chains to it; one without speaks plaintext.
//!
//! ```
//! use weft_protocol::endpoints::{check_address, Address};
//! assert_eq!(check_address("peer0.org2.example:7051").unwrap(), Address {
//!     host: "peer0.org2.example".into(),
//!     port: 7051,
//! });
//! assert_eq!(check_address("[::1]:7051").unwrap().host, "::1");
//! let err = check_address("http://peer0:7051").unwrap_err().to_string();
//! assert!(err.contains("no scheme"), "{err}");
//! ```

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use weft_proto::quote::quote;
use weft_proto::v1::{Organization, PeerEndpoint};

use crate::error::ConfigError;

/// The most peers one organization may list.
pub const MAX_PEERS: usize = 64;

/// The longest address, in bytes (a DNS name is at most 253 characters, and a port).
pub const MAX_ADDRESS_LEN: usize = 261;

/// The largest TLS CA a peer endpoint may carry, in bytes of PEM.
pub const MAX_TLS_CA_BYTES: usize = 64 << 10;

/// A checked peer address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// The host: a DNS name, or an IP address (an IPv6 one without its brackets). A TLS
    /// certificate must name it.
    pub host: String,
    /// The port, 1 to 65535.
    pub port: u16,
}

/// Checks a peer address `host:port` (see the module's documentation); the error says what
/// is wrong with it, quoting it.
pub fn check_address(address: &str) -> Result<Address, ConfigError> {
    let bad = |why: &str| ConfigError(format!("peer address {}: {why}", quote(address)));
    if address.is_empty() {
        return Err(bad("empty; write host:port"));
    }
    if address.len() > MAX_ADDRESS_LEN {
        return Err(bad(&format!("longer than {MAX_ADDRESS_LEN} bytes")));
    }
    if address.contains("://") {
        return Err(bad("write host:port with no scheme (tls_ca decides whether TLS is used)"));
    }
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (ip, port) =
            rest.split_once("]:").ok_or_else(|| bad("write an IPv6 host as [ip]:port"))?;
        ip.parse::<Ipv6Addr>()
            .map_err(|_| bad(&format!("{} is not an IPv6 address", quote(ip))))?;
        (ip, port)
    } else {
        let (host, port) =
            address.rsplit_once(':').ok_or_else(|| bad("no port; write host:port"))?;
        if host.contains(':') {
            return Err(bad("write an IPv6 host in brackets: [ip]:port"));
        }
        if !(valid_dns_name(host) || host.parse::<Ipv4Addr>().is_ok()) {
            return Err(bad(&format!(
                "{} is neither a DNS name (labels of A-Z a-z 0-9 and '-', 1 to 63 characters, \
                 253 in all) nor an IPv4 address",
                quote(host)
            )));
        }
        (host, port)
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0 && port.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| bad(&format!("port {} is not a number from 1 to 65535", quote(port))))?;
    Ok(Address { host: host.to_string(), port })
}

/// Whether `host` is a DNS name: dot-separated labels of ASCII letters, digits and `-`
/// (not first or last), each 1 to 63 characters, 253 characters in all.
fn valid_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        // A name of digits and dots only would read as a malformed IPv4 address.
        && !host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Checks the peers `org` lists: at most [`MAX_PEERS`], each address well-formed
/// ([`check_address`]) and listed once, each TLS CA, if any, PEM certificates of at most
/// [`MAX_TLS_CA_BYTES`].
pub fn check_peers(org: &Organization) -> Result<(), ConfigError> {
    let bad = |what: String| ConfigError(format!("organization {}: {what}", org.msp_id));
    if org.peers.len() > MAX_PEERS {
        return Err(bad(format!("{} peers listed; at most {MAX_PEERS}", org.peers.len())));
    }
    let mut seen = BTreeSet::new();
    for PeerEndpoint { address, tls_ca } in &org.peers {
        let checked = check_address(address).map_err(|e| bad(e.0))?;
        if !seen.insert((checked.host.to_ascii_lowercase(), checked.port)) {
            return Err(bad(format!("peer {} is listed twice", quote(address))));
        }
        if tls_ca.len() > MAX_TLS_CA_BYTES {
            return Err(bad(format!(
                "the TLS CA of peer {} is {} bytes; at most {MAX_TLS_CA_BYTES}",
                quote(address),
                tls_ca.len()
            )));
        }
        if !tls_ca.is_empty()
            && !String::from_utf8_lossy(tls_ca).contains("-----BEGIN CERTIFICATE-----")
        {
            return Err(bad(format!(
                "the TLS CA of peer {} holds no PEM certificate",
                quote(address)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_host_and_port() {
        for (good, host, port) in [
            ("localhost:7051", "localhost", 7051),
            ("peer0.org1.example.com:1", "peer0.org1.example.com", 1),
            ("127.0.0.1:65535", "127.0.0.1", 65535),
            ("[::1]:7051", "::1", 7051),
            ("[fe80::1:2]:80", "fe80::1:2", 80),
            ("a-b.c:9", "a-b.c", 9),
        ] {
            assert_eq!(check_address(good), Ok(Address { host: host.into(), port }), "{good}");
        }
        for (bad, says) in [
            ("", "empty"),
            ("peer0", "no port"),
            ("peer0:", "port"),
            ("peer0:0", "port"),
            ("peer0:65536", "port"),
            ("peer0:+80", "port"),
            ("peer0:80a", "port"),
            ("https://peer0:7051", "no scheme"),
            ("::1:7051", "brackets"),
            ("[::1]", "[ip]:port"),
            ("[nope]:7051", "not an IPv6"),
            ("-peer:7051", "DNS name"),
            ("peer..x:7051", "DNS name"),
            ("peer_0:7051", "DNS name"),
            ("300.1.1.1:7051", "DNS name"),
            ("pe er:7051", "DNS name"),
        ] {
            let err = check_address(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad:?}: {err}");
            assert!(err.contains(&format!("{:?}", bad)) || bad.is_empty(), "quoted: {err}");
        }
        let long = format!("{}:1", "a".repeat(MAX_ADDRESS_LEN));
        assert!(check_address(&long).unwrap_err().to_string().len() < 400);
    }

    #[test]
    fn an_organizations_peers_are_checked() {
        let org = |peers: Vec<PeerEndpoint>| Organization {
            msp_id: "Org2".into(),
            identities: vec![],
            peers,
        };
        let peer = |address: &str, tls_ca: &[u8]| PeerEndpoint {
            address: address.into(),
            tls_ca: tls_ca.to_vec(),
        };
        let pem = b"-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n";
        assert!(check_peers(&org(vec![])).is_ok());
        assert!(check_peers(&org(vec![peer("a:1", b""), peer("b:1", pem)])).is_ok());
        let twice = check_peers(&org(vec![peer("A:1", b""), peer("a:1", pem)])).unwrap_err();
        assert!(twice.to_string().contains("Org2") && twice.to_string().contains("twice"));
        let not_pem = check_peers(&org(vec![peer("a:1", b"junk")])).unwrap_err().to_string();
        assert!(not_pem.contains("no PEM certificate"), "{not_pem}");
        let huge = check_peers(&org(vec![peer("a:1", &vec![b'x'; MAX_TLS_CA_BYTES + 1])]));
        assert!(huge.unwrap_err().to_string().contains("at most"));
        let malformed = check_peers(&org(vec![peer("a", b"")])).unwrap_err().to_string();
        assert!(malformed.contains("Org2") && malformed.contains("no port"), "{malformed}");
        let many = (0..=MAX_PEERS).map(|i| peer(&format!("p{i}:1"), b"")).collect();
        assert!(check_peers(&org(many)).unwrap_err().to_string().contains("at most 64"));
    }
}
