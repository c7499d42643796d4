//! fabric-quic: the mesh transport of rap-node-agent.
//!
//! QUIC (quinn) with mutual TLS over cluster-CA node certificates, channel
//! classes mapped to prioritised streams or datagrams with per-class QoS
//! queues, relay forwarding spliced inside Rust, session streams (one
//! remote session's channel bytes between an entry and an adapter node,
//! relayed the same way) and counters. The napi bindings (`napi` module)
//! are the only way TypeScript reaches it.
//!
//! The remote-session hosts sit on top: `adapter_host` (SSH terminals of
//! crates/fabric-ssh fed by incoming session streams) and `entry_host`
//! (crates/fabric-entry's client server, whose channel streams become
//! session streams) use `endpoint`, `session_stream` and `wire`; nothing
//! below uses them.
//!
//! Modules depend one way only: `outbound` (sending, `impl Endpoint`) on
//! `endpoint` (the API); `session` (session streams, `impl Endpoint`) on
//! `endpoint` and on `outbound` for routes; `endpoint` on `connection`;
//! `connection` on `inbound` and `session_inbound`; `session_inbound` on
//! `inbound` for its authorization and relay checks; all of those on
//! `shared`, which uses `queue`, `session_stream` and `session_table`;
//! `session_stream` on `session_table`; everything on the leaves `class`,
//! `wire`, `identity`, `tls`, `event`, `error`, `clock`, `stats`,
//! `congestion`. The VPN pump: `vpn` (`impl Endpoint`) on `endpoint` and
//! `vpn_table`, which `shared` holds and `inbound` hands `vpn_packet`
//! datagrams to; `vpn_table` uses only leaves and crates/fabric-tun. Dial streams (TCP through a
//! connection's owner for managed sessions): `vpn_dial` (adapter side, `impl Endpoint`) on `endpoint`
//! and the leaf `vpn_dial_wire`; `vpn_dial_owner` (owner side) on `shared`, `vpn_table` and
//! `vpn_dial_wire`; `session_inbound` hands it `vpn_packet` session streams; `vpn_bridge`
//! (the adapter's loopback splice) used by `adapter_host`.
//! (`grep -o 'crate::[a-z_]*'` per file piped to `tsort` finds no loop.)

pub mod adapter_host;
pub mod adapter_start;
pub mod class;
pub mod clock;
pub mod congestion;
mod connection;
pub mod endpoint;
pub mod entry_host;
pub mod error;
pub mod event;
pub mod identity;
mod inbound;
mod outbound;
mod queue;
mod session;
mod session_inbound;
pub mod session_stream;
mod session_table;
mod shared;
mod stats;
pub mod tls;
mod vpn;
mod vpn_bridge;
pub mod vpn_dial;
mod vpn_dial_owner;
pub mod vpn_dial_wire;
mod vpn_table;
pub mod wire;

#[cfg(test)]
mod session_tests;
#[cfg(test)]
mod test_pki;
#[cfg(test)]
mod vpn_dial_tests;

// Not in unit-test builds: napi-derive registers the exports only outside
// cfg(test), so there they would be dead code, and they run only inside Bun.
#[cfg(all(feature = "napi-addon", not(test)))]
mod napi;

pub use class::Class;
pub use endpoint::{Endpoint, EndpointOptions};
pub use error::FabricError;
pub use event::{Delivery, Event};
pub use queue::{Enqueued, WaitForRoom};
pub use session_stream::{IncomingSessionStream, SessionRecv, SessionSend, SessionStream};
pub use wire::{SessionId, StreamReason};
