//! What the agent hands over to start a session on this adapter node, and how
//! it becomes an SSH terminal (crates/fabric-ssh) or an RDP desktop
//! (crates/fabric-rdp). Credentials go straight into the crates' zeroizing
//! secrets; nothing here logs or keeps them.

use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpStream;

use fabric_rdp::clipboard_bridge::ClipboardMode;
use fabric_rdp::files::{TransferDir, TransferMode};
use fabric_rdp::quality::{ColorMode, Profile};
use fabric_rdp::{CertificatePolicy, DesktopEvent, DesktopRequest, RdpDesktop, RdpTarget, SessionPolicy};
use fabric_ssh::{EventSink, HostKeyPolicy, Pty, Secret, SshAuth, SshTarget, SshTerminal, TerminalEvent};

/// A session whose resource names a VPN connection: its TCP goes through the connection's
/// current owner (`vpn_dial`), as the control plane's assignment said when the session started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpnRoute {
    pub connection_id: String,
    pub owner_node_id: String,
    pub epoch: u64,
    /// The session's resource, which the owner checks against the policy's `resource_ids`.
    pub resource_id: String,
}

/// An SSH session's start: the target and its credentials.
pub struct SshStart {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Option<String>,
    pub private_key: Option<String>,
    /// The pinned host key, or `None` for `ignore`.
    pub host_key: Option<String>,
    pub entry_node_ids: Vec<String>,
    pub via_vpn: Option<VpnRoute>,
}

/// A remote desktop's start: the target, its credentials and the resource's policy.
pub struct RdpStart {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub domain: Option<String>,
    /// The pinned certificate (`SHA256:…`); `None` under `strict` means the system's trusted roots.
    pub certificate: Option<String>,
    /// `strict` or `ignore`.
    pub verification: String,
    pub profile: String,
    pub color_mode: Option<String>,
    pub quality_adjustable: bool,
    pub clipboard: String,
    pub file_transfer: String,
    /// Per-session transfer folders live under here (`<root>/<session id>/`).
    pub transfer_root: PathBuf,
    pub entry_node_ids: Vec<String>,
    pub via_vpn: Option<VpnRoute>,
}

/// How a session ended, in the words the agent reports.
pub type EndedSink = Arc<dyn Fn(String) + Send + Sync>;

/// Connects and opens the shell; the error is `<code>: <message>`.
/// `transport`: an open connection that carries the session to the target (a VPN owner's dial stream); else TCP to it.
pub async fn start_ssh(start: SshStart, ended: EndedSink, transport: Option<TcpStream>) -> Result<SshTerminal, String> {
    let auth = match (start.private_key, start.password) {
        (Some(pem), passphrase) => SshAuth::PrivateKey { pem: Secret::new(pem), passphrase: passphrase.map(Secret::new) },
        (None, Some(password)) => SshAuth::Password(Secret::new(password)),
        (None, None) => return Err("adapter.credentials_invalid: the secret has neither a password nor a private key".into()),
    };
    let target = SshTarget {
        host: start.host,
        port: start.port,
        username: start.username,
        auth,
        host_key: start.host_key.map_or(HostKeyPolicy::Ignore, HostKeyPolicy::Pinned),
    };
    let sink: EventSink = Arc::new(move |event| {
        if let TerminalEvent::Ended { reason } = event {
            ended(reason.to_string());
        }
    });
    let pty = Pty { cols: 80, rows: 24, term: "xterm-256color".into() };
    SshTerminal::start_over(target, pty, sink, transport).await.map_err(|e| format!("{}: {}", e.code(), e.message))
}

/// Connects (TLS or NLA, the certificate checked per policy) and starts the desktop; the error is `<code>: <message>`.
pub async fn start_rdp(session_id: &str, start: RdpStart, ended: EndedSink, transport: Option<TcpStream>) -> Result<RdpDesktop, String> {
    let invalid = |what: &str, value: &str| format!("adapter.target_invalid: {what} {value:?} is not one this adapter knows");
    let profile = Profile::parse(&start.profile).ok_or_else(|| invalid("quality profile", &start.profile))?;
    let color_mode = match start.color_mode.as_deref() {
        None => None,
        Some(c) => Some(ColorMode::parse(c).ok_or_else(|| invalid("colour mode", c))?),
    };
    let clipboard = ClipboardMode::parse(&start.clipboard).ok_or_else(|| invalid("clipboard mode", &start.clipboard))?;
    let file_transfer = TransferMode::parse(&start.file_transfer).ok_or_else(|| invalid("file transfer mode", &start.file_transfer))?;
    let certificate = match (start.verification.as_str(), start.certificate) {
        ("ignore", _) => CertificatePolicy::Ignore,
        ("strict", Some(pin)) => CertificatePolicy::Pinned(pin),
        ("strict", None) => CertificatePolicy::SystemRoots,
        (other, _) => return Err(invalid("certificate verification", other)),
    };
    let transfers = if file_transfer == TransferMode::Disabled {
        None
    } else {
        let dir = TransferDir::create(&start.transfer_root, session_id)
            .await
            .map_err(|e| format!("adapter.internal: the session's transfer folder could not be created: {e}"))?;
        Some(dir)
    };
    let target = RdpTarget {
        host: start.host,
        port: start.port,
        username: start.username.into(),
        password: start.password.into(),
        domain: start.domain.map(Into::into),
        certificate,
    };
    let policy = SessionPolicy { profile, color_mode, quality_adjustable: start.quality_adjustable, clipboard, file_transfer, transfers };
    let sink: fabric_rdp::EventSink = Arc::new(move |event| {
        if let DesktopEvent::Ended { reason } = event {
            ended(reason.to_string());
        }
    });
    RdpDesktop::start_over(target, DesktopRequest::default(), policy, sink, transport)
        .await
        .map_err(|e| format!("{}: {}", e.code(), e.message))
}
