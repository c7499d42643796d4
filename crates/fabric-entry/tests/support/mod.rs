//! Clients of both transports for the entry's tests: `web-transport-quinn`'s
//! client over HTTP/3 and `qmux`'s WebSocket session over TLS, both used
//! through the one `web_transport_trait::Session` API, as the entry serves them.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fabric_entry::echo::EchoHandler;
use fabric_entry::{Certificate, ConnectionClosed, EntryConfig, EntryServer, Frame, FrameType, StreamKind};
use qmux::ws::tokio_tungstenite;
use serde_json::{json, Map, Value};
use session_frame::FrameDecoder;
use tokio::sync::mpsc;
use web_transport_trait::{RecvStream, SendStream, Session};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Entry {
    pub server: EntryServer,
    pub handler: Arc<EchoHandler>,
    pub closed: mpsc::UnboundedReceiver<ConnectionClosed>,
    pub certificate: Certificate,
}

pub async fn start(adjust: impl FnOnce(&mut EntryConfig)) -> Entry {
    let certificate = Certificate::self_signed(&["localhost".into(), "127.0.0.1".into()], 13).expect("certificate");
    let mut config = EntryConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), certificate.clone());
    config.close_grace = Duration::from_secs(2);
    adjust(&mut config);
    let (handler, closed) = EchoHandler::new();
    let server = EntryServer::start(config, handler.clone()).await.expect("start");
    Entry { server, handler, closed, certificate }
}

impl Entry {
    pub async fn next_closed(&mut self) -> ConnectionClosed {
        tokio::time::timeout(WAIT, self.closed.recv()).await.expect("a closed report in time").expect("reports")
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Via {
    WebTransport,
    WebSocket,
}

pub const BOTH: [Via; 2] = [Via::WebTransport, Via::WebSocket];

pub async fn connect_wt(entry: &Entry, path: &str) -> Result<web_transport_quinn::Session, String> {
    let client = web_transport_quinn::ClientBuilder::new()
        .with_server_certificate_hashes(vec![entry.certificate.sha256.to_vec()])
        .map_err(|e| e.to_string())?;
    let url = url::Url::parse(&format!("https://127.0.0.1:{}{path}", entry.server.port())).map_err(|e| e.to_string())?;
    let session = client.connect(url).await.map_err(|e| e.to_string())?;
    // The client's endpoint must outlive the session: keep it with it.
    Box::leak(Box::new(client));
    Ok(session)
}

pub async fn connect_ws(entry: &Entry, path: &str, subprotocol: &str) -> Result<qmux::Session, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(entry.certificate.chain[0].clone()).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", entry.server.port())).await.map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
    let stream = connector.connect(name, tcp).await.map_err(|e| e.to_string())?;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("wss://127.0.0.1:{}{path}", entry.server.port()).into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert("sec-websocket-protocol", subprotocol.parse().map_err(|_| "header")?);
    let (ws, _) = tokio_tungstenite::client_async(request, stream).await.map_err(|e| e.to_string())?;
    Ok(qmux::ws::Upgraded::new(ws).with_alpn("webtransport").connect())
}

/// A stream of whole frames read from a receive stream.
pub struct Frames<R: RecvStream> {
    pub recv: R,
    decoder: FrameDecoder,
}

impl<R: RecvStream> Frames<R> {
    pub fn new(recv: R) -> Self {
        Frames { recv, decoder: FrameDecoder::new() }
    }

    /// The next frame; `None` when the stream ended (or was reset, or the session closed).
    pub async fn next(&mut self) -> Option<Frame> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Ok(Some(frame)) = self.decoder.next_frame() {
                return Some(frame);
            }
            match tokio::time::timeout(WAIT, self.recv.read(&mut buf)).await.expect("a frame or the end in time") {
                Ok(Some(n)) => self.decoder.push(&buf[..n]),
                _ => return None,
            }
        }
    }

    pub async fn json(&mut self) -> Option<Map<String, Value>> {
        let frame = self.next().await?;
        assert_eq!(frame.kind, FrameType::Json, "expected a JSON frame");
        Some(frame.parse_json().expect("JSON object"))
    }

    /// DATA payloads until `want` bytes arrived.
    pub async fn data_until(&mut self, want: usize) -> Vec<u8> {
        let mut out = vec![];
        while out.len() < want {
            let frame = self.next().await.expect("more DATA");
            assert_eq!(frame.kind, FrameType::Data);
            out.extend_from_slice(&frame.payload);
        }
        out
    }
}

/// One client connection, transport-agnostic.
pub struct Client<S: Session> {
    pub session: S,
    pub control: Option<(S::SendStream, Frames<S::RecvStream>)>,
}

impl<S: Session> Client<S> {
    pub fn new(session: S) -> Self {
        Client { session, control: None }
    }

    /// Opens a stream and writes its kind byte.
    pub async fn open(&self, kind: u8) -> (S::SendStream, Frames<S::RecvStream>) {
        let opened = tokio::time::timeout(WAIT, self.session.open_bi()).await.expect("a stream opens in time");
        let (mut send, recv) = opened.map_err(|_| "open_bi").expect("open a stream");
        send.write_all(&[kind]).await.map_err(|_| "write").expect("write the kind");
        (send, Frames::new(recv))
    }

    pub async fn open_control(&mut self) {
        self.control = Some(self.open(StreamKind::Control.byte()).await);
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let (send, _) = self.control.as_mut().expect("control");
        send.write_all(bytes).await.map_err(|_| "write").expect("write");
    }

    pub async fn send(&mut self, message: Value) {
        let bytes = Frame::json(&message).encode().expect("encode");
        self.send_raw(&bytes).await;
    }

    pub async fn recv(&mut self) -> Option<Map<String, Value>> {
        let (_, frames) = self.control.as_mut().expect("control");
        frames.json().await
    }

    /// Opens control, says hello with `token`, and returns the answer.
    pub async fn hello(&mut self, token: &str) -> Map<String, Value> {
        self.open_control().await;
        self.send(json!({"type": "hello", "version": 1, "session_id": "3f1c1d9e-0000-4000-8000-000000000001", "token": token})).await;
        self.recv().await.expect("an answer to hello")
    }

    /// Reads control messages until an error event; its code.
    pub async fn error_code(&mut self) -> String {
        loop {
            let m = self.recv().await.expect("an error event before the end");
            if m["type"] == "error" {
                return m["error"]["code"].as_str().unwrap_or_default().to_string();
            }
        }
    }

    /// The session ends (the entry closed it) within the wait.
    pub async fn closed(&self) {
        tokio::time::timeout(WAIT, self.session.closed()).await.expect("the entry closes the transport");
    }
}

/// Types into input and reads the echo on render: the admitted connection works.
pub async fn echo_works<S: Session>(client: &Client<S>, text: &[u8]) {
    let (mut input, _) = client.open(StreamKind::Input.byte()).await;
    let (_render_send, mut render) = client.open(StreamKind::Render.byte()).await;
    input.write_all(&Frame::data(text.to_vec()).encode().expect("encode")).await.map_err(|_| "write").expect("write");
    assert_eq!(render.data_until(text.len()).await, text);
}
