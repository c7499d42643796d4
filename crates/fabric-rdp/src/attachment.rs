//! One client's attachment: its input stream drives the desktop, its render
//! stream receives tiles (and carries its `frame_ack`s back). Input, render
//! and the takeover watch run concurrently in one task, so a client that does
//! not read its render stream can never hold up its own keystrokes (or a
//! takeover). When it ends, keys and buttons still down are released.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::events::AttachmentEnd;
use crate::hub::Hub;
use crate::input::{self, InputContext};
use crate::pacer::{self, PacerContext};

/// How long closing a client's render stream may take before it is dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running attachment. Dropping it leaves the attachment running.
#[derive(Debug)]
pub struct Attachment {
    id: u64,
    done: oneshot::Receiver<AttachmentEnd>,
}

impl Attachment {
    /// This attachment's number within its desktop (increasing).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Waits until the attachment ends and says why.
    pub async fn finished(self) -> AttachmentEnd {
        self.done.await.unwrap_or(AttachmentEnd::ClientGone)
    }
}

pub(crate) struct AttachmentParts {
    pub hub: Arc<Hub>,
    pub input: InputContext,
    pub pacer: PacerContext,
}

pub(crate) fn spawn<I, A, W>(runtime: &tokio::runtime::Handle, parts: Arc<AttachmentParts>, input: I, acks: A, output: W) -> Attachment
where
    I: AsyncRead + Unpin + Send + 'static,
    A: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    // Attached on the caller's thread: an attach followed at once by another is a takeover, in that order.
    let id = parts.hub.attach();
    let (tx, done) = oneshot::channel();
    runtime.spawn(async move {
        let end = run(id, &parts, input, acks, output).await;
        let _ = tx.send(end);
    });
    Attachment { id, done }
}

async fn run<I, A, W>(id: u64, parts: &AttachmentParts, input: I, acks: A, mut output: W) -> AttachmentEnd
where
    I: AsyncRead + Unpin,
    A: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (notices_tx, notices) = mpsc::unbounded_channel();
    let end = {
        let keys = input::pump_input(&parts.input, input, &notices_tx);
        let screen = pacer::run(&parts.pacer, acks, &mut output, notices);
        let replaced = unplugged(id, &parts.hub);
        tokio::select! {
            end = keys => end,
            end = screen => end,
            end = replaced => end,
        }
    };
    if end == AttachmentEnd::ClientGone {
        parts.hub.detach(id);
    }
    input::release_all(&parts.input).await;
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, output.shutdown()).await;
    end
}

/// Resolves when this attachment is no longer the current one, or the session ended.
async fn unplugged(id: u64, hub: &Hub) -> AttachmentEnd {
    let mut changes = hub.subscribe();
    loop {
        {
            let s = changes.borrow_and_update();
            if let Some(reason) = &s.ended {
                return AttachmentEnd::SessionEnded(reason.clone());
            }
            match s.attached {
                Some(current) if current == id => {}
                Some(_) => return AttachmentEnd::TakenOver,
                None => return AttachmentEnd::Detached,
            }
        }
        if changes.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}
