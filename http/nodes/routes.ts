/**
 * Platform-admin API for a cluster's trust and nodes, under
 * /api/v1/clusters/{id}: authority and partitions, join tokens, join
 * requests, nodes, roles, groups, revocations. Each route names its action;
 * approvals, tokens, role changes, revocations and promotions need step-up.
 */
import { Hono, type Context } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../env.ts";
import { authenticate } from "../middleware/auth/index.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { page } from "../page.ts";
import type { Action } from "../../core/authz.ts";
import { DomainError } from "../../core/errors.ts";
import {
  ApproveBody, ClusterItemParam, ClusterParam, JoinRequestQuery, NewJoinTokenBody, NodeGroupBody, NodeQuery, ReasonBody, RoleAssignmentBody, SetGroupBody, SplitBody, WorkloadQuery,
} from "../../core/contracts/nodes.ts";
import { getCluster } from "../../sql/clusters.ts";
import { getJoinRequest, listJoinRequests, listJoinTokens, type JoinRequestRow } from "../../sql/enrollment.ts";
import { getNode, identitiesOf, latestRevocationList, listNodes, type NodeRow } from "../../sql/nodes.ts";
import { activeAssignments, listGroups, servicesOf } from "../../sql/node-roles.ts";
import { heartbeatHistory, latestHeartbeat } from "../../sql/heartbeats.ts";
import { markMinority, mergeCluster, promoteCluster } from "../../actors/cluster/commands.ts";
import { createJoinToken, revokeToken } from "../enrollment/service.ts";
import { approveJoin, assignRole, changeLifecycle, createGroup, moveToGroup, nodeSnapshot, rejectJoin, revokeNode, splitCluster, unassignRole, type LifecycleEvent } from "./service.ts";
import { createRouteIntent, removeRouteIntent } from "./route-intents.ts";
import { routeIntents } from "../../sql/mesh.ts";
import { RouteIntentBody } from "../../core/contracts/nodes.ts";
import { clusterWorkloads, type WorkloadRow } from "../../sql/console-views.ts";

const PLATFORM = { kind: "platform" } as const;
/** The exact command an operator runs on the new node for a join token. */
const agentCommand = (origin: string, clusterId: string, t: { token: string; authority_fingerprint: string }) =>
  `rap-node-agent enroll --control-plane ${origin} --cluster ${clusterId} --token ${t.token} --authority-fingerprint ${t.authority_fingerprint}`;
const can = (c: Context<AppEnv>, action: Action) => requireAction(c, action, PLATFORM);
const NodeRoleParam = v.strictObject({ id: v.pipe(v.string(), v.uuid()), itemId: v.pipe(v.string(), v.uuid()), assignmentId: v.pipe(v.string(), v.uuid()) });

async function clusterOr404(c: Context<AppEnv>, id: string) {
  const cluster = await getCluster(c.get("deps").db, id);
  if (!cluster) throw new DomainError("cluster.not_found", "no such cluster", { id });
  return cluster;
}

const requestWire = (r: JoinRequestRow) => ({
  id: r.id, cluster_id: r.clusterId, node_name: r.nodeName, node_fingerprint: r.nodeFingerprint, status: r.status,
  reported_facts: r.reportedFacts, reported_capabilities: r.reportedCapabilities, requested_roles: r.requestedRoles,
  reviewed_by_user_id: r.reviewedByUserId, reviewed_at: r.reviewedAt, approved_node_id: r.approvedNodeId, rejection_reason: r.rejectionReason,
  source_ip: r.sourceIp, created_at: r.createdAt,
});
const workloadWire = (w: WorkloadRow) => ({
  assignment_id: w.assignmentId, node_id: w.nodeId, node_name: w.nodeName, node_health: w.nodeHealth, role: w.role, organization_id: w.organizationId, policy: w.policy,
  assigned_by_user_id: w.assignedBy, assigned_at: w.assignedAt,
  service: w.desiredState === null ? null : { desired_state: w.desiredState, reported_state: w.reportedState, version: w.version, last_report_at: w.lastReportAt },
});
const nodeWire = (n: NodeRow) => ({
  id: n.id, cluster_id: n.clusterId, name: n.name, status: n.status, health: n.health, group_id: n.groupId, capabilities: n.capabilities, facts: n.facts,
  created_at: n.createdAt, updated_at: n.updatedAt,
});

/** Drain, activate and enable take no body; the params were validated by the route. */
const heartbeatWire = (h: Awaited<ReturnType<typeof latestHeartbeat>>) =>
  h ? { received_at: h.receivedAt, seq: h.seq, agent_version: h.agentVersion, telemetry: h.telemetry } : null;

const lifecycle = (type: LifecycleEvent) => async (c: Context<AppEnv>) => {
  const { id, itemId } = c.req.param() as { id: string; itemId: string };
  await can(c, "cluster.manage");
  await changeLifecycle(c.get("deps"), id, itemId, type, undefined, changeOf(c));
  return c.json(nodeWire((await getNode(c.get("deps").db, itemId))!));
};

export const nodeRoutes = new Hono<AppEnv>()
  .use(authenticate())
  .get("/:id/authority", valid("param", ClusterParam), async (c) => {
    await can(c, "cluster.read");
    const cluster = await clusterOr404(c, c.req.valid("param").id);
    const a = await c.get("deps").fabric.authorities.load(c.get("deps").db, cluster.id);
    return c.json({
      cluster_id: cluster.id, term: cluster.authorityTerm, partition_state: cluster.partitionState,
      signing_public_key: a.signingPublicKey, signing_fingerprint: a.signingFingerprint, ca_certificate: a.caCertificatePem, ca_fingerprint: a.caFingerprint,
    });
  })
  .post("/:id/partition/minority", valid("param", ClusterParam), valid("json", ReasonBody), async (c) => {
    await can(c, "cluster.manage");
    await markMinority(c.get("deps").host, c.req.valid("param").id, c.req.valid("json").reason, changeOf(c));
    return c.json(await partitionView(c, c.req.valid("param").id));
  })
  .post("/:id/partition/promote", valid("param", ClusterParam), async (c) => {
    await can(c, "partition.promote");
    await promoteCluster(c.get("deps").host, c.req.valid("param").id, changeOf(c));
    return c.json(await partitionView(c, c.req.valid("param").id));
  })
  .post("/:id/partition/merge", valid("param", ClusterParam), async (c) => {
    await can(c, "partition.promote");
    await mergeCluster(c.get("deps").host, c.req.valid("param").id, changeOf(c));
    return c.json(await partitionView(c, c.req.valid("param").id));
  })
  .post("/:id/partition/split", valid("param", ClusterParam), valid("json", SplitBody), async (c) => {
    await can(c, "partition.promote");
    const origin = new URL(c.req.url).origin;
    const r = await splitCluster(c.get("deps"), c.req.valid("param").id, c.req.valid("json"), changeOf(c));
    return c.json({
      ...r,
      nodes: r.nodes.map((n) => ({ ...n, agent_command: agentCommand(origin, r.cluster_id, n.join_token) })),
    }, 201);
  })
  .get("/:id/join-tokens", valid("param", ClusterParam), async (c) => {
    await can(c, "cluster.read");
    const rows = await listJoinTokens(c.get("deps").db, (await clusterOr404(c, c.req.valid("param").id)).id);
    return c.json({
      items: rows.map((t) => ({ id: t.id, prefix: t.prefix, requested_roles: t.requestedRoles, expires_at: t.expiresAt.toISOString(), max_uses: t.maxUses, used_count: t.usedCount, created_by_user_id: t.createdByUserId, created_at: t.createdAt.toISOString(), revoked_at: t.revokedAt?.toISOString() ?? null })),
    });
  })
  .post("/:id/join-tokens", valid("param", ClusterParam), valid("json", NewJoinTokenBody), async (c) => {
    await can(c, "join_token.create");
    const t = await createJoinToken(c.get("deps"), c.req.valid("param").id, c.req.valid("json"), changeOf(c));
    const origin = new URL(c.req.url).origin;
    return c.json({ ...t, agent_command: agentCommand(origin, t.cluster_id, t) }, 201);
  })
  .delete("/:id/join-tokens/:itemId", valid("param", ClusterItemParam), async (c) => {
    await can(c, "join_token.create");
    await revokeToken(c.get("deps"), c.req.valid("param").id, c.req.valid("param").itemId, changeOf(c));
    return c.body(null, 204);
  })
  .get("/:id/join-requests", valid("param", ClusterParam), valid("query", JoinRequestQuery), async (c) => {
    await can(c, "cluster.read");
    const q = c.req.valid("query");
    const rows = await listJoinRequests(c.get("deps").db, { clusterId: c.req.valid("param").id, status: q.status, after: q.after, limit: q.limit + 1 });
    return c.json(page(rows.map(requestWire), q.limit, (r) => r.id));
  })
  .get("/:id/join-requests/:itemId", valid("param", ClusterItemParam), async (c) => {
    await can(c, "cluster.read");
    const r = await getJoinRequest(c.get("deps").db, c.req.valid("param").itemId);
    if (!r || r.clusterId !== c.req.valid("param").id) throw new DomainError("join_request.not_found", "no such join request");
    return c.json(requestWire(r));
  })
  .post("/:id/join-requests/:itemId/approve", valid("param", ClusterItemParam), valid("json", ApproveBody), async (c) => {
    await can(c, "node.approve");
    const { id, itemId } = c.req.valid("param");
    return c.json(await approveJoin(c.get("deps"), id, itemId, { groupId: c.req.valid("json").group_id }, changeOf(c)));
  })
  .post("/:id/join-requests/:itemId/reject", valid("param", ClusterItemParam), valid("json", ReasonBody), async (c) => {
    await can(c, "node.approve");
    const { id, itemId } = c.req.valid("param");
    await rejectJoin(c.get("deps"), id, itemId, c.req.valid("json").reason, changeOf(c));
    return c.json(requestWire((await getJoinRequest(c.get("deps").db, itemId))!));
  })
  .get("/:id/nodes", valid("param", ClusterParam), valid("query", NodeQuery), async (c) => {
    await can(c, "cluster.read");
    const q = c.req.valid("query");
    const rows = await listNodes(c.get("deps").db, { clusterId: c.req.valid("param").id, status: q.status, health: q.health, groupId: q.group_id, after: q.after, limit: q.limit + 1 });
    return c.json(page(rows.map(nodeWire), q.limit, (n) => n.id));
  })
  .get("/:id/nodes/:itemId", valid("param", ClusterItemParam), async (c) => {
    await can(c, "cluster.read");
    const { db } = c.get("deps");
    const node = await nodeOr404(c);
    return c.json({
      ...nodeWire(node),
      identities: (await identitiesOf(db, node.id)).map((i) => ({ certificate_serial: i.certificateSerial, fingerprint: i.fingerprint, not_before: i.notBefore.toISOString(), not_after: i.notAfter.toISOString(), status: i.status })),
      roles: (await activeAssignments(db, node.id)).map((a) => ({ id: a.id, role: a.role, organization_id: a.organizationId, policy: a.policy, assigned_by_user_id: a.assignedBy, assigned_at: a.assignedAt })),
      services: (await servicesOf(db, node.id)).map((s) => ({ service_type: s.serviceType, desired_state: s.desiredState, reported_state: s.reportedState, version: s.version, last_heartbeat_at: s.lastHeartbeatAt })),
      last_heartbeat: heartbeatWire(await latestHeartbeat(db, node.id)),
      heartbeat_history: (await heartbeatHistory(db, node.id)).map((h) => ({ received_at: h.receivedAt, telemetry: h.telemetry })),
    });
  })
  .get("/:id/nodes/:itemId/snapshot", valid("param", ClusterItemParam), async (c) => {
    await can(c, "cluster.read");
    const node = await nodeOr404(c);
    const deps = c.get("deps");
    return c.json(await deps.db.transaction((tx) => nodeSnapshot(deps, tx, node.id, deps.clock())));
  })
  .post("/:id/nodes/:itemId/drain", valid("param", ClusterItemParam), lifecycle("node.drain"))
  .post("/:id/nodes/:itemId/activate", valid("param", ClusterItemParam), lifecycle("node.activate"))
  .post("/:id/nodes/:itemId/enable", valid("param", ClusterItemParam), lifecycle("node.enable"))
  .post("/:id/nodes/:itemId/disable", valid("param", ClusterItemParam), valid("json", ReasonBody), async (c) => {
    await can(c, "cluster.manage");
    const { id, itemId } = c.req.valid("param");
    await changeLifecycle(c.get("deps"), id, itemId, "node.disable", c.req.valid("json").reason, changeOf(c));
    return c.json(nodeWire((await getNode(c.get("deps").db, itemId))!));
  })
  .post("/:id/nodes/:itemId/revoke", valid("param", ClusterItemParam), valid("json", ReasonBody), async (c) => {
    await can(c, "trust.change");
    const { id, itemId } = c.req.valid("param");
    return c.json(await revokeNode(c.get("deps"), id, itemId, c.req.valid("json").reason, changeOf(c)));
  })
  .post("/:id/nodes/:itemId/roles", valid("param", ClusterItemParam), valid("json", RoleAssignmentBody), async (c) => {
    await can(c, "role_assignment.manage");
    const { id, itemId } = c.req.valid("param");
    const assignmentId = await assignRole(c.get("deps"), id, itemId, c.req.valid("json"), changeOf(c));
    return c.json({ id: assignmentId }, 201);
  })
  .delete("/:id/nodes/:itemId/roles/:assignmentId", valid("param", NodeRoleParam), async (c) => {
    await can(c, "role_assignment.manage");
    const { id, itemId, assignmentId } = c.req.valid("param");
    await unassignRole(c.get("deps"), id, itemId, assignmentId, changeOf(c));
    return c.body(null, 204);
  })
  .put("/:id/nodes/:itemId/group", valid("param", ClusterItemParam), valid("json", SetGroupBody), async (c) => {
    await can(c, "cluster.manage");
    const { id, itemId } = c.req.valid("param");
    await moveToGroup(c.get("deps"), id, itemId, c.req.valid("json").group_id, changeOf(c));
    return c.json(nodeWire((await getNode(c.get("deps").db, itemId))!));
  })
  .get("/:id/node-groups", valid("param", ClusterParam), async (c) => {
    await can(c, "cluster.read");
    const groups = await listGroups(c.get("deps").db, c.req.valid("param").id);
    type Tree = { id: string; name: string; children: Tree[] };
    const byId = new Map<string, Tree>(groups.map((g) => [g.id, { id: g.id, name: g.name, children: [] }]));
    const roots: Tree[] = [];
    for (const g of groups) (g.parentId ? byId.get(g.parentId)!.children : roots).push(byId.get(g.id)!);
    return c.json({ items: roots });
  })
  .post("/:id/node-groups", valid("param", ClusterParam), valid("json", NodeGroupBody), async (c) => {
    await can(c, "cluster.manage");
    return c.json({ id: await createGroup(c.get("deps"), c.req.valid("param").id, c.req.valid("json"), changeOf(c)) }, 201);
  })
  .get("/:id/workloads", valid("param", ClusterParam), valid("query", WorkloadQuery), async (c) => {
    await can(c, "cluster.read");
    const q = c.req.valid("query");
    const rows = await clusterWorkloads(c.get("deps").db, { clusterId: (await clusterOr404(c, c.req.valid("param").id)).id, role: q.role, reportedState: q.reported_state, after: q.after, limit: q.limit + 1 });
    return c.json(page(rows.map(workloadWire), q.limit, (w) => w.assignment_id));
  })
  .get("/:id/route-intents", valid("param", ClusterParam), async (c) => {
    await can(c, "cluster.read");
    const rows = await routeIntents(c.get("deps").db, (await clusterOr404(c, c.req.valid("param").id)).id);
    return c.json({ items: rows.map((r) => ({ id: r.id, from_node_id: r.fromNode, to_node_id: r.toNode, via: r.via, reason: r.reason, created_by: r.createdBy, created_at: r.createdAt.toISOString() })) });
  })
  .post("/:id/route-intents", valid("param", ClusterParam), valid("json", RouteIntentBody), async (c) => {
    await can(c, "cluster.manage");
    const id = await createRouteIntent(c.get("deps"), (await clusterOr404(c, c.req.valid("param").id)).id, c.req.valid("json"), changeOf(c));
    return c.json({ id }, 201);
  })
  .delete("/:id/route-intents/:itemId", valid("param", ClusterItemParam), async (c) => {
    await can(c, "cluster.manage");
    const { id, itemId } = c.req.valid("param");
    await removeRouteIntent(c.get("deps"), (await clusterOr404(c, id)).id, itemId, changeOf(c));
    return c.body(null, 204);
  })
  .get("/:id/revocations", valid("param", ClusterParam), async (c) => {
    await can(c, "cluster.read");
    const list = await latestRevocationList(c.get("deps").db, (await clusterOr404(c, c.req.valid("param").id)).id);
    return c.json({ version: list?.version ?? 0, revocation_list: list?.jws ?? null });
  });

/** Callers validated the params with ClusterItemParam first. */
async function nodeOr404(c: Context<AppEnv>): Promise<NodeRow> {
  const { id, itemId } = c.req.param() as { id: string; itemId: string };
  const node = await getNode(c.get("deps").db, itemId);
  if (!node || node.clusterId !== id) throw new DomainError("node.not_found", "no such node in this cluster");
  return node;
}

async function partitionView(c: Context<AppEnv>, id: string) {
  const cluster = await clusterOr404(c, id);
  return { cluster_id: cluster.id, partition_state: cluster.partitionState, authority_term: cluster.authorityTerm };
}
