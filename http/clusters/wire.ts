/** How cluster, node, join-request and workload rows look on the wire (snake_case, the API's field names). */
import type { ClusterRow } from "../../control/clusters/service.ts";
import type { JoinRequestRow, JoinTokenRow } from "../../control/enrollment/queries.ts";
import type { NodeRow, RouteIntentRow, WorkloadRow } from "../../control/nodes/queries.ts";

export const PLATFORM = { kind: "platform" } as const;

/** The exact command an operator runs on the new node for a join token. */
export const agentCommand = (origin: string, clusterId: string, t: { token: string; authority_fingerprint: string }) =>
  `rap-node-agent enroll --control-plane ${origin} --cluster ${clusterId} --token ${t.token} --authority-fingerprint ${t.authority_fingerprint}`;

export const clusterWire = (r: ClusterRow) => ({
  id: r.id,
  name: r.name,
  slug: r.slug,
  status: r.status,
  region: r.region,
  metadata: r.metadata,
  archive_due_at: r.archiveDueAt,
  created_at: r.createdAt,
  partition_state: r.partitionState,
  authority_term: r.authorityTerm,
  updated_at: r.updatedAt,
});

export const tokenWire = (t: JoinTokenRow) => ({
  id: t.id,
  prefix: t.prefix,
  requested_roles: t.requestedRoles,
  expires_at: t.expiresAt.toISOString(),
  max_uses: t.maxUses,
  used_count: t.usedCount,
  created_by_user_id: t.createdByUserId,
  created_at: t.createdAt.toISOString(),
  revoked_at: t.revokedAt?.toISOString() ?? null,
});

export const requestWire = (r: JoinRequestRow) => ({
  id: r.id,
  cluster_id: r.clusterId,
  node_name: r.nodeName,
  node_fingerprint: r.nodeFingerprint,
  status: r.status,
  reported_facts: r.reportedFacts,
  reported_capabilities: r.reportedCapabilities,
  requested_roles: r.requestedRoles,
  reviewed_by_user_id: r.reviewedByUserId,
  reviewed_at: r.reviewedAt,
  approved_node_id: r.approvedNodeId,
  rejection_reason: r.rejectionReason,
  source_ip: r.sourceIp,
  created_at: r.createdAt,
});

export const nodeWire = (n: NodeRow) => ({
  id: n.id,
  cluster_id: n.clusterId,
  name: n.name,
  status: n.status,
  health: n.health,
  last_heartbeat_at: n.lastHeartbeatAt,
  group_id: n.groupId,
  capabilities: n.capabilities,
  facts: n.facts,
  created_at: n.createdAt,
  updated_at: n.updatedAt,
});

export const workloadWire = (w: WorkloadRow) => ({
  assignment_id: w.assignmentId,
  node_id: w.nodeId,
  node_name: w.nodeName,
  node_health: w.nodeHealth,
  role: w.role,
  organization_id: w.organizationId,
  policy: w.policy,
  assigned_by_user_id: w.assignedBy,
  assigned_at: w.assignedAt,
  service:
    w.desiredState === null ? null : { desired_state: w.desiredState, reported_state: w.reportedState, version: w.version, last_report_at: w.lastReportAt },
});

export const routeIntentWire = (r: RouteIntentRow) => ({
  id: r.id,
  from_node_id: r.fromNode,
  to_node_id: r.toNode,
  via: r.via,
  reason: r.reason,
  created_by: r.createdBy,
  created_at: r.createdAt.toISOString(),
});
