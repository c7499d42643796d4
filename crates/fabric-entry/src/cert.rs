//! The entry's TLS certificate, shared by the QUIC (HTTP/3) and the TCP
//! (WebSocket) listeners: an operator's certificate and key from PEM files in
//! production, or a generated self-signed ECDSA P-256 certificate for dev and
//! tests. Browsers accept the latter through `serverCertificateHashes` only
//! when it is valid for at most 14 days, so its SHA-256 is exposed.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The longest validity a browser accepts for a certificate pinned by hash.
pub const MAX_SELF_SIGNED_DAYS: u32 = 14;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("reading the certificate file {path}: {cause}")]
    CertFile { path: String, cause: String },
    #[error("reading the key file {path}: {cause}")]
    KeyFile { path: String, cause: String },
    #[error("the certificate file {0} holds no certificate")]
    NoCertificate(String),
    #[error("a self-signed certificate may be valid for 1 to {MAX_SELF_SIGNED_DAYS} days, not {0}")]
    Validity(u32),
    #[error("generating the certificate: {0}")]
    Generate(String),
}

/// A certificate chain with its key, and the SHA-256 of the leaf (for `serverCertificateHashes`).
pub struct Certificate {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub sha256: [u8; 32],
}

impl Clone for Certificate {
    fn clone(&self) -> Certificate {
        Certificate { chain: self.chain.clone(), key: self.key.clone_key(), sha256: self.sha256 }
    }
}

impl std::fmt::Debug for Certificate {
    // Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate").field("sha256", &self.sha256_hex()).field("chain_len", &self.chain.len()).finish()
    }
}

impl Certificate {
    /// The operator's certificate chain and private key (PKCS#8, PKCS#1 or SEC1), PEM encoded.
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<Certificate, CertError> {
        let cert_name = cert_path.display().to_string();
        let chain = CertificateDer::pem_file_iter(cert_path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| CertError::CertFile { path: cert_name.clone(), cause: e.to_string() })?;
        let key = PrivateKeyDer::from_pem_file(key_path)
            .map_err(|e| CertError::KeyFile { path: key_path.display().to_string(), cause: e.to_string() })?;
        Certificate::from_der(chain, key).ok_or(CertError::NoCertificate(cert_name))
    }

    /// A chain and key already in DER form; `None` when the chain is empty.
    pub fn from_der(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Option<Certificate> {
        let sha256 = sha256(chain.first()?);
        Some(Certificate { chain, key, sha256 })
    }

    /// A fresh self-signed ECDSA P-256 certificate for `names` (DNS names or IP
    /// addresses), valid from an hour ago (clock skew) for `days` days in all.
    pub fn self_signed(names: &[String], days: u32) -> Result<Certificate, CertError> {
        if days == 0 || days > MAX_SELF_SIGNED_DAYS {
            return Err(CertError::Validity(days));
        }
        let generate = |e: rcgen::Error| CertError::Generate(e.to_string());
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(generate)?;
        let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(generate)?;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        // Browsers count the whole validity period, not what is left of it.
        params.not_after = params.not_before + time::Duration::days(i64::from(days));
        params.distinguished_name.push(rcgen::DnType::CommonName, "rap entry (self-signed)");
        let cert = params.self_signed(&key).map_err(generate)?;
        let der = cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok(Certificate { sha256: sha256(&der), chain: vec![der], key })
    }

    /// The leaf certificate in PEM (for a test client's trust store; never the key).
    pub fn leaf_pem(&self) -> String {
        let b64 = self.chain.first().map(|c| base64(c.as_ref())).unwrap_or_default();
        let lines: Vec<&str> = b64.as_bytes().chunks(64).filter_map(|l| std::str::from_utf8(l).ok()).collect();
        format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
    }

    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The leaf's SubjectPublicKeyInfo SHA-256 in base64, the form Chromium's
    /// `--ignore-certificate-errors-spki-list` takes (tests pin the fallback's TLS with it).
    pub fn spki_sha256_base64(&self) -> Option<String> {
        let leaf = self.chain.first()?;
        let spki = spki_of(leaf.as_ref())?;
        Some(base64(ring::digest::digest(&ring::digest::SHA256, spki).as_ref()))
    }
}

fn sha256(der: &CertificateDer<'_>) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, der.as_ref()).as_ref());
    out
}

/// The SubjectPublicKeyInfo inside a DER certificate: Certificate → TBSCertificate →
/// [version], serial, signature, issuer, validity, subject, spki. A small DER walk
/// rather than a parser dependency; `None` on anything unexpected.
fn spki_of(cert: &[u8]) -> Option<&[u8]> {
    let (_, tbs_outer, _) = der_element(cert)?;
    let (_, tbs, _) = der_element(der_content(tbs_outer)?)?;
    let mut rest = der_content(tbs)?;
    let mut index = 0;
    loop {
        let (tag, element, after) = der_element(rest)?;
        if index == 0 && tag == 0xa0 {
            rest = after; // explicit version
            continue;
        }
        if index == 5 {
            return Some(element);
        }
        index += 1;
        rest = after;
    }
}

/// One DER element at the start of `bytes`: (tag, the whole element, what follows).
fn der_element(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *bytes.first()?;
    let first = *bytes.get(1)?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *bytes.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    if end > bytes.len() {
        return None;
    }
    Some((tag, &bytes[..end], &bytes[end..]))
}

fn der_content(element: &[u8]) -> Option<&[u8]> {
    let first = *element.get(1)?;
    let header = if first < 0x80 { 2 } else { 2 + (first & 0x7f) as usize };
    element.get(header..)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_short_lived_and_its_hash_is_of_the_leaf() {
        let cert = Certificate::self_signed(&["localhost".into(), "127.0.0.1".into()], 13).unwrap();
        assert_eq!(cert.sha256_hex().len(), 64);
        assert_eq!(cert.sha256, sha256(&cert.chain[0]));
        assert!(matches!(Certificate::self_signed(&["localhost".into()], 15), Err(CertError::Validity(15))));
        assert!(matches!(Certificate::self_signed(&["localhost".into()], 0), Err(CertError::Validity(0))));
        // The SPKI of a P-256 key: a SEQUENCE of the algorithm and a 65-byte point, 91 bytes in all.
        let spki = spki_of(cert.chain[0].as_ref()).unwrap();
        assert_eq!(spki.len(), 91);
        assert_eq!(cert.spki_sha256_base64().unwrap().len(), 44);
        let pem = cert.leaf_pem();
        let parsed = CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap();
        assert_eq!(parsed, cert.chain);
    }

    #[test]
    fn pem_files_load_and_missing_or_empty_files_are_named_errors() {
        let dir = std::env::temp_dir().join(format!("fabric-entry-cert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["entry.example".into()]).unwrap().self_signed(&key).unwrap();
        std::fs::write(dir.join("c.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("k.pem"), key.serialize_pem()).unwrap();
        std::fs::write(dir.join("empty.pem"), "").unwrap();
        let loaded = Certificate::from_pem_files(&dir.join("c.pem"), &dir.join("k.pem")).unwrap();
        assert_eq!(loaded.chain[0].as_ref(), cert.der().as_ref());
        assert!(matches!(Certificate::from_pem_files(&dir.join("nope.pem"), &dir.join("k.pem")), Err(CertError::CertFile { .. })));
        assert!(matches!(Certificate::from_pem_files(&dir.join("empty.pem"), &dir.join("k.pem")), Err(CertError::NoCertificate(_))));
        assert!(matches!(Certificate::from_pem_files(&dir.join("c.pem"), &dir.join("c.pem")), Err(CertError::KeyFile { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
