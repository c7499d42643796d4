//! The queue behind one (destination, class): a FIFO whose depth drives
//! back-pressure or dropping, or a one-message slot for latest-only classes.
//! `outbound` decides what a send does with it and runs the writer that
//! empties it; the endpoint's shared state holds each queue's `Sender`.

use bytes::Bytes;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};

/// Holds the newest unsent message of a latest-only class.
#[derive(Default)]
pub(crate) struct LatestSlot {
    pub slot: Mutex<Option<Bytes>>,
    pub notify: Notify,
    pub closed: AtomicBool,
}

/// A FIFO whose order is fixed when `send` is called (synchronously, on the
/// caller's thread) and whose depth drives back-pressure or dropping.
pub(crate) struct Fifo {
    pub tx: mpsc::UnboundedSender<Bytes>,
    pub depth: AtomicUsize,
    pub drained: Notify,
}

impl Fifo {
    pub fn new(tx: mpsc::UnboundedSender<Bytes>) -> Fifo {
        Fifo { tx, depth: AtomicUsize::new(0), drained: Notify::new() }
    }

    /// One message left the queue (written, or dropped with the writer).
    pub fn taken(&self) {
        self.depth.fetch_sub(1, Ordering::AcqRel);
        self.drained.notify_waiters();
    }
}

#[derive(Clone)]
pub(crate) enum Queue {
    Fifo(Arc<Fifo>),
    Latest(Arc<LatestSlot>),
}

/// The map entry; dropping it ends the writer once its queue is empty.
pub(crate) struct Sender {
    first_hop: String,
    pub queue: Queue,
}

impl Sender {
    pub fn new(first_hop: String, queue: Queue) -> Sender {
        Sender { first_hop, queue }
    }

    pub fn first_hop(&self) -> &str {
        &self.first_hop
    }

    /// False once the writer has ended; the next send starts a new one.
    pub fn alive(&self) -> bool {
        match &self.queue {
            Queue::Fifo(f) => !f.tx.is_closed(),
            Queue::Latest(slot) => !slot.closed.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if let Queue::Latest(slot) = &self.queue {
            slot.closed.store(true, Ordering::Relaxed);
            slot.notify.notify_one();
        }
    }
}

/// What `send_now` did with a message.
pub enum Enqueued {
    /// Queued; the caller may go on.
    Ready,
    /// QoS dropped it (queue full, or a newer latest-only message replaced an older one).
    Dropped,
    /// Queued, but the queue is over its depth: wait before sending more.
    Wait(WaitForRoom),
}

pub struct WaitForRoom {
    pub(crate) fifo: Arc<Fifo>,
    pub(crate) capacity: usize,
}

impl WaitForRoom {
    pub async fn ready(self) {
        loop {
            let drained = self.fifo.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.fifo.depth.load(Ordering::Acquire) <= self.capacity || self.fifo.tx.is_closed() {
                return;
            }
            drained.await;
        }
    }
}
