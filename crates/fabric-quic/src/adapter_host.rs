//! The adapter side of remote sessions: SSH terminals (crates/fabric-ssh) and
//! RDP desktops (crates/fabric-rdp) for the sessions this node serves, fed by
//! the mesh session streams entry nodes open for them. A client's `input` and
//! `render` streams arrive as two streams with the same attachment id; once
//! both are here the pair is attached to the session (a newer attachment
//! takes over an older one), all in Rust. A desktop's `clipboard` and
//! `file_transfer` streams join their attachment once it is plugged in. The
//! agent only starts, re-scopes and stops sessions, and hears when one ends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fabric_rdp::RdpDesktop;
use fabric_ssh::SshTerminal;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::adapter_start::{self, EndedSink, RdpStart, SshStart, VpnRoute};
use crate::class::Class;
use crate::endpoint::Endpoint;
use crate::error::FabricError;
use crate::session_stream::{IncomingSessionStream, SessionStream};
use crate::vpn_bridge;
use crate::vpn_dial_wire::DialRequest;
use crate::wire::SessionId;

/// A half-arrived client (its input or its render stream, or a side stream before them) waits this long.
const PAIRING_WINDOW: Duration = Duration::from_secs(10);

/// A session's terminal or desktop ended by itself (shell exit, logoff, connection lost) or because it was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnded {
    pub session_id: String,
    pub reason: String,
}

type PairKey = (SessionId, SessionId);

/// What runs a session.
#[derive(Clone)]
enum Adapter {
    Ssh(Arc<SshTerminal>),
    Rdp(Arc<RdpDesktop>),
}

impl Adapter {
    fn stop(&self) {
        match self {
            Adapter::Ssh(t) => t.stop(),
            Adapter::Rdp(d) => d.stop(),
        }
    }
}

/// A session: still connecting, or running.
enum Slot {
    Starting,
    Running(Adapter),
}

/// A client's input and render streams, by attachment.
struct Pair {
    attachment: SessionId,
    input: SessionStream,
    render: SessionStream,
}

#[derive(Default)]
struct State {
    sessions: HashMap<SessionId, Slot>,
    /// One half of a client, by (session, attachment): the class that came first and its stream.
    waiting: HashMap<PairKey, (Class, SessionStream)>,
    /// A whole client that arrived while its session was still connecting: attached once it runs (the newest wins).
    early: HashMap<SessionId, Pair>,
    /// Clipboard and file-transfer streams whose attachment is not plugged in yet.
    side: HashMap<PairKey, Vec<(Class, SessionStream)>>,
    /// The attachment plugged into each running session last.
    plugged: HashMap<SessionId, SessionId>,
}

impl State {
    fn forget(&mut self, sid: SessionId) -> Option<Slot> {
        self.waiting.retain(|(session, _), _| *session != sid);
        self.side.retain(|(session, _), _| *session != sid);
        self.early.remove(&sid);
        self.plugged.remove(&sid);
        self.sessions.remove(&sid)
    }
}

pub struct AdapterHost {
    endpoint: Endpoint,
    state: Arc<Mutex<State>>,
    ended_tx: mpsc::UnboundedSender<SessionEnded>,
    ended_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<SessionEnded>>,
    /// Set by `close`: a pending or later `next_ended` resolves with `None`.
    closed: watch::Sender<bool>,
}

/// A session id as the control plane writes it (a UUID) in the mesh's 16 bytes.
pub fn session_id_bytes(id: &str) -> Option<SessionId> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || id.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A failed dial through the VPN owner, as the session's failure reason: the owner's refusal
/// (`adapter.vpn_not_owner`, `adapter.vpn_denied`, `adapter.vpn_dial_failed`) or the mesh's.
fn vpn_failure(e: &FabricError) -> String {
    let code = e.code();
    let why = match code {
        "vpn_not_owner" => "the node this session was sent to no longer runs the VPN connection under that lease (failover or fence); a new session follows the new owner",
        "vpn_denied" => "the VPN connection's routing policy does not let this service reach that target (service, allowed or denied ranges)",
        "vpn_dial_failed" => "the VPN connection's owner could not open TCP to the target (refused, unreachable, timed out or not resolved)",
        _ => return format!("adapter.vpn_unreachable: the VPN connection's owner could not be reached: {e}"),
    };
    format!("adapter.{code}: {why}")
}

fn session_id_text(id: &SessionId) -> String {
    let h: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl AdapterHost {
    /// Starts taking this node's incoming session streams (call once per endpoint, inside its runtime).
    pub fn start(endpoint: Endpoint) -> Arc<AdapterHost> {
        let (ended_tx, ended_rx) = mpsc::unbounded_channel();
        let host = Arc::new(AdapterHost {
            endpoint,
            state: Arc::default(),
            ended_tx,
            ended_rx: tokio::sync::Mutex::new(ended_rx),
            closed: watch::channel(false).0,
        });
        let accepting = host.clone();
        tokio::spawn(async move {
            while let Some(incoming) = accepting.endpoint.accept_session_stream().await {
                accepting.take(incoming);
            }
            // The endpoint closed (or was closed before this host started): so does the host.
            accepting.close();
        });
        host
    }

    /// Connects to the target and runs the shell; resolves once it runs. The error is `<code>: <message>`.
    pub async fn start_ssh(&self, session_id: &str, mut start: SshStart) -> Result<(), String> {
        let transport = match start.via_vpn.take() {
            Some(route) => Some(self.through_vpn(session_id, &route, "ssh", &start.host, start.port).await?),
            None => None,
        };
        let entries = start.entry_node_ids.clone();
        let ended = self.ended_sink(session_id, None);
        self.start_session(session_id, entries, async move {
            adapter_start::start_ssh(start, ended, transport).await.map(|t| Adapter::Ssh(Arc::new(t)))
        })
        .await
    }

    /// Connects to the target and starts its desktop; resolves once it runs. The error is `<code>: <message>`.
    pub async fn start_rdp(&self, session_id: &str, mut start: RdpStart) -> Result<(), String> {
        let transport = match start.via_vpn.take() {
            Some(route) => Some(self.through_vpn(session_id, &route, "rdp", &start.host, start.port).await?),
            None => None,
        };
        let entries = start.entry_node_ids.clone();
        let folder = start.transfer_root.join(session_id);
        let ended = self.ended_sink(session_id, Some(folder.clone()));
        let id = session_id.to_string();
        let result = self
            .start_session(session_id, entries, async move {
                adapter_start::start_rdp(&id, start, ended, transport).await.map(|d| Adapter::Rdp(Arc::new(d)))
            })
            .await;
        if result.is_err() {
            // A desktop that never ran leaves no transfer folder behind.
            let _ = tokio::fs::remove_dir_all(&folder).await;
        }
        result
    }

    /// Opens the session's TCP through the VPN connection's owner; the SSH or RDP
    /// client speaks over the returned connection (spliced onto the dial stream).
    async fn through_vpn(&self, session_id: &str, route: &VpnRoute, service: &str, host: &str, port: u16) -> Result<TcpStream, String> {
        let sid = session_id_bytes(session_id).ok_or_else(|| format!("adapter.target_invalid: session id {session_id:?} is not a UUID"))?;
        let request = DialRequest {
            connection_id: route.connection_id.clone(),
            epoch: route.epoch,
            service: service.to_string(),
            resource_id: route.resource_id.clone(),
            host: host.to_string(),
            port,
        };
        let stream = self.endpoint.vpn_dial(&route.owner_node_id, sid, &request).await.map_err(|e| vpn_failure(&e))?;
        vpn_bridge::bridge(stream).await.map_err(|e| format!("adapter.internal: the loopback bridge to the VPN stream: {e}"))
    }

    /// Reports a session's end to the agent (and removes its transfer folder, whose files end with it).
    fn ended_sink(&self, session_id: &str, transfer_folder: Option<PathBuf>) -> EndedSink {
        let ended = self.ended_tx.clone();
        let id = session_id.to_string();
        Arc::new(move |reason| {
            if let Some(folder) = &transfer_folder {
                let folder = folder.clone();
                tokio::spawn(async move {
                    let _ = tokio::fs::remove_dir_all(folder).await;
                });
            }
            let _ = ended.send(SessionEnded { session_id: id.clone(), reason });
        })
    }

    async fn start_session(
        &self,
        session_id: &str,
        entry_node_ids: Vec<String>,
        connect: impl std::future::Future<Output = Result<Adapter, String>>,
    ) -> Result<(), String> {
        let sid = session_id_bytes(session_id).ok_or_else(|| format!("adapter.target_invalid: {session_id:?} is not a session id"))?;
        {
            let mut state = self.state.lock().map_err(|_| "adapter.internal: state lock poisoned".to_string())?;
            if state.sessions.contains_key(&sid) {
                return Ok(());
            }
            state.sessions.insert(sid, Slot::Starting);
        }
        // Clients may connect while the session connects: their streams are admitted now and attached once it runs.
        self.endpoint.serve_session(sid, entry_node_ids);
        let result = match connect.await {
            Ok(adapter) => self.run(sid, adapter),
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.endpoint.stop_serving_session(sid);
            if let Ok(mut state) = self.state.lock() {
                state.forget(sid);
            }
        }
        result
    }

    /// The session connected: it runs now, with the client that came early, if any.
    fn run(&self, sid: SessionId, adapter: Adapter) -> Result<(), String> {
        let mut state = self.state.lock().map_err(|_| "adapter.internal: state lock poisoned".to_string())?;
        if !state.sessions.contains_key(&sid) {
            // Stopped while it connected.
            adapter.stop();
            return Err("adapter.stopped: the session was stopped while it connected".into());
        }
        state.sessions.insert(sid, Slot::Running(adapter.clone()));
        let early = state.early.remove(&sid);
        if let Some(pair) = early {
            plug(&mut state, sid, &adapter, pair);
        }
        Ok(())
    }

    /// The entry nodes allowed to open streams for a running session (a reattach through another entry).
    pub fn allow_entries(&self, session_id: &str, entry_node_ids: Vec<String>) {
        if let Some(sid) = session_id_bytes(session_id) {
            if self.state.lock().is_ok_and(|s| s.sessions.contains_key(&sid)) {
                self.endpoint.serve_session(sid, entry_node_ids);
            }
        }
    }

    /// Stops a session (its end is reported as `stopped`) and refuses its streams from now on.
    pub fn stop(&self, session_id: &str) {
        let Some(sid) = session_id_bytes(session_id) else { return };
        self.endpoint.stop_serving_session(sid);
        let slot = self.state.lock().ok().and_then(|mut s| s.forget(sid));
        if let Some(Slot::Running(adapter)) = slot {
            adapter.stop();
        }
    }

    /// The next session that ended; `None` once closed.
    pub async fn next_ended(&self) -> Option<SessionEnded> {
        let mut closed = self.closed.subscribe();
        if *closed.borrow() {
            return None;
        }
        tokio::select! {
            ended = async { self.ended_rx.lock().await.recv().await } => ended,
            _ = closed.changed() => None,
        }
    }

    /// Stops every session and ends `next_ended`.
    pub fn close(&self) {
        let ids: Vec<SessionId> = self.state.lock().map(|s| s.sessions.keys().copied().collect()).unwrap_or_default();
        for sid in ids {
            self.stop(&session_id_text(&sid));
        }
        self.closed.send_replace(true);
    }

    fn take(&self, incoming: IncomingSessionStream) {
        let IncomingSessionStream { session_id, attachment_id, class, stream, .. } = incoming;
        let Ok(mut state) = self.state.lock() else { return };
        let running = match state.sessions.get(&session_id) {
            None => return,
            Some(Slot::Starting) => None,
            Some(Slot::Running(adapter)) => Some(adapter.clone()),
        };
        let key = (session_id, attachment_id);
        match class {
            Class::Clipboard | Class::FileTransfer => {
                let plugged_now = state.plugged.get(&session_id) == Some(&attachment_id);
                match running {
                    Some(adapter) if plugged_now => attach_side(&adapter, class, stream),
                    _ => {
                        state.side.entry(key).or_default().push((class, stream));
                        drop(state);
                        self.expire(key);
                    }
                }
            }
            Class::Input | Class::Render => match state.waiting.remove(&key) {
                Some((first, other)) if first != class => {
                    let (input, render) = if class == Class::Input { (stream, other) } else { (other, stream) };
                    let pair = Pair { attachment: attachment_id, input, render };
                    match running {
                        Some(adapter) => plug(&mut state, session_id, &adapter, pair),
                        None => {
                            state.early.insert(session_id, pair);
                        }
                    }
                }
                _ => {
                    state.waiting.insert(key, (class, stream));
                    drop(state);
                    self.expire(key);
                }
            },
            // No other class carries a remote session.
            _ => {}
        }
    }

    /// Streams of a client that never completed (or whose attachment never plugged in) are dropped after the window, which ends them.
    fn expire(&self, key: PairKey) {
        let state = self.state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(PAIRING_WINDOW).await;
            if let Ok(mut s) = state.lock() {
                s.waiting.remove(&key);
                s.side.remove(&key);
            }
        });
    }
}

/// Attaches a client's pair (taking over any earlier one), then the side streams that waited for it.
fn plug(state: &mut State, sid: SessionId, adapter: &Adapter, pair: Pair) {
    let Pair { attachment, input, render } = pair;
    state.plugged.insert(sid, attachment);
    let (input_send, input_recv) = input.split();
    let (render_send, render_recv) = render.split();
    match adapter {
        Adapter::Ssh(terminal) => {
            let attached = terminal.attach(input_recv, render_send);
            tokio::spawn(async move {
                let _end = attached.finished().await;
                drop((input_send, render_recv));
            });
        }
        Adapter::Rdp(desktop) => {
            // The render stream's read half carries the client's frame acknowledgements.
            let attached = desktop.attach(input_recv, render_recv, render_send);
            tokio::spawn(async move {
                let _end = attached.finished().await;
                drop(input_send);
            });
        }
    }
    for (class, stream) in state.side.remove(&(sid, attachment)).unwrap_or_default() {
        attach_side(adapter, class, stream);
    }
}

/// A desktop's clipboard or file-transfer stream for its current attachment; a terminal has neither (dropping the stream ends it).
fn attach_side(adapter: &Adapter, class: Class, stream: SessionStream) {
    let Adapter::Rdp(desktop) = adapter else { return };
    let (send, recv) = stream.split();
    match class {
        Class::Clipboard => desktop.attach_clipboard(recv, send),
        Class::FileTransfer => desktop.attach_files(recv, send),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_round_trip_and_anything_else_is_refused() {
        let id = "01a2282d-5c98-7380-b7cf-eb17bca751f4";
        let bytes = session_id_bytes(id).unwrap();
        assert_eq!(session_id_text(&bytes), id);
        for bad in ["", "01a2282d5c987380b7cfeb17bca751f4", "01a2282d-5c98-7380-b7cf-eb17bca751fz", "01a2282d-5c98-7380-b7cf-eb17bca751f45"]
        {
            assert!(session_id_bytes(bad).is_none(), "{bad}");
        }
    }
}
