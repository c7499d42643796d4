/**
 * The one setting behind VPN failover time, and the agent timings derived
 * from it (docs/vpn.md, "Lease and fencing").
 *
 * Failover after an owner dies is the rest of its lease (at most one TTL)
 * plus the standby's start, so the TTL sets it. A TTL of 3 s gives failover
 * in about 3–4 s (the goal: under 5 s) while leaving the owner room
 * for a slow control plane on a loaded host: renewals every TTL/4 (750 ms),
 * retried every TTL/12 (250 ms), so about seven tries fit before the owner's
 * own deadline. Shorter TTLs cost more lease writes (one renewal per TTL/4
 * per connection) and stop owners needlessly when the control plane stalls
 * for longer than the deadline allows.
 *
 * Everything the agent derives is a fraction of the TTL the control plane
 * answered, so a lease opened with another TTL (an older connection) keeps
 * the same proportions and the same safety margin.
 */

/** The lease TTL a new connection's lease is opened with. */
export const VPN_LEASE_TTL_MS = 3_000;

/** Renew this fraction of a TTL after each sent renewal: three more chances before the owner's own deadline. */
export const RENEW_FRACTION = 1 / 4;
/** Retry a failed renewal this fraction of a TTL later. */
export const RETRY_FRACTION = 1 / 12;
/**
 * The clock-drift allowance, as a fraction of the TTL: the owner stops forwarding this long before the earliest moment
 * the control plane could end its lease, so its clock may run up to ~17 % slow against the control plane's (or lose
 * that much to a timer firing late) without two owners overlapping.
 */
export const DRIFT_FRACTION = 1 / 6;

export interface LeaseTiming {
  /** From a renewal's send time to the next renewal. */
  renewEveryMs: number;
  retryMs: number;
  driftAllowanceMs: number;
}

/** The agent's timings for a lease of `ttlMs` (rounded down to whole milliseconds). */
export function leaseTiming(ttlMs: number): LeaseTiming {
  return {
    renewEveryMs: Math.floor(ttlMs * RENEW_FRACTION),
    retryMs: Math.max(1, Math.floor(ttlMs * RETRY_FRACTION)),
    driftAllowanceMs: Math.ceil(ttlMs * DRIFT_FRACTION),
  };
}

/**
 * The local time past which an owner must not forward, given the local send time of a renewal the control plane
 * accepted: the lease it got ends no earlier than `sentAt + ttl` in real time (the control plane's "now" came later).
 */
export function forwardDeadline(sentAtMs: number, ttlMs: number): number {
  return sentAtMs + ttlMs - leaseTiming(ttlMs).driftAllowanceMs;
}
