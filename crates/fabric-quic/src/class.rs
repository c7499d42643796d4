//! Channel classes (spec: secure-node-to-node-channel-lifecycle §7) and how
//! each one is carried and queued.
//!
//! Reliable classes ride one QUIC stream per (destination, class) whose
//! priority quinn honours strictly; equal priorities are served round-robin
//! (quinn's send fairness), which is what makes the bulk classes fair to each
//! other. `vpn_packet` rides datagrams, lowest of all: its sender waits while
//! any higher class has queued data, its queue is short and drops when full,
//! and quinn's datagram buffer is kept small so it never builds a backlog in
//! front of `input`.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Class {
    FabricControl = 1,
    RouteControl = 2,
    Health = 3,
    Telemetry = 4,
    Render = 5,
    Input = 6,
    Clipboard = 7,
    FileTransfer = 8,
    StorageFetch = 9,
    UpdateFetch = 10,
    VpnPacket = 11,
}

/// How a class's queue behaves when the peer is slower than the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queueing {
    /// Bounded FIFO; a full queue makes the sender wait (never drops).
    Backpressure { capacity: usize },
    /// Only the newest message is kept; older unsent ones are dropped.
    LatestOnly,
    /// Bounded FIFO; a full queue drops the new message and counts it.
    DropWhenFull { capacity: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Stream,
    Datagram,
}

/// Length of a table indexed by `Class as usize` (classes are numbered from 1).
pub const BY_VALUE: usize = ALL.len() + 1;

/// Every class in wire order (by `Class as u8`); the napi `channelClasses()`
/// export and the TypeScript `CHANNEL_CLASSES` follow it.
pub const ALL: [Class; 11] = [
    Class::FabricControl,
    Class::RouteControl,
    Class::Health,
    Class::Telemetry,
    Class::Render,
    Class::Input,
    Class::Clipboard,
    Class::FileTransfer,
    Class::StorageFetch,
    Class::UpdateFetch,
    Class::VpnPacket,
];

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::FabricControl => "fabric_control",
            Class::RouteControl => "route_control",
            Class::Health => "health",
            Class::Telemetry => "telemetry",
            Class::Render => "render",
            Class::Input => "input",
            Class::Clipboard => "clipboard",
            Class::FileTransfer => "file_transfer",
            Class::StorageFetch => "storage_fetch",
            Class::UpdateFetch => "update_fetch",
            Class::VpnPacket => "vpn_packet",
        }
    }

    pub fn parse(name: &str) -> Option<Class> {
        ALL.iter().copied().find(|c| c.name() == name)
    }

    pub fn from_wire(id: u8) -> Option<Class> {
        ALL.iter().copied().find(|c| *c as u8 == id)
    }

    /// QUIC stream priority: higher is sent first, strictly.
    pub fn priority(self) -> i32 {
        match self {
            Class::Input | Class::FabricControl => 100,
            Class::RouteControl => 90,
            Class::Health => 80,
            Class::Clipboard => 60,
            Class::Render => 50,
            Class::FileTransfer | Class::StorageFetch | Class::UpdateFetch => 20,
            Class::Telemetry => 10,
            Class::VpnPacket => 0,
        }
    }

    /// Interactive classes are delivered to the application ahead of bulk ones.
    pub fn is_urgent(self) -> bool {
        self.priority() >= 80
    }

    pub fn queueing(self) -> Queueing {
        match self {
            Class::Render => Queueing::LatestOnly,
            Class::Telemetry => Queueing::DropWhenFull { capacity: 64 },
            Class::VpnPacket => Queueing::DropWhenFull { capacity: 512 },
            Class::FileTransfer | Class::StorageFetch | Class::UpdateFetch => Queueing::Backpressure { capacity: 64 },
            _ => Queueing::Backpressure { capacity: 256 },
        }
    }

    pub fn carrier(self) -> Carrier {
        if self == Class::VpnPacket {
            Carrier::Datagram
        } else {
            Carrier::Stream
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_wire_ids_round_trip() {
        for c in ALL {
            assert_eq!(Class::parse(c.name()), Some(c));
            assert_eq!(Class::from_wire(c as u8), Some(c));
        }
        assert_eq!(Class::parse("nope"), None);
        assert_eq!(Class::from_wire(0), None);
    }

    #[test]
    fn all_lists_every_class_once_in_wire_order() {
        let ids: Vec<u8> = ALL.iter().map(|c| *c as u8).collect();
        assert_eq!(ids, (1..=ALL.len() as u8).collect::<Vec<_>>());
    }

    #[test]
    fn interactive_classes_outrank_bulk_and_vpn_is_lowest() {
        for c in ALL {
            assert!(Class::Input.priority() >= c.priority());
            if c != Class::VpnPacket {
                assert!(c.priority() > Class::VpnPacket.priority());
            }
        }
        assert!(Class::FabricControl.priority() > Class::FileTransfer.priority());
        assert_eq!(Class::FileTransfer.priority(), Class::UpdateFetch.priority());
    }
}
