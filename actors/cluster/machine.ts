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
 */
import { assign, setup } from "xstate";
import { timerActions, TIMER_CANCEL, TIMER_SCHEDULE } from "../host/kind.ts";

export const ARCHIVE_TIMER = "archive";

export interface ClusterContext {
  name: string;
  slug: string;
  region: string | null;
  metadata: Record<string, unknown>;
  suspendedReason: string | null;
  archiveDueAt: string | null;
}

export type ClusterEvent =
  | { type: "cluster.create"; name: string; slug: string; region: string | null; metadata: Record<string, unknown> }
  | { type: "cluster.update"; name?: string; slug?: string; region?: string | null; metadata?: Record<string, unknown> }
  | { type: "cluster.suspend"; reason: string }
  | { type: "cluster.resume" }
  | { type: "cluster.archive"; graceMs: number; requestedAt: string }
  | { type: "cluster.restore" }
  | { type: "cluster.archive_due" };

export type ClusterStatus = "active" | "suspended" | "archiving" | "archived";

export const clusterMachine = setup({
  types: {} as { context: ClusterContext; events: ClusterEvent },
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
  context: { name: "", slug: "", region: null, metadata: {}, suspendedReason: null, archiveDueAt: null },
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
        assign(({ event }) => (event.type === "cluster.archive" ? { archiveDueAt: new Date(Date.parse(event.requestedAt) + event.graceMs).toISOString() } : {})),
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
