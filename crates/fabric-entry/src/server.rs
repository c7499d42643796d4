//! The listener: one port number, UDP for WebTransport over HTTP/3 and TCP
//! (TLS) for the WebSocket fallback, both at the path `/rap/v1`. Each
//! accepted transport becomes a `connection::serve` task; this module owns
//! the connection limit, the registry of admitted connections (for pushed
//! notices) and shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use crate::cert::Certificate;
use crate::connection::{serve, ConnectionCtx, ConnectionLimits};
use crate::errors::EntryCode;
use crate::handler::{ConnectionId, EntryHandler, Notice, Transport};
use crate::{quic, websocket};

/// The URL path clients connect to, on both transports.
pub const PATH: &str = "/rap/v1";

#[derive(Debug, Clone)]
pub struct EntryConfig {
    /// Port 0 picks a free port number that is free on both UDP and TCP.
    pub bind: SocketAddr,
    pub certificate: Certificate,
    /// Connections held at once (admitted or still saying hello); more are refused with `data_plane.entry_full`.
    pub max_connections: usize,
    /// Concurrent channel streams per connection (the control stream not counted).
    pub max_streams_per_connection: usize,
    /// Time a client has to send `hello` after it connects.
    pub hello_timeout: Duration,
    /// Time the handler has to decide on a hello; past it the client gets `internal.error`.
    pub admit_timeout: Duration,
    /// Time given to a client to read a last message (error, notice) before its transport is closed.
    pub close_grace: Duration,
}

impl EntryConfig {
    pub fn new(bind: SocketAddr, certificate: Certificate) -> EntryConfig {
        EntryConfig {
            bind,
            certificate,
            max_connections: 10_000,
            max_streams_per_connection: 16,
            hello_timeout: Duration::from_secs(10),
            admit_timeout: Duration::from_secs(30),
            close_grace: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// Over the limit a few connections are still let in to read a clear refusal; past these they are dropped.
const REFUSAL_SLOTS: usize = 64;

pub(crate) struct Shared {
    pub handler: Arc<dyn EntryHandler>,
    pub limits: ConnectionLimits,
    pub max_connections: usize,
    next_id: AtomicU64,
    live: AtomicUsize,
    refusing: AtomicUsize,
    admitted: Mutex<HashMap<ConnectionId, mpsc::Sender<Notice>>>,
    pub shutdown: watch::Receiver<bool>,
    /// Signalled when the last connection ends (shutdown waits for it).
    idle: Notify,
}

/// A connection's place: counted while it lives.
pub(crate) struct Slot {
    shared: Arc<Shared>,
    refusing: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let counter = if self.refusing { &self.shared.refusing } else { &self.shared.live };
        counter.fetch_sub(1, Ordering::AcqRel);
        if self.shared.live.load(Ordering::Acquire) == 0 && self.shared.refusing.load(Ordering::Acquire) == 0 {
            self.shared.idle.notify_waiters();
        }
    }
}

impl Shared {
    /// A slot for a new connection: `Some((slot, None))` within the limit,
    /// `Some((slot, Some(EntryFull)))` to refuse it clearly, `None` to drop it.
    pub(crate) fn slot(self: &Arc<Self>) -> Option<(Slot, Option<EntryCode>)> {
        if self.live.fetch_add(1, Ordering::AcqRel) < self.max_connections {
            return Some((Slot { shared: self.clone(), refusing: false }, None));
        }
        self.live.fetch_sub(1, Ordering::AcqRel);
        if self.refusing.fetch_add(1, Ordering::AcqRel) < REFUSAL_SLOTS {
            return Some((Slot { shared: self.clone(), refusing: true }, Some(EntryCode::EntryFull)));
        }
        self.refusing.fetch_sub(1, Ordering::AcqRel);
        None
    }

    /// Serves one accepted session until it ends.
    pub(crate) async fn run<S: web_transport_trait::Session>(
        self: Arc<Self>,
        session: S,
        transport: Transport,
        remote_addr: SocketAddr,
        slot: Slot,
        refuse_with: Option<EntryCode>,
    ) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (push, notices) = mpsc::channel(4);
        let registry = self.clone();
        let register = Box::new(move |admitted: bool| {
            let Ok(mut map) = registry.admitted.lock() else { return };
            if admitted {
                map.insert(id, push.clone());
            } else {
                map.remove(&id);
            }
        });
        let ctx = ConnectionCtx {
            id,
            transport,
            remote_addr,
            trace_id: trace_id(),
            handler: self.handler.clone(),
            limits: self.limits,
            refuse_with,
            notices,
            register,
            shutdown: self.shutdown.clone(),
        };
        serve(session, ctx).await;
        drop(slot);
    }
}

/// A running entry listener.
pub struct EntryServer {
    shared: Arc<Shared>,
    port: u16,
    certificate_sha256: [u8; 32],
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    endpoint: quinn::Endpoint,
}

impl EntryServer {
    /// Binds UDP and TCP on one port number and starts serving. Needs a Tokio runtime.
    pub async fn start(config: EntryConfig, handler: Arc<dyn EntryHandler>) -> Result<EntryServer, StartError> {
        let (endpoint, tcp) = bind_pair(&config)?;
        let port = endpoint.local_addr().map_err(|e| StartError::Bind(config.bind, e))?.port();
        let tls = websocket::tls_acceptor(&config.certificate)?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            handler,
            limits: ConnectionLimits {
                hello_timeout: config.hello_timeout,
                admit_timeout: config.admit_timeout,
                max_streams: config.max_streams_per_connection,
                close_grace: config.close_grace,
            },
            max_connections: config.max_connections,
            next_id: AtomicU64::new(0),
            live: AtomicUsize::new(0),
            refusing: AtomicUsize::new(0),
            admitted: Mutex::new(HashMap::new()),
            shutdown: shutdown_rx,
            idle: Notify::new(),
        });
        let tasks = vec![
            tokio::spawn(quic::accept_loop(endpoint.clone(), shared.clone())),
            tokio::spawn(websocket::accept_loop(tcp, tls, shared.clone())),
        ];
        Ok(EntryServer { shared, port, certificate_sha256: config.certificate.sha256, shutdown, tasks, endpoint })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The SHA-256 of the leaf certificate (what `serverCertificateHashes` carries).
    pub fn certificate_sha256(&self) -> [u8; 32] {
        self.certificate_sha256
    }

    /// Connections held now (admitted or saying hello).
    pub fn connections(&self) -> usize {
        self.shared.live.load(Ordering::Acquire)
    }

    /// Sends a notice to one admitted connection, which is then closed. False when no such connection is admitted.
    pub fn push(&self, connection_id: ConnectionId, notice: Notice) -> bool {
        let sender = match self.shared.admitted.lock() {
            Ok(map) => map.get(&connection_id).cloned(),
            Err(_) => None,
        };
        sender.is_some_and(|s| s.try_send(notice).is_ok())
    }

    /// Stops accepting and closes every connection (the handler hears `CloseReason::Shutdown`).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in &self.tasks {
            task.abort();
        }
        // Connections close themselves on the signal; give them the close grace to do so.
        let drained = async {
            loop {
                let idle = self.shared.idle.notified();
                if self.connections() == 0 && self.shared.refusing.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(self.shared.limits.close_grace, drained).await;
        self.endpoint.close(0u32.into(), b"shutdown");
    }
}

/// UDP and TCP on the same port number: with port 0, tries a few UDP ports until TCP binds too.
fn bind_pair(config: &EntryConfig) -> Result<(quinn::Endpoint, std::net::TcpListener), StartError> {
    let attempts = if config.bind.port() == 0 { 16 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let endpoint = quic::endpoint(config)?;
        let addr = endpoint.local_addr().map_err(|e| StartError::Bind(config.bind, e))?;
        match std::net::TcpListener::bind(addr) {
            Ok(tcp) => {
                tcp.set_nonblocking(true).map_err(|e| StartError::Bind(addr, e))?;
                return Ok((endpoint, tcp));
            }
            Err(e) => last = Some(StartError::Bind(addr, e)),
        }
    }
    Err(last.unwrap_or_else(|| StartError::Bind(config.bind, std::io::Error::other("no port"))))
}

/// 32 hex digits, like the control plane's trace ids.
fn trace_id() -> String {
    let mut bytes = [0u8; 16];
    let rng = ring::rand::SystemRandom::new();
    if ring::rand::SecureRandom::fill(&rng, &mut bytes).is_err() {
        // Not a secret: a process-unique fallback is enough to correlate logs.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        bytes[..8].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
