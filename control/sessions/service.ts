/**
 * Remote session commands (the session broker): start, attach (and reattach
 * by the same client), takeover, detach, terminate, and what nodes report
 * (adapter started / failed / ended, entry transport closed). Every command
 * is one or more remote_session actor events: the actor's projection,
 * journal and audit rows (with the destination: resource, pool, entry point
 * name) commit with the transition. Routes authorize against the session's
 * organization before calling these.
 *
 * Start places the session in the same commit as it is requested (see
 * placement.ts); with no node to place it on, the session is failed and
 * audited, and the caller gets a 409 naming the session.
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { ActorEventRejected, DomainError } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import { REMOTE_SESSION } from "../../actors/remote-session/kind.ts";
import { controllerOf, START_TIMEOUT_MS, type RemoteSessionContext, type RemoteSessionEvent, type SessionTarget } from "../../actors/remote-session/machine.ts";
import type { ResourceRow } from "../../sql/resources.ts";
import { adapterWork, getRemoteSession, terminableSessions, type RemoteSessionRow } from "../../sql/remote-sessions.ts";
import { entryEndpoints } from "../../sql/mesh.ts";
import { placeSession } from "./placement.ts";
import { markAdapterSeen } from "./adapter-lease.ts";
import { issueDataPlaneToken, sessionChannels, type IssuedToken } from "./tokens.ts";
import { readActor } from "../../sql/actors.ts";
import type { NodePrincipal } from "../nodes/node-auth.ts";
import type { SessionEventBody, AdapterAssignment } from "../../core/contracts/adapter.ts";
import { ADAPTER_ASSIGNMENT_TYPE } from "../../core/contracts/adapter.ts";
import { getVpnConnection, getVpnLease } from "../../sql/vpn.ts";
import { type RoutedResource, vpnRouteRefusal } from "../../core/vpn/session-route.ts";
import type { SendResult } from "../../actors/host/host.ts";
import type { ActorEvent } from "../../actors/host/kind.ts";
import type { Tx } from "../../sql/db.ts";

type Deps = Pick<ControlDeps, "db" | "live" | "host" | "clock" | "identity">;

/** Who acts: the user and the client (their sign-in session) the attachment comes from. */
export interface Caller {
  userId: string;
  clientId: string;
}

/** What a client needs to connect: the attachment, its token, and the entry point. */
export interface AttachOffer {
  attachmentId: string;
  token: IssuedToken;
  entryName: string | null;
  /** The entry nodes' published URLs, nearest first, and the certificate hashes a client may pin. */
  entryUrls: string[];
  certificateHashes: string[];
}

const send = (deps: Deps, id: string, event: RemoteSessionEvent, change: ChangeContext) => deps.host.send(REMOTE_SESSION, id, event as never, change);
const contextOf = (r: SendResult) => r.context as RemoteSessionContext;

async function offerFor(deps: Deps, sessionId: string, r: SendResult): Promise<AttachOffer> {
  const c = contextOf(r);
  const ctl = controllerOf(c)!;
  const published = await entryEndpoints(deps.db, c.placement?.entryNodeIds ?? []);
  return {
    attachmentId: ctl.id,
    token: await issueDataPlaneToken(deps, sessionId, c, ctl),
    entryName: c.placement?.entryName ?? null,
    entryUrls: [...new Set(published.flatMap((e) => e.urls))],
    certificateHashes: [...new Set(published.flatMap((e) => e.certificateHashes))],
  };
}

export async function startSession(
  deps: Deps,
  caller: Caller,
  resource: ResourceRow,
  change: ChangeContext,
): Promise<{ sessionId: string; offer: AttachOffer }> {
  const now = deps.clock();
  const id = newId(now.getTime());
  const at = now.toISOString();
  const start: RemoteSessionEvent = {
    type: "session.start",
    organizationId: resource.organizationId,
    resourceId: resource.id,
    resourceName: resource.name,
    protocol: resource.protocol,
    egressPool: resource.egressPool,
    clipboard: resource.clipboardMode,
    fileTransfer: resource.fileTransferMode,
    detachedTimeoutMs: resource.detachedTimeoutSeconds * 1000,
    target: {
      host: resource.targetHost,
      port: resource.targetPort,
      verification: resource.certificateVerificationMode,
      hostKey: resource.hostKeyFingerprint,
      quality: { profile: resource.qualityProfile, colorMode: resource.colorMode, adjustable: resource.qualityAdjustable },
    },
    attachmentId: newId(now.getTime()),
    userId: caller.userId,
    clientId: caller.clientId,
    at,
  };
  const outcome = await deps.host.batch(async (tx, step) => {
    await step(REMOTE_SESSION, id, start as never, change);
    const placed = await placeSession(tx, resource);
    if (!placed.ok) {
      await step(REMOTE_SESSION, id, { type: "session.fail", reason: placed.reason, at } as never, change);
      return { ok: false as const, reason: placed.reason };
    }
    return {
      ok: true as const,
      result: await step(REMOTE_SESSION, id, { type: "session.placed", ...placed.placement, startTimeoutMs: START_TIMEOUT_MS, at } as never, change),
    };
  });
  if (!outcome.ok) {
    throw new DomainError(
      outcome.reason === "no_adapter_node" ? "remote_session.no_adapter_node" : "remote_session.no_entry_node",
      `session ${id} could not be placed: ${outcome.reason}`,
      {
        session_id: id,
        egress_pool: resource.egressPool,
      },
    );
  }
  return { sessionId: id, offer: await offerFor(deps, id, outcome.result) };
}

/** Attach a client: when nobody controls the session, or as a reattach by the controller's own client. */
export async function attachSession(deps: Deps, caller: Caller, s: RemoteSessionRow, change: ChangeContext): Promise<AttachOffer> {
  const at = deps.clock().toISOString();
  try {
    return await offerFor(
      deps,
      s.id,
      await send(deps, s.id, { type: "session.attach", attachmentId: newId(), userId: caller.userId, clientId: caller.clientId, at }, change),
    );
  } catch (err) {
    // Refused because another client controls it: say so, so the client can offer a takeover.
    if (err instanceof ActorEventRejected && ["starting", "active"].includes(String(err.details.state))) {
      throw new DomainError("remote_session.attached_elsewhere", "another client controls the session", { session_id: s.id });
    }
    throw err;
  }
}

/** Take control from whoever holds it (recorded as taken over), or attach when nobody does. */
export async function takeoverSession(deps: Deps, caller: Caller, s: RemoteSessionRow, change: ChangeContext): Promise<AttachOffer> {
  const at = deps.clock().toISOString();
  return offerFor(
    deps,
    s.id,
    await send(deps, s.id, { type: "session.takeover", attachmentId: newId(), userId: caller.userId, clientId: caller.clientId, at }, change),
  );
}

/** Detach the caller's own client from the session; the session keeps running for the resource's detached timeout. */
export async function detachSession(deps: Deps, caller: Caller, s: RemoteSessionRow, change: ChangeContext): Promise<SendResult> {
  const c = await sessionContext(deps, s.id);
  const ctl = c && controllerOf(c);
  if (!ctl || ctl.userId !== caller.userId || ctl.clientId !== caller.clientId)
    throw new DomainError("remote_session.not_attached", "this client does not control the session", { session_id: s.id });
  return send(deps, s.id, { type: "session.detach", attachmentId: ctl.id, at: deps.clock().toISOString() }, change);
}

export function terminateSession(deps: Deps, s: RemoteSessionRow, reason: string, change: ChangeContext): Promise<SendResult> {
  return send(deps, s.id, { type: "session.terminate", reason, at: deps.clock().toISOString() }, change);
}

/** The actor host's transition inside a batch (`host.batch`). */
export type Step = (kind: string, id: string, event: ActorEvent, change: ChangeContext) => Promise<SendResult>;

/**
 * Terminates, inside the caller's batch, every session that may still be
 * terminated: one user's in one organization (their membership ends), or
 * every one of a resource (it is deleted). Each is the actor's own
 * `session.terminate`, journaled and audited with `reason`. A session that
 * moved on meanwhile (already stopping or ended) is left as it is.
 */
export async function terminateSessionsInTx(
  tx: Tx,
  step: Step,
  which: { organizationId: string; userId: string } | { resourceId: string },
  reason: string,
  at: string,
  change: ChangeContext,
): Promise<string[]> {
  const ended: string[] = [];
  for (const s of await terminableSessions(tx, which)) {
    try {
      await step(REMOTE_SESSION, s.id, { type: "session.terminate", reason, at } as never, change);
      ended.push(s.id);
    } catch (err) {
      if (!(err instanceof ActorEventRejected)) throw err;
    }
  }
  return ended;
}

async function sessionContext(deps: Deps, id: string): Promise<RemoteSessionContext | null> {
  const row = await readActor(deps.db, REMOTE_SESSION, id);
  return (row?.snapshot as { context: RemoteSessionContext } | undefined)?.context ?? null;
}

/**
 * What a node reports for a session: adapter events only from the session's
 * adapter node, `entry.transport_closed` only from one of its entry nodes.
 * Anything else is answered as if the session did not exist.
 */
export async function reportSessionEvent(
  deps: Deps,
  node: NodePrincipal,
  sessionId: string,
  body: SessionEventBody,
  change: ChangeContext,
): Promise<{ session_id: string; state: string }> {
  const s = await getRemoteSession(deps.db, sessionId);
  const allowed = s && (body.type === "entry.transport_closed" ? s.entryNodeIds.includes(node.nodeId) : s.adapterNodeId === node.nodeId);
  if (!s || !allowed) throw new DomainError("adapter.session_not_assigned", "no such session on this node", { session_id: sessionId });
  const at = deps.clock().toISOString();
  const event: RemoteSessionEvent =
    body.type === "adapter.started"
      ? { type: "session.adapter_started", at }
      : body.type === "adapter.failed"
        ? { type: "session.adapter_failed", reason: body.reason, at }
        : body.type === "adapter.ended"
          ? { type: "session.adapter_ended", reason: body.reason ?? null, at }
          : { type: "session.detach", attachmentId: body.attachment_id, at };
  const r = await send(deps, sessionId, event, change);
  return { session_id: sessionId, state: r.state };
}

/**
 * The sessions a node must run or stop as their adapter, with target and
 * policy (never credentials). Target, protocol and policy are what the
 * session was started with, not the resource as it is now: an edit does not
 * move a running session, and a session whose resource was deleted is still
 * listed (to be stopped). Only sessions recorded before the target was kept
 * read it from the resource, and are skipped once it is gone.
 */
export async function adapterAssignments(deps: Deps, node: NodePrincipal): Promise<AdapterAssignment[]> {
  // Reading its assignments is how an adapter holds its lease on its sessions (adapter-lease.ts).
  await markAdapterSeen(deps, node.nodeId);
  const out: AdapterAssignment[] = [];
  for (const { session: s, context, resource: r } of await adapterWork(deps.db, node.nodeId)) {
    if (s.state === "placing" || !context) continue;
    const c = context as RemoteSessionContext;
    const target = c.target ?? (r ? { host: r.targetHost, port: r.targetPort, verification: r.verification, hostKey: r.hostKeyFingerprint } : null);
    if (!target) continue;
    const ctl = controllerOf(c);
    out.push({
      type: ADAPTER_ASSIGNMENT_TYPE,
      session_id: s.id,
      organization_id: s.organizationId,
      state: s.state as AdapterAssignment["state"],
      desired: s.state === "terminating" ? "stopped" : "running",
      resource: {
        id: c.resourceId,
        protocol: c.protocol,
        target_host: target.host,
        target_port: target.port,
        verification: target.verification,
        host_key_fingerprint: target.hostKey ?? null,
        has_credentials: r?.hasSecret ?? false,
      },
      policy: { clipboard: c.clipboard, file_transfer: c.fileTransfer, channels: sessionChannels(c), quality: qualityOf(target) },
      entry_node_ids: s.entryNodeIds,
      controller: ctl ? { attachment_id: ctl.id, user_id: ctl.userId } : null,
      start_deadline: s.state === "starting" ? new Date(Date.parse(c.requestedAt ?? s.requestedAt) + START_TIMEOUT_MS).toISOString() : null,
      ...(r?.vpnConnectionId && s.state !== "terminating"
        ? {
            vpn: await vpnRouteOf(
              deps,
              { id: c.resourceId, organizationId: s.organizationId, protocol: c.protocol, targetHost: target.host },
              r.vpnConnectionId,
            ),
          }
        : {}),
    });
  }
  return out;
}

/**
 * Where a session of a VPN-routed resource is dialled through now: the lease's current owner and epoch, or why not
 * (the policy changed since the resource was written, or nobody holds the lease). Read as the adapter starts the
 * session; a session already running keeps its stream until the owner's epoch moves on.
 */
async function vpnRouteOf(deps: Deps, resource: RoutedResource, connectionId: string): Promise<NonNullable<AdapterAssignment["vpn"]>> {
  const [connection, lease] = await deps.db.transaction(async (tx) => [await getVpnConnection(tx, connectionId), await getVpnLease(tx, connectionId)] as const);
  const refusal = vpnRouteRefusal(resource, connection);
  const refused = refusal === null ? null : refusal.kind === "not_found" ? "the VPN connection no longer exists" : refusal.reason;
  const held = connection?.state === "enabled" && lease?.state === "held" && lease.ownerNodeId !== null;
  return { connection_id: connectionId, owner_node_id: held ? lease.ownerNodeId : null, epoch: lease?.epoch ?? 0, refused };
}

/** The quality policy a session started with; sessions recorded before it was kept get the defaults. */
const qualityOf = (t: SessionTarget): AdapterAssignment["policy"]["quality"] => {
  const q = t.quality ?? { profile: "balanced", colorMode: null, adjustable: true };
  return { profile: q.profile, color_mode: q.colorMode, adjustable: q.adjustable };
};
