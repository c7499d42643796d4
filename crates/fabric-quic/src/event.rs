//! What the endpoint hands to the application: messages delivered to this
//! node (`Delivery`) and the events the channel machines in TypeScript must
//! hear about (`Event`).

use crate::class::Class;
use bytes::Bytes;

/// A message delivered to this node.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The originating node.
    pub from: String,
    /// The last relay, when the message did not come directly.
    pub via: Option<String>,
    pub class: Class,
    pub data: Bytes,
}

/// Something the channel machines in TypeScript must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    PeerUp { node_id: String, serial: String, not_after_unix: i64, dialled: bool },
    PeerDown { node_id: String, reason: String },
    HandshakeFailed { node_id: Option<String>, reason: String },
    Refused { node_id: String, class: Class, reason: &'static str },
}

impl Event {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Event::PeerUp { node_id, serial, not_after_unix, dialled } => serde_json::json!({
                "type": "peer_up", "node_id": node_id, "serial": serial, "not_after_unix": not_after_unix, "dialled": dialled,
            }),
            Event::PeerDown { node_id, reason } => serde_json::json!({ "type": "peer_down", "node_id": node_id, "reason": reason }),
            Event::HandshakeFailed { node_id, reason } => serde_json::json!({ "type": "handshake_failed", "node_id": node_id, "reason": reason }),
            Event::Refused { node_id, class, reason } => serde_json::json!({
                "type": "refused", "node_id": node_id, "class": class.name(), "reason": reason,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_as_the_typescript_mesh_event_union() {
        let up = Event::PeerUp { node_id: "b".into(), serial: "3ea".into(), not_after_unix: 1_700_000_000, dialled: true };
        assert_eq!(
            up.to_json(),
            serde_json::json!({ "type": "peer_up", "node_id": "b", "serial": "3ea", "not_after_unix": 1_700_000_000, "dialled": true })
        );
        let failed = Event::HandshakeFailed { node_id: None, reason: "wrong_cluster".into() };
        assert_eq!(failed.to_json(), serde_json::json!({ "type": "handshake_failed", "node_id": null, "reason": "wrong_cluster" }));
        let refused = Event::Refused { node_id: "a".into(), class: Class::FileTransfer, reason: "channel_class_denied" };
        assert_eq!(refused.to_json()["class"], "file_transfer");
    }
}
