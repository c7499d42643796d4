//! One mesh endpoint per node and cluster: a QUIC socket that dials and
//! accepts mutually authenticated connections, keeps at most one connection
//! per peer node, and carries channel classes to direct peers or through
//! relays (see `inbound` and `outbound`).
//!
//! Policy lives in TypeScript (the channel machine and the routing engine);
//! this side enforces it: which classes each node may exchange
//! (`authorize`), which relays reach a destination (`set_route`), whether
//! this node relays (`set_relay`), and which certificates are trusted or
//! revoked (`set_trust`, `set_revoked`), closing live connections at once
//! when they stop being trusted. The node's own certificate can be renewed
//! at runtime (`set_certificate`) without dropping live connections.

use crate::class::Class;
use crate::identity::{pem_certificates, NodeCert, Refusal, Trust};
use crate::outbound::Sender;
use crate::stats::Counters;
use crate::tls::{self, LocalIdentity, PeerVerifier, SharedTrust};
use bytes::Bytes;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, ConnectionError, TransportConfig, VarInt};
use rustls::pki_types::CertificateDer;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FabricError {
    pub code: &'static str,
    pub message: String,
}

impl FabricError {
    pub fn new(code: &'static str, message: impl Into<String>) -> FabricError {
        FabricError { code, message: message.into() }
    }
}

impl std::fmt::Display for FabricError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for FabricError {}

/// Least queueing delay tolerated before the window is capped (the path's min RTT when larger).
pub const DEFAULT_QUEUE_DELAY_TARGET: Duration = Duration::from_millis(1);

/// 1 MiB per stream: a bulk class can keep at most this much queued ahead of
/// the receiver, which is what delays `input` behind it (docs/bench/mesh.md:
/// 8 MiB gave ~90× the idle p99 on loopback, 1 MiB ~10×). It caps one
/// stream at 1 MiB per round trip (~20 MB/s at 50 ms); each bulk class has
/// its own stream.
pub const DEFAULT_STREAM_WINDOW: u32 = 1 << 20;

pub struct EndpointOptions {
    pub cluster_id: String,
    pub node_id: String,
    pub listen: SocketAddr,
    pub cert_pem: String,
    pub key_pkcs8: Vec<u8>,
    pub ca_pems: Vec<String>,
    pub revoked_serials: Vec<String>,
    /// Transport-level liveness: a silent peer is dropped after this.
    pub idle_timeout: Duration,
    pub keep_alive: Duration,
    pub udp_buffer_bytes: usize,
    pub segmentation_offload: bool,
    pub inbox_capacity: usize,
    /// Queueing delay the congestion controller tolerates above the path's
    /// minimum RTT (see `congestion`); None: plain CUBIC.
    pub queue_delay_target: Option<Duration>,
    /// Receive window per stream: how much of one class may wait unread at
    /// the receiver (see `DEFAULT_STREAM_WINDOW`).
    pub stream_window_bytes: u32,
}

impl EndpointOptions {
    pub fn new(cluster_id: &str, node_id: &str, cert_pem: &str, key_pkcs8: Vec<u8>, ca_pem: &str) -> EndpointOptions {
        EndpointOptions {
            cluster_id: cluster_id.into(),
            node_id: node_id.into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            cert_pem: cert_pem.into(),
            key_pkcs8,
            ca_pems: vec![ca_pem.into()],
            revoked_serials: Vec::new(),
            idle_timeout: Duration::from_secs(15),
            keep_alive: Duration::from_secs(5),
            udp_buffer_bytes: 4 << 20,
            segmentation_offload: true,
            inbox_capacity: 1024,
            queue_delay_target: Some(DEFAULT_QUEUE_DELAY_TARGET),
            stream_window_bytes: DEFAULT_STREAM_WINDOW,
        }
    }
}

/// A message delivered to this node.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The originating node.
    pub from: String,
    /// The last relay, when the message did not come directly.
    pub via: Option<String>,
    pub class: Class,
    pub data: Bytes,
}

/// Something the channel machines in TypeScript must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    PeerUp { node_id: String, serial: String, not_after_unix: i64, dialled: bool },
    PeerDown { node_id: String, reason: String },
    HandshakeFailed { node_id: Option<String>, reason: String },
    Refused { node_id: String, class: Class, reason: &'static str },
}

impl Event {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Event::PeerUp { node_id, serial, not_after_unix, dialled } => serde_json::json!({
                "type": "peer_up", "node_id": node_id, "serial": serial, "not_after_unix": not_after_unix, "dialled": dialled,
            }),
            Event::PeerDown { node_id, reason } => serde_json::json!({ "type": "peer_down", "node_id": node_id, "reason": reason }),
            Event::HandshakeFailed { node_id, reason } => serde_json::json!({ "type": "handshake_failed", "node_id": node_id, "reason": reason }),
            Event::Refused { node_id, class, reason } => serde_json::json!({
                "type": "refused", "node_id": node_id, "class": class.name(), "reason": reason,
            }),
        }
    }
}

pub(crate) struct PeerConn {
    pub conn: Connection,
    pub cert: NodeCert,
    pub cert_der: Vec<u8>,
    /// Node id of the side that dialled; duplicates keep the smaller one's.
    pub initiator: String,
    pub local_close_reason: Arc<Mutex<Option<String>>>,
}

impl PeerConn {
    pub fn close(&self, reason: &str) {
        *self.local_close_reason.lock().unwrap() = Some(reason.to_string());
        self.conn.close(close_code(reason), reason.as_bytes());
    }
}

fn close_code(reason: &str) -> VarInt {
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
    inbox: tokio::sync::Mutex<(mpsc::Receiver<Delivery>, mpsc::Receiver<Delivery>)>,
    events_tx: mpsc::UnboundedSender<Event>,
    events_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>,
    pub socket_buffers: (usize, usize),
}

impl Shared {
    pub fn emit(&self, event: Event) {
        let _ = self.events_tx.send(event);
    }
}

#[derive(Clone)]
pub struct Endpoint {
    pub(crate) shared: Arc<Shared>,
}

pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The spec's failure reason for a failed handshake or lost connection.
pub fn reason_from_error(text: &str) -> &'static str {
    const KNOWN: [(&str, &str); 10] = [
        ("WrongCluster", "wrong_cluster"),
        ("wrong_cluster", "wrong_cluster"),
        ("WrongNode", "wrong_node"),
        ("wrong_node", "wrong_node"),
        ("CertificateExpired", "certificate_expired"),
        ("certificate_expired", "certificate_expired"),
        ("CertificateRevoked", "certificate_revoked"),
        ("certificate_revoked", "certificate_revoked"),
        ("CertificateInvalid", "certificate_invalid"),
        ("certificate_invalid", "certificate_invalid"),
    ];
    KNOWN.iter().find(|(needle, _)| text.contains(needle)).map(|(_, code)| *code).unwrap_or("tls_handshake_failed")
}

fn transport(opts: &EndpointOptions) -> Result<TransportConfig, FabricError> {
    let mut t = TransportConfig::default();
    let idle = opts.idle_timeout.try_into().map_err(|_| FabricError::new("config_invalid", "idle timeout out of range"))?;
    t.max_idle_timeout(Some(idle))
        .keep_alive_interval(Some(opts.keep_alive))
        .max_concurrent_uni_streams(VarInt::from_u32(1024))
        .max_concurrent_bidi_streams(VarInt::from_u32(0))
        .stream_receive_window(VarInt::from_u32(opts.stream_window_bytes))
        .receive_window(VarInt::from_u32(32 << 20))
        .send_window(32 << 20)
        .datagram_receive_buffer_size(Some(4 << 20))
        // Small on purpose: datagrams are sent ahead of stream data, so a
        // deep datagram buffer would queue vpn_packet in front of input.
        .datagram_send_buffer_size(64 << 10)
        .enable_segmentation_offload(opts.segmentation_offload);
    if let Some(target) = opts.queue_delay_target {
        t.congestion_controller_factory(Arc::new(crate::congestion::DelayCappedConfig::new(target)));
    }
    Ok(t)
}

fn udp_socket(addr: SocketAddr, buffer: usize) -> Result<(std::net::UdpSocket, (usize, usize)), FabricError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let io = |e: std::io::Error| FabricError::new("bind_failed", format!("{addr}: {e}"));
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(io)?;
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = socket.set_recv_buffer_size(buffer);
    let _ = socket.set_send_buffer_size(buffer);
    socket.bind(&addr.into()).map_err(io)?;
    socket.set_nonblocking(true).map_err(io)?;
    let sizes = (socket.recv_buffer_size().unwrap_or(0), socket.send_buffer_size().unwrap_or(0));
    Ok((socket.into(), sizes))
}

fn node_uri(cluster_id: &str, node_id: &str) -> String {
    format!("spiffe://rap/cluster/{cluster_id}/node/{node_id}")
}

/// The DER chain of a PEM bundle, end entity first.
fn certificate_chain(cert_pem: &str) -> Result<Vec<CertificateDer<'static>>, FabricError> {
    let ders = pem_certificates(cert_pem).map_err(|e| FabricError::new("config_invalid", format!("certificate: {e}")))?;
    Ok(ders.into_iter().map(CertificateDer::from).collect())
}

/// The accepting side's QUIC config: presents `identity`, checks clients
/// against `trust`. A key that does not match the certificate fails here.
fn server_config(identity: &LocalIdentity, trust: &SharedTrust, transport: &Arc<TransportConfig>) -> Result<quinn::ServerConfig, FabricError> {
    let invalid = |what: &str, e: String| FabricError::new("config_invalid", format!("{what}: {e}"));
    let server_tls = tls::server_config(identity, PeerVerifier::new(trust.clone(), None)).map_err(|e| invalid("key", e.to_string()))?;
    let quic_tls = QuicServerConfig::try_from(server_tls).map_err(|e| invalid("tls", e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic_tls));
    server.transport_config(transport.clone());
    Ok(server)
}

impl Endpoint {
    /// Binds the socket and starts accepting. Must run inside a tokio runtime.
    pub fn bind(opts: EndpointOptions) -> Result<Endpoint, FabricError> {
        let invalid = |what: &str, e: String| FabricError::new("config_invalid", format!("{what}: {e}"));
        let chain = certificate_chain(&opts.cert_pem)?;
        let mut trust = Trust::new(&opts.cluster_id, &opts.ca_pems).map_err(|e| invalid("trust bundle", e))?;
        trust.set_revoked(opts.revoked_serials.iter().cloned());
        let own = trust.verify(&chain[0], unix_now(), Some(&opts.node_id));
        if let Err(refusal) = own {
            return Err(FabricError::new(refusal.code(), "this node's own certificate does not pass the cluster's checks"));
        }
        let trust: SharedTrust = Arc::new(RwLock::new(trust));
        let identity = LocalIdentity { chain, key_pkcs8: opts.key_pkcs8.clone() };
        let transport = Arc::new(transport(&opts)?);
        let server = server_config(&identity, &trust, &transport)?;
        let (socket, socket_buffers) = udp_socket(opts.listen, opts.udp_buffer_bytes)?;
        let quic = quinn::Endpoint::new(quinn::EndpointConfig::default(), Some(server), socket, Arc::new(quinn::TokioRuntime))
            .map_err(|e| FabricError::new("bind_failed", e.to_string()))?;
        let (urgent_tx, urgent_rx) = mpsc::channel(opts.inbox_capacity);
        let (bulk_tx, bulk_rx) = mpsc::channel(opts.inbox_capacity);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            node_id: opts.node_id,
            quic,
            identity: RwLock::new(identity),
            trust,
            transport,
            transport_idle: opts.idle_timeout,
            runtime: tokio::runtime::Handle::current(),
            state: Mutex::new(State::default()),
            counters: Counters::default(),
            relay_enabled: AtomicBool::new(false),
            leases: RwLock::new(RelayLeases::default()),
            urgent_pending: AtomicUsize::new(0),
            policy_epoch: AtomicU64::new(0),
            urgent_tx,
            bulk_tx,
            inbox: tokio::sync::Mutex::new((urgent_rx, bulk_rx)),
            events_tx,
            events_rx: tokio::sync::Mutex::new(events_rx),
            socket_buffers,
        });
        tokio::spawn(accept_loop(shared.clone()));
        Ok(Endpoint { shared })
    }

    pub fn node_id(&self) -> &str {
        &self.shared.node_id
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.quic.local_addr().expect("bound socket has an address")
    }

    /// Dials `node_id` at `addr`; the handshake fails unless the server proves
    /// to be that node of our cluster. Reuses a live connection.
    pub async fn connect(&self, node_id: &str, addr: SocketAddr) -> Result<NodeCert, FabricError> {
        if let Some(peer) = self.shared.state.lock().unwrap().peers.get(node_id) {
            return Ok(peer.cert.clone());
        }
        let verifier = PeerVerifier::new(self.shared.trust.clone(), Some(node_id.to_string()));
        let client_tls = tls::client_config(&self.shared.identity.read().unwrap(), verifier.clone())
            .map_err(|e| FabricError::new("config_invalid", e.to_string()))?;
        let quic_tls = QuicClientConfig::try_from(client_tls).map_err(|e| FabricError::new("config_invalid", e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(quic_tls));
        client.transport_config(self.shared.transport.clone());
        let connecting = self
            .shared
            .quic
            .connect_with(client, addr, tls::SERVER_NAME)
            .map_err(|e| FabricError::new("network_unreachable", e.to_string()))?;
        let confirmed = match connecting.await {
            Ok(conn) => welcome(&conn, self.shared.transport_idle).await.map(|_| conn),
            Err(e) => Err(e),
        };
        let conn = match confirmed {
            Ok(conn) => conn,
            Err(e) => {
                let refusal = verifier.refusal.lock().unwrap().clone();
                let reason = match (&refusal, &e) {
                    (Some(r), _) => r.code(),
                    (None, ConnectionError::TimedOut) => "network_unreachable",
                    (None, other) => reason_from_error(&format!("{other:?}")),
                };
                self.shared.counters.handshake_failed(reason);
                return Err(FabricError::new(reason, e.to_string()));
            }
        };
        let (cert, der) = peer_certificate(&self.shared, &conn, Some(node_id)).map_err(|r| FabricError::new(r.code(), r.to_string()))?;
        let me = self.shared.node_id.clone();
        Ok(register(&self.shared, conn, cert, der, me))
    }

    /// Sets the classes `node_id` may exchange with this node (replacing the
    /// previous set); an empty list withdraws everything but fabric_control.
    pub fn authorize(&self, node_id: &str, classes: &[Class]) {
        let mut state = self.shared.state.lock().unwrap();
        let set: HashSet<Class> = classes.iter().copied().collect();
        if let Some(by_class) = state.senders.get_mut(node_id) {
            by_class.retain(|class, _| *class == Class::FabricControl || set.contains(class));
        }
        state.allowed.insert(node_id.to_string(), set);
        self.shared.policy_epoch.fetch_add(1, Ordering::Release);
    }

    /// Routes traffic for `destination` through `relays` (in order); an empty
    /// list means direct. Open streams move to the new route on their next
    /// message.
    pub fn set_route(&self, destination: &str, relays: &[String]) {
        let mut state = self.shared.state.lock().unwrap();
        if relays.is_empty() {
            state.routes.remove(destination);
        } else {
            state.routes.insert(destination.to_string(), relays.to_vec());
        }
        state.senders.remove(destination);
    }

    pub fn set_relay(&self, enabled: bool) {
        self.shared.relay_enabled.store(enabled, Ordering::Relaxed);
    }

    /// Replaces the relay leases: end-node pairs (either direction) this relay
    /// may forward for, valid until `expires_unix`.
    pub fn set_relay_leases(&self, pairs: Vec<(String, String)>, expires_unix: i64) {
        *self.shared.leases.write().unwrap() = RelayLeases::new(pairs, expires_unix);
    }

    /// Replaces the revocation set and closes every connection whose peer
    /// certificate is now revoked. Returns the node ids closed.
    pub fn set_revoked(&self, serials: Vec<String>) -> Vec<String> {
        self.shared.trust.write().unwrap().set_revoked(serials);
        self.recheck_peers()
    }

    /// Replaces the trusted cluster CAs (both old and new during a rotation)
    /// and closes connections whose certificates no longer verify.
    pub fn set_trust(&self, ca_pems: &[String]) -> Result<Vec<String>, FabricError> {
        self.shared.trust.write().unwrap().set_cas(ca_pems).map_err(|e| FabricError::new("config_invalid", e))?;
        Ok(self.recheck_peers())
    }

    /// Replaces this node's certificate and key (renewal). Every handshake
    /// from now on, dialled or accepted, presents the new certificate; live
    /// connections keep the one they were authenticated with (TLS 1.3 has no
    /// renegotiation), so a peer still closes them when that one expires or
    /// is revoked. Refused, changing nothing, unless the certificate passes
    /// the cluster's checks as this same node (the same
    /// `spiffe://rap/cluster/<c>/node/<n>` URI SAN) and the key is its key.
    pub fn set_certificate(&self, cert_pem: &str, key_pkcs8: Vec<u8>) -> Result<NodeCert, FabricError> {
        let chain = certificate_chain(cert_pem)?;
        let cert = {
            let trust = self.shared.trust.read().unwrap();
            trust.verify(&chain[0], unix_now(), Some(&self.shared.node_id)).map_err(|refusal| {
                let expected = node_uri(&trust.cluster_id, &self.shared.node_id);
                let message = match &refusal {
                    Refusal::WrongCluster | Refusal::WrongNode => {
                        let named = crate::identity::named_node(&chain[0]).map(|(c, n)| node_uri(&c, &n));
                        format!("the new certificate names {}, not this node ({expected})", named.as_deref().unwrap_or("no node"))
                    }
                    other => format!("the new certificate for {expected} does not pass the cluster's checks: {other}"),
                };
                FabricError::new(refusal.code(), message)
            })?
        };
        let identity = LocalIdentity { chain, key_pkcs8 };
        let server = server_config(&identity, &self.shared.trust, &self.shared.transport)?;
        // Under the lock, so concurrent renewals cannot leave the two sides
        // presenting different certificates.
        let mut current = self.shared.identity.write().unwrap();
        self.shared.quic.set_server_config(Some(server));
        *current = identity;
        Ok(cert)
    }

    fn recheck_peers(&self) -> Vec<String> {
        let trust = self.shared.trust.read().unwrap().clone();
        let now = unix_now();
        let state = self.shared.state.lock().unwrap();
        let mut closed = Vec::new();
        for (node, peer) in &state.peers {
            if let Err(refusal) = trust.verify(&peer.cert_der, now, Some(node)) {
                peer.close(refusal.code());
                closed.push(node.clone());
            }
        }
        closed
    }

    /// Closes the connection to `node_id` with a spec failure reason.
    pub fn disconnect(&self, node_id: &str, reason: &str) -> bool {
        let state = self.shared.state.lock().unwrap();
        state.peers.get(node_id).map(|p| p.close(reason)).is_some()
    }

    pub fn peers(&self) -> Vec<String> {
        self.shared.state.lock().unwrap().peers.keys().cloned().collect()
    }

    /// Waits for at least one delivery and returns up to `max`, urgent
    /// classes first. Empty when the endpoint is closed.
    pub async fn recv(&self, max: usize) -> Vec<Delivery> {
        let mut inbox = self.shared.inbox.lock().await;
        let (urgent, bulk) = &mut *inbox;
        let first = tokio::select! {
            biased;
            Some(d) = urgent.recv() => d,
            Some(d) = bulk.recv() => d,
            else => return Vec::new(),
        };
        let mut out = vec![first];
        while out.len() < max {
            match urgent.try_recv().or_else(|_| bulk.try_recv()) {
                Ok(d) => out.push(d),
                Err(_) => break,
            }
        }
        out
    }

    pub async fn next_event(&self) -> Option<Event> {
        self.shared.events_rx.lock().await.recv().await
    }

    pub fn stats(&self) -> serde_json::Value {
        let state = self.shared.state.lock().unwrap();
        let peers: Vec<serde_json::Value> = state
            .peers
            .iter()
            .map(|(node, p)| {
                let s = p.conn.stats();
                serde_json::json!({
                    "node_id": node,
                    "serial": p.cert.serial,
                    "rtt_ms": s.path.rtt.as_secs_f64() * 1000.0,
                    "cwnd": s.path.cwnd,
                    "sent_packets": s.path.sent_packets,
                    "lost_packets": s.path.lost_packets,
                    "lost_bytes": s.path.lost_bytes,
                    "congestion_events": s.path.congestion_events,
                    "udp_tx_bytes": s.udp_tx.bytes,
                    "udp_rx_bytes": s.udp_rx.bytes,
                })
            })
            .collect();
        let mut doc = self.shared.counters.to_json();
        doc["node_id"] = self.shared.node_id.clone().into();
        doc["peers"] = peers.into();
        doc["socket"] = serde_json::json!({ "recv_buffer_bytes": self.shared.socket_buffers.0, "send_buffer_bytes": self.shared.socket_buffers.1 });
        doc
    }

    /// Closes every connection and the socket.
    pub async fn close(&self) {
        let peers: Vec<String> = self.peers();
        for node in peers {
            self.disconnect(&node, "shutdown");
        }
        self.shared.quic.close(VarInt::from_u32(0), b"shutdown");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.shared.quic.wait_idle()).await;
    }
}

/// In TLS 1.3 the client finishes its handshake before the server has
/// checked the client certificate, so a dialler only counts a connection as
/// up once the server's welcome arrives: its first unidirectional stream,
/// one byte. A refusal arrives instead as the close reason.
const WELCOME: u8 = 0xAC;

async fn send_welcome(mut stream: quinn::SendStream) {
    let _ = stream.write_all(&[WELCOME]).await;
    let _ = stream.finish();
}

async fn welcome(conn: &Connection, limit: Duration) -> Result<(), ConnectionError> {
    let read = async {
        let mut stream = conn.accept_uni().await?;
        let mut byte = [0u8; 1];
        match stream.read_exact(&mut byte).await {
            Ok(()) if byte[0] == WELCOME => Ok(()),
            Ok(()) => {
                conn.close(close_code("protocol"), b"tls_handshake_failed");
                Err(ConnectionError::LocallyClosed)
            }
            Err(_) => Err(conn.close_reason().unwrap_or(ConnectionError::LocallyClosed)),
        }
    };
    match tokio::time::timeout(limit, read).await {
        Ok(result) => result,
        Err(_) => {
            conn.close(close_code("network_unreachable"), b"network_unreachable");
            Err(ConnectionError::TimedOut)
        }
    }
}

fn peer_certificate(shared: &Shared, conn: &Connection, expected: Option<&str>) -> Result<(NodeCert, Vec<u8>), Refusal> {
    let invalid = || Refusal::CertificateInvalid("no peer certificate".into());
    let identity = conn.peer_identity().ok_or_else(invalid)?;
    let chain = identity.downcast::<Vec<CertificateDer<'static>>>().map_err(|_| invalid())?;
    let der = chain.first().ok_or_else(invalid)?.to_vec();
    let cert = shared.trust.read().unwrap().verify(&der, unix_now(), expected)?;
    Ok((cert, der))
}

async fn accept_loop(shared: Arc<Shared>) {
    while let Some(incoming) = shared.quic.accept().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            match incoming.await {
                Ok(conn) => match peer_certificate(&shared, &conn, None) {
                    Ok((cert, der)) => {
                        // The welcome must be stream 0: open it before anything
                        // registration lets the application send.
                        let Ok(welcome) = conn.open_uni().await else { return };
                        let initiator = cert.node_id.clone();
                        register(&shared, conn.clone(), cert, der, initiator);
                        send_welcome(welcome).await;
                    }
                    Err(refusal) => {
                        conn.close(close_code(refusal.code()), refusal.code().as_bytes());
                        shared.counters.handshake_failed(refusal.code());
                        shared.emit(Event::HandshakeFailed { node_id: None, reason: refusal.code().into() });
                    }
                },
                Err(e) => {
                    let reason = reason_from_error(&format!("{e:?}"));
                    shared.counters.handshake_failed(reason);
                    shared.emit(Event::HandshakeFailed { node_id: None, reason: reason.into() });
                }
            }
        });
    }
}

/// Adds an authenticated connection and starts its readers. When both sides
/// dial at once, both keep the connection dialled by the smaller node id.
fn register(shared: &Arc<Shared>, conn: Connection, cert: NodeCert, cert_der: Vec<u8>, initiator: String) -> NodeCert {
    let node_id = cert.node_id.clone();
    let dialled = initiator == shared.node_id;
    let peer = PeerConn { conn: conn.clone(), cert: cert.clone(), cert_der, initiator, local_close_reason: Arc::new(Mutex::new(None)) };
    {
        let mut state = shared.state.lock().unwrap();
        if let Some(existing) = state.peers.get(&node_id) {
            if existing.conn.close_reason().is_none() && existing.initiator <= peer.initiator {
                peer.close("duplicate");
                return existing.cert.clone();
            }
            existing.close("duplicate");
        }
        state.drop_senders_through(&node_id);
        state.peers.insert(node_id.clone(), peer);
    }
    shared.emit(Event::PeerUp {
        node_id: node_id.clone(),
        serial: cert.serial.clone(),
        not_after_unix: cert.not_after_unix,
        dialled,
    });
    tokio::spawn(crate::inbound::streams(shared.clone(), conn.clone(), node_id.clone()));
    tokio::spawn(crate::inbound::datagrams(shared.clone(), conn.clone(), node_id.clone()));
    tokio::spawn(watch_close(shared.clone(), conn.clone(), node_id.clone()));
    tokio::spawn(expire_at(shared.clone(), conn, node_id, cert.not_after_unix));
    cert
}

async fn watch_close(shared: Arc<Shared>, conn: Connection, node_id: String) {
    let error = conn.closed().await;
    let mut state = shared.state.lock().unwrap();
    let Some(current) = state.peers.get(&node_id) else { return };
    if current.conn.stable_id() != conn.stable_id() {
        return; // superseded by a newer connection to the same node
    }
    let local = current.local_close_reason.lock().unwrap().clone();
    let reason = match (local, &error) {
        (Some(r), _) => r,
        (None, ConnectionError::ApplicationClosed(close)) => String::from_utf8_lossy(&close.reason).into_owned(),
        (None, ConnectionError::TimedOut) => "heartbeat_timeout".into(),
        (None, _) => "network_unreachable".into(),
    };
    state.peers.remove(&node_id);
    state.drop_senders_through(&node_id);
    drop(state);
    shared.emit(Event::PeerDown { node_id, reason });
}

async fn expire_at(shared: Arc<Shared>, conn: Connection, node_id: String, not_after_unix: i64) {
    let left = (not_after_unix - unix_now()).max(0) as u64;
    tokio::select! {
        _ = conn.closed() => {}
        _ = tokio::time::sleep(Duration::from_secs(left + 1)) => {
            let state = shared.state.lock().unwrap();
            if let Some(peer) = state.peers.get(&node_id).filter(|p| p.conn.stable_id() == conn.stable_id()) {
                peer.close("certificate_expired");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reason_from_error;

    #[test]
    fn handshake_errors_map_to_the_spec_reasons() {
        assert_eq!(reason_from_error("invalid peer certificate: Other(OtherError(WrongNode))"), "wrong_node");
        assert_eq!(reason_from_error("ApplicationClosed { reason: b\"certificate_revoked\" }"), "certificate_revoked");
        assert_eq!(reason_from_error("peer sent no certificates"), "tls_handshake_failed");
    }
}
