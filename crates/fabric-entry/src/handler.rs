//! What the entry asks of its application (in production the node agent, in
//! JavaScript through napi; in tests an in-process handler): admit a client
//! from its `hello`, open the upstream of each channel stream, and hear when a
//! connection closes. The entry never decides who may connect; it enforces the
//! protocol and splices bytes.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use session_frame::StreamKind;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::errors::ErrorEvent;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Identifies one client transport for the life of the server (not reused).
pub type ConnectionId = u64;

/// Which client transport a connection came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    WebTransport,
    WebSocket,
}

impl Transport {
    /// The name used in `welcome` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Transport::WebTransport => "webtransport",
            Transport::WebSocket => "websocket",
        }
    }
}

/// A client's `hello`, checked for shape (not for the token's validity).
#[derive(Debug, Clone)]
pub struct Hello {
    pub connection_id: ConnectionId,
    pub session_id: String,
    /// The data-plane token as the client sent it; never logged.
    pub token: String,
    pub transport: Transport,
    pub remote_addr: SocketAddr,
    /// The connection's trace id, for the handler's error events and logs.
    pub trace_id: String,
}

/// The handler's yes: the attachment the token names and the channels it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub connection_id: ConnectionId,
    pub session_id: String,
    pub attachment_id: String,
    /// Channel streams the client may open (`control` is implied).
    pub channels: Vec<StreamKind>,
    /// Where `open_upstream` splices this admission's streams (in production the adapter
    /// node's id). Opaque to the entry and never sent to the client.
    pub adapter_node_id: Option<String>,
    /// Which way clipboard frames may pass (the resource's `clipboard_mode`); enforced here as well as at the adapter.
    pub clipboard: Directions,
}

/// The directions a policy allows a channel's data to flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directions {
    pub to_server: bool,
    pub to_client: bool,
}

impl Directions {
    pub const BOTH: Directions = Directions { to_server: true, to_client: true };
    pub const NONE: Directions = Directions { to_server: false, to_client: false };

    /// A transfer mode as the control plane writes it (`disabled`, `client_to_server`, `server_to_client`, `bidirectional`).
    pub fn from_mode(mode: &str) -> Option<Directions> {
        match mode {
            "disabled" => Some(Directions::NONE),
            "client_to_server" => Some(Directions { to_server: true, to_client: false }),
            "server_to_client" => Some(Directions { to_server: false, to_client: true }),
            "bidirectional" => Some(Directions::BOTH),
            _ => None,
        }
    }

    pub fn mode(self) -> &'static str {
        match (self.to_server, self.to_client) {
            (false, false) => "disabled",
            (true, false) => "client_to_server",
            (false, true) => "server_to_client",
            (true, true) => "bidirectional",
        }
    }
}

impl Admission {
    pub fn allows(&self, kind: StreamKind) -> bool {
        kind == StreamKind::Control || self.channels.contains(&kind)
    }
}

/// The far end of a channel stream: bytes written are the client's frames, bytes read go to the client.
pub trait Upstream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Upstream for T {}

/// Why a connection ended, as the handler hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed the transport (or it was lost) while admitted.
    ClientClosed,
    /// The client sent `detach` before closing.
    Detached,
    /// The entry refused it with this error code (bad input, token refused, timeout, limits).
    Refused(String),
    /// The application pushed `session.taken_over` or `session.ended`.
    Pushed(String),
    /// The server is shutting down.
    Shutdown,
}

impl CloseReason {
    /// The reason's name in reports: `client_closed`, `detached`, `refused`, `pushed` or `shutdown`.
    pub fn name(&self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::Detached => "detached",
            CloseReason::Refused(_) => "refused",
            CloseReason::Pushed(_) => "pushed",
            CloseReason::Shutdown => "shutdown",
        }
    }

    /// The error code of a refusal, or the notice of a push.
    pub fn detail(&self) -> Option<&str> {
        match self {
            CloseReason::Refused(s) | CloseReason::Pushed(s) => Some(s),
            _ => None,
        }
    }
}

/// Sent once per connection that reached the handler's `admit` (whatever the answer) or was refused.
#[derive(Debug, Clone)]
pub struct ConnectionClosed {
    pub connection_id: ConnectionId,
    pub transport: Transport,
    /// Present when the connection had been admitted.
    pub admission: Option<Admission>,
    pub reason: CloseReason,
}

/// A notice the application pushes to one admitted connection; the entry sends it and closes that transport.
#[derive(Debug, Clone)]
pub enum Notice {
    /// `{"type":"session.taken_over","error":{…}}`: another client took the session over.
    TakenOver(ErrorEvent),
    /// `{"type":"session.ended","reason":"…"}`: the session was terminated.
    Ended { reason: String },
}

impl Notice {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Notice::TakenOver(e) => serde_json::json!({"type": "session.taken_over", "error": e.to_json()}),
            Notice::Ended { reason } => serde_json::json!({"type": "session.ended", "reason": reason}),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Notice::TakenOver(_) => "session.taken_over",
            Notice::Ended { .. } => "session.ended",
        }
    }
}

/// The application's side of the entry. Methods return boxed futures so a
/// handler can be shared as `Arc<dyn EntryHandler>` and call into JavaScript.
pub trait EntryHandler: Send + Sync + 'static {
    /// Decide on a `hello`: an admission, or the error event the client gets (e.g. `data_plane.token_invalid`).
    fn admit(&self, hello: Hello) -> BoxFuture<Result<Admission, ErrorEvent>>;

    /// The upstream of a channel stream the admission allows (in production a mesh session stream to the adapter).
    fn open_upstream(&self, admission: &Admission, kind: StreamKind) -> BoxFuture<Result<Box<dyn Upstream>, ErrorEvent>>;

    /// A connection ended (after `admit` was called, or when the entry refused it).
    fn closed(&self, event: ConnectionClosed);
}
