//! State shared by the endpoint, its connection tasks (`connection`), the
//! readers (`inbound`) and the writers (`outbound`): peers, channel
//! authorization, routes, send queues, relay leases, counters, and the
//! channels that carry deliveries and events to the application. It lives
//! here, apart from `Endpoint`, so those modules depend on it and not on
//! each other.

use crate::class::Class;
use crate::event::{Delivery, Event};
use crate::identity::NodeCert;
use crate::queue::Sender;
use crate::session_stream::IncomingSessionStream;
use crate::session_table::SessionTable;
use crate::stats::Counters;
use crate::tls::{LocalIdentity, SharedTrust};
use quinn::{Connection, TransportConfig, VarInt};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub(crate) struct PeerConn {
    pub conn: Connection,
    pub cert: NodeCert,
    pub cert_der: Vec<u8>,
    /// Node id of the side that dialled; duplicates keep the smaller one's.
    pub initiator: String,
    /// When the certificate this node presented on the connection expires:
    /// one made before a renewal is replaced (see `connection::keeps_new`).
    pub local_not_after: i64,
    pub local_close_reason: Arc<Mutex<Option<String>>>,
}

impl PeerConn {
    pub fn close(&self, reason: &str) {
        *self.local_close_reason.lock().unwrap() = Some(reason.to_string());
        self.conn.close(close_code(reason), reason.as_bytes());
    }
}

/// The QUIC application close code for a spec failure reason (the reason
/// itself travels as the close reason).
pub(crate) fn close_code(reason: &str) -> VarInt {
    VarInt::from_u32(match reason {
        "shutdown" => 0,
        "certificate_revoked" => 1,
        "certificate_expired" => 2,
        "certificate_invalid" | "wrong_cluster" | "wrong_node" => 3,
        "duplicate" => 4,
        "peer_draining" => 5,
        "policy_denied" => 6,
        _ => 7,
    })
}

#[derive(Default)]
pub(crate) struct State {
    pub peers: HashMap<String, PeerConn>,
    pub allowed: HashMap<String, HashSet<Class>>,
    pub routes: HashMap<String, Vec<String>>,
    /// By destination, then class: looked up on every send without allocating.
    pub senders: HashMap<String, HashMap<Class, Sender>>,
}

impl State {
    /// Senders whose streams ride the connection to `node_id` end with it.
    pub fn drop_senders_through(&mut self, node_id: &str) {
        for by_class in self.senders.values_mut() {
            by_class.retain(|_, s| s.first_hop() != node_id);
        }
    }

    /// fabric_control carries the hello that leads to authorization, so it is
    /// the one class open between authenticated peers before it. It is
    /// hop-by-hop: never routed, never relayed.
    pub fn allows(&self, node: &str, class: Class) -> bool {
        class == Class::FabricControl || self.allowed.get(node).is_some_and(|s| s.contains(&class))
    }
}

/// Which end-node pairs this relay may forward for, until when (from the
/// relay's signed snapshot). Without a current lease nothing is relayed.
#[derive(Default)]
pub struct RelayLeases {
    /// Each leased pair under both of its ends, so a check borrows and never allocates.
    peers_of: HashMap<String, HashSet<String>>,
    expires_unix: i64,
}

impl RelayLeases {
    pub fn new(pairs: Vec<(String, String)>, expires_unix: i64) -> RelayLeases {
        let mut peers_of: HashMap<String, HashSet<String>> = HashMap::new();
        for (a, b) in pairs {
            peers_of.entry(a.clone()).or_default().insert(b.clone());
            peers_of.entry(b).or_default().insert(a);
        }
        RelayLeases { peers_of, expires_unix }
    }

    /// Runs for every relayed stream and datagram.
    pub fn covers(&self, a: &str, b: &str, now_unix: i64) -> bool {
        now_unix < self.expires_unix && self.peers_of.get(a).is_some_and(|peers| peers.contains(b))
    }
}

pub(crate) struct Shared {
    pub node_id: String,
    pub quic: quinn::Endpoint,
    /// This node's certificate and key for new dialled handshakes (accepted
    /// ones use the server config installed with it); replaced on renewal.
    pub identity: RwLock<LocalIdentity>,
    /// When that certificate expires (written under the `identity` lock).
    pub own_not_after: AtomicI64,
    pub trust: SharedTrust,
    pub transport: Arc<TransportConfig>,
    pub transport_idle: Duration,
    /// Writers may be started from a caller's thread (napi), outside tokio.
    pub runtime: tokio::runtime::Handle,
    pub state: Mutex<State>,
    pub counters: Counters,
    pub relay_enabled: AtomicBool,
    pub leases: RwLock<RelayLeases>,
    /// Messages queued on urgent classes and not yet handed to QUIC; the
    /// `vpn_packet` sender waits while this is above zero.
    pub urgent_pending: AtomicUsize,
    /// Bumped on every authorization or trust change; open streams recheck.
    pub policy_epoch: AtomicU64,
    pub urgent_tx: mpsc::Sender<Delivery>,
    pub bulk_tx: mpsc::Sender<Delivery>,
    pub inbox: tokio::sync::Mutex<(mpsc::Receiver<Delivery>, mpsc::Receiver<Delivery>)>,
    /// Served sessions and live session streams. Lock order: `state`, then this.
    pub sessions: Arc<Mutex<SessionTable>>,
    /// Accepted session streams on their way to `accept_session_stream`;
    /// taken away by `close`, which ends that wait.
    pub session_tx: Mutex<Option<mpsc::Sender<IncomingSessionStream>>>,
    pub session_rx: tokio::sync::Mutex<mpsc::Receiver<IncomingSessionStream>>,
    pub events_tx: mpsc::UnboundedSender<Event>,
    pub events_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>,
    pub socket_buffers: (usize, usize),
    /// Set once by `close`: every pending `recv`, `next_event` and
    /// `accept_session_stream` settles (the channels' senders live in this
    /// struct, so their receivers alone would wait forever).
    pub closed: watch::Sender<bool>,
    /// VPN connections attached to TUN devices (`vpn`): their pumps and counters.
    pub vpn: crate::vpn_table::VpnTable,
}

impl Shared {
    /// Resolves once the endpoint is closed (at once if it already is).
    pub async fn until_closed(&self) {
        let mut closed = self.closed.subscribe();
        let _ = closed.wait_for(|c| *c).await;
    }

    pub fn emit(&self, event: Event) {
        let _ = self.events_tx.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_covers_its_pair_in_either_direction_until_it_expires() {
        let leases = RelayLeases::new(vec![("a".into(), "c".into()), ("a".into(), "d".into())], 100);
        assert!(leases.covers("a", "c", 99));
        assert!(leases.covers("c", "a", 99));
        assert!(leases.covers("d", "a", 0));
        assert!(!leases.covers("c", "d", 99), "two ends each leased with a third node are not a pair");
        assert!(!leases.covers("a", "b", 99));
        assert!(!leases.covers("a", "c", 100), "expires_unix itself is past the lease");
        assert!(!RelayLeases::default().covers("a", "c", 0));
    }

    #[test]
    fn fabric_control_is_open_to_every_peer_and_other_classes_need_authorization() {
        let mut state = State::default();
        state.allowed.insert("b".into(), [Class::Input].into());
        assert!(state.allows("b", Class::Input));
        assert!(!state.allows("b", Class::Clipboard));
        assert!(state.allows("stranger", Class::FabricControl));
        assert!(!state.allows("stranger", Class::Input));
    }

    #[test]
    fn close_codes_group_the_spec_reasons() {
        assert_eq!(close_code("shutdown"), VarInt::from_u32(0));
        assert_eq!(close_code("wrong_node"), close_code("certificate_invalid"));
        assert_eq!(close_code("certificate_revoked"), VarInt::from_u32(1));
        assert_eq!(close_code("something_new"), VarInt::from_u32(7));
    }
}
