//! The error events the entry sends on its own (the spec's error event: code,
//! message_key, fallback_message, details, trace_id), and their English
//! fallbacks. The codes and texts are the same as in `core/error-catalog.ts`;
//! `entry-harness --error-catalog` prints this table and a Bun test compares
//! the two, so neither side drifts.

use serde_json::{json, Map, Value};

/// Codes the entry itself refuses with. Codes of refused tokens come from the
/// application's handler as whole [`ErrorEvent`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryCode {
    /// A channel stream (or a non-hello message) arrived before `welcome`.
    NotAuthenticated,
    /// No `hello` within the hello timeout (10 s by default).
    HelloTimeout,
    /// A channel stream for a channel the admission does not include.
    ChannelNotAllowed,
    /// The entry holds its maximum number of connections.
    EntryFull,
    /// A bad frame header, bad JSON, or an unknown stream kind.
    MalformedFrame,
    /// A frame over its type's limit.
    FrameTooLarge,
    /// A JSON message whose `type` the stream does not know.
    UnknownMessage,
    /// A known message with missing or invalid fields, or in the wrong place.
    InvalidMessage,
    /// `hello` with a protocol version this entry does not speak.
    UnsupportedVersion,
    /// More concurrent streams than the per-connection limit.
    TooManyStreams,
    /// Clipboard text in a direction the resource's clipboard policy does not allow.
    ClipboardDirectionRefused,
    /// The entry could not decide (the handler did not answer in time); details are never shown.
    Internal,
}

impl EntryCode {
    pub const ALL: [EntryCode; 12] = [
        EntryCode::NotAuthenticated,
        EntryCode::HelloTimeout,
        EntryCode::ChannelNotAllowed,
        EntryCode::EntryFull,
        EntryCode::MalformedFrame,
        EntryCode::FrameTooLarge,
        EntryCode::UnknownMessage,
        EntryCode::InvalidMessage,
        EntryCode::UnsupportedVersion,
        EntryCode::TooManyStreams,
        EntryCode::ClipboardDirectionRefused,
        EntryCode::Internal,
    ];

    pub fn code(self) -> &'static str {
        match self {
            EntryCode::NotAuthenticated => "data_plane.not_authenticated",
            EntryCode::HelloTimeout => "data_plane.hello_timeout",
            EntryCode::ChannelNotAllowed => "data_plane.channel_not_allowed",
            EntryCode::EntryFull => "data_plane.entry_full",
            EntryCode::MalformedFrame => "protocol.malformed_frame",
            EntryCode::FrameTooLarge => "protocol.frame_too_large",
            EntryCode::UnknownMessage => "protocol.unknown_message",
            EntryCode::InvalidMessage => "protocol.invalid_message",
            EntryCode::UnsupportedVersion => "protocol.unsupported_version",
            EntryCode::TooManyStreams => "protocol.too_many_streams",
            EntryCode::ClipboardDirectionRefused => "clipboard.direction_refused",
            EntryCode::Internal => "internal.error",
        }
    }

    /// The HTTP-like status of the catalog entry (the catalog needs one for every code).
    pub fn status(self) -> u16 {
        match self {
            EntryCode::NotAuthenticated | EntryCode::HelloTimeout => 401,
            EntryCode::ChannelNotAllowed | EntryCode::ClipboardDirectionRefused => 403,
            EntryCode::EntryFull | EntryCode::TooManyStreams => 429,
            EntryCode::FrameTooLarge => 413,
            EntryCode::MalformedFrame | EntryCode::UnknownMessage | EntryCode::InvalidMessage | EntryCode::UnsupportedVersion => 400,
            EntryCode::Internal => 500,
        }
    }

    pub fn fallback(self) -> &'static str {
        match self {
            EntryCode::NotAuthenticated => "The connection must present its token before opening channels.",
            EntryCode::HelloTimeout => "The connection did not present its token in time. Connect again.",
            EntryCode::ChannelNotAllowed => "This connection is not allowed to open that channel.",
            EntryCode::EntryFull => "This entry point has too many connections. Try another entry point or try again later.",
            EntryCode::MalformedFrame => "The client sent data the session protocol does not allow.",
            EntryCode::FrameTooLarge => "The client sent a message that is too large.",
            EntryCode::UnknownMessage => "The client sent a message type the session protocol does not know.",
            EntryCode::InvalidMessage => "The client sent a message with missing or invalid fields.",
            EntryCode::UnsupportedVersion => {
                "This client speaks a session protocol version the entry point does not support. Update the client."
            }
            EntryCode::TooManyStreams => "The connection opened too many streams at once.",
            EntryCode::ClipboardDirectionRefused => "The resource's clipboard policy does not allow copying in that direction.",
            EntryCode::Internal => "Internal server error.",
        }
    }

    /// Maps a frame error of `session-frame` onto its code.
    pub fn of_frame_error(e: &session_frame::FrameError) -> EntryCode {
        match e {
            session_frame::FrameError::Malformed(_) => EntryCode::MalformedFrame,
            session_frame::FrameError::TooLarge { .. } => EntryCode::FrameTooLarge,
        }
    }
}

/// The spec's structured error event, as it travels inside
/// `{"type":"error","error":{…}}` and `{"type":"session.taken_over","error":{…}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorEvent {
    pub code: String,
    pub message_key: String,
    pub fallback_message: String,
    pub details: Map<String, Value>,
    pub trace_id: String,
}

impl ErrorEvent {
    /// An event of one of the entry's own codes.
    pub fn entry(code: EntryCode, details: Map<String, Value>, trace_id: &str) -> ErrorEvent {
        ErrorEvent {
            code: code.code().to_string(),
            message_key: format!("errors.{}", code.code()),
            fallback_message: code.fallback().to_string(),
            details,
            trace_id: trace_id.to_string(),
        }
    }

    /// An event with one detail, `reason`, saying what exactly was wrong (never secret material).
    pub fn entry_because(code: EntryCode, reason: impl Into<String>, trace_id: &str) -> ErrorEvent {
        let mut details = Map::new();
        details.insert("reason".into(), Value::String(reason.into()));
        ErrorEvent::entry(code, details, trace_id)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code,
            "message_key": self.message_key,
            "fallback_message": self.fallback_message,
            "details": self.details,
            "trace_id": self.trace_id,
        })
    }

    /// Reads an event from JSON (what a JavaScript handler hands over); `None` when a field is missing.
    pub fn from_json(value: &Value) -> Option<ErrorEvent> {
        let s = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
        Some(ErrorEvent {
            code: s("code")?,
            message_key: s("message_key")?,
            fallback_message: s("fallback_message")?,
            details: value.get("details").and_then(Value::as_object).cloned().unwrap_or_default(),
            trace_id: s("trace_id")?,
        })
    }
}

impl std::fmt::Display for ErrorEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.fallback_message)
    }
}

impl std::error::Error for ErrorEvent {}

/// The entry's own codes as the catalog declares them: `{code: {status, fallback}}`.
pub fn catalog_json() -> Value {
    let mut out = Map::new();
    for c in EntryCode::ALL {
        out.insert(c.code().into(), json!({"status": c.status(), "fallback": c.fallback()}));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_round_trips_through_json_and_names_its_message_key() {
        let e = ErrorEvent::entry_because(EntryCode::FrameTooLarge, "a JSON frame of 70000 bytes", "t1");
        assert_eq!(e.message_key, "errors.protocol.frame_too_large");
        assert_eq!(ErrorEvent::from_json(&e.to_json()), Some(e));
        assert_eq!(ErrorEvent::from_json(&json!({"code": "x"})), None);
    }

    #[test]
    fn every_code_is_area_dot_snake_case_and_listed_once() {
        let table = catalog_json();
        let map = table.as_object().map(|m| m.len()).unwrap_or(0);
        assert_eq!(map, EntryCode::ALL.len());
        for c in EntryCode::ALL {
            let (area, name) = c.code().split_once('.').unwrap_or(("", ""));
            assert!(!area.is_empty() && name.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'), "{}", c.code());
        }
    }
}
