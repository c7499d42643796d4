//! Shaped-link scenarios: two mesh nodes in two network namespaces that
//! scripts/benchmarks/mesh-shaped.ts made, joined by a veth pair whose egress
//! is rate-limited by `tc` (a token bucket with a bounded queue: the
//! bottleneck, where a standing queue is what hurts `input`).
//!
//! The kernel here has no `sch_netem`, so delay and random loss are a delay
//! line in user space, in node B's namespace: node A dials the line's outside
//! address on the veth, the line forwards each datagram to node B on B's
//! loopback after half the round-trip time (and B's datagrams back the same
//! way), dropping a configured share of them at random. The veth's token
//! bucket, on A's side for A → B and on B's side for B → A, is the only
//! queue that fills: the line forwards without a limit.
//!
//! Sockets belong to the network namespace of the thread that made them, so
//! both endpoints live in this one process (one clock for one-way latency),
//! each bound by a thread that entered its namespace (`in_netns`).

use super::{input_latency_on, round, udp_buffer_errors, Load, Result, Sizes};
use fabric_quic::{Endpoint, EndpointOptions};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Runs `f` on a thread inside the network namespace `name` (as made by
/// `ip netns add`), with this runtime entered so quinn can bind there.
fn in_netns<T: Send + 'static>(name: &str, f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let path = format!("/var/run/netns/{name}");
    let handle = tokio::runtime::Handle::current();
    std::thread::spawn(move || -> Result<T> {
        let ns = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        // SAFETY: setns with a namespace file we opened; it changes only this thread's namespace.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns {path}: {}", std::io::Error::last_os_error()).into());
        }
        let _runtime = handle.enter();
        f()
    })
    .join()
    .map_err(|_| "a network-namespace thread panicked")?
}

/// A UDP socket with the benchmark's buffer size, bound to `addr`.
fn line_socket(addr: SocketAddr) -> Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_recv_buffer_size(super::UDP_BUFFER)?;
    socket.set_send_buffer_size(super::UDP_BUFFER)?;
    socket.bind(&addr.into())?;
    let socket: UdpSocket = socket.into();
    // Receivers wake this often to see `stop`.
    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
    Ok(socket)
}

#[derive(Default)]
struct LineCounters {
    forwarded: AtomicU64,
    lost: AtomicU64,
}

/// The user-space delay and loss of the link (see the module doc).
struct DelayLine {
    listen: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    counters: Arc<LineCounters>,
}

/// Where a direction's datagrams go: a fixed address, or whoever first
/// reached the outside socket (node A's ephemeral port).
#[derive(Clone)]
enum Target {
    Fixed(SocketAddr),
    Learned(Arc<OnceLock<SocketAddr>>),
}

impl DelayLine {
    /// `outside` faces node A on the veth, `inside` faces node B (`node_b`)
    /// on B's loopback; each datagram is held `one_way`, and `loss` of them
    /// (0..1) are dropped.
    fn start(outside: UdpSocket, inside: UdpSocket, node_b: SocketAddr, one_way: Duration, loss: f64) -> Result<DelayLine> {
        let listen = outside.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(LineCounters::default());
        let node_a = Arc::new(OnceLock::new());
        let (outside, inside) = (Arc::new(outside), Arc::new(inside));
        let mut threads = Vec::new();
        let directions = [
            (outside.clone(), inside.clone(), Target::Fixed(node_b), Some(node_a.clone()), 0x9E37_79B9_7F4A_7C15u64),
            (inside, outside, Target::Learned(node_a), None, 0xD1B5_4A32_D192_ED03u64),
        ];
        for (from, to, target, learn, seed) in directions {
            let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
            let (stop_rx, counters_rx) = (stop.clone(), counters.clone());
            threads.push(std::thread::spawn(move || receive(&from, &tx, one_way, loss, seed, learn, &stop_rx, &counters_rx)));
            let (stop_tx, counters_tx) = (stop.clone(), counters.clone());
            threads.push(std::thread::spawn(move || forward(&to, &rx, &target, &stop_tx, &counters_tx)));
        }
        Ok(DelayLine { listen, stop, threads, counters })
    }

    fn finish(self) -> Value {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        json!({
            "forwarded": self.counters.forwarded.load(Ordering::Relaxed),
            "lost": self.counters.lost.load(Ordering::Relaxed),
        })
    }
}

/// One direction's receiving half: stamps each datagram with its release time.
#[allow(clippy::too_many_arguments)]
fn receive(
    from: &UdpSocket,
    tx: &mpsc::Sender<(Instant, Vec<u8>)>,
    one_way: Duration,
    loss: f64,
    seed: u64,
    learn: Option<Arc<OnceLock<SocketAddr>>>,
    stop: &AtomicBool,
    counters: &LineCounters,
) {
    let mut rng = seed;
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, peer)) = from.recv_from(&mut buf) else { continue };
        if let Some(learn) = &learn {
            let _ = learn.set(peer);
        }
        // xorshift64: a fixed sequence, so every run loses the same pattern.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if (rng >> 11) as f64 / (1u64 << 53) as f64 <= loss {
            counters.lost.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if tx.send((Instant::now() + one_way, buf[..n].to_vec())).is_err() {
            return;
        }
    }
}

/// One direction's sending half: releases datagrams in order at their time.
fn forward(to: &UdpSocket, rx: &mpsc::Receiver<(Instant, Vec<u8>)>, target: &Target, stop: &AtomicBool, counters: &LineCounters) {
    while !stop.load(Ordering::Relaxed) {
        let Ok((release, data)) = rx.recv_timeout(Duration::from_millis(50)) else { continue };
        let wait = release.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        let addr = match target {
            Target::Fixed(addr) => Some(*addr),
            Target::Learned(cell) => cell.get().copied(),
        };
        if let Some(addr) = addr {
            if to.send_to(&data, addr).is_ok() {
                counters.forwarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The link: namespaces, the veth addresses, and what the delay line adds.
pub struct Link {
    pub ns_a: String,
    pub ns_b: String,
    pub addr_a: IpAddr,
    pub addr_b: IpAddr,
    pub one_way: Duration,
    pub loss: f64,
}

fn drops_in(ns: &str) -> Result<(u64, u64)> {
    in_netns(ns, || Ok(udp_buffer_errors()))
}

/// `input` latency on the shaped link under `load`, with fresh endpoints.
async fn measure(link: &Link, a_opts: EndpointOptions, b_opts: EndpointOptions, load: Load, sizes: &Sizes) -> Result<Value> {
    let (one_way, loss, addr_b) = (link.one_way, link.loss, link.addr_b);
    let (b, line) = in_netns(&link.ns_b, move || {
        let b = Endpoint::bind(b_opts)?;
        let outside = line_socket(SocketAddr::new(addr_b, 0))?;
        let inside = line_socket("127.0.0.1:0".parse()?)?;
        let line = DelayLine::start(outside, inside, b.local_addr(), one_way, loss)?;
        Ok((b, line))
    })?;
    let a = in_netns(&link.ns_a, move || Ok(Endpoint::bind(a_opts)?))?;
    let before = (drops_in(&link.ns_a)?, drops_in(&link.ns_b)?);
    let out = async {
        a.connect(b.node_id(), line.listen).await?;
        // Long enough for slow start to end and the bottleneck queue to settle at tens of ms of RTT.
        input_latency_on(&a, &b, load, sizes, Duration::from_millis(2000)).await
    }
    .await;
    super::close(&[&a, &b]).await;
    let after = (drops_in(&link.ns_a)?, drops_in(&link.ns_b)?);
    let line = line.finish();
    let mut out = out?;
    let socket_drops = (after.0 .0 + after.1 .0).saturating_sub(before.0 .0 + before.1 .0);
    let send_drops = (after.0 .1 + after.1 .1).saturating_sub(before.0 .1 + before.1 .1);
    out["udp_drops"] = json!({ "rcvbuf_errors": socket_drops, "sndbuf_errors": send_drops });
    out["delay_line"] = line;
    Ok(out)
}

/// One run of one link: `input` idle and under each saturating load.
pub async fn run(cluster: &super::Cluster, link: &Link, sizes: &Sizes) -> Result<Value> {
    let opts = |node: &str, addr: IpAddr| -> Result<EndpointOptions> {
        let mut o = cluster.options(node, true, super::UDP_BUFFER)?;
        o.listen = SocketAddr::new(addr, 0);
        Ok(o)
    };
    let mut out = serde_json::Map::new();
    for (name, load) in
        [("idle", Load::Idle), ("file_transfer", Load::FileTransfer), ("vpn_packet", Load::VpnPacket), ("render", Load::Render)]
    {
        eprintln!("[mesh-bench] shaped {}: input under {name}", link.ns_a);
        let value = measure(link, opts("a", link.addr_a)?, opts("b", "127.0.0.1".parse()?)?, load, sizes).await?;
        out.insert(name.to_string(), value);
    }
    out.insert("one_way_ms".into(), json!(round(link.one_way.as_secs_f64() * 1000.0, 3)));
    out.insert("loss".into(), json!(link.loss));
    Ok(Value::Object(out))
}
