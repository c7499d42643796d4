//! The mesh benchmark's Rust half (run by `scripts/bench mesh`, built with
//! `--features bench`). It measures the product path, `fabric_quic::Endpoint`
//! with the real cluster-CA verifier, class QoS and relays, against baselines
//! taken in the same process and the same run:
//!
//! - bulk throughput of one `file_transfer` channel vs TLS 1.3 over TCP
//!   (tokio-rustls with the crate's own rustls configs and P-256 certificates)
//!   and raw TCP; the same QUIC run with GSO off;
//! - A → R → C vs A → C throughput, and the p50 RTT of small `input`
//!   ping-pongs through the relay minus direct;
//! - one-way `input` latency p99 idle, and while a saturating `file_transfer`
//!   stream or `vpn_packet` datagram flow shares the connection.
//!
//! `mesh-bench suite [--quick] [--runs N] [--bytes N]` prints one JSON document with
//! every run's raw values; `mesh-bench latency [--runs N]` only the `input`
//! latency measurements, a JSON line per run (for on/off experiments);
//! `mesh-bench bulk --bytes N --message M` prints the pure-Rust twin of the
//! Bun napi measurement (scripts/benchmarks/mesh-napi.ts).
//! Certificates are made in-process with rcgen the way core/crypto/x509.ts
//! makes them. The binary only measures; medians, ratios and the report are
//! computed by scripts/benchmarks/mesh.ts.

use bytes::Bytes;
use fabric_quic::identity::{pem_certificates, Trust};
use fabric_quic::tls::{self, LocalIdentity, PeerVerifier};
use fabric_quic::{Class, Endpoint, EndpointOptions};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
    PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "mesh-bench/shaped.rs"]
mod shaped;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

/// Bulk messages: 64 KiB, the size a file transfer chunk would use.
const MESSAGE: usize = 64 << 10;
/// `input` messages: a key or pointer event, with a send timestamp first.
const INPUT: usize = 64;
/// `vpn_packet` payloads: fit one datagram at QUIC's 1200-byte minimum MTU.
const VPN: usize = 1000;
/// Socket buffers asked of the kernel (capped at net.core.{r,w}mem_max).
const UDP_BUFFER: usize = 4 << 20;
const DIAGNOSTIC_UDP_BUFFER: usize = 256 << 10;

struct Sizes {
    bulk_bytes: u64,
    pings: usize,
    ping_interval: Duration,
    rtt_pings: usize,
}

// ---------------------------------------------------------------- identities

/// A cluster CA as core/crypto/x509.ts makes one: P-256, CA:true pathlen 0,
/// keyCertSign|cRLSign, the cluster URI SAN. Nodes get digitalSignature,
/// server+client auth and `spiffe://rap/cluster/<c>/node/<n>`.
struct Cluster {
    id: String,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
    serial: AtomicU64,
}

struct NodeCreds {
    cert_pem: String,
    key_pkcs8: Vec<u8>,
}

fn uri(value: String) -> Result<SanType> {
    Ok(SanType::URI(value.try_into()?))
}

impl Cluster {
    fn new(id: &str) -> Result<Cluster> {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.serial_number = Some(SerialNumber::from(1u64));
        params.distinguished_name.push(DnType::CommonName, format!("rap cluster {id} node CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.subject_alt_names = vec![uri(format!("spiffe://rap/cluster/{id}"))?];
        let ca = params.self_signed(&ca_key)?;
        Ok(Cluster { id: id.into(), ca, ca_key, serial: AtomicU64::new(1000) })
    }

    fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    fn node(&self, node_id: &str) -> Result<NodeCreds> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.serial_number = Some(SerialNumber::from(self.serial.fetch_add(1, Ordering::Relaxed)));
        params.distinguished_name.push(DnType::CommonName, format!("node {node_id}"));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.subject_alt_names = vec![uri(format!("spiffe://rap/cluster/{}/node/{node_id}", self.id))?];
        let cert = params.signed_by(&key, &self.ca, &self.ca_key)?;
        Ok(NodeCreds { cert_pem: cert.pem(), key_pkcs8: key.serialize_der() })
    }

    fn endpoint(&self, node_id: &str, gso: bool) -> Result<Endpoint> {
        self.endpoint_with(node_id, gso, UDP_BUFFER)
    }

    fn endpoint_with(&self, node_id: &str, gso: bool, udp_buffer: usize) -> Result<Endpoint> {
        Ok(Endpoint::bind(self.options(node_id, gso, udp_buffer)?)?)
    }

    /// A node's options (fresh certificate), for `Endpoint::bind` here or in a network namespace.
    fn options(&self, node_id: &str, gso: bool, udp_buffer: usize) -> Result<EndpointOptions> {
        let creds = self.node(node_id)?;
        let mut opts = EndpointOptions::new(&self.id, node_id, &creds.cert_pem, creds.key_pkcs8, &self.ca_pem());
        opts.udp_buffer_bytes = udp_buffer;
        opts.segmentation_offload = gso;
        // Diagnostic: MESH_BENCH_PLAIN_CUBIC=1 measures quinn's plain CUBIC instead of the delay-capped default.
        if std::env::var("MESH_BENCH_PLAIN_CUBIC").is_ok_and(|v| v == "1") {
            opts.queue_delay_target = None;
        }
        // Diagnostics: MESH_BENCH_BBR=1 quinn's BBR; MESH_BENCH_RTT_SHARE=<f> and MESH_BENCH_LOSS_TOLERANCE=<f>
        // tune the delay-capped controller (docs/bench/mesh.md compares them).
        if std::env::var("MESH_BENCH_BBR").is_ok_and(|v| v == "1") {
            opts.bbr = true;
        }
        if let Some(share) = std::env::var("MESH_BENCH_RTT_SHARE").ok().and_then(|v| v.parse().ok()) {
            opts.queue_delay_rtt_share = share;
        }
        if let Some(tolerance) = std::env::var("MESH_BENCH_LOSS_TOLERANCE").ok().and_then(|v| v.parse().ok()) {
            opts.random_loss_tolerance = tolerance;
        }
        // Diagnostic: MESH_BENCH_QUEUE_TARGET_MS=<f> sets the controller's least tolerated queueing delay.
        if let Some(ms) = std::env::var("MESH_BENCH_QUEUE_TARGET_MS").ok().and_then(|v| v.parse::<f64>().ok()) {
            opts.queue_delay_target = Some(Duration::from_secs_f64(ms / 1000.0));
        }
        // Diagnostic: MESH_BENCH_STREAM_WINDOW=<bytes> overrides the per-stream receive window.
        if let Some(bytes) = std::env::var("MESH_BENCH_STREAM_WINDOW").ok().and_then(|v| v.parse().ok()) {
            opts.stream_window_bytes = bytes;
        }
        Ok(opts)
    }

    /// The same identity and verifier the mesh uses, for the TLS-over-TCP baseline.
    fn tls_identity(&self, node_id: &str) -> Result<(LocalIdentity, tls::SharedTrust)> {
        let creds = self.node(node_id)?;
        let chain = pem_certificates(&creds.cert_pem)?.into_iter().map(CertificateDer::from).collect();
        let trust = Trust::new(&self.id, &[self.ca_pem()])?;
        Ok((LocalIdentity { chain, key_pkcs8: creds.key_pkcs8 }, Arc::new(RwLock::new(trust))))
    }
}

fn allow(pairs: &[(&Endpoint, &Endpoint)], classes: &[Class]) {
    for (x, y) in pairs {
        x.authorize(y.node_id(), classes);
        y.authorize(x.node_id(), classes);
    }
}

async fn close(endpoints: &[&Endpoint]) {
    for e in endpoints {
        e.close().await;
    }
}

// ---------------------------------------------------------------- counters

/// UDP `RcvbufErrors` + `SndbufErrors` from /proc/net/snmp (system-wide, of
/// the calling thread's network namespace).
fn udp_buffer_errors() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("Udp:")).collect();
    let [names, values] = lines.as_slice() else { return (0, 0) };
    let field = |name: &str| -> u64 {
        let at = names.split_whitespace().position(|n| n == name);
        at.and_then(|i| values.split_whitespace().nth(i)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    (field("RcvbufErrors"), field("SndbufErrors"))
}

struct Drops((u64, u64));

impl Drops {
    fn start() -> Drops {
        Drops(udp_buffer_errors())
    }
    fn since(&self) -> Value {
        let now = udp_buffer_errors();
        json!({ "rcvbuf_errors": now.0.saturating_sub(self.0 .0), "sndbuf_errors": now.1.saturating_sub(self.0 .1) })
    }
}

fn mbps(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64() / 1e6
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((p / 100.0) * sorted.len() as f64).floor() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

// ---------------------------------------------------------------- TCP baselines

async fn tcp_sink<S: tokio::io::AsyncRead + Unpin>(mut stream: S, bytes: u64) -> Result<Instant> {
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0u64;
    while got < bytes {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err("TCP stream ended early".into());
        }
        got += n as u64;
    }
    Ok(Instant::now())
}

async fn tcp_source<S: tokio::io::AsyncWrite + Unpin>(stream: &mut S, bytes: u64) -> Result<()> {
    let payload = vec![0xA5u8; MESSAGE];
    let mut sent = 0u64;
    while sent < bytes {
        stream.write_all(&payload).await?;
        sent += MESSAGE as u64;
    }
    stream.flush().await?;
    Ok(())
}

async fn raw_tcp(bytes: u64) -> Result<Value> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        tcp_sink(stream, bytes).await
    });
    let mut client = TcpStream::connect(addr).await?;
    let t0 = Instant::now();
    tcp_source(&mut client, bytes).await?;
    let done = server.await??;
    Ok(json!({ "mbps": round(mbps(bytes, done - t0), 1) }))
}

/// TLS 1.3 over TCP with the mesh's own rustls configs (ring, P-256, mutual
/// authentication by the cluster-CA verifier, ALPN rap-mesh/1).
async fn tls_tcp(cluster: &Cluster, bytes: u64) -> Result<Value> {
    let (server_id, server_trust) = cluster.tls_identity("tls-server")?;
    let (client_id, client_trust) = cluster.tls_identity("tls-client")?;
    let server_cfg = tls::server_config(&server_id, PeerVerifier::new(server_trust, None))?;
    let client_cfg = tls::client_config(&client_id, PeerVerifier::new(client_trust, Some("tls-server".into())))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let tls = acceptor.accept(stream).await?;
        let _ = ready_tx.send(());
        tcp_sink(tls, bytes).await
    });
    let tcp = TcpStream::connect(addr).await?;
    let mut client = connector.connect(ServerName::try_from(tls::SERVER_NAME)?, tcp).await?;
    // The server's accept completes after the client's; time data only.
    ready_rx.await?;
    let t0 = Instant::now();
    tcp_source(&mut client, bytes).await?;
    let done = server.await??;
    let version = client.get_ref().1.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default();
    Ok(json!({ "mbps": round(mbps(bytes, done - t0), 1), "protocol": version }))
}

// ---------------------------------------------------------------- QUIC bulk

/// Receives until `bytes` of `class` arrived; the instant the last one did.
async fn drain(endpoint: Endpoint, class: Class, bytes: u64) -> Result<Instant> {
    let mut got = 0u64;
    loop {
        let batch = endpoint.recv(256).await;
        if batch.is_empty() {
            return Err("endpoint closed while draining".into());
        }
        got += batch.iter().filter(|d| d.class == class).map(|d| d.data.len() as u64).sum::<u64>();
        if got >= bytes {
            return Ok(Instant::now());
        }
    }
}

/// `bytes` of 64 KiB `file_transfer` messages from `from` to `to` (whatever
/// route is set), awaiting `send` (back-pressure) for each.
async fn bulk(from: &Endpoint, to: &Endpoint, bytes: u64, message: usize) -> Result<f64> {
    let sink = tokio::spawn(drain(to.clone(), Class::FileTransfer, bytes));
    let payload = Bytes::from(vec![0xA5u8; message]);
    let count = bytes.div_ceil(message as u64);
    let t0 = Instant::now();
    for _ in 0..count {
        from.send(to.node_id(), Class::FileTransfer, payload.clone()).await?;
    }
    let done = sink.await??;
    Ok(mbps(count * message as u64, done - t0))
}

fn socket_buffers(e: &Endpoint) -> Value {
    e.stats()["socket"].clone()
}

fn peer_stats(e: &Endpoint) -> Value {
    let s = e.stats();
    let p = &s["peers"][0];
    json!({
        "lost_packets": p["lost_packets"], "sent_packets": p["sent_packets"], "congestion_events": p["congestion_events"],
        "rtt_ms": p["rtt_ms"], "cwnd": p["cwnd"],
    })
}

async fn quic_pair(cluster: &Cluster, gso: bool, bytes: u64, message: usize) -> Result<Value> {
    let a = cluster.endpoint("a", gso)?;
    let b = cluster.endpoint("b", gso)?;
    a.connect("b", b.local_addr()).await?;
    allow(&[(&a, &b)], &[Class::FileTransfer]);
    let drops = Drops::start();
    let rate = bulk(&a, &b, bytes, message).await?;
    let out = json!({
        "mbps": round(rate, 1), "udp_drops": drops.since(), "socket": socket_buffers(&a), "sender": peer_stats(&a),
    });
    close(&[&a, &b]).await;
    Ok(out)
}

// ---------------------------------------------------------------- relay

/// Sequential `input` ping-pongs from `a` to `c` (echoed by `c` on `input`
/// along its own route); round-trip times in ms.
async fn ping_pong(a: &Endpoint, c: &Endpoint, pings: usize) -> Result<Vec<f64>> {
    let echo = {
        let c = c.clone();
        tokio::spawn(async move {
            loop {
                let batch = c.recv(64).await;
                if batch.is_empty() {
                    return;
                }
                for d in batch {
                    if d.data.first() == Some(&0xFF) {
                        return;
                    }
                    let _ = c.send(&d.from, Class::Input, d.data).await;
                }
            }
        })
    };
    let mut rtts = Vec::with_capacity(pings);
    for i in 0..pings + 1 {
        let mut msg = vec![0u8; INPUT];
        msg[1..9].copy_from_slice(&(i as u64).to_be_bytes());
        let t0 = Instant::now();
        a.send(c.node_id(), Class::Input, Bytes::from(msg.clone())).await?;
        loop {
            let batch = a.recv(1).await;
            if batch.is_empty() {
                return Err("endpoint closed during ping-pong".into());
            }
            if batch[0].data[..] == msg[..] {
                break;
            }
        }
        // The first exchange opens the streams; it is not a sample.
        if i > 0 {
            rtts.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let mut stop = vec![0u8; INPUT];
    stop[0] = 0xFF;
    a.send(c.node_id(), Class::Input, Bytes::from(stop)).await?;
    let _ = echo.await;
    rtts.sort_by(|x, y| x.total_cmp(y));
    Ok(rtts)
}

async fn relay(cluster: &Cluster, sizes: &Sizes, relay_first: bool) -> Result<Value> {
    let a = cluster.endpoint("a", true)?;
    let r = cluster.endpoint("r", true)?;
    let c = cluster.endpoint("c", true)?;
    a.connect("r", r.local_addr()).await?;
    c.connect("r", r.local_addr()).await?;
    a.connect("c", c.local_addr()).await?;
    allow(&[(&a, &r), (&r, &c), (&a, &c)], &[Class::FileTransfer, Class::Input]);
    r.set_relay(true);
    r.set_relay_leases(vec![("a".to_string(), "c".to_string())], fabric_quic::clock::unix_now() + 3600);

    // Which goes first alternates between runs, so neither always gets the
    // warmer (or the quieter) half of the run.
    let order = if relay_first { ["relay", "direct"] } else { ["direct", "relay"] };
    let mut results = std::collections::HashMap::new();
    for which in order {
        let hops = if which == "relay" { vec!["r".to_string()] } else { Vec::new() };
        a.set_route("c", &hops);
        c.set_route("a", &hops);
        let drops = Drops::start();
        let rate = bulk(&a, &c, sizes.bulk_bytes, MESSAGE).await?;
        let drops = drops.since();
        let rtt = ping_pong(&a, &c, sizes.rtt_pings).await?;
        results.insert(which, (rate, drops, rtt));
    }
    let (direct, direct_drops, direct_rtt) = results.remove("direct").expect("measured above");
    let (relayed, relayed_drops, relayed_rtt) = results.remove("relay").expect("measured above");
    let relay_bytes = r.stats()["relay"]["bytes"].clone();
    close(&[&a, &r, &c]).await;
    if relay_bytes.as_u64().unwrap_or(0) < sizes.bulk_bytes {
        return Err("the relay did not carry the relayed run".into());
    }
    Ok(json!({
        "direct_mbps": round(direct, 1),
        "relay_mbps": round(relayed, 1),
        "direct_rtt_p50_ms": round(percentile(&direct_rtt, 50.0), 4),
        "relay_rtt_p50_ms": round(percentile(&relayed_rtt, 50.0), 4),
        "direct_rtt_p99_ms": round(percentile(&direct_rtt, 99.0), 4),
        "relay_rtt_p99_ms": round(percentile(&relayed_rtt, 99.0), 4),
        "relay_bytes": relay_bytes,
        "order": order.join(" then "),
        "udp_drops_direct": direct_drops,
        "udp_drops_relay": relayed_drops,
    }))
}

// ---------------------------------------------------------------- input latency

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

#[derive(Clone, Copy, PartialEq)]
enum Load {
    Idle,
    FileTransfer,
    VpnPacket,
    Render,
}

/// One-way `input` latency a → b (send timestamp in the message, both ends in
/// this process) while `load` shares the connection; p50/p99 in ms and what
/// the load achieved.
async fn input_latency(cluster: &Cluster, load: Load, sizes: &Sizes, udp_buffer: usize) -> Result<Value> {
    let a = cluster.endpoint_with("a", true, udp_buffer)?;
    let b = cluster.endpoint_with("b", true, udp_buffer)?;
    a.connect("b", b.local_addr()).await?;
    let out = input_latency_on(&a, &b, load, sizes, Duration::from_millis(300)).await;
    close(&[&a, &b]).await;
    out
}

/// Render frames: a desktop update, replaced by the next one when unsent.
const RENDER_FRAME: usize = 64 << 10;

/// The measurement of `input_latency` on two connected endpoints (`a` has
/// dialled `b`), after `warmup` of load alone (cwnd grown, queues full).
async fn input_latency_on(a: &Endpoint, b: &Endpoint, load: Load, sizes: &Sizes, warmup: Duration) -> Result<Value> {
    allow(&[(a, b)], &[Class::Input, Class::FileTransfer, Class::VpnPacket, Class::Render]);
    let to = b.node_id().to_string();
    let pings = sizes.pings;
    let bulk_received = Arc::new(AtomicU64::new(0));
    let sink = {
        let b = b.clone();
        let bulk_received = bulk_received.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(pings);
            while latencies.len() < pings {
                let batch = b.recv(256).await;
                if batch.is_empty() {
                    break;
                }
                let now = base().elapsed().as_nanos() as u64;
                for d in batch {
                    if d.class == Class::Input {
                        // Invariant: every input message here is one of ours, INPUT bytes starting with the send time.
                        let sent = u64::from_be_bytes(d.data[..8].try_into().expect("input messages carry 8 timestamp bytes"));
                        latencies.push(now.saturating_sub(sent) as f64 / 1e6);
                    } else {
                        bulk_received.fetch_add(d.data.len() as u64, Ordering::Relaxed);
                    }
                }
            }
            latencies
        })
    };
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let (a, stop, to) = (a.clone(), stop.clone(), to.clone());
        tokio::spawn(async move {
            match load {
                Load::Idle => {}
                Load::FileTransfer => {
                    let chunk = Bytes::from(vec![0xA5u8; MESSAGE]);
                    while !stop.load(Ordering::Relaxed) {
                        if a.send(&to, Class::FileTransfer, chunk.clone()).await.is_err() {
                            break;
                        }
                    }
                }
                Load::VpnPacket => {
                    // Like the VPN pump reading a TUN device at line rate: offer
                    // packets until the class's queue is full, then wait for
                    // room (`send_unless_full` with hold), so the queue never
                    // runs dry and no core spins or polls.
                    let payload = Bytes::from(vec![0x5Au8; VPN]);
                    while !stop.load(Ordering::Relaxed) {
                        match a.send_unless_full(&to, Class::VpnPacket, payload.clone(), true) {
                            Ok(Err(room)) => room.ready().await,
                            Ok(Ok(_)) => {}
                            Err(_) => return,
                        }
                    }
                }
                Load::Render => {
                    // A desktop producing frames as fast as it can: every 100 µs
                    // a new frame replaces the unsent one (latest-only), from a
                    // thread of its own like a capture loop.
                    let payload = Bytes::from(vec![0x3Cu8; RENDER_FRAME]);
                    let generator = std::thread::spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            if a.send_now(&to, Class::Render, payload.clone()).is_err() {
                                return;
                            }
                            std::thread::sleep(Duration::from_micros(100));
                        }
                    });
                    let _ = tokio::task::spawn_blocking(move || generator.join()).await;
                }
            }
        })
    };
    let drops = Drops::start();
    if load != Load::Idle {
        tokio::time::sleep(warmup).await;
    }
    let bulk_at_start = bulk_received.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let mut ticker = tokio::time::interval(sizes.ping_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for _ in 0..pings {
        ticker.tick().await;
        let mut msg = vec![0u8; INPUT];
        msg[..8].copy_from_slice(&(base().elapsed().as_nanos() as u64).to_be_bytes());
        a.send(&to, Class::Input, Bytes::from(msg)).await?;
    }
    let mut latencies = tokio::time::timeout(Duration::from_secs(30), sink).await.map_err(|_| "input messages lost")??;
    latencies.sort_by(|x, y| x.total_cmp(y));
    let window = t0.elapsed();
    let load_mbps = mbps(bulk_received.load(Ordering::Relaxed) - bulk_at_start, window);
    stop.store(true, Ordering::Relaxed);
    let _ = loader.await;
    let stats = a.stats();
    let class_drops = |c: Class| stats["classes"][c.name()]["drops"].clone();
    Ok(json!({
        "p50_ms": round(percentile(&latencies, 50.0), 4),
        "p99_ms": round(percentile(&latencies, 99.0), 4),
        "max_ms": round(latencies.last().copied().unwrap_or(f64::NAN), 4),
        "samples": latencies.len(),
        "load_mbps": round(load_mbps, 2),
        "vpn_qos_drops": class_drops(Class::VpnPacket),
        "render_replaced": class_drops(Class::Render),
        "udp_drops": drops.since(),
        "sender": peer_stats(a),
        "socket": socket_buffers(b),
    }))
}

// ---------------------------------------------------------------- main

async fn one_run(cluster: &Cluster, sizes: &Sizes, run: usize) -> Result<Value> {
    let step = |what: &str| eprintln!("[mesh-bench] run {run}: {what}");
    step("raw TCP");
    let raw = raw_tcp(sizes.bulk_bytes).await?;
    step("TLS 1.3 over TCP");
    let tls = tls_tcp(cluster, sizes.bulk_bytes).await?;
    step("QUIC, GSO on");
    let gso_on = quic_pair(cluster, true, sizes.bulk_bytes, MESSAGE).await?;
    step("QUIC, GSO off");
    let gso_off = quic_pair(cluster, false, sizes.bulk_bytes, MESSAGE).await?;
    step("relay vs direct");
    let relay = relay(cluster, sizes, run.is_multiple_of(2)).await?;
    let [idle, ft, vpn] = input_latencies(cluster, sizes, &step).await?;
    // Diagnostic, not a figure: the loaded cases with small socket buffers,
    // to show how much of the loaded latency is the queue that a saturating
    // flow builds in the receiver's socket buffer.
    step("input latency under file_transfer, 256 KiB socket buffers (diagnostic)");
    let ft_small = input_latency(cluster, Load::FileTransfer, sizes, DIAGNOSTIC_UDP_BUFFER).await?;
    step("input latency under vpn_packet, 256 KiB socket buffers (diagnostic)");
    let vpn_small = input_latency(cluster, Load::VpnPacket, sizes, DIAGNOSTIC_UDP_BUFFER).await?;
    Ok(json!({
        "raw_tcp": raw, "tls_tcp": tls, "quic_gso_on": gso_on, "quic_gso_off": gso_off, "relay": relay,
        "input_idle": idle, "input_file_transfer": ft, "input_vpn_packet": vpn,
        "diagnostic_input_file_transfer_small_buffers": ft_small,
        "diagnostic_input_vpn_packet_small_buffers": vpn_small,
    }))
}

/// The loopback `input` latency idle, then under a saturating `file_transfer`
/// and a saturating `vpn_packet` flow, in that order.
async fn input_latencies(cluster: &Cluster, sizes: &Sizes, step: &dyn Fn(&str)) -> Result<[Value; 3]> {
    step("input latency idle");
    let idle = input_latency(cluster, Load::Idle, sizes, UDP_BUFFER).await?;
    step("input latency under file_transfer");
    let ft = input_latency(cluster, Load::FileTransfer, sizes, UDP_BUFFER).await?;
    step("input latency under vpn_packet");
    let vpn = input_latency(cluster, Load::VpnPacket, sizes, UDP_BUFFER).await?;
    Ok([idle, ft, vpn])
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    base();
    let quick = args.iter().any(|a| a == "--quick");
    let cluster = Cluster::new("bench-cluster")?;
    match args.first().map(String::as_str) {
        Some("suite") => {
            let runs: usize = arg(&args, "--runs").unwrap_or(5);
            let sizes = Sizes {
                bulk_bytes: arg(&args, "--bytes").unwrap_or(if quick { 64 << 20 } else { 512 << 20 }),
                pings: if quick { 400 } else { 2000 },
                ping_interval: Duration::from_millis(2),
                rtt_pings: if quick { 400 } else { 2000 },
            };
            let mut all = Vec::new();
            for run in 1..=runs {
                all.push(runtime.block_on(one_run(&cluster, &sizes, run))?);
            }
            let doc = json!({
                "bulk_bytes": sizes.bulk_bytes, "message_bytes": MESSAGE, "input_bytes": INPUT, "vpn_bytes": VPN,
                "pings": sizes.pings, "ping_interval_ms": sizes.ping_interval.as_millis() as u64, "rtt_pings": sizes.rtt_pings,
                "udp_buffer_requested": UDP_BUFFER, "tokio_workers": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                "runs": all,
            });
            println!("{doc}");
        }
        Some("latency") => {
            // Only the loopback `input` latency (idle, then under each load), for
            // quick on/off experiments: one JSON line per run.
            let runs: usize = arg(&args, "--runs").unwrap_or(3);
            let pings = arg(&args, "--pings").unwrap_or(2000);
            let sizes = Sizes { bulk_bytes: 0, pings, ping_interval: Duration::from_millis(2), rtt_pings: 0 };
            for run in 1..=runs {
                let step = |what: &str| eprintln!("[mesh-bench] latency run {run}: {what}");
                let [idle, ft, vpn] = runtime.block_on(input_latencies(&cluster, &sizes, &step))?;
                println!("{}", json!({ "input_idle": idle, "input_file_transfer": ft, "input_vpn_packet": vpn }));
            }
        }
        Some("bulk") => {
            let bytes: u64 = arg(&args, "--bytes").unwrap_or(64 << 20);
            let message: usize = arg(&args, "--message").unwrap_or(MESSAGE);
            let doc = runtime.block_on(quic_pair(&cluster, true, bytes, message))?;
            println!("{doc}");
        }
        Some("shaped") => {
            let text = |name: &str| arg::<String>(&args, name).ok_or_else(|| format!("shaped needs {name}"));
            let link = shaped::Link {
                ns_a: text("--ns-a")?,
                ns_b: text("--ns-b")?,
                addr_a: text("--addr-a")?.parse()?,
                addr_b: text("--addr-b")?.parse()?,
                one_way: Duration::from_secs_f64(arg::<f64>(&args, "--one-way-ms").unwrap_or(0.0) / 1000.0),
                loss: arg(&args, "--loss").unwrap_or(0.0),
            };
            let sizes = Sizes {
                bulk_bytes: 0,
                pings: arg(&args, "--pings").unwrap_or(if quick { 500 } else { 2000 }),
                ping_interval: Duration::from_millis(2),
                rtt_pings: 0,
            };
            let doc = runtime.block_on(shaped::run(&cluster, &link, &sizes))?;
            println!("{doc}");
        }
        _ => return Err("usage: mesh-bench suite [--quick] [--runs N] [--bytes N] | latency [--runs N] [--pings N] | bulk [--bytes N] [--message N] | shaped --ns-a NS --ns-b NS --addr-a IP --addr-b IP [--one-way-ms F] [--loss F] [--pings N] [--quick]".into()),
    }
    Ok(())
}
