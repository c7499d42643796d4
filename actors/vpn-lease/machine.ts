/**
 * The lease of one VPN connection: who may run it now, until when, and
 * under which fencing epoch. Pure; times arrive in events; the expiry is the
 * durable timer `expiry` (never xstate `after`), so a lease runs out on time
 * across restarts and replicas.
 *
 *   new ──open──▶ vacant ──grant (epoch+1)──▶ held ──renew──▶ held
 *                   ▲                           │
 *                   │   expire / release ───────┤ (standby set: granted to it, epoch+1, same transition)
 *                   │                           │
 *                   └──── expire / release ◀── fencing ◀── fence
 *   any state but retired ──retire──▶ retired (final)
 *
 * Safety rules (docs/vpn.md, "Lease and fencing"):
 * - every grant takes a new epoch, one more than the last; epochs never go back;
 * - only the owner renews, only under its epoch, only before its lease ends: a
 *   stale owner's renewal is refused (the host rejects an event no guard takes);
 * - a fence (owner lost, disabled, removed from the allowed nodes, connection
 *   disabled) does not end the lease at once: the owner may not hear of it, so
 *   nobody else is granted the connection before the fenced lease runs out,
 *   unless the owner releases it (it has stopped);
 * - a release by the owner (graceful drain) hands over at once.
 * Every change is appended to `history` in the event format every recorder
 * shares (core/contracts/vpn.ts); the projection stores it and the history
 * checker reads it.
 */
import { and, assign, enqueueActions, setup } from "xstate";
import type { VpnHistoryEvent } from "../../core/contracts/vpn.ts";
import { timerActions, TIMER_CANCEL, TIMER_SCHEDULE } from "../host/kind.ts";

export const LEASE_EXPIRY_TIMER = "expiry";
export const OWNERSHIP_CHANGED = "vpn.ownership_changed";
/** How many history facts the snapshot keeps; the projection has them all. */
export const HISTORY_KEPT = 32;

/** A history fact with its place in the lease's sequence, so the projection writes each once. */
export type LeaseFact = VpnHistoryEvent & { seq: number };

export interface VpnLeaseContext {
  connectionId: string;
  organizationId: string;
  ttlMs: number;
  /** The last epoch granted (0: never). */
  epoch: number;
  ownerNodeId: string | null;
  standbyNodeId: string | null;
  grantedAt: string | null;
  renewedAt: string | null;
  expiresAt: string | null;
  /** Set while the owner is fenced: why. */
  fencedReason: string | null;
  /** Why the last owner's lease ended (`expired`, `released`, a fence reason). */
  lastEndReason: string | null;
  /** How many times the connection moved to another node without its owner releasing it. */
  failovers: number;
  /** Renewals accepted in the current term (since its grant); renewals are not audited one by one, the term's end says how many. */
  renewals: number;
  /** The term that ended last, for the audit row of its end: one row per term instead of one per renewal. */
  endedTerm: EndedTerm | null;
  seq: number;
  history: LeaseFact[];
}

/** A finished lease term: who held which epoch, from when to when, renewed how often. */
export interface EndedTerm {
  epoch: number;
  node_id: string;
  granted_at: string | null;
  last_renewed_at: string | null;
  renewals: number;
  ended_at: string;
  reason: string;
}

export type VpnLeaseEvent =
  | { type: "lease.open"; connectionId: string; organizationId: string; ttlMs: number }
  | { type: "lease.grant"; nodeId: string; standbyNodeId: string | null; at: string }
  | { type: "lease.renew"; nodeId: string; epoch: number; at: string }
  | { type: "lease.expire"; epoch: number; at: string }
  | { type: "lease.release"; nodeId: string; epoch: number; at: string }
  | { type: "lease.fence"; reason: string; at: string; keepStandby: boolean }
  | { type: "lease.set_standby"; nodeId: string | null }
  | { type: "lease.retire"; at: string };

const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

/** The context after recording one fact. */
function recorded(c: VpnLeaseContext, fact: Omit<VpnHistoryEvent, "connection_id">): Pick<VpnLeaseContext, "seq" | "history"> {
  const seq = c.seq + 1;
  return { seq, history: [...c.history, { ...fact, connection_id: c.connectionId, seq }].slice(-HISTORY_KEPT) };
}

/** The owner's lease ends (`kind`); the standby, if any and not the leaving owner, is granted the next epoch at once. */
function endAndHandOver(c: VpnLeaseContext, kind: "lease.expired" | "lease.released", at: string, reason: string): Partial<VpnLeaseContext> {
  const ended = { ...c, ...recorded(c, { kind, node_id: c.ownerNodeId ?? "", epoch: c.epoch, at, reason }) };
  const endedTerm: EndedTerm = {
    epoch: c.epoch,
    node_id: c.ownerNodeId ?? "",
    granted_at: c.grantedAt,
    last_renewed_at: c.renewedAt,
    // Absent in a snapshot persisted before renewals were counted.
    renewals: c.renewals ?? 0,
    ended_at: at,
    reason,
  };
  const base = { ...ended, ownerNodeId: null, grantedAt: null, renewedAt: null, expiresAt: null, lastEndReason: reason, fencedReason: null, endedTerm };
  const next = c.standbyNodeId && c.standbyNodeId !== c.ownerNodeId ? c.standbyNodeId : null;
  if (!next) return base;
  return { ...granted(base, next, null, at), failovers: c.failovers + (kind === "lease.expired" ? 1 : 0) };
}

function granted(c: VpnLeaseContext, nodeId: string, standbyNodeId: string | null, at: string): VpnLeaseContext {
  const epoch = c.epoch + 1;
  const expiresAt = plus(at, c.ttlMs);
  return {
    ...c,
    epoch,
    ownerNodeId: nodeId,
    standbyNodeId: standbyNodeId === nodeId ? null : standbyNodeId,
    grantedAt: at,
    renewedAt: null,
    renewals: 0,
    expiresAt,
    fencedReason: null,
    ...recorded(c, { kind: "lease.granted", node_id: nodeId, epoch, at, expires_at: expiresAt }),
  };
}

/** An end of the owner's lease: to the standby at once (a new epoch) when there is one, else vacant. */
const endLease = (guard: "expiryDue" | "ownerInTime" | "ownerOfEpoch") =>
  [
    { guard: and([guard, "standbyWillTakeOver"]), target: "held", reenter: true, actions: ["endLease", "scheduleExpiry", OWNERSHIP_CHANGED] },
    { guard, target: "vacant", actions: ["endLease", "cancelExpiry", OWNERSHIP_CHANGED] },
  ] as const;

export const vpnLeaseMachine = setup({
  types: {} as { context: VpnLeaseContext; events: VpnLeaseEvent },
  guards: {
    /** Owner, epoch and time all current: anything else is a stale owner. */
    ownerInTime: ({ context: c, event }) =>
      (event.type === "lease.renew" || event.type === "lease.release") &&
      event.nodeId === c.ownerNodeId &&
      event.epoch === c.epoch &&
      c.expiresAt !== null &&
      Date.parse(event.at) < Date.parse(c.expiresAt),
    /** The owner may release even after a fence (it says it stopped); never another node, never an old epoch. */
    ownerOfEpoch: ({ context: c, event }) => event.type === "lease.release" && event.nodeId === c.ownerNodeId && event.epoch === c.epoch,
    /** The timer of the current epoch, at or after the lease's end (a renewed lease's old timer is stale). */
    expiryDue: ({ context: c, event }) =>
      event.type === "lease.expire" && event.epoch === c.epoch && c.expiresAt !== null && Date.parse(event.at) >= Date.parse(c.expiresAt),
    standbyWillTakeOver: ({ context: c }) => c.standbyNodeId !== null && c.standbyNodeId !== c.ownerNodeId,
  },
  actions: {
    ...timerActions,
    /** Who runs the connection changed: nodes' snapshots must be rebuilt (an effect of the kind, after commit). */
    [OWNERSHIP_CHANGED]: () => {},
    scheduleExpiry: enqueueActions(({ context: c, enqueue }) => {
      if (!c.expiresAt) return;
      enqueue({
        type: TIMER_SCHEDULE,
        params: { name: LEASE_EXPIRY_TIMER, dueAt: c.expiresAt, event: { type: "lease.expire", epoch: c.epoch, at: c.expiresAt } },
      } as never);
    }),
    /** The lease ends by expiry or release; `reason` kept as the last end reason (a fence's reason when it was fenced). */
    endLease: assign(({ context: c, event }) => {
      if (event.type === "lease.expire") return endAndHandOver(c, "lease.expired", event.at, c.fencedReason ?? "expired");
      if (event.type === "lease.release") return endAndHandOver(c, "lease.released", event.at, "released");
      return {};
    }),
    cancelExpiry: enqueueActions(({ enqueue }) => enqueue({ type: TIMER_CANCEL, params: { name: LEASE_EXPIRY_TIMER } } as never)),
  },
}).createMachine({
  id: "vpn_lease",
  initial: "new",
  context: {
    connectionId: "",
    organizationId: "",
    ttlMs: 0,
    epoch: 0,
    ownerNodeId: null,
    standbyNodeId: null,
    grantedAt: null,
    renewedAt: null,
    expiresAt: null,
    lastEndReason: null,
    fencedReason: null,
    failovers: 0,
    renewals: 0,
    endedTerm: null,
    seq: 0,
    history: [],
  },
  on: {
    "lease.set_standby": {
      actions: [assign(({ context: c, event }) => ({ standbyNodeId: event.nodeId === c.ownerNodeId ? null : event.nodeId })), OWNERSHIP_CHANGED],
    },
  },
  states: {
    new: {
      on: {
        "lease.open": {
          target: "vacant",
          guard: ({ event }) => event.ttlMs > 0,
          actions: assign(({ event }) => ({ connectionId: event.connectionId, organizationId: event.organizationId, ttlMs: event.ttlMs })),
        },
      },
    },
    vacant: {
      on: {
        "lease.grant": {
          target: "held",
          actions: [assign(({ context, event }) => granted(context, event.nodeId, event.standbyNodeId, event.at)), "scheduleExpiry", OWNERSHIP_CHANGED],
        },
        "lease.retire": "retired",
      },
    },
    held: {
      on: {
        "lease.renew": {
          guard: "ownerInTime",
          actions: [
            assign(({ context: c, event }) => {
              const expiresAt = plus(event.at, c.ttlMs);
              return {
                renewedAt: event.at,
                renewals: (c.renewals ?? 0) + 1,
                expiresAt,
                ...recorded(c, { kind: "lease.renewed", node_id: event.nodeId, epoch: c.epoch, at: event.at, expires_at: expiresAt }),
              };
            }),
            "scheduleExpiry",
          ],
        },
        "lease.expire": endLease("expiryDue"),
        "lease.release": endLease("ownerInTime"),
        "lease.fence": {
          target: "fencing",
          actions: [
            OWNERSHIP_CHANGED,
            assign(({ context: c, event }) => ({
              fencedReason: event.reason,
              standbyNodeId: event.keepStandby ? c.standbyNodeId : null,
              ...recorded(c, {
                kind: "lease.fenced",
                node_id: c.ownerNodeId ?? "",
                epoch: c.epoch,
                at: event.at,
                expires_at: c.expiresAt ?? event.at,
                reason: event.reason,
              }),
            })),
          ],
        },
        "lease.retire": {
          target: "retired",
          actions: [
            OWNERSHIP_CHANGED,
            assign(({ context: c, event }) => ({
              lastEndReason: "retired",
              standbyNodeId: null,
              ...recorded(c, {
                kind: "lease.fenced",
                node_id: c.ownerNodeId ?? "",
                epoch: c.epoch,
                at: event.at,
                expires_at: c.expiresAt ?? event.at,
                reason: "retired",
              }),
            })),
          ],
        },
      },
    },
    fencing: {
      on: {
        "lease.expire": endLease("expiryDue"),
        "lease.release": endLease("ownerOfEpoch"),
        "lease.retire": "retired",
      },
    },
    retired: { type: "final" },
  },
});
