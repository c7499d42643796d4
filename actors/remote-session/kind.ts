/**
 * Registers the remote_session actor. Projection: `remote_sessions` and
 * `remote_session_attachments`. Its audit rows name the destination the
 * organization knows (resource, egress pool, entry point name), never nodes.
 */
import type { AnyMachineSnapshot } from "xstate";
import type { ActorKind, Transitioned } from "../host/kind.ts";
import { stateName } from "../host/kind.ts";
import type { Tx } from "../../sql/db.ts";
import { upsertAttachments, upsertRemoteSession } from "../../sql/remote-sessions.ts";
import { isErrorCode } from "../../core/error-catalog.ts";
import { controllerOf, remoteSessionMachine, type RemoteSessionContext } from "./machine.ts";

export const REMOTE_SESSION = "remote_session";

/** The stable code an adapter's failure starts with (`adapter.certificate_mismatch: …`); never its message, which may name internals. */
function failureCode(c: RemoteSessionContext): string | null {
  const code = /^([a-z_]+\.[a-z_]+):/.exec(c.failureDetail ?? "")?.[1];
  return code && isErrorCode(code) ? code : null;
}

async function project(tx: Tx, done: Transitioned): Promise<void> {
  const c = done.snapshot.context as RemoteSessionContext;
  const state = stateName(done.snapshot);
  await upsertRemoteSession(
    tx,
    {
      id: done.id,
      organizationId: c.organizationId,
      resourceId: c.resourceId,
      resourceName: c.resourceName,
      userId: c.userId,
      protocol: c.protocol,
      egressPool: c.egressPool,
      state,
      adapterNodeId: c.placement?.adapterNodeId ?? null,
      entryNodeIds: c.placement?.entryNodeIds ?? [],
      entryName: c.placement?.entryName ?? null,
      controllerAttachmentId: controllerOf(c)?.id ?? null,
      failureReason: c.failureReason,
      failureCode: failureCode(c),
      endReason: c.endReason,
      requestedAt: c.requestedAt ?? done.now.toISOString(),
      startedAt: c.startedAt,
      detachedAt: state === "detached" ? c.detachedAt : null,
      endedAt: state === "terminated" || state === "failed" ? (c.endedAt ?? done.now.toISOString()) : null,
    },
    done.now,
  );
  await upsertAttachments(tx, done.id, c.attachments);
}

/** What an organization may read in its audit: the destination by name, and why it failed or ended. */
function auditDetails(snapshot: AnyMachineSnapshot): Record<string, unknown> {
  const c = snapshot.context as RemoteSessionContext;
  return {
    resource_id: c.resourceId,
    resource_name: c.resourceName,
    protocol: c.protocol,
    egress_pool: c.egressPool,
    entry_name: c.placement?.entryName ?? null,
    user_id: c.userId,
    ...(c.failureReason ? { failure_reason: c.failureReason } : {}),
    ...(failureCode(c) ? { failure_code: failureCode(c) } : {}),
    ...(c.endReason ? { end_reason: c.endReason } : {}),
    ...(() => {
      const taken = c.attachments.find((a) => a.state === "taken_over" && a.takenOverBy === controllerOf(c)?.id);
      return taken ? { taken_over_attachment_id: taken.id } : {};
    })(),
  };
}

export const remoteSessionKind: ActorKind = {
  kind: REMOTE_SESSION,
  machine: remoteSessionMachine,
  machineVersion: 1,
  project,
  organizationOf: (s) => (s.context as RemoteSessionContext).organizationId || null,
  auditDetails,
};
