//! fabric-rdp: the RDP desktop adapter of the session protocol
//! `rap.session.v1` (`docs/protocol.md` §RDP). An adapter node connects to
//! the target with IronRDP (TLS or NLA, the server certificate pinned or
//! verified), keeps one session whose decoded framebuffer outlives its
//! clients, and streams what changed as latest-only tiles encoded in Rust;
//! input, clipboard and drive-redirected file transfer plug in beside it.
//!
//! Plain Rust with no napi types, so the agent's addon (crates/fabric-quic)
//! can compose it: the caller owns the runtime, hands in byte streams and an
//! event sink.

mod attachment;
mod certificate;
mod clipboard;
mod connect;
mod desktop;
mod error;
mod events;
mod frames;
mod hub;
mod input;
mod pacer;
mod screen;
mod session;
mod target;

pub mod clipboard_bridge;
pub mod files;
pub mod input_wire;
pub mod quality;
pub mod render_wire;
pub mod tiles;
#[cfg(test)]
mod wire_golden;

pub use attachment::Attachment;
pub use certificate::fingerprint;
pub use connect::ConnectTimings;
pub use desktop::{RdpDesktop, SessionPolicy, START_TIMEOUT, TRANSFER_DRIVE};
pub use error::{AdapterError, ErrorCode};
pub use events::{AttachmentEnd, DesktopEvent, EndReason, EventSink};
pub use input::INPUT_EVENTS_PER_SECOND;
pub use pacer::{monotonic_us, RenderCounters, MAX_IN_FLIGHT, STATS_PERIOD};
pub use target::{CertificatePolicy, DesktopRequest, RdpTarget, Secret};
