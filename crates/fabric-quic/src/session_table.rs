//! The sessions this node serves as an adapter (each with the entry nodes
//! allowed to splice it) and every session stream open here, whichever end
//! opened it. It exists so that admission is one decision under one lock,
//! and so that a session that stops being served, or a class withdrawn
//! between two nodes, ends the streams already open instead of letting them
//! run on: each live stream holds a `watch` its halves listen to
//! (`session_stream`), and `Registration` removes the entry when both
//! halves are gone.

use crate::class::Class;
use crate::wire::{SessionId, StreamReason};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// What the table knows of one open session stream.
pub(crate) struct LiveStream {
    pub session_id: SessionId,
    pub class: Class,
    /// The node at the other end (the entry for an accepted stream, the
    /// destination for an opened one).
    pub peer: String,
    /// The last relay an accepted stream came through.
    pub via: Option<String>,
    /// Accepted here (this node serves the session) rather than opened here.
    pub accepted: bool,
}

struct Entry {
    stream: LiveStream,
    end: watch::Sender<Option<StreamReason>>,
}

#[derive(Default)]
pub(crate) struct SessionTable {
    served: HashMap<SessionId, HashSet<String>>,
    live: HashMap<u64, Entry>,
    next_id: u64,
}

impl SessionTable {
    /// Serves `session_id` to `entry_nodes`, replacing an earlier list: the
    /// streams accepted from an entry node no longer on it end.
    pub fn serve(&mut self, session_id: SessionId, entry_nodes: Vec<String>) {
        let entries: HashSet<String> = entry_nodes.into_iter().collect();
        self.end_where(|s| s.accepted && s.session_id == session_id && !entries.contains(&s.peer), StreamReason::EntryNotAllowed);
        self.served.insert(session_id, entries);
    }

    /// Stops serving `session_id` and ends the streams accepted for it.
    /// Returns whether it was served.
    pub fn stop_serving(&mut self, session_id: &SessionId) -> bool {
        let was = self.served.remove(session_id).is_some();
        self.end_where(|s| s.accepted && s.session_id == *session_id, StreamReason::SessionEnded);
        was
    }

    /// Whether `origin` may open a stream of `session_id` to this node.
    pub fn admit(&self, session_id: &SessionId, origin: &str) -> Result<(), StreamReason> {
        match self.served.get(session_id) {
            None => Err(StreamReason::SessionNotServed),
            Some(entries) if !entries.contains(origin) => Err(StreamReason::EntryNotAllowed),
            Some(_) => Ok(()),
        }
    }

    /// Records an open stream; the receiver turns `Some(reason)` when the table ends it.
    pub fn open(&mut self, stream: LiveStream) -> (u64, watch::Receiver<Option<StreamReason>>) {
        let id = self.next_id;
        self.next_id += 1;
        let (end, ended) = watch::channel(None);
        self.live.insert(id, Entry { stream, end });
        (id, ended)
    }

    /// Ends every live stream `which` selects, with `reason`. Returns how many.
    pub fn end_where(&mut self, which: impl Fn(&LiveStream) -> bool, reason: StreamReason) -> usize {
        let mut ended = 0;
        for entry in self.live.values().filter(|e| which(&e.stream)) {
            entry.end.send_replace(Some(reason));
            ended += 1;
        }
        ended
    }

    /// Ends the streams to or through `node` whose class is not in `allowed` (an authorization change).
    pub fn end_unauthorized(&mut self, node: &str, allowed: &HashSet<Class>) -> usize {
        let involves = |s: &LiveStream| s.peer == node || s.via.as_deref() == Some(node);
        self.end_where(|s| involves(s) && !allowed.contains(&s.class), StreamReason::ChannelClassDenied)
    }

    fn close(&mut self, id: u64) {
        self.live.remove(&id);
    }

    pub fn live(&self) -> usize {
        self.live.len()
    }
}

/// One live stream's place in the table, shared by its two halves; the
/// last half dropped removes it. Never dropped while the table's lock is
/// held (its `Drop` takes that lock).
pub(crate) struct Registration {
    table: Arc<Mutex<SessionTable>>,
    id: u64,
    pub ended: watch::Receiver<Option<StreamReason>>,
}

impl Registration {
    pub fn new(table: Arc<Mutex<SessionTable>>, id: u64, ended: watch::Receiver<Option<StreamReason>>) -> Registration {
        Registration { table, id, ended }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut table) = self.table.lock() {
            table.close(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(session: u8, class: Class, peer: &str, via: Option<&str>, accepted: bool) -> LiveStream {
        LiveStream { session_id: [session; 16], class, peer: peer.into(), via: via.map(Into::into), accepted }
    }

    #[test]
    fn only_a_served_session_from_an_allowed_entry_node_is_admitted() {
        let mut table = SessionTable::default();
        assert_eq!(table.admit(&[1; 16], "entry"), Err(StreamReason::SessionNotServed));
        table.serve([1; 16], vec!["entry".into(), "entry2".into()]);
        assert_eq!(table.admit(&[1; 16], "entry"), Ok(()));
        assert_eq!(table.admit(&[1; 16], "entry2"), Ok(()));
        assert_eq!(table.admit(&[1; 16], "other"), Err(StreamReason::EntryNotAllowed));
        assert_eq!(table.admit(&[2; 16], "entry"), Err(StreamReason::SessionNotServed));
        let (_, from_entry) = table.open(stream(1, Class::Input, "entry", None, true));
        let (_, from_entry2) = table.open(stream(1, Class::Input, "entry2", None, true));
        table.serve([1; 16], vec!["entry2".into()]);
        assert_eq!(table.admit(&[1; 16], "entry"), Err(StreamReason::EntryNotAllowed), "a new list replaces the old");
        assert_eq!(*from_entry.borrow(), Some(StreamReason::EntryNotAllowed), "its open streams end");
        assert_eq!(*from_entry2.borrow(), None);
        assert!(table.stop_serving(&[1; 16]));
        assert!(!table.stop_serving(&[1; 16]));
        assert_eq!(table.admit(&[1; 16], "entry2"), Err(StreamReason::SessionNotServed));
    }

    #[test]
    fn stopping_a_session_ends_the_streams_accepted_for_it_and_no_others() {
        let mut table = SessionTable::default();
        table.serve([1; 16], vec!["entry".into()]);
        let (_, accepted) = table.open(stream(1, Class::Input, "entry", None, true));
        let (_, other_session) = table.open(stream(2, Class::Input, "entry", None, true));
        let (_, opened_here) = table.open(stream(1, Class::Input, "adapter", None, false));
        assert!(table.stop_serving(&[1; 16]));
        assert_eq!(*accepted.borrow(), Some(StreamReason::SessionEnded));
        assert_eq!(*other_session.borrow(), None);
        assert_eq!(*opened_here.borrow(), None, "a stream this node opened is not one it serves");
    }

    #[test]
    fn a_withdrawn_class_ends_the_streams_to_or_through_that_node() {
        let mut table = SessionTable::default();
        let (_, direct) = table.open(stream(1, Class::Clipboard, "a", None, true));
        let (_, relayed) = table.open(stream(1, Class::Clipboard, "x", Some("a"), true));
        let (_, still_allowed) = table.open(stream(1, Class::Input, "a", None, true));
        let (_, elsewhere) = table.open(stream(1, Class::Clipboard, "b", None, true));
        assert_eq!(table.end_unauthorized("a", &[Class::Input].into()), 2);
        assert_eq!(*direct.borrow(), Some(StreamReason::ChannelClassDenied));
        assert_eq!(*relayed.borrow(), Some(StreamReason::ChannelClassDenied));
        assert_eq!(*still_allowed.borrow(), None);
        assert_eq!(*elsewhere.borrow(), None);
    }

    #[test]
    fn the_last_half_dropped_removes_the_stream_from_the_table() {
        let table = Arc::new(Mutex::new(SessionTable::default()));
        let (id, ended) = table.lock().unwrap().open(stream(1, Class::Input, "a", None, false));
        let registration = Arc::new(Registration::new(table.clone(), id, ended));
        let other_half = registration.clone();
        drop(registration);
        assert_eq!(table.lock().unwrap().live(), 1);
        drop(other_half);
        assert_eq!(table.lock().unwrap().live(), 0);
    }
}
