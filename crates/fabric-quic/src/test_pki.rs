//! Certificates for unit tests, made with rcgen the way core/crypto/x509.ts
//! makes them: a P-256 cluster CA (CA:true, keyCertSign|cRLSign) and node
//! certificates with digitalSignature, server+client auth and one
//! `spiffe://rap/cluster/<c>/node/<n>` URI SAN.

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};

pub struct TestCa {
    pub cluster_id: String,
    ca: rcgen::Certificate,
    key: KeyPair,
}

pub struct NodeCreds {
    pub cert_pem: String,
    pub der: Vec<u8>,
    pub key_pkcs8: Vec<u8>,
}

/// Seconds since the epoch at the start of `year` (UTC).
pub fn start_of(year: i32) -> i64 {
    date_time_ymd(year, 1, 1).unix_timestamp()
}

fn uri(value: String) -> SanType {
    // A test's own literal: always a valid IA5 string.
    SanType::URI(value.try_into().expect("ASCII URI"))
}

impl TestCa {
    pub fn new(cluster_id: &str) -> TestCa {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
        params.serial_number = Some(SerialNumber::from(1u64));
        params.distinguished_name.push(DnType::CommonName, format!("rap cluster {cluster_id} node CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.subject_alt_names = vec![uri(format!("spiffe://rap/cluster/{cluster_id}"))];
        let ca = params.self_signed(&key).expect("self-signed CA");
        TestCa { cluster_id: cluster_id.into(), ca, key }
    }

    pub fn pem(&self) -> String {
        self.ca.pem()
    }

    /// A node of this CA's cluster, valid 2020–2100 (any handshake a test makes now).
    pub fn node(&self, node_id: &str, serial: u64) -> NodeCreds {
        let san = format!("spiffe://rap/cluster/{}/node/{node_id}", self.cluster_id);
        self.node_with(&san, serial, (2020, 2100))
    }

    /// A certificate signed by this CA naming `san`, valid from the start of
    /// the first year to the start of the second.
    pub fn node_with(&self, san: &str, serial: u64, years: (i32, i32)) -> NodeCreds {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
        params.serial_number = Some(SerialNumber::from(serial));
        params.distinguished_name.push(DnType::CommonName, format!("node {san}"));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.subject_alt_names = vec![uri(san.to_string())];
        params.not_before = date_time_ymd(years.0, 1, 1);
        params.not_after = date_time_ymd(years.1, 1, 1);
        let cert = params.signed_by(&key, &self.ca, &self.key).expect("node certificate");
        NodeCreds { cert_pem: cert.pem(), der: cert.der().to_vec(), key_pkcs8: key.serialize_der() }
    }
}
