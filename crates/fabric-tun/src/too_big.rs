//! "Packet too big" answers, so a packet larger than the mesh path carries
//! shrinks its flow instead of vanishing.
//!
//! The pump sends each IP packet as one QUIC datagram and never fragments.
//! When a packet read from the device is larger than the datagram the path
//! to its peer carries now, the pump drops it and writes this answer back
//! into the device, as a router on the way would: ICMPv4 "fragmentation
//! needed" (type 3, code 4) for an IPv4 packet with Don't Fragment set,
//! ICMPv6 "packet too big" (type 2) for IPv6. The sender's kernel then
//! lowers its path MTU for that destination and TCP sends smaller segments,
//! so a TUN MTU above what one peer's path carries costs one round trip per
//! destination, not a black hole. IPv4 without Don't Fragment gets nothing
//! (the caller counts the drop): the sender did not ask to be told.
//!
//! The answer comes from the packet's destination address (the one the
//! sender tried to reach, which routes back through this device, so reverse
//! path filtering accepts it) and quotes the start of the packet, as much
//! as RFC 1812 (IPv4, 576 bytes in all) and RFC 4443 (IPv6, 1280) allow;
//! the kernel needs the quoted transport header to find the flow.

/// The smallest MTU an ICMPv6 "packet too big" may report (RFC 8200 §5).
const IPV6_MIN_MTU: u32 = 1280;
/// The smallest MTU worth reporting for IPv4 (RFC 791's 68 is legal, but
/// Linux ignores reports below its `min_pmtu`, 552).
const IPV4_MIN_MTU: u32 = 552;
const IPV4_ANSWER_MAX: usize = 576;
const IPV6_ANSWER_MAX: usize = 1280;

/// The answer to `packet` for a path that carries at most `mtu` bytes of IP
/// packet, or `None` when there is none to give (not IP, a fragment-allowed
/// IPv4 packet, an ICMP error itself, or too short to quote).
pub fn answer(packet: &[u8], mtu: u32) -> Option<Vec<u8>> {
    match packet.first()? >> 4 {
        4 => ipv4(packet, mtu),
        6 => ipv6(packet, mtu),
        _ => None,
    }
}

fn ipv4(packet: &[u8], mtu: u32) -> Option<Vec<u8>> {
    let header_len = usize::from(packet.first()? & 0x0f) * 4;
    if header_len < 20 || packet.len() < header_len + 8 {
        return None;
    }
    let dont_fragment = packet[6] & 0x40 != 0;
    let icmp_error = packet[9] == 1 && !matches!(packet.get(header_len), Some(0 | 8));
    if !dont_fragment || icmp_error {
        return None;
    }
    let quoted = &packet[..packet.len().min(IPV4_ANSWER_MAX - 28)];
    let total = 28 + quoted.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0]);
    out[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    out.extend_from_slice(&packet[16..20]); // from: where the packet was going
    out.extend_from_slice(&packet[12..16]); // to: its sender
    let header_sum = checksum(&[&out[..20]]);
    out[10..12].copy_from_slice(&header_sum.to_be_bytes());
    let next_hop_mtu = mtu.clamp(IPV4_MIN_MTU, u32::from(u16::MAX)) as u16;
    out.extend_from_slice(&[3, 4, 0, 0, 0, 0]);
    out.extend_from_slice(&next_hop_mtu.to_be_bytes());
    out.extend_from_slice(quoted);
    let icmp_sum = checksum(&[&out[20..]]);
    out[22..24].copy_from_slice(&icmp_sum.to_be_bytes());
    Some(out)
}

fn ipv6(packet: &[u8], mtu: u32) -> Option<Vec<u8>> {
    if packet.len() < 48 {
        return None;
    }
    let icmp_error = packet[6] == 58 && packet[40] < 128;
    if icmp_error {
        return None;
    }
    let quoted = &packet[..packet.len().min(IPV6_ANSWER_MAX - 48)];
    let payload_len = 8 + quoted.len();
    let mut out = Vec::with_capacity(40 + payload_len);
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(payload_len as u16).to_be_bytes());
    out.extend_from_slice(&[58, 64]);
    out.extend_from_slice(&packet[24..40]); // from: where the packet was going
    out.extend_from_slice(&packet[8..24]); // to: its sender
    out.extend_from_slice(&[2, 0, 0, 0]);
    out.extend_from_slice(&mtu.max(IPV6_MIN_MTU).to_be_bytes());
    out.extend_from_slice(quoted);
    let pseudo = [&(payload_len as u32).to_be_bytes()[..], &[0, 0, 0, 58]].concat();
    let icmp_sum = checksum(&[&out[8..40], &pseudo, &out[40..]]);
    out[42..44].copy_from_slice(&icmp_sum.to_be_bytes());
    Some(out)
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`
/// (each of even length except possibly the last).
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut words = part.chunks_exact(2);
        for w in &mut words {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = words.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 TCP packet of `len` bytes from 100.64.0.2 to 10.77.0.1.
    fn tcp4(len: usize, dont_fragment: bool) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[6] = if dont_fragment { 0x40 } else { 0 };
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[100, 64, 0, 2]);
        p[16..20].copy_from_slice(&[10, 77, 0, 1]);
        p[20..24].copy_from_slice(&[0xc3, 0x50, 0x00, 0x16]); // ports 50000 → 22
        p[24..28].copy_from_slice(&[1, 2, 3, 4]); // sequence number
        p
    }

    fn tcp6(len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
        p[6] = 6;
        p[7] = 64;
        p[23] = 2; // from ::2
        p[39] = 1; // to ::1
        p
    }

    #[test]
    fn ipv4_with_dont_fragment_gets_fragmentation_needed_from_its_destination_with_valid_checksums() {
        let packet = tcp4(3000, true);
        let a = answer(&packet, 1400).expect("an answer");
        assert_eq!(a.len(), 576, "RFC 1812: as much of the packet as fits in 576 bytes");
        assert_eq!(u16::from_be_bytes([a[2], a[3]]) as usize, a.len(), "total length");
        assert_eq!((a[9], a[20], a[21]), (1, 3, 4), "ICMP, destination unreachable, fragmentation needed");
        assert_eq!(&a[12..16], &[10, 77, 0, 1], "from where the packet was going");
        assert_eq!(&a[16..20], &[100, 64, 0, 2], "to its sender");
        assert_eq!(u16::from_be_bytes([a[26], a[27]]), 1400, "next-hop MTU");
        assert_eq!(&a[28..56], &packet[..28], "quotes the header and the TCP ports and sequence");
        assert_eq!(checksum(&[&a[..20]]), 0, "IP header checksum verifies");
        assert_eq!(checksum(&[&a[20..]]), 0, "ICMP checksum verifies");
    }

    #[test]
    fn a_short_packet_is_quoted_whole_and_the_reported_mtu_is_never_below_what_linux_accepts() {
        let packet = tcp4(60, true);
        let a = answer(&packet, 100).expect("an answer");
        assert_eq!(a.len(), 28 + 60);
        assert_eq!(u16::from_be_bytes([a[26], a[27]]), 552);
        assert_eq!(checksum(&[&a[20..]]), 0);
    }

    #[test]
    fn ipv4_that_may_be_fragmented_icmp_errors_and_junk_get_no_answer() {
        assert!(answer(&tcp4(3000, false), 1400).is_none(), "no Don't Fragment: the sender did not ask");
        let mut icmp_error = tcp4(600, true);
        icmp_error[9] = 1;
        icmp_error[20] = 3;
        assert!(answer(&icmp_error, 1400).is_none(), "never answer an ICMP error with one");
        let mut echo = icmp_error.clone();
        echo[20] = 8;
        assert!(answer(&echo, 1400).is_some(), "an echo request (ping -M do) is answered");
        assert!(answer(&tcp4(3000, true)[..27], 1400).is_none(), "too short to quote the ports");
        assert!(answer(&[], 1400).is_none());
        assert!(answer(&[0x20; 100], 1400).is_none(), "not IP");
        let mut bad_ihl = tcp4(100, true);
        bad_ihl[0] = 0x42;
        assert!(answer(&bad_ihl, 1400).is_none(), "header length below 20");
    }

    #[test]
    fn ipv6_gets_packet_too_big_with_the_pseudo_header_checksum_and_at_least_1280() {
        let packet = tcp6(4000);
        let a = answer(&packet, 1400).expect("an answer");
        assert_eq!(a.len(), 1280, "RFC 4443: as much as fits in the minimum MTU");
        assert_eq!((a[6], a[40], a[41]), (58, 2, 0), "ICMPv6 packet too big");
        assert_eq!(&a[8..24], &packet[24..40], "from where the packet was going");
        assert_eq!(&a[24..40], &packet[8..24], "to its sender");
        assert_eq!(u32::from_be_bytes([a[44], a[45], a[46], a[47]]), 1400);
        let len = (a.len() - 40) as u32;
        let pseudo = [&len.to_be_bytes()[..], &[0, 0, 0, 58]].concat();
        assert_eq!(checksum(&[&a[8..40], &pseudo, &a[40..]]), 0, "checksum verifies");
        let small = answer(&packet, 1000).expect("an answer");
        assert_eq!(u32::from_be_bytes([small[44], small[45], small[46], small[47]]), 1280, "never below IPv6's minimum");
        let mut icmp_error = tcp6(2000);
        icmp_error[6] = 58;
        icmp_error[40] = 1;
        assert!(answer(&icmp_error, 1400).is_none());
    }
}
