//! Clipboard text between the client's clipboard stream (kind 7) and the
//! server's cliprdr static channel. The policy and loop avoidance are
//! [`ClipboardBridge`]'s; this module is the plumbing: a cliprdr backend whose
//! callbacks (called inside the session task's PDU processing) hand work back
//! to the session task as commands, and the client stream's task.
//!
//! Server → client: the server announces a copy (format list) → we ask for
//! CF_UNICODETEXT → its data arrives → the bridge decides → the client gets a
//! `clipboard` message. Client → server: a `clipboard` message → the bridge
//! decides → we announce CF_UNICODETEXT → the server asks for it → we answer.

use std::sync::{Arc, Mutex};

use ironrdp_cliprdr::backend::{ClipboardMessage, CliprdrBackend};
use ironrdp_cliprdr::pdu::{
    ClipboardFormat, ClipboardFormatId, ClipboardGeneralCapabilityFlags, FileContentsRequest, FileContentsResponse, FormatDataRequest,
    FormatDataResponse, LockDataId, OwnedFormatDataResponse,
};
use ironrdp_core::impl_as_any;
use serde_json::Value;
use session_frame::{write_frame, Frame};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use crate::clipboard_bridge::ClipboardBridge;
use crate::frames::FrameReader;
use crate::hub::HubState;
use crate::render_wire::notice;
use crate::session::Command;

/// The clipboard state of one session, shared by the backend and the client stream.
pub(crate) struct ClipboardHub {
    bridge: Mutex<ClipboardBridge>,
    /// The text the client last put on the server's clipboard (what we answer format-data requests with).
    local: Mutex<Option<String>>,
    /// The current client clipboard stream: (attachment, its outbox).
    client: Mutex<Option<(u64, mpsc::UnboundedSender<Value>)>>,
    commands: mpsc::UnboundedSender<Command>,
}

impl ClipboardHub {
    pub fn new(bridge: ClipboardBridge, commands: mpsc::UnboundedSender<Command>) -> ClipboardHub {
        ClipboardHub { bridge: Mutex::new(bridge), local: Mutex::new(None), client: Mutex::new(None), commands }
    }

    fn bridge(&self) -> std::sync::MutexGuard<'_, ClipboardBridge> {
        self.bridge.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn local_text(&self) -> Option<String> {
        self.local.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The server's clipboard now holds `text`.
    fn server_copied(&self, text: &str) {
        let Some(message) = self.bridge().from_server(text) else { return };
        if let Some((_, out)) = self.client.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = out.send(message);
        }
    }

    /// Puts `text` on the server's clipboard: announce it, answer the server's request later.
    fn to_server(&self, text: String) {
        *self.local.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
        let _ = self
            .commands
            .send(Command::Clipboard(ClipboardMessage::SendInitiateCopy(vec![ClipboardFormat::new(ClipboardFormatId::CF_UNICODETEXT)])));
    }

    fn backend_request(&self, message: ClipboardMessage) {
        let _ = self.commands.send(Command::Clipboard(message));
    }
}

/// The cliprdr backend: text only, no files.
#[derive(Clone)]
pub(crate) struct BridgeBackend {
    hub: Arc<ClipboardHub>,
}

impl std::fmt::Debug for BridgeBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BridgeBackend")
    }
}

impl_as_any!(BridgeBackend);

impl BridgeBackend {
    pub fn new(hub: Arc<ClipboardHub>) -> BridgeBackend {
        BridgeBackend { hub }
    }

    fn announce_local(&self) {
        let formats =
            if self.hub.local_text().is_some() { vec![ClipboardFormat::new(ClipboardFormatId::CF_UNICODETEXT)] } else { Vec::new() };
        self.hub.backend_request(ClipboardMessage::SendInitiateCopy(formats));
    }
}

impl CliprdrBackend for BridgeBackend {
    fn temporary_directory(&self) -> &str {
        ".cliprdr"
    }

    fn client_capabilities(&self) -> ClipboardGeneralCapabilityFlags {
        ClipboardGeneralCapabilityFlags::USE_LONG_FORMAT_NAMES
    }

    fn on_ready(&mut self) {
        self.announce_local();
    }

    fn on_request_format_list(&mut self) {
        self.announce_local();
    }

    fn on_process_negotiated_capabilities(&mut self, _capabilities: ClipboardGeneralCapabilityFlags) {}

    fn on_remote_copy(&mut self, available_formats: &[ClipboardFormat]) {
        if available_formats.iter().any(|f| f.id() == ClipboardFormatId::CF_UNICODETEXT) {
            self.hub.backend_request(ClipboardMessage::SendInitiatePaste(ClipboardFormatId::CF_UNICODETEXT));
        }
    }

    fn on_format_data_request(&mut self, request: FormatDataRequest) {
        let response = match self.hub.local_text() {
            Some(text) if request.format == ClipboardFormatId::CF_UNICODETEXT => OwnedFormatDataResponse::new_unicode_string(&text),
            _ => OwnedFormatDataResponse::new_error(),
        };
        self.hub.backend_request(ClipboardMessage::SendFormatData(response));
    }

    fn on_format_data_response(&mut self, response: FormatDataResponse<'_>) {
        if response.is_error() {
            return;
        }
        if let Ok(text) = response.to_unicode_string() {
            self.hub.server_copied(&text);
        }
    }

    fn on_file_contents_request(&mut self, _request: FileContentsRequest) {}

    fn on_file_contents_response(&mut self, _response: FileContentsResponse<'_>) {}

    fn on_lock(&mut self, _data_id: LockDataId) {}

    fn on_unlock(&mut self, _data_id: LockDataId) {}
}

/// Serves one attachment's clipboard stream until the client closes it or the attachment is no longer current.
pub(crate) async fn serve<R, W>(hub: Arc<ClipboardHub>, id: u64, mut changes: watch::Receiver<HubState>, input: R, mut output: W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, mut outbox) = mpsc::unbounded_channel();
    if let Some(message) = hub.bridge().on_attach() {
        let _ = tx.send(message);
    }
    *hub.client.lock().unwrap_or_else(|p| p.into_inner()) = Some((id, tx.clone()));
    let mut reader = FrameReader::new(input);
    loop {
        tokio::select! {
            frame = reader.next() => {
                let frame = match frame {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(notice(e.code(), "the clipboard stream carried something that is not a frame"));
                        break;
                    }
                };
                match frame.parse_json() {
                    Ok(map) if map.get("type").and_then(Value::as_str) == Some("clipboard") => {
                        let decided = hub.bridge().from_client(&map);
                        match decided {
                            Ok(Some(text)) => hub.to_server(text),
                            Ok(None) => {}
                            Err(refusal) => { let _ = tx.send(refusal); }
                        }
                    }
                    _ => { let _ = tx.send(notice("protocol.malformed_frame", "the clipboard stream takes only clipboard messages")); }
                }
            }
            Some(message) = outbox.recv() => {
                if write_frame(&mut output, &Frame::json(&message)).await.is_err() || output.flush().await.is_err() {
                    break;
                }
            }
            _ = no_longer_current(&mut changes, id) => break,
        }
    }
    // Flush what is queued (a last notice) before going.
    while let Ok(message) = outbox.try_recv() {
        if write_frame(&mut output, &Frame::json(&message)).await.is_err() {
            break;
        }
    }
    {
        let mut client = hub.client.lock().unwrap_or_else(|p| p.into_inner());
        if client.as_ref().is_some_and(|(current, _)| *current == id) {
            *client = None;
        }
    }
    let _ = output.shutdown().await;
}

/// Resolves when attachment `id` is no longer the current one (or the session ended).
pub(crate) async fn no_longer_current(changes: &mut watch::Receiver<HubState>, id: u64) {
    loop {
        {
            let s = changes.borrow_and_update();
            if s.attached != Some(id) || s.ended.is_some() {
                return;
            }
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}
