//! Receiving: each incoming stream or datagram either ends here (checked
//! against the channel authorization, then delivered) or names a next hop,
//! in which case a relay splices it onto the next connection without
//! looking at the messages inside.

use crate::class::Class;
use crate::clock::unix_now;
use crate::event::{Delivery, Event};
use crate::shared::Shared;
use crate::stats::add;
use crate::wire::{Header, MAX_HEADER, MAX_MESSAGE};
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

async fn stream(shared: Arc<Shared>, prev: String, mut recv: RecvStream) {
    let mut buf = BytesMut::with_capacity(64 << 10);
    let header = loop {
        match Header::decode(&buf) {
            Ok((header, used)) => {
                buf.advance(used);
                break header;
            }
            Err("short header") if buf.len() < MAX_HEADER => {
                if !read_more(&mut recv, &mut buf).await {
                    return;
                }
            }
            Err(_) => {
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
    // Authorization is rechecked whenever policy changes; messages that
    // arrive while the class is not authorized are counted and discarded
    // (reported once per refusal), never delivered.
    let mut checked_epoch = u64::MAX;
    let mut allowed = false;
    loop {
        while buf.len() >= 4 {
            let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            if len > MAX_MESSAGE {
                let _ = recv.stop(VarInt::from_u32(STOP_PROTOCOL));
                return;
            }
            if buf.len() < 4 + len {
                buf.reserve(4 + len - buf.len());
                break;
            }
            let epoch = shared.policy_epoch.load(Ordering::Acquire);
            if epoch != checked_epoch {
                let was = allowed || checked_epoch == u64::MAX;
                allowed = authorized(&shared, &origin, via.as_deref(), class, was);
                checked_epoch = epoch;
            }
            buf.advance(4);
            let data = buf.split_to(len).freeze();
            if !allowed {
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

fn origin_of(header: &Header, prev: &str) -> (String, Option<String>) {
    if header.origin.is_empty() {
        (prev.to_string(), None)
    } else {
        (header.origin.clone(), Some(prev.to_string()))
    }
}

/// The origin must be authorized for the class, and so must the relay it
/// came through. A refusal is reported when `report` is set.
fn authorized(shared: &Shared, origin: &str, via: Option<&str>, class: Class, report: bool) -> bool {
    let ok = {
        let state = shared.state.lock().unwrap();
        state.allows(origin, class) && via.is_none_or(|v| state.allows(v, class))
    };
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

/// Why this node will not forward `class` from `prev` along `header`'s path,
/// if it won't: it must be a relay, hold a lease for the two end nodes, and
/// have the class authorized on both of its links.
fn relay_refusal(shared: &Shared, prev: &str, header: &Header) -> Result<Connection, &'static str> {
    let class = header.class;
    let next = header.path[0].as_str();
    if !shared.relay_enabled.load(Ordering::Relaxed) || class == Class::FabricControl {
        return Err("policy_denied");
    }
    let origin = if header.origin.is_empty() { prev } else { header.origin.as_str() };
    let destination = header.path.last().map(String::as_str).unwrap_or(next);
    if !shared.leases.read().unwrap().covers(origin, destination, unix_now()) {
        return Err("relay_lease_missing");
    }
    let state = shared.state.lock().unwrap();
    if !state.allows(prev, class) || !state.allows(next, class) {
        return Err("channel_class_denied");
    }
    state.peers.get(next).map(|p| p.conn.clone()).ok_or("network_unreachable")
}

fn refuse_relay(shared: &Shared, prev: &str, class: Class, reason: &'static str) {
    add(&shared.counters.relay_refused, 1);
    shared.emit(Event::Refused { node_id: prev.to_string(), class, reason });
}

async fn relay_stream(shared: Arc<Shared>, prev: String, header: Header, leftover: Bytes, mut recv: RecvStream) {
    let conn = match relay_refusal(&shared, &prev, &header) {
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
    while let Ok(datagram) = conn.read_datagram().await {
        let Ok((header, used)) = Header::decode(&datagram) else { continue };
        let payload = datagram.slice(used..);
        if header.path.is_empty() {
            let (origin, via) = origin_of(&header, &prev);
            if authorized(&shared, &origin, via.as_deref(), header.class, true) {
                let k = shared.counters.class(header.class);
                add(&k.received_messages, 1);
                add(&k.received_bytes, payload.len() as u64);
                let delivery = Delivery { from: origin, via, class: header.class, data: payload };
                if shared.bulk_tx.try_send(delivery).is_err() {
                    add(&k.drops, 1);
                }
            } else {
                add(&shared.counters.class(header.class).refused, 1);
            }
            continue;
        }
        match relay_refusal(&shared, &prev, &header) {
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
