//! rustls configuration for the mesh: TLS 1.3 only, mutual authentication
//! with cluster-CA node certificates checked by `Trust` (chain, validity,
//! cluster, expected node, revocation) instead of web PKI rules.

use crate::identity::{Refusal, Trust};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, SignatureScheme};
use std::sync::{Arc, Mutex, RwLock};

pub const ALPN: &[u8] = b"rap-mesh/1";
/// The TLS server name is not used for identity (the node URI SAN is).
pub const SERVER_NAME: &str = "node.rap.invalid";

pub type SharedTrust = Arc<RwLock<Trust>>;

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn refuse(r: Refusal) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(r))))
}

/// The local node's certificate chain and key.
#[derive(Clone)]
pub struct LocalIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key_pkcs8: Vec<u8>,
}

impl LocalIdentity {
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()))
    }
}

/// Dialling side: the server must be `expected_node` of our cluster. The
/// refusal, if any, is kept so the caller can report the spec's reason.
#[derive(Debug)]
pub struct PeerVerifier {
    trust: SharedTrust,
    expected_node: Option<String>,
    provider: Arc<CryptoProvider>,
    pub refusal: Mutex<Option<Refusal>>,
}

impl PeerVerifier {
    pub fn new(trust: SharedTrust, expected_node: Option<String>) -> Arc<PeerVerifier> {
        Arc::new(PeerVerifier { trust, expected_node, provider: provider(), refusal: Mutex::new(None) })
    }

    fn check(&self, end_entity: &CertificateDer<'_>, now: UnixTime) -> Result<(), Error> {
        let verdict = self.trust.read().unwrap().verify(end_entity, now.as_secs() as i64, self.expected_node.as_deref());
        verdict.map(|_| ()).map_err(|r| {
            *self.refusal.lock().unwrap() = Some(r.clone());
            refuse(r)
        })
    }

    fn tls12(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }

    fn tls13(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.check(end_entity, now).map(|_| ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        self.tls12(m, c, d)
    }
    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        self.tls13(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

/// Accepting side: any node of our cluster with a valid, unrevoked
/// certificate; which nodes may then talk is the channel authorization.
impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(&self, end_entity: &CertificateDer<'_>, _i: &[CertificateDer<'_>], now: UnixTime) -> Result<ClientCertVerified, Error> {
        self.check(end_entity, now).map(|_| ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        self.tls12(m, c, d)
    }
    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        self.tls13(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
    fn client_auth_mandatory(&self) -> bool {
        true
    }
}

pub fn server_config(identity: &LocalIdentity, verifier: Arc<PeerVerifier>) -> Result<rustls::ServerConfig, Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain.clone(), identity.key())?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

pub fn client_config(identity: &LocalIdentity, verifier: Arc<PeerVerifier>) -> Result<rustls::ClientConfig, Error> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(identity.chain.clone(), identity.key())?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_pki::{start_of, NodeCreds, TestCa};
    use rustls::pki_types::CertificateDer;
    use rustls::{ClientConnection, ServerConnection};
    use std::time::Duration;

    fn trust_of(ca: &TestCa) -> SharedTrust {
        Arc::new(RwLock::new(Trust::new(&ca.cluster_id, &[ca.pem()]).expect("a CA bundle")))
    }

    fn at_year(year: i32) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(start_of(year) as u64))
    }

    fn identity(creds: &NodeCreds) -> LocalIdentity {
        LocalIdentity { chain: vec![CertificateDer::from(creds.der.clone())], key_pkcs8: creds.key_pkcs8.clone() }
    }

    fn server_check(verifier: &PeerVerifier, creds: &NodeCreds, now: UnixTime) -> Result<ServerCertVerified, Error> {
        let name = ServerName::try_from(SERVER_NAME).expect("a DNS name");
        verifier.verify_server_cert(&CertificateDer::from(creds.der.clone()), &[], &name, &[], now)
    }

    fn client_check(verifier: &PeerVerifier, creds: &NodeCreds, now: UnixTime) -> Result<ClientCertVerified, Error> {
        verifier.verify_client_cert(&CertificateDer::from(creds.der.clone()), &[], now)
    }

    /// Runs a TLS handshake in memory until both sides are done or one fails.
    fn handshake(client: rustls::ClientConfig, server: rustls::ServerConfig) -> Result<(ClientConnection, ServerConnection), Error> {
        let name = ServerName::try_from(SERVER_NAME).expect("a DNS name");
        let mut c = ClientConnection::new(Arc::new(client), name)?;
        let mut s = ServerConnection::new(Arc::new(server))?;
        for _ in 0..8 {
            let mut flight = Vec::new();
            c.write_tls(&mut flight).expect("writing to a Vec");
            s.read_tls(&mut flight.as_slice()).expect("reading from a slice");
            s.process_new_packets()?;
            flight.clear();
            s.write_tls(&mut flight).expect("writing to a Vec");
            c.read_tls(&mut flight.as_slice()).expect("reading from a slice");
            c.process_new_packets()?;
            if !c.is_handshaking() && !s.is_handshaking() {
                return Ok((c, s));
            }
        }
        panic!("the handshake did not finish");
    }

    #[test]
    fn the_dialler_accepts_only_the_node_it_dialled_and_keeps_the_reason() {
        let ca = TestCa::new("c1");
        let (b, c) = (ca.node("b", 2), ca.node("c", 3));
        let verifier = PeerVerifier::new(trust_of(&ca), Some("b".into()));
        assert!(server_check(&verifier, &b, at_year(2030)).is_ok());
        assert!(verifier.refusal.lock().unwrap().is_none());
        let refused = server_check(&verifier, &c, at_year(2030)).unwrap_err();
        assert!(matches!(refused, Error::InvalidCertificate(CertificateError::Other(_))));
        assert_eq!(*verifier.refusal.lock().unwrap(), Some(Refusal::WrongNode));
    }

    #[test]
    fn the_accepting_side_takes_any_node_of_its_cluster_and_nothing_else() {
        let ca = TestCa::new("c1");
        let verifier = PeerVerifier::new(trust_of(&ca), None);
        assert!(verifier.client_auth_mandatory());
        for node in ["a", "b"] {
            assert!(client_check(&verifier, &ca.node(node, 2), at_year(2030)).is_ok(), "{node}");
        }
        let other_cluster = ca.node_with("spiffe://rap/cluster/c2/node/a", 4, (2020, 2100));
        assert!(client_check(&verifier, &other_cluster, at_year(2030)).is_err());
        assert_eq!(*verifier.refusal.lock().unwrap(), Some(Refusal::WrongCluster));
        let stranger = TestCa::new("c1").node("a", 5);
        assert!(client_check(&verifier, &stranger, at_year(2030)).is_err());
        assert!(matches!(*verifier.refusal.lock().unwrap(), Some(Refusal::CertificateInvalid(_))));
        let no_node = ca.node_with("spiffe://rap/cluster/c1", 6, (2020, 2100));
        assert!(client_check(&verifier, &no_node, at_year(2030)).is_err());
        assert!(matches!(*verifier.refusal.lock().unwrap(), Some(Refusal::CertificateInvalid(_))));
    }

    #[test]
    fn validity_is_checked_at_the_handshake_time() {
        let ca = TestCa::new("c1");
        let b = ca.node_with("spiffe://rap/cluster/c1/node/b", 2, (2030, 2031));
        let verifier = PeerVerifier::new(trust_of(&ca), Some("b".into()));
        assert!(server_check(&verifier, &b, at_year(2030)).is_ok());
        for year in [2029, 2032] {
            assert!(server_check(&verifier, &b, at_year(year)).is_err(), "{year}");
            assert_eq!(*verifier.refusal.lock().unwrap(), Some(Refusal::CertificateExpired));
        }
    }

    #[test]
    fn revocation_and_trust_changes_apply_to_the_next_check() {
        let ca = TestCa::new("c1");
        let b = ca.node("b", 0x3ea);
        let trust = trust_of(&ca);
        let verifier = PeerVerifier::new(trust.clone(), None);
        assert!(client_check(&verifier, &b, at_year(2030)).is_ok());
        trust.write().unwrap().set_revoked(["00000000000003EA".to_string()]);
        assert!(client_check(&verifier, &b, at_year(2030)).is_err());
        assert_eq!(*verifier.refusal.lock().unwrap(), Some(Refusal::CertificateRevoked));
        trust.write().unwrap().set_revoked([]);
        trust.write().unwrap().set_cas(&[TestCa::new("c1").pem()]).unwrap();
        assert!(client_check(&verifier, &b, at_year(2030)).is_err());
        assert!(matches!(*verifier.refusal.lock().unwrap(), Some(Refusal::CertificateInvalid(_))));
    }

    #[test]
    fn two_nodes_of_a_cluster_complete_a_mutual_tls13_handshake_with_the_mesh_alpn() {
        let ca = TestCa::new("c1");
        let (a, b) = (ca.node("a", 2), ca.node("b", 3));
        let client = client_config(&identity(&a), PeerVerifier::new(trust_of(&ca), Some("b".into()))).unwrap();
        let server = server_config(&identity(&b), PeerVerifier::new(trust_of(&ca), None)).unwrap();
        let (c, s) = handshake(client, server).expect("the handshake succeeds");
        assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
        assert_eq!(c.alpn_protocol(), Some(ALPN));
        let presented = s.peer_certificates().expect("the client presented a certificate");
        assert_eq!(presented[0].as_ref(), a.der.as_slice());
    }

    #[test]
    fn a_handshake_fails_on_the_side_whose_check_refuses() {
        let ca = TestCa::new("c1");
        let (a, b) = (ca.node("a", 2), ca.node("b", 3));
        // The dialler expected c; b answered.
        let wrong = PeerVerifier::new(trust_of(&ca), Some("c".into()));
        let client = client_config(&identity(&a), wrong.clone()).unwrap();
        let server = server_config(&identity(&b), PeerVerifier::new(trust_of(&ca), None)).unwrap();
        assert!(handshake(client, server).is_err());
        assert_eq!(*wrong.refusal.lock().unwrap(), Some(Refusal::WrongNode));
        // The server does not trust the client's CA.
        let stranger = TestCa::new("c1").node("x", 4);
        let server_side = PeerVerifier::new(trust_of(&ca), None);
        let client = client_config(&identity(&stranger), PeerVerifier::new(trust_of(&ca), Some("b".into()))).unwrap();
        let server = server_config(&identity(&b), server_side.clone()).unwrap();
        assert!(handshake(client, server).is_err());
        assert!(matches!(*server_side.refusal.lock().unwrap(), Some(Refusal::CertificateInvalid(_))));
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused_when_the_config_is_built() {
        let ca = TestCa::new("c1");
        let (a, b) = (ca.node("a", 2), ca.node("b", 3));
        let mismatched = LocalIdentity { chain: vec![CertificateDer::from(a.der.clone())], key_pkcs8: b.key_pkcs8.clone() };
        assert!(server_config(&mismatched, PeerVerifier::new(trust_of(&ca), None)).is_err());
        assert!(server_config(&identity(&a), PeerVerifier::new(trust_of(&ca), None)).is_ok());
    }
}
