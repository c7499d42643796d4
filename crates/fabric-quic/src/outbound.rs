//! Sending: one queue and one writer task per (destination, class). The
//! writer owns a QUIC stream (or, for `vpn_packet`, sends datagrams) on the
//! connection to the first hop of the destination's route.

use crate::class::{Carrier, Class, Queueing};
use crate::endpoint::Endpoint;
use crate::error::FabricError;
use crate::queue::{Enqueued, Fifo, LatestSlot, Queue, Sender, WaitForRoom};
use crate::shared::{Shared, State};
use crate::stats::add;
use crate::wire::{length_prefix, Header};
use bytes::{BufMut, Bytes, BytesMut};
use quinn::Connection;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

impl Endpoint {
    /// Queues `data` for `to` on `class`, in call order. Never blocks: a
    /// back-pressured class answers `Wait` when its queue is over depth.
    pub fn send_now(&self, to: &str, class: Class, data: Bytes) -> Result<Enqueued, FabricError> {
        match self.send_unless_full(to, class, data, false)? {
            Ok(enqueued) => Ok(enqueued),
            Err(_) => unreachable!("send_unless_full(…, false) never answers full"),
        }
    }

    /// `send_now`, except that with `hold_when_full` a full drop-when-full
    /// queue does not drop: nothing is queued or counted and the answer is
    /// `Err(room)`, to await before offering the same message again. For a
    /// source that can itself hold back, like the VPN pump, which then stops
    /// reading its device and lets the kernel slow the flow down instead of
    /// losing a packet to retransmit.
    pub fn send_unless_full(
        &self,
        to: &str,
        class: Class,
        data: Bytes,
        hold_when_full: bool,
    ) -> Result<Result<Enqueued, WaitForRoom>, FabricError> {
        let shared = &self.shared;
        for _ in 0..2 {
            let queue = sender_for(shared, to, class)?;
            if let (true, Queue::Fifo(f), Queueing::DropWhenFull { capacity }) = (hold_when_full, &queue, class.queueing()) {
                if f.depth.load(Ordering::Acquire) >= capacity && !f.tx.is_closed() {
                    return Ok(Err(WaitForRoom { fifo: f.clone(), capacity: capacity - 1 }));
                }
            }
            let urgent = class.is_urgent().then_some(&shared.urgent_pending);
            let outcome = enqueue(&queue, class.queueing(), &data, urgent);
            match outcome {
                Some(enqueued) => {
                    if matches!(enqueued, Enqueued::Dropped) {
                        add(&shared.counters.class(class).drops, 1);
                    }
                    return Ok(Ok(enqueued));
                }
                None => {
                    if let Some(by_class) = shared.state.lock().unwrap().senders.get_mut(to) {
                        by_class.remove(&class);
                    }
                }
            }
        }
        Err(FabricError::NetworkUnreachable(format!("the route to {to} closed while sending")))
    }

    /// Waits until the (to, class) queue is back at or under its depth, or its
    /// writer ended; at once for a class that never makes a sender wait. What a
    /// caller does after `send_now` answered `Wait` when it cannot hold the
    /// `WaitForRoom` itself (the JS side of the addon).
    pub async fn room(&self, to: &str, class: Class) {
        let wait = {
            let state = self.shared.state.lock().unwrap();
            let queue = state.senders.get(to).and_then(|by_class| by_class.get(&class)).map(|s| s.queue.clone());
            match (queue, class.queueing()) {
                (Some(Queue::Fifo(fifo)), Queueing::Backpressure { capacity }) => Some(WaitForRoom { fifo, capacity }),
                _ => None,
            }
        };
        if let Some(wait) = wait {
            wait.ready().await;
        }
    }

    /// The largest payload one datagram of `class` to `to` carries now: the
    /// first hop's current QUIC datagram size (path-MTU discovery moves it)
    /// less the mesh header. `None` without a route, or when the peer takes
    /// no datagrams.
    pub(crate) fn datagram_room(&self, to: &str, class: Class) -> Option<usize> {
        let state = self.shared.state.lock().unwrap();
        let (_, conn, path) = first_hop(&state, to, class).ok()?;
        let header = Header { class, origin: String::new(), path }.encode().len();
        conn.max_datagram_size()?.checked_sub(header)
    }

    /// `send_now`, then waits for room. `Ok(false)` means QoS dropped it.
    pub async fn send(&self, to: &str, class: Class, data: Bytes) -> Result<bool, FabricError> {
        match self.send_now(to, class, data)? {
            Enqueued::Ready => Ok(true),
            Enqueued::Dropped => Ok(false),
            Enqueued::Wait(room) => {
                room.ready().await;
                Ok(true)
            }
        }
    }
}

/// What a send does with its queue, by the class's QoS: queue it, drop it
/// (a full drop-when-full queue, or a newer latest-only message replacing an
/// unsent one), or queue it and ask the caller to wait (a back-pressured
/// queue over its depth). Messages of urgent classes count in
/// `urgent_pending` until taken. `None` when the writer has ended (its route
/// closed): nothing was queued.
fn enqueue(queue: &Queue, queueing: Queueing, data: &Bytes, urgent_pending: Option<&AtomicUsize>) -> Option<Enqueued> {
    match (queue, queueing) {
        (Queue::Fifo(f), Queueing::DropWhenFull { capacity }) if f.depth.load(Ordering::Acquire) >= capacity => Some(Enqueued::Dropped),
        (Queue::Fifo(f), queueing) => {
            f.depth.fetch_add(1, Ordering::AcqRel);
            if let Some(pending) = urgent_pending {
                pending.fetch_add(1, Ordering::Relaxed);
            }
            if f.tx.send(data.clone()).is_err() {
                f.depth.fetch_sub(1, Ordering::AcqRel);
                if let Some(pending) = urgent_pending {
                    pending.fetch_sub(1, Ordering::Relaxed);
                }
                return None;
            }
            match queueing {
                Queueing::Backpressure { capacity } if f.depth.load(Ordering::Acquire) > capacity => {
                    Some(Enqueued::Wait(WaitForRoom { fifo: f.clone(), capacity }))
                }
                _ => Some(Enqueued::Ready),
            }
        }
        (Queue::Latest(slot), _) => {
            let replaced = slot.slot.lock().unwrap().replace(data.clone()).is_some();
            slot.notify.notify_one();
            Some(if replaced { Enqueued::Dropped } else { Enqueued::Ready })
        }
    }
}

/// The first hop towards `to` and the path the header carries past it.
/// fabric_control is the channel's own control (hello, heartbeats): it
/// always goes straight to the peer, never along a route.
pub(crate) fn hops(to: &str, class: Class, relays: &[String]) -> (String, Vec<String>) {
    let relays: &[String] = if class == Class::FabricControl { &[] } else { relays };
    match relays.split_first() {
        None => (to.to_string(), Vec::new()),
        Some((first, rest)) => (first.clone(), rest.iter().cloned().chain([to.to_string()]).collect()),
    }
}

/// The first hop toward `to` (direct, or the route's first relay), its connection, and the relay path after it.
pub(crate) fn first_hop(state: &State, to: &str, class: Class) -> Result<(String, Connection, Vec<String>), FabricError> {
    let (first_hop, path) = hops(to, class, state.routes.get(to).map(Vec::as_slice).unwrap_or_default());
    let conn = state
        .peers
        .get(&first_hop)
        .map(|p| p.conn.clone())
        .ok_or_else(|| FabricError::NetworkUnreachable(format!("no connection to {first_hop}")))?;
    Ok((first_hop, conn, path))
}

fn sender_for(shared: &Arc<Shared>, to: &str, class: Class) -> Result<Queue, FabricError> {
    let mut state = shared.state.lock().unwrap();
    if !state.allows(to, class) {
        add(&shared.counters.class(class).refused, 1);
        return Err(FabricError::ChannelClassDenied(format!("{} is not authorized with {to}", class.name())));
    }
    if let Some(sender) = state.senders.get(to).and_then(|by_class| by_class.get(&class)).filter(|s| s.alive()) {
        return Ok(sender.queue.clone());
    }
    let (hop, conn, path) = first_hop(&state, to, class)?;
    let header = Header { class, origin: String::new(), path }.encode();
    let queue = if class.queueing() == Queueing::LatestOnly {
        let slot = Arc::new(LatestSlot::default());
        shared.runtime.spawn(latest_writer(shared.clone(), conn, header, class, slot.clone()));
        Queue::Latest(slot)
    } else {
        let (tx, rx) = mpsc::unbounded_channel();
        let fifo = Arc::new(Fifo::new(tx));
        match class.carrier() {
            Carrier::Stream => shared.runtime.spawn(stream_writer(shared.clone(), conn, header, class, rx, fifo.clone())),
            Carrier::Datagram => shared.runtime.spawn(datagram_writer(shared.clone(), conn, header, class, rx, fifo.clone())),
        };
        Queue::Fifo(fifo)
    };
    state.senders.entry(to.to_string()).or_default().insert(class, Sender::new(hop, queue.clone()));
    Ok(queue)
}

async fn open(conn: &Connection, class: Class, header: Bytes) -> Option<quinn::SendStream> {
    let mut stream = conn.open_uni().await.ok()?;
    stream.set_priority(class.priority()).ok()?;
    stream.write_chunk(header).await.ok()?;
    Some(stream)
}

async fn write_message(stream: &mut quinn::SendStream, data: Bytes) -> bool {
    stream.write_all(&length_prefix(data.len())).await.is_ok() && stream.write_chunk(data).await.is_ok()
}

/// One `vpn_packet` datagram: the stream header, then the payload. `None`
/// when it exceeds what the path carries now (or datagrams are off): it is
/// dropped, never fragmented.
fn datagram(header: &[u8], data: &[u8], max_size: Option<usize>) -> Option<Bytes> {
    if header.len() + data.len() > max_size.unwrap_or(0) {
        return None;
    }
    let mut datagram = BytesMut::with_capacity(header.len() + data.len());
    datagram.put_slice(header);
    datagram.put_slice(data);
    Some(datagram.freeze())
}

fn sent(shared: &Shared, class: Class, bytes: usize) {
    let k = shared.counters.class(class);
    add(&k.sent_messages, 1);
    add(&k.sent_bytes, bytes as u64);
}

/// One message left the queue (written, or dropped with the writer).
fn taken(shared: &Shared, fifo: &Fifo, class: Class) {
    fifo.taken();
    if class.is_urgent() {
        shared.urgent_pending.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn stream_writer(
    shared: Arc<Shared>,
    conn: Connection,
    header: Bytes,
    class: Class,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    fifo: Arc<Fifo>,
) {
    if let Some(mut stream) = open(&conn, class, header).await {
        loop {
            // A stream the peer stopped (refused, or a relay gave up) ends
            // this writer, so the next message opens a fresh one.
            let data = tokio::select! {
                biased;
                next = rx.recv() => match next { Some(data) => data, None => break },
                _ = stream.stopped() => break,
            };
            let len = data.len();
            let ok = write_message(&mut stream, data).await;
            taken(&shared, &fifo, class);
            if !ok {
                break;
            }
            sent(&shared, class, len);
        }
        let _ = stream.finish();
    }
    rx.close();
    while rx.try_recv().is_ok() {
        add(&shared.counters.class(class).drops, 1);
        taken(&shared, &fifo, class);
    }
}

/// Latest-only classes are never urgent (`render`), so nothing here counts toward `urgent_pending`.
async fn latest_writer(shared: Arc<Shared>, conn: Connection, header: Bytes, class: Class, slot: Arc<LatestSlot>) {
    let stream = open(&conn, class, header).await;
    let Some(mut stream) = stream else {
        slot.closed.store(true, Ordering::Relaxed);
        return;
    };
    loop {
        let next = slot.slot.lock().unwrap().take();
        match next {
            Some(data) => {
                let len = data.len();
                if !write_message(&mut stream, data).await {
                    break;
                }
                sent(&shared, class, len);
            }
            None if slot.closed.load(Ordering::Relaxed) => break,
            None => slot.notify.notified().await,
        }
    }
    slot.closed.store(true, Ordering::Relaxed);
    let _ = stream.finish();
}

/// `vpn_packet`: lowest class. Waits while urgent messages are queued, then
/// sends one datagram; quinn's small datagram buffer bounds what can sit in
/// front of later urgent data.
async fn datagram_writer(
    shared: Arc<Shared>,
    conn: Connection,
    header: Bytes,
    class: Class,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    fifo: Arc<Fifo>,
) {
    while let Some(data) = rx.recv().await {
        let mut spins = 0u32;
        while shared.urgent_pending.load(Ordering::Relaxed) > 0 && spins < 10_000 {
            spins += 1;
            if spins < 64 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        taken(&shared, &fifo, class);
        let Some(datagram) = datagram(&header, &data, conn.max_datagram_size()) else {
            add(&shared.counters.class(class).drops, 1);
            continue;
        };
        if conn.send_datagram_wait(datagram).await.is_err() {
            break;
        }
        sent(&shared, class, data.len());
    }
    rx.close();
    while rx.try_recv().is_ok() {
        add(&shared.counters.class(class).drops, 1);
        taken(&shared, &fifo, class);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Header;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    fn fifo() -> (Queue, Arc<Fifo>, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let fifo = Arc::new(Fifo::new(tx));
        (Queue::Fifo(fifo.clone()), fifo, rx)
    }

    fn outcome(e: Option<Enqueued>) -> &'static str {
        match e {
            Some(Enqueued::Ready) => "ready",
            Some(Enqueued::Dropped) => "dropped",
            Some(Enqueued::Wait(_)) => "wait",
            None => "closed",
        }
    }

    fn msg(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn a_full_drop_when_full_queue_drops_new_messages_until_the_writer_takes_one() {
        let (queue, fifo, mut rx) = fifo();
        let queueing = Class::Telemetry.queueing();
        let Queueing::DropWhenFull { capacity } = queueing else { panic!("telemetry drops when full") };
        for i in 0..capacity {
            assert_eq!(outcome(enqueue(&queue, queueing, &msg(&i.to_string()), None)), "ready");
        }
        assert_eq!(outcome(enqueue(&queue, queueing, &msg("one too many"), None)), "dropped");
        assert_eq!(rx.try_recv().unwrap(), msg("0"), "the oldest stays first");
        fifo.taken();
        assert_eq!(outcome(enqueue(&queue, queueing, &msg("room again"), None)), "ready");
        assert_eq!(fifo.depth.load(Ordering::Acquire), capacity);
    }

    #[test]
    fn a_back_pressured_queue_keeps_every_message_and_asks_for_a_wait_until_it_drains() {
        let (queue, fifo, mut rx) = fifo();
        let queueing = Queueing::Backpressure { capacity: 2 };
        assert_eq!(outcome(enqueue(&queue, queueing, &msg("a"), None)), "ready");
        assert_eq!(outcome(enqueue(&queue, queueing, &msg("b"), None)), "ready");
        let Some(Enqueued::Wait(room)) = enqueue(&queue, queueing, &msg("c"), None) else { panic!("over depth: wait") };
        let mut ready = pin!(room.ready());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(ready.as_mut().poll(&mut cx).is_pending(), "three queued, room for two");
        assert_eq!(rx.try_recv().unwrap(), msg("a"));
        fifo.taken();
        assert!(ready.as_mut().poll(&mut cx).is_ready(), "back to two");
        assert_eq!([rx.try_recv().unwrap(), rx.try_recv().unwrap()], [msg("b"), msg("c")], "nothing was dropped, in order");
    }

    #[test]
    fn a_wait_ends_when_the_writer_goes_away() {
        let (queue, _fifo, rx) = fifo();
        let queueing = Queueing::Backpressure { capacity: 0 };
        let Some(Enqueued::Wait(room)) = enqueue(&queue, queueing, &msg("a"), None) else { panic!("over depth: wait") };
        drop(rx);
        let mut ready = pin!(room.ready());
        assert!(ready.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready());
    }

    #[test]
    fn urgent_messages_count_as_pending_until_taken_and_a_closed_writer_takes_nothing() {
        let (queue, fifo, rx) = fifo();
        let pending = AtomicUsize::new(0);
        let queueing = Class::Input.queueing();
        enqueue(&queue, queueing, &msg("k1"), Some(&pending));
        enqueue(&queue, queueing, &msg("k2"), Some(&pending));
        assert_eq!(pending.load(Ordering::Relaxed), 2);
        drop(rx);
        assert_eq!(outcome(enqueue(&queue, queueing, &msg("k3"), Some(&pending))), "closed");
        assert_eq!(pending.load(Ordering::Relaxed), 2, "the failed send is not counted");
        assert_eq!(fifo.depth.load(Ordering::Acquire), 2);
    }

    #[test]
    fn a_latest_only_queue_keeps_just_the_newest_unsent_message() {
        let slot = Arc::new(LatestSlot::default());
        let queue = Queue::Latest(slot.clone());
        let queueing = Class::Render.queueing();
        assert_eq!(queueing, Queueing::LatestOnly);
        assert_eq!(outcome(enqueue(&queue, queueing, &msg("frame 1"), None)), "ready");
        assert_eq!(outcome(enqueue(&queue, queueing, &msg("frame 2"), None)), "dropped");
        assert_eq!(outcome(enqueue(&queue, queueing, &msg("frame 3"), None)), "dropped");
        assert_eq!(slot.slot.lock().unwrap().take(), Some(msg("frame 3")));
        assert_eq!(outcome(enqueue(&queue, queueing, &msg("frame 4"), None)), "ready", "the writer took the last one");
    }

    #[test]
    fn dropping_the_sender_of_a_latest_only_queue_ends_its_writer() {
        let slot = Arc::new(LatestSlot::default());
        let sender = Sender::new("b".into(), Queue::Latest(slot.clone()));
        assert!(sender.alive());
        drop(sender);
        assert!(slot.closed.load(Ordering::Relaxed));
    }

    #[test]
    fn routes_name_the_first_hop_and_the_path_after_it() {
        let relays = ["r1".to_string(), "r2".to_string()];
        assert_eq!(hops("c", Class::Input, &[]), ("c".to_string(), vec![]));
        assert_eq!(hops("c", Class::Input, &relays[..1]), ("r1".to_string(), vec!["c".to_string()]));
        assert_eq!(hops("c", Class::Input, &relays), ("r1".to_string(), vec!["r2".to_string(), "c".to_string()]));
        assert_eq!(hops("c", Class::FabricControl, &relays), ("c".to_string(), vec![]), "fabric_control never follows a route");
    }

    #[test]
    fn a_datagram_is_the_header_then_the_payload_and_is_dropped_when_too_large() {
        let header = Header { class: Class::VpnPacket, origin: String::new(), path: vec!["c".into()] }.encode();
        let payload = [7u8; 1000];
        let fits = header.len() + payload.len();
        let sent = datagram(&header, &payload, Some(fits)).expect("fits exactly");
        let (decoded, used) = Header::decode(&sent).unwrap();
        assert_eq!(decoded.path, vec!["c".to_string()]);
        assert_eq!(&sent[used..], &payload[..]);
        assert_eq!(datagram(&header, &payload, Some(fits - 1)), None);
        assert_eq!(datagram(&header, &payload, None), None, "datagrams unsupported by the peer");
    }
}
