/**
 * Reads of a cluster's nodes for platform admins: lists, one node with its
 * identities, roles, services and recent heartbeats, its signed snapshot,
 * the group tree, workloads and route intents. Every read is scoped to the
 * cluster named in the path; a node of another cluster is "not found".
 */
import type * as v from "valibot";
import type { NodeQuery, WorkloadQuery } from "../../core/contracts/nodes.ts";
import { NotFound } from "../../core/errors.ts";
import { clusterWorkloads, type WorkloadRow } from "../../sql/console-views.ts";
import { heartbeatHistory, latestHeartbeat } from "../../sql/heartbeats.ts";
import { routeIntents, type RouteIntentRow } from "../../sql/mesh.ts";
import { activeAssignments, listGroups, servicesOf } from "../../sql/node-roles.ts";
import { getNode, identitiesOf, listNodes as listNodeRows, type NodeRow } from "../../sql/nodes.ts";
import { clusterOr404 } from "../clusters/service.ts";
import type { Tx } from "../../sql/db.ts";
import type { ControlDeps } from "../deps.ts";
import { nodeSnapshot } from "./snapshots.ts";

export type { NodeRow, RouteIntentRow, WorkloadRow };
type Deps = Pick<ControlDeps, "db">;

/** The node, if it belongs to the cluster; otherwise `node.not_found`. */
export async function nodeIn(tx: Tx, clusterId: string, nodeId: string): Promise<NodeRow> {
  const node = await getNode(tx, nodeId);
  if (!node || node.clusterId !== clusterId) throw new NotFound("node.not_found", "no such node in this cluster", { id: nodeId });
  return node;
}

/** One more row than `limit`, so the caller can tell whether there is a next page. */
export function listNodes(deps: Deps, clusterId: string, q: v.InferOutput<typeof NodeQuery>): Promise<NodeRow[]> {
  return listNodeRows(deps.db, { clusterId, status: q.status, health: q.health, groupId: q.group_id, after: q.after, limit: q.limit + 1 });
}

export async function nodeDetail(deps: Deps, clusterId: string, nodeId: string) {
  const node = await nodeIn(deps.db, clusterId, nodeId);
  const [identities, roles, services, last, history] = await Promise.all([
    identitiesOf(deps.db, node.id),
    activeAssignments(deps.db, node.id),
    servicesOf(deps.db, node.id),
    latestHeartbeat(deps.db, node.id),
    heartbeatHistory(deps.db, node.id),
  ]);
  return { node, identities, roles, services, lastHeartbeat: last, heartbeatHistory: history };
}

export async function nodeSnapshotIn(deps: Pick<ControlDeps, "db" | "identity" | "fabric" | "clock">, clusterId: string, nodeId: string) {
  const node = await nodeIn(deps.db, clusterId, nodeId);
  return deps.db.transaction((tx) => nodeSnapshot(deps, tx, node.id, deps.clock()));
}

export interface GroupTree {
  id: string;
  name: string;
  children: GroupTree[];
}

export async function groupTree(deps: Deps, clusterId: string): Promise<GroupTree[]> {
  const groups = await listGroups(deps.db, clusterId);
  const byId = new Map<string, GroupTree>(groups.map((g) => [g.id, { id: g.id, name: g.name, children: [] }]));
  const roots: GroupTree[] = [];
  // Parents exist (a foreign key), so every lookup finds its node.
  for (const g of groups) (g.parentId ? byId.get(g.parentId)!.children : roots).push(byId.get(g.id)!);
  return roots;
}

/** One more row than `limit`, so the caller can tell whether there is a next page. */
export async function workloads(deps: Deps, clusterId: string, q: v.InferOutput<typeof WorkloadQuery>): Promise<WorkloadRow[]> {
  return clusterWorkloads(deps.db, {
    clusterId: (await clusterOr404(deps, clusterId)).id,
    role: q.role,
    reportedState: q.reported_state,
    after: q.after,
    limit: q.limit + 1,
  });
}

export async function routeIntentsOf(deps: Deps, clusterId: string): Promise<RouteIntentRow[]> {
  return routeIntents(deps.db, (await clusterOr404(deps, clusterId)).id);
}
