/**
 * A node's lifecycle in its cluster. Pure; times arrive in events.
 *
 *   new ──enroll──▶ pending ──activate (identity picked up)──▶ active ⇄ draining
 *                                                              ⇅          │
 *                                                            disabled ◀───╯
 *   any live state ──revoke──▶ revoked (final)
 *
 * Health (healthy | stale | offline) is context, changed only when it
 * actually changes. Liveness is a durable timer named `liveness`: it is
 * scheduled at enrolment, (re)scheduled here on every health change and, for
 * each heartbeat, pushed forward by the batched heartbeat writer in the same
 * multi-row write, so a silent node's timer fires and moves it healthy →
 * stale → offline while heartbeats themselves never transition the actor.
 * Every state but `new` and `revoked` follows health, so a pending node whose
 * agent never picks up its identity, or a disabled node whose agent stopped,
 * goes stale and offline too. Health alone does not say the node was ever
 * seen: readers pair it with the last heartbeat (none yet: "never seen").
 *
 * The node's group is context too (`node.set_group`, in any state but
 * revoked), so the `nodes` row is written only by this actor's projection.
 * Snapshots persisted before groups were context have no `groupId`: the
 * projection then leaves the row's group as it is.
 */

export { LIVENESS_TIMER, OFFLINE_AFTER_MS, STALE_AFTER_MS };
import { assign, enqueueActions, setup } from "xstate";
import { timerActions, TIMER_CANCEL, TIMER_SCHEDULE } from "../host/kind.ts";
import { LIVENESS_TIMER, OFFLINE_AFTER_MS, STALE_AFTER_MS } from "../../core/fabric.ts";

export type NodeHealth = "healthy" | "stale" | "offline";

export interface NodeContext {
  clusterId: string;
  name: string;
  capabilities: Record<string, boolean>;
  facts: Record<string, unknown>;
  joinRequestId: string;
  health: NodeHealth;
  disabledReason: string | null;
  revokedReason: string | null;
  /** Undefined only in snapshots persisted before groups were context. */
  groupId?: string | null;
}

export type NodeEvent =
  | {
      type: "node.enroll";
      clusterId: string;
      name: string;
      capabilities: Record<string, boolean>;
      facts: Record<string, unknown>;
      joinRequestId: string;
      groupId?: string | null;
    }
  | { type: "node.activate" }
  | { type: "node.drain" }
  | { type: "node.disable"; reason: string }
  | { type: "node.enable" }
  | { type: "node.revoke"; reason: string }
  | { type: "node.health"; health: NodeHealth }
  | { type: "node.set_group"; groupId: string | null };

const SET_GROUP = { "node.set_group": { actions: "recordGroup" } } as const;

/** Health moves in every live state; the liveness timer follows it. */
const HEALTH = { "node.health": { guard: "healthChanges", actions: ["recordHealth", "watchLiveness"] } } as const;
/** Revocation ends the liveness watch. */
const REVOKE = { "node.revoke": { target: "revoked", actions: ["recordRevoke", { type: TIMER_CANCEL, params: { name: LIVENESS_TIMER } }] } } as const;

/** What active and draining nodes both accept. A disabled node keeps its liveness watch: its health stays truthful. */
const IN_SERVICE = {
  "node.disable": { target: "disabled", actions: "recordDisable" },
  ...REVOKE,
  ...HEALTH,
  ...SET_GROUP,
} as const;

export const nodeMachine = setup({
  types: {} as { context: NodeContext; events: NodeEvent },
  guards: {
    healthChanges: ({ context, event }) => event.type === "node.health" && event.health !== context.health,
  },
  actions: {
    ...timerActions,
    recordDisable: assign(({ event }) => (event.type === "node.disable" ? { disabledReason: event.reason } : {})),
    recordRevoke: assign(({ event }) => (event.type === "node.revoke" ? { revokedReason: event.reason } : {})),
    recordHealth: assign(({ event }) => (event.type === "node.health" ? { health: event.health } : {})),
    recordGroup: assign(({ event }) => (event.type === "node.set_group" ? { groupId: event.groupId } : {})),
    /** Healthy waits for stale, stale waits for offline, offline waits for nothing. */
    watchLiveness: enqueueActions(({ context, enqueue }) => {
      // Sibling actions of setup() are not typed inside it; the host reads these by type name.
      if (context.health === "healthy") {
        enqueue({ type: TIMER_SCHEDULE, params: { name: LIVENESS_TIMER, delayMs: STALE_AFTER_MS, event: { type: "node.health", health: "stale" } } } as never);
      } else if (context.health === "stale") {
        enqueue({
          type: TIMER_SCHEDULE,
          params: { name: LIVENESS_TIMER, delayMs: OFFLINE_AFTER_MS - STALE_AFTER_MS, event: { type: "node.health", health: "offline" } },
        } as never);
      } else {
        enqueue({ type: TIMER_CANCEL, params: { name: LIVENESS_TIMER } } as never);
      }
    }),
  },
}).createMachine({
  id: "node",
  initial: "new",
  context: {
    clusterId: "",
    name: "",
    capabilities: {},
    facts: {},
    joinRequestId: "",
    health: "healthy",
    disabledReason: null,
    revokedReason: null,
    groupId: null,
  },
  states: {
    new: {
      on: {
        "node.enroll": {
          target: "pending",
          // The liveness watch starts now: a node whose agent never takes its identity goes stale, then offline.
          actions: [
            assign(({ event }) => ({
              clusterId: event.clusterId,
              name: event.name,
              capabilities: event.capabilities,
              facts: event.facts,
              joinRequestId: event.joinRequestId,
              groupId: event.groupId ?? null,
            })),
            "watchLiveness",
          ],
        },
      },
    },
    pending: {
      on: {
        "node.activate": { target: "active", actions: "watchLiveness" },
        ...REVOKE,
        ...HEALTH,
        ...SET_GROUP,
      },
    },
    active: {
      on: {
        "node.drain": "draining",
        ...IN_SERVICE,
      },
    },
    draining: {
      on: {
        "node.activate": "active",
        ...IN_SERVICE,
      },
    },
    disabled: {
      on: {
        // Health is kept as it is: enabling a silent node does not make it healthy; its next heartbeat does.
        "node.enable": { target: "active", actions: [assign({ disabledReason: null }), "watchLiveness"] },
        ...REVOKE,
        ...HEALTH,
        ...SET_GROUP,
      },
    },
    revoked: { type: "final" },
  },
});
