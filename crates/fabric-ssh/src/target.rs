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

    /// The secret itself, only for handing it to the SSH client.
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

/// How the adapter logs in.
#[derive(Clone)]
pub enum SshAuth {
    Password(Secret),
    /// An OpenSSH, PKCS#8 or PuTTY private key, with its passphrase when it is encrypted.
    PrivateKey {
        pem: Secret,
        passphrase: Option<Secret>,
    },
}

impl fmt::Debug for SshAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the method: not even the length of a secret.
        match self {
            SshAuth::Password(_) => f.write_str("Password(<redacted>)"),
            SshAuth::PrivateKey { passphrase, .. } => {
                f.debug_struct("PrivateKey").field("pem", &"<redacted>").field("has_passphrase", &passphrase.is_some()).finish()
            }
        }
    }
}

/// How the server's host key is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// The SHA-256 fingerprint as OpenSSH prints it (`ssh-keygen -lf`): `SHA256:` and 43 base64 characters (a trailing `=` is accepted).
    Pinned(String),
    /// Accept any host key. Only when the resource says so (`verification: ignore`).
    Ignore,
}

/// The SSH server and the account on it.
#[derive(Debug, Clone)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub auth: SshAuth,
    pub host_key: HostKeyPolicy,
}

/// The terminal the shell runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pty {
    pub cols: u32,
    pub rows: u32,
    /// `TERM` for the remote side, e.g. `xterm-256color`.
    pub term: String,
}

impl Default for Pty {
    fn default() -> Pty {
        Pty { cols: 80, rows: 24, term: "xterm-256color".into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_credential() {
        let target = SshTarget {
            host: "db.internal".into(),
            port: 22,
            username: "ops".into(),
            auth: SshAuth::Password("hunter2-very-secret".into()),
            host_key: HostKeyPolicy::Ignore,
        };
        let text = format!("{target:?} {:#?}", target.auth);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("db.internal") && text.contains("Password(<redacted>)"));
        let key = SshAuth::PrivateKey { pem: "-----BEGIN OPENSSH PRIVATE KEY-----abc".into(), passphrase: Some("pass-phrase-x".into()) };
        let text = format!("{key:?}");
        assert!(!text.contains("BEGIN") && !text.contains("pass-phrase-x"), "{text}");
        assert!(text.contains("has_passphrase: true"));
    }
}
