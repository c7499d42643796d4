//! Node identity: what a cluster-CA node certificate says, and the trust
//! state (cluster CAs + revoked serials) every handshake is checked against.
//!
//! A node certificate is valid for the mesh when it is signed by one of the
//! cluster's CA certificates (several during a trust rotation), is inside its
//! validity window, allows digital signatures, names exactly one node of this
//! cluster in its URI SAN (`spiffe://rap/cluster/<cluster>/node/<node>`), is
//! the expected node when the caller dialled a particular one, and its serial
//! is not in the revocation set.

use std::collections::HashSet;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a certificate was refused; `code()` is the spec's failure reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("certificate_invalid: {0}")]
    CertificateInvalid(String),
    #[error("certificate_expired")]
    CertificateExpired,
    #[error("certificate_revoked")]
    CertificateRevoked,
    #[error("wrong_cluster")]
    WrongCluster,
    #[error("wrong_node")]
    WrongNode,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::CertificateInvalid(_) => "certificate_invalid",
            Refusal::CertificateExpired => "certificate_expired",
            Refusal::CertificateRevoked => "certificate_revoked",
            Refusal::WrongCluster => "wrong_cluster",
            Refusal::WrongNode => "wrong_node",
        }
    }
}

/// The identity a verified node certificate carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCert {
    pub cluster_id: String,
    pub node_id: String,
    /// Lower-case hex without leading zeros, the same form as `normalize_serial`.
    pub serial: String,
    pub not_after_unix: i64,
}

/// Serials arrive as hex from the control plane (zero-padded) and from DER
/// (sign-padded); both compare equal after this.
pub fn normalize_serial(hex: &str) -> String {
    let lower: String = hex.chars().filter(|c| *c != ':').flat_map(char::to_lowercase).collect();
    let trimmed = lower.trim_start_matches('0');
    if trimmed.is_empty() { "0".into() } else { trimmed.into() }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses `spiffe://rap/cluster/<c>/node/<n>`.
pub fn parse_node_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("spiffe://rap/cluster/")?;
    let (cluster, node) = rest.split_once("/node/")?;
    if cluster.is_empty() || node.is_empty() || node.contains('/') {
        return None;
    }
    Some((cluster.to_string(), node.to_string()))
}

/// DER of every certificate in a PEM bundle.
pub fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut rest = pem.as_bytes();
    while let Some(start) = find(rest, b"-----BEGIN CERTIFICATE-----") {
        rest = &rest[start..];
        let (remaining, parsed) = parse_x509_pem(rest).map_err(|e| format!("bad PEM: {e}"))?;
        out.push(parsed.contents);
        rest = remaining;
    }
    if out.is_empty() {
        return Err("no certificate in PEM".into());
    }
    Ok(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The (cluster, node) a certificate's one node URI SAN names.
fn node_of(cert: &X509Certificate<'_>) -> Result<(String, String), Refusal> {
    let invalid = |why: &str| Refusal::CertificateInvalid(why.to_string());
    let uris: Vec<&str> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| if let GeneralName::URI(u) = n { Some(*u) } else { None })
            .collect(),
        _ => Vec::new(),
    };
    let [uri] = uris.as_slice() else { return Err(invalid("needs exactly one node URI SAN")) };
    parse_node_uri(uri).ok_or_else(|| invalid("SAN is not a node URI"))
}

/// The (cluster, node) a certificate (DER) names, without checking anything
/// else: for error messages only, never for a decision.
pub fn named_node(der: &[u8]) -> Option<(String, String)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    node_of(&cert).ok()
}

/// Cluster CAs and the revocation set; replaced at runtime on trust rotation
/// and on every new signed revocation list.
#[derive(Debug, Clone)]
pub struct Trust {
    pub cluster_id: String,
    ca_ders: Vec<Vec<u8>>,
    revoked: HashSet<String>,
}

impl Trust {
    pub fn new(cluster_id: &str, ca_pems: &[String]) -> Result<Trust, String> {
        let mut trust = Trust { cluster_id: cluster_id.to_string(), ca_ders: Vec::new(), revoked: HashSet::new() };
        trust.set_cas(ca_pems)?;
        Ok(trust)
    }

    pub fn set_cas(&mut self, ca_pems: &[String]) -> Result<(), String> {
        let mut ders = Vec::new();
        for pem in ca_pems {
            for der in pem_certificates(pem)? {
                let (_, ca) = X509Certificate::from_der(&der).map_err(|e| format!("bad CA certificate: {e}"))?;
                if !ca.is_ca() {
                    return Err("trust bundle holds a certificate that is not a CA".into());
                }
                ders.push(der);
            }
        }
        if ders.is_empty() {
            return Err("trust bundle is empty".into());
        }
        self.ca_ders = ders;
        Ok(())
    }

    pub fn set_revoked<I: IntoIterator<Item = String>>(&mut self, serials: I) {
        self.revoked = serials.into_iter().map(|s| normalize_serial(&s)).collect();
    }

    /// Checks a peer's end-entity certificate (DER) at `now_unix`.
    pub fn verify(&self, der: &[u8], now_unix: i64, expected_node: Option<&str>) -> Result<NodeCert, Refusal> {
        let invalid = |why: &str| Refusal::CertificateInvalid(why.to_string());
        let (_, cert) = X509Certificate::from_der(der).map_err(|_| invalid("not a certificate"))?;
        let signed_by_ca = self.ca_ders.iter().any(|ca_der| {
            X509Certificate::from_der(ca_der).is_ok_and(|(_, ca)| {
                ca.subject() == cert.issuer() && cert.verify_signature(Some(ca.public_key())).is_ok()
            })
        });
        if !signed_by_ca {
            return Err(invalid("not signed by a trusted cluster CA"));
        }
        let validity = cert.validity();
        if now_unix < validity.not_before.timestamp() || now_unix > validity.not_after.timestamp() {
            return Err(Refusal::CertificateExpired);
        }
        if cert.is_ca() {
            return Err(invalid("a CA certificate cannot be a node identity"));
        }
        match cert.key_usage() {
            Ok(Some(ku)) if ku.value.digital_signature() => {}
            _ => return Err(invalid("key usage does not allow digital signatures")),
        }
        let (cluster_id, node_id) = node_of(&cert)?;
        if cluster_id != self.cluster_id {
            return Err(Refusal::WrongCluster);
        }
        if expected_node.is_some_and(|n| n != node_id) {
            return Err(Refusal::WrongNode);
        }
        let serial = normalize_serial(&to_hex(cert.raw_serial()));
        if self.revoked.contains(&serial) {
            return Err(Refusal::CertificateRevoked);
        }
        Ok(NodeCert { cluster_id, node_id, serial, not_after_unix: validity.not_after.timestamp() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_compare_equal_whatever_their_padding() {
        assert_eq!(normalize_serial("00000000000003EA"), "3ea");
        assert_eq!(normalize_serial("00:03:ea"), "3ea");
        assert_eq!(normalize_serial("000"), "0");
    }

    #[test]
    fn node_uris_parse_strictly() {
        assert_eq!(parse_node_uri("spiffe://rap/cluster/c1/node/n1"), Some(("c1".into(), "n1".into())));
        assert_eq!(parse_node_uri("spiffe://rap/cluster/c1"), None);
        assert_eq!(parse_node_uri("spiffe://rap/cluster//node/n1"), None);
        assert_eq!(parse_node_uri("spiffe://rap/cluster/c1/node/n1/extra"), None);
        assert_eq!(parse_node_uri("spiffe://other/cluster/c1/node/n1"), None);
    }

    #[test]
    fn named_node_reads_the_san_of_any_certificate_without_trusting_it() {
        let stranger = crate::test_pki::TestCa::new("c9").node("n1", 7);
        assert_eq!(pem_certificates(&stranger.cert_pem).unwrap(), vec![stranger.der.clone()]);
        assert_eq!(named_node(&stranger.der), Some(("c9".into(), "n1".into())));
        let trust = Trust::new("c9", &[crate::test_pki::TestCa::new("c9").pem()]).unwrap();
        assert!(matches!(trust.verify(&stranger.der, 0, None), Err(Refusal::CertificateInvalid(_))));
        assert_eq!(named_node(b"not a certificate"), None);
    }

    #[test]
    fn refusals_display_as_their_code() {
        assert_eq!(Refusal::WrongNode.to_string(), "wrong_node");
        assert_eq!(Refusal::CertificateInvalid("why".into()).to_string(), "certificate_invalid: why");
    }

    #[test]
    fn a_trust_bundle_needs_ca_certificates() {
        assert!(Trust::new("c", &["not pem".into()]).is_err());
        assert!(Trust::new("c", &[]).is_err());
    }
}
