//! The IP header fields the data path looks at: version, source and
//! destination. Anything shorter than its header, or not IPv4/IPv6, is not
//! a packet (`None`) and is dropped by the caller.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub source: IpAddr,
    pub destination: IpAddr,
}

pub fn addresses(packet: &[u8]) -> Option<Addresses> {
    match packet.first()? >> 4 {
        4 if packet.len() >= 20 => {
            let at = |i: usize| -> Option<Ipv4Addr> { Some(Ipv4Addr::from(<[u8; 4]>::try_from(packet.get(i..i + 4)?).ok()?)) };
            Some(Addresses { source: at(12)?.into(), destination: at(16)?.into() })
        }
        6 if packet.len() >= 40 => {
            let at = |i: usize| -> Option<Ipv6Addr> { Some(Ipv6Addr::from(<[u8; 16]>::try_from(packet.get(i..i + 16)?).ok()?)) };
            Some(Addresses { source: at(8)?.into(), destination: at(24)?.into() })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_ipv6_headers_give_their_addresses_and_junk_gives_none() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[12..16].copy_from_slice(&[100, 64, 0, 2]);
        v4[16..20].copy_from_slice(&[10, 77, 0, 1]);
        let a = addresses(&v4).unwrap();
        assert_eq!(a.source, "100.64.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(a.destination, "10.77.0.1".parse::<IpAddr>().unwrap());
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[23] = 1;
        v6[39] = 2;
        let a = addresses(&v6).unwrap();
        assert_eq!(a.source, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(a.destination, "::2".parse::<IpAddr>().unwrap());
        assert_eq!(addresses(&v4[..19]), None, "short");
        assert_eq!(addresses(&[]), None);
        assert_eq!(addresses(&[0x20; 40]), None, "not IP");
    }
}
