//! What the terminal tells its owner (the agent, which reports `adapter.started`,
//! `adapter.ended` and `adapter.failed` to the control plane) and what ends
//! one client's attachment.

use std::fmt;
use std::sync::Arc;

use crate::error::AdapterError;

/// Why the shell session is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The shell exited with this status.
    ShellExited { status: u32 },
    /// The shell was killed by a signal (`TERM`, `KILL`, …).
    ShellKilled { signal: String },
    /// The SSH connection closed without the shell's exit being reported.
    ConnectionClosed { detail: String },
    /// [`crate::SshTerminal::stop`] was called.
    Stopped,
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::ShellExited { status } => write!(f, "shell exited with status {status}"),
            EndReason::ShellKilled { signal } => write!(f, "shell killed by signal {signal}"),
            EndReason::ConnectionClosed { detail } => write!(f, "SSH connection closed: {detail}"),
            EndReason::Stopped => f.write_str("stopped"),
        }
    }
}

/// A change of the whole session, for the control plane. `Started` once, then
/// exactly one `Ended`; or only `Failed` when the session never started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalEvent {
    Started,
    Ended { reason: EndReason },
    Failed { error: AdapterError },
}

/// Receives [`TerminalEvent`]s. Called from the terminal's tasks: it must not
/// block (queue the event: a channel send, a napi threadsafe function call).
pub type EventSink = Arc<dyn Fn(TerminalEvent) + Send + Sync>;

/// Why one client's attachment ended. The shell goes on in every case but `SessionEnded`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentEnd {
    /// The client's input stream ended or its output could not be written: detached.
    ClientGone,
    /// A newer attachment took the terminal over.
    TakenOver,
    /// [`crate::SshTerminal::detach`] unplugged it.
    Detached,
    /// The client sent something the input stream does not take: detached.
    ProtocolError(AdapterError),
    /// The session is over; its last output was written first.
    SessionEnded(EndReason),
}
