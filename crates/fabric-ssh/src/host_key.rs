//! Host key verification: the pin is parsed before connecting (a bad pin is
//! refused without touching the network) and compared with the fingerprint
//! of the key the server proved it holds. The outcome is recorded so that a
//! refused handshake turns into `adapter.host_key_mismatch` naming what the
//! server presented, instead of a generic handshake error.

use std::str::FromStr;

use russh::keys::ssh_key::Fingerprint;
use russh::keys::{HashAlg, PublicKey};

use crate::error::{AdapterError, ErrorCode};
use crate::target::HostKeyPolicy;

/// A policy ready to check keys.
#[derive(Debug, Clone)]
pub(crate) enum HostKeyCheck {
    Pinned(Fingerprint),
    Ignore,
}

impl HostKeyCheck {
    pub(crate) fn from_policy(policy: &HostKeyPolicy) -> Result<HostKeyCheck, AdapterError> {
        match policy {
            HostKeyPolicy::Ignore => Ok(HostKeyCheck::Ignore),
            HostKeyPolicy::Pinned(pin) => parse_pin(pin).map(HostKeyCheck::Pinned),
        }
    }

    /// Whether `key` may be trusted; `Err` names the presented fingerprint.
    pub(crate) fn check(&self, key: &PublicKey) -> Result<(), AdapterError> {
        let presented = key.fingerprint(HashAlg::Sha256);
        match self {
            HostKeyCheck::Ignore => Ok(()),
            HostKeyCheck::Pinned(pin) if *pin == presented => Ok(()),
            HostKeyCheck::Pinned(pin) => Err(AdapterError::new(
                ErrorCode::HostKeyMismatch,
                format!("the server presented host key {presented} ({}), the pin is {pin}", key.algorithm()),
            )),
        }
    }
}

/// The SHA-256 fingerprint of a public key as OpenSSH prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn parse_pin(pin: &str) -> Result<Fingerprint, AdapterError> {
    let invalid = |why: &str| {
        AdapterError::new(
            ErrorCode::HostKeyPinInvalid,
            format!("{why}; expected an OpenSSH SHA-256 fingerprint such as SHA256:<43 base64 characters>"),
        )
    };
    // The control plane accepts the pin with or without base64 padding (`core/contracts/organizations.ts`).
    let pin = pin.trim();
    let pin = pin.strip_suffix('=').unwrap_or(pin);
    if pin.is_empty() {
        return Err(invalid("no host key pin"));
    }
    if !pin.starts_with("SHA256:") {
        return Err(invalid("the pin is not a SHA-256 fingerprint"));
    }
    Fingerprint::from_str(pin).map_err(|_| invalid("the pin is not a valid fingerprint"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // An Ed25519 key and its fingerprint as `ssh-keygen -lf` printed it.
    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFbhgc43dqVmkiwwH8CFg/8zSFSDaBdcggxjuDTjdrwf";
    const KEY_FINGERPRINT: &str = "SHA256:3sWv97h/wJgqetOnu74Edr6rJSQxTDG9vBCu2mjxocg";

    fn key() -> PublicKey {
        PublicKey::from_openssh(KEY).expect("a fixed test key")
    }

    #[test]
    fn the_pinned_fingerprint_passes_and_any_other_is_a_mismatch_naming_the_presented_key() {
        let fp = fingerprint(&key());
        assert_eq!(fp, KEY_FINGERPRINT);
        for pin in [fp.clone(), format!("{fp}="), format!(" {fp}\n")] {
            assert!(HostKeyCheck::from_policy(&HostKeyPolicy::Pinned(pin)).unwrap().check(&key()).is_ok());
        }
        let other = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let e = HostKeyCheck::from_policy(&HostKeyPolicy::Pinned(other.into())).unwrap().check(&key()).unwrap_err();
        assert_eq!(e.code(), "adapter.host_key_mismatch");
        assert!(e.message.contains(&fp), "{e}");
        assert!(HostKeyCheck::from_policy(&HostKeyPolicy::Ignore).unwrap().check(&key()).is_ok());
    }

    #[test]
    fn a_missing_or_malformed_pin_is_refused_before_connecting() {
        for pin in ["", "  ", "=", "MD5:12:34", "SHA256:", "SHA256:not base64!", "SHA256:3sWv97h/wJgq==", "2a:3b", "SHA512:AAAA"] {
            let e = HostKeyCheck::from_policy(&HostKeyPolicy::Pinned(pin.into())).unwrap_err();
            assert_eq!(e.code(), "adapter.host_key_pin_invalid", "{pin:?}");
        }
    }
}
