//! One client connection, whatever its transport: written once against the
//! `web_transport_trait::Session` that both `web-transport-quinn` (HTTP/3)
//! and `qmux` (WebSocket) implement.
//!
//! A single task owns the connection's state (awaiting hello → admitted) and
//! the control stream's sending half; helper tasks accept streams, read the
//! control stream and splice channel streams, and report to it over one
//! channel. Any protocol violation ends in [`Connection::refuse`]: an error
//! event, then this transport closed; nothing outside it is touched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use session_frame::{Frame, FrameDecoder, FrameType, StreamKind};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use web_transport_trait::{RecvStream, SendStream, Session};

use crate::errors::{EntryCode, ErrorEvent};
use crate::handler::{Admission, CloseReason, ConnectionClosed, ConnectionId, EntryHandler, Hello, Notice, Transport};
use crate::splice::{splice, SpliceEnd};

/// The limits one connection runs under (see `EntryConfig`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub hello_timeout: Duration,
    /// How long the handler may take to decide on a hello.
    pub admit_timeout: Duration,
    pub max_streams: usize,
    pub close_grace: Duration,
}

/// What the connection needs from the server.
pub(crate) struct ConnectionCtx {
    pub id: ConnectionId,
    pub transport: Transport,
    pub remote_addr: SocketAddr,
    pub trace_id: String,
    pub handler: Arc<dyn EntryHandler>,
    pub limits: ConnectionLimits,
    /// Set when the server is full: the client's hello is answered with this code.
    pub refuse_with: Option<EntryCode>,
    /// Notices the application pushes; registered under `id` once admitted.
    pub notices: mpsc::Receiver<Notice>,
    pub register: Box<dyn Fn(bool) + Send>,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

enum Event<S: Session> {
    Accepted(S::SendStream, S::RecvStream),
    AcceptEnded,
    Kind(StreamKind, S::SendStream, S::RecvStream),
    BadKind(String, S::SendStream),
    Control(Frame),
    ControlBad(session_frame::FrameError),
    ControlEnded,
    Admitted(Result<Admission, ErrorEvent>),
    Channel(SpliceEnd),
}

enum State {
    AwaitingHello,
    Admitting,
    Admitted(Admission),
}

struct Connection<S: Session> {
    session: S,
    ctx: ConnectionCtx,
    events: mpsc::UnboundedSender<Event<S>>,
    tasks: JoinSet<()>,
    control: Option<S::SendStream>,
    state: State,
    streams: usize,
    detached: bool,
    hello_seen: bool,
}

/// Serves one client connection to its end and tells the handler how it ended.
pub(crate) async fn serve<S: Session>(session: S, ctx: ConnectionCtx) {
    let (events, mut inbox) = mpsc::unbounded_channel();
    let mut conn = Connection {
        session: session.clone(),
        ctx,
        events: events.clone(),
        tasks: JoinSet::new(),
        control: None,
        state: State::AwaitingHello,
        streams: 0,
        detached: false,
        hello_seen: false,
    };
    conn.tasks.spawn(accept_streams(session.clone(), events));
    let reason = conn.run(&mut inbox).await;
    conn.tasks.abort_all();
    (conn.ctx.register)(false);
    let admission = match conn.state {
        State::Admitted(a) => Some(a),
        _ => None,
    };
    if conn.hello_seen || !matches!(reason, CloseReason::ClientClosed) {
        conn.ctx.handler.closed(ConnectionClosed { connection_id: conn.ctx.id, transport: conn.ctx.transport, admission, reason });
    }
}

/// Hands every bidirectional stream the client opens to the connection task.
async fn accept_streams<S: Session>(session: S, events: mpsc::UnboundedSender<Event<S>>) {
    loop {
        match session.accept_bi().await {
            Ok((send, recv)) => {
                if events.send(Event::Accepted(send, recv)).is_err() {
                    return;
                }
            }
            Err(_) => {
                let _ = events.send(Event::AcceptEnded);
                return;
            }
        }
    }
}

/// Reads a stream's kind byte.
async fn read_kind<S: Session>(mut send: S::SendStream, mut recv: S::RecvStream, events: mpsc::UnboundedSender<Event<S>>) {
    let mut byte = [0u8; 1];
    let event = loop {
        match recv.read(&mut byte).await {
            // A transport may hand over an empty chunk (an empty STREAM frame opens a stream).
            Ok(Some(0)) => continue,
            Ok(Some(_)) => match StreamKind::from_byte(byte[0]) {
                Ok(kind) => break Event::Kind(kind, send, recv),
                Err(e) => break Event::BadKind(e.to_string(), send),
            },
            // Ended or reset before its kind: nothing to serve, nothing to refuse.
            _ => {
                send.reset(0);
                return;
            }
        }
    };
    let _ = events.send(event);
}

/// Reads control frames and hands each whole one to the connection task.
async fn read_control<S: Session>(mut recv: S::RecvStream, events: mpsc::UnboundedSender<Event<S>>) {
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match recv.read(&mut buf).await {
            Ok(Some(n)) => {
                decoder.push(&buf[..n]);
                loop {
                    match decoder.next_frame() {
                        Ok(Some(frame)) => {
                            if events.send(Event::Control(frame)).is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let _ = events.send(Event::ControlBad(e));
                            return;
                        }
                    }
                }
            }
            Ok(None) | Err(_) => {
                let _ = events.send(Event::ControlEnded);
                return;
            }
        }
    }
}

/// How the event loop ends: close quietly, or refuse with an error event.
enum Outcome<S: Session> {
    Closed(CloseReason),
    Refuse(ErrorEvent, Option<S::SendStream>),
    Notice(Notice),
}

impl<S: Session> Connection<S> {
    async fn run(&mut self, inbox: &mut mpsc::UnboundedReceiver<Event<S>>) -> CloseReason {
        let deadline = tokio::time::Instant::now() + self.ctx.limits.hello_timeout;
        let outcome = loop {
            let awaiting = matches!(self.state, State::AwaitingHello);
            tokio::select! {
                event = inbox.recv() => {
                    let Some(event) = event else { break Outcome::Closed(CloseReason::ClientClosed) };
                    if let Some(outcome) = self.handle(event).await {
                        break outcome;
                    }
                }
                notice = self.ctx.notices.recv(), if matches!(self.state, State::Admitted(_)) => {
                    if let Some(notice) = notice {
                        break Outcome::Notice(notice);
                    }
                }
                _ = tokio::time::sleep_until(deadline), if awaiting => {
                    break self.refusal(EntryCode::HelloTimeout, format!("no hello within {} ms", self.ctx.limits.hello_timeout.as_millis()));
                }
                _ = self.ctx.shutdown.changed() => {
                    break Outcome::Closed(CloseReason::Shutdown);
                }
            }
        };
        match outcome {
            Outcome::Closed(reason) => {
                let code = if matches!(reason, CloseReason::Shutdown) { 1 } else { 0 };
                self.session.close(code, if code == 0 { "closed" } else { "shutdown" });
                reason
            }
            Outcome::Refuse(event, target) => {
                let code = event.code.clone();
                self.send_and_close(json!({"type": "error", "error": event.to_json()}), target, 4000, &code).await;
                CloseReason::Refused(code)
            }
            Outcome::Notice(notice) => {
                let label = notice.label();
                self.send_and_close(notice.to_json(), None, 0, label).await;
                CloseReason::Pushed(label.to_string())
            }
        }
    }

    fn refusal(&self, code: EntryCode, reason: impl Into<String>) -> Outcome<S> {
        Outcome::Refuse(ErrorEvent::entry_because(code, reason, &self.ctx.trace_id), None)
    }

    /// Handles one event; `Some` ends the connection.
    async fn handle(&mut self, event: Event<S>) -> Option<Outcome<S>> {
        match event {
            Event::Accepted(send, recv) => {
                self.streams += 1;
                // The control stream is one of the streams; the limit counts channel streams.
                if self.streams > self.ctx.limits.max_streams + 1 {
                    return Some(
                        self.refusal(EntryCode::TooManyStreams, format!("more than {} streams at once", self.ctx.limits.max_streams)),
                    );
                }
                self.tasks.spawn(read_kind::<S>(send, recv, self.events.clone()));
                None
            }
            Event::AcceptEnded => Some(Outcome::Closed(self.client_closed())),
            Event::BadKind(reason, send) => {
                let target = if self.control.is_none() { Some(send) } else { None };
                Some(Outcome::Refuse(ErrorEvent::entry_because(EntryCode::MalformedFrame, reason, &self.ctx.trace_id), target))
            }
            Event::Kind(StreamKind::Control, send, recv) => {
                if self.control.is_some() {
                    return Some(self.refusal(EntryCode::InvalidMessage, "a second control stream"));
                }
                self.control = Some(send);
                self.tasks.spawn(read_control::<S>(recv, self.events.clone()));
                None
            }
            Event::Kind(kind, send, recv) => self.open_channel(kind, send, recv),
            Event::Control(frame) => self.on_control(frame).await,
            Event::ControlBad(e) => {
                Some(Outcome::Refuse(ErrorEvent::entry_because(EntryCode::of_frame_error(&e), e.to_string(), &self.ctx.trace_id), None))
            }
            Event::ControlEnded => Some(Outcome::Closed(self.client_closed())),
            Event::Admitted(Ok(admission)) => {
                let welcome = json!({
                    "type": "welcome",
                    "version": 1,
                    "session_id": admission.session_id,
                    "attachment_id": admission.attachment_id,
                    "channels": std::iter::once("control").chain(admission.channels.iter().map(|k| k.channel())).collect::<Vec<_>>(),
                    "transport": self.ctx.transport.name(),
                    "policy": { "clipboard": admission.clipboard.mode() },
                });
                self.state = State::Admitted(admission);
                (self.ctx.register)(true);
                if self.write_control(&welcome).await.is_err() {
                    return Some(Outcome::Closed(self.client_closed()));
                }
                None
            }
            Event::Admitted(Err(refusal)) => Some(Outcome::Refuse(refusal, None)),
            Event::Channel(SpliceEnd::Done) => {
                self.streams = self.streams.saturating_sub(1);
                None
            }
            Event::Channel(SpliceEnd::Refused(code, reason)) => Some(self.refusal(code, reason)),
            Event::Channel(SpliceEnd::Upstream(event)) => Some(Outcome::Refuse(event, None)),
        }
    }

    fn client_closed(&self) -> CloseReason {
        if self.detached {
            CloseReason::Detached
        } else {
            CloseReason::ClientClosed
        }
    }

    fn open_channel(&mut self, kind: StreamKind, send: S::SendStream, recv: S::RecvStream) -> Option<Outcome<S>> {
        let admission = match &self.state {
            State::Admitted(a) => a.clone(),
            _ => {
                let target = if self.control.is_none() { Some(send) } else { None };
                let event = ErrorEvent::entry_because(
                    EntryCode::NotAuthenticated,
                    format!("a {} stream before welcome", kind.channel()),
                    &self.ctx.trace_id,
                );
                return Some(Outcome::Refuse(event, target));
            }
        };
        if !admission.allows(kind) {
            let mut details = Map::new();
            details.insert("channel".into(), Value::String(kind.channel().into()));
            return Some(Outcome::Refuse(ErrorEvent::entry(EntryCode::ChannelNotAllowed, details, &self.ctx.trace_id), None));
        }
        let handler = self.ctx.handler.clone();
        let events = self.events.clone();
        self.tasks.spawn(async move {
            let end = match handler.open_upstream(&admission, kind).await {
                Ok(upstream) => splice(kind, send, recv, upstream, admission.clipboard).await,
                Err(event) => SpliceEnd::Upstream(event),
            };
            let _ = events.send(Event::Channel(end));
        });
        None
    }

    async fn on_control(&mut self, frame: Frame) -> Option<Outcome<S>> {
        if frame.kind != FrameType::Json {
            return Some(self.refusal(EntryCode::MalformedFrame, "the control stream carries JSON frames only"));
        }
        let message = match frame.parse_json() {
            Ok(m) => m,
            Err(e) => return Some(self.refusal(EntryCode::of_frame_error(&e), e.to_string())),
        };
        let kind = message.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        match (&self.state, kind.as_str()) {
            (State::AwaitingHello, "hello") => self.on_hello(&message),
            (_, "hello") => Some(self.refusal(EntryCode::InvalidMessage, "hello was already sent")),
            (State::Admitted(_), "ping") => match message.get("seq").and_then(Value::as_u64) {
                Some(seq) => {
                    if self.write_control(&json!({"type": "pong", "seq": seq})).await.is_err() {
                        return Some(Outcome::Closed(self.client_closed()));
                    }
                    None
                }
                None => Some(self.refusal(EntryCode::InvalidMessage, "ping needs an integer seq")),
            },
            (State::Admitted(_), "pong") => None,
            (State::Admitted(_), "detach") => {
                self.detached = true;
                Some(Outcome::Closed(CloseReason::Detached))
            }
            (_, "ping" | "pong" | "detach") => Some(self.refusal(EntryCode::NotAuthenticated, format!("{kind} before welcome"))),
            _ => {
                let mut details = Map::new();
                details.insert("type".into(), Value::String(kind.chars().take(64).collect()));
                Some(Outcome::Refuse(ErrorEvent::entry(EntryCode::UnknownMessage, details, &self.ctx.trace_id), None))
            }
        }
    }

    fn on_hello(&mut self, message: &Map<String, Value>) -> Option<Outcome<S>> {
        self.hello_seen = true;
        match message.get("version").and_then(Value::as_u64) {
            Some(1) => {}
            Some(v) => {
                let mut details = Map::new();
                details.insert("version".into(), json!(v));
                details.insert("supported".into(), json!([1]));
                return Some(Outcome::Refuse(ErrorEvent::entry(EntryCode::UnsupportedVersion, details, &self.ctx.trace_id), None));
            }
            None => return Some(self.refusal(EntryCode::InvalidMessage, "hello needs an integer version")),
        }
        let text =
            |k: &str, max: usize| message.get(k).and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= max).map(str::to_string);
        let Some(session_id) = text("session_id", 64) else {
            return Some(self.refusal(EntryCode::InvalidMessage, "hello needs a session_id (a string of at most 64 characters)"));
        };
        let Some(token) = text("token", 8192) else {
            return Some(self.refusal(EntryCode::InvalidMessage, "hello needs a token (a string of at most 8192 characters)"));
        };
        if let Some(code) = self.ctx.refuse_with {
            return Some(self.refusal(code, "the entry is at its connection limit"));
        }
        self.state = State::Admitting;
        let hello = Hello {
            connection_id: self.ctx.id,
            session_id,
            token,
            transport: self.ctx.transport,
            remote_addr: self.ctx.remote_addr,
            trace_id: self.ctx.trace_id.clone(),
        };
        let admit = self.ctx.handler.admit(hello);
        let events = self.events.clone();
        let (limit, trace_id) = (self.ctx.limits.admit_timeout, self.ctx.trace_id.clone());
        self.tasks.spawn(async move {
            // A handler that never answers must not hold the client forever.
            let decided = tokio::time::timeout(limit, admit)
                .await
                .unwrap_or_else(|_| Err(ErrorEvent::entry(EntryCode::Internal, Map::new(), &trace_id)));
            let _ = events.send(Event::Admitted(decided));
        });
        None
    }

    async fn write_control(&mut self, message: &Value) -> Result<(), ()> {
        let Some(send) = self.control.as_mut() else { return Err(()) };
        let bytes = Frame::json(message).encode().map_err(|_| ())?;
        send.write_all(&bytes).await.map_err(|_| ())
    }

    /// Sends a last message, lets the client read it and close, then closes.
    async fn send_and_close(&mut self, message: Value, target: Option<S::SendStream>, code: u32, reason: &str) {
        let bytes = Frame::json(&message).encode().ok();
        let stream = match target {
            Some(stream) => Some(stream),
            None => self.control.take(),
        };
        let grace = self.ctx.limits.close_grace;
        let session = self.session.clone();
        let delivered = async move {
            if let (Some(mut stream), Some(bytes)) = (stream, bytes) {
                if stream.write_all(&bytes).await.is_ok() {
                    let _ = stream.finish();
                    // The client closes on reading it; wait for that (bounded) so closing does not drop the message in flight.
                    let _ = session.closed().await;
                }
            }
        };
        let _ = tokio::time::timeout(grace, delivered).await;
        self.session.close(code, reason);
    }
}
