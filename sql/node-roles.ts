/** Role assignments, node groups and service instances (desired vs reported). */
import { one, pgArray, type Tx } from "./db.ts";

export interface AssignmentRow {
  id: string;
  clusterId: string;
  nodeId: string;
  role: string;
  organizationId: string | null;
  status: string;
  assignedBy: string;
  assignedAt: string;
  policy: Record<string, unknown>;
}
type RawAssignment = {
  id: string;
  cluster_id: string;
  node_id: string;
  role: string;
  organization_id: string | null;
  status: string;
  assigned_by_user_id: string;
  assigned_at: Date;
  policy: Record<string, unknown>;
};
const A_COLS = "id::text, cluster_id::text, node_id::text, role, organization_id::text, status, assigned_by_user_id, assigned_at, policy";
const toAssignment = (r: RawAssignment): AssignmentRow => ({
  id: r.id,
  clusterId: r.cluster_id,
  nodeId: r.node_id,
  role: r.role,
  organizationId: r.organization_id,
  status: r.status,
  assignedBy: r.assigned_by_user_id,
  assignedAt: new Date(r.assigned_at).toISOString(),
  policy: r.policy,
});

export async function insertAssignment(
  tx: Tx,
  a: { id: string; clusterId: string; nodeId: string; role: string; organizationId: string | null; assignedBy: string; policy: Record<string, unknown> },
): Promise<void> {
  await tx.query(
    "insert into node_role_assignments (id, cluster_id, node_id, role, organization_id, status, assigned_by_user_id, policy) values ($1, $2, $3, $4, $5, 'active', $6, $7::jsonb)",
    [a.id, a.clusterId, a.nodeId, a.role, a.organizationId, a.assignedBy, JSON.stringify(a.policy)],
  );
}

export async function removeAssignment(tx: Tx, nodeId: string, id: string): Promise<AssignmentRow | undefined> {
  const r = await one<RawAssignment>(
    tx,
    `update node_role_assignments set status = 'removed', removed_at = now() where id = $1 and node_id = $2 and status = 'active' returning ${A_COLS}`,
    [id, nodeId],
  );
  return r && toAssignment(r);
}

export async function activeAssignments(tx: Tx, nodeId: string): Promise<AssignmentRow[]> {
  return (
    await tx.query<RawAssignment>(`select ${A_COLS} from node_role_assignments where node_id = $1 and status = 'active' order by role, id`, [nodeId])
  ).map(toAssignment);
}

export async function clusterAssignments(tx: Tx, clusterId: string): Promise<AssignmentRow[]> {
  return (
    await tx.query<RawAssignment>(`select ${A_COLS} from node_role_assignments where cluster_id = $1 and status = 'active' order by node_id, role`, [clusterId])
  ).map(toAssignment);
}

export interface GroupRow {
  id: string;
  clusterId: string;
  parentId: string | null;
  name: string;
}

export async function insertGroup(tx: Tx, g: GroupRow): Promise<void> {
  await tx.query("insert into node_groups (id, cluster_id, parent_id, name) values ($1, $2, $3, $4)", [g.id, g.clusterId, g.parentId, g.name]);
}

export async function getGroup(tx: Tx, id: string): Promise<GroupRow | undefined> {
  const r = await one<{ id: string; cluster_id: string; parent_id: string | null; name: string }>(
    tx,
    "select id::text, cluster_id::text, parent_id::text, name from node_groups where id = $1",
    [id],
  );
  return r && { id: r.id, clusterId: r.cluster_id, parentId: r.parent_id, name: r.name };
}

export async function listGroups(tx: Tx, clusterId: string): Promise<GroupRow[]> {
  const rows = await tx.query<{ id: string; cluster_id: string; parent_id: string | null; name: string }>(
    "select id::text, cluster_id::text, parent_id::text, name from node_groups where cluster_id = $1 order by name",
    [clusterId],
  );
  return rows.map((r) => ({ id: r.id, clusterId: r.cluster_id, parentId: r.parent_id, name: r.name }));
}

export interface ServiceRow {
  id: string;
  nodeId: string;
  serviceType: string;
  desiredState: string;
  reportedState: string;
  version: string | null;
  lastHeartbeatAt: string | null;
}

export async function setDesiredService(
  tx: Tx,
  s: { id: string; clusterId: string; nodeId: string; serviceType: string; desiredState: "running" | "stopped" },
): Promise<void> {
  await tx.query(
    `insert into node_service_instances (id, cluster_id, node_id, service_type, desired_state) values ($1, $2, $3, $4, $5)
     on conflict (node_id, service_type) do update set desired_state = excluded.desired_state, updated_at = now()`,
    [s.id, s.clusterId, s.nodeId, s.serviceType, s.desiredState],
  );
}

export async function servicesOf(tx: Tx, nodeId: string): Promise<ServiceRow[]> {
  const rows = await tx.query<{
    id: string;
    node_id: string;
    service_type: string;
    desired_state: string;
    reported_state: string;
    version: string | null;
    last_heartbeat_at: Date | null;
  }>(
    "select id::text, node_id::text, service_type, desired_state, reported_state, version, last_heartbeat_at from node_service_instances where node_id = $1 order by service_type",
    [nodeId],
  );
  return rows.map((r) => ({
    id: r.id,
    nodeId: r.node_id,
    serviceType: r.service_type,
    desiredState: r.desired_state,
    reportedState: r.reported_state,
    version: r.version,
    lastHeartbeatAt: r.last_heartbeat_at ? new Date(r.last_heartbeat_at).toISOString() : null,
  }));
}

/** Records what the agent reports for its own services; only rows that exist (assigned services) change. Returns the types it knew. */
export async function reportServices(
  tx: Tx,
  nodeId: string,
  reports: { serviceType: string; reportedState: string; version: string | null }[],
  at: Date,
): Promise<string[]> {
  if (reports.length === 0) return [];
  const rows = await tx.query<{ service_type: string }>(
    `update node_service_instances s set reported_state = r.state, version = r.version, last_heartbeat_at = $5::timestamptz, updated_at = now()
       from unnest($2::text[], $3::text[], $4::text[]) as r(service_type, state, version)
      where s.node_id = $1 and s.service_type = r.service_type
      returning s.service_type`,
    [
      nodeId,
      pgArray(reports.map((r) => r.serviceType)),
      pgArray(reports.map((r) => r.reportedState)),
      pgArray(reports.map((r) => r.version)),
      at.toISOString(),
    ],
  );
  return rows.map((r) => r.service_type);
}
