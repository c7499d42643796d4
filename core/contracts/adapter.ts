/**
 * The adapter contract: what a service node's adapter runtime (`ssh-worker`
 * now, `rdp-worker` / `vnc-worker` next) receives and reports for remote
 * sessions, shared by the control plane and rap-node-agent.
 *
 * - In: session assignments, read by the assigned node through the node-agent
 *   route `GET /sessions/assignments` (not the signed snapshot: assignments
 *   change per session, and a snapshot is need-to-know configuration, not a
 *   work queue). An assignment carries the target and policy, never
 *   credentials: those will be fetched by the assigned node alone, with the
 *   session id, and never logged or written to a snapshot (to come with the
 *   SSH adapter).
 * - Out: adapter events (`adapter.started`, `adapter.failed`,
 *   `adapter.ended`) and the entry node's `entry.transport_closed`, posted to
 *   `POST /sessions/:sessionId/events`; each drives the session actor.
 * - Between the node agent and the adapter process: one bounded mailbox per
 *   adapter session (spec C19P–C19S), implemented in core/adapter-mailbox.ts:
 *   capacity-bounded, drops the oldest event when full and counts it,
 *   `drain` with a `limit` removes only the returned slice, `wait_ms`
 *   long-polls (bounded), consumers acknowledge by sequence, and a closed
 *   session has no mailbox.
 */
import * as v from "valibot";
import { Text, Uuid } from "./common.ts";
import { COLOR_MODES, QUALITY_PROFILES, SESSION_CHANNELS, TRANSFER_MODES } from "./data-plane-token.ts";

export const ADAPTER_ASSIGNMENT_TYPE = "rap.adapter_session_assignment.v1";

const Id = v.pipe(v.string(), v.uuid());
const Mode = v.picklist(TRANSFER_MODES);

/** One session the node must run (`desired: "running"`) or stop (`"stopped"`, while the session is terminating). */
export const AdapterAssignment = v.object({
  type: v.literal(ADAPTER_ASSIGNMENT_TYPE),
  /** The adapter session is the remote session: one id end to end. */
  session_id: Id,
  organization_id: Id,
  state: v.picklist(["starting", "active", "detached", "terminating"]),
  desired: v.picklist(["running", "stopped"]),
  resource: v.object({
    id: Id,
    protocol: v.picklist(["ssh", "rdp", "vnc"]),
    target_host: v.string(),
    target_port: v.number(),
    /** Host-key / certificate verification: strict by default, `ignore` only when the resource says so. */
    verification: v.picklist(["strict", "ignore"]),
    /** The pinned SSH host key or RDP server certificate (`SHA256:…`, no padding) strict verification accepts; null when none is pinned. */
    host_key_fingerprint: v.nullable(v.string()),
    /** Whether the resource has stored credentials the node may fetch for this session. */
    has_credentials: v.boolean(),
  }),
  policy: v.object({
    clipboard: Mode,
    file_transfer: Mode,
    channels: v.array(v.picklist(SESSION_CHANNELS)),
    /** Remote desktops: the starting profile, a colour mode overriding it (null: the profile's), and whether the user may change them. */
    quality: v.object({ profile: v.picklist(QUALITY_PROFILES), color_mode: v.nullable(v.picklist(COLOR_MODES)), adjustable: v.boolean() }),
  }),
  /** Entry nodes allowed to splice client streams to this session (internal node ids; never shown to organizations). */
  entry_node_ids: v.array(Id),
  /** The current controller attachment, if a client is attached. */
  controller: v.nullable(v.object({ attachment_id: Id, user_id: Id })),
  /** When the adapter must have reported `adapter.started`, or the session fails with `start_timeout`. */
  start_deadline: v.nullable(v.string()),
  /**
   * The resource routes through a VPN connection (docs/vpn.md): the adapter dials the target through the lease's
   * current owner under its epoch. `owner_node_id` is null while nobody holds the lease; `refused` says why the
   * connection's policy no longer lets this resource use it. Absent: the adapter dials the target directly.
   */
  vpn: v.optional(v.object({ connection_id: v.string(), owner_node_id: v.nullable(v.string()), epoch: v.number(), refused: v.nullable(v.string()) })),
});
export type AdapterAssignment = v.InferOutput<typeof AdapterAssignment>;

export const AdapterAssignments = v.object({ assignments: v.array(AdapterAssignment) });

const Reason = Text(500, { min: 1, multiline: true });

/** Events a node reports for a session it serves. */
export const SessionEventBody = v.variant("type", [
  v.strictObject({ type: v.literal("adapter.started") }),
  v.strictObject({ type: v.literal("adapter.failed"), reason: Reason }),
  v.strictObject({ type: v.literal("adapter.ended"), reason: v.optional(Reason) }),
  /** From an entry node: the attachment's client transport closed (the session detaches if it was the controller). */
  v.strictObject({ type: v.literal("entry.transport_closed"), attachment_id: Uuid("an attachment id") }),
]);
export type SessionEventBody = v.InferOutput<typeof SessionEventBody>;
export const SessionEventParam = v.strictObject({ sessionId: Uuid("a session id") });
export const SessionEventAnswer = v.object({ session_id: v.string(), state: v.string() });

/**
 * The resource's credentials for the session's adapter node only, fetched
 * when it connects to the target (`Cache-Control: no-store`; never logged).
 */
export const SessionCredentials = v.object({
  session_id: v.string(),
  username: v.nullable(v.string()),
  password: v.nullable(v.string()),
  private_key: v.nullable(v.string()),
  domain: v.nullable(v.string()),
});
export type SessionCredentials = v.InferOutput<typeof SessionCredentials>;

/** Token redemption by an entry node: the token a client presented, and the session it asked for. */
export const RedeemTokenBody = v.strictObject({ token: v.pipe(v.string(), v.maxLength(8192)), session_id: v.optional(Uuid("a session id")) });
export const RedeemTokenAnswer = v.object({
  session_id: v.string(),
  attachment_id: v.string(),
  user_id: v.string(),
  resource_id: v.string(),
  protocol: v.string(),
  channels: v.array(v.string()),
  policy: v.object({ clipboard: Mode, file_transfer: Mode }),
  /** Where the entry node splices the client's streams (internal). */
  adapter_node_id: v.string(),
  expires_at: v.string(),
});

/** Mailbox semantics (C19P–C19S) every adapter runtime keeps. */
export const MAILBOX = { capacity: 256, maxDrainLimit: 256, maxWaitMs: 30_000 } as const;

export const MailboxQuery = v.strictObject({
  drain: v.optional(v.picklist(["true", "false"])),
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d{1,3}$/), v.transform(Number), v.minValue(1), v.maxValue(MAILBOX.maxDrainLimit))),
  wait_ms: v.optional(v.pipe(v.string(), v.regex(/^\d{1,5}$/), v.transform(Number), v.maxValue(MAILBOX.maxWaitMs))),
  consumer_id: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,64}$/))),
  ack_sequence: v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}$/), v.transform(Number))),
});
