//! The VPN pump: joins a TUN device (crates/fabric-tun) to the mesh's
//! `vpn_packet` datagrams, in Rust, so no packet passes through JavaScript.
//!
//! Out (device → mesh): each queue of the device has a reader task; every
//! packet is looked up in the connection's routes (destination CIDR → peer
//! node, longest prefix first), framed with the connection id and the
//! current fencing epoch (`fabric_tun::frame`) and queued on `vpn_packet`:
//! the lowest class, a short drop-when-full queue, sent only while no
//! urgent class has data waiting (see `class` and `outbound`). When that
//! queue is full the reader holds the device for up to `ROOM_WAIT` instead
//! of dropping: the kernel then slows the sender's TCP (a slow link, not a
//! loss to retransmit), and one slow peer stalls the others only briefly.
//! A packet larger than the datagram the path to its peer carries now
//! (path-MTU discovery moves it) is answered with ICMP "packet too big"
//! written back into the device (`fabric_tun::too_big`) once that size has
//! settled (`ROOM_SETTLED`; before, it is dropped unanswered), so a TUN MTU
//! above one peer's path costs a round trip, never a black hole. Without a
//! current epoch (never set, or fenced) the node sends nothing: an owner
//! that lost its lease stops on its own.
//!
//! In (mesh → device): `inbound` hands every authorized `vpn_packet`
//! datagram here while a connection is attached. A packet is written to
//! the device only when, in this order: the frame decodes and names an
//! attached connection; its epoch is the one this node was told
//! (`EpochGate`), so a fenced owner's traffic is refused even while its
//! process runs; its source address routes back to the node that sent it
//! (the routes double as allowed sources, like WireGuard's allowed IPs, so
//! one peer cannot pose as another's addresses); and its destination
//! passes the connection's CIDR filter (the egress allow/deny list). Each
//! refusal is counted, never forwarded. A bounded queue feeds the device's
//! writer task (batched, GRO when offloads are on; it gives a burst one
//! turn to arrive whole, since each write runs the receiving stack once);
//! when the queue is full the packet is dropped and counted.

use crate::class::Class;
use crate::endpoint::Endpoint;
use crate::error::FabricError;
use crate::queue::Enqueued;
use crate::vpn_table::{add, parse_filter, parse_routes, route_for, ConnectionCounters, DialPolicy, Routes, VpnConnection};
use bytes::{Bytes, BytesMut};
use fabric_tun::epoch::EpochChange;
use fabric_tun::packet::addresses;
use fabric_tun::{frame, too_big, CidrFilter, EpochGate, Tun};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Packets waiting for the device writer; more are dropped (the kernel's
/// own TUN queue is behind it, so a deeper one would only add delay).
const TO_DEVICE_QUEUE: usize = 1024;
/// Packets the writer takes at once (one GRO pass).
const WRITE_BATCH: usize = 64;
/// How long a reader waits before reading again after an error (EIO while
/// the interface is down or moving between namespaces).
const READ_RETRY: Duration = Duration::from_millis(50);
/// How long a reader holds its device for a peer whose queue is full
/// before dropping the packet after all.
const ROOM_WAIT: Duration = Duration::from_millis(2);
/// How long a peer's path size must hold before a packet above it is
/// answered with "too big" (quinn's discovery searches for well under a
/// second after a channel opens; Linux keeps a learned path MTU 10 minutes).
const ROOM_SETTLED: Duration = Duration::from_secs(2);

impl Endpoint {
    /// Joins `tun` to the mesh for VPN connection `id`. Nothing moves until
    /// `vpn_set_epoch`; routes and the filter may be set before or after.
    pub fn vpn_attach(&self, id: &str, tun: &Tun) -> Result<(), FabricError> {
        if frame::header(id, 0).is_none() || !crate::wire::valid_id(id) {
            return Err(FabricError::ConfigInvalid(format!("vpn connection id {id:?}: 1-{} id characters", frame::MAX_CONNECTION_ID)));
        }
        let mut connections = self.shared.vpn.connections.write().unwrap();
        if connections.contains_key(id) {
            return Err(FabricError::ConfigInvalid(format!("vpn connection {id:?} is already attached")));
        }
        let (to_device, from_mesh) = mpsc::channel(TO_DEVICE_QUEUE);
        let (stop, _) = watch::channel(false);
        let conn = Arc::new(VpnConnection {
            id: id.to_string(),
            gate: EpochGate::default(),
            routes: RwLock::new(Arc::new(Vec::new())),
            filter: RwLock::new(Arc::new(CidrFilter::default())),
            to_device,
            counters: ConnectionCounters::default(),
            stop,
            device: tun.name().to_string(),
            dial: RwLock::new(Arc::new(DialPolicy::default())),
            epoch_changed: watch::channel(0).0,
        });
        let queues = tun.queues();
        let runtime = &self.shared.runtime;
        for queue in &queues {
            runtime.spawn(device_reader(self.clone(), conn.clone(), queue.reader(), conn.stop.subscribe()));
        }
        if let Some(first) = queues.first() {
            runtime.spawn(device_writer(conn.clone(), first.writer(), from_mesh, conn.stop.subscribe()));
        }
        connections.insert(id.to_string(), conn);
        Ok(())
    }

    /// Stops the pump of `id`; the device itself closes when its owner drops it.
    pub fn vpn_detach(&self, id: &str) -> Result<(), FabricError> {
        let conn = self.shared.vpn.connections.write().unwrap().remove(id);
        let conn = conn.ok_or_else(|| FabricError::VpnConnectionUnknown(format!("{id:?} is not attached here")))?;
        conn.stop.send_replace(true);
        Ok(())
    }

    /// The fencing epoch of the lease this node was told about: packets of
    /// `id` are sent with it and only packets carrying it are accepted.
    pub fn vpn_set_epoch(&self, id: &str, epoch: u64) -> Result<(), FabricError> {
        let conn = self.shared.vpn.get(id)?;
        let change = conn.gate.set(epoch);
        conn.epoch_changed.send_modify(|n| *n += 1);
        match change {
            EpochChange::Set => Ok(()),
            EpochChange::Stale { highest } => {
                Err(FabricError::EpochStale(format!("{id}: epoch {epoch} is not above {highest} (epochs start at 1 and never go back)")))
            }
        }
    }

    /// Lets `epoch` of `id` pass for `within` more and then stops it by
    /// itself, in both directions, unless held again (the owner's lease
    /// deadline, enforced here so a stalled caller cannot overrun it).
    /// False when `epoch` is not the current one (nothing changes).
    pub fn vpn_hold_until(&self, id: &str, epoch: u64, within: Duration) -> Result<bool, FabricError> {
        Ok(self.shared.vpn.get(id)?.gate.hold_until(epoch, within))
    }

    /// Stops `id` at once in both directions until a newer epoch is set.
    pub fn vpn_fence(&self, id: &str) -> Result<(), FabricError> {
        let conn = self.shared.vpn.get(id)?;
        conn.gate.fence();
        conn.epoch_changed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Where packets of `id` go (destination CIDR → peer node), which is
    /// also which sources each peer may send from.
    pub fn vpn_set_routes(&self, id: &str, routes: &[(String, String)]) -> Result<(), FabricError> {
        let conn = self.shared.vpn.get(id)?;
        *conn.routes.write().unwrap() = Arc::new(parse_routes(routes)?);
        Ok(())
    }

    /// Which destinations packets of `id` arriving from the mesh may reach
    /// through this node's device (egress allow/deny; deny wins).
    pub fn vpn_set_filter(&self, id: &str, allow: &[String], deny: &[String]) -> Result<(), FabricError> {
        let conn = self.shared.vpn.get(id)?;
        *conn.filter.write().unwrap() = Arc::new(parse_filter(allow, deny)?);
        Ok(())
    }

    pub fn vpn_stats(&self) -> serde_json::Value {
        let table = &self.shared.vpn;
        let connections: serde_json::Map<String, serde_json::Value> = table
            .connections
            .read()
            .unwrap()
            .values()
            .map(|c| {
                let mut v = c.counters.to_json();
                v["epoch"] = serde_json::json!(c.gate.current());
                v["device"] = serde_json::json!(c.device);
                (c.id.clone(), v)
            })
            .collect();
        let mut v = table.counters.to_json();
        v["connections"] = serde_json::Value::Object(connections);
        v
    }
}

/// The frame header for the current epoch, rebuilt only when the epoch moves.
#[derive(Default)]
struct HeaderCache {
    epoch: Option<u64>,
    header: Vec<u8>,
}

impl HeaderCache {
    /// The header for the epoch the gate holds now (read per packet, so a
    /// packet read after a fence is never stamped with the old epoch).
    fn current(&mut self, conn: &VpnConnection) -> Option<&[u8]> {
        let epoch = conn.gate.current()?;
        if self.epoch != Some(epoch) {
            self.header = frame::header(&conn.id, epoch)?;
            self.epoch = Some(epoch);
        }
        Some(&self.header)
    }
}

/// What each peer's path carries: asked once per batch (path-MTU discovery
/// may raise or lower it meanwhile), and since when it has not changed.
#[derive(Default)]
struct PathRooms {
    /// Peer, room (None: no path or no datagrams), since when, asked in this batch.
    peers: Vec<(String, Option<usize>, Instant, bool)>,
}

impl PathRooms {
    fn new_batch(&mut self) {
        self.peers.iter_mut().for_each(|p| p.3 = false);
    }

    /// The largest framed packet the path to `peer` carries now, and whether
    /// that size has held for `ROOM_SETTLED` (discovery has finished
    /// searching; a "too big" answer sent during the search would pin the
    /// sender's path MTU low for minutes).
    fn room(&mut self, endpoint: &Endpoint, peer: &str) -> (Option<usize>, bool) {
        let now = Instant::now();
        let i = match self.peers.iter().position(|p| p.0 == peer) {
            Some(i) => i,
            None => {
                self.peers.push((peer.to_string(), None, now, false));
                self.peers.len() - 1
            }
        };
        let entry = &mut self.peers[i];
        if !entry.3 {
            let room = endpoint.datagram_room(peer, Class::VpnPacket);
            if room != entry.1 {
                (entry.1, entry.2) = (room, now);
            }
            entry.3 = true;
        }
        (entry.1, now.duration_since(entry.2) >= ROOM_SETTLED)
    }
}

/// One queue's reader: device → mesh.
async fn device_reader(
    endpoint: Endpoint,
    conn: Arc<VpnConnection>,
    mut reader: fabric_tun::device::Reader,
    mut stop: watch::Receiver<bool>,
) {
    let mut out: Vec<(String, Bytes)> = Vec::with_capacity(64);
    let mut headers = HeaderCache::default();
    let mut rooms = PathRooms::default();
    let mut gave_up: Vec<String> = Vec::new();
    loop {
        let k = &conn.counters;
        // Routes, and what each peer's path carries, are taken once per batch (after the read returned).
        let mut routes: Option<Arc<Routes>> = None;
        rooms.new_batch();
        gave_up.clear();
        let read = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            read = reader.read_batch(|packet| {
                add(&k.device_packets, 1);
                add(&k.device_bytes, packet.len() as u64);
                let Some(header) = headers.current(&conn) else {
                    add(&k.not_active, 1);
                    return;
                };
                let routes = routes.get_or_insert_with(|| conn.routes.read().unwrap().clone());
                let Some(peer) = addresses(packet).and_then(|a| route_for(routes, a.destination)) else {
                    add(&k.no_route, 1);
                    return;
                };
                if let (Some(room), settled) = rooms.room(&endpoint, peer) {
                    if header.len() + packet.len() > room {
                        add(&k.too_big, 1);
                        // While discovery is still searching, the packet is dropped unanswered (it may fit in a moment).
                        let answer = settled.then(|| too_big::answer(packet, room.saturating_sub(header.len()) as u32)).flatten();
                        if let Some(answer) = answer {
                            let _ = conn.to_device.try_send(Bytes::from(answer));
                        }
                        return;
                    }
                }
                let mut framed = BytesMut::with_capacity(header.len() + packet.len());
                framed.extend_from_slice(header);
                framed.extend_from_slice(packet);
                out.push((peer.to_string(), framed.freeze()));
            }) => read,
        };
        if read.is_err() {
            add(&k.read_errors, 1);
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(READ_RETRY) => {}
            }
        }
        for (peer, framed) in out.drain(..) {
            let len = framed.len() as u64;
            let hold = !gave_up.contains(&peer);
            let mut sent = endpoint.send_unless_full(&peer, Class::VpnPacket, framed.clone(), hold);
            if let Ok(Err(room)) = sent {
                // The peer's queue is full: hold the device rather than drop
                // (the sender's TCP sees a slow link, not a loss), but only
                // briefly and once per batch, so one slow peer cannot stall
                // the others behind it.
                add(&k.send_waits, 1);
                if tokio::time::timeout(ROOM_WAIT, room.ready()).await.is_err() {
                    gave_up.push(peer.clone());
                }
                sent = endpoint.send_unless_full(&peer, Class::VpnPacket, framed, false);
            }
            match sent {
                Ok(Ok(Enqueued::Ready | Enqueued::Wait(_))) => {
                    add(&k.sent_packets, 1);
                    add(&k.sent_bytes, len);
                }
                Ok(Ok(Enqueued::Dropped) | Err(_)) | Err(_) => add(&k.send_drops, 1),
            }
        }
    }
}

/// The device writer: mesh → device, in batches.
async fn device_writer(
    conn: Arc<VpnConnection>,
    mut writer: fabric_tun::device::Writer,
    mut from_mesh: mpsc::Receiver<Bytes>,
    mut stop: watch::Receiver<bool>,
) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        let n = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            n = from_mesh.recv_many(&mut batch, WRITE_BATCH) => n,
        };
        if n == 0 {
            return;
        }
        // Woken by the first packet of a burst the mesh is still handing
        // over: give it one turn to finish, so the burst is merged (GRO) into
        // few large writes. Each write runs the receiving stack once, so
        // larger writes are what make the device cheap (docs/bench/vpn.md).
        if n < WRITE_BATCH {
            tokio::task::yield_now().await;
            while batch.len() < WRITE_BATCH {
                match from_mesh.try_recv() {
                    Ok(packet) => batch.push(packet),
                    Err(_) => break,
                }
            }
        }
        let n = batch.len();
        let bytes: u64 = batch.iter().map(|p| p.len() as u64).sum();
        match writer.write_batch(&batch).await {
            Ok(()) => {
                add(&conn.counters.written_packets, n as u64);
                add(&conn.counters.write_batches, 1);
                add(&conn.counters.written_bytes, bytes);
            }
            Err(_) => add(&conn.counters.write_errors, 1),
        }
        batch.clear();
    }
}
