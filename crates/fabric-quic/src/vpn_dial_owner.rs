//! The owner's side of dial streams (see `vpn_dial`): a `vpn_packet`
//! session stream that ended here (`session_inbound`) is checked against the
//! connection attached here (epoch, service, egress filter), then joined to
//! TCP to the target in Rust until either side ends or the epoch moves on.

use crate::session_stream::SessionStream;
use crate::shared::Shared;
use crate::vpn_dial_wire::{DialRequest, CONNECTED, CONNECT_TIMEOUT, MAX_REQUEST, REQUEST_TIMEOUT};
use crate::vpn_table::{add, VpnConnection};
use crate::wire::StreamReason;
use bytes::{BufMut, BytesMut};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A dial stream that ended here (its class authorized for the origin): serve it on its own task.
pub(crate) fn accept(shared: &Arc<Shared>, origin: String, stream: SessionStream) {
    shared.runtime.spawn(serve(shared.clone(), origin, stream));
}

async fn read_request(stream: &mut SessionStream) -> Option<DialRequest> {
    let mut buf = BytesMut::with_capacity(64);
    loop {
        match DialRequest::decode(&buf) {
            Ok(Some((request, used))) if used == buf.len() => return Some(request),
            // Bytes after the request before the answer: the opener does not wait, a protocol error.
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if buf.len() >= MAX_REQUEST => return None,
            Ok(None) => {}
        }
        let mut chunk = [0u8; 128];
        let want = (MAX_REQUEST - buf.len()).min(chunk.len());
        let n = stream.read(&mut chunk[..want]).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.put_slice(&chunk[..n]);
    }
}

/// The owner's checks, in order; `Ok` is the connection and the address to open.
async fn admit(shared: &Shared, origin: &str, request: &DialRequest) -> Result<(Arc<VpnConnection>, SocketAddr), StreamReason> {
    let conn = shared.vpn.get(&request.connection_id).map_err(|_| StreamReason::VpnNotOwner)?;
    if !conn.gate.admits(request.epoch) {
        add(&conn.counters.dials_refused, 1);
        return Err(StreamReason::VpnNotOwner);
    }
    // The service and the resource must be the policy's, and the dialling node one of the organization's adapters.
    if !conn.dial.read().unwrap().allows(origin, &request.service, &request.resource_id) {
        add(&conn.counters.dials_refused, 1);
        return Err(StreamReason::VpnDenied);
    }
    let candidates: Vec<SocketAddr> = match request.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, request.port)],
        Err(_) => match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((request.host.as_str(), request.port))).await {
            Ok(Ok(found)) => found.collect(),
            _ => {
                add(&conn.counters.dials_failed, 1);
                return Err(StreamReason::VpnDialFailed);
            }
        },
    };
    let filter = conn.filter.read().unwrap().clone();
    match candidates.into_iter().find(|a| filter.permits(a.ip())) {
        Some(address) => Ok((conn, address)),
        None => {
            add(&conn.counters.dials_refused, 1);
            Err(StreamReason::VpnDenied)
        }
    }
}

async fn serve(shared: Arc<Shared>, origin: String, mut stream: SessionStream) {
    let Ok(Some(request)) = tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream)).await else {
        return stream.abort(StreamReason::Protocol);
    };
    let (conn, address) = match admit(&shared, &origin, &request).await {
        Ok(admitted) => admitted,
        Err(reason) => return stream.abort(reason),
    };
    let mut changes = conn.epoch_changed.subscribe();
    let mut stopped = conn.stop.subscribe();
    let mut tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
        Ok(Ok(tcp)) => tcp,
        _ => {
            add(&conn.counters.dials_failed, 1);
            return stream.abort(StreamReason::VpnDialFailed);
        }
    };
    let _ = tcp.set_nodelay(true);
    // The lease may have moved on while connecting.
    if !conn.gate.admits(request.epoch) || *stopped.borrow() {
        add(&conn.counters.dials_refused, 1);
        return stream.abort(StreamReason::VpnNotOwner);
    }
    if stream.write_all(&[CONNECTED]).await.is_err() {
        return;
    }
    add(&conn.counters.dials, 1);
    let epoch = request.epoch;
    let fenced = async {
        loop {
            let gone = tokio::select! {
                changed = changes.changed() => changed.is_err(),
                changed = stopped.changed() => changed.is_err() || *stopped.borrow(),
            };
            if gone || !conn.gate.admits(epoch) {
                return;
            }
        }
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut stream, &mut tcp) => {}
        () = fenced => {
            add(&conn.counters.dials_refused, 1);
            stream.abort(StreamReason::VpnNotOwner);
        }
    }
    let _ = tcp.shutdown().await;
}
