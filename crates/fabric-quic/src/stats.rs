//! Counters, readable from TypeScript as one JSON document.

use crate::class::{Class, ALL};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

#[derive(Default)]
pub struct ClassCounters {
    pub sent_messages: AtomicU64,
    pub sent_bytes: AtomicU64,
    pub received_messages: AtomicU64,
    pub received_bytes: AtomicU64,
    /// Dropped by QoS (latest-only replaced, queue full) or too large for a datagram.
    pub drops: AtomicU64,
    /// Refused because the class is not authorized for that peer.
    pub refused: AtomicU64,
}

#[derive(Default)]
pub struct Counters {
    classes: [ClassCounters; crate::class::BY_VALUE],
    pub relay_streams: AtomicU64,
    pub relay_bytes: AtomicU64,
    pub relay_datagrams: AtomicU64,
    pub relay_refused: AtomicU64,
    /// Session streams this node opened, accepted (delivered to the
    /// application), refused as their destination, and spliced as a relay.
    pub sessions_opened: AtomicU64,
    pub sessions_accepted: AtomicU64,
    pub sessions_refused: AtomicU64,
    pub sessions_relayed: AtomicU64,
    handshake_failures: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    pub fn class(&self, c: Class) -> &ClassCounters {
        &self.classes[c as usize]
    }

    pub fn handshake_failed(&self, reason: &str) {
        *self.handshake_failures.lock().unwrap().entry(reason.to_string()).or_default() += 1;
    }

    /// `live_sessions`: session streams open here now (the session table's count).
    pub fn to_json(&self, live_sessions: usize) -> serde_json::Value {
        let mut classes = serde_json::Map::new();
        for c in ALL {
            let k = self.class(c);
            classes.insert(
                c.name().into(),
                serde_json::json!({
                    "sent_messages": k.sent_messages.load(Relaxed),
                    "sent_bytes": k.sent_bytes.load(Relaxed),
                    "received_messages": k.received_messages.load(Relaxed),
                    "received_bytes": k.received_bytes.load(Relaxed),
                    "drops": k.drops.load(Relaxed),
                    "refused": k.refused.load(Relaxed),
                }),
            );
        }
        serde_json::json!({
            "classes": classes,
            "relay": {
                "streams": self.relay_streams.load(Relaxed),
                "bytes": self.relay_bytes.load(Relaxed),
                "datagrams": self.relay_datagrams.load(Relaxed),
                "refused": self.relay_refused.load(Relaxed),
            },
            "sessions": {
                "opened": self.sessions_opened.load(Relaxed),
                "accepted": self.sessions_accepted.load(Relaxed),
                "refused": self.sessions_refused.load(Relaxed),
                "relayed": self.sessions_relayed.load(Relaxed),
                "live": live_sessions,
            },
            "handshake_failures": *self.handshake_failures.lock().unwrap(),
        })
    }
}

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}
