//! The fencing-epoch gate of one VPN connection on one node. The control
//! plane's lease hands out a monotonically increasing epoch with every
//! grant; each node is told the current one (`set`) and forwards only
//! packets stamped with exactly that epoch, so a stale owner that still
//! runs (paused, partitioned) is refused by its peers. `fence` stops the
//! connection at once, in both directions, until a newer epoch arrives.
//!
//! An owner also gives its epoch a deadline (`hold_until`: the end of the
//! lease as its own keeper computes it, renewed with every renewal). Past
//! it the gate is closed by itself, so forwarding stops on time even when
//! the process that should say so is stalled (a long pause of the
//! JavaScript event loop, a frozen process waking up, a host resumed from
//! sleep): the deadline is kept here, in the data path, on the clock that
//! also counts suspended time (`CLOCK_BOOTTIME`).
//! Checked on every packet: one or two atomic loads, and a clock read only
//! while a deadline is set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// No epoch yet, or fenced: nothing passes.
const CLOSED: u64 = u64::MAX;
/// No deadline: the epoch holds until it is moved or fenced.
const NO_DEADLINE: u64 = u64::MAX;

/// Milliseconds since boot, suspended time included (`CLOCK_BOOTTIME`):
/// never goes back, ignores wall-clock steps, and a host that slept past a
/// lease wakes up with its deadline already passed (the monotonic clock
/// would stop while suspended and keep the lease alive too long).
pub fn boot_clock_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through the pointer it is given, which is valid and exclusive.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        // Not on Linux ≥ 2.6.39: there is no clock to trust, so every deadline counts as passed.
        return u64::MAX - 1;
    }
    (ts.tv_sec as u64).saturating_mul(1000).saturating_add(ts.tv_nsec as u64 / 1_000_000)
}

#[derive(Debug)]
pub struct EpochGate {
    current: AtomicU64,
    /// The highest epoch ever set, so an older one can never come back.
    highest: AtomicU64,
    /// `boot_clock_ms` after which the current epoch no longer passes.
    until_ms: AtomicU64,
}

impl Default for EpochGate {
    fn default() -> Self {
        EpochGate { current: AtomicU64::new(CLOSED), highest: AtomicU64::new(0), until_ms: AtomicU64::new(NO_DEADLINE) }
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
        self.until_ms.store(NO_DEADLINE, Ordering::Release);
        self.current.store(epoch, Ordering::Release);
        EpochChange::Set
    }

    /// Lets the current epoch pass for `within` more (from now), and not a
    /// moment longer unless called again. False (and nothing changes) when
    /// `epoch` is not the current one, or its deadline has already passed:
    /// a late renewal of an older term cannot extend a newer one, and a
    /// term that ran out stays closed like a fence (only `set` reopens it).
    pub fn hold_until(&self, epoch: u64, within: Duration) -> bool {
        let now = boot_clock_ms();
        // A deadline is never "none", however far: a hold always ends.
        self.hold_until_at(epoch, now.saturating_add(within.as_millis() as u64).min(NO_DEADLINE - 1), now)
    }

    fn hold_until_at(&self, epoch: u64, until_ms: u64, now_ms: u64) -> bool {
        if epoch == CLOSED || self.current.load(Ordering::Acquire) != epoch || !self.open_at(|| now_ms) {
            return false;
        }
        self.until_ms.store(until_ms, Ordering::Release);
        true
    }

    fn open_at(&self, now_ms: impl FnOnce() -> u64) -> bool {
        let until = self.until_ms.load(Ordering::Acquire);
        until == NO_DEADLINE || now_ms() < until
    }

    /// Stops everything until a newer epoch is set.
    pub fn fence(&self) {
        self.current.store(CLOSED, Ordering::Release);
    }

    /// The epoch packets must carry now, if any (none past its deadline).
    pub fn current(&self) -> Option<u64> {
        self.current_at(boot_clock_ms)
    }

    fn current_at(&self, now_ms: impl FnOnce() -> u64) -> Option<u64> {
        Some(self.current.load(Ordering::Acquire)).filter(|e| *e != CLOSED && self.open_at(now_ms))
    }

    pub fn admits(&self, epoch: u64) -> bool {
        self.admits_at(epoch, boot_clock_ms)
    }

    fn admits_at(&self, epoch: u64, now_ms: impl FnOnce() -> u64) -> bool {
        epoch != CLOSED && self.current.load(Ordering::Acquire) == epoch && self.open_at(now_ms)
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
    fn an_epoch_held_until_a_deadline_closes_by_itself_there_and_a_renewal_moves_it() {
        let gate = EpochGate::default();
        gate.set(2);
        assert!(gate.admits_at(2, || 1_000_000), "without a deadline the epoch holds");
        assert!(gate.hold_until_at(2, 5_000, 0));
        assert!(gate.admits_at(2, || 4_999));
        assert_eq!(gate.current_at(|| 4_999), Some(2));
        assert!(gate.hold_until_at(2, 8_000, 4_000), "a renewal within the term moves the deadline");
        assert!(gate.admits_at(2, || 7_999));
        assert!(!gate.admits_at(2, || 8_000), "closed at the deadline, with nobody telling it");
        assert_eq!(gate.current_at(|| 8_000), None, "and sends nothing");
        assert!(!gate.hold_until_at(2, 20_000, 8_000), "a term that ran out stays closed");
        assert!(!gate.admits_at(2, || 8_001));
        assert_eq!(gate.set(2), EpochChange::Set, "re-set (the lease was re-confirmed): open again, no deadline");
        assert!(!gate.hold_until_at(1, 60_000, 9_000), "an older term cannot extend this one");
        assert!(gate.admits_at(2, || 1_000_000));
        gate.set(3);
        assert!(gate.admits_at(3, || 1_000_000), "a new epoch starts without the old term's deadline");
        gate.fence();
        assert!(!gate.hold_until_at(3, 60_000, 0), "a fenced gate cannot be held open");
        assert!(!gate.hold_until(4, Duration::from_secs(1)));
        gate.set(4);
        assert!(gate.hold_until(4, Duration::from_secs(60)));
        assert!(gate.admits(4), "the real clock is well before a minute from now");
        assert!(gate.hold_until(4, Duration::ZERO));
        assert!(!gate.admits(4), "a deadline of now has passed");
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
