//! The adapter's errors: a closed set of stable codes (the protocol's and the
//! control plane's vocabulary) and a message for people. Messages never carry
//! a credential: they are built from what the server presented and from what
//! went wrong, never from the secret that was tried.

use session_frame::FrameError;

/// Stable error codes. `protocol.*` are the session protocol's own (the same
/// strings as `core/error-catalog.ts`); `adapter.*` are this adapter's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The target or the PTY request is unusable (no host, no username, a PTY size out of range).
    TargetInvalid,
    /// TCP connect, SSH handshake or the start deadline failed.
    ConnectFailed,
    /// The server's host key is not the pinned one.
    HostKeyMismatch,
    /// The pin is missing or not an OpenSSH SHA-256 fingerprint (`SHA256:` + 43 base64 characters).
    HostKeyPinInvalid,
    /// The server refused the password or the key.
    AuthFailed,
    /// The private key could not be read (bad PEM, wrong or missing passphrase).
    CredentialsInvalid,
    /// The server refused the PTY or the shell.
    ShellRefused,
    /// An input frame that is not a frame, or a JSON message of a known type with bad fields.
    ProtocolMalformedFrame,
    /// An input frame over its type's limit.
    ProtocolFrameTooLarge,
    /// A JSON message whose `type` the input stream does not know.
    ProtocolUnknownMessage,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::TargetInvalid => "adapter.target_invalid",
            ErrorCode::ConnectFailed => "adapter.connect_failed",
            ErrorCode::HostKeyMismatch => "adapter.host_key_mismatch",
            ErrorCode::HostKeyPinInvalid => "adapter.host_key_pin_invalid",
            ErrorCode::AuthFailed => "adapter.auth_failed",
            ErrorCode::CredentialsInvalid => "adapter.credentials_invalid",
            ErrorCode::ShellRefused => "adapter.shell_refused",
            ErrorCode::ProtocolMalformedFrame => "protocol.malformed_frame",
            ErrorCode::ProtocolFrameTooLarge => "protocol.frame_too_large",
            ErrorCode::ProtocolUnknownMessage => "protocol.unknown_message",
        }
    }
}

/// An error with its stable code; `Display` is `code: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct AdapterError {
    pub code: ErrorCode,
    pub message: String,
}

impl AdapterError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AdapterError {
        AdapterError { code, message: message.into() }
    }

    /// The stable code as a string (`adapter.host_key_mismatch`).
    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }
}

impl From<FrameError> for AdapterError {
    fn from(e: FrameError) -> AdapterError {
        let code = match e {
            FrameError::Malformed(_) => ErrorCode::ProtocolMalformedFrame,
            FrameError::TooLarge { .. } => ErrorCode::ProtocolFrameTooLarge,
        };
        // FrameError's Display starts with its code already; keep only the explanation.
        let text = e.to_string();
        let message = text.split_once(": ").map_or(text.as_str(), |(_, m)| m).to_string();
        AdapterError { code, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ErrorCode; 10] = [
        ErrorCode::TargetInvalid,
        ErrorCode::ConnectFailed,
        ErrorCode::HostKeyMismatch,
        ErrorCode::HostKeyPinInvalid,
        ErrorCode::AuthFailed,
        ErrorCode::CredentialsInvalid,
        ErrorCode::ShellRefused,
        ErrorCode::ProtocolMalformedFrame,
        ErrorCode::ProtocolFrameTooLarge,
        ErrorCode::ProtocolUnknownMessage,
    ];

    #[test]
    fn every_adapter_code_is_in_the_control_planes_catalog() {
        // The control plane turns these into error events; a code it does not know would fail there, not here.
        let catalog = include_str!("../../../core/error-catalog.ts");
        for code in ALL.iter().map(|c| c.as_str()).filter(|c| c.starts_with("adapter.")) {
            assert!(catalog.contains(&format!("\"{code}\":")), "{code} is missing from core/error-catalog.ts");
        }
    }

    #[test]
    fn frame_errors_keep_the_protocols_codes() {
        let e: AdapterError = FrameError::Malformed("unknown frame type 9".into()).into();
        assert_eq!((e.code(), e.message.as_str()), ("protocol.malformed_frame", "unknown frame type 9"));
        assert_eq!(e.to_string(), "protocol.malformed_frame: unknown frame type 9");
    }
}
