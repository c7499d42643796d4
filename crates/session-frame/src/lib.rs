//! session-frame: the frames of the session protocol `rap.session.v1`.
//!
//! Every stream between a client, an entry node and an adapter node starts
//! with a stream-kind byte and then carries frames `[type][u32 BE length]
//! [payload]`. The entry copies frames through unchanged once a client is
//! admitted, so this crate is the one place their shape and limits live.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes before a frame's payload: its type and its length.
pub const HEADER_LEN: usize = 5;
/// The largest JSON (control) payload.
pub const MAX_JSON_LEN: usize = 64 * 1024;
/// The largest DATA payload.
pub const MAX_DATA_LEN: usize = 1024 * 1024;

/// What a stream carries, named by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// Hello, welcome, pings, detach and session notices.
    Control,
    /// Adapter output (terminal bytes, desktop frames): mesh class `render`.
    Render,
    /// Keystrokes, pointer and resize: mesh class `input`.
    Input,
    Clipboard,
    FileTransfer,
}

impl StreamKind {
    /// The byte a stream starts with: 0 for control, else the mesh class wire id.
    pub fn byte(self) -> u8 {
        match self {
            StreamKind::Control => 0,
            StreamKind::Render => 5,
            StreamKind::Input => 6,
            StreamKind::Clipboard => 7,
            StreamKind::FileTransfer => 8,
        }
    }

    pub fn from_byte(b: u8) -> Result<StreamKind, FrameError> {
        match b {
            0 => Ok(StreamKind::Control),
            5 => Ok(StreamKind::Render),
            6 => Ok(StreamKind::Input),
            7 => Ok(StreamKind::Clipboard),
            8 => Ok(StreamKind::FileTransfer),
            other => Err(FrameError::Malformed(format!("unknown stream kind {other}"))),
        }
    }

    /// The channel name used in tokens (`chn`) and the adapter contract.
    pub fn channel(self) -> &'static str {
        match self {
            StreamKind::Control => "control",
            StreamKind::Render => "render",
            StreamKind::Input => "input",
            StreamKind::Clipboard => "clipboard",
            StreamKind::FileTransfer => "file_transfer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    Json = 1,
    Data = 2,
}

impl FrameType {
    fn limit(self) -> usize {
        match self {
            FrameType::Json => MAX_JSON_LEN,
            FrameType::Data => MAX_DATA_LEN,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameType,
    pub payload: Bytes,
}

impl Frame {
    pub fn data(payload: impl Into<Bytes>) -> Frame {
        Frame { kind: FrameType::Data, payload: payload.into() }
    }

    /// A JSON frame; the value must be an object with a string `type`.
    pub fn json(value: &serde_json::Value) -> Frame {
        Frame { kind: FrameType::Json, payload: Bytes::from(value.to_string()) }
    }

    /// The frame on the wire. Panics never: a payload over its limit is the caller's bug, refused here too.
    pub fn encode(&self) -> Result<Bytes, FrameError> {
        check_len(self.kind, self.payload.len())?;
        let mut out = BytesMut::with_capacity(HEADER_LEN + self.payload.len());
        out.put_u8(self.kind as u8);
        out.put_u32(self.payload.len() as u32);
        out.put_slice(&self.payload);
        Ok(out.freeze())
    }

    /// A JSON frame's object, checked: valid UTF-8 JSON, an object, with a string `type`.
    pub fn parse_json(&self) -> Result<serde_json::Map<String, serde_json::Value>, FrameError> {
        if self.kind != FrameType::Json {
            return Err(FrameError::Malformed("expected a JSON frame".into()));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&self.payload).map_err(|e| FrameError::Malformed(format!("JSON frame: {e}")))?;
        match value {
            serde_json::Value::Object(map) if map.get("type").is_some_and(|t| t.is_string()) => Ok(map),
            _ => Err(FrameError::Malformed("a JSON frame must be an object with a string type".into())),
        }
    }
}

fn check_len(kind: FrameType, len: usize) -> Result<(), FrameError> {
    if len > kind.limit() {
        return Err(FrameError::TooLarge { kind, len, limit: kind.limit() });
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("protocol.malformed_frame: {0}")]
    Malformed(String),
    #[error("protocol.frame_too_large: a {kind:?} frame of {len} bytes is over its limit of {limit}")]
    TooLarge { kind: FrameType, len: usize, limit: usize },
}

impl FrameError {
    /// The stable error code of the protocol (and of `core/error-catalog.ts`).
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::Malformed(_) => "protocol.malformed_frame",
            FrameError::TooLarge { .. } => "protocol.frame_too_large",
        }
    }
}

/// Whole frames out of bytes that arrive in any pieces. The header is checked
/// as soon as it is complete, so an oversized frame is refused before its
/// payload is buffered.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
    failed: bool,
}

impl FrameDecoder {
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `None` when more bytes are needed. After an error the decoder refuses everything.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.failed {
            return Err(FrameError::Malformed("the stream already had a bad frame".into()));
        }
        let result = self.decode();
        if result.is_err() {
            self.failed = true;
            self.buf.clear();
        }
        result
    }

    fn decode(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let kind = match self.buf[0] {
            1 => FrameType::Json,
            2 => FrameType::Data,
            other => return Err(FrameError::Malformed(format!("unknown frame type {other}"))),
        };
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        check_len(kind, len)?;
        if self.buf.len() < HEADER_LEN + len {
            self.buf.reserve(HEADER_LEN + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        Ok(Some(Frame { kind, payload: self.buf.split_to(len).freeze() }))
    }

    /// Bytes received but not yet part of a whole frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Reads the stream-kind byte a stream starts with.
pub async fn read_stream_kind<R: AsyncRead + Unpin>(r: &mut R) -> Result<StreamKind, FrameError> {
    let b = r.read_u8().await.map_err(|e| FrameError::Malformed(format!("stream ended before its kind: {e}")))?;
    StreamKind::from_byte(b)
}

/// Reads one whole frame; `Ok(None)` at a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Frame>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let n = r.read(&mut header[got..]).await.map_err(|e| FrameError::Malformed(format!("read: {e}")))?;
        if n == 0 {
            return if got == 0 { Ok(None) } else { Err(FrameError::Malformed("stream ended inside a frame header".into())) };
        }
        got += n;
    }
    let mut decoder = FrameDecoder::new();
    decoder.push(&header);
    if let Some(frame) = decoder.next_frame()? {
        return Ok(Some(frame));
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await.map_err(|_| FrameError::Malformed("stream ended inside a frame".into()))?;
    decoder.push(&payload);
    decoder.next_frame()?.map(Some).ok_or_else(|| FrameError::Malformed("incomplete frame".into()))
}

/// Writes one frame (checked against its limit first).
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame) -> std::io::Result<()> {
    let bytes = frame.encode().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    w.write_all(&bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_come_out_whole_whatever_the_read_boundaries() {
        let a = Frame::json(&json!({"type": "hello", "version": 1})).encode().unwrap();
        let b = Frame::data(vec![7u8; 70_000]).encode().unwrap();
        let wire = [a.as_ref(), b.as_ref()].concat();
        for step in [1, 2, 5, 7, 4096, wire.len()] {
            let mut d = FrameDecoder::new();
            let mut out = vec![];
            for chunk in wire.chunks(step) {
                d.push(chunk);
                while let Some(f) = d.next_frame().unwrap() {
                    out.push(f);
                }
            }
            assert_eq!(out.len(), 2, "step {step}");
            assert_eq!(out[0].parse_json().unwrap()["type"], "hello");
            assert_eq!(out[1].payload.len(), 70_000);
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn an_oversized_frame_is_refused_from_its_header_and_the_decoder_stays_refused() {
        let mut d = FrameDecoder::new();
        d.push(&[1, 0, 1, 0, 1]); // JSON of 65,537 bytes
        let e = d.next_frame().unwrap_err();
        assert_eq!(e.code(), "protocol.frame_too_large");
        d.push(&Frame::data(&b"ok"[..]).encode().unwrap());
        assert_eq!(d.next_frame().unwrap_err().code(), "protocol.malformed_frame");
        let mut ok = FrameDecoder::new();
        ok.push(&[2, 0, 0x10, 0, 0]); // DATA of exactly 1 MiB: allowed, waits for the payload
        assert_eq!(ok.next_frame().unwrap(), None);
    }

    #[test]
    fn unknown_types_bad_json_and_unknown_stream_kinds_are_malformed() {
        let mut d = FrameDecoder::new();
        d.push(&[9, 0, 0, 0, 0]);
        assert_eq!(d.next_frame().unwrap_err().code(), "protocol.malformed_frame");
        for payload in [&b"{"[..], b"[1]", b"{\"type\":3}", b"{}"] {
            let f = Frame { kind: FrameType::Json, payload: Bytes::copy_from_slice(payload) };
            assert_eq!(f.parse_json().unwrap_err().code(), "protocol.malformed_frame");
        }
        assert!(StreamKind::from_byte(1).is_err());
        for k in [StreamKind::Control, StreamKind::Render, StreamKind::Input, StreamKind::Clipboard, StreamKind::FileTransfer] {
            assert_eq!(StreamKind::from_byte(k.byte()).unwrap(), k);
        }
        assert!(Frame::data(vec![0u8; MAX_DATA_LEN + 1]).encode().is_err());
    }

    #[tokio::test]
    async fn async_reads_and_writes_round_trip_and_a_cut_frame_is_an_error() {
        let mut wire = vec![StreamKind::Input.byte()];
        let mut w: Vec<u8> = vec![];
        write_frame(&mut w, &Frame::data(&b"ls\r"[..])).await.unwrap();
        write_frame(&mut w, &Frame::json(&json!({"type": "resize", "cols": 80, "rows": 24}))).await.unwrap();
        wire.extend_from_slice(&w);
        let mut r = &wire[..];
        assert_eq!(read_stream_kind(&mut r).await.unwrap(), StreamKind::Input);
        assert_eq!(read_frame(&mut r).await.unwrap().unwrap().payload.as_ref(), b"ls\r");
        assert_eq!(read_frame(&mut r).await.unwrap().unwrap().parse_json().unwrap()["cols"], 80);
        assert_eq!(read_frame(&mut r).await.unwrap(), None);
        let cut = &w[..w.len() - 3];
        let mut r = cut;
        read_frame(&mut r).await.unwrap();
        assert_eq!(read_frame(&mut r).await.unwrap_err().code(), "protocol.malformed_frame");
    }
}
