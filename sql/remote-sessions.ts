/**
 * Remote sessions: the projection of the remote_session actor (written only
 * by actors/remote-session/kind.ts inside the transition's transaction), its
 * reads, and the placement reads (adapter and entry candidates).
 */
import { one, pgArray, type Tx } from "./db.ts";

export interface RemoteSessionRow {
  id: string;
  organizationId: string;
  resourceId: string;
  resourceName: string;
  userId: string;
  protocol: string;
  egressPool: string | null;
  state: string;
  adapterNodeId: string | null;
  entryNodeIds: string[];
  entryName: string | null;
  controllerAttachmentId: string | null;
  failureReason: string | null;
  /** The adapter's stable error code when it could not start the session (`adapter.auth_failed`, …). */
  failureCode: string | null;
  endReason: string | null;
  requestedAt: string;
  startedAt: string | null;
  detachedAt: string | null;
  endedAt: string | null;
  updatedAt: string;
}
type Raw = {
  id: string;
  organization_id: string;
  resource_id: string;
  resource_name: string;
  user_id: string;
  protocol: string;
  egress_pool: string | null;
  state: string;
  adapter_node_id: string | null;
  entry_node_ids: string[] | string;
  entry_name: string | null;
  controller_attachment_id: string | null;
  failure_reason: string | null;
  failure_code: string | null;
  end_reason: string | null;
  requested_at: Date;
  started_at: Date | null;
  detached_at: Date | null;
  ended_at: Date | null;
  updated_at: Date;
};
const COLS = `id::text, organization_id::text, resource_id::text, resource_name, user_id::text, protocol, egress_pool, state, adapter_node_id::text,
  entry_node_ids::text[] as entry_node_ids, entry_name, controller_attachment_id::text, failure_reason, failure_code, end_reason, requested_at, started_at, detached_at, ended_at, updated_at`;
const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
/** PGlite may hand a uuid[] back as its text form. */
const uuids = (a: string[] | string): string[] =>
  Array.isArray(a)
    ? a
    : a
        .replace(/^\{|\}$/g, "")
        .split(",")
        .filter(Boolean);
const toRow = (r: Raw): RemoteSessionRow => ({
  id: r.id,
  organizationId: r.organization_id,
  resourceId: r.resource_id,
  resourceName: r.resource_name,
  userId: r.user_id,
  protocol: r.protocol,
  egressPool: r.egress_pool,
  state: r.state,
  adapterNodeId: r.adapter_node_id,
  entryNodeIds: uuids(r.entry_node_ids),
  entryName: r.entry_name,
  controllerAttachmentId: r.controller_attachment_id,
  failureReason: r.failure_reason,
  failureCode: r.failure_code,
  endReason: r.end_reason,
  requestedAt: iso(r.requested_at)!,
  startedAt: iso(r.started_at),
  detachedAt: iso(r.detached_at),
  endedAt: iso(r.ended_at),
  updatedAt: iso(r.updated_at)!,
});

export type RemoteSessionProjection = Omit<RemoteSessionRow, "updatedAt">;

export async function upsertRemoteSession(tx: Tx, s: RemoteSessionProjection, now: Date): Promise<void> {
  await tx.query(
    `insert into remote_sessions (id, organization_id, resource_id, resource_name, user_id, protocol, egress_pool, state, adapter_node_id, entry_node_ids, entry_name,
        controller_attachment_id, failure_reason, end_reason, requested_at, started_at, detached_at, ended_at, updated_at, failure_code)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9::uuid, $10::uuid[], $11, $12::uuid, $13, $14, $15::timestamptz, $16::timestamptz, $17::timestamptz, $18::timestamptz, $19::timestamptz, $20)
     on conflict (id) do update set state = excluded.state, adapter_node_id = excluded.adapter_node_id, entry_node_ids = excluded.entry_node_ids, entry_name = excluded.entry_name,
       controller_attachment_id = excluded.controller_attachment_id, failure_reason = excluded.failure_reason, failure_code = excluded.failure_code, end_reason = excluded.end_reason,
       started_at = excluded.started_at, detached_at = excluded.detached_at, ended_at = excluded.ended_at, updated_at = excluded.updated_at`,
    [
      s.id,
      s.organizationId,
      s.resourceId,
      s.resourceName,
      s.userId,
      s.protocol,
      s.egressPool,
      s.state,
      s.adapterNodeId,
      pgArray(s.entryNodeIds),
      s.entryName,
      s.controllerAttachmentId,
      s.failureReason,
      s.endReason,
      s.requestedAt,
      s.startedAt,
      s.detachedAt,
      s.endedAt,
      now.toISOString(),
      s.failureCode,
    ],
  );
}

export interface AttachmentRow {
  id: string;
  sessionId: string;
  userId: string;
  clientId: string;
  role: string;
  state: string;
  attachedAt: string;
  endedAt: string | null;
  endReason: string | null;
  takenOverBy: string | null;
}

export async function upsertAttachments(tx: Tx, sessionId: string, list: Omit<AttachmentRow, "sessionId">[]): Promise<void> {
  for (const a of list) {
    await tx.query(
      `insert into remote_session_attachments (id, session_id, user_id, client_id, role, state, attached_at, ended_at, end_reason, taken_over_by)
       values ($1, $2, $3, $4, $5, $6, $7::timestamptz, $8::timestamptz, $9, $10::uuid)
       on conflict (id) do update set state = excluded.state, ended_at = excluded.ended_at, end_reason = excluded.end_reason, taken_over_by = excluded.taken_over_by`,
      [a.id, sessionId, a.userId, a.clientId, a.role, a.state, a.attachedAt, a.endedAt, a.endReason, a.takenOverBy],
    );
  }
}

export async function getRemoteSession(tx: Tx, id: string): Promise<RemoteSessionRow | undefined> {
  const r = await one<Raw>(tx, `select ${COLS} from remote_sessions where id = $1`, [id]);
  return r && toRow(r);
}

export async function listRemoteSessions(
  tx: Tx,
  o: { orgIds: string[] | null; userId?: string; states?: string[]; after?: string; limit: number },
): Promise<RemoteSessionRow[]> {
  const rows = await tx.query<Raw>(
    `select ${COLS} from remote_sessions
      where ($1::uuid[] is null or organization_id = any($1::uuid[])) and ($2::uuid is null or user_id = $2::uuid)
        and ($3::text[] is null or state = any($3::text[])) and ($4::uuid is null or id < $4::uuid)
      order by id desc limit $5`,
    [o.orgIds ? pgArray(o.orgIds) : null, o.userId ?? null, o.states ? pgArray(o.states) : null, o.after ?? null, o.limit],
  );
  return rows.map(toRow);
}

export async function attachmentsOf(tx: Tx, sessionId: string): Promise<AttachmentRow[]> {
  const rows = await tx.query<{
    id: string;
    session_id: string;
    user_id: string;
    client_id: string;
    role: string;
    state: string;
    attached_at: Date;
    ended_at: Date | null;
    end_reason: string | null;
    taken_over_by: string | null;
  }>(
    `select id::text, session_id::text, user_id::text, client_id, role, state, attached_at, ended_at, end_reason, taken_over_by::text
       from remote_session_attachments where session_id = $1 order by attached_at, id`,
    [sessionId],
  );
  return rows.map((r) => ({
    id: r.id,
    sessionId: r.session_id,
    userId: r.user_id,
    clientId: r.client_id,
    role: r.role,
    state: r.state,
    attachedAt: iso(r.attached_at)!,
    endedAt: iso(r.ended_at),
    endReason: r.end_reason,
    takenOverBy: r.taken_over_by,
  }));
}

export const LIVE_SESSION_STATES = ["placing", "starting", "active", "detached", "terminating"];

/** Sessions a node holds as their adapter, in a live state. */
export async function liveSessionsOnAdapter(tx: Tx, nodeId: string): Promise<RemoteSessionRow[]> {
  const rows = await tx.query<Raw>(`select ${COLS} from remote_sessions where adapter_node_id = $1 and state = any($2::text[]) order by id`, [
    nodeId,
    pgArray(LIVE_SESSION_STATES),
  ]);
  return rows.map(toRow);
}

/** Adapter nodes holding a session that is starting, active or detached (the ones an adapter lease protects). */
export async function adapterNodesWithLiveSessions(tx: Tx): Promise<string[]> {
  const rows = await tx.query<{ node: string }>(
    "select distinct adapter_node_id::text as node from remote_sessions where adapter_node_id is not null and state = any($1::text[])",
    [pgArray(["starting", "active", "detached"])],
  );
  return rows.map((r) => r.node);
}

/** What the resource says now, for sessions recorded before their target was kept. */
export interface LiveResourceTarget {
  targetHost: string;
  targetPort: number;
  verification: "strict" | "ignore";
  hostKeyFingerprint: string | null;
  hasSecret: boolean;
  /** The VPN connection the resource routes its sessions through, read when the adapter starts one. */
  vpnConnectionId: string | null;
}

/**
 * A node's live adapter sessions with each actor's context and its resource's
 * current target, in one query (an adapter polls this; one row per session,
 * however many it runs).
 */
export async function adapterWork(tx: Tx, nodeId: string): Promise<{ session: RemoteSessionRow; context: unknown; resource: LiveResourceTarget | null }[]> {
  const rows = await tx.query<
    Raw & {
      context: unknown;
      target_host: string | null;
      target_port: number | null;
      certificate_verification_mode: "strict" | "ignore" | null;
      host_key_fingerprint: string | null;
      secret_ref: string | null;
      vpn_connection_id: string | null;
    }
  >(
    `select s.*, a.snapshot->'context' as context, r.target_host, r.target_port, r.certificate_verification_mode, r.host_key_fingerprint, r.secret_ref::text,
            r.vpn_connection_id::text
       from (select ${COLS} from remote_sessions where adapter_node_id = $1 and state = any($2::text[])) s
       left join actors a on a.kind = 'remote_session' and a.id = s.id
       left join resources r on r.id = s.resource_id::uuid
      order by s.id`,
    [nodeId, pgArray(LIVE_SESSION_STATES)],
  );
  return rows.map((r) => ({
    session: toRow(r),
    context: r.context,
    resource:
      r.target_host === null
        ? null
        : {
            targetHost: r.target_host,
            targetPort: r.target_port!,
            verification: r.certificate_verification_mode!,
            hostKeyFingerprint: r.host_key_fingerprint,
            hasSecret: r.secret_ref !== null,
            vpnConnectionId: r.vpn_connection_id,
          },
  }));
}

export interface AdapterCandidate {
  nodeId: string;
  clusterId: string;
  groupId: string | null;
  liveSessions: number;
}

/**
 * Nodes that may run a session: active and healthy, in an active cluster,
 * holding the adapter role for this organization with this egress pool (a
 * resource without a pool matches assignments without one). Least loaded first.
 */
export async function adapterCandidates(tx: Tx, o: { orgId: string; role: string; pool: string | null }): Promise<AdapterCandidate[]> {
  const rows = await tx.query<{ node_id: string; cluster_id: string; group_id: string | null; live: number | string }>(
    `select n.id::text as node_id, n.cluster_id::text, n.group_id::text,
            (select count(*) from remote_sessions s where s.adapter_node_id = n.id and s.state = any($4::text[])) as live
       from node_role_assignments a join nodes n on n.id = a.node_id join clusters c on c.id = n.cluster_id
      where a.status = 'active' and a.role = $2 and a.organization_id = $1 and n.status = 'active' and n.health = 'healthy' and c.status = 'active'
        and (a.policy->>'egress_pool') is not distinct from $3::text
      order by live, n.id`,
    [o.orgId, o.role, o.pool, pgArray(LIVE_SESSION_STATES)],
  );
  return rows.map((r) => ({ nodeId: r.node_id, clusterId: r.cluster_id, groupId: r.group_id, liveSessions: Number(r.live) }));
}

export interface EntryCandidate {
  nodeId: string;
  groupId: string | null;
  clusterName: string;
  latencyMs: number | null;
}

/**
 * Entry nodes that may carry a session to an adapter: active and healthy,
 * `entry-node` role serving the organization (or every organization), in the
 * adapter's cluster (a cluster is one mesh). With the freshest observed
 * latency between the entry and the adapter, when nodes reported one.
 */
export async function entryCandidates(tx: Tx, o: { orgId: string; clusterId: string; adapterNodeId: string }): Promise<EntryCandidate[]> {
  const rows = await tx.query<{ node_id: string; group_id: string | null; cluster_name: string; latency_ms: number | string | null }>(
    `select distinct on (n.id) n.id::text as node_id, n.group_id::text, c.name as cluster_name,
            (select l.latency_ms from mesh_link_observations l
              where l.reachable and ((l.from_node = n.id and l.to_node = $3::uuid) or (l.from_node = $3::uuid and l.to_node = n.id))
              order by l.observed_at desc limit 1) as latency_ms
       from node_role_assignments a join nodes n on n.id = a.node_id join clusters c on c.id = n.cluster_id
      where a.status = 'active' and a.role = 'entry-node' and (a.organization_id = $1 or a.organization_id is null)
        and n.cluster_id = $2 and n.status = 'active' and n.health = 'healthy' and c.status = 'active'
      order by n.id`,
    [o.orgId, o.clusterId, o.adapterNodeId],
  );
  return rows.map((r) => ({
    nodeId: r.node_id,
    groupId: r.group_id,
    clusterName: r.cluster_name,
    latencyMs: r.latency_ms === null ? null : Number(r.latency_ms),
  }));
}

/** States in which a session still accepts `session.terminate` (terminating ones are already stopping). */
export const TERMINABLE_SESSION_STATES = ["placing", "starting", "active", "detached"];

/** Sessions that may still be terminated: one user's in one organization, or every one of a resource. */
export async function terminableSessions(tx: Tx, o: { organizationId: string; userId: string } | { resourceId: string }): Promise<RemoteSessionRow[]> {
  const rows =
    "resourceId" in o
      ? await tx.query<Raw>(`select ${COLS} from remote_sessions where resource_id = $1 and state = any($2::text[]) order by id`, [
          o.resourceId,
          pgArray(TERMINABLE_SESSION_STATES),
        ])
      : await tx.query<Raw>(`select ${COLS} from remote_sessions where organization_id = $1 and user_id = $2 and state = any($3::text[]) order by id`, [
          o.organizationId,
          o.userId,
          pgArray(TERMINABLE_SESSION_STATES),
        ]);
  return rows.map(toRow);
}

/** Whether a node is active and holds an active `entry-node` role serving the organization (or every organization). */
export async function servesAsEntry(tx: Tx, nodeId: string, orgId: string): Promise<boolean> {
  const r = await one<{ ok: boolean }>(
    tx,
    `select exists (select 1 from node_role_assignments a join nodes n on n.id = a.node_id join clusters c on c.id = n.cluster_id
      where a.node_id = $1 and a.status = 'active' and a.role = 'entry-node' and (a.organization_id = $2 or a.organization_id is null)
        and n.status = 'active' and c.status = 'active') as ok`,
    [nodeId, orgId],
  );
  return r?.ok === true;
}
