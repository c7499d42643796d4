//! The adapter side of remote sessions: SSH terminals (crates/fabric-ssh) for
//! the sessions this node serves, fed by the mesh session streams entry nodes
//! open for them. A client's `input` and `render` streams arrive as two
//! streams with the same attachment id; once both are here the pair is
//! attached to the session's terminal (a newer attachment takes over an
//! older one), all in Rust. The agent only starts, re-scopes and stops
//! sessions, and hears when one ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fabric_ssh::{EventSink, HostKeyPolicy, Pty, Secret, SshAuth, SshTarget, SshTerminal, TerminalEvent};
use tokio::sync::{mpsc, watch};

use crate::class::Class;
use crate::endpoint::Endpoint;
use crate::session_stream::{IncomingSessionStream, SessionStream};
use crate::wire::SessionId;

/// A half-arrived client (its input or its render stream) waits this long for the other.
const PAIRING_WINDOW: Duration = Duration::from_secs(10);

/// What the agent hands over to start a session's terminal; credentials go straight into `Secret`s.
pub struct SshStart {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Option<String>,
    pub private_key: Option<String>,
    /// The pinned host key, or `None` for `ignore`.
    pub host_key: Option<String>,
    pub entry_node_ids: Vec<String>,
}

/// A session's terminal ended by itself (shell exit, connection lost) or because it was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnded {
    pub session_id: String,
    pub reason: String,
}

type PairKey = (SessionId, SessionId);

/// A session's terminal: still connecting, or running.
enum Slot {
    Starting,
    Running(Arc<SshTerminal>),
}

#[derive(Default)]
struct State {
    terminals: HashMap<SessionId, Slot>,
    /// One half of a client, by (session, attachment): the class that came first and its stream.
    waiting: HashMap<PairKey, (Class, SessionStream)>,
    /// A whole client (input, render) that arrived while its terminal was still connecting: attached once it runs (the newest wins).
    early: HashMap<SessionId, (SessionStream, SessionStream)>,
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
        });
        host
    }

    /// Connects to the target and runs the shell; resolves once it runs. The error is `<code>: <message>`.
    pub async fn start_ssh(&self, session_id: &str, start: SshStart) -> Result<(), String> {
        let sid = session_id_bytes(session_id).ok_or_else(|| format!("adapter.target_invalid: {session_id:?} is not a session id"))?;
        {
            let mut state = self.state.lock().map_err(|_| "adapter.internal: state lock poisoned".to_string())?;
            if state.terminals.contains_key(&sid) {
                return Ok(());
            }
            state.terminals.insert(sid, Slot::Starting);
        }
        // Clients may connect while the terminal connects: their streams are admitted now and attached once it runs.
        self.endpoint.serve_session(sid, start.entry_node_ids.clone());
        let result = self.connect(sid, session_id, start).await;
        if result.is_err() {
            self.endpoint.stop_serving_session(sid);
            if let Ok(mut state) = self.state.lock() {
                state.terminals.remove(&sid);
                state.early.remove(&sid);
                state.waiting.retain(|(session, _), _| *session != sid);
            }
        }
        result
    }

    async fn connect(&self, sid: SessionId, session_id: &str, start: SshStart) -> Result<(), String> {
        let auth = match (start.private_key, start.password) {
            (Some(pem), passphrase) => SshAuth::PrivateKey { pem: Secret::new(pem), passphrase: passphrase.map(Secret::new) },
            (None, Some(password)) => SshAuth::Password(Secret::new(password)),
            (None, None) => return Err("adapter.credentials_invalid: the secret has neither a password nor a private key".into()),
        };
        let target = SshTarget {
            host: start.host,
            port: start.port,
            username: start.username,
            auth,
            host_key: start.host_key.map_or(HostKeyPolicy::Ignore, HostKeyPolicy::Pinned),
        };
        let ended = self.ended_tx.clone();
        let id = session_id.to_string();
        let sink: EventSink = Arc::new(move |event| {
            if let TerminalEvent::Ended { reason } = event {
                let _ = ended.send(SessionEnded { session_id: id.clone(), reason: reason.to_string() });
            }
        });
        let pty = Pty { cols: 80, rows: 24, term: "xterm-256color".into() };
        let terminal = Arc::new(SshTerminal::start(target, pty, sink).await.map_err(|e| format!("{}: {}", e.code(), e.message))?);
        let mut state = self.state.lock().map_err(|_| "adapter.internal: state lock poisoned".to_string())?;
        if !state.terminals.contains_key(&sid) {
            // Stopped while it connected.
            terminal.stop();
            return Err("adapter.stopped: the session was stopped while its terminal connected".into());
        }
        state.terminals.insert(sid, Slot::Running(terminal.clone()));
        let early = state.early.remove(&sid);
        drop(state);
        if let Some((input, render)) = early {
            attach(&terminal, input, render);
        }
        Ok(())
    }

    /// The entry nodes allowed to open streams for a running session (a reattach through another entry).
    pub fn allow_entries(&self, session_id: &str, entry_node_ids: Vec<String>) {
        if let Some(sid) = session_id_bytes(session_id) {
            if self.state.lock().is_ok_and(|s| s.terminals.contains_key(&sid)) {
                self.endpoint.serve_session(sid, entry_node_ids);
            }
        }
    }

    /// Stops a session's terminal (its end is reported as `stopped`) and refuses its streams from now on.
    pub fn stop(&self, session_id: &str) {
        let Some(sid) = session_id_bytes(session_id) else { return };
        self.endpoint.stop_serving_session(sid);
        let slot = self.state.lock().ok().and_then(|mut s| {
            s.waiting.retain(|(session, _), _| *session != sid);
            s.early.remove(&sid);
            s.terminals.remove(&sid)
        });
        if let Some(Slot::Running(t)) = slot {
            t.stop();
        }
    }

    /// The next session whose terminal ended; `None` once closed.
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

    /// Stops every terminal and ends `next_ended`.
    pub fn close(&self) {
        let ids: Vec<SessionId> = self.state.lock().map(|s| s.terminals.keys().copied().collect()).unwrap_or_default();
        for sid in ids {
            self.stop(&session_id_text(&sid));
        }
        self.closed.send_replace(true);
    }

    fn take(&self, incoming: IncomingSessionStream) {
        let IncomingSessionStream { session_id, attachment_id, class, stream, .. } = incoming;
        if class != Class::Input && class != Class::Render {
            // Clipboard and file transfer are not carried by the terminal adapter.
            return;
        }
        let Ok(mut state) = self.state.lock() else { return };
        let running = match state.terminals.get(&session_id) {
            None => return,
            Some(Slot::Starting) => None,
            Some(Slot::Running(t)) => Some(t.clone()),
        };
        let key = (session_id, attachment_id);
        match state.waiting.remove(&key) {
            Some((first, other)) if first != class => {
                let (input, render) = if class == Class::Input { (stream, other) } else { (other, stream) };
                match running {
                    Some(terminal) => {
                        drop(state);
                        attach(&terminal, input, render);
                    }
                    None => {
                        state.early.insert(session_id, (input, render));
                    }
                }
            }
            _ => {
                state.waiting.insert(key, (class, stream));
                drop(state);
                let state = self.state.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(PAIRING_WINDOW).await;
                    // Still alone: the client never opened its other stream; dropping it ends that stream.
                    if let Ok(mut s) = state.lock() {
                        s.waiting.remove(&key);
                    }
                });
            }
        }
    }
}

/// Keystrokes come in on the input stream, output goes out on the render stream; the unused halves stay open until the attachment ends.
fn attach(terminal: &SshTerminal, input: SessionStream, render: SessionStream) {
    let (input_send, input_recv) = input.split();
    let (render_send, render_recv) = render.split();
    let attachment = terminal.attach(input_recv, render_send);
    tokio::spawn(async move {
        let _end = attachment.finished().await;
        drop((input_send, render_recv));
    });
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
