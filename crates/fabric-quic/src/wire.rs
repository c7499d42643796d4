//! Framing on the wire.
//!
//! Every unidirectional stream starts with a header naming the class, the
//! origin (empty when the sender is the origin) and the remaining path (node
//! ids still to traverse; empty when this hop is the destination). Messages
//! follow as `u32` big-endian length + bytes. Datagrams carry the same header
//! followed by one payload. A relay pops the first path element, fills the
//! origin if empty and forwards the rest of the stream untouched.

use crate::class::Class;
use bytes::{BufMut, Bytes, BytesMut};

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
    fn bad_headers_are_refused() {
        assert_eq!(Header::decode(&[]).unwrap_err(), "short header");
        assert_eq!(Header::decode(&[9, 1, 0, 0]).unwrap_err(), "unknown wire version");
        assert_eq!(Header::decode(&[1, 99, 0, 0]).unwrap_err(), "unknown class");
        assert_eq!(Header::decode(&[1, 1, 5, b'a']).unwrap_err(), "short header");
        assert_eq!(Header::decode(&[1, 1, 0, 200]).unwrap_err(), "path too long");
    }
}
