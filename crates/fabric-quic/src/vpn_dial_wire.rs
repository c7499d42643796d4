//! The dial request an adapter node writes on a dial stream (`vpn_dial`) and
//! the owner's one-byte answer; a leaf, so the owner's side (`vpn_dial_owner`)
//! and the adapter's (`vpn_dial`) share it without depending on each other.

use crate::error::FabricError;
use bytes::{Buf, BufMut};
use std::time::Duration;

pub(crate) const DIAL_VERSION: u8 = 1;
/// The owner's answer once TCP to the target is open; anything else is a reset with a reason.
pub(crate) const CONNECTED: u8 = 0;
/// How long the opener has to send the whole request.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the owner tries to resolve the target and open TCP to it.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the adapter waits for the owner's answer (the owner's own timeouts, plus the path).
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(25);
const MAX_HOST: usize = 253;
const MAX_FIELD: usize = 64;

/// What the adapter asks the owner to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialRequest {
    pub connection_id: String,
    pub epoch: u64,
    /// `ssh` or `rdp`: the routing policy's `services` decide.
    pub service: String,
    /// The session's resource: the routing policy's `resource_ids`, when it lists any, decide.
    pub resource_id: String,
    pub host: String,
    pub port: u16,
}

impl DialRequest {
    pub fn encode(&self) -> Result<Vec<u8>, FabricError> {
        let invalid = |m: String| Err(FabricError::ConfigInvalid(m));
        if [&self.connection_id, &self.service, &self.resource_id].iter().any(|f| !(1..=MAX_FIELD).contains(&f.len())) {
            return invalid("a dial needs a connection id, a service and a resource id of 1 to 64 bytes".into());
        }
        if !(1..=MAX_HOST).contains(&self.host.len()) || self.port == 0 || self.epoch == 0 {
            return invalid(format!("a dial needs a host of 1 to {MAX_HOST} bytes, a port and an epoch"));
        }
        let mut out = Vec::with_capacity(16 + self.connection_id.len() + self.service.len() + self.host.len());
        out.put_u8(DIAL_VERSION);
        for field in [&self.connection_id, &self.service, &self.resource_id, &self.host] {
            out.put_u8(field.len() as u8);
            out.put_slice(field.as_bytes());
        }
        out.put_u64(self.epoch);
        out.put_u16(self.port);
        Ok(out)
    }

    /// A request from the front of `buf`: `Ok(None)` while it is not all there.
    pub fn decode(buf: &[u8]) -> Result<Option<(DialRequest, usize)>, &'static str> {
        let mut at = 0;
        let Some(&version) = buf.first() else { return Ok(None) };
        if version != DIAL_VERSION {
            return Err("unknown dial version");
        }
        at += 1;
        let mut fields = Vec::with_capacity(3);
        for max in [MAX_FIELD, MAX_FIELD, MAX_FIELD, MAX_HOST] {
            let Some(&len) = buf.get(at) else { return Ok(None) };
            let len = len as usize;
            if len == 0 || len > max {
                return Err("dial field length out of range");
            }
            let Some(bytes) = buf.get(at + 1..at + 1 + len) else { return Ok(None) };
            fields.push(std::str::from_utf8(bytes).map_err(|_| "dial field is not UTF-8")?.to_string());
            at += 1 + len;
        }
        let Some(mut tail) = buf.get(at..at + 10) else { return Ok(None) };
        let (epoch, port) = (tail.get_u64(), tail.get_u16());
        if epoch == 0 || port == 0 {
            return Err("dial epoch and port must not be 0");
        }
        let [connection_id, service, resource_id, host] = <[String; 4]>::try_from(fields).map_err(|_| "dial fields")?;
        Ok(Some((DialRequest { connection_id, epoch, service, resource_id, host, port }, at + 10)))
    }
}

/// The longest request a reader buffers before it gives up.
pub(crate) const MAX_REQUEST: usize = 1 + 4 + 3 * MAX_FIELD + MAX_HOST + 10;

pub(crate) fn ended(error: &std::io::Error, fallback: &str) -> FabricError {
    FabricError::in_io(error).cloned().unwrap_or_else(|| FabricError::NetworkUnreachable(format!("{fallback}: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> DialRequest {
        DialRequest {
            connection_id: "c-1".into(),
            epoch: 7,
            service: "ssh".into(),
            resource_id: "r-1".into(),
            host: "10.77.0.10".into(),
            port: 22,
        }
    }

    #[test]
    fn requests_round_trip_and_a_truncated_one_asks_for_more() {
        let bytes = request().encode().unwrap();
        assert_eq!(DialRequest::decode(&bytes).unwrap(), Some((request(), bytes.len())));
        for cut in 0..bytes.len() {
            assert_eq!(DialRequest::decode(&bytes[..cut]).unwrap(), None, "{cut} bytes");
        }
        assert!(bytes.len() <= MAX_REQUEST);
    }

    #[test]
    fn bad_requests_are_refused_on_both_sides() {
        for bad in [
            DialRequest { epoch: 0, ..request() },
            DialRequest { port: 0, ..request() },
            DialRequest { host: String::new(), ..request() },
            DialRequest { host: "h".repeat(254), ..request() },
            DialRequest { connection_id: "c".repeat(65), ..request() },
            DialRequest { service: String::new(), ..request() },
            DialRequest { resource_id: "r".repeat(65), ..request() },
        ] {
            assert_eq!(bad.encode().unwrap_err().code(), "config_invalid", "{bad:?}");
        }
        let good = request().encode().unwrap();
        let mut version = good.clone();
        version[0] = 9;
        assert_eq!(DialRequest::decode(&version).unwrap_err(), "unknown dial version");
        let mut empty_field = good.clone();
        empty_field[1] = 0;
        assert_eq!(DialRequest::decode(&empty_field).unwrap_err(), "dial field length out of range");
        let mut zero_port = good.clone();
        let n = zero_port.len();
        zero_port[n - 2..].copy_from_slice(&[0, 0]);
        assert_eq!(DialRequest::decode(&zero_port).unwrap_err(), "dial epoch and port must not be 0");
        let mut not_utf8 = good;
        not_utf8[2] = 0xff;
        assert_eq!(DialRequest::decode(&not_utf8).unwrap_err(), "dial field is not UTF-8");
    }
}
