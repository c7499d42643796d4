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
