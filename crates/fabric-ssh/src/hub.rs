//! The one owner of a terminal's output and of who is attached. The SSH
//! reader pushes output in; the current attachment takes it out; everyone
//! waits on the same `watch` channel, so a change (output, takeover, detach,
//! end) wakes exactly the tasks that care and none can miss it.
//!
//! Bounded memory: while attached, the SSH reader waits when
//! [`OUTBOX_LIMIT`] bytes are not yet written (back-pressure up the SSH
//! channel, as a slow terminal would); while detached, only the last
//! [`REPLAY_LIMIT`] bytes are kept for the next attachment.

use bytes::Bytes;
use tokio::sync::watch;

use crate::events::EndReason;
use crate::output_queue::OutputQueue;

/// Output kept while nobody is attached, written first on the next attach.
pub const REPLAY_LIMIT: usize = 64 * 1024;
/// Output waiting for a slow attached client before the SSH reader pauses.
pub const OUTBOX_LIMIT: usize = 256 * 1024;

#[derive(Debug, Default)]
pub(crate) struct HubState {
    pending: OutputQueue,
    attached: Option<u64>,
    next_attachment: u64,
    ended: Option<EndReason>,
}

/// What an attachment finds when it looks for output.
#[derive(Debug)]
pub(crate) enum Take {
    Payloads(Vec<Bytes>),
    Nothing,
    NotAttached,
    Ended(EndReason),
}

#[derive(Debug)]
pub(crate) struct Hub {
    state: watch::Sender<HubState>,
}

impl Hub {
    pub(crate) fn new() -> Hub {
        Hub { state: watch::Sender::new(HubState::default()) }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<HubState> {
        self.state.subscribe()
    }

    /// Makes a new attachment the current one; the previous one (if any) sees it was taken over.
    pub(crate) fn attach(&self) -> u64 {
        let mut id = 0;
        self.state.send_modify(|s| {
            s.next_attachment += 1;
            id = s.next_attachment;
            s.attached = Some(id);
        });
        id
    }

    /// Detaches `id` if it is still the current attachment; pending output becomes the replay.
    pub(crate) fn detach(&self, id: u64) {
        self.state.send_if_modified(|s| {
            if s.attached != Some(id) {
                return false;
            }
            s.attached = None;
            s.pending.keep_last(REPLAY_LIMIT);
            true
        });
    }

    /// Detaches whoever is attached.
    pub(crate) fn detach_current(&self) {
        let current = self.state.borrow().attached;
        if let Some(id) = current {
            self.detach(id);
        }
    }

    /// Marks the session over (the first reason wins); attachments flush and end.
    pub(crate) fn end(&self, reason: EndReason) {
        self.state.send_if_modified(|s| {
            if s.ended.is_some() {
                return false;
            }
            s.ended = Some(reason);
            true
        });
    }

    pub(crate) fn ended(&self) -> Option<EndReason> {
        self.state.borrow().ended.clone()
    }

    /// Queues output, waiting while an attached client has [`OUTBOX_LIMIT`] bytes unwritten.
    pub(crate) async fn push_output(&self, chunk: Bytes) {
        let mut changes = self.subscribe();
        loop {
            {
                let s = changes.borrow_and_update();
                let full = s.attached.is_some() && s.pending.len() >= OUTBOX_LIMIT;
                if !full || s.ended.is_some() {
                    break;
                }
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
        self.state.send_modify(|s| {
            s.pending.push(chunk);
            if s.attached.is_none() {
                s.pending.keep_last(REPLAY_LIMIT);
            }
        });
    }

    /// Takes all pending output for attachment `id` as render payloads.
    pub(crate) fn take(&self, id: u64, max_payload: usize) -> Take {
        let mut take = Take::Nothing;
        self.state.send_if_modified(|s| {
            if s.attached != Some(id) {
                take = Take::NotAttached;
                return false;
            }
            if !s.pending.is_empty() {
                take = Take::Payloads(s.pending.take_payloads(max_payload));
                return true;
            }
            if let Some(reason) = &s.ended {
                take = Take::Ended(reason.clone());
            }
            false
        });
        take
    }
}

impl HubState {
    pub(crate) fn attached(&self) -> Option<u64> {
        self.attached
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_while_detached_is_replayed_bounded_to_the_last_bytes() {
        let hub = Hub::new();
        hub.push_output(Bytes::from(vec![b'a'; REPLAY_LIMIT])).await;
        hub.push_output(Bytes::from_static(b"tail")).await;
        let id = hub.attach();
        let Take::Payloads(p) = hub.take(id, usize::MAX) else { panic!("expected the replay") };
        let all = p.concat();
        assert_eq!(all.len(), REPLAY_LIMIT);
        assert!(all.ends_with(b"tail"));
        assert!(matches!(hub.take(id, usize::MAX), Take::Nothing));
    }

    #[tokio::test]
    async fn a_new_attachment_takes_over_and_inherits_unwritten_output() {
        let hub = Hub::new();
        let first = hub.attach();
        hub.push_output(Bytes::from_static(b"x")).await;
        let second = hub.attach();
        assert!(matches!(hub.take(first, 10), Take::NotAttached));
        assert!(matches!(hub.take(second, 10), Take::Payloads(p) if p.concat() == b"x"));
        hub.detach(first); // stale: changes nothing
        assert_eq!(hub.subscribe().borrow().attached(), Some(second));
        hub.detach(second);
        assert!(matches!(hub.take(second, 10), Take::NotAttached));
    }

    #[tokio::test]
    async fn the_reader_waits_for_a_slow_client_and_resumes_when_it_takes_output() {
        let hub = std::sync::Arc::new(Hub::new());
        let id = hub.attach();
        hub.push_output(Bytes::from(vec![0u8; OUTBOX_LIMIT])).await;
        let pusher = {
            let hub = hub.clone();
            tokio::spawn(async move { hub.push_output(Bytes::from_static(b"more")).await })
        };
        tokio::task::yield_now().await;
        assert!(!pusher.is_finished());
        assert!(matches!(hub.take(id, usize::MAX), Take::Payloads(_)));
        pusher.await.unwrap();
        assert!(matches!(hub.take(id, usize::MAX), Take::Payloads(p) if p.concat() == b"more"));
        hub.end(EndReason::Stopped);
        assert!(matches!(hub.take(id, usize::MAX), Take::Ended(EndReason::Stopped)));
    }
}
