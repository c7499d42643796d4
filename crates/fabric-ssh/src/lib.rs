//! fabric-ssh: the SSH terminal adapter of the session protocol
//! `rap.session.v1`. An adapter node connects to the target with the
//! resource's credentials, checks its host key strictly against a pinned
//! fingerprint (unless the resource says `ignore`), and runs one PTY shell
//! that outlives its clients: a client attaches with its input and render
//! streams, detaches, and reattaches to the same shell, finding the output
//! it missed in a bounded replay buffer.
//!
//! Plain Rust with no napi types, so the agent's addon can compose it: the
//! caller owns the runtime, hands in byte streams and an event sink.

mod attachment;
mod connect;
mod error;
mod events;
mod host_key;
mod hub;
mod input;
mod output_queue;
mod target;
mod terminal;

pub use attachment::Attachment;
pub use error::{AdapterError, ErrorCode};
pub use events::{AttachmentEnd, EndReason, EventSink, TerminalEvent};
pub use host_key::fingerprint;
pub use hub::{OUTBOX_LIMIT, REPLAY_LIMIT};
pub use input::MAX_TERMINAL_SIDE;
pub use output_queue::RENDER_FRAME_MAX;
pub use target::{HostKeyPolicy, Pty, Secret, SshAuth, SshTarget};
pub use terminal::{SshTerminal, START_TIMEOUT};
