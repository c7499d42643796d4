//! The fencing-epoch gate of one VPN connection on one node. The control
//! plane's lease hands out a monotonically increasing epoch with every
//! grant; each node is told the current one (`set`) and forwards only
//! packets stamped with exactly that epoch, so a stale owner that still
//! runs (paused, partitioned) is refused by its peers. `fence` stops the
//! connection at once, in both directions, until a newer epoch arrives.
//! Checked on every packet, so it is one atomic load.

use std::sync::atomic::{AtomicU64, Ordering};

/// No epoch yet, or fenced: nothing passes.
const CLOSED: u64 = u64::MAX;

#[derive(Debug)]
pub struct EpochGate {
    current: AtomicU64,
    /// The highest epoch ever set, so an older one can never come back.
    highest: AtomicU64,
}

impl Default for EpochGate {
    fn default() -> Self {
        EpochGate { current: AtomicU64::new(CLOSED), highest: AtomicU64::new(0) }
    }
}

/// What `set` did.
#[derive(Debug, PartialEq, Eq)]
pub enum EpochChange {
    Set,
    /// Lower than one already seen: refused, the gate is unchanged.
    Stale {
        highest: u64,
    },
}

impl EpochGate {
    /// Moves to `epoch` (≥ 1, and never below one seen before: epochs only grow).
    pub fn set(&self, epoch: u64) -> EpochChange {
        if epoch == CLOSED || epoch == 0 {
            return EpochChange::Stale { highest: self.highest.load(Ordering::Acquire) };
        }
        let highest = self.highest.fetch_max(epoch, Ordering::AcqRel);
        if epoch < highest {
            return EpochChange::Stale { highest };
        }
        self.current.store(epoch, Ordering::Release);
        EpochChange::Set
    }

    /// Stops everything until a newer epoch is set.
    pub fn fence(&self) {
        self.current.store(CLOSED, Ordering::Release);
    }

    /// The epoch packets must carry now, if any.
    pub fn current(&self) -> Option<u64> {
        Some(self.current.load(Ordering::Acquire)).filter(|e| *e != CLOSED)
    }

    pub fn admits(&self, epoch: u64) -> bool {
        epoch != CLOSED && self.current.load(Ordering::Acquire) == epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_current_epoch_passes_and_fence_stops_everything() {
        let gate = EpochGate::default();
        assert!(!gate.admits(1), "nothing before the first epoch");
        assert_eq!(gate.current(), None);
        assert_eq!(gate.set(3), EpochChange::Set);
        assert!(gate.admits(3));
        assert!(!gate.admits(2) && !gate.admits(4));
        assert_eq!(gate.set(4), EpochChange::Set);
        assert!(!gate.admits(3), "the old owner's epoch is refused once the gate moved on");
        gate.fence();
        assert!(!gate.admits(4));
        assert_eq!(gate.current(), None);
        assert_eq!(gate.set(5), EpochChange::Set);
        assert!(gate.admits(5));
    }

    #[test]
    fn epochs_never_go_back() {
        let gate = EpochGate::default();
        gate.set(7);
        assert_eq!(gate.set(6), EpochChange::Stale { highest: 7 });
        assert!(gate.admits(7), "a stale set changes nothing");
        gate.fence();
        assert_eq!(gate.set(7), EpochChange::Set, "the same epoch may be re-set after a fence (the lease was re-confirmed)");
        assert_eq!(gate.set(0), EpochChange::Stale { highest: 7 });
        assert_eq!(gate.set(u64::MAX), EpochChange::Stale { highest: 7 }, "the closed marker is not an epoch");
        assert_eq!(gate.set(8), EpochChange::Set);
    }
}
