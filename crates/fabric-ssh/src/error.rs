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
