//! What an input stream may carry: DATA frames are keystrokes, a JSON frame
//! `{"type":"resize","cols":n,"rows":n}` resizes the PTY. Anything else is a
//! protocol error that ends that client's attachment, never the shell.

use bytes::Bytes;
use serde_json::Value;
use session_frame::{Frame, FrameType};

use crate::error::{AdapterError, ErrorCode};

/// The largest terminal side accepted in a resize (columns or rows).
pub const MAX_TERMINAL_SIDE: u32 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InputCommand {
    Keys(Bytes),
    Resize { cols: u32, rows: u32 },
}

pub(crate) fn parse_input(frame: Frame) -> Result<InputCommand, AdapterError> {
    if frame.kind == FrameType::Data {
        return Ok(InputCommand::Keys(frame.payload));
    }
    let message = frame.parse_json()?;
    match message.get("type").and_then(Value::as_str) {
        Some("resize") => {}
        Some(other) => {
            let shown: String = other.chars().take(40).collect();
            return Err(AdapterError::new(ErrorCode::ProtocolUnknownMessage, format!("the input stream does not take {shown:?} messages")));
        }
        None => return Err(AdapterError::new(ErrorCode::ProtocolMalformedFrame, "a JSON frame without a type")),
    }
    if let Some(extra) = message.keys().find(|k| !matches!(k.as_str(), "type" | "cols" | "rows")) {
        let shown: String = extra.chars().take(40).collect();
        return Err(AdapterError::new(ErrorCode::ProtocolMalformedFrame, format!("resize has an unknown field {shown:?}")));
    }
    let side = |name: &str| -> Result<u32, AdapterError> {
        message
            .get(name)
            .and_then(Value::as_u64)
            .filter(|n| (1..=u64::from(MAX_TERMINAL_SIDE)).contains(n))
            .map(|n| n as u32) // within 1..=MAX_TERMINAL_SIDE, so it fits
            .ok_or_else(|| {
                AdapterError::new(
                    ErrorCode::ProtocolMalformedFrame,
                    format!("resize {name} must be an integer from 1 to {MAX_TERMINAL_SIDE}"),
                )
            })
    };
    Ok(InputCommand::Resize { cols: side("cols")?, rows: side("rows")? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_frame(payload: &str) -> Frame {
        Frame { kind: FrameType::Json, payload: Bytes::copy_from_slice(payload.as_bytes()) }
    }

    #[test]
    fn data_is_keystrokes_and_resize_is_checked() {
        assert_eq!(parse_input(Frame::data(&b"ls\r"[..])).unwrap(), InputCommand::Keys(Bytes::from_static(b"ls\r")));
        let resize = Frame::json(&json!({"type": "resize", "cols": 132, "rows": 43}));
        assert_eq!(parse_input(resize).unwrap(), InputCommand::Resize { cols: 132, rows: 43 });
    }

    #[test]
    fn anything_else_is_a_protocol_error_with_a_stable_code() {
        let cases = [
            (r#"{"type":"paste","text":"x"}"#, "protocol.unknown_message"),
            (r#"{"type":"resize","cols":0,"rows":24}"#, "protocol.malformed_frame"),
            (r#"{"type":"resize","cols":80}"#, "protocol.malformed_frame"),
            (r#"{"type":"resize","cols":"80","rows":24}"#, "protocol.malformed_frame"),
            (r#"{"type":"resize","cols":80.5,"rows":24}"#, "protocol.malformed_frame"),
            (r#"{"type":"resize","cols":80,"rows":99999999999}"#, "protocol.malformed_frame"),
            (r#"{"type":"resize","cols":80,"rows":24,"x":1}"#, "protocol.malformed_frame"),
            (r#"{"cols":80}"#, "protocol.malformed_frame"),
            (r#"not json"#, "protocol.malformed_frame"),
        ];
        for (payload, code) in cases {
            assert_eq!(parse_input(json_frame(payload)).unwrap_err().code(), code, "{payload}");
        }
    }
}
