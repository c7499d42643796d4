/**
 * The cluster actor's lifecycle. Pure: no IO, no clock; the command layer
 * stamps times into events. Archiving is soft with a grace period held by a
 * durable timer, so an archive can be undone until it is due, across restarts.
 *
 *   new ──create──▶ active ⇄ suspended
 *                     │  ╲      │
 *                  archive ╲  archive
 *                     ▼      ▼  ▼
 *                    archiving ──archive_due──▶ archived (final)
 *                     │ restore
 *                     ▼
 *                   active
 *
 * Orthogonal to the lifecycle: `partition` (normal | minority) and the
 * authority term. mark_minority: normal → minority; promote: minority →
 * normal with term + 1; merge: minority → normal, same term.
 */
import { and, assign, not, setup, stateIn } from "xstate";
import { timerActions, TIMER_CANCEL, TIMER_SCHEDULE } from "../host/kind.ts";

export const ARCHIVE_TIMER = "archive";

export interface ClusterContext {
  name: string;
  slug: string;
  region: string | null;
  metadata: Record<string, unknown>;
  suspendedReason: string | null;
  archiveDueAt: string | null;
  /** `minority`: this cluster's control segment lost authority; trust-changing work is refused until promoted or merged. */
  partition: "normal" | "minority";
  /** Bumped by every promotion, so material signed under an older term can be told apart. */
  authorityTerm: number;
}

export type ClusterEvent =
  | { type: "cluster.create"; name: string; slug: string; region: string | null; metadata: Record<string, unknown> }
  | { type: "cluster.update"; name?: string; slug?: string; region?: string | null; metadata?: Record<string, unknown> }
  | { type: "cluster.suspend"; reason: string }
  | { type: "cluster.resume" }
  | { type: "cluster.archive"; graceMs: number; requestedAt: string }
  | { type: "cluster.restore" }
  | { type: "cluster.archive_due" }
  | { type: "cluster.mark_minority"; reason: string }
  | { type: "cluster.promote" }
  | { type: "cluster.merge" };

export type ClusterStatus = "active" | "suspended" | "archiving" | "archived";

export const clusterMachine = setup({
  types: {} as { context: ClusterContext; events: ClusterEvent },
  guards: {
    // A cluster that was never created (slug still empty) has no partition to change.
    isNormal: ({ context }) => context.slug !== "" && (context.partition ?? "normal") === "normal",
    isMinority: ({ context }) => context.slug !== "" && context.partition === "minority",
  },
  actions: {
    ...timerActions,
    applyUpdate: assign(({ context, event }) => {
      if (event.type !== "cluster.update") return {};
      return {
        name: event.name ?? context.name,
        slug: event.slug ?? context.slug,
        region: event.region === undefined ? context.region : event.region,
        metadata: event.metadata ?? context.metadata,
      };
    }),
  },
}).createMachine({
  id: "cluster",
  initial: "new",
  context: { name: "", slug: "", region: null, metadata: {}, suspendedReason: null, archiveDueAt: null, partition: "normal", authorityTerm: 1 },
  // Partition state is orthogonal to the lifecycle: any live cluster can lose or regain authority.
  on: {
    "cluster.mark_minority": { guard: and(["isNormal", not(stateIn("archived"))]), actions: assign({ partition: "minority" }) },
    "cluster.promote": {
      guard: and(["isMinority", not(stateIn("archived"))]),
      actions: assign(({ context }) => ({ partition: "normal" as const, authorityTerm: (context.authorityTerm ?? 1) + 1 })),
    },
    "cluster.merge": { guard: and(["isMinority", not(stateIn("archived"))]), actions: assign({ partition: "normal" }) },
  },
  states: {
    new: {
      on: {
        "cluster.create": {
          target: "active",
          actions: assign(({ event }) => ({ name: event.name, slug: event.slug, region: event.region, metadata: event.metadata })),
        },
      },
    },
    active: {
      on: {
        "cluster.update": { actions: "applyUpdate" },
        "cluster.suspend": { target: "suspended", actions: assign(({ event }) => ({ suspendedReason: event.reason })) },
        "cluster.archive": "#cluster.archiving",
      },
    },
    suspended: {
      on: {
        "cluster.update": { actions: "applyUpdate" },
        "cluster.resume": { target: "active", actions: assign({ suspendedReason: null }) },
        "cluster.archive": "#cluster.archiving",
      },
    },
    archiving: {
      entry: [
        assign(({ event }) =>
          event.type === "cluster.archive" ? { archiveDueAt: new Date(Date.parse(event.requestedAt) + event.graceMs).toISOString() } : {},
        ),
        {
          type: TIMER_SCHEDULE,
          params: ({ context }) => ({
            name: ARCHIVE_TIMER,
            dueAt: context.archiveDueAt ?? new Date(0).toISOString(),
            event: { type: "cluster.archive_due" },
          }),
        },
      ],
      on: {
        "cluster.restore": {
          target: "active",
          actions: [assign({ archiveDueAt: null, suspendedReason: null }), { type: TIMER_CANCEL, params: { name: ARCHIVE_TIMER } }],
        },
        "cluster.archive_due": "archived",
      },
    },
    archived: { type: "final" },
  },
});
