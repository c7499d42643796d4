//! Splices one admitted channel stream onto its upstream, in Rust and without
//! re-framing: client → upstream bytes pass only as whole, valid frames
//! (so an adapter never sees a malformed or oversized one); upstream → client
//! bytes are copied as they come.

use session_frame::{FrameDecoder, FrameType, StreamKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use web_transport_trait::{RecvStream, SendStream};

use crate::errors::{EntryCode, ErrorEvent};
use crate::handler::{Directions, Upstream};

/// How a splice ended.
pub(crate) enum SpliceEnd {
    /// Both directions finished (or the upstream went away): the stream is simply done.
    Done,
    /// The client broke the protocol on this stream.
    Refused(EntryCode, String),
    /// The handler could not open the upstream.
    Upstream(ErrorEvent),
}

/// JSON message types a client may send on a channel stream; `None`: any (the adapter checks them).
fn client_json_types(kind: StreamKind) -> Option<&'static [&'static str]> {
    match kind {
        StreamKind::Input => Some(&["resize", "quality", "refresh"]),
        StreamKind::Render => Some(&["frame_ack"]),
        StreamKind::Control => Some(&[]),
        StreamKind::Clipboard | StreamKind::FileTransfer => None,
    }
}

const CHUNK: usize = 64 * 1024;

/// Bytes flow both ways except on the clipboard stream, where `clipboard` says which ways
/// may: a client frame the other way is refused, adapter bytes the other way are dropped.
pub(crate) async fn splice<Tx: SendStream, Rx: RecvStream>(
    kind: StreamKind,
    mut send: Tx,
    mut recv: Rx,
    upstream: Box<dyn Upstream>,
    clipboard: Directions,
) -> SpliceEnd {
    let directions = if kind == StreamKind::Clipboard { clipboard } else { Directions::BOTH };
    let (mut up_read, mut up_write) = tokio::io::split(upstream);
    let to_upstream = async move {
        let mut decoder = FrameDecoder::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match recv.read(&mut buf).await {
                Ok(Some(n)) => n,
                Ok(None) | Err(_) => {
                    // The client finished (or reset) its half: pass the end on.
                    let _ = up_write.shutdown().await;
                    return None;
                }
            };
            decoder.push(&buf[..n]);
            loop {
                let frame = match decoder.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(e) => return Some((EntryCode::of_frame_error(&e), e.to_string())),
                };
                if !directions.to_server {
                    return Some((EntryCode::ClipboardDirectionRefused, format!("clipboard policy {}", directions.mode())));
                }
                if frame.kind == FrameType::Json {
                    let message = match frame.parse_json() {
                        Ok(m) => m,
                        Err(e) => return Some((EntryCode::of_frame_error(&e), e.to_string())),
                    };
                    let ty = message.get("type").and_then(|t| t.as_str()).unwrap_or_default();
                    if let Some(allowed) = client_json_types(kind) {
                        if !allowed.contains(&ty) {
                            let shown: String = ty.chars().take(64).collect();
                            return Some((EntryCode::UnknownMessage, format!("{shown} on the {} stream", kind.channel())));
                        }
                    }
                }
                let Ok(bytes) = frame.encode() else { return Some((EntryCode::FrameTooLarge, "frame over its limit".into())) };
                if up_write.write_all(&bytes).await.is_err() {
                    return None;
                }
            }
        }
    };
    let to_client = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match up_read.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = send.finish();
                    return;
                }
                // Not allowed to the client: read and dropped, so the adapter is never blocked by it.
                Ok(_) if !directions.to_client => {}
                Ok(n) => {
                    if send.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    tokio::pin!(to_upstream, to_client);
    let mut client_half_done = false;
    let mut upstream_half_done = false;
    loop {
        tokio::select! {
            bad = &mut to_upstream, if !client_half_done => {
                if let Some((code, reason)) = bad {
                    return SpliceEnd::Refused(code, reason);
                }
                client_half_done = true;
            }
            _ = &mut to_client, if !upstream_half_done => {
                upstream_half_done = true;
            }
        }
        if client_half_done && upstream_half_done {
            return SpliceEnd::Done;
        }
    }
}
