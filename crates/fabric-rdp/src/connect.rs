//! Opening an RDP connection: TCP, X.224 negotiation offering TLS and HYBRID
//! (NLA/CredSSP with NTLM), the TLS upgrade with our own certificate verifier,
//! the server public key handed to CredSSP, then the rest of the connection
//! sequence. Every failure becomes an [`AdapterError`] with a stable code and a
//! message that says what to fix; nothing here ever formats a credential.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ironrdp_connector::credssp::CredsspSequence;
use ironrdp_connector::sspi::generator::NetworkRequest;
use ironrdp_connector::{
    ClientConnector, ClientConnectorState, ConnectionResult, ConnectorError, ConnectorErrorKind, ConnectorResult, Credentials, DesktopSize,
    ServerName,
};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::gcc::{ConnectionType, KeyboardType};
use ironrdp_pdu::nego::FailureCode;
use ironrdp_pdu::rdp::capability_sets::{MajorPlatformType, RailSupportLevel};
use ironrdp_pdu::rdp::client_info::{PerformanceFlags, TimezoneInfo};
use ironrdp_tokio::{NetworkClient, TokioFramed};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use x509_cert::der::Decode as _;

use crate::certificate::{CertificateCheck, PolicyVerifier, Presented, SharedPresented};
use crate::error::{AdapterError, ErrorCode};
use crate::target::{DesktopRequest, RdpTarget};

pub(crate) type RdpStream = TlsStream<TcpStream>;

/// A connected session, ready for its active stage.
pub(crate) struct Connected {
    pub result: ConnectionResult,
    pub framed: TokioFramed<RdpStream>,
    /// The server certificate's fingerprint (`SHA256:…`).
    pub certificate: String,
    /// How long each phase took, for the probe and the benchmark.
    pub timings: ConnectTimings,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectTimings {
    pub tcp_ms: f64,
    pub negotiation_ms: f64,
    pub tls_ms: f64,
    pub finalize_ms: f64,
}

/// Connects to `target` with `connector` (its static channels already attached).
/// Over `transport` when given (a TCP connection already made to something that carries it to the target,
/// e.g. a VPN owner's dial stream), else over a new TCP connection; the certificate is checked the same way.
pub(crate) async fn connect(
    target: &RdpTarget,
    connector_for: impl FnOnce(SocketAddr) -> ClientConnector,
    transport: Option<TcpStream>,
) -> Result<Connected, AdapterError> {
    let check = CertificateCheck::from_policy(&target.certificate)?;
    if target.host.trim().is_empty() {
        return Err(AdapterError::new(ErrorCode::TargetInvalid, "the resource has no host to connect to"));
    }
    let mut timings = ConnectTimings::default();
    let started = Instant::now();
    let tcp = match transport {
        Some(tcp) => Ok(tcp),
        None => TcpStream::connect((target.host.as_str(), target.port)).await,
    };
    let tcp = tcp.map_err(|e| {
        AdapterError::new(
            ErrorCode::ConnectFailed,
            format!("TCP connect to {}:{} failed: {e}; check the host, port and that the RDP server runs", target.host, target.port),
        )
    })?;
    let _ = tcp.set_nodelay(true);
    let client_addr = tcp.local_addr().map_err(|e| AdapterError::new(ErrorCode::Internal, format!("local address: {e}")))?;
    timings.tcp_ms = ms(started);

    let mut connector = connector_for(client_addr);
    let mut framed = TokioFramed::new(tcp);
    let phase = Instant::now();
    let should_upgrade = ironrdp_tokio::connect_begin(&mut framed, &mut connector).await.map_err(|e| classify(e, target, None))?;
    timings.negotiation_ms = ms(phase);

    let phase = Instant::now();
    let tcp = framed.into_inner_no_leftover();
    let presented: SharedPresented = Arc::new(Mutex::new(Presented::default()));
    let (tls, server_public_key) = tls_upgrade(tcp, &target.host, check, presented.clone()).await?;
    let certificate = presented.lock().ok().and_then(|p| p.fingerprint.clone()).unwrap_or_default();
    timings.tls_ms = ms(phase);

    let phase = Instant::now();
    let upgraded = ironrdp_tokio::mark_as_upgraded(should_upgrade, &mut connector);
    let mut framed = TokioFramed::new(tls);
    nla(&mut connector, &mut framed, target, &server_public_key).await?;
    let outcome = ironrdp_tokio::connect_finalize(
        upgraded,
        connector,
        &mut framed,
        &mut NoKerberos,
        ServerName::new(target.host.clone()),
        server_public_key,
        None,
    )
    .await
    .map_err(|e| classify(e, target, Some(&certificate)))?;
    let result = outcome.into_connected().map_err(|e| classify(e, target, Some(&certificate)))?;
    timings.finalize_ms = ms(phase);
    Ok(Connected { result, framed, certificate, timings })
}

/// NLA (CredSSP), run here rather than inside `connect_finalize` so that any failure in it, including the
/// server simply closing the connection (FreeRDP does on a wrong password), is known to be an authentication failure.
async fn nla(
    connector: &mut ClientConnector,
    framed: &mut TokioFramed<RdpStream>,
    target: &RdpTarget,
    server_public_key: &[u8],
) -> Result<(), AdapterError> {
    if !connector.should_perform_credssp() {
        return Ok(());
    }
    let at = format!("{}:{}", target.host, target.port);
    let ClientConnectorState::Credssp { selected_protocol } = connector.state else {
        return Err(AdapterError::new(ErrorCode::Internal, "the connector is not in its CredSSP state"));
    };
    let (sequence, ts_request) = CredsspSequence::init(
        connector.config.credentials.clone(),
        connector.config.domain.as_deref(),
        selected_protocol,
        ServerName::new(target.host.clone()),
        server_public_key.to_vec(),
        None,
    )
    .map_err(|e| classify(e, target, Some("")))?;
    let mut buf = WriteBuf::new();
    ironrdp_tokio::perform_credssp(framed, &mut NoKerberos, &mut buf, sequence, ts_request).await.map_err(|e| match classify(e, target, Some("")) {
        e if e.code == ErrorCode::ConnectFailed => AdapterError::new(
            ErrorCode::AuthFailed,
            format!("{at} closed the connection during NLA, which servers do when they refuse the credentials; check the user name, password and domain"),
        ),
        e => e,
    })?;
    connector.mark_credssp_as_done();
    Ok(())
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The connector configuration: TLS and NLA offered, legacy bitmap updates
/// (every server has them; the adapter re-encodes tiles itself anyway), no
/// server pointer (the viewer shows the browser's own cursor), no audio.
pub(crate) fn connector_config(target: &RdpTarget, desktop: DesktopRequest) -> ironrdp_connector::Config {
    ironrdp_connector::Config {
        desktop_size: DesktopSize { width: desktop.width, height: desktop.height },
        monitor_layout: None,
        desktop_scale_factor: 0,
        desktop_physical_size: None,
        desktop_orientation: None,
        device_scale_factor: None,
        monitor_extended_layout: None,
        relative_mouse_input: false,
        enable_tls: true,
        enable_credssp: true,
        enable_standard_rdp_security: false,
        credentials: Credentials::UsernamePassword {
            username: target.username.expose().to_owned(),
            password: target.password.expose().to_owned(),
        },
        domain: target.domain.as_ref().map(|d| d.expose().to_owned()),
        client_build: 0,
        client_name: "rap-adapter".into(),
        keyboard_type: KeyboardType::IBM_ENHANCED,
        keyboard_subtype: 0,
        keyboard_functional_keys_count: 12,
        keyboard_layout: 0x409,
        connection_type: ConnectionType::Lan,
        ime_file_name: String::new(),
        bitmap: None,
        dig_product_id: String::new(),
        client_dir: "C:\\Windows\\System32\\mstscax.dll".into(),
        alternate_shell: String::new(),
        work_dir: String::new(),
        remote_application_mode: false,
        rail_support_level: RailSupportLevel::empty(),
        platform: MajorPlatformType::UNIX,
        hardware_id: None,
        request_data: None,
        // With TLS (no NLA) the Client Info PDU carries the credentials: servers such as xrdp require the flag to log on with them.
        autologon: true,
        enable_audio_playback: false,
        enable_audio_capture: false,
        performance_flags: PerformanceFlags::default() | PerformanceFlags::DISABLE_WALLPAPER | PerformanceFlags::DISABLE_FULLWINDOWDRAG,
        license_cache: None,
        timezone_info: TimezoneInfo::default(),
        compression_type: None,
        enable_server_pointer: false,
        pointer_software_rendering: true,
        multitransport_flags: None,
        support_dyn_vc_gfx_protocol: false,
    }
}

async fn tls_upgrade(
    tcp: TcpStream,
    host: &str,
    check: CertificateCheck,
    presented: SharedPresented,
) -> Result<(RdpStream, Vec<u8>), AdapterError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PolicyVerifier::new(check, provider.clone(), presented.clone())?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AdapterError::new(ErrorCode::Internal, format!("TLS configuration: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // CredSSP does not support TLS session resumption (MS-CSSP 3.1.5).
    config.resumption = rustls::client::Resumption::disabled();
    let server_name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| AdapterError::new(ErrorCode::TargetInvalid, format!("{host:?} is not a valid host name or IP address")))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(server_name, tcp).await.map_err(|e| {
        if let Some(refusal) = presented.lock().ok().and_then(|p| p.refusal.clone()) {
            return refusal;
        }
        AdapterError::new(ErrorCode::SecurityRefused, format!("the TLS handshake with the RDP server failed: {e}"))
    })?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| AdapterError::new(ErrorCode::ProtocolError, "the RDP server presented no TLS certificate"))?;
    let key = server_public_key(leaf.as_ref())?;
    Ok((tls, key))
}

/// The subjectPublicKey bits of the leaf: CredSSP binds the NLA exchange to them.
fn server_public_key(der: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let bad = |why: String| AdapterError::new(ErrorCode::ProtocolError, format!("the server's certificate cannot be read: {why}"));
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| bad(e.to_string()))?;
    let key = cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| bad("its public key is not byte-aligned".into()))?;
    Ok(key.to_vec())
}

/// CredSSP's network client for Kerberos KDC traffic. The adapter logs in with
/// NTLM only (no KDC reachable from an adapter node is assumed), so a request
/// to reach the network is refused; sspi then reports the failure.
struct NoKerberos;

impl NetworkClient for NoKerberos {
    async fn send(&mut self, request: &NetworkRequest) -> ConnectorResult<Vec<u8>> {
        let _ = request;
        Err(<ConnectorError as ironrdp_connector::ConnectorErrorExt>::reason(
            "CredSSP",
            "Kerberos is not supported by this adapter (no KDC client); the account must allow NTLM",
        ))
    }
}

/// Maps a connector error to a code and a message for people.
fn classify(e: ConnectorError, target: &RdpTarget, certificate: Option<&str>) -> AdapterError {
    let at = format!("{}:{}", target.host, target.port);
    let report = e.report().to_string();
    match e.kind() {
        ConnectorErrorKind::Negotiation(failure) => {
            let hint = match failure.code() {
                FailureCode::SSL_NOT_ALLOWED_BY_SERVER => {
                    "the server only offers standard RDP security, which the adapter refuses; enable TLS or NLA on the server"
                }
                FailureCode::SSL_CERT_NOT_ON_SERVER => "the server has no TLS certificate; configure one on the server",
                _ => "the server and the adapter share no security protocol (the adapter offers TLS and NLA)",
            };
            AdapterError::new(ErrorCode::SecurityRefused, format!("{at} refused the security negotiation ({failure}): {hint}"))
        }
        ConnectorErrorKind::Credssp(sspi) => {
            use ironrdp_connector::sspi::ErrorKind as K;
            match sspi.error_type {
                K::LogonDenied | K::UnknownCredentials | K::NoCredentials | K::IncompleteCredentials | K::WrongCredentialHandle => {
                    AdapterError::new(
                        ErrorCode::AuthFailed,
                        format!(
                            "{at} refused the resource's credentials during NLA ({:?}); check the user name, password and domain",
                            sspi.error_type
                        ),
                    )
                }
                _ => AdapterError::new(
                    ErrorCode::AuthFailed,
                    format!(
                        "NLA with {at} failed ({:?}: {}); check the credentials and that the server allows NTLM",
                        sspi.error_type, sspi.description
                    ),
                ),
            }
        }
        ConnectorErrorKind::AccessDenied => AdapterError::new(
            ErrorCode::AuthFailed,
            format!("{at} denied access to the account; check the credentials and its remote-desktop rights"),
        ),
        _ if is_io(&e) => {
            let during = if certificate.is_some() {
                "after the TLS upgrade (a server often closes here when NLA credentials are wrong)"
            } else {
                "during negotiation"
            };
            let code = if certificate.is_some() && report.contains("CredSSP") { ErrorCode::AuthFailed } else { ErrorCode::ConnectFailed };
            AdapterError::new(code, format!("the connection to {at} dropped {during}: {report}"))
        }
        _ => AdapterError::new(ErrorCode::ProtocolError, format!("the RDP connection sequence with {at} failed: {report}")),
    }
}

fn is_io(e: &ConnectorError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Turns the start deadline into its error.
pub(crate) fn start_timeout(target: &RdpTarget, limit: Duration) -> AdapterError {
    AdapterError::new(
        ErrorCode::StartTimeout,
        format!(
            "{}:{} did not complete the RDP connection within {} s; check that the server is responsive and not waiting on a logon prompt",
            target.host,
            target.port,
            limit.as_secs()
        ),
    )
}
