/**
 * A node's request to join a cluster. Pure; times arrive in events.
 *
 *   new ──submit──▶ pending ──approve──▶ approved (final)
 *                     │ ╲──reject───▶ rejected (final)
 *                     ╰──expire (durable timer)──▶ expired (final)
 *
 * Manual approval is the only way to `approved`.
 */
import { assign, setup } from "xstate";
import { timerActions, TIMER_CANCEL, TIMER_SCHEDULE } from "../host/kind.ts";

export const EXPIRE_TIMER = "expire";

export interface JoinRequestContext {
  clusterId: string;
  tokenId: string;
  nodeName: string;
  fingerprint: string;
  publicKey: string;
  facts: Record<string, unknown>;
  capabilities: Record<string, boolean>;
  requestedRoles: string[];
  sourceIp: string | null;
  expiresAt: string | null;
  reviewedBy: string | null;
  reviewedAt: string | null;
  approvedNodeId: string | null;
  rejectionReason: string | null;
}

export type JoinRequestEvent =
  | ({ type: "join.submit" } & Omit<JoinRequestContext, "reviewedBy" | "reviewedAt" | "approvedNodeId" | "rejectionReason">)
  | { type: "join.approve"; nodeId: string; reviewedBy: string; at: string }
  | { type: "join.reject"; reason: string; reviewedBy: string; at: string }
  | { type: "join.expire" };

const cancelExpiry = { type: TIMER_CANCEL, params: { name: EXPIRE_TIMER } } as const;

export const joinRequestMachine = setup({
  types: {} as { context: JoinRequestContext; events: JoinRequestEvent },
  actions: { ...timerActions },
}).createMachine({
  id: "join_request",
  initial: "new",
  context: {
    clusterId: "",
    tokenId: "",
    nodeName: "",
    fingerprint: "",
    publicKey: "",
    facts: {},
    capabilities: {},
    requestedRoles: [],
    sourceIp: null,
    expiresAt: null,
    reviewedBy: null,
    reviewedAt: null,
    approvedNodeId: null,
    rejectionReason: null,
  },
  states: {
    new: {
      on: {
        "join.submit": {
          target: "pending",
          actions: [
            assign(({ event }) => {
              const { type: _type, ...fields } = event;
              return fields;
            }),
            {
              type: TIMER_SCHEDULE,
              params: ({ event }) => ({ name: EXPIRE_TIMER, dueAt: event.expiresAt ?? new Date(0).toISOString(), event: { type: "join.expire" } }),
            },
          ],
        },
      },
    },
    pending: {
      on: {
        "join.approve": {
          target: "approved",
          actions: [assign(({ event }) => ({ approvedNodeId: event.nodeId, reviewedBy: event.reviewedBy, reviewedAt: event.at })), cancelExpiry],
        },
        "join.reject": {
          target: "rejected",
          actions: [assign(({ event }) => ({ rejectionReason: event.reason, reviewedBy: event.reviewedBy, reviewedAt: event.at })), cancelExpiry],
        },
        "join.expire": "expired",
      },
    },
    approved: { type: "final" },
    rejected: { type: "final" },
    expired: { type: "final" },
  },
});
