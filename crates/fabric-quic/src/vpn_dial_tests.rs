//! Dial streams over real QUIC on loopback (`vpn_dial`, `vpn_dial_owner`): an
//! adapter endpoint dials through an owner endpoint whose connection is put
//! in its VPN table directly (no TUN device: dials never touch it), to a TCP
//! echo server on loopback. Every wait is bounded; nothing sleeps.

use crate::class::Class;
use crate::endpoint::{Endpoint, EndpointOptions};
use crate::error::FabricError;
use crate::test_pki::TestCa;
use crate::vpn_dial_wire::DialRequest;
use crate::vpn_table::{parse_filter, ConnectionCounters, DialPolicy, VpnConnection};
use bytes::Bytes;
use fabric_tun::EpochGate;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

const SESSION: [u8; 16] = [0x5e; 16];

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

fn bind(ca: &TestCa, node_id: &str, serial: u64) -> Endpoint {
    let creds = ca.node(node_id, serial);
    Endpoint::bind(EndpointOptions::new(&ca.cluster_id, node_id, &creds.cert_pem, creds.key_pkcs8, &ca.pem())).expect("bind")
}

/// The owner's side of connection "office" at epoch 3: loopback allowed, 127.0.0.9 denied, ssh from "adapter".
fn attach(owner: &Endpoint) -> Arc<VpnConnection> {
    let (to_device, _) = mpsc::channel::<Bytes>(1);
    let conn = Arc::new(VpnConnection {
        id: "office".into(),
        gate: EpochGate::default(),
        routes: RwLock::new(Arc::new(Vec::new())),
        filter: RwLock::new(Arc::new(parse_filter(&["127.0.0.0/8".into()], &["127.0.0.9/32".into()]).unwrap())),
        to_device,
        counters: ConnectionCounters::default(),
        stop: watch::channel(false).0,
        device: "none".into(),
        dial: RwLock::new(Arc::new(policy(&["adapter"], &[]))),
        epoch_changed: watch::channel(0).0,
    });
    conn.gate.set(3);
    owner.shared.vpn.connections.write().unwrap().insert("office".into(), conn.clone());
    conn
}

fn policy(nodes: &[&str], resources: &[&str]) -> DialPolicy {
    DialPolicy {
        services: vec!["ssh".into()],
        nodes: nodes.iter().map(|n| n.to_string()).collect(),
        resource_ids: resources.iter().map(|r| r.to_string()).collect(),
    }
}

/// A TCP server on loopback that echoes what it reads.
async fn echo_server() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = tcp.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    port
}

struct Lab {
    adapter: Endpoint,
    owner: Endpoint,
    conn: Arc<VpnConnection>,
    port: u16,
}

async fn lab(classes: &[Class]) -> Lab {
    let ca = TestCa::new("c1");
    let (adapter, owner) = (bind(&ca, "adapter", 10), bind(&ca, "owner", 20));
    within("connect", adapter.connect("owner", owner.local_addr())).await.expect("connect");
    adapter.authorize("owner", classes);
    owner.authorize("adapter", classes);
    let conn = attach(&owner);
    Lab { adapter, owner, conn, port: echo_server().await }
}

fn request(lab: &Lab) -> DialRequest {
    DialRequest {
        connection_id: "office".into(),
        epoch: 3,
        service: "ssh".into(),
        resource_id: "res-1".into(),
        host: "127.0.0.1".into(),
        port: lab.port,
    }
}

async fn refusal(lab: &Lab, request: DialRequest) -> &'static str {
    match within("dial", lab.adapter.vpn_dial("owner", SESSION, &request)).await {
        Ok(_) => panic!("dial {request:?} was not refused"),
        Err(e) => e.code(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_carries_tcp_both_ways_through_the_owner() {
    let lab = lab(&[Class::VpnPacket]).await;
    let mut stream = within("dial", lab.adapter.vpn_dial("owner", SESSION, &request(&lab))).await.expect("dial");
    stream.write_all(b"SSH-2.0-test\r\n").await.unwrap();
    let mut back = [0u8; 14];
    within("echo", stream.read_exact(&mut back)).await.unwrap();
    assert_eq!(&back, b"SSH-2.0-test\r\n");
    assert_eq!(lab.conn.counters.dials.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_refuses_what_its_lease_and_policy_do_not_allow() {
    let lab = lab(&[Class::VpnPacket]).await;
    assert_eq!(refusal(&lab, DialRequest { epoch: 2, ..request(&lab) }).await, "vpn_not_owner");
    assert_eq!(refusal(&lab, DialRequest { connection_id: "elsewhere".into(), ..request(&lab) }).await, "vpn_not_owner");
    assert_eq!(refusal(&lab, DialRequest { service: "rdp".into(), ..request(&lab) }).await, "vpn_denied");
    assert_eq!(refusal(&lab, DialRequest { host: "127.0.0.9".into(), ..request(&lab) }).await, "vpn_denied");
    assert_eq!(refusal(&lab, DialRequest { host: "192.0.2.1".into(), ..request(&lab) }).await, "vpn_denied");
    let closed = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    assert_eq!(refusal(&lab, DialRequest { port: closed_port, ..request(&lab) }).await, "vpn_dial_failed");
    // A resource the policy does not list, then another node (another organization's adapter), may not dial.
    *lab.conn.dial.write().unwrap() = Arc::new(policy(&["adapter"], &["res-2"]));
    assert_eq!(refusal(&lab, request(&lab)).await, "vpn_denied");
    *lab.conn.dial.write().unwrap() = Arc::new(policy(&["someone-else"], &[]));
    assert_eq!(refusal(&lab, request(&lab)).await, "vpn_denied");
    assert_eq!(lab.conn.counters.dials.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fence_or_a_new_epoch_ends_an_open_dial() {
    let lab = lab(&[Class::VpnPacket]).await;
    for end in ["fence", "epoch"] {
        let mut stream = within("dial", lab.adapter.vpn_dial("owner", SESSION, &request(&lab))).await.expect("dial");
        match end {
            "fence" => lab.owner.vpn_fence("office").unwrap(),
            _ => lab.owner.vpn_set_epoch("office", 4).unwrap(),
        }
        let mut buf = [0u8; 16];
        let error = within("the end", stream.read(&mut buf)).await.expect_err("the stream ends with an error");
        assert_eq!(FabricError::in_io(&error).map(FabricError::code), Some("vpn_not_owner"), "{end}");
        if end == "fence" {
            // The same epoch again, for the next round (a fence is not a new lease).
            lab.owner.vpn_set_epoch("office", 3).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_is_a_protocol_error_and_the_class_must_be_authorized() {
    let lab = lab(&[Class::VpnPacket]).await;
    let mut raw = within("open", lab.adapter.open_session_stream("owner", Class::VpnPacket, SESSION, [0; 16])).await.unwrap();
    raw.write_all(&[9, 9, 9, 9]).await.unwrap();
    let mut buf = [0u8; 1];
    let error = within("refusal", raw.read(&mut buf)).await.expect_err("refused");
    assert_eq!(FabricError::in_io(&error).map(FabricError::code), Some("protocol_error"));

    let unauthorized = self::lab(&[Class::Input]).await;
    assert_eq!(refusal(&unauthorized, request(&unauthorized)).await, "channel_class_denied");
}
