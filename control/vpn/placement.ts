/**
 * Applies placement (core/vpn/placement.ts) to one connection's lease: grant
 * a vacant lease to the chosen node, fence an owner policy no longer allows,
 * keep the standby current. Safety does not depend on this running at the
 * right moment: the lease machine refuses a grant while the lease is held or
 * fencing, so two replicas reconciling at once at worst waste a transition.
 * Runs after every change of a connection and on the reconciler's tick
 * (control/vpn/reconciler.ts), which also replaces a standby that went bad.
 */
import type { ControlDeps } from "../deps.ts";
import { systemChange, type ChangeContext } from "../../core/change.ts";
import { ActorEventRejected } from "../../core/errors.ts";
import { newTraceId } from "../../core/ids.ts";
import { missingCapability, type NodeRole } from "../../core/fabric.ts";
import { placeVpnConnection, type PlacementDecision, type VpnCandidate } from "../../core/vpn/placement.ts";
import type { Tx } from "../../sql/db.ts";
import { getVpnConnection, getVpnLease, vpnCandidateRows, type VpnConnectionRow } from "../../sql/vpn.ts";
import { VPN_LEASE } from "../../actors/vpn-lease/kind.ts";

/** The node role that runs a connection's tunnel (§2 `vpn-connector`). */
export const VPN_ROLES: NodeRole[] = ["vpn-connector"];
/** A node silent longer than this is not chosen as a new owner or standby (three missed heartbeats). */
export const VPN_HEARTBEAT_FRESH_MS = 90_000;

export async function vpnCandidates(tx: Tx, c: VpnConnectionRow): Promise<VpnCandidate[]> {
  return (await vpnCandidateRows(tx, c.organizationId, VPN_ROLES)).map((r) => ({
    nodeId: r.nodeId,
    region: r.region,
    status: r.status,
    health: r.health,
    lastHeartbeatAt: r.lastHeartbeatAt,
    authorized: missingCapability(r.role as NodeRole, r.capabilities) === null,
    activeConnections: r.owned,
  }));
}

/** Reads, decides, and sends the lease what changed. Null: no such live connection. */
export async function reconcileVpnConnection(
  deps: Pick<ControlDeps, "db" | "host" | "clock">,
  connectionId: string,
  change: ChangeContext = systemChange("timer", newTraceId()),
): Promise<PlacementDecision | null> {
  const now = deps.clock();
  const read = await deps.db.transaction(async (tx) => {
    const c = await getVpnConnection(tx, connectionId);
    const lease = c ? await getVpnLease(tx, connectionId) : undefined;
    return c && lease ? { c, lease, candidates: await vpnCandidates(tx, c) } : null;
  });
  if (!read) return null;
  const { c, lease, candidates } = read;
  const decision = placeVpnConnection({
    rules: { allowedNodes: c.allowedNodes, ...c.placement },
    enabled: c.state === "enabled",
    candidates,
    owner: lease.state === "held" ? lease.ownerNodeId : null,
    standby: lease.standbyNodeId,
    now,
    heartbeatFreshMs: VPN_HEARTBEAT_FRESH_MS,
  });
  const at = now.toISOString();
  const send = async (event: { type: string } & Record<string, unknown>) => {
    try {
      await deps.host.send(VPN_LEASE, connectionId, event, change);
    } catch (err) {
      // Another replica or the expiry timer moved the lease first; the next tick sees the new state.
      if (!(err instanceof ActorEventRejected)) throw err;
    }
  };
  if (lease.state === "vacant" && decision.owner) await send({ type: "lease.grant", nodeId: decision.owner, standbyNodeId: decision.standby, at });
  else if (lease.state === "held" && decision.ownerAction === "fence") {
    await send({ type: "lease.fence", reason: decision.ownerReason ?? "not_eligible", at, keepStandby: true });
  }
  if ((lease.state === "held" || lease.state === "fencing") && decision.standby !== lease.standbyNodeId && decision.standby !== lease.ownerNodeId) {
    await send({ type: "lease.set_standby", nodeId: decision.standby });
  }
  return decision;
}
