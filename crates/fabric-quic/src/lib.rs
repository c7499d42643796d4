//! fabric-quic: the mesh transport of rap-node-agent.
//!
//! QUIC (quinn) with mutual TLS over cluster-CA node certificates, channel
//! classes mapped to prioritised streams or datagrams with per-class QoS
//! queues, relay forwarding spliced inside Rust, and counters. The napi
//! bindings (`napi` module) are the only way TypeScript reaches it.
//!
//! Modules depend one way only: `endpoint` (the API) on `connection`,
//! `inbound` and `shared`; `outbound` (sending, `impl Endpoint`) on
//! `endpoint`, `shared` and `queue`; all of them on the leaves `class`,
//! `wire`, `identity`, `tls`, `event`, `error`, `clock`, `stats`.

pub mod class;
pub mod clock;
pub mod congestion;
mod connection;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod identity;
mod inbound;
mod outbound;
mod queue;
mod shared;
mod stats;
pub mod tls;
pub mod wire;

#[cfg(test)]
mod test_pki;

#[cfg(feature = "napi-addon")]
mod napi;

pub use class::Class;
pub use endpoint::{Endpoint, EndpointOptions};
pub use error::FabricError;
pub use event::{Delivery, Event};
pub use queue::{Enqueued, WaitForRoom};
