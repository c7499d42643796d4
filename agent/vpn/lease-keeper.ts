/**
 * The agent's VPN lease keeper, pure (quinn style: `now` is an argument, no
 * IO): for one connection this node was assigned as active owner, it decides
 * when to renew, when forwarding may start, and when it must stop on its own.
 *
 * The rule that keeps single-active safe without trusting any clock but the
 * agent's own: a renewal sent at local time `s` that the control plane
 * accepts gives a lease of `ttl` from the server's "now", which is no earlier
 * than `s`; so this node may forward until `s + ttl - driftAllowance` by its
 * own clock. It renews every TTL/4 after a sent renewal, retries every TTL/12
 * while renewals fail, and stops forwarding at that deadline when none got
 * through ("cannot renew"); all three derive from the TTL the control plane
 * answered (core/vpn/lease-timing.ts). A refusal (another epoch
 * owns the connection, or this one was fenced) stops it at once, and so does
 * the control plane asking for a release (drain): stop first, then release,
 * so the next owner never overlaps. Forwarding starts only after a renewal
 * of the assigned epoch succeeded, never on the snapshot's word alone.
 *
 * Every accepted renewal also hands the deadline to the data path
 * (`hold_forwarding`): the pump closes the epoch there by itself, in Rust
 * (`VpnPump.holdUntil`), so a stalled event loop or a frozen process cannot
 * forward past it, and a stop for want of renewals is recorded at the
 * deadline, when forwarding really ended.
 *
 * Every change of forwarding is recorded in the shared history format
 * (core/contracts/vpn.ts), so the history checker can read agents' and the
 * control plane's records together.
 */
import type { VpnHistoryEvent } from "../../core/contracts/vpn.ts";
import { forwardDeadline, leaseTiming } from "../../core/vpn/lease-timing.ts";

export interface KeeperConfig {
  connectionId: string;
  nodeId: string;
}

export type KeeperPhase = "idle" | "acquiring" | "forwarding" | "releasing" | "stopped";

export interface KeeperState {
  phase: KeeperPhase;
  epoch: number;
  ttlMs: number;
  /** Local time (ms) past which this node must not forward; 0: none. */
  deadline: number;
  /** Local time (ms) of the next renewal. */
  renewAt: number;
  /** Local send time of the renewal in flight, or null. */
  inFlight: number | null;
  stopReason: string | null;
}

export type KeeperInput =
  | { type: "assigned"; epoch: number; ttlMs: number; at: number }
  | { type: "unassigned"; at: number }
  | { type: "tick"; at: number }
  | { type: "renew_ok"; sentAt: number; ttlMs: number; releaseRequested: boolean; at: number }
  | { type: "renew_refused"; reason: string; at: number }
  | { type: "renew_failed"; at: number }
  | { type: "release_requested"; at: number };

export type KeeperOutput =
  | { type: "renew"; epoch: number; at: number }
  | { type: "start_forwarding"; epoch: number }
  /** The data path may forward `epoch` until local time `until` (ms) and must stop there by itself. */
  | { type: "hold_forwarding"; epoch: number; until: number }
  | { type: "stop_forwarding"; epoch: number; reason: string }
  | { type: "release"; epoch: number }
  | { type: "record"; event: VpnHistoryEvent };

export const initialKeeper: KeeperState = { phase: "idle", epoch: 0, ttlMs: 0, deadline: 0, renewAt: 0, inFlight: null, stopReason: null };

/** Still trying to hold the lease: acquiring, forwarding, or stopped only because renewals did not get through (the lease may still be ours). */
const renewing = (s: KeeperState) => s.phase === "acquiring" || s.phase === "forwarding" || (s.phase === "stopped" && s.stopReason === "cannot_renew");

/** One input in, the next state and what to do out. */
export function stepKeeper(cfg: KeeperConfig, s: KeeperState, input: KeeperInput): [KeeperState, KeeperOutput[]] {
  const out: KeeperOutput[] = [];
  const record = (kind: VpnHistoryEvent["kind"], epoch: number, at: number, reason?: string) =>
    out.push({
      type: "record",
      event: { kind, connection_id: cfg.connectionId, node_id: cfg.nodeId, epoch, at: new Date(at).toISOString(), ...(reason ? { reason } : {}) },
    });
  const stop = (state: KeeperState, reason: string, at: number, phase: KeeperPhase = "stopped"): KeeperState => {
    if (state.phase === "forwarding") {
      out.push({ type: "stop_forwarding", epoch: state.epoch, reason });
      // Whatever stops it late (a refusal or a tick handled after a stall), the data path closed the epoch at
      // the deadline it was held to, so forwarding ended there at the latest.
      record("forward.stopped", state.epoch, state.deadline > 0 ? Math.min(at, state.deadline) : at, reason);
    }
    return { ...state, phase, stopReason: reason, deadline: 0 };
  };
  const renewNow = (state: KeeperState, at: number): KeeperState => {
    out.push({ type: "renew", epoch: state.epoch, at });
    return { ...state, inFlight: at };
  };

  switch (input.type) {
    case "assigned": {
      // Only a newer epoch starts over; the same epoch again is the snapshot repeating itself (a fenced epoch never resumes).
      if (input.epoch < s.epoch || (input.epoch === s.epoch && s.phase !== "idle")) return [s, out];
      if (s.phase === "forwarding") stop(s, "superseded", input.at);
      return [renewNow({ ...initialKeeper, phase: "acquiring", epoch: input.epoch, ttlMs: input.ttlMs }, input.at), out];
    }
    case "unassigned":
      if (s.phase === "idle") return [s, out];
      return [{ ...stop(s, "unassigned", input.at), phase: "idle" }, out];
    case "release_requested":
      return [releaseNow(s, input.at), out];
    case "renew_ok": {
      if (s.inFlight !== input.sentAt || !renewing(s)) return [s, out];
      // Answered after the deadline had passed (the tick that stops there not yet run): the data path closed the
      // epoch at that deadline, so that is when forwarding stopped; it starts again below if this answer still counts.
      const current = s.phase === "forwarding" && input.at >= s.deadline ? stop(s, "cannot_renew", input.at) : s;
      const deadline = Math.max(current.deadline, forwardDeadline(input.sentAt, input.ttlMs));
      let next: KeeperState = { ...current, ttlMs: input.ttlMs, inFlight: null, deadline, renewAt: input.sentAt + leaseTiming(input.ttlMs).renewEveryMs };
      // An answer that arrives after its own deadline grants nothing usable; the next tick renews again.
      if (input.at < deadline && next.phase !== "forwarding") {
        next = { ...next, phase: "forwarding", stopReason: null };
        out.push({ type: "start_forwarding", epoch: s.epoch });
        record("forward.started", s.epoch, input.at);
      }
      if (next.phase === "forwarding") out.push({ type: "hold_forwarding", epoch: s.epoch, until: deadline });
      if (input.releaseRequested) return [releaseNow(next, input.at), out];
      return [next, out];
    }
    case "renew_refused":
      if (s.inFlight === null || !renewing(s)) return [s, out];
      return [{ ...stop(s, "fenced", input.at), inFlight: null, stopReason: `fenced: ${input.reason}` }, out];
    case "renew_failed":
      return [tick({ ...s, inFlight: null, renewAt: input.at + leaseTiming(s.ttlMs).retryMs }, input.at), out];
    case "tick":
      return [tick(s, input.at), out];
  }

  /** Stop at the deadline; renew when due and nothing is in flight. */
  function tick(state: KeeperState, at: number): KeeperState {
    let next = state;
    if (next.phase === "forwarding" && at >= next.deadline) next = stop(next, "cannot_renew", at);
    if (renewing(next) && next.inFlight === null && at >= next.renewAt) next = renewNow(next, at);
    return next;
  }

  function releaseNow(state: KeeperState, at: number): KeeperState {
    if (state.phase === "idle" || state.phase === "releasing") return state;
    const stopped = stop(state, "released", at, "releasing");
    out.push({ type: "release", epoch: state.epoch });
    return stopped;
  }
}

/** The local time the keeper next needs a tick: the deadline while forwarding, else the next renewal; null: nothing scheduled. */
export function nextWake(s: KeeperState): number | null {
  if (!renewing(s)) return null;
  const renew = s.inFlight === null ? s.renewAt : Number.POSITIVE_INFINITY;
  const wake = s.phase === "forwarding" ? Math.min(renew, s.deadline) : renew;
  return Number.isFinite(wake) ? wake : null;
}
