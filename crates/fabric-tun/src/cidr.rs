//! CIDR blocks and the egress filter. The filter is what the spec calls
//! CIDR allow/deny "enforced at egress, not only at the client": every
//! packet the egress writes into its TUN device is checked here first.

use crate::error::TunError;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `a.b.c.d/n` or `x::y/n`; a bare address is a host route. Host bits
    /// set below the prefix are refused (they usually mean a typo).
    pub fn parse(text: &str) -> Result<Cidr, TunError> {
        let invalid = || TunError::ConfigInvalid(format!("not a CIDR block: {text:?}"));
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr.trim().parse().map_err(|_| invalid())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(invalid)?,
            None => max,
        };
        let cidr = Cidr { network, prefix };
        if cidr.masked(network) != network {
            return Err(TunError::ConfigInvalid(format!("{text:?} has host bits set below /{prefix}")));
        }
        Ok(cidr)
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(ip) == self.network
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Parses every entry; one bad entry fails the whole list (nothing half-applied).
pub fn parse_list(items: &[String]) -> Result<Vec<Cidr>, TunError> {
    items.iter().map(|s| Cidr::parse(s)).collect()
}

/// Which destinations may leave through this node: in `allow` (everything
/// when `allow` is empty) and in no `deny` block. Deny wins, so an operator
/// can carve a block out of an allowed range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidrFilter {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
}

impl CidrFilter {
    pub fn new(allow: Vec<Cidr>, deny: Vec<Cidr>) -> CidrFilter {
        CidrFilter { allow, deny }
    }

    pub fn permits(&self, destination: IpAddr) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|c| c.contains(destination))) && !self.deny.iter().any(|c| c.contains(destination))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_contain_their_addresses_only() {
        let c = Cidr::parse("10.77.0.0/16").unwrap();
        assert!(c.contains(ip("10.77.9.1")));
        assert!(!c.contains(ip("10.78.0.1")));
        assert!(!c.contains(ip("::1")), "an IPv4 block never holds an IPv6 address");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("203.0.113.9")));
        assert_eq!(Cidr::parse("10.0.0.1").unwrap().prefix(), 32);
        assert!(Cidr::parse("fd00::/8").unwrap().contains(ip("fd12::5")));
        assert_eq!(Cidr::parse(" 10.1.0.0 / 16 ").unwrap().to_string(), "10.1.0.0/16");
    }

    #[test]
    fn bad_blocks_are_refused_with_config_invalid() {
        for bad in ["10.0.0.0/33", "10.0.0.1/24", "nope", "10.0.0.0/x", "", "::/129"] {
            let e = Cidr::parse(bad).unwrap_err();
            assert!(e.to_string().starts_with("config_invalid: "), "{bad}: {e}");
        }
        assert!(parse_list(&["10.0.0.0/8".into(), "bad".into()]).is_err(), "one bad entry fails the list");
    }

    #[test]
    fn the_filter_allows_its_blocks_and_deny_wins() {
        let f = CidrFilter::new(vec![Cidr::parse("10.77.0.0/16").unwrap()], vec![Cidr::parse("10.77.9.0/24").unwrap()]);
        assert!(f.permits(ip("10.77.0.1")));
        assert!(!f.permits(ip("10.77.9.1")), "carved out");
        assert!(!f.permits(ip("192.168.1.1")), "not allowed");
        assert!(CidrFilter::default().permits(ip("192.168.1.1")), "no allow list: everything");
        let deny_only = CidrFilter::new(vec![], vec![Cidr::parse("169.254.0.0/16").unwrap()]);
        assert!(!deny_only.permits(ip("169.254.169.254")));
    }
}
