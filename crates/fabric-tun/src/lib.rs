//! fabric-tun: the device end of the VPN data path (issue 14).
//!
//! A TUN device (`device`: name, MTU, IPv4 addresses, multi-queue and the
//! kernel's virtio offloads where it allows them) read and written in
//! batches, plus the pure pieces every forwarded packet passes through:
//! the IP header fields the path looks at (`packet`), CIDR lists and the
//! egress allow/deny filter (`cidr`), the `vpn_packet` frame that carries a
//! packet with its connection id and fencing epoch (`frame`), and the epoch
//! gate that refuses a fenced owner's traffic (`epoch`); and the ICMP
//! "packet too big" answer for a packet the mesh path cannot carry
//! (`too_big`).
//!
//! Plain Rust (`rlib`): the mesh addon (crates/fabric-quic) composes it and
//! runs the pump that joins a device to the mesh's datagrams, because the
//! datagram path lives there; see README.md.

pub mod cidr;
pub mod device;
pub mod epoch;
pub mod error;
pub mod frame;
pub mod packet;
pub mod too_big;

pub use cidr::{Cidr, CidrFilter};
pub use device::{Tun, TunOptions, TunQueue};
pub use epoch::EpochGate;
pub use error::TunError;
pub use frame::VpnFrame;
