//! An in-process handler for tests and the `entry-harness` binary: the token
//! `good` admits the input and render channels, `good:input` admits input
//! only, `stall` is never answered (to test the admit timeout), anything
//! else is refused with `data_plane.token_invalid`. The
//! upstream is an echo: what the input stream carries comes back on the
//! render stream of the same attachment as DATA frames (a resize as the text
//! `resize COLSxROWS\r\n`). Not used in production.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::Map;
use session_frame::{Frame, FrameDecoder, FrameType, StreamKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use crate::errors::ErrorEvent;
use crate::handler::{Admission, BoxFuture, ConnectionClosed, Directions, EntryHandler, Hello, Upstream};

/// One attachment's echo: input writes into `tx`, render reads from `rx` (taken once).
struct Pipe {
    tx: mpsc::UnboundedSender<Bytes>,
    rx: Option<mpsc::UnboundedReceiver<Bytes>>,
}

pub struct EchoHandler {
    pipes: Mutex<HashMap<String, Pipe>>,
    admitted: Mutex<Vec<Admission>>,
    closed: mpsc::UnboundedSender<ConnectionClosed>,
}

impl EchoHandler {
    /// The handler and the stream of connection-closed reports it hears.
    pub fn new() -> (Arc<EchoHandler>, mpsc::UnboundedReceiver<ConnectionClosed>) {
        let (closed, reports) = mpsc::unbounded_channel();
        (Arc::new(EchoHandler { pipes: Mutex::new(HashMap::new()), admitted: Mutex::new(Vec::new()), closed }), reports)
    }

    /// Admissions granted so far (to push notices to them).
    pub fn admitted(&self) -> Vec<Admission> {
        self.admitted.lock().map(|a| a.clone()).unwrap_or_default()
    }

    fn pipe_tx(&self, attachment: &str) -> Option<mpsc::UnboundedSender<Bytes>> {
        let mut pipes = self.pipes.lock().ok()?;
        Some(pipes.entry(attachment.to_string()).or_insert_with(new_pipe).tx.clone())
    }

    fn pipe_rx(&self, attachment: &str) -> Option<mpsc::UnboundedReceiver<Bytes>> {
        let mut pipes = self.pipes.lock().ok()?;
        pipes.entry(attachment.to_string()).or_insert_with(new_pipe).rx.take()
    }
}

fn new_pipe() -> Pipe {
    let (tx, rx) = mpsc::unbounded_channel();
    Pipe { tx, rx: Some(rx) }
}

fn refused(code: &str, fallback: &str, trace_id: &str) -> ErrorEvent {
    ErrorEvent {
        code: code.into(),
        message_key: format!("errors.{code}"),
        fallback_message: fallback.into(),
        details: Map::new(),
        trace_id: trace_id.into(),
    }
}

impl EntryHandler for EchoHandler {
    fn admit(&self, hello: Hello) -> BoxFuture<Result<Admission, ErrorEvent>> {
        if hello.token == "stall" {
            return Box::pin(std::future::pending());
        }
        // `good:clipboard:<mode>`: only a clipboard stream, under that clipboard policy.
        let clipboard = hello.token.strip_prefix("good:clipboard:").and_then(Directions::from_mode);
        let channels = match hello.token.as_str() {
            "good" => Some(vec![StreamKind::Input, StreamKind::Render]),
            "good:input" => Some(vec![StreamKind::Input]),
            _ if clipboard.is_some() => Some(vec![StreamKind::Clipboard]),
            _ => None,
        };
        let result = match channels {
            Some(channels) => {
                let admission = Admission {
                    connection_id: hello.connection_id,
                    session_id: hello.session_id.clone(),
                    attachment_id: format!("attachment-{}", hello.connection_id),
                    channels,
                    adapter_node_id: None,
                    clipboard: clipboard.unwrap_or(Directions::BOTH),
                };
                if let Ok(mut a) = self.admitted.lock() {
                    a.push(admission.clone());
                }
                Ok(admission)
            }
            None => Err(refused("data_plane.token_invalid", "The connection token is not valid.", &hello.trace_id)),
        };
        Box::pin(async move { result })
    }

    fn open_upstream(&self, admission: &Admission, kind: StreamKind) -> BoxFuture<Result<Box<dyn Upstream>, ErrorEvent>> {
        let (ours, theirs) = tokio::io::duplex(256 * 1024);
        let unavailable = || refused("internal.error", "Internal server error.", "");
        let started = match kind {
            StreamKind::Input => self.pipe_tx(&admission.attachment_id).map(|tx| {
                tokio::spawn(echo_input(ours, tx));
            }),
            StreamKind::Render => self.pipe_rx(&admission.attachment_id).map(|rx| {
                tokio::spawn(feed_render(ours, rx));
            }),
            StreamKind::Clipboard => {
                tokio::spawn(echo_one_frame(ours));
                Some(())
            }
            _ => None,
        };
        let result: Result<Box<dyn Upstream>, ErrorEvent> = match started {
            Some(()) => Ok(Box::new(theirs)),
            None => Err(unavailable()),
        };
        Box::pin(async move { result })
    }

    fn closed(&self, event: ConnectionClosed) {
        if let Some(a) = &event.admission {
            if let Ok(mut pipes) = self.pipes.lock() {
                pipes.remove(&a.attachment_id);
            }
        }
        let _ = self.closed.send(event);
    }
}

/// Reads the input stream's frames and sends each one's echo to the render side.
async fn echo_input(mut input: DuplexStream, tx: mpsc::UnboundedSender<Bytes>) {
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = input.read(&mut buf).await {
        if n == 0 {
            return;
        }
        decoder.push(&buf[..n]);
        while let Ok(Some(frame)) = decoder.next_frame() {
            let echoed = match frame.kind {
                FrameType::Data => Frame::data(frame.payload),
                FrameType::Json => {
                    let Ok(m) = frame.parse_json() else { return };
                    let n = |k: &str| m.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
                    Frame::data(format!("resize {}x{}\r\n", n("cols"), n("rows")).into_bytes())
                }
            };
            let Ok(bytes) = echoed.encode() else { return };
            if tx.send(bytes).is_err() {
                return;
            }
        }
    }
}

/// The clipboard upstream: sends the first whole frame it gets back, then ends the stream.
async fn echo_one_frame(mut stream: DuplexStream) {
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        decoder.push(&buf[..n]);
        if let Ok(Some(frame)) = decoder.next_frame() {
            if let Ok(bytes) = frame.encode() {
                let _ = stream.write_all(&bytes).await;
            }
            break;
        }
    }
    let _ = stream.shutdown().await;
}

async fn feed_render(mut render: DuplexStream, mut rx: mpsc::UnboundedReceiver<Bytes>) {
    while let Some(bytes) = rx.recv().await {
        if render.write_all(&bytes).await.is_err() {
            return;
        }
    }
}
