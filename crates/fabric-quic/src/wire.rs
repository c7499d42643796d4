//! Framing on the wire.
//!
//! Every unidirectional stream starts with a header naming the class, the
//! origin (empty when the sender is the origin) and the remaining path (node
//! ids still to traverse; empty when this hop is the destination). Messages
//! follow as `u32` big-endian length + bytes. Datagrams carry the same header
//! followed by one payload. A relay pops the first path element, fills the
//! origin if empty and forwards the rest of the stream untouched.
//!
//! A session stream (a bidirectional stream carrying one remote session's
//! channel bytes, see `session`) starts with a `SessionHeader` instead: its
//! own first byte (`SESSION_KIND`, never a class header's `VERSION`), the
//! session and attachment ids, then the same class, origin and path. After
//! it the bytes are the caller's and nobody here parses them. When such a
//! stream is refused or given up, the QUIC error code on it is a
//! `StreamReason`.

use crate::class::Class;
use bytes::{Buf, BufMut, Bytes, BytesMut};

pub const VERSION: u8 = 1;
/// Largest message accepted on a stream; bigger frames close the stream.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;
const MAX_ID: usize = 64;
const MAX_HOPS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub class: Class,
    pub origin: String,
    pub path: Vec<String>,
}

impl Header {
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(8 + 40 * (self.path.len() + 1));
        out.put_u8(VERSION);
        self.put_route(&mut out);
        out.freeze()
    }

    /// Decodes a header from the front of `buf`; returns it and its length.
    pub fn decode(buf: &[u8]) -> Result<(Header, usize), &'static str> {
        let version = *buf.first().ok_or("short header")?;
        if version != VERSION {
            return Err("unknown wire version");
        }
        let mut at = 1;
        let header = Header::take_route(buf, &mut at)?;
        Ok((header, at))
    }

    /// Class, origin and path: what both header kinds carry after their first byte.
    fn put_route(&self, out: &mut BytesMut) {
        out.put_u8(self.class as u8);
        put_id(out, &self.origin);
        out.put_u8(self.path.len() as u8);
        for hop in &self.path {
            put_id(out, hop);
        }
    }

    fn take_route(buf: &[u8], at: &mut usize) -> Result<Header, &'static str> {
        let class = Class::from_wire(*buf.get(*at).ok_or("short header")?).ok_or("unknown class")?;
        *at += 1;
        let origin = take_id(buf, at)?;
        let hops = *buf.get(*at).ok_or("short header")? as usize;
        *at += 1;
        if hops > MAX_HOPS {
            return Err("path too long");
        }
        let mut path = Vec::with_capacity(hops);
        for _ in 0..hops {
            path.push(take_id(buf, at)?);
        }
        Ok(Header { class, origin, path })
    }

    /// The header the next hop sees.
    pub fn forwarded(&self, previous_hop: &str) -> Header {
        Header {
            class: self.class,
            origin: if self.origin.is_empty() { previous_hop.to_string() } else { self.origin.clone() },
            path: self.path[1..].to_vec(),
        }
    }
}

/// First byte of a session stream's header.
pub const SESSION_KIND: u8 = 2;
/// Session and attachment ids: 16 bytes each (UUIDs).
pub type SessionId = [u8; 16];

/// The header of a session stream: which session and attachment its bytes
/// belong to, and the route (class, origin, remaining path) relays follow
/// exactly as they do for class streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionHeader {
    pub route: Header,
    pub session_id: SessionId,
    pub attachment_id: SessionId,
}

impl SessionHeader {
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(40 + 40 * (self.route.path.len() + 1));
        out.put_u8(SESSION_KIND);
        out.put_slice(&self.session_id);
        out.put_slice(&self.attachment_id);
        self.route.put_route(&mut out);
        out.freeze()
    }

    /// Decodes a session header from the front of `buf`; returns it and its length.
    pub fn decode(buf: &[u8]) -> Result<(SessionHeader, usize), &'static str> {
        let kind = *buf.first().ok_or("short header")?;
        if kind != SESSION_KIND {
            return Err("not a session stream header");
        }
        let ids = buf.get(1..33).ok_or("short header")?;
        let (session, attachment) = ids.split_at(16);
        let mut at = 33;
        let route = Header::take_route(buf, &mut at)?;
        let (mut session_id, mut attachment_id) = ([0u8; 16], [0u8; 16]);
        session_id.copy_from_slice(session);
        attachment_id.copy_from_slice(attachment);
        Ok((SessionHeader { route, session_id, attachment_id }, at))
    }

    /// The header the next hop sees.
    pub fn forwarded(&self, previous_hop: &str) -> SessionHeader {
        SessionHeader { route: self.route.forwarded(previous_hop), ..self.clone() }
    }
}

/// Longest session header a reader must buffer before it can decode one.
pub const MAX_SESSION_HEADER: usize = 32 + MAX_HEADER;

/// Why a session stream was refused or given up: the QUIC application error
/// code a reset or stop carries, so the far end (through any relays, which
/// pass codes on unchanged) learns the reason. 1–3 are also what class
/// streams are stopped with (`inbound`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum StreamReason {
    /// The other end stopped reading or dropped its half (quinn's default code).
    Closed = 0,
    Protocol = 1,
    PolicyDenied = 2,
    NetworkUnreachable = 3,
    ChannelClassDenied = 4,
    RelayLeaseMissing = 5,
    SessionNotServed = 6,
    EntryNotAllowed = 7,
    /// The adapter stopped serving the session.
    SessionEnded = 8,
    /// The adapter's application is not accepting streams fast enough.
    SessionBacklogFull = 9,
    /// A VPN dial stream (`vpn_dial`) reached a node that is not the connection's owner under that epoch (fenced, moved on, never attached).
    VpnNotOwner = 10,
    /// The connection's policy does not let that service reach that target (service not allowed, target outside the allowed or inside the denied ranges).
    VpnDenied = 11,
    /// The owner could not open TCP to the target (refused, unreachable, timed out, name not resolved).
    VpnDialFailed = 12,
}

const STREAM_REASONS: [StreamReason; 13] = [
    StreamReason::Closed,
    StreamReason::Protocol,
    StreamReason::PolicyDenied,
    StreamReason::NetworkUnreachable,
    StreamReason::ChannelClassDenied,
    StreamReason::RelayLeaseMissing,
    StreamReason::SessionNotServed,
    StreamReason::EntryNotAllowed,
    StreamReason::SessionEnded,
    StreamReason::SessionBacklogFull,
    StreamReason::VpnNotOwner,
    StreamReason::VpnDenied,
    StreamReason::VpnDialFailed,
];

impl StreamReason {
    pub fn name(self) -> &'static str {
        match self {
            StreamReason::Closed => "stream_closed",
            StreamReason::Protocol => "protocol_error",
            StreamReason::PolicyDenied => "policy_denied",
            StreamReason::NetworkUnreachable => "network_unreachable",
            StreamReason::ChannelClassDenied => "channel_class_denied",
            StreamReason::RelayLeaseMissing => "relay_lease_missing",
            StreamReason::SessionNotServed => "session_not_served",
            StreamReason::EntryNotAllowed => "entry_not_allowed",
            StreamReason::SessionEnded => "session_ended",
            StreamReason::SessionBacklogFull => "session_backlog_full",
            StreamReason::VpnNotOwner => "vpn_not_owner",
            StreamReason::VpnDenied => "vpn_denied",
            StreamReason::VpnDialFailed => "vpn_dial_failed",
        }
    }

    pub fn code(self) -> u32 {
        self as u32
    }

    /// An unknown code (a newer peer's) reads as a protocol error.
    pub fn from_code(code: u64) -> StreamReason {
        STREAM_REASONS.iter().copied().find(|r| u64::from(r.code()) == code).unwrap_or(StreamReason::Protocol)
    }

    /// The reason named `name` (a relay's refusal reason); anything else is a policy denial.
    pub fn from_name(name: &str) -> StreamReason {
        STREAM_REASONS.iter().copied().find(|r| r.name() == name).unwrap_or(StreamReason::PolicyDenied)
    }
}

fn put_id(out: &mut BytesMut, id: &str) {
    out.put_u8(id.len() as u8);
    out.put_slice(id.as_bytes());
}

fn take_id(buf: &[u8], at: &mut usize) -> Result<String, &'static str> {
    let len = *buf.get(*at).ok_or("short header")? as usize;
    if len > MAX_ID {
        return Err("node id too long");
    }
    let bytes = buf.get(*at + 1..*at + 1 + len).ok_or("short header")?;
    *at += 1 + len;
    String::from_utf8(bytes.to_vec()).map_err(|_| "node id is not UTF-8")
}

/// The `u32` big-endian length that goes before each message on a stream.
pub fn length_prefix(len: usize) -> [u8; 4] {
    (len as u32).to_be_bytes()
}

/// What the front of a stream's buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole message, taken off the buffer.
    Message(Bytes),
    /// Not all there yet; room for the rest has been reserved.
    Incomplete,
    /// Its length is over `MAX_MESSAGE`: the stream is broken.
    TooLarge,
}

/// Takes the next length-prefixed message off the front of `buf`.
pub fn next_message(buf: &mut BytesMut) -> Frame {
    let Some(&[a, b, c, d]) = buf.get(..4) else { return Frame::Incomplete };
    let len = u32::from_be_bytes([a, b, c, d]) as usize;
    if len > MAX_MESSAGE {
        return Frame::TooLarge;
    }
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Frame::Incomplete;
    }
    buf.advance(4);
    Frame::Message(buf.split_to(len).freeze())
}

/// Longest header a reader must buffer before it can decode one.
pub const MAX_HEADER: usize = 3 + (1 + MAX_ID) * (1 + MAX_HOPS);

pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_forward() {
        let h = Header { class: Class::Input, origin: String::new(), path: vec!["r2".into(), "c".into()] };
        let bytes = h.encode();
        let (back, used) = Header::decode(&bytes).unwrap();
        assert_eq!(back, h);
        assert_eq!(used, bytes.len());
        let next = back.forwarded("a");
        assert_eq!(next.origin, "a");
        assert_eq!(next.path, vec!["c".to_string()]);
        assert_eq!(next.forwarded("r2").origin, "a");
    }

    #[test]
    fn messages_come_off_a_stream_buffer_whole_whatever_the_read_boundaries() {
        let mut wire = BytesMut::new();
        for message in [&b"first"[..], b"", b"third message"] {
            wire.put_slice(&length_prefix(message.len()));
            wire.put_slice(message);
        }
        let wire = wire.freeze();
        // Feed the bytes in reads of every size from 1 to all at once.
        for chunk in 1..=wire.len() {
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                buf.put_slice(piece);
                while let Frame::Message(m) = next_message(&mut buf) {
                    got.push(m);
                }
            }
            assert_eq!(got, [&b"first"[..], b"", b"third message"], "reads of {chunk} bytes");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn a_partial_message_reserves_room_and_an_oversized_one_is_refused() {
        let mut buf = BytesMut::new();
        buf.put_slice(&length_prefix(100_000));
        buf.put_slice(b"abc");
        assert_eq!(next_message(&mut buf), Frame::Incomplete);
        assert!(buf.capacity() >= 4 + 100_000);
        assert_eq!(buf.len(), 7, "nothing is consumed until the message is whole");
        let mut huge = BytesMut::from(&length_prefix(MAX_MESSAGE + 1)[..]);
        assert_eq!(next_message(&mut huge), Frame::TooLarge);
        let mut short = BytesMut::from(&[0u8, 0][..]);
        assert_eq!(next_message(&mut short), Frame::Incomplete);
    }

    #[test]
    fn bad_headers_are_refused() {
        assert_eq!(Header::decode(&[]).unwrap_err(), "short header");
        assert_eq!(Header::decode(&[9, 1, 0, 0]).unwrap_err(), "unknown wire version");
        assert_eq!(Header::decode(&[1, 99, 0, 0]).unwrap_err(), "unknown class");
        assert_eq!(Header::decode(&[1, 1, 5, b'a']).unwrap_err(), "short header");
        assert_eq!(Header::decode(&[1, 1, 0, 200]).unwrap_err(), "path too long");
        assert_eq!(Header::decode(&[SESSION_KIND, 1, 0, 0]).unwrap_err(), "unknown wire version", "a session header is not a class header");
    }

    fn session_header(path: &[&str]) -> SessionHeader {
        SessionHeader {
            route: Header { class: Class::Render, origin: String::new(), path: path.iter().map(|s| s.to_string()).collect() },
            session_id: [7; 16],
            attachment_id: [9; 16],
        }
    }

    #[test]
    fn session_headers_round_trip_and_forward_keeping_their_ids() {
        let h = session_header(&["r", "c"]);
        let bytes = h.encode();
        assert_eq!(bytes[0], SESSION_KIND);
        let (back, used) = SessionHeader::decode(&bytes).unwrap();
        assert_eq!((back.clone(), used), (h, bytes.len()));
        let next = back.forwarded("a");
        assert_eq!((next.route.origin.as_str(), next.route.path.clone()), ("a", vec!["c".to_string()]));
        assert_eq!((next.session_id, next.attachment_id), ([7; 16], [9; 16]));
        assert!(bytes.len() <= MAX_SESSION_HEADER);
    }

    #[test]
    fn bad_session_headers_are_refused_and_a_truncated_one_asks_for_more() {
        let bytes = session_header(&["c"]).encode();
        for cut in 0..bytes.len() {
            assert_eq!(SessionHeader::decode(&bytes[..cut]).unwrap_err(), "short header", "{cut} bytes");
        }
        let class_header = Header { class: Class::Input, origin: String::new(), path: vec![] }.encode();
        assert_eq!(SessionHeader::decode(&class_header).unwrap_err(), "not a session stream header");
        let mut unknown_class = bytes.to_vec();
        unknown_class[33] = 99;
        assert_eq!(SessionHeader::decode(&unknown_class).unwrap_err(), "unknown class");
        let mut long_path = bytes.to_vec();
        long_path[35] = 200;
        assert_eq!(SessionHeader::decode(&long_path).unwrap_err(), "path too long");
    }

    #[test]
    fn stream_reasons_round_trip_through_their_codes_and_names() {
        for reason in STREAM_REASONS {
            assert_eq!(StreamReason::from_code(reason.code().into()), reason);
            assert_eq!(StreamReason::from_name(reason.name()), reason);
        }
        assert_eq!(StreamReason::from_code(1 << 40), StreamReason::Protocol);
        assert_eq!(StreamReason::from_name("something_new"), StreamReason::PolicyDenied);
        assert_eq!(StreamReason::NetworkUnreachable.code(), 3, "the same code class streams are stopped with");
    }
}
