/**
 * A remote session (spec: session broker). Pure; times arrive in events.
 *
 *   requested ─start─▶ placing ─placed─▶ starting ─adapter_started─▶ active ⇄ detached
 *                          │                 │                        │         │ detached_timeout (timer)
 *                          ╰─fail─▶ failed ◀─┴─ adapter_failed / fail ┴─────────┤
 *                                                                              ▼
 *   starting/active/detached ─terminate─▶ terminating ─adapter_ended / stop_timeout─▶ terminated
 *   starting/active/detached ─adapter_ended─▶ terminated
 *
 * Attachments are context: each attach, reattach or takeover adds one; the
 * controller is the one attachment in state `attached` with role
 * `controller` (observers come later). `active` means the adapter runs and a
 * controller is attached; `detached` means it runs with none, kept for the
 * resource's detached timeout (durable timer `detached_timeout`). A takeover
 * marks the old controller `taken_over` (the entry node sends it
 * `session.taken_over` and closes its transport). Starting has a durable
 * deadline (`start_timeout`), terminating a stop deadline (`stop_timeout`).
 * Failure is final: adapter node lost, the adapter reported failure, start
 * timeout, or no node to place it on.
 */
import { assign, enqueueActions, setup } from "xstate";
import { timerActions, TIMER_CANCEL, TIMER_SCHEDULE } from "../host/kind.ts";

export const START_TIMER = "start_timeout";
export const DETACHED_TIMER = "detached_timeout";
export const STOP_TIMER = "stop_timeout";
/** How long an adapter has to report `adapter.started`. */
export const START_TIMEOUT_MS = 60_000;
/** How long an adapter has to report `adapter.ended` after terminate before the session is closed anyway. */
export const STOP_TIMEOUT_MS = 30_000;
/** Ended attachments kept in context (the projection keeps all of them). */
export const MAX_ENDED_ATTACHMENTS = 20;

export type Protocol = "ssh" | "rdp" | "vnc";
export type TransferMode = "disabled" | "client_to_server" | "server_to_client" | "bidirectional";
export type QualityProfile = "emergency_grayscale" | "low_bandwidth" | "text_priority" | "balanced" | "high_quality";
export type ColorMode = "full" | "256" | "64" | "16" | "grayscale";
export type AttachmentState = "attached" | "detached" | "taken_over" | "ended";
export type FailureReason = "no_adapter_node" | "no_entry_node" | "adapter_node_lost" | "adapter_failed" | "start_timeout";

export interface Attachment {
  id: string;
  userId: string;
  /** The client (device) the attachment came from: the same client may reattach; another must take over. */
  clientId: string;
  role: "controller" | "observer";
  state: AttachmentState;
  attachedAt: string;
  endedAt: string | null;
  /** detached | reattached | taken_over | terminated | failed */
  endReason: string | null;
  takenOverBy: string | null;
}

export interface Placement {
  adapterNodeId: string;
  entryNodeIds: string[];
  /** The org-visible name of the entry point (its cluster's name). */
  entryName: string;
}

/**
 * Where the session connects, fixed at start: a later edit of the resource
 * does not move a running session. Optional so snapshots written before it
 * existed still restore (same machineVersion); those fall back to the live
 * resource.
 */
export interface SessionTarget {
  host: string;
  port: number;
  verification: "strict" | "ignore";
  /** The pinned host key (SSH) or certificate (RDP) under strict verification; absent in snapshots from before it was recorded. */
  hostKey?: string | null;
  /** Remote desktops: the quality policy the session started with; absent in snapshots from before it was recorded (then `balanced`, adjustable). */
  quality?: { profile: QualityProfile; colorMode: ColorMode | null; adjustable: boolean };
}

export interface RemoteSessionContext {
  organizationId: string;
  resourceId: string;
  resourceName: string;
  userId: string;
  protocol: Protocol;
  egressPool: string | null;
  clipboard: TransferMode;
  fileTransfer: TransferMode;
  detachedTimeoutMs: number;
  /** What the session was started with (absent in snapshots from before it was recorded). */
  target?: SessionTarget;
  placement: Placement | null;
  attachments: Attachment[];
  failureReason: FailureReason | null;
  failureDetail: string | null;
  endReason: string | null;
  requestedAt: string | null;
  startedAt: string | null;
  detachedAt: string | null;
  endedAt: string | null;
}

type NewAttachment = { attachmentId: string; userId: string; clientId: string; at: string };

export type RemoteSessionEvent =
  | ({
      type: "session.start";
      organizationId: string;
      resourceId: string;
      resourceName: string;
      protocol: Protocol;
      egressPool: string | null;
      clipboard: TransferMode;
      fileTransfer: TransferMode;
      detachedTimeoutMs: number;
      target?: SessionTarget;
    } & NewAttachment)
  | ({ type: "session.placed"; startTimeoutMs: number; at: string } & Placement)
  | { type: "session.adapter_started"; at: string }
  | { type: "session.adapter_failed"; reason: string; at: string }
  | { type: "session.adapter_ended"; reason: string | null; at: string }
  | ({ type: "session.attach" } & NewAttachment)
  | ({ type: "session.takeover" } & NewAttachment)
  | { type: "session.detach"; attachmentId: string; at: string }
  | { type: "session.terminate"; reason: string; at: string }
  | { type: "session.fail"; reason: FailureReason; detail?: string | null; at: string }
  | { type: "session.detached_timeout"; at: string }
  | { type: "session.stop_timeout"; at: string };

export const controllerOf = (c: RemoteSessionContext): Attachment | undefined => c.attachments.find((a) => a.role === "controller" && a.state === "attached");

/** Ends the live controller (if any) with `state` and `reason`; drops the oldest ended attachments beyond the bound. */
function endController(c: RemoteSessionContext, state: AttachmentState, reason: string, at: string, takenOverBy: string | null = null): Attachment[] {
  const list = c.attachments.map((a) => (a.role === "controller" && a.state === "attached" ? { ...a, state, endedAt: at, endReason: reason, takenOverBy } : a));
  return boundEnded(list);
}

function boundEnded(list: Attachment[]): Attachment[] {
  const ended = list.filter((a) => a.state !== "attached");
  if (ended.length <= MAX_ENDED_ATTACHMENTS) return list;
  const drop = new Set(ended.slice(0, ended.length - MAX_ENDED_ATTACHMENTS).map((a) => a.id));
  return list.filter((a) => !drop.has(a.id));
}

const newController = (e: NewAttachment): Attachment => ({
  id: e.attachmentId,
  userId: e.userId,
  clientId: e.clientId,
  role: "controller",
  state: "attached",
  attachedAt: e.at,
  endedAt: null,
  endReason: null,
  takenOverBy: null,
});

const eventAt = (e: RemoteSessionEvent): string => ("at" in e ? e.at : "");
const later = (at: string, ms: number) => new Date(Date.parse(at) + ms).toISOString();

export const remoteSessionMachine = setup({
  types: {} as { context: RemoteSessionContext; events: RemoteSessionEvent },
  guards: {
    hasController: ({ context }) => controllerOf(context) !== undefined,
    /** Attach is open when nobody controls the session, or for the controller's own client (a reattach). */
    mayAttach: ({ context, event }) => {
      if (event.type !== "session.attach") return false;
      const ctl = controllerOf(context);
      return !ctl || (ctl.userId === event.userId && ctl.clientId === event.clientId);
    },
    isController: ({ context, event }) => event.type === "session.detach" && controllerOf(context)?.id === event.attachmentId,
  },
  actions: {
    ...timerActions,
    attachController: assign(({ context, event }) => {
      if (event.type !== "session.attach" && event.type !== "session.takeover") return {};
      const ctl = controllerOf(context);
      const takeover = event.type === "session.takeover" && ctl !== undefined && !(ctl.userId === event.userId && ctl.clientId === event.clientId);
      const rest = ctl
        ? endController(context, takeover ? "taken_over" : "ended", takeover ? "taken_over" : "reattached", event.at, takeover ? event.attachmentId : null)
        : context.attachments;
      return { attachments: boundEnded([...rest, newController(event)]), detachedAt: null };
    }),
    detachController: assign(({ context, event }) => {
      if (event.type !== "session.detach") return {};
      return { attachments: endController(context, "detached", "detached", event.at), detachedAt: event.at };
    }),
    /** Every attachment ends with the session. */
    endAll: assign(({ context, event }) => {
      const at = eventAt(event);
      const reason = event.type === "session.fail" || event.type === "session.adapter_failed" ? "failed" : "terminated";
      return { attachments: endController(context, "ended", reason, at) };
    }),
    recordEnd: assign(({ context, event }) => {
      const at = eventAt(event);
      const reason =
        event.type === "session.terminate"
          ? event.reason
          : event.type === "session.adapter_ended"
            ? (event.reason ?? "adapter_ended")
            : event.type === "session.detached_timeout"
              ? "detached_timeout"
              : event.type === "session.stop_timeout"
                ? (context.endReason ?? "stop_timeout")
                : event.type === "session.fail"
                  ? event.reason
                  : context.endReason;
      return { endReason: context.endReason ?? reason, endedAt: at };
    }),
    recordFailure: assign(({ event }) => {
      const at = eventAt(event);
      if (event.type === "session.fail") return { failureReason: event.reason, failureDetail: event.detail ?? null, endedAt: at };
      if (event.type === "session.adapter_failed") return { failureReason: "adapter_failed" as const, failureDetail: event.reason, endedAt: at };
      return {};
    }),
    cancelAllTimers: enqueueActions(({ enqueue }) => {
      for (const name of [START_TIMER, DETACHED_TIMER, STOP_TIMER]) enqueue({ type: TIMER_CANCEL, params: { name } } as never);
    }),
    /** Timer events carry their due time as `at`, so the machine never reads a clock. */
    watchDetached: enqueueActions(({ context, event, enqueue }) => {
      const at = later(eventAt(event), context.detachedTimeoutMs);
      enqueue({ type: TIMER_SCHEDULE, params: { name: DETACHED_TIMER, dueAt: at, event: { type: "session.detached_timeout", at } } } as never);
    }),
    stopWatchingDetached: enqueueActions(({ enqueue }) => enqueue({ type: TIMER_CANCEL, params: { name: DETACHED_TIMER } } as never)),
    watchStop: enqueueActions(({ event, enqueue }) => {
      const at = later(eventAt(event), STOP_TIMEOUT_MS);
      enqueue({ type: TIMER_CANCEL, params: { name: START_TIMER } } as never);
      enqueue({ type: TIMER_CANCEL, params: { name: DETACHED_TIMER } } as never);
      enqueue({ type: TIMER_SCHEDULE, params: { name: STOP_TIMER, dueAt: at, event: { type: "session.stop_timeout", at } } } as never);
    }),
  },
}).createMachine({
  id: "remote_session",
  initial: "requested",
  context: {
    organizationId: "",
    resourceId: "",
    resourceName: "",
    userId: "",
    protocol: "ssh",
    egressPool: null,
    clipboard: "disabled",
    fileTransfer: "disabled",
    detachedTimeoutMs: 0,
    placement: null,
    attachments: [],
    failureReason: null,
    failureDetail: null,
    endReason: null,
    requestedAt: null,
    startedAt: null,
    detachedAt: null,
    endedAt: null,
  },
  states: {
    requested: {
      on: {
        "session.start": {
          target: "placing",
          actions: assign(({ event }) => ({
            organizationId: event.organizationId,
            resourceId: event.resourceId,
            resourceName: event.resourceName,
            userId: event.userId,
            protocol: event.protocol,
            egressPool: event.egressPool,
            clipboard: event.clipboard,
            fileTransfer: event.fileTransfer,
            detachedTimeoutMs: event.detachedTimeoutMs,
            ...(event.target ? { target: { ...event.target } } : {}),
            attachments: [newController(event)],
            requestedAt: event.at,
          })),
        },
      },
    },
    placing: {
      on: {
        "session.placed": {
          target: "starting",
          actions: [
            assign(({ event }) => ({ placement: { adapterNodeId: event.adapterNodeId, entryNodeIds: event.entryNodeIds, entryName: event.entryName } })),
            enqueueActions(({ event, enqueue }) => {
              if (event.type !== "session.placed") return;
              const at = later(event.at, event.startTimeoutMs);
              enqueue({
                type: TIMER_SCHEDULE,
                params: { name: START_TIMER, dueAt: at, event: { type: "session.fail", reason: "start_timeout", at } },
              } as never);
            }),
          ],
        },
        "session.fail": { target: "failed", actions: ["recordFailure", "endAll"] },
        "session.terminate": { target: "terminated", actions: ["recordEnd", "endAll"] },
      },
    },
    starting: {
      on: {
        "session.adapter_started": [
          {
            guard: "hasController",
            target: "active",
            actions: [{ type: TIMER_CANCEL, params: { name: START_TIMER } }, assign(({ event }) => ({ startedAt: event.at }))],
          },
          {
            target: "detached",
            actions: [
              { type: TIMER_CANCEL, params: { name: START_TIMER } },
              assign(({ event }) => ({ startedAt: event.at, detachedAt: event.at })),
              "watchDetached",
            ],
          },
        ],
        "session.attach": { guard: "mayAttach", actions: "attachController" },
        "session.takeover": { actions: "attachController" },
        "session.detach": { guard: "isController", actions: "detachController" },
        "session.terminate": { target: "terminating", actions: ["recordEnd", "endAll", "watchStop"] },
        "session.adapter_ended": { target: "terminated", actions: ["recordEnd", "endAll", "cancelAllTimers"] },
        "session.adapter_failed": { target: "failed", actions: ["recordFailure", "endAll", "cancelAllTimers"] },
        "session.fail": { target: "failed", actions: ["recordFailure", "endAll", "cancelAllTimers"] },
      },
    },
    active: {
      on: {
        "session.attach": { guard: "mayAttach", actions: "attachController" },
        "session.takeover": { actions: "attachController" },
        "session.detach": { guard: "isController", target: "detached", actions: ["detachController", "watchDetached"] },
        "session.terminate": { target: "terminating", actions: ["recordEnd", "endAll", "watchStop"] },
        "session.adapter_ended": { target: "terminated", actions: ["recordEnd", "endAll", "cancelAllTimers"] },
        "session.adapter_failed": { target: "failed", actions: ["recordFailure", "endAll", "cancelAllTimers"] },
        "session.fail": { target: "failed", actions: ["recordFailure", "endAll", "cancelAllTimers"] },
      },
    },
    detached: {
      on: {
        "session.attach": { target: "active", actions: ["attachController", "stopWatchingDetached"] },
        "session.takeover": { target: "active", actions: ["attachController", "stopWatchingDetached"] },
        "session.detached_timeout": { target: "terminating", actions: ["recordEnd", "watchStop"] },
        "session.terminate": { target: "terminating", actions: ["recordEnd", "watchStop"] },
        "session.adapter_ended": { target: "terminated", actions: ["recordEnd", "cancelAllTimers"] },
        "session.adapter_failed": { target: "failed", actions: ["recordFailure", "cancelAllTimers"] },
        "session.fail": { target: "failed", actions: ["recordFailure", "cancelAllTimers"] },
      },
    },
    terminating: {
      on: {
        "session.adapter_ended": { target: "terminated", actions: ["recordEnd", { type: TIMER_CANCEL, params: { name: STOP_TIMER } }] },
        "session.stop_timeout": { target: "terminated", actions: "recordEnd" },
        // The adapter is gone either way: the stop is done.
        "session.adapter_failed": { target: "terminated", actions: ["recordEnd", { type: TIMER_CANCEL, params: { name: STOP_TIMER } }] },
        "session.fail": { target: "terminated", actions: ["recordEnd", { type: TIMER_CANCEL, params: { name: STOP_TIMER } }] },
      },
    },
    terminated: { type: "final" },
    failed: { type: "final" },
  },
});
