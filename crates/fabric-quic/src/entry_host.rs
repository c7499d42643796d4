//! The entry side of remote sessions: the client-facing server of
//! crates/fabric-entry (WebTransport and its WebSocket fallback) with this
//! node's mesh endpoint as the upstream. The agent decides who gets in (it
//! checks and redeems tokens) through a question-and-answer bridge; each
//! admitted client's channel streams then become mesh session streams to the
//! session's adapter node, copied in Rust.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use fabric_entry::{
    Admission, BoxFuture, Certificate, ConnectionClosed, ConnectionId, Directions, EntryConfig, EntryHandler, EntryServer, ErrorEvent,
    Hello, Notice, Upstream,
};
use serde_json::{json, Value};
use session_frame::StreamKind;
use tokio::sync::{mpsc, oneshot, watch};

use crate::adapter_host::session_id_bytes;
use crate::class::Class;
use crate::endpoint::Endpoint;

/// The agent's answer to a hello.
pub struct AdmitAnswer {
    pub session_id: String,
    pub attachment_id: String,
    pub channels: Vec<String>,
    pub adapter_node_id: String,
    /// The session's clipboard policy (`disabled`, `client_to_server`, …), enforced by the entry too.
    pub clipboard: String,
}

type Pending = oneshot::Sender<Result<Admission, ErrorEvent>>;

struct Bridge {
    endpoint: Endpoint,
    events: mpsc::UnboundedSender<Value>,
    pending: Mutex<HashMap<ConnectionId, Pending>>,
}

fn unavailable(trace_id: &str, why: &str) -> ErrorEvent {
    ErrorEvent {
        code: "data_plane.entry_unavailable".into(),
        message_key: "errors.data_plane.entry_unavailable".into(),
        fallback_message: "This entry point cannot check connections right now. Try again in a moment.".into(),
        details: [("reason".to_string(), Value::String(why.into()))].into_iter().collect(),
        trace_id: trace_id.into(),
    }
}

fn class_of(kind: StreamKind) -> Option<Class> {
    match kind {
        StreamKind::Input => Some(Class::Input),
        StreamKind::Render => Some(Class::Render),
        StreamKind::Clipboard => Some(Class::Clipboard),
        StreamKind::FileTransfer => Some(Class::FileTransfer),
        StreamKind::Control => None,
    }
}

fn kind_of(channel: &str) -> Option<StreamKind> {
    [StreamKind::Input, StreamKind::Render, StreamKind::Clipboard, StreamKind::FileTransfer].into_iter().find(|k| k.channel() == channel)
}

impl EntryHandler for Bridge {
    fn admit(&self, hello: Hello) -> BoxFuture<Result<Admission, ErrorEvent>> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(hello.connection_id, tx);
        }
        let trace = hello.trace_id.clone();
        let sent = self.events.send(json!({
            "type": "hello",
            "connection_id": hello.connection_id,
            "session_id": hello.session_id,
            "token": hello.token,
            "transport": hello.transport.name(),
            "remote_addr": hello.remote_addr.to_string(),
            "trace_id": hello.trace_id,
        }));
        // The server bounds the wait (EntryConfig::admit_timeout).
        Box::pin(async move {
            if sent.is_err() {
                return Err(unavailable(&trace, "the entry is stopping"));
            }
            rx.await.unwrap_or_else(|_| Err(unavailable(&trace, "the entry is stopping")))
        })
    }

    fn open_upstream(&self, admission: &Admission, kind: StreamKind) -> BoxFuture<Result<Box<dyn Upstream>, ErrorEvent>> {
        let endpoint = self.endpoint.clone();
        let adapter = admission.adapter_node_id.clone();
        let ids = (session_id_bytes(&admission.session_id), session_id_bytes(&admission.attachment_id));
        let class = class_of(kind);
        Box::pin(async move {
            let (Some(adapter), (Some(sid), Some(att)), Some(class)) = (adapter, ids, class) else {
                return Err(unavailable("", "no adapter for this connection"));
            };
            match endpoint.open_session_stream(&adapter, class, sid, att).await {
                Ok(stream) => Ok(Box::new(stream) as Box<dyn Upstream>),
                Err(e) => Err(unavailable("", &format!("the session's adapter cannot be reached ({})", e.code()))),
            }
        })
    }

    fn closed(&self, event: ConnectionClosed) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(&event.connection_id);
        }
        let (session_id, attachment_id) = match &event.admission {
            Some(a) => (Value::String(a.session_id.clone()), Value::String(a.attachment_id.clone())),
            None => (Value::Null, Value::Null),
        };
        let reason = event.reason.name();
        let _ = self.events.send(json!({
            "type": "closed",
            "connection_id": event.connection_id,
            "transport": event.transport.name(),
            "session_id": session_id,
            "attachment_id": attachment_id,
            "reason": reason,
        }));
    }
}

/// A running entry server and the agent's side of its bridge.
pub struct EntryHost {
    server: Mutex<Option<EntryServer>>,
    bridge: Arc<Bridge>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>,
    closed: watch::Sender<bool>,
    pub port: u16,
    /// SHA-256 (hex) of a self-signed certificate; `None` with an operator's.
    pub certificate_sha256: Option<String>,
    /// The certificate (PEM), public: operators and tests pin or trust it.
    pub certificate_pem: String,
}

/// Where the entry listens and with which certificate.
pub struct EntryStart {
    pub listen: SocketAddr,
    /// PEM files of an operator certificate; `None`: a self-signed one for `names`, valid 14 days.
    pub certificate_files: Option<(String, String)>,
    pub names: Vec<String>,
}

impl EntryHost {
    pub async fn start(endpoint: Endpoint, start: EntryStart) -> Result<EntryHost, String> {
        let (certificate, self_signed) = match &start.certificate_files {
            Some((cert, key)) => (
                Certificate::from_pem_files(cert.as_ref(), key.as_ref()).map_err(|e| format!("config_invalid: entry certificate: {e}"))?,
                false,
            ),
            None => (Certificate::self_signed(&start.names, 14).map_err(|e| format!("config_invalid: entry certificate: {e}"))?, true),
        };
        let certificate_sha256 = self_signed.then(|| certificate.sha256_hex());
        let certificate_pem = certificate.leaf_pem();
        let (tx, rx) = mpsc::unbounded_channel();
        let bridge = Arc::new(Bridge { endpoint, events: tx, pending: Mutex::default() });
        let server = EntryServer::start(EntryConfig::new(start.listen, certificate), bridge.clone())
            .await
            .map_err(|e| format!("config_invalid: entry listener: {e}"))?;
        Ok(EntryHost {
            port: server.port(),
            server: Mutex::new(Some(server)),
            bridge,
            events: tokio::sync::Mutex::new(rx),
            closed: watch::channel(false).0,
            certificate_sha256,
            certificate_pem,
        })
    }

    /// The next hello or closed connection as JSON; `None` once stopped.
    pub async fn next_event(&self) -> Option<Value> {
        let mut closed = self.closed.subscribe();
        if *closed.borrow() {
            return None;
        }
        tokio::select! {
            e = async { self.events.lock().await.recv().await } => e,
            _ = closed.changed() => None,
        }
    }

    /// The agent's yes to a hello.
    pub fn admit(&self, connection_id: ConnectionId, answer: AdmitAnswer) -> Result<(), String> {
        let channels = answer.channels.iter().filter_map(|c| kind_of(c)).collect();
        let clipboard =
            Directions::from_mode(&answer.clipboard).ok_or_else(|| format!("config_invalid: clipboard mode {:?}", answer.clipboard))?;
        let admission = Admission {
            connection_id,
            session_id: answer.session_id,
            attachment_id: answer.attachment_id,
            channels,
            adapter_node_id: Some(answer.adapter_node_id),
            clipboard,
        };
        let waiting = self.bridge.pending.lock().ok().and_then(|mut p| p.remove(&connection_id));
        match waiting {
            Some(tx) => tx.send(Ok(admission)).map_err(|_| "config_invalid: that client is gone".to_string()),
            None => Err("config_invalid: no client waits with that connection id".into()),
        }
    }

    /// The agent's no: the error event the client gets.
    pub fn refuse(&self, connection_id: ConnectionId, error: &Value) -> Result<(), String> {
        let event = ErrorEvent::from_json(error).ok_or("config_invalid: not an error event")?;
        let waiting = self.bridge.pending.lock().ok().and_then(|mut p| p.remove(&connection_id));
        match waiting {
            Some(tx) => tx.send(Err(event)).map_err(|_| "config_invalid: that client is gone".to_string()),
            None => Err("config_invalid: no client waits with that connection id".into()),
        }
    }

    /// Sends a notice (`session.taken_over`, `session.ended`) to one admitted client and closes its transport.
    pub fn push(&self, connection_id: ConnectionId, notice: &Value) -> bool {
        let notice = match notice.get("type").and_then(Value::as_str) {
            Some("session.taken_over") => match notice.get("error").and_then(ErrorEvent::from_json) {
                Some(e) => Notice::TakenOver(e),
                None => return false,
            },
            Some("session.ended") => Notice::Ended { reason: notice.get("reason").and_then(Value::as_str).unwrap_or("ended").to_string() },
            _ => return false,
        };
        self.server.lock().ok().and_then(|s| s.as_ref().map(|s| s.push(connection_id, notice))).unwrap_or(false)
    }

    /// Closes every client and the listener; `next_event` ends.
    pub async fn stop(&self) {
        let server = self.server.lock().ok().and_then(|mut s| s.take());
        if let Some(server) = server {
            server.shutdown().await;
        }
        self.closed.send_replace(true);
    }
}
