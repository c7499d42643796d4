//! Framing on the wire.
//!
//! Every unidirectional stream starts with a header naming the class, the
//! origin (empty when the sender is the origin) and the remaining path (node
//! ids still to traverse; empty when this hop is the destination). Messages
//! follow as `u32` big-endian length + bytes. Datagrams carry the same header
//! followed by one payload. A relay pops the first path element, fills the
//! origin if empty and forwards the rest of the stream untouched.

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
        out.put_u8(self.class as u8);
        put_id(&mut out, &self.origin);
        out.put_u8(self.path.len() as u8);
        for hop in &self.path {
            put_id(&mut out, hop);
        }
        out.freeze()
    }

    /// Decodes a header from the front of `buf`; returns it and its length.
    pub fn decode(buf: &[u8]) -> Result<(Header, usize), &'static str> {
        let mut at = 0;
        let version = *buf.get(at).ok_or("short header")?;
        if version != VERSION {
            return Err("unknown wire version");
        }
        let class = Class::from_wire(*buf.get(at + 1).ok_or("short header")?).ok_or("unknown class")?;
        at += 2;
        let origin = take_id(buf, &mut at)?;
        let hops = *buf.get(at).ok_or("short header")? as usize;
        at += 1;
        if hops > MAX_HOPS {
            return Err("path too long");
        }
        let mut path = Vec::with_capacity(hops);
        for _ in 0..hops {
            path.push(take_id(buf, &mut at)?);
        }
        Ok((Header { class, origin, path }, at))
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
    }
}
