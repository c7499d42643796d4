/**
 * What an enrolled node reports and fetches (the /node-agents API after
 * authentication): heartbeats, snapshot long-polls, service states, link and
 * route-health observations, its mesh endpoint, the revocation list. Every
 * report is checked against the node's own cluster; a change that moves
 * relay paths or addresses wakes the cluster's snapshot long-polls.
 */
import type * as v from "valibot";
import type { ChangeContext } from "../../core/change.ts";
import type { HeartbeatBody, LinkReportBody, RouteHealthBody, ServiceReportBody } from "../../core/contracts/nodes.ts";
import { DomainError } from "../../core/errors.ts";
import { advertiseEndpoint, publishEntryEndpoint, recordLinks, recordRouteHealth } from "../../sql/mesh.ts";
import { latestRevocationList, nodesInCluster } from "../../sql/nodes.ts";
import { reportServices } from "../../sql/node-roles.ts";
import type { ControlDeps } from "../deps.ts";
import type { NodePrincipal } from "./node-auth.ts";
import { nodeSnapshot } from "./snapshots.ts";

/** How long a relay reported failing for a destination stays out of that node's paths. */
export const RELAY_STALE_MS = 2 * 60_000;

export const agentChange = (traceId: string, nodeId = "unenrolled"): ChangeContext => ({
  author: { type: "node", id: nodeId },
  source: { type: "agent" },
  traceId,
});

export function submitHeartbeat(deps: Pick<ControlDeps, "fabric" | "clock">, node: NodePrincipal, b: v.InferOutput<typeof HeartbeatBody>): Promise<void> {
  return deps.fabric.heartbeats.submit({
    nodeId: node.nodeId,
    clusterId: node.clusterId,
    receivedAt: deps.clock(),
    seq: b.seq,
    agentVersion: b.agent_version ?? null,
    telemetry: b.telemetry,
  });
}

export type SnapshotPoll = { version: number; changed: false } | { version: number; changed: true; snapshot: string };

/** The node's signed snapshot; with `after`, held up to `waitSeconds` until the version moves past it. */
export async function pollSnapshot(deps: ControlDeps, node: NodePrincipal, after: number | undefined, waitSeconds: number): Promise<SnapshotPoll> {
  const current = () => deps.db.transaction((tx) => nodeSnapshot(deps, tx, node.nodeId, deps.clock()));
  // Real time, not the injected clock: this is how long an HTTP request is held.
  const deadline = Date.now() + waitSeconds * 1000;
  let snap = await current();
  while (after !== undefined && snap.version <= after && Date.now() < deadline) {
    await deps.fabric.snapshots.wait(node.clusterId, deadline - Date.now());
    snap = await current();
  }
  if (after !== undefined && snap.version <= after) return { version: snap.version, changed: false };
  return { version: snap.version, changed: true, snapshot: snap.jws };
}

export async function reportNodeServices(
  deps: Pick<ControlDeps, "db" | "clock">,
  node: NodePrincipal,
  services: v.InferOutput<typeof ServiceReportBody>["services"],
): Promise<{ updated: string[]; not_assigned: string[] }> {
  const reports = services.map((r) => ({ serviceType: r.service_type, reportedState: r.reported_state, version: r.version ?? null }));
  const known = await deps.db.transaction((tx) => reportServices(tx, node.nodeId, reports, deps.clock()));
  return { updated: known, not_assigned: reports.map((r) => r.serviceType).filter((t) => !known.includes(t)) };
}

/** Names that are not other nodes of the reporter's cluster are refused, not stored. */
function refuseForeign(ids: string[], known: Set<string>, self: string, what: string, field: string): void {
  const foreign = ids.filter((id) => !known.has(id) || id === self);
  if (foreign.length) throw new DomainError("request.validation_failed", `${what} name nodes that are not peers in this cluster`, { [field]: foreign });
}

export async function reportLinks(
  deps: Pick<ControlDeps, "db" | "fabric" | "clock">,
  node: NodePrincipal,
  obs: v.InferOutput<typeof LinkReportBody>["observations"],
): Promise<{ recorded: number; reachability_changes: number }> {
  const changed = await deps.db.transaction(async (tx) => {
    const known = await nodesInCluster(
      tx,
      node.clusterId,
      obs.map((o) => o.peer_node_id),
    );
    refuseForeign(
      obs.map((o) => o.peer_node_id),
      known,
      node.nodeId,
      "observations",
      "peers",
    );
    return recordLinks(
      tx,
      node.clusterId,
      node.nodeId,
      obs.map((o) => ({ toNode: o.peer_node_id, reachable: o.reachable, latencyMs: o.latency_ms ?? null, loss: o.loss })),
      deps.clock(),
    );
  });
  // Reachability changed: relay paths in this cluster's snapshots may change.
  if (changed) await deps.fabric.snapshots.changed(node.clusterId);
  return { recorded: obs.length, reachability_changes: changed };
}

export async function reportRouteHealth(
  deps: Pick<ControlDeps, "db" | "fabric" | "clock">,
  node: NodePrincipal,
  reports: v.InferOutput<typeof RouteHealthBody>["reports"],
): Promise<{ recorded: number; changes: number }> {
  const now = deps.clock();
  const changed = await deps.db.transaction(async (tx) => {
    const named = [...new Set(reports.flatMap((r) => [r.to, ...r.via]))];
    refuseForeign(named, await nodesInCluster(tx, node.clusterId, named), node.nodeId, "reports", "nodes");
    let n = 0;
    for (const r of reports)
      if (await recordRouteHealth(tx, node.clusterId, node.nodeId, r.to, r.via, r.healthy, new Date(now.getTime() + RELAY_STALE_MS))) n++;
    return n;
  });
  // A relay marked stale for a destination leaves that node's path: a new signed snapshot follows.
  if (changed) await deps.fabric.snapshots.changed(node.clusterId);
  return { recorded: reports.length, changes: changed };
}

export async function advertiseMeshEndpoint(
  deps: Pick<ControlDeps, "db" | "fabric" | "clock">,
  node: NodePrincipal,
  address: string,
): Promise<{ address: string; changed: boolean }> {
  const changed = await deps.db.transaction((tx) => advertiseEndpoint(tx, node.clusterId, node.nodeId, address, deps.clock()));
  // Peers learn the new address from their next snapshot.
  if (changed) await deps.fabric.snapshots.changed(node.clusterId);
  return { address, changed };
}

/** An entry node publishes where clients connect; attach offers name it from then on (no snapshot change: peers do not use it). */
export async function publishEntry(
  deps: Pick<ControlDeps, "db" | "clock">,
  node: NodePrincipal,
  body: { urls: string[]; certificate_hashes: string[] },
): Promise<{ changed: boolean }> {
  const changed = await deps.db.transaction((tx) =>
    publishEntryEndpoint(tx, node.clusterId, node.nodeId, { urls: body.urls, certificateHashes: body.certificate_hashes }, deps.clock()),
  );
  return { changed };
}

export async function revocationList(deps: Pick<ControlDeps, "db">, node: NodePrincipal): Promise<{ version: number; revocation_list: string | null }> {
  const list = await latestRevocationList(deps.db, node.clusterId);
  return { version: list?.version ?? 0, revocation_list: list?.jws ?? null };
}
