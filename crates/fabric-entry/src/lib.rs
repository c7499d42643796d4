//! fabric-entry: the entry node's client-facing transport.
//!
//! One port number serves WebTransport over HTTP/3 (UDP, `web-transport-quinn`)
//! and the WebSocket fallback (TCP + TLS, the `qmux` crate's WebSocket
//! transport, which the npm polyfill `@moq/web-transport-ws` speaks). Both
//! yield the same stream API, so the session protocol (`docs/protocol.md`:
//! hello/welcome on the control stream, channel streams spliced onto
//! upstreams) is written once in `connection`. The application decides
//! admission and provides upstreams through [`EntryHandler`]; this crate
//! has no napi types, so an addon composes it.

pub mod cert;
mod connection;
pub mod echo;
pub mod errors;
pub mod handler;
mod quic;
mod server;
mod splice;
mod websocket;

pub use cert::{CertError, Certificate};
pub use connection::ConnectionLimits;
pub use errors::{EntryCode, ErrorEvent};
pub use handler::{
    Admission, BoxFuture, CloseReason, ConnectionClosed, ConnectionId, Directions, EntryHandler, Hello, Notice, Transport, Upstream,
};
pub use server::{EntryConfig, EntryServer, StartError, PATH};
pub use session_frame::{Frame, FrameType, StreamKind};
pub use websocket::SUBPROTOCOL as WEBSOCKET_SUBPROTOCOL;
