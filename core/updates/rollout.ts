/**
 * A rollout, as a pure machine: it moves one channel of one cluster from
 * one version to another, ring by ring (a canary ring first, then the rest).
 * It advances when a stated share of the ring it has reached reports
 * `running` on the target; it halts by itself when a stated share of any
 * ring it reached reports `rolled_back` or `failed` for the target, and
 * then every node it moved is asked back to the previous version. Operators
 * pause, resume and halt it; blocklisting the target halts it. No clock and
 * no IO: times arrive in events, and the caller (control/versions/) stores
 * the state and audits the effects.
 */

export const ROLLOUT_STATUSES = ["active", "paused", "halted", "completed"] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];

export interface RolloutState {
  status: RolloutStatus;
  /** Ring names in order; a node whose ring is not listed is moved when the rollout completes. */
  rings: string[];
  /** The last ring moved to the target (0: the first ring is being updated). */
  ring_index: number;
  /** Share (0–1] of a ring that must report `running` on the target before the next ring starts. */
  advance_share: number;
  /** Share (0–1] of a reached ring reporting `rolled_back`/`failed` for the target that halts the rollout. */
  halt_share: number;
  halted_reason: string | null;
  updated_at: string;
}

/** How the nodes of one ring report the target, counted by the caller from the nodes' update states. */
export interface RingTally {
  total: number;
  running: number;
  failed: number;
}

export type RolloutEvent =
  | { type: "pause"; at: string }
  | { type: "resume"; at: string }
  | { type: "halt"; at: string; reason: string }
  | { type: "tally"; at: string; rings: Record<string, RingTally> };

export type RolloutEffect =
  | { kind: "advanced"; ring: string; ring_index: number }
  | { kind: "completed" }
  | { kind: "halted"; reason: string; ring: string | null }
  | { kind: "paused" }
  | { kind: "resumed" };

export class RolloutRefused extends Error {
  constructor(readonly reason: "not_open" | "not_active" | "not_paused") {
    super(`the rollout cannot do that now (${reason})`);
  }
}

export function startRollout(opts: { rings: string[]; advance_share: number; halt_share: number; at: string }): RolloutState {
  return {
    status: "active",
    rings: [...opts.rings],
    ring_index: 0,
    advance_share: opts.advance_share,
    halt_share: opts.halt_share,
    halted_reason: null,
    updated_at: opts.at,
  };
}

const isOpen = (s: RolloutState) => s.status === "active" || s.status === "paused";

/** The next state and what happened; throws RolloutRefused for an operator command that does not apply. */
export function stepRollout(s: RolloutState, e: RolloutEvent): { state: RolloutState; effects: RolloutEffect[] } {
  switch (e.type) {
    case "pause":
      if (s.status !== "active") throw new RolloutRefused("not_active");
      return { state: { ...s, status: "paused", updated_at: e.at }, effects: [{ kind: "paused" }] };
    case "resume":
      if (s.status !== "paused") throw new RolloutRefused("not_paused");
      return { state: { ...s, status: "active", updated_at: e.at }, effects: [{ kind: "resumed" }] };
    case "halt":
      if (!isOpen(s)) throw new RolloutRefused("not_open");
      return halt(s, e.reason, null, e.at);
    case "tally":
      return tally(s, e.rings, e.at);
  }
}

function halt(s: RolloutState, reason: string, ring: string | null, at: string) {
  return { state: { ...s, status: "halted" as const, halted_reason: reason, updated_at: at }, effects: [{ kind: "halted" as const, reason, ring }] };
}

function tally(s: RolloutState, rings: Record<string, RingTally>, at: string): { state: RolloutState; effects: RolloutEffect[] } {
  if (!isOpen(s)) return { state: s, effects: [] };
  // Safety first, paused or not: any ring already moved that fails enough halts everything.
  for (let i = 0; i <= s.ring_index && i < s.rings.length; i++) {
    const ring = s.rings[i] as string;
    const t = rings[ring];
    if (t && t.total > 0 && t.failed > 0 && t.failed / t.total >= s.halt_share)
      return halt(s, `${t.failed} of ${t.total} nodes in ring ${ring} rolled back or failed`, ring, at);
  }
  if (s.status === "paused") return { state: s, effects: [] };
  let state = s;
  const effects: RolloutEffect[] = [];
  while (state.status === "active") {
    const ring = state.rings[state.ring_index] as string;
    const t = rings[ring] ?? { total: 0, running: 0, failed: 0 };
    // An empty ring is passed at once; otherwise the stated share must run the target.
    if (t.total > 0 && t.running / t.total < state.advance_share) break;
    if (state.ring_index >= state.rings.length - 1) {
      state = { ...state, status: "completed", updated_at: at };
      effects.push({ kind: "completed" });
      break;
    }
    state = { ...state, ring_index: state.ring_index + 1, updated_at: at };
    effects.push({ kind: "advanced", ring: state.rings[state.ring_index] as string, ring_index: state.ring_index });
  }
  return { state, effects };
}

/**
 * The version a node of `ring` is asked to run on a channel: the channel's
 * version, unless a rollout of that channel says otherwise. Rings the
 * rollout reached get the target; a halted rollout sends everyone back.
 */
export function desiredVersion(
  channelVersion: string | null,
  rollout: { state: RolloutState; from: string | null; to: string } | null,
  ring: string,
): string | null {
  if (!rollout) return channelVersion;
  const { state } = rollout;
  if (state.status === "completed") return rollout.to;
  if (state.status === "halted") return rollout.from;
  const idx = state.rings.indexOf(ring);
  return idx !== -1 && idx <= state.ring_index ? rollout.to : rollout.from;
}
