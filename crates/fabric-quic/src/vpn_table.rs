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
    send_waits,
    too_big,
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
    write_batches,
    write_drops,
    write_errors,
    // dial streams (vpn_dial: managed sessions through the connection)
    dials,
    dials_refused,
    dials_failed,
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
    /// Who may open TCP through this owner (`vpn_dial`): nobody until it is set.
    pub dial: RwLock<Arc<DialPolicy>>,
    /// Bumped on every epoch change or fence, so open dial streams re-check their epoch at once.
    pub epoch_changed: watch::Sender<u64>,
}

/// Which services (`ssh`, `rdp`) may dial through the owner, and from which nodes
/// (the organization's adapter nodes: another organization's adapter is refused).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DialPolicy {
    pub services: Vec<String>,
    pub nodes: std::collections::HashSet<String>,
    /// The resources that may dial; empty: any of the organization's.
    pub resource_ids: Vec<String>,
}

impl DialPolicy {
    pub fn allows(&self, origin: &str, service: &str, resource_id: &str) -> bool {
        self.nodes.contains(origin)
            && self.services.iter().any(|s| s == service)
            && (self.resource_ids.is_empty() || self.resource_ids.iter().any(|r| r == resource_id))
    }
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

    /// A table with connection "c" at epoch 5: 10.77.0.0/16 routes to (and may come from) node "egress",
    /// 100.64.0.2 to node "client"; the filter denies 10.77.9.0/24.
    fn table() -> (VpnTable, mpsc::Receiver<Bytes>) {
        let (to_device, from_mesh) = mpsc::channel(2);
        let conn = VpnConnection {
            id: "c".into(),
            gate: EpochGate::default(),
            routes: RwLock::new(Arc::new(
                parse_routes(&[("10.77.0.0/16".into(), "egress".into()), ("100.64.0.2/32".into(), "client".into())]).unwrap(),
            )),
            filter: RwLock::new(Arc::new(parse_filter(&[], &["10.77.9.0/24".into()]).unwrap())),
            to_device,
            counters: ConnectionCounters::default(),
            stop: watch::channel(false).0,
            device: "vpn0".into(),
            dial: RwLock::new(Arc::new(DialPolicy::default())),
            epoch_changed: watch::channel(0).0,
        };
        conn.gate.set(5);
        let table = VpnTable::default();
        table.connections.write().unwrap().insert("c".into(), Arc::new(conn));
        (table, from_mesh)
    }

    fn packet(connection: &str, epoch: u64, src: [u8; 4], dst: [u8; 4]) -> Bytes {
        let mut p = fabric_tun::frame::header(connection, epoch).unwrap();
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        p.extend_from_slice(&ip);
        Bytes::from(p)
    }

    fn counter(table: &VpnTable, name: &str) -> u64 {
        table.connections.read().unwrap()["c"].counters.to_json()[name].as_u64().unwrap()
    }

    #[test]
    fn an_arriving_packet_reaches_the_device_only_with_the_current_epoch_a_matching_source_and_an_allowed_destination() {
        let (table, mut device) = table();
        let office = [10, 77, 0, 1];
        let client = [100, 64, 0, 2];
        assert!(deliver(&table, "client", &packet("c", 5, client, office)));
        let written = device.try_recv().expect("forwarded");
        assert_eq!(&written[12..16], &client, "only the IP packet reaches the device");

        assert!(deliver(&table, "client", &packet("c", 4, client, office)));
        assert_eq!(counter(&table, "refused_epoch"), 1, "an old epoch is refused");
        assert!(deliver(&table, "egress", &packet("c", 5, client, office)));
        assert_eq!(counter(&table, "refused_source"), 1, "the source does not route back to the sender");
        assert!(deliver(&table, "client", &packet("c", 5, client, [10, 77, 9, 1])));
        assert_eq!(counter(&table, "denied"), 1, "the egress filter denies the destination");
        assert!(deliver(&table, "client", &packet("other", 5, client, office)));
        assert_eq!(table.counters.unknown_connection.load(Ordering::Relaxed), 1);
        assert!(deliver(&table, "client", &Bytes::from_static(b"junk")));
        assert_eq!(table.counters.malformed.load(Ordering::Relaxed), 1);
        assert!(device.try_recv().is_err(), "nothing refused reached the device");

        table.connections.read().unwrap()["c"].gate.fence();
        assert!(deliver(&table, "client", &packet("c", 5, client, office)));
        assert_eq!(counter(&table, "refused_epoch"), 2, "fenced: even the last epoch is refused");
        assert!(device.try_recv().is_err());
        assert_eq!(counter(&table, "received_packets"), 5, "every packet naming the connection, refused or not");
    }

    #[test]
    fn a_full_device_queue_drops_and_counts_and_an_empty_table_leaves_datagrams_to_the_application() {
        let (table, _device) = table();
        for _ in 0..3 {
            deliver(&table, "client", &packet("c", 5, [100, 64, 0, 2], [10, 77, 0, 1]));
        }
        assert_eq!(counter(&table, "write_drops"), 1, "queue of two: the third is dropped");
        assert!(!deliver(&VpnTable::default(), "client", &packet("c", 5, [100, 64, 0, 2], [10, 77, 0, 1])));
    }
}
