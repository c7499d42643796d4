//! What the desktop tells its owner (the agent reports `adapter.started`,
//! `adapter.ended` and `adapter.failed` to the control plane) and what ends
//! one client's attachment.

use std::fmt;
use std::sync::Arc;

use crate::error::AdapterError;

/// Why the RDP session is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The server ended the session (logoff, disconnect by an administrator, …), with its words.
    ServerEnded { detail: String },
    /// The connection broke or the server sent something undecodable.
    ConnectionLost { detail: String },
    /// [`crate::RdpDesktop::stop`] was called.
    Stopped,
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::ServerEnded { detail } => write!(f, "the RDP server ended the session: {detail}"),
            EndReason::ConnectionLost { detail } => write!(f, "the RDP connection was lost: {detail}"),
            EndReason::Stopped => f.write_str("stopped"),
        }
    }
}

/// A change of the whole session, for the control plane. `Started` once, then
/// exactly one `Ended`; or only `Failed` when the session never started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesktopEvent {
    Started,
    Ended { reason: EndReason },
    Failed { error: AdapterError },
}

/// Receives [`DesktopEvent`]s. Called from the desktop's tasks: it must not
/// block (queue the event: a channel send, a napi threadsafe function call).
pub type EventSink = Arc<dyn Fn(DesktopEvent) + Send + Sync>;

/// Why one client's attachment ended. The RDP session goes on in every case but `SessionEnded`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentEnd {
    /// The client's input or render stream ended, or its render stream could not be written: detached.
    ClientGone,
    /// A newer attachment took the desktop over.
    TakenOver,
    /// [`crate::RdpDesktop::detach`] unplugged it.
    Detached,
    /// The session is over.
    SessionEnded(EndReason),
}
