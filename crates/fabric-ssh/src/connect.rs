//! Opening the session: TCP, the SSH handshake with the host key check,
//! authentication, a PTY and a shell. Every failure becomes an
//! [`AdapterError`] with a stable code; nothing here logs, and no message is
//! built from a credential.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use russh::client::{self, DisconnectReason, Msg};
use russh::keys::{decode_secret_key, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::net::TcpStream;

use crate::error::{AdapterError, ErrorCode};
use crate::host_key::{fingerprint, HostKeyCheck};
use crate::input::MAX_TERMINAL_SIDE;
use crate::target::{Pty, SshAuth, SshTarget};

/// A dead peer (no answer to keepalives) is noticed after about a minute.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEPALIVE_MAX: usize = 3;

/// What the SSH client's handler saw, kept for the error or end reason it explains.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub(crate) host_key: Option<String>,
    pub(crate) host_key_refused: Option<AdapterError>,
    pub(crate) disconnect: Option<String>,
}

pub(crate) type SharedObserved = Arc<Mutex<Observed>>;

pub(crate) fn observe<T>(observed: &SharedObserved, f: impl FnOnce(&mut Observed) -> T) -> T {
    // A poisoned lock only means a panic elsewhere while recording a note; the note is still usable.
    let mut guard = observed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(&mut guard)
}

pub(crate) struct ClientHandler {
    check: HostKeyCheck,
    observed: SharedObserved,
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(&mut self, presented: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let key = match presented {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            // A host certificate is pinned by the key it certifies.
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::new(cert.public_key().clone(), ""),
        };
        let verdict = self.check.check(&key);
        observe(&self.observed, |o| {
            o.host_key = Some(fingerprint(&key));
            o.host_key_refused = verdict.clone().err();
        });
        Ok(verdict.is_ok())
    }

    async fn disconnected(&mut self, reason: DisconnectReason<Self::Error>) -> Result<(), Self::Error> {
        let (note, result) = match reason {
            DisconnectReason::ReceivedDisconnect(info) => {
                (format!("the server disconnected ({:?}): {}", info.reason_code, info.message), Ok(()))
            }
            DisconnectReason::Error(e) => (format!("the connection failed: {e}"), Err(e)),
        };
        observe(&self.observed, |o| o.disconnect = Some(note));
        result
    }
}

/// An open shell: the SSH session, the channel's halves, output that arrived before the shell was confirmed.
pub(crate) struct OpenShell {
    pub(crate) session: client::Handle<ClientHandler>,
    pub(crate) reader: ChannelReadHalf,
    pub(crate) writer: ChannelWriteHalf<Msg>,
    pub(crate) early_output: Vec<Bytes>,
    pub(crate) host_key: String,
    /// Why the server went away, once it has (for `EndReason::ConnectionClosed`).
    pub(crate) observed: SharedObserved,
}

enum Login<'a> {
    Password(&'a str),
    Key(Arc<PrivateKey>),
}

fn check_request(target: &SshTarget, pty: &Pty) -> Result<(), AdapterError> {
    let invalid = |m: &str| Err(AdapterError::new(ErrorCode::TargetInvalid, m.to_string()));
    if target.host.trim().is_empty() || target.port == 0 {
        return invalid("the target needs a host and a port from 1 to 65535");
    }
    if target.username.is_empty() {
        return invalid("the target needs a username");
    }
    let side = 1..=MAX_TERMINAL_SIDE;
    if !side.contains(&pty.cols) || !side.contains(&pty.rows) {
        return invalid("the terminal's columns and rows must be from 1 to 10000");
    }
    if pty.term.is_empty() || pty.term.len() > 64 || !pty.term.bytes().all(|b| b.is_ascii_graphic()) {
        return invalid("the terminal type must be 1 to 64 printable ASCII characters");
    }
    Ok(())
}

fn read_key(pem: &str, passphrase: Option<&str>) -> Result<PrivateKey, AdapterError> {
    // ssh-key's own messages do not echo the key; still, keep only the kind of failure.
    decode_secret_key(pem, passphrase).map_err(|e| {
        let why = match e {
            russh::keys::Error::KeyIsEncrypted => "the private key is encrypted and no passphrase was given",
            _ if passphrase.is_some() => "the private key could not be read (not a supported key, or the wrong passphrase)",
            _ => "the private key could not be read (not a supported key)",
        };
        AdapterError::new(ErrorCode::CredentialsInvalid, why)
    })
}

/// Opens the shell over `transport` when given (a TCP connection someone else made, e.g. spliced onto a
/// VPN owner's dial stream), else over a new TCP connection to the target.
pub(crate) async fn open_shell(target: &SshTarget, pty: &Pty, transport: Option<TcpStream>) -> Result<OpenShell, AdapterError> {
    check_request(target, pty)?;
    let check = HostKeyCheck::from_policy(&target.host_key)?;
    // The key is read before connecting: a bad key fails without touching the network.
    let login = match &target.auth {
        SshAuth::PrivateKey { pem, passphrase } => Login::Key(Arc::new(read_key(pem.expose(), passphrase.as_ref().map(|p| p.expose()))?)),
        SshAuth::Password(password) => Login::Password(password.expose()),
    };
    let observed = SharedObserved::default();
    let config = client::Config {
        keepalive_interval: Some(KEEPALIVE_INTERVAL),
        keepalive_max: KEEPALIVE_MAX,
        nodelay: true,
        ..client::Config::default()
    };
    let handler = ClientHandler { check, observed: observed.clone() };
    let address = (target.host.as_str(), target.port);
    let connect_failed =
        |what: &str, e: russh::Error| AdapterError::new(ErrorCode::ConnectFailed, format!("{what} {}:{}: {e}", target.host, target.port));
    let connected = match transport {
        Some(tcp) => client::connect_stream(Arc::new(config), tcp, handler).await,
        None => client::connect(Arc::new(config), address, handler).await,
    };
    let mut session = match connected {
        Ok(session) => session,
        Err(e) => {
            return Err(observe(&observed, |o| o.host_key_refused.take()).unwrap_or_else(|| connect_failed("connecting to", e)));
        }
    };
    let host_key = observe(&observed, |o| o.host_key.clone()).unwrap_or_default();

    let method = match login {
        Login::Password(_) => "password",
        Login::Key(_) => "private key",
    };
    let accepted = match login {
        Login::Password(password) => session.authenticate_password(&target.username, password).await,
        Login::Key(key) => {
            let hash = session.best_supported_rsa_hash().await.map_err(|e| connect_failed("negotiating with", e))?.flatten();
            session.authenticate_publickey(&target.username, PrivateKeyWithHashAlg::new(key, hash)).await
        }
    }
    .map_err(|e| connect_failed("authenticating at", e))?;
    if !accepted.success() {
        return Err(AdapterError::new(ErrorCode::AuthFailed, format!("the server refused the {method} for user {:?}", target.username)));
    }

    let channel = session
        .channel_open_session()
        .await
        .map_err(|e| AdapterError::new(ErrorCode::ShellRefused, format!("opening a session channel: {e}")))?;
    let (mut reader, writer) = channel.split();
    let mut early_output = Vec::new();
    writer
        .request_pty(true, &pty.term, pty.cols, pty.rows, 0, 0, &[])
        .await
        .map_err(|e| AdapterError::new(ErrorCode::ShellRefused, format!("requesting a PTY: {e}")))?;
    await_reply(&mut reader, &mut early_output, "the PTY").await?;
    writer.request_shell(true).await.map_err(|e| AdapterError::new(ErrorCode::ShellRefused, format!("requesting a shell: {e}")))?;
    await_reply(&mut reader, &mut early_output, "the shell").await?;
    Ok(OpenShell { session, reader, writer, early_output, host_key, observed })
}

/// Waits for the server's answer to a channel request, keeping any output that arrives meanwhile.
async fn await_reply(reader: &mut ChannelReadHalf, early_output: &mut Vec<Bytes>, what: &str) -> Result<(), AdapterError> {
    loop {
        match reader.wait().await {
            Some(ChannelMsg::Success) => return Ok(()),
            Some(ChannelMsg::Failure) => return Err(AdapterError::new(ErrorCode::ShellRefused, format!("the server refused {what}"))),
            Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                early_output.push(Bytes::copy_from_slice(&data))
            }
            Some(ChannelMsg::Close) | Some(ChannelMsg::Eof) | None => {
                return Err(AdapterError::new(
                    ErrorCode::ShellRefused,
                    format!("the server closed the channel instead of answering the request for {what}"),
                ));
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{HostKeyPolicy, Secret};

    fn target() -> SshTarget {
        SshTarget {
            host: "127.0.0.1".into(),
            port: 1,
            username: "u".into(),
            auth: SshAuth::Password(Secret::new("p")),
            host_key: HostKeyPolicy::Ignore,
        }
    }

    #[test]
    fn requests_are_checked_before_any_connection() {
        let pty = Pty::default();
        assert!(check_request(&target(), &pty).is_ok());
        let bad_targets =
            [SshTarget { host: " ".into(), ..target() }, SshTarget { port: 0, ..target() }, SshTarget { username: "".into(), ..target() }];
        for t in bad_targets {
            assert_eq!(check_request(&t, &pty).unwrap_err().code(), "adapter.target_invalid");
        }
        for p in
            [Pty { cols: 0, ..Pty::default() }, Pty { rows: 10_001, ..Pty::default() }, Pty { term: "x term".into(), ..Pty::default() }]
        {
            assert_eq!(check_request(&target(), &p).unwrap_err().code(), "adapter.target_invalid");
        }
    }

    #[test]
    fn an_unreadable_key_is_a_credentials_error_that_does_not_echo_the_key() {
        let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n";
        let e = read_key(pem, Some("secret-passphrase")).unwrap_err();
        assert_eq!(e.code(), "adapter.credentials_invalid");
        assert!(!e.to_string().contains("bm90") && !e.to_string().contains("secret-passphrase"), "{e}");
    }
}
