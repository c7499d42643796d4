//! The session-stream API of `Endpoint`: the entry node opens one stream per
//! (session, channel class) to the adapter node, directly or through the
//! route's relays exactly as class traffic goes (`set_route`); the adapter
//! node serves sessions to the entry nodes its agent names and accepts
//! their streams. Bytes are the caller's: after the header nothing here
//! frames or parses them, so the entry and the adapter splice them with
//! `tokio::io::copy` and no JavaScript runs per message.
//!
//! Each stream is a QUIC bidirectional stream with the class's priority and
//! its own flow control (the per-stream window, `DEFAULT_STREAM_WINDOW`), so
//! a slow reader holds back only its own stream. The connection's window is
//! shared, though: a stream that is never read keeps up to one stream
//! window of it, so a peer with many stalled streams slows the rest.

use crate::class::Class;
use crate::endpoint::Endpoint;
use crate::error::FabricError;
use crate::outbound::first_hop;
use crate::session_stream::{IncomingSessionStream, SessionStream};
use crate::session_table::{LiveStream, Registration};
use crate::stats::add;
use crate::wire::{valid_id, Header, SessionHeader, SessionId};

impl Endpoint {
    /// Opens a session stream of `class` for `session_id` / `attachment_id`
    /// to `to`. It succeeds once the stream is open towards the first hop;
    /// a refusal further on (a relay's, or the adapter's: session not
    /// served, entry not allowed, class not authorized) arrives as the
    /// error of the next read or write, with the reason as its
    /// `FabricError::StreamEnded` code.
    pub async fn open_session_stream(
        &self,
        to: &str,
        class: Class,
        session_id: SessionId,
        attachment_id: SessionId,
    ) -> Result<SessionStream, FabricError> {
        let shared = &self.shared;
        if !valid_id(to) {
            return Err(FabricError::ConfigInvalid(format!("node id of {} bytes: 1 to 64 expected", to.len())));
        }
        if class == Class::FabricControl {
            return Err(FabricError::ChannelClassDenied("fabric_control carries no session".into()));
        }
        let (conn, header, registration) = {
            let state = shared.state.lock().unwrap();
            if !state.allows(to, class) {
                add(&shared.counters.class(class).refused, 1);
                return Err(FabricError::ChannelClassDenied(format!("{} is not authorized with {to}", class.name())));
            }
            let (_, conn, path) = first_hop(&state, to, class)?;
            let header = SessionHeader { route: Header { class, origin: String::new(), path }, session_id, attachment_id }.encode();
            let live = LiveStream { session_id, class, peer: to.to_string(), via: None, accepted: false };
            let (id, ended) = shared.sessions.lock().unwrap().open(live);
            (conn, header, Registration::new(shared.sessions.clone(), id, ended))
        };
        let unreachable = |what: String| FabricError::NetworkUnreachable(format!("opening a session stream to {to}: {what}"));
        let opened = tokio::time::timeout(shared.transport_idle, conn.open_bi()).await.map_err(|_| unreachable("timed out".into()))?;
        let (mut send, recv) = opened.map_err(|e| unreachable(e.to_string()))?;
        let _ = send.set_priority(class.priority());
        send.write_chunk(header).await.map_err(|e| unreachable(e.to_string()))?;
        add(&shared.counters.sessions_opened, 1);
        Ok(SessionStream::new(send, recv, bytes::Bytes::new(), registration))
    }

    /// Serves `session_id` here: session streams for it are accepted from
    /// the nodes in `allowed_entry_nodes`, when their class is authorized
    /// too. A new list replaces the old one and ends the open streams of
    /// entry nodes it drops (`entry_not_allowed`).
    pub fn serve_session(&self, session_id: SessionId, allowed_entry_nodes: Vec<String>) {
        self.shared.sessions.lock().unwrap().serve(session_id, allowed_entry_nodes);
    }

    /// Stops serving `session_id`: new streams for it are refused and the
    /// ones accepted end (`session_ended`) on their next read or write.
    /// Returns whether it was served.
    pub fn stop_serving_session(&self, session_id: SessionId) -> bool {
        self.shared.sessions.lock().unwrap().stop_serving(&session_id)
    }

    /// The next admitted session stream; `None` once the endpoint is closed.
    pub async fn accept_session_stream(&self) -> Option<IncomingSessionStream> {
        tokio::select! {
            incoming = async { self.shared.session_rx.lock().await.recv().await } => incoming,
            _ = self.shared.until_closed() => None,
        }
    }
}
