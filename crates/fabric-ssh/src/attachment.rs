//! One client's attachment: its input stream drives the shell, its render
//! stream receives the shell's output. Input and output run concurrently in
//! one task, so a client that does not read its output can never stop its
//! own keystrokes (or a takeover) from getting through.

use std::sync::Arc;
use std::time::Duration;

use russh::client::Msg;
use russh::ChannelWriteHalf;
use session_frame::{write_frame, Frame, FrameDecoder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::events::AttachmentEnd;
use crate::hub::{Hub, Take};
use crate::input::{parse_input, InputCommand};
use crate::output_queue::RENDER_FRAME_MAX;

/// How long closing a client's render stream may take before it is dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Bytes read from an input stream at a time.
const INPUT_READ: usize = 16 * 1024;

/// A running attachment. Dropping it leaves the attachment running.
#[derive(Debug)]
pub struct Attachment {
    id: u64,
    done: oneshot::Receiver<AttachmentEnd>,
}

impl Attachment {
    /// This attachment's number within its terminal (increasing).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Waits until the attachment ends and says why.
    pub async fn finished(self) -> AttachmentEnd {
        // The task always sends before it ends; a dropped sender means its runtime went away.
        self.done.await.unwrap_or(AttachmentEnd::ClientGone)
    }
}

pub(crate) fn spawn<R, W>(
    runtime: &tokio::runtime::Handle,
    hub: Arc<Hub>,
    shell: Arc<ChannelWriteHalf<Msg>>,
    input: R,
    output: W,
) -> Attachment
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    // Attached on the caller's thread: an attach followed at once by another is a takeover, in that order.
    let id = hub.attach();
    let (tx, done) = oneshot::channel();
    runtime.spawn(async move {
        let end = run(id, &hub, &shell, input, output).await;
        let _ = tx.send(end);
    });
    Attachment { id, done }
}

async fn run<R, W>(id: u64, hub: &Hub, shell: &ChannelWriteHalf<Msg>, input: R, mut output: W) -> AttachmentEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let end = {
        let keys = pump_input(shell, input);
        let screen = pump_output(id, hub, &mut output);
        let replaced = unplugged(id, hub);
        tokio::pin!(keys, screen, replaced);
        tokio::select! {
            end = &mut keys => end,
            end = &mut screen => {
                if end == AttachmentEnd::ClientGone {
                    // Its render stream is gone: keys the client sent before closing still reach the shell
                    // (until its input ends, a takeover, or the grace period).
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async { tokio::select! { _ = &mut keys => {}, _ = &mut replaced => {} } }).await;
                }
                end
            }
            end = &mut replaced => end,
        }
    };
    if matches!(end, AttachmentEnd::ClientGone | AttachmentEnd::ProtocolError(_)) {
        hub.detach(id);
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, output.shutdown()).await;
    end
}

/// Keystrokes and resizes to the shell until the client goes or sends something wrong.
async fn pump_input<R: AsyncRead + Unpin>(shell: &ChannelWriteHalf<Msg>, mut input: R) -> AttachmentEnd {
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; INPUT_READ];
    loop {
        let n = match input.read(&mut buf).await {
            Ok(0) | Err(_) => return AttachmentEnd::ClientGone,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => return AttachmentEnd::ProtocolError(e.into()),
            };
            let sent = match parse_input(frame) {
                Ok(InputCommand::Keys(bytes)) => shell.data_bytes(bytes).await,
                Ok(InputCommand::Resize { cols, rows }) => shell.window_change(cols, rows, 0, 0).await,
                Err(e) => return AttachmentEnd::ProtocolError(e),
            };
            if sent.is_err() {
                // The channel is gone: the SSH reader ends the session; wait for that to be flushed out.
                return std::future::pending().await;
            }
        }
    }
}

/// Output to the client until the session ends (after its last output) or the client cannot take it.
async fn pump_output<W: AsyncWrite + Unpin>(id: u64, hub: &Hub, output: &mut W) -> AttachmentEnd {
    let mut changes = hub.subscribe();
    loop {
        changes.borrow_and_update();
        match hub.take(id, RENDER_FRAME_MAX) {
            Take::Payloads(payloads) => {
                for payload in payloads {
                    if write_frame(output, &Frame::data(payload)).await.is_err() {
                        return AttachmentEnd::ClientGone;
                    }
                }
                if output.flush().await.is_err() {
                    return AttachmentEnd::ClientGone;
                }
            }
            Take::Ended(reason) => return AttachmentEnd::SessionEnded(reason),
            // `unplugged` says which; this branch only has to stop writing.
            Take::NotAttached => return std::future::pending().await,
            Take::Nothing => {
                if changes.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        }
    }
}

/// Resolves when this attachment is no longer the current one.
async fn unplugged(id: u64, hub: &Hub) -> AttachmentEnd {
    let mut changes = hub.subscribe();
    loop {
        let attached = changes.borrow_and_update().attached();
        match attached {
            Some(current) if current == id => {}
            Some(_) => return AttachmentEnd::TakenOver,
            None => return AttachmentEnd::Detached,
        }
        if changes.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}
