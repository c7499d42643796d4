//! The clipboard stream's policy and loop avoidance. Text only, at most
//! 60,000 bytes of UTF-8, in the directions the resource's `clipboard_mode`
//! allows. Every message carries the SHA-256 of its text: the bridge
//! remembers the hash of the last text that crossed (either way) and never
//! sends the same text back where it came from, so a viewer that echoes what
//! it was given, a server that re-announces what it was given, or a
//! reattach/takeover cannot start a ping-pong.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::render_wire::notice;

/// The largest clipboard text in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 60_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClipboardMode {
    #[default]
    Disabled,
    ClientToServer,
    ServerToClient,
    Bidirectional,
}

impl ClipboardMode {
    /// The resource policy's names; `None` for anything else.
    pub fn parse(s: &str) -> Option<ClipboardMode> {
        match s {
            "disabled" => Some(ClipboardMode::Disabled),
            "client_to_server" => Some(ClipboardMode::ClientToServer),
            "server_to_client" => Some(ClipboardMode::ServerToClient),
            "bidirectional" => Some(ClipboardMode::Bidirectional),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClipboardMode::Disabled => "disabled",
            ClipboardMode::ClientToServer => "client_to_server",
            ClipboardMode::ServerToClient => "server_to_client",
            ClipboardMode::Bidirectional => "bidirectional",
        }
    }

    pub fn to_server(self) -> bool {
        matches!(self, ClipboardMode::ClientToServer | ClipboardMode::Bidirectional)
    }

    pub fn to_client(self) -> bool {
        matches!(self, ClipboardMode::ServerToClient | ClipboardMode::Bidirectional)
    }
}

/// `content_hash`: lowercase hex SHA-256 of the text's UTF-8 bytes.
pub fn content_hash(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn too_large() -> Value {
    notice("clipboard.too_large", "The clipboard text is over 60,000 bytes; nothing was copied.")
}

fn invalid(what: &str) -> Value {
    notice("protocol.invalid_message", &format!("clipboard message: {what}"))
}

/// One session's clipboard bridge; it outlives attachments so reattach and takeover see the same state.
#[derive(Debug, Default)]
pub struct ClipboardBridge {
    mode: ClipboardMode,
    /// Sequence of the last message sent to a client; never reset, so every client sees it rise.
    sent_seq: u64,
    /// The current attachment's last `sequence_id`: older (reordered) ones are ignored.
    client_seq: Option<u64>,
    /// Hash of the last text received from or sent to a client.
    last_hash: Option<String>,
    /// The server's clipboard text as last known (for `on_attach`).
    server_text: Option<String>,
}

impl ClipboardBridge {
    pub fn new(mode: ClipboardMode) -> Self {
        ClipboardBridge { mode, ..Default::default() }
    }

    pub fn mode(&self) -> ClipboardMode {
        self.mode
    }

    /// A clipboard frame from the client: `Ok(Some(text))` = put it on the
    /// server's clipboard, `Ok(None)` = nothing to do (a loop or a stale
    /// message), `Err(notice)` = refused, send the notice; nothing changed.
    pub fn from_client(&mut self, frame: &Map<String, Value>) -> Result<Option<String>, Value> {
        if frame.get("type").and_then(Value::as_str) != Some("clipboard") {
            return Err(notice("protocol.unknown_message", "The clipboard stream carries only clipboard messages."));
        }
        if !self.mode.to_server() {
            return Err(notice("clipboard.direction_refused", "Copying to the remote desktop is not allowed for this resource."));
        }
        let text = frame.get("text").and_then(Value::as_str).ok_or_else(|| invalid("text is missing"))?;
        if text.len() > MAX_TEXT_BYTES {
            return Err(too_large());
        }
        let seq = frame.get("sequence_id").and_then(Value::as_u64).ok_or_else(|| invalid("sequence_id is missing"))?;
        if frame.get("origin").and_then(Value::as_str) != Some("client") {
            return Err(invalid("origin must be \"client\""));
        }
        let hash = content_hash(text);
        let claimed = frame.get("content_hash").and_then(Value::as_str).ok_or_else(|| invalid("content_hash is missing"))?;
        if !claimed.eq_ignore_ascii_case(&hash) {
            return Err(notice("clipboard.hash_mismatch", "The clipboard text does not match its content_hash; nothing was copied."));
        }
        if self.client_seq.is_some_and(|last| seq <= last) {
            return Ok(None);
        }
        self.client_seq = Some(seq);
        if self.last_hash.as_deref() == Some(hash.as_str()) {
            return Ok(None);
        }
        self.last_hash = Some(hash);
        self.server_text = Some(text.to_owned());
        Ok(Some(text.to_owned()))
    }

    /// The server's clipboard changed: the message for the client, or
    /// `None` (direction refused, or the text that just crossed). Text over
    /// the limit gives a `clipboard.too_large` notice for the client instead.
    pub fn from_server(&mut self, text: &str) -> Option<Value> {
        if text.len() > MAX_TEXT_BYTES {
            self.server_text = None;
            return self.mode.to_client().then(too_large);
        }
        self.server_text = Some(text.to_owned());
        if !self.mode.to_client() {
            return None;
        }
        let hash = content_hash(text);
        if self.last_hash.as_deref() == Some(hash.as_str()) {
            return None;
        }
        Some(self.message(text, hash))
    }

    /// A client attached (reattach or takeover): the current server text
    /// once, when server→client is allowed. The new client's sequence ids
    /// start afresh.
    pub fn on_attach(&mut self) -> Option<Value> {
        self.client_seq = None;
        if !self.mode.to_client() {
            return None;
        }
        let text = self.server_text.clone()?;
        let hash = content_hash(&text);
        Some(self.message(&text, hash))
    }

    fn message(&mut self, text: &str, hash: String) -> Value {
        self.sent_seq += 1;
        let msg = json!({"type": "clipboard", "sequence_id": self.sent_seq, "origin": "server", "content_hash": hash, "text": text});
        self.last_hash = Some(hash);
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_client(b: &mut ClipboardBridge, seq: u64, text: &str) -> Result<Option<String>, Value> {
        let v = json!({"type": "clipboard", "sequence_id": seq, "origin": "client", "content_hash": content_hash(text), "text": text});
        b.from_client(v.as_object().expect("object"))
    }

    fn code(v: &Value) -> &str {
        v["error"]["code"].as_str().unwrap_or("")
    }

    #[test]
    fn modes_parse_and_name_their_directions() {
        for m in [ClipboardMode::Disabled, ClipboardMode::ClientToServer, ClipboardMode::ServerToClient, ClipboardMode::Bidirectional] {
            assert_eq!(ClipboardMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(ClipboardMode::parse("both"), None);
        assert_eq!(ClipboardMode::default(), ClipboardMode::Disabled);
        assert_eq!(content_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn each_direction_is_refused_unless_the_mode_allows_it() {
        let mut off = ClipboardBridge::new(ClipboardMode::Disabled);
        assert_eq!(code(&from_client(&mut off, 1, "x").unwrap_err()), "clipboard.direction_refused");
        assert_eq!(off.from_server("x"), None);
        assert_eq!(off.on_attach(), None);
        let mut up = ClipboardBridge::new(ClipboardMode::ClientToServer);
        assert_eq!(from_client(&mut up, 1, "x"), Ok(Some("x".into())));
        assert_eq!(up.from_server("y"), None);
        let mut down = ClipboardBridge::new(ClipboardMode::ServerToClient);
        assert_eq!(code(&from_client(&mut down, 1, "x").unwrap_err()), "clipboard.direction_refused");
        let msg = down.from_server("héllo").expect("sent");
        assert_eq!(msg, json!({"type":"clipboard","sequence_id":1,"origin":"server","content_hash":content_hash("héllo"),"text":"héllo"}));
    }

    #[test]
    fn oversize_text_bad_hashes_and_bad_fields_change_nothing() {
        let mut b = ClipboardBridge::new(ClipboardMode::Bidirectional);
        let big = "é".repeat(30_001); // 60,002 bytes
        assert_eq!(code(&from_client(&mut b, 1, &big).unwrap_err()), "clipboard.too_large");
        assert_eq!(from_client(&mut b, 1, &"a".repeat(MAX_TEXT_BYTES)).map(|t| t.map(|t| t.len())), Ok(Some(MAX_TEXT_BYTES)));
        assert_eq!(code(&b.from_server(&big).expect("a notice")), "clipboard.too_large");
        assert_eq!(b.on_attach(), None, "the oversize server text is not sent on attach either");
        let forged = json!({"type":"clipboard","sequence_id":5,"origin":"client","content_hash":content_hash("a"),"text":"b"});
        assert_eq!(code(&b.from_client(forged.as_object().expect("object")).unwrap_err()), "clipboard.hash_mismatch");
        for bad in [
            json!({"type":"clipboard","sequence_id":5,"origin":"client","text":"b"}),
            json!({"type":"clipboard","origin":"client","content_hash":content_hash("b"),"text":"b"}),
            json!({"type":"clipboard","sequence_id":5,"origin":"server","content_hash":content_hash("b"),"text":"b"}),
            json!({"type":"clipboard","sequence_id":5,"origin":"client","content_hash":content_hash("b")}),
        ] {
            assert_eq!(code(&b.from_client(bad.as_object().expect("object")).unwrap_err()), "protocol.invalid_message", "{bad}");
        }
        assert_eq!(code(&b.from_client(json!({"type":"paste"}).as_object().expect("object")).unwrap_err()), "protocol.unknown_message");
        assert_eq!(from_client(&mut b, 6, "b"), Ok(Some("b".into())), "the refusals changed nothing");
    }

    #[test]
    fn text_never_bounces_back_to_where_it_came_from() {
        let mut b = ClipboardBridge::new(ClipboardMode::Bidirectional);
        assert_eq!(from_client(&mut b, 1, "from browser"), Ok(Some("from browser".into())));
        // The server re-announces what it was given: no echo to the client.
        assert_eq!(b.from_server("from browser"), None);
        // The server copies something new; the viewer's watcher echoes it back: not pasted again.
        let msg = b.from_server("from desktop").expect("sent");
        assert_eq!(from_client(&mut b, 2, msg["text"].as_str().expect("text")), Ok(None));
        // The same text copied again on the server after the browser's copy goes out again.
        assert_eq!(from_client(&mut b, 3, "other"), Ok(Some("other".into())));
        assert!(b.from_server("from desktop").is_some());
        // A stale (reordered) message is ignored.
        assert_eq!(from_client(&mut b, 2, "late"), Ok(None));
    }

    #[test]
    fn reattach_and_takeover_send_the_server_text_once_and_cause_no_loop() {
        let mut b = ClipboardBridge::new(ClipboardMode::Bidirectional);
        assert_eq!(from_client(&mut b, 10, "from A"), Ok(Some("from A".into())));
        // Takeover by B: B gets the current server text once, with a rising sequence id.
        let first = b.on_attach().expect("sent on attach");
        assert_eq!((first["text"].as_str(), first["origin"].as_str()), (Some("from A"), Some("server")));
        // B's sequence ids start at 1 again; B echoing what it got is not a loop.
        assert_eq!(from_client(&mut b, 1, "from A"), Ok(None));
        assert_eq!(b.from_server("from A"), None);
        let second = b.on_attach().expect("sent again on the next attach");
        assert!(second["sequence_id"].as_u64() > first["sequence_id"].as_u64());
        assert_eq!(from_client(&mut b, 1, "from B"), Ok(Some("from B".into())));
        assert_eq!(ClipboardBridge::new(ClipboardMode::Bidirectional).on_attach(), None, "nothing known yet");
    }
}
