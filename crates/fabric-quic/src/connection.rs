//! The life of one peer connection: accepting (the client certificate is
//! checked, then the welcome is sent), the dialler's wait for the welcome,
//! registration (one connection per peer node, its readers started; one
//! made after a certificate renewal takes over make-before-break), and its
//! end (close watched, certificate expiry enforced).

use crate::clock::unix_now;
use crate::event::Event;
use crate::identity::{NodeCert, Refusal};
use crate::inbound;
use crate::session_inbound;
use crate::shared::{close_code, PeerConn, Shared};
use quinn::{Connection, ConnectionError};
use rustls::pki_types::CertificateDer;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a connection replaced after a renewal stays open: writers still
/// flush what was queued on it, and what the peer already sent arrives.
pub(crate) const HANDOVER_GRACE: Duration = Duration::from_secs(5);

/// The spec's failure reason for a failed handshake or lost connection.
pub(crate) fn reason_from_error(text: &str) -> &'static str {
    const KNOWN: [(&str, &str); 10] = [
        ("WrongCluster", "wrong_cluster"),
        ("wrong_cluster", "wrong_cluster"),
        ("WrongNode", "wrong_node"),
        ("wrong_node", "wrong_node"),
        ("CertificateExpired", "certificate_expired"),
        ("certificate_expired", "certificate_expired"),
        ("CertificateRevoked", "certificate_revoked"),
        ("certificate_revoked", "certificate_revoked"),
        ("CertificateInvalid", "certificate_invalid"),
        ("certificate_invalid", "certificate_invalid"),
    ];
    KNOWN.iter().find(|(needle, _)| text.contains(needle)).map(|(_, code)| *code).unwrap_or("tls_handshake_failed")
}

/// In TLS 1.3 the client finishes its handshake before the server has
/// checked the client certificate, so a dialler only counts a connection as
/// up once the server's welcome arrives: its first unidirectional stream,
/// one byte. A refusal arrives instead as the close reason.
const WELCOME: u8 = 0xAC;

async fn send_welcome(mut stream: quinn::SendStream) {
    let _ = stream.write_all(&[WELCOME]).await;
    let _ = stream.finish();
}

pub(crate) async fn welcome(conn: &Connection, limit: Duration) -> Result<(), ConnectionError> {
    let read = async {
        let mut stream = conn.accept_uni().await?;
        let mut byte = [0u8; 1];
        match stream.read_exact(&mut byte).await {
            Ok(()) if byte[0] == WELCOME => Ok(()),
            Ok(()) => {
                conn.close(close_code("protocol"), b"tls_handshake_failed");
                Err(ConnectionError::LocallyClosed)
            }
            Err(_) => Err(conn.close_reason().unwrap_or(ConnectionError::LocallyClosed)),
        }
    };
    match tokio::time::timeout(limit, read).await {
        Ok(result) => result,
        Err(_) => {
            conn.close(close_code("network_unreachable"), b"network_unreachable");
            Err(ConnectionError::TimedOut)
        }
    }
}

pub(crate) fn peer_certificate(shared: &Shared, conn: &Connection, expected: Option<&str>) -> Result<(NodeCert, Vec<u8>), Refusal> {
    let invalid = || Refusal::CertificateInvalid("no peer certificate".into());
    let identity = conn.peer_identity().ok_or_else(invalid)?;
    let chain = identity.downcast::<Vec<CertificateDer<'static>>>().map_err(|_| invalid())?;
    let der = chain.first().ok_or_else(invalid)?.to_vec();
    let cert = shared.trust.read().unwrap().verify(&der, unix_now(), expected)?;
    Ok((cert, der))
}

pub(crate) async fn accept_loop(shared: Arc<Shared>) {
    while let Some(incoming) = shared.quic.accept().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            match incoming.await {
                Ok(conn) => match peer_certificate(&shared, &conn, None) {
                    Ok((cert, der)) => {
                        // The welcome must be stream 0: open it before anything
                        // registration lets the application send.
                        let Ok(welcome) = conn.open_uni().await else { return };
                        let initiator = cert.node_id.clone();
                        let local_not_after = shared.own_not_after.load(Ordering::Acquire);
                        register(&shared, conn.clone(), cert, der, initiator, local_not_after);
                        send_welcome(welcome).await;
                    }
                    Err(refusal) => {
                        conn.close(close_code(refusal.code()), refusal.code().as_bytes());
                        shared.counters.handshake_failed(refusal.code());
                        shared.emit(Event::HandshakeFailed { node_id: None, reason: refusal.code().into() });
                    }
                },
                Err(e) => {
                    let reason = reason_from_error(&format!("{e:?}"));
                    shared.counters.handshake_failed(reason);
                    shared.emit(Event::HandshakeFailed { node_id: None, reason: reason.into() });
                }
            }
        });
    }
}

/// Which of two live connections to one peer both ends keep: the one whose
/// two certificates (this node's and the peer's) expire later in sum, so a
/// connection made after either side renewed takes over; for two made with
/// the same certificates (both sides dialled at once), the one dialled by
/// the smaller node id. Both ends see the same two certificates on each
/// connection, so they choose alike.
pub(crate) fn keeps_new(existing: (i64, &str), new: (i64, &str)) -> bool {
    if new.0 != existing.0 {
        return new.0 > existing.0;
    }
    new.1 < existing.1
}

/// Adds an authenticated connection and starts its readers (see
/// `keeps_new` for which one stays when one to that peer is already up).
pub(crate) fn register(
    shared: &Arc<Shared>,
    conn: Connection,
    cert: NodeCert,
    cert_der: Vec<u8>,
    initiator: String,
    local_not_after: i64,
) -> NodeCert {
    let node_id = cert.node_id.clone();
    let dialled = initiator == shared.node_id;
    let peer = PeerConn {
        conn: conn.clone(),
        cert: cert.clone(),
        cert_der,
        initiator,
        local_not_after,
        local_close_reason: Arc::new(Mutex::new(None)),
    };
    {
        let mut state = shared.state.lock().unwrap();
        if let Some(existing) = state.peers.get(&node_id) {
            let certificates = |p: &PeerConn| p.local_not_after + p.cert.not_after_unix;
            let new_wins = keeps_new((certificates(existing), &existing.initiator), (certificates(&peer), &peer.initiator));
            if existing.conn.close_reason().is_none() && !new_wins {
                peer.close("duplicate");
                return existing.cert.clone();
            }
            if certificates(&peer) > certificates(existing) {
                // A renewal: the old connection drains, then closes. Its close
                // emits no peer_down (the node has a newer connection).
                let old = existing.conn.clone();
                let reason = existing.local_close_reason.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(HANDOVER_GRACE).await;
                    *reason.lock().unwrap() = Some("renewed".into());
                    old.close(close_code("renewed"), b"renewed");
                });
            } else {
                existing.close("duplicate");
            }
        }
        state.drop_senders_through(&node_id);
        state.peers.insert(node_id.clone(), peer);
    }
    shared.emit(Event::PeerUp { node_id: node_id.clone(), serial: cert.serial.clone(), not_after_unix: cert.not_after_unix, dialled });
    tokio::spawn(inbound::streams(shared.clone(), conn.clone(), node_id.clone()));
    tokio::spawn(inbound::datagrams(shared.clone(), conn.clone(), node_id.clone()));
    tokio::spawn(session_inbound::streams(shared.clone(), conn.clone(), node_id.clone()));
    tokio::spawn(watch_close(shared.clone(), conn.clone(), node_id.clone()));
    tokio::spawn(expire_at(shared.clone(), conn, node_id, cert.not_after_unix));
    cert
}

async fn watch_close(shared: Arc<Shared>, conn: Connection, node_id: String) {
    let error = conn.closed().await;
    let mut state = shared.state.lock().unwrap();
    let Some(current) = state.peers.get(&node_id) else { return };
    if current.conn.stable_id() != conn.stable_id() {
        return; // superseded by a newer connection to the same node
    }
    let local = current.local_close_reason.lock().unwrap().clone();
    let reason = match (local, &error) {
        (Some(r), _) => r,
        (None, ConnectionError::ApplicationClosed(close)) => String::from_utf8_lossy(&close.reason).into_owned(),
        (None, ConnectionError::TimedOut) => "heartbeat_timeout".into(),
        (None, _) => "network_unreachable".into(),
    };
    state.peers.remove(&node_id);
    state.drop_senders_through(&node_id);
    drop(state);
    shared.emit(Event::PeerDown { node_id, reason });
}

async fn expire_at(shared: Arc<Shared>, conn: Connection, node_id: String, not_after_unix: i64) {
    let left = (not_after_unix - unix_now()).max(0) as u64;
    tokio::select! {
        _ = conn.closed() => {}
        _ = tokio::time::sleep(Duration::from_secs(left + 1)) => {
            let state = shared.state.lock().unwrap();
            if let Some(peer) = state.peers.get(&node_id).filter(|p| p.conn.stable_id() == conn.stable_id()) {
                peer.close("certificate_expired");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{keeps_new, reason_from_error};

    #[test]
    fn the_connection_with_later_certificates_stays_else_the_smaller_dialler() {
        // Made after a renewal (either side): the new one takes over, whoever dialled.
        assert!(keeps_new((200, "a"), (230, "b")));
        assert!(!keeps_new((230, "b"), (200, "a")));
        // Same certificates: the one dialled by the smaller node id.
        assert!(keeps_new((200, "b"), (200, "a")));
        assert!(!keeps_new((200, "a"), (200, "b")));
        assert!(!keeps_new((200, "a"), (200, "a")));
    }

    #[test]
    fn handshake_errors_map_to_the_spec_reasons() {
        assert_eq!(reason_from_error("invalid peer certificate: Other(OtherError(WrongNode))"), "wrong_node");
        assert_eq!(reason_from_error("ApplicationClosed { reason: b\"certificate_revoked\" }"), "certificate_revoked");
        assert_eq!(reason_from_error("peer sent no certificates"), "tls_handshake_failed");
    }
}
