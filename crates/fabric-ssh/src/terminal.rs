//! `SshTerminal`: one SSH connection with one PTY shell, outliving the
//! clients that attach to it. The shell's output is read by one task for the
//! whole session (so it is never lost to a detach), handed to whoever is
//! attached through the [`Hub`], and kept in a bounded replay buffer while
//! nobody is.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::client::{self, Msg};
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Disconnect};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Notify};

use crate::attachment::{self, Attachment};
use crate::connect::{observe, open_shell, ClientHandler, OpenShell, SharedObserved};
use crate::error::{AdapterError, ErrorCode};
use crate::events::{EndReason, EventSink, TerminalEvent};
use crate::hub::Hub;
use crate::target::{Pty, SshTarget};
use tokio::net::TcpStream;

/// Connecting, logging in and opening the shell must finish within this.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running shell on an SSH target. Dropping it stops the session.
pub struct SshTerminal {
    hub: Arc<Hub>,
    shell: Arc<ChannelWriteHalf<Msg>>,
    stop: Arc<Notify>,
    closed: watch::Receiver<bool>,
    runtime: tokio::runtime::Handle,
    host_key: String,
}

impl fmt::Debug for SshTerminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshTerminal").field("host_key", &self.host_key).field("ended", &self.hub.ended()).finish_non_exhaustive()
    }
}

impl SshTerminal {
    /// Connects, checks the host key, logs in and opens a PTY shell. `events`
    /// gets `Started` (before this returns `Ok`) and later one `Ended`, or
    /// `Failed` with the same error this returns. Must be called inside a
    /// tokio runtime; the terminal's tasks run on it.
    pub async fn start(target: SshTarget, pty: Pty, events: EventSink) -> Result<SshTerminal, AdapterError> {
        SshTerminal::start_over(target, pty, events, None).await
    }

    /// Like `start`, over `transport` when given: a TCP connection already made to something that carries
    /// it to the target (the adapter's splice onto a VPN owner's dial stream). The host key is checked
    /// against the target's pin all the same.
    pub async fn start_over(
        target: SshTarget,
        pty: Pty,
        events: EventSink,
        transport: Option<TcpStream>,
    ) -> Result<SshTerminal, AdapterError> {
        let opened = tokio::time::timeout(START_TIMEOUT, open_shell(&target, &pty, transport)).await.unwrap_or_else(|_| {
            Err(AdapterError::new(
                ErrorCode::ConnectFailed,
                format!("{}:{} did not open a shell within {} s", target.host, target.port, START_TIMEOUT.as_secs()),
            ))
        });
        drop(target); // no longer needed: its credentials are zeroed now
        let shell = match opened {
            Ok(shell) => shell,
            Err(error) => {
                events(TerminalEvent::Failed { error: error.clone() });
                return Err(error);
            }
        };
        Ok(SshTerminal::run(shell, events))
    }

    fn run(opened: OpenShell, events: EventSink) -> SshTerminal {
        let OpenShell { session, reader, writer, early_output, host_key, observed } = opened;
        let hub = Arc::new(Hub::new());
        let stop = Arc::new(Notify::new());
        let (closed_tx, closed) = watch::channel(false);
        let runtime = tokio::runtime::Handle::current();
        events(TerminalEvent::Started);
        let shell_reader = ShellReader { reader, session, observed, hub: hub.clone(), stop: stop.clone(), events, closed: closed_tx };
        runtime.spawn(shell_reader.run(early_output));
        SshTerminal { hub, shell: Arc::new(writer), stop, closed, runtime, host_key }
    }

    /// Plugs a client in: `input` carries the input stream's frames (after its
    /// stream-kind byte), `output` receives render frames. Output kept while
    /// detached is written first. A previous attachment is taken over: its
    /// output ends. Works after the session ended too: the last output is
    /// written, then the attachment ends with `SessionEnded`.
    pub fn attach<R, W>(&self, input: R, output: W) -> Attachment
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        attachment::spawn(&self.runtime, self.hub.clone(), self.shell.clone(), input, output)
    }

    /// Unplugs the current client (its output ends); the shell goes on and its output is kept for the next attach.
    pub fn detach(&self) {
        self.hub.detach_current();
    }

    /// Closes the SSH connection. `Ended { reason: Stopped }` follows unless the session had already ended.
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

    /// The server's host key fingerprint (`SHA256:…`), worth reporting when the policy was `Ignore`.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.host_key
    }
}

impl Drop for SshTerminal {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The task that reads the shell for the whole session, then reports how it ended.
struct ShellReader {
    reader: ChannelReadHalf,
    session: client::Handle<ClientHandler>,
    observed: SharedObserved,
    hub: Arc<Hub>,
    stop: Arc<Notify>,
    events: EventSink,
    closed: watch::Sender<bool>,
}

impl ShellReader {
    async fn run(mut self, early_output: Vec<Bytes>) {
        for chunk in early_output {
            self.hub.push_output(chunk).await;
        }
        let mut exit = None;
        let mut stopped = false;
        loop {
            tokio::select! {
                biased;
                _ = self.stop.notified() => {
                    stopped = true;
                    break;
                }
                message = self.reader.wait() => match message {
                    Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                        self.hub.push_output(Bytes::copy_from_slice(&data)).await;
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => exit = Some(EndReason::ShellExited { status: exit_status }),
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => exit = Some(EndReason::ShellKilled { signal: format!("{signal_name:?}") }),
                    Some(ChannelMsg::Close) | None => break,
                    Some(_) => {}
                },
            }
        }
        let reason = match exit {
            _ if stopped => EndReason::Stopped,
            Some(reason) => reason,
            None => EndReason::ConnectionClosed { detail: closing_note(&self.session, &self.observed) },
        };
        self.hub.end(reason);
        let _ = self.session.disconnect(Disconnect::ByApplication, "session ended", "en").await;
        drop(self.session);
        // `end` keeps the first reason: a stop that raced the shell's exit reports what happened first.
        let reason = self.hub.ended().unwrap_or(EndReason::Stopped);
        (self.events)(TerminalEvent::Ended { reason });
        let _ = self.closed.send(true);
    }
}

fn closing_note(session: &client::Handle<ClientHandler>, observed: &SharedObserved) -> String {
    if let Some(note) = observe(observed, |o| o.disconnect.clone()) {
        return note;
    }
    if session.is_closed() {
        "the connection to the server was lost".into()
    } else {
        "the server closed the shell's channel".into()
    }
}
