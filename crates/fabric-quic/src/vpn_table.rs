//! The VPN connections attached on one endpoint (see `vpn` for the pump)
//! and the receive-side checks every `vpn_packet` datagram passes before it
//! may reach a TUN device: frame, connection, fencing epoch, source, egress
//! filter. Apart from `vpn` so the shared state can hold the table without
//! depending on `Endpoint`.

use crate::error::FabricError;
use bytes::Bytes;
use fabric_tun::packet::addresses;
use fabric_tun::{Cidr, CidrFilter, EpochGate, VpnFrame};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, watch};

macro_rules! counters {
    ($name:ident { $($field:ident),* $(,)? }) => {
        #[derive(Default)]
        pub(crate) struct $name { $(pub $field: AtomicU64,)* }
        impl $name {
            pub fn to_json(&self) -> serde_json::Value {
                serde_json::json!({ $(stringify!($field): self.$field.load(Ordering::Relaxed),)* })
            }
        }
    };
}

counters!(ConnectionCounters {
    // device → mesh
    device_packets,
    device_bytes,
    sent_packets,
    sent_bytes,
    send_drops,
    no_route,
    not_active,
    read_errors,
    // mesh → device
    received_packets,
    refused_epoch,
    refused_source,
    denied,
    malformed,
    written_packets,
    written_bytes,
    write_drops,
    write_errors,
});

counters!(TableCounters { unknown_connection, malformed });

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Destination CIDR → peer node, longest prefix first.
pub(crate) type Routes = Vec<(Cidr, String)>;

pub(crate) fn route_for(routes: &Routes, ip: IpAddr) -> Option<&str> {
    routes.iter().find(|(cidr, _)| cidr.contains(ip)).map(|(_, node)| node.as_str())
}

pub(crate) struct VpnConnection {
    pub id: String,
    pub gate: EpochGate,
    pub routes: RwLock<Arc<Routes>>,
    pub filter: RwLock<Arc<CidrFilter>>,
    pub to_device: mpsc::Sender<Bytes>,
    pub counters: ConnectionCounters,
    pub stop: watch::Sender<bool>,
    pub device: String,
}

/// The connections attached on this endpoint, by id.
#[derive(Default)]
pub(crate) struct VpnTable {
    pub connections: RwLock<HashMap<String, Arc<VpnConnection>>>,
    pub counters: TableCounters,
}

impl VpnTable {
    pub fn get(&self, id: &str) -> Result<Arc<VpnConnection>, FabricError> {
        self.connections
            .read()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| FabricError::VpnConnectionUnknown(format!("{id:?} is not attached here")))
    }

    /// Stops every pump (the endpoint is closing).
    pub fn stop_all(&self) {
        for (_, c) in self.connections.write().unwrap().drain() {
            c.stop.send_replace(true);
        }
    }
}

/// One `vpn_packet` datagram that ended at this node, from `origin`.
/// `false` when no connection is attached, so the datagram goes to the
/// application as before (the mesh's own tests use `vpn_packet` that way).
pub(crate) fn deliver(table: &VpnTable, origin: &str, payload: &Bytes) -> bool {
    let connections = table.connections.read().unwrap();
    if connections.is_empty() {
        return false;
    }
    let Some(frame) = VpnFrame::decode(payload) else {
        add(&table.counters.malformed, 1);
        return true;
    };
    let Some(conn) = connections.get(frame.connection) else {
        add(&table.counters.unknown_connection, 1);
        return true;
    };
    let k = &conn.counters;
    add(&k.received_packets, 1);
    if !conn.gate.admits(frame.epoch) {
        add(&k.refused_epoch, 1);
        return true;
    }
    let Some(addrs) = addresses(frame.packet) else {
        add(&k.malformed, 1);
        return true;
    };
    if route_for(&conn.routes.read().unwrap(), addrs.source) != Some(origin) {
        add(&k.refused_source, 1);
        return true;
    }
    if !conn.filter.read().unwrap().permits(addrs.destination) {
        add(&k.denied, 1);
        return true;
    }
    let packet = payload.slice(payload.len() - frame.packet.len()..);
    if conn.to_device.try_send(packet).is_err() {
        add(&k.write_drops, 1);
    }
    true
}

/// Parses `(cidr, node)` pairs; one bad entry refuses the whole list.
pub(crate) fn parse_routes(routes: &[(String, String)]) -> Result<Routes, FabricError> {
    let mut parsed = Vec::with_capacity(routes.len());
    for (cidr, node) in routes {
        if !crate::wire::valid_id(node) {
            return Err(FabricError::ConfigInvalid(format!("route {cidr}: node id {node:?} is not valid")));
        }
        parsed.push((Cidr::parse(cidr)?, node.clone()));
    }
    parsed.sort_by_key(|(cidr, _)| std::cmp::Reverse(cidr.prefix()));
    Ok(parsed)
}

pub(crate) fn parse_filter(allow: &[String], deny: &[String]) -> Result<CidrFilter, FabricError> {
    Ok(CidrFilter::new(fabric_tun::cidr::parse_list(allow)?, fabric_tun::cidr::parse_list(deny)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn routes_pick_the_longest_prefix_and_bad_routes_change_nothing() {
        let routes = parse_routes(&[("10.0.0.0/8".into(), "wide".into()), ("10.77.0.0/16".into(), "office".into())]).unwrap();
        assert_eq!(route_for(&routes, ip("10.77.1.1")), Some("office"));
        assert_eq!(route_for(&routes, ip("10.1.1.1")), Some("wide"));
        assert_eq!(route_for(&routes, ip("192.168.1.1")), None);
        let e = parse_routes(&[("10.0.0.0/8".into(), "a".into()), ("bad".into(), "b".into())]).unwrap_err();
        assert_eq!(e.code(), "config_invalid");
        let e = parse_routes(&[("10.0.0.0/8".into(), String::new())]).unwrap_err();
        assert_eq!(e.code(), "config_invalid");
    }

    #[test]
    fn a_filter_needs_valid_blocks_on_both_lists() {
        assert!(parse_filter(&["10.77.0.0/16".into()], &["10.77.9.0/24".into()]).is_ok());
        assert_eq!(parse_filter(&[], &["10.77.9.1/24".into()]).unwrap_err().code(), "config_invalid");
    }
}
