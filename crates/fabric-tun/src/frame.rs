//! The payload of one `vpn_packet` datagram: which VPN connection the IP
//! packet belongs to and the fencing epoch its sender holds, then the
//! packet. The receiver checks the epoch before anything else
//! (`EpochGate::admits`), so a fenced owner's packets never reach a device.
//!
//! ```text
//! u8 version (1) | u8 id length | connection id (UTF-8) | u64 epoch (big endian) | IP packet
//! ```

pub const VERSION: u8 = 1;
pub const MAX_CONNECTION_ID: usize = 64;

#[derive(Debug, PartialEq, Eq)]
pub struct VpnFrame<'a> {
    pub connection: &'a str,
    pub epoch: u64,
    pub packet: &'a [u8],
}

/// Bytes a frame adds in front of the packet for this connection id.
pub fn overhead(connection: &str) -> usize {
    2 + connection.len() + 8
}

/// The frame header for `connection` at `epoch`; the packet follows it.
/// `None` when the id is empty or longer than `MAX_CONNECTION_ID` bytes.
pub fn header(connection: &str, epoch: u64) -> Option<Vec<u8>> {
    let id = connection.as_bytes();
    if id.is_empty() || id.len() > MAX_CONNECTION_ID {
        return None;
    }
    let mut out = Vec::with_capacity(overhead(connection));
    out.push(VERSION);
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out.extend_from_slice(&epoch.to_be_bytes());
    Some(out)
}

impl<'a> VpnFrame<'a> {
    /// `None` for anything that is not a version-1 frame with a packet.
    pub fn decode(bytes: &'a [u8]) -> Option<VpnFrame<'a>> {
        let (&version, rest) = bytes.split_first()?;
        let (&len, rest) = rest.split_first()?;
        if version != VERSION || len == 0 || usize::from(len) > MAX_CONNECTION_ID {
            return None;
        }
        let connection = std::str::from_utf8(rest.get(..usize::from(len))?).ok()?;
        let rest = rest.get(usize::from(len)..)?;
        let epoch = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
        let packet = rest.get(8..).filter(|p| !p.is_empty())?;
        Some(VpnFrame { connection, epoch, packet })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_and_every_truncation_is_refused() {
        let mut bytes = header("vpn_01", 42).unwrap();
        assert_eq!(bytes.len(), overhead("vpn_01"));
        bytes.extend_from_slice(&[0x45, 1, 2, 3]);
        assert_eq!(VpnFrame::decode(&bytes), Some(VpnFrame { connection: "vpn_01", epoch: 42, packet: &[0x45, 1, 2, 3] }));
        for cut in 0..overhead("vpn_01") + 1 {
            assert_eq!(VpnFrame::decode(&bytes[..cut]), None, "{cut} bytes");
        }
    }

    #[test]
    fn bad_versions_ids_and_lengths_are_refused() {
        assert_eq!(header("", 1), None);
        assert_eq!(header(&"x".repeat(65), 1), None);
        assert!(header(&"x".repeat(64), 1).is_some());
        let mut bytes = header("c", 1).unwrap();
        bytes.push(0x45);
        let mut wrong_version = bytes.clone();
        wrong_version[0] = 2;
        assert_eq!(VpnFrame::decode(&wrong_version), None);
        let mut long = bytes.clone();
        long[1] = 200;
        assert_eq!(VpnFrame::decode(&long), None);
        let mut not_utf8 = bytes.clone();
        not_utf8[2] = 0xff;
        assert_eq!(VpnFrame::decode(&not_utf8), None);
    }
}
