//! The WebSocket fallback at the byte level, written as the npm polyfill
//! `@moq/web-transport-ws` 0.3 (`frame.js`) encodes it: one WebSocket binary
//! message per frame, `0x08` STREAM / `0x09` STREAM+FIN with a QUIC varint
//! stream id and the data, `0x1d` APPLICATION_CLOSE. The Bun and browser tests
//! run the polyfill itself; this pins the bytes in the crate's own tests.

mod support;

use std::sync::Arc;

use fabric_entry::{Frame, PATH};
use futures::{SinkExt, StreamExt};
use qmux::ws::tokio_tungstenite::{self, tungstenite::client::IntoClientRequest, tungstenite::Message};
use serde_json::json;
use session_frame::FrameDecoder;
use support::*;

async fn raw_ws(entry: &Entry) -> tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(entry.certificate.chain[0].clone()).expect("root");
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", entry.server.port())).await.expect("tcp");
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(name, tcp).await.expect("tls");
    let mut request = format!("wss://127.0.0.1:{}{PATH}", entry.server.port()).into_client_request().expect("request");
    // What the polyfill offers: "webtransport" first (an application protocol would follow as "webtransport.NAME").
    request.headers_mut().insert("sec-websocket-protocol", "webtransport".parse().expect("header"));
    let (ws, response) = tokio_tungstenite::client_async(request, stream).await.expect("upgrade");
    assert_eq!(response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()), Some("webtransport"));
    ws
}

/// A STREAM frame as `frame.js` writes it (stream ids below 64 fit a one-byte varint).
fn stream_frame(id: u8, data: &[u8], fin: bool) -> Message {
    let mut m = vec![if fin { 0x09 } else { 0x08 }, id];
    m.extend_from_slice(data);
    Message::Binary(m.into())
}

/// The next STREAM frame's (stream id, data), skipping other frames.
async fn next_stream_data<S: futures::Stream<Item = Result<Message, qmux::ws::tungstenite::Error>> + Unpin>(ws: &mut S) -> (u8, Vec<u8>) {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next()).await.expect("a message in time").expect("open").expect("message");
        let bytes = message.into_data();
        if matches!(bytes.first(), Some(0x08 | 0x09)) && bytes.len() >= 2 {
            return (bytes[1], bytes[2..].to_vec());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_polyfills_frames_carry_hello_welcome_and_the_echo() {
    let entry = start(|_| {}).await;
    let mut ws = raw_ws(&entry).await;
    let hello = Frame::json(&json!({"type": "hello", "version": 1, "session_id": "s-1", "token": "good"})).encode().expect("encode");
    // Client bidirectional streams are 0, 4, 8: control on 0 (kind byte, then hello).
    ws.send(stream_frame(0, &[[0u8].as_slice(), &hello].concat(), false)).await.expect("send");
    let (id, data) = next_stream_data(&mut ws).await;
    assert_eq!(id, 0);
    let mut d = FrameDecoder::new();
    d.push(&data);
    assert_eq!(d.next_frame().expect("frame").expect("whole").parse_json().expect("json")["type"], "welcome");
    // Input on 4, render on 8.
    ws.send(stream_frame(4, &[6], false)).await.expect("send");
    ws.send(stream_frame(8, &[5], false)).await.expect("send");
    ws.send(stream_frame(4, &Frame::data(&b"pwd\r"[..]).encode().expect("encode"), false)).await.expect("send");
    let (id, data) = next_stream_data(&mut ws).await;
    assert_eq!(id, 8);
    assert_eq!(data, Frame::data(&b"pwd\r"[..]).encode().expect("encode").to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_frame_gets_the_error_event_then_an_application_close() {
    let entry = start(|_| {}).await;
    let mut ws = raw_ws(&entry).await;
    ws.send(stream_frame(0, &[0, 9, 0, 0, 0, 0], false)).await.expect("send");
    let (_, data) = next_stream_data(&mut ws).await;
    let mut d = FrameDecoder::new();
    d.push(&data);
    let m = d.next_frame().expect("frame").expect("whole").parse_json().expect("json");
    assert_eq!(m["error"]["code"], "protocol.malformed_frame");
    // Then the session ends: an APPLICATION_CLOSE (0x1d) naming the code, or the socket closing.
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("the close in time") {
            Some(Ok(Message::Binary(b))) if b.first() == Some(&0x1d) => {
                assert!(String::from_utf8_lossy(&b).contains("protocol.malformed_frame"));
                break;
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => continue,
        }
    }
}
