/**
 * Placement without exposing topology. A resource names its protocol and a
 * logical egress pool; the pool is backed by the nodes whose adapter role
 * for that protocol (`ssh-worker` for ssh, `rdp-worker`, `vnc-worker`) is
 * assigned to the organization with `policy.egress_pool` = the pool name.
 *
 * Rule: the least-loaded (fewest live sessions, then id) active, healthy
 * adapter node of the pool in an active cluster that has at least one
 * authorized entry node; its entry nodes are the active, healthy nodes with
 * the `entry-node` role for the organization (or for every organization) in
 * the same cluster (a cluster is one mesh), nearest first: same node group as
 * the adapter, then lowest observed mesh latency to it, then id; at most
 * MAX_ENTRY_NODES. The organization sees only the pool name and the entry
 * point's name (its cluster's name), never a node.
 */
import type { Tx } from "../../sql/db.ts";
import { adapterCandidates, entryCandidates, type EntryCandidate } from "../../sql/remote-sessions.ts";
import { PROTOCOL_ROLE } from "../../core/fabric.ts";
import type { Placement } from "../../actors/remote-session/machine.ts";

export const MAX_ENTRY_NODES = 3;

export type PlacementResult = { ok: true; placement: Placement } | { ok: false; reason: "no_adapter_node" | "no_entry_node" };

export function rankEntries(entries: EntryCandidate[], adapterGroupId: string | null): EntryCandidate[] {
  const sameGroup = (e: EntryCandidate) => (adapterGroupId !== null && e.groupId === adapterGroupId ? 0 : 1);
  return [...entries].sort((a, b) => sameGroup(a) - sameGroup(b) || (a.latencyMs ?? Infinity) - (b.latencyMs ?? Infinity) || a.nodeId.localeCompare(b.nodeId));
}

export async function placeSession(
  tx: Tx,
  r: { organizationId: string; protocol: "ssh" | "rdp" | "vnc"; egressPool: string | null },
): Promise<PlacementResult> {
  const adapters = await adapterCandidates(tx, { orgId: r.organizationId, role: PROTOCOL_ROLE[r.protocol], pool: r.egressPool });
  if (!adapters.length) return { ok: false, reason: "no_adapter_node" };
  for (const a of adapters) {
    const entries = rankEntries(await entryCandidates(tx, { orgId: r.organizationId, clusterId: a.clusterId, adapterNodeId: a.nodeId }), a.groupId).slice(
      0,
      MAX_ENTRY_NODES,
    );
    if (entries.length)
      return { ok: true, placement: { adapterNodeId: a.nodeId, entryNodeIds: entries.map((e) => e.nodeId), entryName: entries[0]!.clusterName } };
  }
  return { ok: false, reason: "no_entry_node" };
}
