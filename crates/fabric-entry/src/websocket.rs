//! The WebSocket fallback: TLS over TCP on the same port number, a WebSocket
//! upgrade at `/rap/v1` offering the subprotocol `webtransport`, then the
//! `qmux` crate's legacy "webtransport" wire format, which is what the npm
//! polyfill `@moq/web-transport-ws` speaks. The session it yields has the
//! same stream API as WebTransport, so `connection::serve` serves both.

use std::sync::Arc;

use qmux::ws::tokio_tungstenite;
use qmux::ws::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use qmux::ws::tungstenite::http;
use tokio_rustls::TlsAcceptor;

use crate::cert::Certificate;
use crate::handler::Transport;
use crate::server::{Shared, StartError, PATH};

/// The subprotocol of the polyfill's wire format (qmux's legacy `webtransport`).
pub const SUBPROTOCOL: &str = "webtransport";

/// The largest WebSocket message: one qmux frame carries at most one write of a stream, and a
/// DATA frame is at most 1 MiB plus its header; the polyfill sends each write as one message.
const MAX_MESSAGE: usize = 2 * 1024 * 1024;

pub(crate) fn tls_acceptor(cert: &Certificate) -> Result<TlsAcceptor, StartError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(cert.chain.clone(), cert.key.clone_key())
        .map_err(|e| StartError::Tls(e.to_string()))?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(tls)))
}

pub(crate) async fn accept_loop(listener: std::net::TcpListener, tls: TlsAcceptor, shared: Arc<Shared>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                // Out of descriptors or a reset before accept: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some((slot, refuse_with)) = shared.slot() else {
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let handshake = async {
                let stream = tls.accept(tcp).await.ok()?;
                let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
                config.max_message_size = Some(MAX_MESSAGE);
                config.max_frame_size = Some(MAX_MESSAGE);
                tokio_tungstenite::accept_hdr_async_with_config(stream, check_upgrade, Some(config)).await.ok()
            };
            let Ok(Some(ws)) = tokio::time::timeout(shared.limits.hello_timeout, handshake).await else { return };
            // WebSocket has no idle timeout of its own: ping, and drop a client silent for 30 s (as QUIC does).
            let session = qmux::ws::Upgraded::new(ws).with_alpn(SUBPROTOCOL).with_keep_alive(qmux::ws::KeepAlive::default()).accept();
            shared.run(session, Transport::WebSocket, remote, slot, refuse_with).await;
        });
    }
}

/// Accepts the upgrade only at `/rap/v1` and only with the `webtransport` subprotocol.
#[allow(clippy::result_large_err)] // the signature tungstenite's callback requires
fn check_upgrade(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let refuse = |status: http::StatusCode, text: &str| {
        let mut r = ErrorResponse::new(Some(text.to_string()));
        *r.status_mut() = status;
        r
    };
    if request.uri().path() != PATH {
        return Err(refuse(http::StatusCode::NOT_FOUND, "not found"));
    }
    let offered = request
        .headers()
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if !offered {
        return Err(refuse(http::StatusCode::BAD_REQUEST, "the webtransport subprotocol is required"));
    }
    response.headers_mut().insert(http::header::SEC_WEBSOCKET_PROTOCOL, http::HeaderValue::from_static(SUBPROTOCOL));
    Ok(response)
}
