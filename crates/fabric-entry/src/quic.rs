//! The HTTP/3 side: a quinn endpoint with the certificate and the h3 ALPN,
//! and the loop that turns each QUIC connection's WebTransport CONNECT for
//! `/rap/v1` into a served session.

use std::sync::Arc;

use crate::handler::Transport;
use crate::server::{EntryConfig, Shared, StartError, PATH};

pub(crate) fn endpoint(config: &EntryConfig) -> Result<quinn::Endpoint, StartError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert = &config.certificate;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(cert.chain.clone(), cert.key.clone_key())
        .map_err(|e| StartError::Tls(e.to_string()))?;
    tls.alpn_protocols = vec![web_transport_quinn::ALPN.as_bytes().to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|e| StartError::Tls(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    // Channel streams, the control stream, HTTP/3's CONNECT stream, and one more so that a
    // client going over the limit gets the entry's clear `protocol.too_many_streams`
    // instead of a stream that silently never opens.
    let streams = u32::try_from(config.max_streams_per_connection + 3).unwrap_or(u32::MAX);
    transport.max_concurrent_bidi_streams(streams.into());
    transport.keep_alive_interval(Some(std::time::Duration::from_secs(5)));
    if let Ok(idle) = quinn::IdleTimeout::try_from(std::time::Duration::from_secs(30)) {
        transport.max_idle_timeout(Some(idle));
    }
    server.transport_config(Arc::new(transport));
    quinn::Endpoint::server(server, config.bind).map_err(|e| StartError::Bind(config.bind, e))
}

pub(crate) async fn accept_loop(endpoint: quinn::Endpoint, shared: Arc<Shared>) {
    while let Some(incoming) = endpoint.accept().await {
        let Some((slot, refuse_with)) = shared.slot() else {
            incoming.refuse();
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            let remote = conn.remote_address();
            let handshake = async {
                let request = web_transport_quinn::Request::accept(conn).await.ok()?;
                if request.url.path() != PATH {
                    let _ = request.reject(web_transport_quinn::http::StatusCode::NOT_FOUND).await;
                    return None;
                }
                request.ok().await.ok()
            };
            let Ok(Some(session)) = tokio::time::timeout(shared.limits.hello_timeout, handshake).await else { return };
            shared.run(session, Transport::WebTransport, remote, slot, refuse_with).await;
        });
    }
}
