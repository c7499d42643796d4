//! One mesh endpoint per node and cluster: a QUIC socket that dials and
//! accepts mutually authenticated connections, keeps at most one connection
//! per peer node, and carries channel classes to direct peers or through
//! relays (see `connection`, `inbound` and `outbound`; the state they share
//! is in `shared`), and session streams (`session`, `session_inbound`).
//!
//! Policy lives in TypeScript (the channel machine and the routing engine);
//! this side enforces it: which classes each node may exchange
//! (`authorize`), which relays reach a destination (`set_route`), whether
//! this node relays (`set_relay`), and which certificates are trusted or
//! revoked (`set_trust`, `set_revoked`), closing live connections at once
//! when they stop being trusted. The node's own certificate can be renewed
//! at runtime (`set_certificate`) without dropping live connections; a
//! `connect` to a peer whose connection predates the renewal moves it to a
//! new one (make before break).

use crate::class::Class;
use crate::clock::unix_now;
use crate::congestion::DelayCappedConfig;
use crate::connection::{accept_loop, peer_certificate, reason_from_error, register, welcome};
use crate::error::FabricError;
use crate::event::{Delivery, Event};
use crate::identity::{named_node, pem_certificates, NodeCert, Refusal, Trust};
use crate::session_table::SessionTable;
use crate::shared::{RelayLeases, Shared, State};
use crate::stats::Counters;
use crate::tls::{self, LocalIdentity, PeerVerifier, SharedTrust};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{ConnectionError, TransportConfig, VarInt};
use rustls::pki_types::CertificateDer;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;

/// Least queueing delay tolerated before the window is capped (`DEFAULT_QUEUE_DELAY_RTT_SHARE`
/// of the path's min RTT when larger).
pub const DEFAULT_QUEUE_DELAY_TARGET: Duration = Duration::from_millis(1);

/// Queueing delay tolerated as a share of the path's min RTT: a quarter adds
/// about a quarter of the RTT to `input` on a saturated link while the
/// bottleneck stays busy (docs/bench/mesh.md, shaped links: 1.6–2.1× the idle
/// p99 per link there, scheduling jitter of a shared 2-core host included).
pub const DEFAULT_QUEUE_DELAY_RTT_SHARE: f64 = 0.25;

/// Share of bytes lost over the last few round trips below which a loss is
/// taken as random (a lossy hop), not congestion (see `congestion`).
pub const DEFAULT_RANDOM_LOSS_TOLERANCE: f64 = 0.02;

/// 1 MiB per stream: a bulk class can keep at most this much queued ahead of
/// the receiver, which is what delays `input` behind it (docs/bench/mesh.md:
/// 8 MiB gave ~90× the idle p99 on loopback, 1 MiB ~10×). It caps one
/// stream at 1 MiB per round trip (~20 MB/s at 50 ms); each bulk class has
/// its own stream.
pub const DEFAULT_STREAM_WINDOW: u32 = 1 << 20;

/// Session streams one peer may have open towards this node at once (QUIC's
/// bidirectional stream limit; a few per remote session, one per class).
pub const MAX_SESSION_STREAMS: u32 = 1024;

/// A 1500-byte Ethernet path less IPv4 and UDP headers: what the internet
/// carries. Raise it (up to `MAX_UDP_PAYLOAD`) on jumbo-frame underlays,
/// a data centre's or a cloud network's (9001 bytes inside one AWS VPC):
/// path-MTU discovery then finds the larger size per peer, and VPN packets
/// and bulk streams need fewer, larger datagrams (docs/bench/vpn.md: about
/// a third of the CPU per Gbit on a 9000-byte underlay).
pub const DEFAULT_MAX_UDP_PAYLOAD: u16 = 1472;
/// QUIC's minimum (RFC 9000 §14).
pub const MIN_UDP_PAYLOAD: u16 = 1200;
/// A 9000-byte jumbo frame less IPv4 and UDP headers.
pub const MAX_UDP_PAYLOAD: u16 = 8972;

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
    /// The largest UDP payload this endpoint accepts and path-MTU discovery
    /// may reach (see `DEFAULT_MAX_UDP_PAYLOAD`).
    pub max_udp_payload: u16,
    pub inbox_capacity: usize,
    /// Queueing delay the congestion controller tolerates above the path's
    /// minimum RTT (see `congestion`); None: plain CUBIC.
    pub queue_delay_target: Option<Duration>,
    /// Queueing delay tolerated as a share of the min RTT (see `DEFAULT_QUEUE_DELAY_RTT_SHARE`).
    pub queue_delay_rtt_share: f64,
    /// Loss share taken as random, not congestion (see `DEFAULT_RANDOM_LOSS_TOLERANCE`).
    pub random_loss_tolerance: f64,
    /// Diagnostic for the benchmark: quinn's BBR instead of the delay-capped controller.
    pub bbr: bool,
    /// Receive window per stream: how much of one class may wait unread at
    /// the receiver (see `DEFAULT_STREAM_WINDOW`).
    pub stream_window_bytes: u32,
    /// Accepted session streams that may wait for `accept_session_stream`;
    /// more are refused (`session_backlog_full`).
    pub session_backlog: usize,
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
            max_udp_payload: DEFAULT_MAX_UDP_PAYLOAD,
            inbox_capacity: 1024,
            queue_delay_target: Some(DEFAULT_QUEUE_DELAY_TARGET),
            queue_delay_rtt_share: DEFAULT_QUEUE_DELAY_RTT_SHARE,
            random_loss_tolerance: DEFAULT_RANDOM_LOSS_TOLERANCE,
            bbr: false,
            stream_window_bytes: DEFAULT_STREAM_WINDOW,
            session_backlog: 256,
        }
    }
}

#[derive(Clone)]
pub struct Endpoint {
    pub(crate) shared: Arc<Shared>,
}

fn transport(opts: &EndpointOptions) -> Result<TransportConfig, FabricError> {
    let mut t = TransportConfig::default();
    let idle = opts.idle_timeout.try_into().map_err(|_| FabricError::ConfigInvalid("idle timeout out of range".into()))?;
    t.max_idle_timeout(Some(idle))
        .keep_alive_interval(Some(opts.keep_alive))
        .max_concurrent_uni_streams(VarInt::from_u32(1024))
        // Bidirectional streams are session streams only (`session`).
        .max_concurrent_bidi_streams(VarInt::from_u32(MAX_SESSION_STREAMS))
        .stream_receive_window(VarInt::from_u32(opts.stream_window_bytes))
        .receive_window(VarInt::from_u32(32 << 20))
        .send_window(32 << 20)
        .datagram_receive_buffer_size(Some(4 << 20))
        // Small on purpose: datagrams are sent ahead of stream data, so a
        // deep datagram buffer would queue vpn_packet in front of input.
        .datagram_send_buffer_size(64 << 10)
        .enable_segmentation_offload(opts.segmentation_offload);
    // Path-MTU discovery searches up to what this endpoint accepts, less
    // room for an IPv6 header (quinn's own default: 1472 → 1452).
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(opts.max_udp_payload - 20);
    t.mtu_discovery_config(Some(mtu));
    if opts.bbr {
        t.congestion_controller_factory(Arc::new(quinn::congestion::BbrConfig::default()));
    } else if let Some(target) = opts.queue_delay_target {
        t.congestion_controller_factory(Arc::new(DelayCappedConfig::new(target, opts.queue_delay_rtt_share, opts.random_loss_tolerance)));
    }
    Ok(t)
}

fn udp_socket(addr: SocketAddr, buffer: usize) -> Result<(std::net::UdpSocket, (usize, usize)), FabricError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let io = |e: std::io::Error| FabricError::BindFailed(format!("{addr}: {e}"));
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
    let ders = pem_certificates(cert_pem).map_err(|e| FabricError::ConfigInvalid(format!("certificate: {e}")))?;
    Ok(ders.into_iter().map(CertificateDer::from).collect())
}

/// The accepting side's QUIC config: presents `identity`, checks clients
/// against `trust`. A key that does not match the certificate fails here.
fn server_config(
    identity: &LocalIdentity,
    trust: &SharedTrust,
    transport: &Arc<TransportConfig>,
) -> Result<quinn::ServerConfig, FabricError> {
    let invalid = |what: &str, e: String| FabricError::ConfigInvalid(format!("{what}: {e}"));
    let server_tls = tls::server_config(identity, PeerVerifier::new(trust.clone(), None)).map_err(|e| invalid("key", e.to_string()))?;
    let quic_tls = QuicServerConfig::try_from(server_tls).map_err(|e| invalid("tls", e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic_tls));
    server.transport_config(transport.clone());
    Ok(server)
}

impl Endpoint {
    /// Binds the socket and starts accepting. Must run inside a tokio runtime.
    pub fn bind(opts: EndpointOptions) -> Result<Endpoint, FabricError> {
        let invalid = |what: &str, e: String| FabricError::ConfigInvalid(format!("{what}: {e}"));
        if !(MIN_UDP_PAYLOAD..=MAX_UDP_PAYLOAD).contains(&opts.max_udp_payload) {
            return Err(invalid("max UDP payload", format!("{} is not {MIN_UDP_PAYLOAD}-{MAX_UDP_PAYLOAD} bytes", opts.max_udp_payload)));
        }
        let chain = certificate_chain(&opts.cert_pem)?;
        let mut trust = Trust::new(&opts.cluster_id, &opts.ca_pems).map_err(|e| invalid("trust bundle", e))?;
        trust.set_revoked(opts.revoked_serials.iter().cloned());
        let own = match trust.verify(&chain[0], unix_now(), Some(&opts.node_id)) {
            Ok(own) => own,
            Err(refusal) => {
                return Err(FabricError::Certificate {
                    refusal,
                    message: "this node's own certificate does not pass the cluster's checks".into(),
                })
            }
        };
        let trust: SharedTrust = Arc::new(RwLock::new(trust));
        let identity = LocalIdentity { chain, key_pkcs8: opts.key_pkcs8.clone() };
        let transport = Arc::new(transport(&opts)?);
        let server = server_config(&identity, &trust, &transport)?;
        let (socket, socket_buffers) = udp_socket(opts.listen, opts.udp_buffer_bytes)?;
        let mut endpoint_config = quinn::EndpointConfig::default();
        endpoint_config.max_udp_payload_size(opts.max_udp_payload).map_err(|e| invalid("max UDP payload", e.to_string()))?;
        let quic = quinn::Endpoint::new(endpoint_config, Some(server), socket, Arc::new(quinn::TokioRuntime))
            .map_err(|e| FabricError::BindFailed(e.to_string()))?;
        let (urgent_tx, urgent_rx) = mpsc::channel(opts.inbox_capacity);
        let (bulk_tx, bulk_rx) = mpsc::channel(opts.inbox_capacity);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (session_tx, session_rx) = mpsc::channel(opts.session_backlog.max(1));
        let shared = Arc::new(Shared {
            node_id: opts.node_id,
            quic,
            identity: RwLock::new(identity),
            own_not_after: AtomicI64::new(own.not_after_unix),
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
            sessions: Arc::new(Mutex::new(SessionTable::default())),
            session_tx: Mutex::new(Some(session_tx)),
            session_rx: tokio::sync::Mutex::new(session_rx),
            events_tx,
            events_rx: tokio::sync::Mutex::new(events_rx),
            socket_buffers,
            closed: tokio::sync::watch::channel(false).0,
            vpn: Default::default(),
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
    /// to be that node of our cluster. Reuses a live connection, unless this
    /// node has renewed its certificate since it was made: then the new
    /// connection takes over from it on both sides, which keeps it open a
    /// moment to drain (`connection::HANDOVER_GRACE`), and no `peer_down`.
    pub async fn connect(&self, node_id: &str, addr: SocketAddr) -> Result<NodeCert, FabricError> {
        if let Some(peer) = self.shared.state.lock().unwrap().peers.get(node_id) {
            if peer.local_not_after >= self.shared.own_not_after.load(Ordering::Acquire) {
                return Ok(peer.cert.clone());
            }
        }
        let verifier = PeerVerifier::new(self.shared.trust.clone(), Some(node_id.to_string()));
        let (client_tls, local_not_after) = {
            let identity = self.shared.identity.read().unwrap();
            (tls::client_config(&identity, verifier.clone()), self.shared.own_not_after.load(Ordering::Acquire))
        };
        let client_tls = client_tls.map_err(|e| FabricError::ConfigInvalid(e.to_string()))?;
        let quic_tls = QuicClientConfig::try_from(client_tls).map_err(|e| FabricError::ConfigInvalid(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(quic_tls));
        client.transport_config(self.shared.transport.clone());
        let connecting =
            self.shared.quic.connect_with(client, addr, tls::SERVER_NAME).map_err(|e| FabricError::NetworkUnreachable(e.to_string()))?;
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
                let message = e.to_string();
                return Err(match refusal {
                    Some(refusal) => FabricError::Certificate { refusal, message },
                    None => FabricError::Handshake { reason, message },
                });
            }
        };
        let (cert, der) = peer_certificate(&self.shared, &conn, Some(node_id))
            .map_err(|refusal| FabricError::Certificate { message: refusal.to_string(), refusal })?;
        let me = self.shared.node_id.clone();
        Ok(register(&self.shared, conn, cert, der, me, local_not_after))
    }

    /// Sets the classes `node_id` may exchange with this node (replacing the
    /// previous set); an empty list withdraws everything but fabric_control.
    pub fn authorize(&self, node_id: &str, classes: &[Class]) {
        let mut state = self.shared.state.lock().unwrap();
        let set: HashSet<Class> = classes.iter().copied().collect();
        if let Some(by_class) = state.senders.get_mut(node_id) {
            by_class.retain(|class, _| *class == Class::FabricControl || set.contains(class));
        }
        // Still under the state lock, so no stream is admitted between the two.
        self.shared.sessions.lock().unwrap().end_unauthorized(node_id, &set);
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
        self.shared.trust.write().unwrap().set_cas(ca_pems).map_err(FabricError::ConfigInvalid)?;
        Ok(self.recheck_peers())
    }

    /// Replaces this node's certificate and key (renewal). Every handshake
    /// from now on, dialled or accepted, presents the new certificate; live
    /// connections keep the one they were authenticated with (TLS 1.3 has no
    /// renegotiation), so a peer still closes them when that one expires or
    /// is revoked, unless `connect` moves them to a new connection first. Refused, changing nothing, unless the certificate passes
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
                        let named = named_node(&chain[0]).map(|(c, n)| node_uri(&c, &n));
                        format!("the new certificate names {}, not this node ({expected})", named.as_deref().unwrap_or("no node"))
                    }
                    other => format!("the new certificate for {expected} does not pass the cluster's checks: {other}"),
                };
                FabricError::Certificate { refusal, message }
            })?
        };
        let identity = LocalIdentity { chain, key_pkcs8 };
        let server = server_config(&identity, &self.shared.trust, &self.shared.transport)?;
        // Under the lock, so concurrent renewals cannot leave the two sides
        // presenting different certificates.
        let mut current = self.shared.identity.write().unwrap();
        self.shared.quic.set_server_config(Some(server));
        *current = identity;
        self.shared.own_not_after.store(cert.not_after_unix, Ordering::Release);
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
        let mut inbox = tokio::select! {
            inbox = self.shared.inbox.lock() => inbox,
            _ = self.shared.until_closed() => return Vec::new(),
        };
        let (urgent, bulk) = &mut *inbox;
        let first = tokio::select! {
            biased;
            Some(d) = urgent.recv() => d,
            Some(d) = bulk.recv() => d,
            _ = self.shared.until_closed() => return Vec::new(),
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

    /// The next event; `None` once the endpoint is closed.
    pub async fn next_event(&self) -> Option<Event> {
        tokio::select! {
            biased;
            event = async { self.shared.events_rx.lock().await.recv().await } => event,
            _ = self.shared.until_closed() => None,
        }
    }

    pub fn stats(&self) -> serde_json::Value {
        let live_sessions = self.shared.sessions.lock().unwrap().live();
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
        let mut doc = self.shared.counters.to_json(live_sessions);
        doc["node_id"] = self.shared.node_id.clone().into();
        doc["peers"] = peers.into();
        doc["socket"] =
            serde_json::json!({ "recv_buffer_bytes": self.shared.socket_buffers.0, "send_buffer_bytes": self.shared.socket_buffers.1 });
        doc
    }

    /// Closes every connection and the socket.
    pub async fn close(&self) {
        let peers: Vec<String> = self.peers();
        for node in peers {
            self.disconnect(&node, "shutdown");
        }
        self.shared.vpn.stop_all();
        self.shared.quic.close(VarInt::from_u32(0), b"shutdown");
        self.shared.closed.send_replace(true);
        // Ends a wait in `accept_session_stream` once what was accepted is taken.
        self.shared.session_tx.lock().unwrap().take();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.shared.quic.wait_idle()).await;
    }
}
