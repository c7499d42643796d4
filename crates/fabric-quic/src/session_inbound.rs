//! Incoming session streams (the peer's bidirectional streams). Each starts
//! with a `SessionHeader`; a stream whose path goes on is a relay's to
//! splice onto the next hop, under the same rules as class streams
//! (`inbound::relay_next`), both directions copied chunk by chunk in Rust.
//! A stream that ends here is admitted only when its class is authorized
//! for the origin (and the relay it came through) and the session is served
//! here to that origin (`session_table`); then it goes to
//! `accept_session_stream`. Anything else is reset and stopped with its
//! `StreamReason`, reported and counted, and nothing of it is delivered.

use crate::class::Class;
use crate::event::Event;
use crate::inbound::{may_deliver, origin_of, refuse_relay, relay_next};
use crate::session_stream::{IncomingSessionStream, SessionStream};
use crate::session_table::{LiveStream, Registration, SessionTable};
use crate::shared::{Shared, State};
use crate::stats::add;
use crate::wire::{SessionHeader, StreamReason, MAX_SESSION_HEADER};
use bytes::{BufMut, Bytes, BytesMut};
use quinn::{Connection, ReadError, RecvStream, SendStream, VarInt, WriteError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::error::TrySendError;

/// How long the opener has to send the whole header; a stream that stalls
/// in it would otherwise hold a task until its connection closes.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn streams(shared: Arc<Shared>, conn: Connection, prev: String) {
    while let Ok((send, recv)) = conn.accept_bi().await {
        tokio::spawn(stream(shared.clone(), prev.clone(), send, recv));
    }
}

fn code(reason: StreamReason) -> VarInt {
    VarInt::from_u32(reason.code())
}

/// Gives up both directions: the opener's reads and writes fail with `reason`.
fn refuse(send: &mut SendStream, recv: &mut RecvStream, reason: StreamReason) {
    let _ = send.reset(code(reason));
    let _ = recv.stop(code(reason));
}

/// Reads until the header is whole; returns it and the bytes after it.
async fn read_header(recv: &mut RecvStream) -> Option<(SessionHeader, Bytes)> {
    let mut buf = BytesMut::new();
    loop {
        match SessionHeader::decode(&buf) {
            Ok((header, used)) => return Some((header, buf.split_off(used).freeze())),
            Err("short header") if buf.len() < MAX_SESSION_HEADER => {}
            Err(_) => return None,
        }
        let chunk = recv.read_chunk(MAX_SESSION_HEADER, true).await.ok()??;
        buf.put_slice(&chunk.bytes);
    }
}

async fn stream(shared: Arc<Shared>, prev: String, mut send: SendStream, mut recv: RecvStream) {
    let Ok(Some((header, leftover))) = tokio::time::timeout(HEADER_TIMEOUT, read_header(&mut recv)).await else {
        add(&shared.counters.sessions_refused, 1);
        refuse(&mut send, &mut recv, StreamReason::Protocol);
        return;
    };
    if header.route.path.is_empty() {
        accept(&shared, &prev, header, leftover, send, recv);
    } else {
        relay(&shared, &prev, header, leftover, send, recv).await;
    }
}

/// Whether a session stream of `class` for `session_id` from `origin` (via
/// the relay `via`) may be delivered here. fabric_control is hop-by-hop and
/// open before authorization, so it never carries a session.
fn admission(
    state: &State,
    table: &SessionTable,
    origin: &str,
    via: Option<&str>,
    class: Class,
    session_id: &[u8; 16],
) -> Result<(), StreamReason> {
    if class == Class::FabricControl || !may_deliver(state, origin, via, class) {
        return Err(StreamReason::ChannelClassDenied);
    }
    table.admit(session_id, origin)
}

fn accept(shared: &Arc<Shared>, prev: &str, header: SessionHeader, leftover: Bytes, mut send: SendStream, mut recv: RecvStream) {
    let (origin, via) = origin_of(&header.route, prev);
    let class = header.route.class;
    if class == Class::VpnPacket {
        return accept_dial(shared, origin, via, header, leftover, send, recv);
    }
    let admitted = {
        // Under both locks (state first), so an authorization change or a
        // session that stops being served either sees this stream or refuses it.
        let state = shared.state.lock().unwrap();
        let mut table = shared.sessions.lock().unwrap();
        admission(&state, &table, &origin, via.as_deref(), class, &header.session_id).map(|()| {
            let live = LiveStream { session_id: header.session_id, class, peer: origin.clone(), via: via.clone(), accepted: true };
            table.open(live)
        })
    };
    let (id, ended) = match admitted {
        Ok(registered) => registered,
        Err(reason) => return refused(shared, &origin, class, reason, &mut send, &mut recv),
    };
    let _ = send.set_priority(class.priority());
    let stream = SessionStream::new(send, recv, leftover, Registration::new(shared.sessions.clone(), id, ended));
    let incoming = IncomingSessionStream {
        from: origin.clone(),
        via,
        class,
        session_id: header.session_id,
        attachment_id: header.attachment_id,
        stream,
    };
    // Counted before the hand-over, so whoever takes the stream sees it counted.
    add(&shared.counters.sessions_accepted, 1);
    let inbox = shared.session_tx.lock().unwrap().clone();
    let not_taken = match inbox {
        Some(inbox) => inbox.try_send(incoming).err().map(TrySendError::into_inner),
        None => Some(incoming), // the endpoint is closing
    };
    if let Some(mut incoming) = not_taken {
        shared.counters.sessions_accepted.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        incoming.stream.abort(StreamReason::SessionBacklogFull);
        report(shared, &origin, class, StreamReason::SessionBacklogFull);
    }
}

/// A `vpn_packet` session stream is a dial stream (`vpn_dial`): admitted when
/// the class is authorized for its origin (and relay); the owner's own
/// checks (lease epoch, service, egress filter) follow in `vpn_dial`.
fn accept_dial(
    shared: &Arc<Shared>,
    origin: String,
    via: Option<String>,
    header: SessionHeader,
    leftover: Bytes,
    mut send: SendStream,
    mut recv: RecvStream,
) {
    let class = Class::VpnPacket;
    let admitted = {
        let state = shared.state.lock().unwrap();
        if may_deliver(&state, &origin, via.as_deref(), class) {
            let live = LiveStream { session_id: header.session_id, class, peer: origin.clone(), via, accepted: true };
            Some(shared.sessions.lock().unwrap().open(live))
        } else {
            None
        }
    };
    let Some((id, ended)) = admitted else {
        return refused(shared, &origin, class, StreamReason::ChannelClassDenied, &mut send, &mut recv);
    };
    add(&shared.counters.sessions_accepted, 1);
    let stream = SessionStream::new(send, recv, leftover, Registration::new(shared.sessions.clone(), id, ended));
    crate::vpn_dial_owner::accept(shared, origin, stream);
}

fn report(shared: &Shared, origin: &str, class: Class, reason: StreamReason) {
    add(&shared.counters.sessions_refused, 1);
    if reason == StreamReason::ChannelClassDenied {
        add(&shared.counters.class(class).refused, 1);
    }
    shared.emit(Event::Refused { node_id: origin.to_string(), class, reason: reason.name() });
}

fn refused(shared: &Shared, origin: &str, class: Class, reason: StreamReason, send: &mut SendStream, recv: &mut RecvStream) {
    refuse(send, recv, reason);
    report(shared, origin, class, reason);
}

async fn relay(shared: &Shared, prev: &str, header: SessionHeader, leftover: Bytes, mut send_in: SendStream, mut recv_in: RecvStream) {
    let class = header.route.class;
    let conn = match relay_next(shared, prev, &header.route) {
        Ok(conn) => conn,
        Err(reason) => {
            refuse_relay(shared, prev, class, reason);
            refuse(&mut send_in, &mut recv_in, StreamReason::from_name(reason));
            return;
        }
    };
    let opened = tokio::time::timeout(shared.transport_idle, conn.open_bi()).await;
    let Ok(Ok((mut send_out, recv_out))) = opened else {
        refuse(&mut send_in, &mut recv_in, StreamReason::NetworkUnreachable);
        return;
    };
    let _ = send_out.set_priority(class.priority());
    let _ = send_in.set_priority(class.priority());
    add(&shared.counters.relay_streams, 1);
    add(&shared.counters.sessions_relayed, 1);
    // The header is the stream's first data, so only a lost connection fails it.
    if send_out.write_chunk(header.forwarded(prev).encode()).await.is_err() {
        refuse(&mut send_in, &mut recv_in, StreamReason::NetworkUnreachable);
        return;
    }
    // What came after the header goes first, under the splice's rules: the
    // destination may already have answered (a stop) by then.
    tokio::join!(splice(shared, leftover, recv_in, send_out), splice(shared, Bytes::new(), recv_out, send_in));
}

/// The code to pass on when the far side of a splice failed: the one it
/// carried, or `network_unreachable` when its connection went away.
fn passed_on_read(error: ReadError) -> VarInt {
    match error {
        ReadError::Reset(code) => code,
        _ => code(StreamReason::NetworkUnreachable),
    }
}

fn passed_on_write(error: WriteError) -> VarInt {
    match error {
        WriteError::Stopped(code) => code,
        _ => code(StreamReason::NetworkUnreachable),
    }
}

/// Copies one direction of a relayed session stream, `first` then `from`
/// chunk by chunk, and carries its end across: a finish as a finish, a
/// reset or a stop with the same code, a lost connection as
/// `network_unreachable`. Per-stream flow control reaches through: while
/// `to` has no credit, `from` is not read, so its own window closes on the
/// sender.
async fn splice(shared: &Shared, first: Bytes, mut from: RecvStream, mut to: SendStream) {
    if !first.is_empty() {
        add(&shared.counters.relay_bytes, first.len() as u64);
        if let Err(e) = to.write_chunk(first).await {
            let _ = from.stop(passed_on_write(e));
            return;
        }
    }
    let stopped = to.stopped();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            read = from.read_chunk(usize::MAX, true) => match read {
                Ok(Some(chunk)) => {
                    add(&shared.counters.relay_bytes, chunk.bytes.len() as u64);
                    if let Err(e) = to.write_chunk(chunk.bytes).await {
                        let _ = from.stop(passed_on_write(e));
                        return;
                    }
                }
                Ok(None) => {
                    let _ = to.finish();
                    return;
                }
                Err(e) => {
                    let _ = to.reset(passed_on_read(e));
                    return;
                }
            },
            stop = &mut stopped => {
                let code = match stop {
                    Ok(Some(code)) => code,
                    _ => code(StreamReason::NetworkUnreachable),
                };
                let _ = from.stop(code);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(allowed: &[(&str, &[Class])]) -> State {
        let mut state = State::default();
        for (node, classes) in allowed {
            state.allowed.insert(node.to_string(), classes.iter().copied().collect());
        }
        state
    }

    #[test]
    fn a_session_stream_needs_its_class_authorized_and_the_session_served_to_its_origin() {
        let s = state(&[("entry", &[Class::Input, Class::Render]), ("relay", &[Class::Input]), ("other", &[Class::Input])]);
        let mut table = SessionTable::default();
        table.serve([1; 16], vec!["entry".into()]);
        let admit = |origin: &str, via: Option<&str>, class: Class, session: u8| admission(&s, &table, origin, via, class, &[session; 16]);
        assert_eq!(admit("entry", None, Class::Input, 1), Ok(()));
        assert_eq!(admit("entry", Some("relay"), Class::Input, 1), Ok(()));
        assert_eq!(admit("entry", Some("relay"), Class::Render, 1), Err(StreamReason::ChannelClassDenied), "not on the relay's link");
        assert_eq!(admit("entry", None, Class::Clipboard, 1), Err(StreamReason::ChannelClassDenied));
        assert_eq!(admit("entry", None, Class::FabricControl, 1), Err(StreamReason::ChannelClassDenied), "never a session class");
        assert_eq!(admit("entry", None, Class::Input, 2), Err(StreamReason::SessionNotServed));
        assert_eq!(admit("other", None, Class::Input, 1), Err(StreamReason::EntryNotAllowed));
        assert_eq!(admit("stranger", None, Class::Input, 1), Err(StreamReason::ChannelClassDenied), "authorization is checked first");
    }

    #[test]
    fn a_splice_passes_on_the_code_it_was_given_or_network_unreachable() {
        let six = VarInt::from_u32(6);
        assert_eq!(passed_on_read(ReadError::Reset(six)), six);
        assert_eq!(passed_on_write(WriteError::Stopped(six)), six);
        assert_eq!(passed_on_read(ReadError::ClosedStream), code(StreamReason::NetworkUnreachable));
        assert_eq!(passed_on_write(WriteError::ConnectionLost(quinn::ConnectionError::TimedOut)), code(StreamReason::NetworkUnreachable));
    }
}
