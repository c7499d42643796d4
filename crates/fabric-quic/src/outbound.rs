//! Sending: one queue and one writer task per (destination, class). The
//! writer owns a QUIC stream (or, for `vpn_packet`, sends datagrams) on the
//! connection to the first hop of the destination's route.

use crate::class::{Carrier, Class, Queueing};
use crate::endpoint::Endpoint;
use crate::error::FabricError;
use crate::queue::{Enqueued, Fifo, LatestSlot, Queue, Sender, WaitForRoom};
use crate::shared::Shared;
use crate::stats::add;
use crate::wire::Header;
use bytes::{BufMut, Bytes, BytesMut};
use quinn::Connection;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

impl Endpoint {
    /// Queues `data` for `to` on `class`, in call order. Never blocks: a
    /// back-pressured class answers `Wait` when its queue is over depth.
    pub fn send_now(&self, to: &str, class: Class, data: Bytes) -> Result<Enqueued, FabricError> {
        let shared = &self.shared;
        for _ in 0..2 {
            let queue = sender_for(shared, to, class)?;
            let urgent = class.is_urgent();
            let outcome = match (&queue, class.queueing()) {
                (Queue::Fifo(f), Queueing::DropWhenFull { capacity }) if f.depth.load(Ordering::Acquire) >= capacity => Some(Enqueued::Dropped),
                (Queue::Fifo(f), queueing) => {
                    f.depth.fetch_add(1, Ordering::AcqRel);
                    if urgent {
                        shared.urgent_pending.fetch_add(1, Ordering::Relaxed);
                    }
                    if f.tx.send(data.clone()).is_err() {
                        f.depth.fetch_sub(1, Ordering::AcqRel);
                        if urgent {
                            shared.urgent_pending.fetch_sub(1, Ordering::Relaxed);
                        }
                        None
                    } else {
                        match queueing {
                            Queueing::Backpressure { capacity } if f.depth.load(Ordering::Acquire) > capacity => {
                                Some(Enqueued::Wait(WaitForRoom { fifo: f.clone(), capacity }))
                            }
                            _ => Some(Enqueued::Ready),
                        }
                    }
                }
                (Queue::Latest(slot), _) => {
                    let replaced = slot.slot.lock().unwrap().replace(data.clone()).is_some();
                    slot.notify.notify_one();
                    Some(if replaced { Enqueued::Dropped } else { Enqueued::Ready })
                }
            };
            match outcome {
                Some(enqueued) => {
                    if matches!(enqueued, Enqueued::Dropped) {
                        add(&shared.counters.class(class).drops, 1);
                    }
                    return Ok(enqueued);
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

fn sender_for(shared: &Arc<Shared>, to: &str, class: Class) -> Result<Queue, FabricError> {
    let mut state = shared.state.lock().unwrap();
    if !state.allows(to, class) {
        add(&shared.counters.class(class).refused, 1);
        return Err(FabricError::ChannelClassDenied(format!("{} is not authorized with {to}", class.name())));
    }
    if let Some(sender) = state.senders.get(to).and_then(|by_class| by_class.get(&class)).filter(|s| s.alive()) {
        return Ok(sender.queue.clone());
    }
    // fabric_control is the channel's own control (hello, heartbeats): it
    // always goes straight to the peer, never along a route.
    let relays = if class == Class::FabricControl { Vec::new() } else { state.routes.get(to).cloned().unwrap_or_default() };
    let first_hop = relays.first().cloned().unwrap_or_else(|| to.to_string());
    let conn = state
        .peers
        .get(&first_hop)
        .map(|p| p.conn.clone())
        .ok_or_else(|| FabricError::NetworkUnreachable(format!("no connection to {first_hop}")))?;
    let path = if relays.is_empty() { Vec::new() } else { relays[1..].iter().cloned().chain([to.to_string()]).collect() };
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
    state.senders.entry(to.to_string()).or_default().insert(class, Sender::new(first_hop, queue.clone()));
    Ok(queue)
}

async fn open(conn: &Connection, class: Class, header: Bytes) -> Option<quinn::SendStream> {
    let mut stream = conn.open_uni().await.ok()?;
    stream.set_priority(class.priority()).ok()?;
    stream.write_chunk(header).await.ok()?;
    Some(stream)
}

async fn write_message(stream: &mut quinn::SendStream, data: Bytes) -> bool {
    stream.write_all(&(data.len() as u32).to_be_bytes()).await.is_ok() && stream.write_chunk(data).await.is_ok()
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

async fn stream_writer(shared: Arc<Shared>, conn: Connection, header: Bytes, class: Class, mut rx: mpsc::UnboundedReceiver<Bytes>, fifo: Arc<Fifo>) {
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
async fn datagram_writer(shared: Arc<Shared>, conn: Connection, header: Bytes, class: Class, mut rx: mpsc::UnboundedReceiver<Bytes>, fifo: Arc<Fifo>) {
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
        let mut datagram = BytesMut::with_capacity(header.len() + data.len());
        datagram.put_slice(&header);
        datagram.put_slice(&data);
        taken(&shared, &fifo, class);
        if datagram.len() > conn.max_datagram_size().unwrap_or(0) {
            add(&shared.counters.class(class).drops, 1);
            continue;
        }
        if conn.send_datagram_wait(datagram.freeze()).await.is_err() {
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
