//! Server certificate verification for the TLS upgrade. The pin is parsed
//! before connecting (a bad pin is refused without touching the network); the
//! verifier compares it with the SHA-256 of the DER leaf the server presents
//! and still checks the handshake signature, so a server replaying someone
//! else's certificate without its key fails. What the server presented is
//! recorded, so a refused handshake becomes `adapter.certificate_mismatch`
//! naming the presented fingerprint instead of a generic TLS error.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::{AdapterError, ErrorCode};
use crate::target::CertificatePolicy;

/// The fingerprint of a DER certificate as the resource stores it: `SHA256:` + unpadded base64 of its SHA-256.
pub fn fingerprint(der: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(der)))
}

/// A policy ready to check certificates.
#[derive(Debug, Clone)]
pub(crate) enum CertificateCheck {
    Pinned([u8; 32]),
    SystemRoots,
    Ignore,
}

impl CertificateCheck {
    pub(crate) fn from_policy(policy: &CertificatePolicy) -> Result<CertificateCheck, AdapterError> {
        match policy {
            CertificatePolicy::Pinned(pin) => parse_pin(pin).map(CertificateCheck::Pinned),
            CertificatePolicy::SystemRoots => Ok(CertificateCheck::SystemRoots),
            CertificatePolicy::Ignore => Ok(CertificateCheck::Ignore),
        }
    }
}

/// Parses `SHA256:<base64>` (padding optional) or 64 hex digits (`:` separators optional).
pub(crate) fn parse_pin(pin: &str) -> Result<[u8; 32], AdapterError> {
    let invalid = |why: &str| {
        AdapterError::new(
            ErrorCode::TargetInvalid,
            format!("{why}; expected the SHA-256 of the server's certificate as SHA256:<43 base64 characters> or 64 hex digits"),
        )
    };
    let pin = pin.trim();
    if pin.is_empty() {
        return Err(invalid("the certificate pin is empty"));
    }
    let bytes = if let Some(b64) = pin.strip_prefix("SHA256:") {
        STANDARD_NO_PAD.decode(b64.trim_end_matches('=')).map_err(|_| invalid("the certificate pin is not valid base64"))?
    } else {
        let hex: String = pin.chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid("the certificate pin is neither SHA256:<base64> nor 64 hex digits"));
        }
        (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)).collect::<Result<Vec<u8>, _>>().map_err(|_| invalid("bad hex"))?
    };
    bytes.try_into().map_err(|_| invalid("the certificate pin is not 32 bytes long"))
}

/// What the verifier saw, for turning a failed handshake into a precise error.
#[derive(Debug, Clone, Default)]
pub(crate) struct Presented {
    pub fingerprint: Option<String>,
    pub refusal: Option<AdapterError>,
}

pub(crate) type SharedPresented = Arc<Mutex<Presented>>;

/// The rustls verifier implementing a [`CertificateCheck`].
#[derive(Debug)]
pub(crate) struct PolicyVerifier {
    check: CertificateCheck,
    provider: Arc<CryptoProvider>,
    /// Chain and host name checks for `SystemRoots`.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    presented: SharedPresented,
}

impl PolicyVerifier {
    pub(crate) fn new(
        check: CertificateCheck,
        provider: Arc<CryptoProvider>,
        presented: SharedPresented,
    ) -> Result<PolicyVerifier, AdapterError> {
        let webpki = match check {
            CertificateCheck::SystemRoots => Some(system_roots_verifier(provider.clone())?),
            _ => None,
        };
        Ok(PolicyVerifier { check, provider, webpki, presented })
    }

    fn record(&self, fingerprint: String, refusal: Option<AdapterError>) {
        if let Ok(mut p) = self.presented.lock() {
            p.fingerprint = Some(fingerprint);
            p.refusal = refusal;
        }
    }
}

fn system_roots_verifier(provider: Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>, AdapterError> {
    let mut roots = rustls::RootCertStore::empty();
    let loaded = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(loaded.certs);
    if added == 0 {
        return Err(AdapterError::new(
            ErrorCode::CertificateUntrusted,
            "no certificate pin is set and this node has no system root certificates to verify the server against; pin the server's certificate",
        ));
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| AdapterError::new(ErrorCode::Internal, format!("building the certificate verifier failed: {e}")))
}

impl ServerCertVerifier for PolicyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity.as_ref());
        match &self.check {
            CertificateCheck::Ignore => {
                self.record(presented, None);
                Ok(ServerCertVerified::assertion())
            }
            CertificateCheck::Pinned(pin) => {
                if Sha256::digest(end_entity.as_ref()).as_slice() == pin.as_slice() {
                    self.record(presented, None);
                    return Ok(ServerCertVerified::assertion());
                }
                let pinned = format!("SHA256:{}", STANDARD_NO_PAD.encode(pin));
                let refusal = AdapterError::new(
                    ErrorCode::CertificateMismatch,
                    format!(
                        "the server presented certificate {presented}, the pin is {pinned}; if the server's certificate was renewed, update the resource's pin"
                    ),
                );
                self.record(presented, Some(refusal));
                Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
            }
            CertificateCheck::SystemRoots => {
                let Some(webpki) = &self.webpki else {
                    return Err(rustls::Error::General("no root verifier".into()));
                };
                match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
                    Ok(ok) => {
                        self.record(presented, None);
                        Ok(ok)
                    }
                    Err(e) => {
                        let refusal = AdapterError::new(
                            ErrorCode::CertificateUntrusted,
                            format!(
                                "the server's certificate {presented} is not trusted ({e}); pin it on the resource (host key fingerprint) or install its CA on the adapter node"
                            ),
                        );
                        self.record(presented, Some(refusal));
                        Err(e)
                    }
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_in_base64_or_hex_names_the_same_digest() {
        let der = b"not really a certificate, only bytes to hash";
        let digest: [u8; 32] = Sha256::digest(der).into();
        let b64 = fingerprint(der);
        assert!(b64.starts_with("SHA256:") && !b64.ends_with('='));
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let colons: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
        for pin in [b64.clone(), format!("{b64}="), format!(" {b64}\n"), hex, colons.join(":")] {
            assert_eq!(parse_pin(&pin).unwrap(), digest, "{pin}");
        }
    }

    #[test]
    fn a_malformed_pin_is_refused_before_connecting() {
        for pin in ["", "  ", "SHA256:", "SHA256:not base64!", "SHA256:AAAA", "abcd", "MD5:12:34", &"g".repeat(64)] {
            let e = parse_pin(pin).unwrap_err();
            assert_eq!(e.code(), "adapter.target_invalid", "{pin:?}");
        }
    }
}
