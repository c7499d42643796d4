/**
 * Read models for the admin consoles: grouped counts for the platform
 * overview, a cluster's role assignments with the state of the workload each
 * one asks for, and the tenant-safe pieces of the organization panel (member
 * sessions, entry and egress names). Read-only; every query is one grouped
 * scan or a keyset page, so the views stay cheap with 10,000 nodes.
 */
import type { Tx } from "./db.ts";

export interface ClusterCounts {
  clusters: { id: string; name: string; slug: string; status: string; partitionState: string; region: string | null }[];
  nodes: { clusterId: string; status: string; health: string; n: number }[];
  pendingJoinRequests: { clusterId: string; n: number }[];
  roles: { clusterId: string; role: string; n: number }[];
  services: { clusterId: string; desiredState: string; reportedState: string; n: number }[];
  certificates: { clusterId: string; active: number; expiringSoon: number; nextExpiry: string | null }[];
}

/** Every count the overview needs, grouped by cluster. `expiringBefore` marks certificates as expiring soon. */
export async function clusterCounts(tx: Tx, expiringBefore: Date): Promise<ClusterCounts> {
  const clusters = await tx.query<{ id: string; name: string; slug: string; status: string; partition_state: string; region: string | null }>(
    "select id::text, name, slug, status, partition_state, region from clusters order by name, id",
  );
  const nodes = await tx.query<{ cluster_id: string; status: string; health: string; n: number }>(
    // A node never heard from has no health to count: it is `never_seen`, not the `healthy` it starts with.
    `select cluster_id::text, status,
            case when exists (select 1 from node_heartbeats_latest h where h.node_id = nodes.id) then health else 'never_seen' end as health,
            count(*)::int as n
       from nodes group by 1, 2, 3`,
  );
  const pending = await tx.query<{ cluster_id: string; n: number }>(
    "select cluster_id::text, count(*)::int as n from node_join_requests where status = 'pending' group by 1",
  );
  const roles = await tx.query<{ cluster_id: string; role: string; n: number }>(
    `select a.cluster_id::text, a.role, count(*)::int as n from node_role_assignments a join nodes n on n.id = a.node_id
      where a.status = 'active' and n.status = 'active' group by 1, 2`,
  );
  const services = await tx.query<{ cluster_id: string; desired_state: string; reported_state: string; n: number }>(
    "select cluster_id::text, desired_state, reported_state, count(*)::int as n from node_service_instances group by 1, 2, 3",
  );
  const certs = await tx.query<{ cluster_id: string; active: number; expiring: number; next_expiry: Date | null }>(
    `select cluster_id::text, count(*)::int as active, (count(*) filter (where certificate_not_after < $1::timestamptz))::int as expiring,
            min(certificate_not_after) as next_expiry
       from node_identities where identity_status = 'active' group by 1`,
    [expiringBefore.toISOString()],
  );
  return {
    clusters: clusters.map((c) => ({ id: c.id, name: c.name, slug: c.slug, status: c.status, partitionState: c.partition_state, region: c.region })),
    nodes: nodes.map((r) => ({ clusterId: r.cluster_id, status: r.status, health: r.health, n: r.n })),
    pendingJoinRequests: pending.map((r) => ({ clusterId: r.cluster_id, n: r.n })),
    roles: roles.map((r) => ({ clusterId: r.cluster_id, role: r.role, n: r.n })),
    services: services.map((r) => ({ clusterId: r.cluster_id, desiredState: r.desired_state, reportedState: r.reported_state, n: r.n })),
    certificates: certs.map((r) => ({
      clusterId: r.cluster_id,
      active: r.active,
      expiringSoon: r.expiring,
      nextExpiry: r.next_expiry ? new Date(r.next_expiry).toISOString() : null,
    })),
  };
}

export interface WorkloadRow {
  assignmentId: string;
  nodeId: string;
  nodeName: string;
  nodeHealth: string;
  role: string;
  organizationId: string | null;
  policy: Record<string, unknown>;
  assignedBy: string;
  assignedAt: string;
  desiredState: string | null;
  reportedState: string | null;
  version: string | null;
  lastReportAt: string | null;
}

/** A cluster's active role assignments, each with the service instance its role asks for (if any), keyset-paged by assignment id. */
export async function clusterWorkloads(
  tx: Tx,
  opts: { clusterId: string; role?: string; reportedState?: string; after?: string; limit: number },
): Promise<WorkloadRow[]> {
  const rows = await tx.query<{
    id: string;
    node_id: string;
    node_name: string;
    node_health: string;
    role: string;
    organization_id: string | null;
    policy: Record<string, unknown>;
    assigned_by_user_id: string;
    assigned_at: Date;
    desired_state: string | null;
    reported_state: string | null;
    version: string | null;
    last_heartbeat_at: Date | null;
  }>(
    `select a.id::text, a.node_id::text, n.name as node_name, n.health as node_health, a.role, a.organization_id::text, a.policy, a.assigned_by_user_id, a.assigned_at,
            s.desired_state, s.reported_state, s.version, s.last_heartbeat_at
       from node_role_assignments a
       join nodes n on n.id = a.node_id
       left join node_service_instances s on s.node_id = a.node_id and s.service_type = a.role
      where a.cluster_id = $1 and a.status = 'active'
        and ($2::text is null or a.role = $2) and ($3::text is null or s.reported_state = $3)
        and ($4::uuid is null or a.id > $4::uuid)
      order by a.id limit $5`,
    [opts.clusterId, opts.role ?? null, opts.reportedState ?? null, opts.after ?? null, opts.limit],
  );
  return rows.map((r) => ({
    assignmentId: r.id,
    nodeId: r.node_id,
    nodeName: r.node_name,
    nodeHealth: r.node_health,
    role: r.role,
    organizationId: r.organization_id,
    policy: r.policy,
    assignedBy: r.assigned_by_user_id,
    assignedAt: new Date(r.assigned_at).toISOString(),
    desiredState: r.desired_state,
    reportedState: r.reported_state,
    version: r.version,
    lastReportAt: r.last_heartbeat_at ? new Date(r.last_heartbeat_at).toISOString() : null,
  }));
}

export interface MemberSessionRow {
  id: string;
  userId: string;
  email: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  mfa: boolean;
}

/** Live sign-in sessions of an organization's members, newest first. */
export async function memberSessions(tx: Tx, orgId: string, now: Date, limit: number): Promise<MemberSessionRow[]> {
  const rows = await tx.query<{ id: string; user_id: string; email: string; created_at: Date; last_seen_at: Date; expires_at: Date; mfa_at: Date | null }>(
    `select s.id::text, s.user_id::text, u.email, s.created_at, s.last_seen_at, s.expires_at, s.mfa_at
       from auth_sessions s join organization_memberships m on m.user_id = s.user_id and m.organization_id = $1 join users u on u.id = s.user_id
      where s.revoked_at is null and s.expires_at > $2::timestamptz
      order by s.last_seen_at desc limit $3`,
    [orgId, now.toISOString(), limit],
  );
  return rows.map((r) => ({
    id: r.id,
    userId: r.user_id,
    email: r.email,
    createdAt: new Date(r.created_at).toISOString(),
    lastSeenAt: new Date(r.last_seen_at).toISOString(),
    expiresAt: new Date(r.expires_at).toISOString(),
    mfa: r.mfa_at !== null,
  }));
}

export interface OrgEndpoints {
  entry: { name: string; region: string | null; available: boolean }[];
  egress: string[];
}

/**
 * The entry and egress names an organization may use, and nothing else: an
 * entry point is named by its cluster (name, region) when an entry-node role
 * serves the organization there (restricted to it, or unrestricted), and is
 * available when one such node is active and healthy. Egress names are the
 * pools its resources and its role assignments name. No node, address or key.
 */
export async function orgEndpoints(tx: Tx, orgId: string): Promise<OrgEndpoints> {
  const entry = await tx.query<{ name: string; region: string | null; available: boolean }>(
    `select c.name, c.region, bool_or(n.status = 'active' and n.health = 'healthy') as available
       from node_role_assignments a join nodes n on n.id = a.node_id join clusters c on c.id = a.cluster_id
      where a.status = 'active' and a.role = 'entry-node' and (a.organization_id = $1 or a.organization_id is null) and c.status = 'active'
      group by c.id, c.name, c.region order by c.name`,
    [orgId],
  );
  const egress = await tx.query<{ pool: string }>(
    `select distinct pool from (
        select egress_pool as pool from resources where organization_id = $1 and egress_pool is not null
        union select policy->>'egress_pool' from node_role_assignments where organization_id = $1 and status = 'active' and policy ? 'egress_pool'
      ) p where pool is not null order by pool`,
    [orgId],
  );
  return { entry: entry.map((e) => ({ name: e.name, region: e.region, available: e.available === true })), egress: egress.map((e) => e.pool) };
}
