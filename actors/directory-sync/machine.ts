/**
 * The periodic sync of one LDAP identity source's directory (the actor id is
 * the source id). Pure: it only keeps the next run as a durable timer and
 * asks for a run; the run itself (LDAP searches, member changes, session
 * revocations) is the control plane's, after commit.
 *
 *   idle ──schedule──▶ scheduled ──due (timer)──▶ scheduled  (run, next timer)
 *                        │  ╰──schedule──▶ scheduled (new interval: timer reset)
 *                        ╰──stop──▶ idle (timer cancelled)
 */
import { assign, setup } from "xstate";
import { timerActions, TIMER_CANCEL, TIMER_SCHEDULE } from "../host/kind.ts";

export const DIRECTORY_SYNC = "directory_sync";
export const SYNC_TIMER = "sync";
export const RUN_SYNC = "directory_sync.run";

export interface DirectorySyncContext {
  organizationId: string | null;
  intervalSeconds: number;
}

export type DirectorySyncEvent =
  | { type: "directory_sync.schedule"; organizationId: string | null; intervalSeconds: number }
  | { type: "directory_sync.due" }
  | { type: "directory_sync.stop" };

const next = {
  type: TIMER_SCHEDULE,
  params: ({ context }: { context: DirectorySyncContext }) => ({
    name: SYNC_TIMER,
    delayMs: context.intervalSeconds * 1000,
    event: { type: "directory_sync.due" },
  }),
} as const;

export const directorySyncMachine = setup({
  types: {} as { context: DirectorySyncContext; events: DirectorySyncEvent },
  actions: { ...timerActions, [RUN_SYNC]: () => {} },
}).createMachine({
  id: DIRECTORY_SYNC,
  initial: "idle",
  context: { organizationId: null, intervalSeconds: 900 },
  states: {
    idle: {
      on: {
        "directory_sync.schedule": {
          target: "scheduled",
          actions: [assign(({ event }) => ({ organizationId: event.organizationId, intervalSeconds: event.intervalSeconds })), next],
        },
      },
    },
    scheduled: {
      on: {
        "directory_sync.schedule": {
          actions: [assign(({ event }) => ({ organizationId: event.organizationId, intervalSeconds: event.intervalSeconds })), next],
        },
        // The effect of RUN_SYNC hands the source (the actor id) to the sync runner.
        "directory_sync.due": { actions: [RUN_SYNC, next] },
        "directory_sync.stop": { target: "idle", actions: { type: TIMER_CANCEL, params: { name: SYNC_TIMER } } },
      },
    },
  },
});
