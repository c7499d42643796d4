//! fabric-rdp: the RDP desktop adapter of the session protocol
//! `rap.session.v1` (`docs/protocol.md` §RDP). Plain Rust with no napi types,
//! so the agent's addon (crates/fabric-quic) can compose it: the caller owns
//! the runtime, hands in byte streams and an event sink.

pub mod clipboard_bridge;
pub mod files;
pub mod input_wire;
pub mod quality;
pub mod render_wire;
pub mod tiles;
#[cfg(test)]
mod wire_golden;
