//! `RdpDesktop`: one RDP connection to the target, outliving the clients that
//! attach to it. A session task decodes the server's updates into the
//! framebuffer for the whole session (nothing is lost to a detach); each
//! attachment's pacer sends the tiles that changed; input, clipboard and file
//! transfer streams plug in beside it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ironrdp_cliprdr::CliprdrClient;
use ironrdp_connector::ClientConnector;
use ironrdp_displaycontrol::client::DisplayControlClient;
use ironrdp_dvc::DrdynvcClient;
use ironrdp_input::Database;
use ironrdp_rdpdr::Rdpdr;
use ironrdp_rdpdr_native::backend::NixRdpdrBackend;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch, Notify};

use crate::attachment::{self, Attachment, AttachmentParts};
use crate::clipboard::{self, BridgeBackend, ClipboardHub};
use crate::clipboard_bridge::{ClipboardBridge, ClipboardMode};
use crate::connect::{self, connector_config, ConnectTimings};
use crate::error::AdapterError;
use crate::events::{DesktopEvent, EndReason, EventSink};
use crate::files::{self, AttachState, TransferDir, TransferMode};
use crate::hub::{DesktopInfo, Hub, HubState, QualityChoice};
use crate::input::InputContext;
use crate::pacer::{PacerContext, RenderCounters};
use crate::quality::{ColorMode, Profile};
use crate::render_wire::notice;
use crate::screen::SharedScreen;
use crate::session::{self, SessionTask, WRITER_QUEUE};
use crate::target::{DesktopRequest, RdpTarget};

/// Connecting, TLS, NLA and the connection sequence must finish within this.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The name the session's transfer directory has on the target.
pub const TRANSFER_DRIVE: &str = "RAP_Transfers";

/// The resource's policy for this session.
pub struct SessionPolicy {
    pub profile: Profile,
    /// An explicit colour mode overrides the profile's.
    pub color_mode: Option<ColorMode>,
    /// Whether the client may change profile and colour mode at runtime.
    pub quality_adjustable: bool,
    pub clipboard: ClipboardMode,
    pub file_transfer: TransferMode,
    /// The session's transfer directory (redirected as [`TRANSFER_DRIVE`]); none: no drive, no file transfer.
    pub transfers: Option<TransferDir>,
}

impl fmt::Debug for SessionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionPolicy")
            .field("profile", &self.profile)
            .field("color_mode", &self.color_mode)
            .field("quality_adjustable", &self.quality_adjustable)
            .field("clipboard", &self.clipboard)
            .field("file_transfer", &self.file_transfer)
            .field("transfers", &self.transfers.as_ref().map(TransferDir::path))
            .finish()
    }
}

impl Default for SessionPolicy {
    fn default() -> SessionPolicy {
        SessionPolicy {
            profile: Profile::Balanced,
            color_mode: None,
            quality_adjustable: true,
            clipboard: ClipboardMode::Disabled,
            file_transfer: TransferMode::Disabled,
            transfers: None,
        }
    }
}

/// A running RDP session. Dropping it stops the session.
pub struct RdpDesktop {
    hub: Arc<Hub>,
    screen: Arc<SharedScreen>,
    parts: Arc<AttachmentParts>,
    clipboard: Option<Arc<ClipboardHub>>,
    transfers: Option<Arc<TransferDir>>,
    file_mode: TransferMode,
    stop: Arc<Notify>,
    closed: watch::Receiver<bool>,
    runtime: tokio::runtime::Handle,
    certificate: String,
    timings: ConnectTimings,
    counters: Arc<Mutex<RenderCounters>>,
}

impl fmt::Debug for RdpDesktop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RdpDesktop").field("certificate", &self.certificate).field("ended", &self.hub.ended()).finish_non_exhaustive()
    }
}

impl RdpDesktop {
    /// Connects (TCP, TLS with the certificate policy, NLA) and starts the
    /// session task. `events` gets `Started` (before this returns `Ok`) and
    /// later one `Ended`, or `Failed` with the same error this returns. Must be
    /// called inside a tokio runtime; the desktop's tasks run on it.
    pub async fn start(
        target: RdpTarget,
        desktop: DesktopRequest,
        policy: SessionPolicy,
        events: EventSink,
    ) -> Result<RdpDesktop, AdapterError> {
        RdpDesktop::start_over(target, desktop, policy, events, None).await
    }

    /// Like `start`, over `transport` when given: a TCP connection already made to something that carries
    /// it to the target (the adapter's splice onto a VPN owner's dial stream).
    pub async fn start_over(
        target: RdpTarget,
        desktop: DesktopRequest,
        policy: SessionPolicy,
        events: EventSink,
        transport: Option<tokio::net::TcpStream>,
    ) -> Result<RdpDesktop, AdapterError> {
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let clipboard = (policy.clipboard != ClipboardMode::Disabled)
            .then(|| Arc::new(ClipboardHub::new(ClipboardBridge::new(policy.clipboard), commands_tx.clone())));
        let drive = policy.transfers.as_ref().filter(|_| policy.file_transfer != TransferMode::Disabled).map(|d| d.path().to_path_buf());
        let config = connector_config(&target, desktop);
        let channels = clipboard.clone();
        let attempt = connect::connect(&target, move |client_addr| build_connector(config, client_addr, channels, drive), transport);
        let connected =
            tokio::time::timeout(START_TIMEOUT, attempt).await.unwrap_or_else(|_| Err(connect::start_timeout(&target, START_TIMEOUT)));
        drop(target); // its credentials are zeroed now
        let connected = match connected {
            Ok(connected) => connected,
            Err(error) => {
                events(DesktopEvent::Failed { error: error.clone() });
                return Err(error);
            }
        };
        let connect::Connected { result, framed, certificate, timings } = connected;

        let size = result.desktop_size;
        let hub = Arc::new(Hub::new(
            DesktopInfo { width: size.width, height: size.height, resizable: false },
            QualityChoice { profile: policy.profile, color_mode: policy.color_mode, adjustable: policy.quality_adjustable },
        ));
        let screen = Arc::new(SharedScreen::new(size.width, size.height));
        let stop = Arc::new(Notify::new());
        let (closed_tx, closed) = watch::channel(false);
        let runtime = tokio::runtime::Handle::current();

        let (reader, writer_half) = ironrdp_tokio::split_tokio_framed(framed);
        let (writer, frames) = mpsc::channel(WRITER_QUEUE);
        runtime.spawn(async move {
            let _ = session::run_writer(writer_half, frames).await;
        });
        let task = SessionTask::new(result, reader, writer.clone(), screen.clone(), hub.clone(), commands, stop.clone());
        events(DesktopEvent::Started);
        {
            let hub = hub.clone();
            runtime.spawn(async move {
                let reason = task.run().await;
                hub.end(reason);
                // `end` keeps the first reason: a stop that raced the server's end reports what happened first.
                let reason = hub.ended().unwrap_or(EndReason::Stopped);
                events(DesktopEvent::Ended { reason });
                let _ = closed_tx.send(true);
            });
        }

        let counters = Arc::new(Mutex::new(RenderCounters::default()));
        let parts = Arc::new(AttachmentParts {
            hub: hub.clone(),
            input: InputContext {
                writer,
                keys: Arc::new(tokio::sync::Mutex::new(Database::new())),
                commands: commands_tx,
                hub: hub.clone(),
                screen: screen.clone(),
            },
            pacer: PacerContext { screen: screen.clone(), hub: hub.clone(), counters: counters.clone() },
        });
        Ok(RdpDesktop {
            hub,
            screen,
            parts,
            clipboard,
            transfers: policy.transfers.map(Arc::new),
            file_mode: policy.file_transfer,
            stop,
            closed,
            runtime,
            certificate,
            timings,
            counters,
        })
    }

    /// Plugs a client in: `input` carries the input stream's frames (after its
    /// kind byte), `acks` is the render stream's read half (its `frame_ack`s),
    /// `output` its write half. The client gets the `desktop` message and a full
    /// refresh. A previous attachment is taken over: its render ends.
    pub fn attach<I, A, W>(&self, input: I, acks: A, output: W) -> Attachment
    where
        I: AsyncRead + Unpin + Send + 'static,
        A: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        attachment::spawn(&self.runtime, self.parts.clone(), input, acks, output)
    }

    /// Serves the current attachment's clipboard stream (kind 7, after its kind
    /// byte) until the client closes it or the attachment ends. With clipboard
    /// `disabled`, the stream gets a `clipboard.direction_refused` notice and ends.
    pub fn attach_clipboard<R, W>(&self, input: R, output: W)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let hub = self.hub.clone();
        let Some((id, clipboard)) = self.hub.attached().zip(self.clipboard.clone()) else {
            let message =
                if self.hub.attached().is_none() { "no client is attached" } else { "this resource does not allow the clipboard" };
            self.runtime.spawn(refuse(output, notice("clipboard.direction_refused", message)));
            return;
        };
        self.runtime.spawn(async move { clipboard::serve(clipboard, id, hub.subscribe(), input, output).await });
    }

    /// Serves the current attachment's file-transfer stream (kind 8, after its
    /// kind byte) with the session's transfer directory. A detach blocks a
    /// download in progress; a takeover ends the transfer. (`Sync` streams:
    /// `files::serve` holds the output across awaits behind shared references.)
    pub fn attach_files<R, W>(&self, input: R, output: W)
    where
        R: AsyncRead + Unpin + Send + Sync + 'static,
        W: AsyncWrite + Unpin + Send + Sync + 'static,
    {
        let Some((id, dir)) = self.hub.attached().zip(self.transfers.clone()).filter(|_| self.file_mode != TransferMode::Disabled) else {
            self.runtime.spawn(refuse(output, notice("file_transfer.direction_refused", "this resource does not allow file transfer")));
            return;
        };
        let mode = self.file_mode;
        let (state_tx, state) = watch::channel(AttachState::Controller);
        let changes = self.hub.subscribe();
        self.runtime.spawn(follow_controller(id, changes, state_tx));
        self.runtime.spawn(async move {
            let _ = files::serve(&dir, mode, input, output, state).await;
        });
    }

    /// Unplugs the current client (its render ends); the session goes on.
    pub fn detach(&self) {
        self.hub.detach_current();
    }

    /// Closes the RDP connection. `Ended { reason: Stopped }` follows unless the session had already ended.
    pub fn stop(&self) {
        self.hub.end(EndReason::Stopped);
        self.stop.notify_one();
    }

    /// Waits until the connection is closed and `Ended` has been sent.
    pub async fn closed(&self) {
        let mut closed = self.closed.clone();
        let _ = closed.wait_for(|c| *c).await;
    }

    /// Why the session ended, once it has.
    pub fn ended(&self) -> Option<EndReason> {
        self.hub.ended()
    }

    /// The server certificate's SHA-256 fingerprint (`SHA256:…`), worth reporting when the policy was `Ignore`.
    pub fn certificate_fingerprint(&self) -> &str {
        &self.certificate
    }

    /// How long each connection phase took.
    pub fn connect_timings(&self) -> ConnectTimings {
        self.timings
    }

    /// Render counters over all attachments so far.
    pub fn counters(&self) -> RenderCounters {
        *self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The desktop's current size.
    pub fn size(&self) -> (u16, u16) {
        self.screen.lock().size()
    }

    /// The session's transfer directory on this node, when it has one.
    pub fn transfer_dir(&self) -> Option<&Path> {
        self.transfers.as_deref().map(TransferDir::path)
    }

    /// Waits until every part of the desktop was painted at least once and no
    /// update came for `quiet`, then returns a copy of the framebuffer (RGBA).
    /// For probes and tests; `None` when `limit` passed first.
    pub async fn first_full_frame(&self, quiet: Duration, limit: Duration) -> Option<(u16, u16, Vec<u8>)> {
        let mut changes = self.screen.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            changes.borrow_and_update();
            if self.screen.lock().fully_painted() {
                match tokio::time::timeout(quiet, changes.changed()).await {
                    Err(_) => {
                        let screen = self.screen.lock();
                        let (w, h) = screen.size();
                        return Some((w, h, screen.image.data().to_vec()));
                    }
                    Ok(Err(_)) => return None,
                    Ok(Ok(())) => continue,
                }
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }
}

impl Drop for RdpDesktop {
    fn drop(&mut self) {
        self.stop();
    }
}

fn build_connector(
    config: ironrdp_connector::Config,
    client_addr: std::net::SocketAddr,
    clipboard: Option<Arc<ClipboardHub>>,
    drive: Option<PathBuf>,
) -> ClientConnector {
    let drdynvc = DrdynvcClient::new().with_dynamic_channel(DisplayControlClient::new(|_| Ok(Vec::new())));
    let mut connector = ClientConnector::new(config, client_addr).with_static_channel(drdynvc);
    if let Some(hub) = clipboard {
        connector.attach_static_channel(CliprdrClient::new(Box::new(BridgeBackend::new(hub))));
    }
    if let Some(path) = drive {
        let backend = NixRdpdrBackend::new(path.to_string_lossy().into_owned());
        connector.attach_static_channel(Rdpdr::new(Box::new(backend), "RAP".into()).with_drives(Some(vec![(1, TRANSFER_DRIVE.into())])));
    }
    connector
}

/// Writes one notice on a stream we refuse to serve, then closes it.
async fn refuse<W: AsyncWrite + Unpin>(mut output: W, message: serde_json::Value) {
    use tokio::io::AsyncWriteExt as _;
    let _ = session_frame::write_frame(&mut output, &session_frame::Frame::json(&message)).await;
    let _ = output.shutdown().await;
}

/// Maps the attachment's fate to the file transfer's lifecycle.
async fn follow_controller(id: u64, mut changes: watch::Receiver<HubState>, state: watch::Sender<AttachState>) {
    loop {
        let next = {
            let s = changes.borrow_and_update();
            match s.attached {
                _ if s.ended.is_some() => Some(AttachState::Detached),
                Some(current) if current == id => None,
                Some(_) => Some(AttachState::TakenOver),
                None => Some(AttachState::Detached),
            }
        };
        if let Some(next) = next {
            let _ = state.send(next);
            return;
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = state.closed() => return,
        }
    }
}
