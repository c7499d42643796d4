//! Receiving: each incoming stream or datagram either ends here (checked
//! against the channel authorization, then delivered) or names a next hop,
//! in which case a relay splices it onto the next connection without
//! looking at the messages inside. Session streams (bidirectional) are
//! `session_inbound`'s; it shares the checks here (`may_deliver`, `relay_next`).

use crate::class::{Class, BY_VALUE};
use crate::clock::unix_now;
use crate::event::{Delivery, Event};
use crate::shared::{Shared, State};
use crate::stats::add;
use crate::wire::{next_message, Frame, Header, MAX_HEADER};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use quinn::{Connection, RecvStream, VarInt};
use std::sync::atomic::Ordering;
use std::sync::Arc;

const STOP_PROTOCOL: u32 = 1;
const STOP_DENIED: u32 = 2;
const STOP_UNREACHABLE: u32 = 3;

pub(crate) async fn streams(shared: Arc<Shared>, conn: Connection, prev: String) {
    while let Ok(recv) = conn.accept_uni().await {
        tokio::spawn(stream(shared.clone(), prev.clone(), recv));
    }
}

async fn read_more(recv: &mut RecvStream, buf: &mut BytesMut) -> bool {
    match recv.read_chunk(usize::MAX, true).await {
        Ok(Some(chunk)) => {
            buf.put_slice(&chunk.bytes);
            true
        }
        _ => false,
    }
}

/// How far the start of an incoming stream has got.
#[derive(Debug, PartialEq, Eq)]
enum HeaderRead {
    /// The header, and how many bytes it took.
    Ready(Header, usize),
    NeedMore,
    /// Not a header of ours: the stream is stopped.
    Invalid,
}

fn read_header(buf: &[u8]) -> HeaderRead {
    match Header::decode(buf) {
        Ok((header, used)) => HeaderRead::Ready(header, used),
        Err("short header") if buf.len() < MAX_HEADER => HeaderRead::NeedMore,
        Err(_) => HeaderRead::Invalid,
    }
}

/// Authorization of one incoming stream, or of one class of datagrams from
/// the previous hop, rechecked whenever the policy epoch moves (not per
/// message: that would take the endpoint's state lock for each of hundreds of
/// thousands of datagrams a second). A refusal is reported on the first check
/// and each time the class goes from allowed to refused, not once per message.
struct AuthGate {
    checked_epoch: Option<u64>,
    allowed: bool,
}

impl AuthGate {
    fn new() -> AuthGate {
        AuthGate { checked_epoch: None, allowed: false }
    }

    /// Whether the next message may be delivered; `check(report)` decides,
    /// reporting a refusal when `report` is set.
    fn admit(&mut self, epoch: u64, check: impl FnOnce(bool) -> bool) -> bool {
        if self.checked_epoch != Some(epoch) {
            let report = self.allowed || self.checked_epoch.is_none();
            self.allowed = check(report);
            self.checked_epoch = Some(epoch);
        }
        self.allowed
    }
}

async fn stream(shared: Arc<Shared>, prev: String, mut recv: RecvStream) {
    let mut buf = BytesMut::with_capacity(64 << 10);
    let header = loop {
        match read_header(&buf) {
            HeaderRead::Ready(header, used) => {
                buf.advance(used);
                break header;
            }
            HeaderRead::NeedMore => {
                if !read_more(&mut recv, &mut buf).await {
                    return;
                }
            }
            HeaderRead::Invalid => {
                let _ = recv.stop(VarInt::from_u32(STOP_PROTOCOL));
                return;
            }
        }
    };
    if !header.path.is_empty() {
        return relay_stream(shared, prev, header, buf.freeze(), recv).await;
    }
    let (origin, via) = origin_of(&header, &prev);
    let class = header.class;
    // Messages that arrive while the class is not authorized are counted
    // and discarded, never delivered.
    let mut gate = AuthGate::new();
    loop {
        loop {
            let data = match next_message(&mut buf) {
                Frame::Message(data) => data,
                Frame::Incomplete => break,
                Frame::TooLarge => {
                    let _ = recv.stop(VarInt::from_u32(STOP_PROTOCOL));
                    return;
                }
            };
            let epoch = shared.policy_epoch.load(Ordering::Acquire);
            if !gate.admit(epoch, |report| authorized(&shared, &origin, via.as_deref(), class, report)) {
                add(&shared.counters.class(class).refused, 1);
                continue;
            }
            if !deliver(&shared, Delivery { from: origin.clone(), via: via.clone(), class, data }).await {
                return;
            }
        }
        if !read_more(&mut recv, &mut buf).await {
            return;
        }
    }
}

/// Who sent a message that ends here: the origin the header names (then
/// the previous hop was a relay), or the previous hop itself.
pub(crate) fn origin_of(header: &Header, prev: &str) -> (String, Option<String>) {
    if header.origin.is_empty() {
        (prev.to_string(), None)
    } else {
        (header.origin.clone(), Some(prev.to_string()))
    }
}

/// The origin must be authorized for the class, and so must the relay it
/// came through.
pub(crate) fn may_deliver(state: &State, origin: &str, via: Option<&str>, class: Class) -> bool {
    state.allows(origin, class) && via.is_none_or(|v| state.allows(v, class))
}

/// `may_deliver` against the live state; a refusal is reported when `report` is set.
fn authorized(shared: &Shared, origin: &str, via: Option<&str>, class: Class, report: bool) -> bool {
    let ok = may_deliver(&shared.state.lock().unwrap(), origin, via, class);
    if !ok && report {
        shared.emit(Event::Refused { node_id: origin.to_string(), class, reason: "channel_class_denied" });
    }
    ok
}

async fn deliver(shared: &Shared, delivery: Delivery) -> bool {
    let k = shared.counters.class(delivery.class);
    add(&k.received_messages, 1);
    add(&k.received_bytes, delivery.data.len() as u64);
    let inbox = if delivery.class.is_urgent() { &shared.urgent_tx } else { &shared.bulk_tx };
    inbox.send(delivery).await.is_ok()
}

/// The end nodes of a stream or datagram to relay: its origin (the previous
/// hop when the header names none) and its destination (the path's last node).
fn relay_ends<'a>(prev: &'a str, header: &'a Header) -> (&'a str, &'a str) {
    let origin = if header.origin.is_empty() { prev } else { header.origin.as_str() };
    let destination = header.path.last().map(String::as_str).unwrap_or(prev);
    (origin, destination)
}

/// Why this node will not forward `header`'s class from `prev` to the next
/// hop, if it won't: it must be a relay (`relaying`), hold a lease for the
/// two end nodes (`leased`), and have the class authorized on both of its
/// links. fabric_control is hop-by-hop and never relayed.
fn relay_refusal(relaying: bool, leased: bool, state: &State, prev: &str, header: &Header) -> Option<&'static str> {
    let class = header.class;
    let Some(next) = header.path.first() else { return Some("policy_denied") };
    if !relaying || class == Class::FabricControl {
        return Some("policy_denied");
    }
    if !leased {
        return Some("relay_lease_missing");
    }
    if !state.allows(prev, class) || !state.allows(next, class) {
        return Some("channel_class_denied");
    }
    None
}

/// The connection to forward on, or why not.
pub(crate) fn relay_next(shared: &Shared, prev: &str, header: &Header) -> Result<Connection, &'static str> {
    let relaying = shared.relay_enabled.load(Ordering::Relaxed);
    let (origin, destination) = relay_ends(prev, header);
    let leased = shared.leases.read().unwrap().covers(origin, destination, unix_now());
    let state = shared.state.lock().unwrap();
    if let Some(reason) = relay_refusal(relaying, leased, &state, prev, header) {
        return Err(reason);
    }
    let next = header.path.first().ok_or("network_unreachable")?;
    state.peers.get(next).map(|p| p.conn.clone()).ok_or("network_unreachable")
}

pub(crate) fn refuse_relay(shared: &Shared, prev: &str, class: Class, reason: &'static str) {
    add(&shared.counters.relay_refused, 1);
    shared.emit(Event::Refused { node_id: prev.to_string(), class, reason });
}

async fn relay_stream(shared: Arc<Shared>, prev: String, header: Header, leftover: Bytes, mut recv: RecvStream) {
    let conn = match relay_next(&shared, &prev, &header) {
        Ok(conn) => conn,
        Err(reason) => {
            refuse_relay(&shared, &prev, header.class, reason);
            let code = if reason == "network_unreachable" { STOP_UNREACHABLE } else { STOP_DENIED };
            let _ = recv.stop(VarInt::from_u32(code));
            return;
        }
    };
    let Ok(mut send) = conn.open_uni().await else {
        let _ = recv.stop(VarInt::from_u32(STOP_UNREACHABLE));
        return;
    };
    let _ = send.set_priority(header.class.priority());
    add(&shared.counters.relay_streams, 1);
    add(&shared.counters.relay_bytes, leftover.len() as u64);
    let forwarded = header.forwarded(&prev).encode();
    if send.write_chunk(forwarded).await.is_err() || (!leftover.is_empty() && send.write_chunk(leftover).await.is_err()) {
        let _ = recv.stop(VarInt::from_u32(STOP_UNREACHABLE));
        return;
    }
    loop {
        match recv.read_chunk(usize::MAX, true).await {
            Ok(Some(chunk)) => {
                add(&shared.counters.relay_bytes, chunk.bytes.len() as u64);
                if send.write_chunk(chunk.bytes).await.is_err() {
                    let _ = recv.stop(VarInt::from_u32(STOP_UNREACHABLE));
                    return;
                }
            }
            Ok(None) => {
                let _ = send.finish();
                return;
            }
            Err(_) => {
                let _ = send.reset(VarInt::from_u32(STOP_UNREACHABLE));
                return;
            }
        }
    }
}

pub(crate) async fn datagrams(shared: Arc<Shared>, conn: Connection, prev: String) {
    let mut direct: [AuthGate; BY_VALUE] = std::array::from_fn(|_| AuthGate::new());
    while let Ok(datagram) = conn.read_datagram().await {
        let Ok((header, used)) = Header::decode(&datagram) else { continue };
        let payload = datagram.slice(used..);
        if header.path.is_empty() {
            end_datagram(&shared, &prev, &mut direct, header, payload);
            continue;
        }
        match relay_next(&shared, &prev, &header) {
            Ok(next) => {
                let forwarded = header.forwarded(&prev).encode();
                let mut out = BytesMut::with_capacity(forwarded.len() + payload.len());
                out.put_slice(&forwarded);
                out.put_slice(&payload);
                if next.send_datagram(out.freeze()).is_ok() {
                    add(&shared.counters.relay_datagrams, 1);
                }
            }
            Err(reason) => refuse_relay(&shared, &prev, header.class, reason),
        }
    }
}

/// A datagram that ends here: authorized (per policy epoch for the previous
/// hop's own datagrams, each time for relayed ones, which name their origin),
/// then handed to the VPN table or to the application.
fn end_datagram(shared: &Shared, prev: &str, direct: &mut [AuthGate; BY_VALUE], header: Header, payload: Bytes) {
    let class = header.class;
    let relayed = !header.origin.is_empty();
    let allowed = if relayed {
        authorized(shared, &header.origin, Some(prev), class, true)
    } else {
        let epoch = shared.policy_epoch.load(Ordering::Acquire);
        direct[class as usize].admit(epoch, |report| authorized(shared, prev, None, class, report))
    };
    let k = shared.counters.class(class);
    if !allowed {
        add(&k.refused, 1);
        return;
    }
    let origin = if relayed { header.origin.as_str() } else { prev };
    // A VPN packet goes to its TUN device in Rust (`vpn`), never to the application.
    if class == Class::VpnPacket && crate::vpn_table::deliver(&shared.vpn, origin, &payload) {
        return;
    }
    add(&k.received_messages, 1);
    add(&k.received_bytes, payload.len() as u64);
    let via = relayed.then(|| prev.to_string());
    let delivery = Delivery { from: origin.to_string(), via, class, data: payload };
    if shared.bulk_tx.try_send(delivery).is_err() {
        add(&k.drops, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(class: Class, origin: &str, path: &[&str]) -> Header {
        Header { class, origin: origin.into(), path: path.iter().map(|s| s.to_string()).collect() }
    }

    fn state(allowed: &[(&str, &[Class])]) -> State {
        let mut state = State::default();
        for (node, classes) in allowed {
            state.allowed.insert(node.to_string(), classes.iter().copied().collect());
        }
        state
    }

    #[test]
    fn a_stream_header_is_read_once_it_is_all_there_and_garbage_stops_the_stream() {
        let encoded = header(Class::Input, "a", &["c"]).encode();
        for cut in 0..encoded.len() {
            assert_eq!(read_header(&encoded[..cut]), HeaderRead::NeedMore, "{cut} bytes");
        }
        let mut with_data = encoded.to_vec();
        with_data.extend_from_slice(&[0, 0, 0, 1, b'x']);
        assert_eq!(read_header(&with_data), HeaderRead::Ready(header(Class::Input, "a", &["c"]), encoded.len()));
        assert_eq!(read_header(&[1, 99, 0, 0]), HeaderRead::Invalid, "unknown class");
        assert_eq!(read_header(&[2, 1, 0, 0]), HeaderRead::Invalid, "unknown version");
    }

    #[test]
    fn a_message_comes_from_the_previous_hop_or_through_it_from_the_named_origin() {
        assert_eq!(origin_of(&header(Class::Input, "", &[]), "b"), ("b".to_string(), None));
        assert_eq!(origin_of(&header(Class::Input, "a", &[]), "r"), ("a".to_string(), Some("r".to_string())));
    }

    #[test]
    fn delivery_needs_the_class_authorized_for_the_origin_and_for_the_relay() {
        let s = state(&[("a", &[Class::Input, Class::Clipboard]), ("r", &[Class::Input])]);
        assert!(may_deliver(&s, "a", None, Class::Input));
        assert!(may_deliver(&s, "a", Some("r"), Class::Input));
        assert!(!may_deliver(&s, "a", Some("r"), Class::Clipboard), "the relay's link lacks clipboard");
        assert!(!may_deliver(&s, "a", None, Class::FileTransfer));
        assert!(!may_deliver(&s, "r", Some("a"), Class::Clipboard));
        assert!(may_deliver(&s, "stranger", None, Class::FabricControl), "the hello before authorization");
    }

    #[test]
    fn a_refusal_is_reported_once_per_change_not_per_message() {
        let mut gate = AuthGate::new();
        let mut reports = Vec::new();
        let mut check = |epoch: u64, allow: bool, gate: &mut AuthGate| {
            gate.admit(epoch, |report| {
                reports.push((epoch, report));
                allow
            })
        };
        assert!(!check(0, false, &mut gate));
        assert!(!check(0, false, &mut gate), "same epoch: not checked again");
        assert!(!check(1, false, &mut gate), "still refused");
        assert!(check(2, true, &mut gate));
        assert!(check(2, true, &mut gate));
        assert!(!check(3, false, &mut gate), "withdrawn");
        assert_eq!(reports, [(0, true), (1, false), (2, false), (3, true)]);
    }

    #[test]
    fn a_relay_forwards_between_the_origin_and_the_last_node_of_the_path() {
        assert_eq!(relay_ends("a", &header(Class::Input, "", &["r2", "c"])), ("a", "c"));
        assert_eq!(relay_ends("r1", &header(Class::Input, "a", &["c"])), ("a", "c"));
    }

    #[test]
    fn a_relay_refuses_unless_relaying_leased_and_the_class_is_on_both_links() {
        let s = state(&[("a", &[Class::Input, Class::Clipboard]), ("c", &[Class::Input])]);
        let input = header(Class::Input, "", &["c"]);
        assert_eq!(relay_refusal(true, true, &s, "a", &input), None);
        assert_eq!(relay_refusal(false, true, &s, "a", &input), Some("policy_denied"));
        assert_eq!(relay_refusal(true, false, &s, "a", &input), Some("relay_lease_missing"));
        assert_eq!(relay_refusal(true, true, &s, "a", &header(Class::Clipboard, "", &["c"])), Some("channel_class_denied"));
        assert_eq!(relay_refusal(true, true, &s, "x", &input), Some("channel_class_denied"), "not on the incoming link");
        assert_eq!(relay_refusal(true, true, &s, "a", &header(Class::FabricControl, "", &["c"])), Some("policy_denied"));
        assert_eq!(relay_refusal(false, false, &s, "a", &input), Some("policy_denied"), "the first reason wins");
    }
}
