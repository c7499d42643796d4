/**
 * A cluster's nodes: list, detail, signed snapshot, lifecycle (drain,
 * activate, enable, disable), revocation (step-up), role assignments and
 * group membership.
 */
import { Hono, type Context } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../env.ts";
import { requireAction } from "../authorize.ts";
import { valid } from "../validate.ts";
import { changeOf } from "../change.ts";
import { page } from "../page.ts";
import { Uuid } from "../../core/contracts/common.ts";
import { ClusterItemParam, ClusterParam, NodeQuery, ReasonBody, RoleAssignmentBody, SetGroupBody } from "../../core/contracts/nodes.ts";
import { listNodes, nodeDetail, nodeSnapshotIn } from "../../control/nodes/queries.ts";
import { assignRole, changeLifecycle, moveToGroup, revokeNode, unassignRole, type LifecycleEvent } from "../../control/nodes/service.ts";
import { nodeWire, PLATFORM } from "./wire.ts";
import { DENIED, describeRoutes } from "../openapi/registry.ts";

const NodeRoleParam = v.strictObject({ id: Uuid("a cluster id"), itemId: Uuid("a node id"), assignmentId: Uuid("an assignment id") });

type NodeDetail = Awaited<ReturnType<typeof nodeDetail>>;
const detailWire = (d: NodeDetail) => ({
  ...nodeWire(d.node),
  identities: d.identities.map((i) => ({
    certificate_serial: i.certificateSerial,
    fingerprint: i.fingerprint,
    not_before: i.notBefore.toISOString(),
    not_after: i.notAfter.toISOString(),
    status: i.status,
  })),
  roles: d.roles.map((a) => ({
    id: a.id,
    role: a.role,
    organization_id: a.organizationId,
    policy: a.policy,
    assigned_by_user_id: a.assignedBy,
    assigned_at: a.assignedAt,
  })),
  services: d.services.map((s) => ({
    service_type: s.serviceType,
    desired_state: s.desiredState,
    reported_state: s.reportedState,
    version: s.version,
    last_heartbeat_at: s.lastHeartbeatAt,
  })),
  last_heartbeat: d.lastHeartbeat
    ? { received_at: d.lastHeartbeat.receivedAt, seq: d.lastHeartbeat.seq, agent_version: d.lastHeartbeat.agentVersion, telemetry: d.lastHeartbeat.telemetry }
    : null,
  heartbeat_history: d.heartbeatHistory.map((h) => ({ received_at: h.receivedAt, telemetry: h.telemetry })),
});

/** Drain, activate and enable take no body; the route validated the params with ClusterItemParam. */
const lifecycle = (type: LifecycleEvent) => async (c: Context<AppEnv>) => {
  await requireAction(c, "cluster.manage", PLATFORM);
  const { id, itemId } = c.req.param() as { id: string; itemId: string };
  return c.json(nodeWire(await changeLifecycle(c.get("deps"), id, itemId, type, undefined, changeOf(c))));
};

export const nodeRoutes = new Hono<AppEnv>()
  .get("/:id/nodes", valid("param", ClusterParam), valid("query", NodeQuery), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    const q = c.req.valid("query");
    return c.json(page((await listNodes(c.get("deps"), c.req.valid("param").id, q)).map(nodeWire), q.limit, (n) => n.id));
  })
  .get("/:id/nodes/:itemId", valid("param", ClusterItemParam), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    const { id, itemId } = c.req.valid("param");
    return c.json(detailWire(await nodeDetail(c.get("deps"), id, itemId)));
  })
  .get("/:id/nodes/:itemId/snapshot", valid("param", ClusterItemParam), async (c) => {
    await requireAction(c, "cluster.read", PLATFORM);
    const { id, itemId } = c.req.valid("param");
    return c.json(await nodeSnapshotIn(c.get("deps"), id, itemId));
  })
  .post("/:id/nodes/:itemId/drain", valid("param", ClusterItemParam), lifecycle("node.drain"))
  .post("/:id/nodes/:itemId/activate", valid("param", ClusterItemParam), lifecycle("node.activate"))
  .post("/:id/nodes/:itemId/enable", valid("param", ClusterItemParam), lifecycle("node.enable"))
  .post("/:id/nodes/:itemId/disable", valid("param", ClusterItemParam), valid("json", ReasonBody), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    const { id, itemId } = c.req.valid("param");
    return c.json(nodeWire(await changeLifecycle(c.get("deps"), id, itemId, "node.disable", c.req.valid("json").reason, changeOf(c))));
  })
  .post("/:id/nodes/:itemId/revoke", valid("param", ClusterItemParam), valid("json", ReasonBody), async (c) => {
    await requireAction(c, "trust.change", PLATFORM);
    const { id, itemId } = c.req.valid("param");
    return c.json(await revokeNode(c.get("deps"), id, itemId, c.req.valid("json").reason, changeOf(c)));
  })
  .post("/:id/nodes/:itemId/roles", valid("param", ClusterItemParam), valid("json", RoleAssignmentBody), async (c) => {
    await requireAction(c, "role_assignment.manage", PLATFORM);
    const { id, itemId } = c.req.valid("param");
    return c.json({ id: await assignRole(c.get("deps"), id, itemId, c.req.valid("json"), changeOf(c)) }, 201);
  })
  .delete("/:id/nodes/:itemId/roles/:assignmentId", valid("param", NodeRoleParam), async (c) => {
    await requireAction(c, "role_assignment.manage", PLATFORM);
    const { id, itemId, assignmentId } = c.req.valid("param");
    await unassignRole(c.get("deps"), id, itemId, assignmentId, changeOf(c));
    return c.body(null, 204);
  })
  .put("/:id/nodes/:itemId/group", valid("param", ClusterItemParam), valid("json", SetGroupBody), async (c) => {
    await requireAction(c, "cluster.manage", PLATFORM);
    const { id, itemId } = c.req.valid("param");
    return c.json(nodeWire(await moveToGroup(c.get("deps"), id, itemId, c.req.valid("json").group_id, changeOf(c))));
  });

describeRoutes(nodeRoutes, {
  "GET /:id/nodes": { summary: "Nodes of a cluster", errors: [...DENIED, "cluster.not_found"] },
  "GET /:id/nodes/:itemId": { summary: "A node: identities, roles, services, heartbeats", errors: [...DENIED, "node.not_found"] },
  "GET /:id/nodes/:itemId/snapshot": { summary: "The node's current signed snapshot, decoded", errors: [...DENIED, "node.not_found"] },
  "POST /:id/nodes/:itemId/drain": { summary: "Drain a node (no new sessions)", errors: [...DENIED, "node.not_found", "actor.event_rejected"] },
  "POST /:id/nodes/:itemId/activate": { summary: "Activate a pending or draining node", errors: [...DENIED, "node.not_found", "actor.event_rejected"] },
  "POST /:id/nodes/:itemId/enable": { summary: "Enable a disabled node", errors: [...DENIED, "node.not_found", "actor.event_rejected"] },
  "POST /:id/nodes/:itemId/disable": { summary: "Disable a node", errors: [...DENIED, "node.not_found", "actor.event_rejected"] },
  "POST /:id/nodes/:itemId/revoke": {
    summary: "Revoke a node for good (its certificates too)",
    errors: [...DENIED, "node.not_found", "cluster.partition_minority", "actor.event_rejected"],
  },
  "POST /:id/nodes/:itemId/roles": {
    summary: "Assign a role to a node",
    status: 201,
    errors: [
      ...DENIED,
      "node.not_found",
      "node.not_active",
      "node.capability_missing",
      "node.role_exists",
      "node.role_policy_invalid",
      "organization.not_found",
    ],
  },
  "DELETE /:id/nodes/:itemId/roles/:assignmentId": {
    summary: "Remove a role assignment",
    status: 204,
    errors: [...DENIED, "node.not_found", "node.role_not_found"],
  },
  "PUT /:id/nodes/:itemId/group": { summary: "Move a node to a group (or none)", errors: [...DENIED, "node.not_found", "node_group.not_found"] },
});
