//! What a caller holds for one session stream: a QUIC bidirectional stream
//! as `AsyncRead` + `AsyncWrite` (or its two halves), so the entry and the
//! adapter splice a session's bytes with `tokio::io::copy` and nothing
//! else on the per-message path.
//!
//! The halves wrap quinn's streams for two reasons: an end decided here
//! (the session stopped being served, the class was withdrawn: see
//! `session_table`) must surface on the next read or write and be passed on
//! to the far end as a reset or stop with its `StreamReason`; and every way
//! a stream can fail (refused, reset through relays, connection closed)
//! must reach the caller as an `io::Error` carrying a
//! `FabricError::StreamEnded` whose reason names why.

use crate::class::Class;
use crate::error::FabricError;
use crate::session_table::Registration;
use crate::wire::{SessionId, StreamReason};
use bytes::{Buf, Bytes};
use quinn::{ConnectionError, ReadError, RecvStream, SendStream, VarInt, WriteError};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

// Checked when compiling: the streams move between tasks and threads (a
// napi future runs on a thread pool; each direction gets its own task).
const _: () = {
    fn movable<T: Send + Sync + 'static>() {}
    let _ = movable::<SessionStream>;
    let _ = movable::<IncomingSessionStream>;
    let _ = movable::<SessionSend>;
    let _ = movable::<SessionRecv>;
};

/// A session stream delivered to the node that serves the session.
pub struct IncomingSessionStream {
    /// The entry node that opened it.
    pub from: String,
    /// The last relay it came through, when it did not come directly.
    pub via: Option<String>,
    pub class: Class,
    pub session_id: SessionId,
    pub attachment_id: SessionId,
    pub stream: SessionStream,
}

/// Both halves of one session stream.
pub struct SessionStream {
    send: SessionSend,
    recv: SessionRecv,
}

/// The writing half: bytes to the other end, in order.
pub struct SessionSend {
    send: SendStream,
    end: EndSignal,
    registration: Arc<Registration>,
}

/// The reading half: the other end's bytes, in order; `Ok(0)` once it finished cleanly.
pub struct SessionRecv {
    recv: RecvStream,
    /// Bytes read along with the header, handed out before the stream's own.
    prefix: Bytes,
    end: EndSignal,
    registration: Arc<Registration>,
}

impl SessionStream {
    pub(crate) fn new(send: SendStream, recv: RecvStream, prefix: Bytes, registration: Registration) -> SessionStream {
        let registration = Arc::new(registration);
        SessionStream {
            send: SessionSend { send, end: EndSignal::new(&registration), registration: registration.clone() },
            recv: SessionRecv { recv, prefix, end: EndSignal::new(&registration), registration },
        }
    }

    pub fn split(self) -> (SessionSend, SessionRecv) {
        (self.send, self.recv)
    }

    /// Gives the stream up in both directions; the other end's reads and
    /// writes fail with `reason`.
    pub fn abort(&mut self, reason: StreamReason) {
        self.send.reset(reason);
        self.recv.stop(reason);
    }
}

impl SessionSend {
    /// Abandons what is not yet delivered; the other end's reads fail with `reason`.
    pub fn reset(&mut self, reason: StreamReason) {
        let _ = self.send.reset(VarInt::from_u32(reason.code()));
    }
}

impl SessionRecv {
    /// Stops reading; the other end's writes fail with `reason`.
    pub fn stop(&mut self, reason: StreamReason) {
        let _ = self.recv.stop(VarInt::from_u32(reason.code()));
    }
}

/// A half dropped after the table ended the stream passes the reason on
/// (instead of quinn's clean finish), so the far end learns it even when
/// only the other half was being read or written.
impl Drop for SessionSend {
    fn drop(&mut self) {
        let ended = *self.registration.ended.borrow();
        if let Some(reason) = ended {
            self.reset(reason);
        }
    }
}

impl Drop for SessionRecv {
    fn drop(&mut self) {
        let ended = *self.registration.ended.borrow();
        if let Some(reason) = ended {
            self.stop(reason);
        }
    }
}

/// Resolves once the session table ends the stream. Its sender goes away
/// only with the table entry, which outlives both halves, so a closed
/// channel means "never".
struct EndSignal {
    ended: Pin<Box<dyn Future<Output = StreamReason> + Send + Sync>>,
}

impl EndSignal {
    fn new(registration: &Registration) -> EndSignal {
        let mut ended = registration.ended.clone();
        EndSignal {
            ended: Box::pin(async move {
                loop {
                    let current = *ended.borrow_and_update();
                    if let Some(reason) = current {
                        return reason;
                    }
                    if ended.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }),
        }
    }

    /// The reason, once the stream has been ended (and from then on).
    fn poll(&mut self, cx: &mut Context<'_>) -> Option<StreamReason> {
        match self.ended.as_mut().poll(cx) {
            Poll::Ready(reason) => {
                // Keep answering with it: a finished future must not be polled again.
                self.ended = Box::pin(std::future::ready(reason));
                Some(reason)
            }
            Poll::Pending => None,
        }
    }
}

fn ended(kind: io::ErrorKind, reason: &'static str, message: String) -> io::Error {
    io::Error::new(kind, FabricError::StreamEnded { reason, message })
}

fn ended_here(reason: StreamReason) -> io::Error {
    ended(io::ErrorKind::ConnectionAborted, reason.name(), "ended by this node".into())
}

/// The known close reasons of a mesh connection (`shared::close_code`); any
/// other loss reads as `network_unreachable`.
const CLOSE_REASONS: [&str; 10] = [
    "shutdown",
    "certificate_revoked",
    "certificate_expired",
    "certificate_invalid",
    "wrong_cluster",
    "wrong_node",
    "duplicate",
    "peer_draining",
    "policy_denied",
    "renewed",
];

fn connection_reason(error: &ConnectionError) -> &'static str {
    match error {
        ConnectionError::ApplicationClosed(close) => {
            CLOSE_REASONS.iter().copied().find(|r| r.as_bytes() == &close.reason[..]).unwrap_or("network_unreachable")
        }
        ConnectionError::TimedOut => "heartbeat_timeout",
        _ => "network_unreachable",
    }
}

fn lost(error: ConnectionError) -> io::Error {
    ended(io::ErrorKind::ConnectionAborted, connection_reason(&error), format!("the connection closed: {error}"))
}

fn reason_of(code: VarInt) -> &'static str {
    StreamReason::from_code(code.into_inner()).name()
}

fn read_error(error: ReadError) -> io::Error {
    match error {
        ReadError::Reset(code) => ended(io::ErrorKind::ConnectionReset, reason_of(code), "reset by the other end".into()),
        ReadError::ConnectionLost(e) => lost(e),
        other => ended(io::ErrorKind::NotConnected, StreamReason::Closed.name(), other.to_string()),
    }
}

fn write_error(error: WriteError) -> io::Error {
    match error {
        WriteError::Stopped(code) => ended(io::ErrorKind::ConnectionReset, reason_of(code), "stopped by the other end".into()),
        WriteError::ConnectionLost(e) => lost(e),
        other => ended(io::ErrorKind::NotConnected, StreamReason::Closed.name(), other.to_string()),
    }
}

impl AsyncRead for SessionRecv {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(reason) = this.end.poll(cx) {
            this.stop(reason);
            return Poll::Ready(Err(ended_here(reason)));
        }
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(ready!(this.recv.poll_read_buf(cx, buf)).map_err(read_error))
    }
}

impl AsyncWrite for SessionSend {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(reason) = this.end.poll(cx) {
            this.reset(reason);
            return Poll::Ready(Err(ended_here(reason)));
        }
        Poll::Ready(ready!(SendStream::poll_write(Pin::new(&mut this.send), cx, buf)).map_err(write_error))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Finishes the stream: the other end reads what was written, then `Ok(0)`.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(reason) = this.end.poll(cx) {
            this.reset(reason);
            return Poll::Ready(Err(ended_here(reason)));
        }
        // An error only says it was already finished or reset: nothing left to do.
        let _ = this.send.finish();
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for SessionStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().recv).poll_read(cx, buf)
    }
}

impl AsyncWrite for SessionStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().send).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().send).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().send).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quinn::ApplicationClose;

    fn reason(error: &io::Error) -> &'static str {
        FabricError::in_io(error).map(FabricError::code).unwrap_or("none")
    }

    #[test]
    fn a_reset_or_stop_reads_as_the_reason_its_code_names() {
        assert_eq!(reason(&read_error(ReadError::Reset(VarInt::from_u32(6)))), "session_not_served");
        assert_eq!(reason(&write_error(WriteError::Stopped(VarInt::from_u32(7)))), "entry_not_allowed");
        assert_eq!(reason(&read_error(ReadError::Reset(VarInt::from_u32(0)))), "stream_closed");
        assert_eq!(reason(&read_error(ReadError::ClosedStream)), "stream_closed");
    }

    #[test]
    fn a_lost_connection_reads_as_its_close_reason() {
        let closed = |why: &str| {
            ConnectionError::ApplicationClosed(ApplicationClose { error_code: VarInt::from_u32(1), reason: Bytes::from(why.to_string()) })
        };
        assert_eq!(reason(&read_error(ReadError::ConnectionLost(closed("certificate_revoked")))), "certificate_revoked");
        assert_eq!(reason(&write_error(WriteError::ConnectionLost(closed("shutdown")))), "shutdown");
        assert_eq!(reason(&read_error(ReadError::ConnectionLost(closed("made up")))), "network_unreachable");
        assert_eq!(reason(&read_error(ReadError::ConnectionLost(ConnectionError::TimedOut))), "heartbeat_timeout");
        assert_eq!(reason(&read_error(ReadError::ConnectionLost(ConnectionError::LocallyClosed))), "network_unreachable");
    }
}
