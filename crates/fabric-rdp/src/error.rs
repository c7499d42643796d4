//! The adapter's errors: a closed set of stable codes (the control plane's
//! vocabulary, reported in `adapter.failed`) and a message for people that
//! says what to fix. Messages never carry a credential: they are built from
//! what the server presented and what went wrong, never from the secret tried.

/// Stable error codes of the RDP adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The target is unusable before any network traffic (no host, a malformed certificate pin).
    TargetInvalid,
    /// TCP connect failed or the connection dropped during the handshake.
    ConnectFailed,
    /// The server refused the credentials (NLA/CredSSP or the logon).
    AuthFailed,
    /// The server's certificate is not the pinned one.
    CertificateMismatch,
    /// With no pin, the certificate does not chain to a trusted root or does not name the host.
    CertificateUntrusted,
    /// The server and the adapter share no security protocol (e.g. the server wants standard RDP security only).
    SecurityRefused,
    /// The server sent something the client could not decode, or the session broke mid-way.
    ProtocolError,
    /// The session did not start within [`crate::START_TIMEOUT`].
    StartTimeout,
    /// A bug or a local resource problem in the adapter itself.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::TargetInvalid => "adapter.target_invalid",
            ErrorCode::ConnectFailed => "adapter.connect_failed",
            ErrorCode::AuthFailed => "adapter.auth_failed",
            ErrorCode::CertificateMismatch => "adapter.certificate_mismatch",
            ErrorCode::CertificateUntrusted => "adapter.certificate_untrusted",
            ErrorCode::SecurityRefused => "adapter.security_refused",
            ErrorCode::ProtocolError => "adapter.protocol_error",
            ErrorCode::StartTimeout => "adapter.start_timeout",
            ErrorCode::Internal => "adapter.internal",
        }
    }

    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::TargetInvalid,
        ErrorCode::ConnectFailed,
        ErrorCode::AuthFailed,
        ErrorCode::CertificateMismatch,
        ErrorCode::CertificateUntrusted,
        ErrorCode::SecurityRefused,
        ErrorCode::ProtocolError,
        ErrorCode::StartTimeout,
        ErrorCode::Internal,
    ];
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

    /// The stable code as a string (`adapter.certificate_mismatch`).
    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_adapter_codes() {
        let codes: std::collections::HashSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        assert!(codes.iter().all(|c| c.starts_with("adapter.")));
        let e = AdapterError::new(ErrorCode::StartTimeout, "no desktop within 20 s");
        assert_eq!(e.to_string(), "adapter.start_timeout: no desktop within 20 s");
    }

    #[test]
    fn every_code_this_crate_sends_is_in_the_control_planes_catalog() {
        // Adapter failures become error events on the control plane, notices reach clients by `message_key`:
        // a code the catalog does not know would have no text anywhere. Message types (`file_upload.start`, …)
        // are not codes: only strings that appear as a notice's or error's code are checked.
        let catalog = include_str!("../../../core/error-catalog.ts");
        let mut codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        for source in [
            include_str!("clipboard_bridge.rs"),
            include_str!("input_wire.rs"),
            include_str!("files/protocol.rs"),
            include_str!("desktop.rs"),
            include_str!("input.rs"),
            include_str!("clipboard.rs"),
        ] {
            for call in ["notice(\"", "refuse(\""] {
                for (i, _) in source.match_indices(call) {
                    let rest = &source[i + call.len()..];
                    if let Some(end) = rest.find('"') {
                        codes.push(&rest[..end]);
                    }
                }
            }
        }
        assert!(codes.len() > ErrorCode::ALL.len(), "no notice codes found: the scan is broken");
        for code in codes {
            assert!(catalog.contains(&format!("\"{code}\":")), "{code} is missing from core/error-catalog.ts");
        }
    }
}
