//! fabric-quic: the mesh transport of rap-node-agent.
//!
//! QUIC (quinn) with mutual TLS over cluster-CA node certificates, channel
//! classes mapped to prioritised streams or datagrams with per-class QoS
//! queues, relay forwarding spliced inside Rust, and counters. The napi
//! bindings (`napi` module) are the only way TypeScript reaches it.

pub mod class;
pub mod congestion;
pub mod endpoint;
pub mod identity;
mod inbound;
pub mod outbound;
mod stats;
pub mod tls;
pub mod wire;

#[cfg(feature = "napi-addon")]
mod napi;

pub use class::Class;
pub use endpoint::{Delivery, Endpoint, EndpointOptions, Event, FabricError};
pub use outbound::{Enqueued, WaitForRoom};
