/**
 * Route intents: a platform admin pins the relays traffic from one node to
 * another goes through. The nodes' signed paths honour an intent whenever
 * its hops are reachable (and mark it `pinned`, so agents never shortcut
 * it); otherwise the computed path applies. Organizations never see any of it.
 */
import type { ControlDeps } from "../deps.ts";
import { requireAuthority } from "../fabric.ts";
import type { ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import { appendAudit } from "../../sql/audit.ts";
import { nodesInCluster } from "../../sql/nodes.ts";
import { clusterAssignments } from "../../sql/node-roles.ts";
import { deleteRouteIntent, insertRouteIntent } from "../../sql/mesh.ts";

type Deps = Pick<ControlDeps, "db" | "clock" | "fabric">;

export interface RouteIntentInput {
  from_node_id: string;
  to_node_id: string;
  via: string[];
  reason: string;
}

export async function createRouteIntent(deps: Deps, clusterId: string, input: RouteIntentInput, change: ChangeContext): Promise<string> {
  const id = newId();
  await deps.db.transaction(async (tx) => {
    await requireAuthority(deps, tx, clusterId);
    const named = [input.from_node_id, input.to_node_id, ...input.via];
    if (new Set(named).size !== named.length) throw new DomainError("route_intent.invalid", "a route intent names each node once", { nodes: named });
    const known = await nodesInCluster(tx, clusterId, named);
    const unknown = named.filter((n) => !known.has(n));
    if (unknown.length) throw new DomainError("node.not_found", "no such node in this cluster", { nodes: unknown });
    const relays = new Set((await clusterAssignments(tx, clusterId)).filter((a) => a.role === "relay-node").map((a) => a.nodeId));
    const notRelays = input.via.filter((n) => !relays.has(n));
    if (notRelays.length) throw new DomainError("route_intent.invalid", "every node in via must have the relay-node role", { nodes: notRelays });
    const row = { id, clusterId, fromNode: input.from_node_id, toNode: input.to_node_id, via: input.via, reason: input.reason, createdBy: change.author.id };
    if (!(await insertRouteIntent(tx, row, deps.clock()))) throw new DomainError("route_intent.exists", "those nodes already have a route intent");
    await appendAudit(tx, {
      change,
      action: "mesh.route_intent_created",
      targetType: "cluster",
      targetId: clusterId,
      outcome: "success",
      details: { intent_id: id, from: input.from_node_id, to: input.to_node_id, via: input.via, reason: input.reason },
    });
  });
  await deps.fabric.snapshots.changed(clusterId);
  return id;
}

export async function removeRouteIntent(deps: Deps, clusterId: string, id: string, change: ChangeContext): Promise<void> {
  await deps.db.transaction(async (tx) => {
    await requireAuthority(deps, tx, clusterId);
    const gone = await deleteRouteIntent(tx, clusterId, id);
    if (!gone) throw new DomainError("route_intent.not_found", "no such route intent in this cluster");
    await appendAudit(tx, {
      change,
      action: "mesh.route_intent_deleted",
      targetType: "cluster",
      targetId: clusterId,
      outcome: "success",
      details: { intent_id: id, from: gone.fromNode, to: gone.toNode, via: gone.via },
    });
  });
  await deps.fabric.snapshots.changed(clusterId);
}
