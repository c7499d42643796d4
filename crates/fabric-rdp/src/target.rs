//! What to connect to and how to log in. Credentials live in [`Secret`]s:
//! their `Debug` is redacted by hand and their memory is zeroed on drop, so a
//! log line or a panic message with a target in it never carries them.

use std::fmt;
use zeroize::Zeroizing;

/// A credential string: redacted in `Debug`, zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret itself, only for handing it to the RDP client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How the server's TLS certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificatePolicy {
    /// The SHA-256 of the server's DER leaf certificate: `SHA256:` + base64 (padding optional), or
    /// 64 hex digits with or without `:` separators.
    Pinned(String),
    /// No pin: the chain must lead to a system root and name the host (strict mode without a pin).
    SystemRoots,
    /// Accept any certificate. Only when the resource says so (`verification: ignore`).
    Ignore,
}

/// The RDP server and the account on it. `username`, `password` and `domain`
/// are secrets: a user name is an account identifier worth keeping out of logs too.
#[derive(Debug, Clone)]
pub struct RdpTarget {
    pub host: String,
    pub port: u16,
    pub username: Secret,
    pub password: Secret,
    /// The Windows domain, when the account has one.
    pub domain: Option<Secret>,
    pub certificate: CertificatePolicy,
}

/// The desktop the session asks for at connect time (the server may choose another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DesktopRequest {
    pub width: u16,
    pub height: u16,
}

impl Default for DesktopRequest {
    fn default() -> DesktopRequest {
        DesktopRequest { width: 1280, height: 800 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_credential() {
        let target = RdpTarget {
            host: "desk.internal".into(),
            port: 3389,
            username: "alice-account".into(),
            password: "hunter2-very-secret".into(),
            domain: Some("CORP-DOMAIN".into()),
            certificate: CertificatePolicy::Ignore,
        };
        let text = format!("{target:?} {target:#?}");
        for secret in ["hunter2", "alice-account", "CORP-DOMAIN"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("desk.internal") && text.contains("Secret(<redacted>)"));
    }
}
