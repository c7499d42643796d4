/**
 * What a node running VPN connections asks the control plane: its
 * assignments (in its signed snapshot), lease renewals, releases, and the
 * WireGuard configuration. A renewal is the lease actor's `lease.renew`; one
 * the lease refuses (another epoch, another owner, too late, fenced) is
 * answered `refused`, which tells the agent to stop forwarding now. The
 * secret goes to the current owner only, over the node's authenticated
 * channel, audited per delivery, never logged or put in a snapshot.
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { ActorEventRejected, ActorNotFound, DomainError } from "../../core/errors.ts";
import type { VpnAssignment, VpnClientAssignment, VpnRenewAnswer, VpnSecretAnswer } from "../../core/contracts/vpn.ts";
import type { Tx } from "../../sql/db.ts";
import { appendAudit } from "../../sql/audit.ts";
import { getNode } from "../../sql/nodes.ts";
import { getVpnConnection, getVpnLease, getVpnSecret, leasesOfNode, listVpnConnections } from "../../sql/vpn.ts";
import { clusterAssignments, type AssignmentRow } from "../../sql/node-roles.ts";
import { VPN_LEASE } from "../../actors/vpn-lease/kind.ts";
import type { VpnLeaseContext } from "../../actors/vpn-lease/machine.ts";
import { vpnSecretAad, type WireguardSecret } from "./service.ts";
import { routingOnWire } from "./config.ts";

type Deps = Pick<ControlDeps, "db" | "host" | "clock">;

/** The node's VPN assignments for its snapshot: active (the lease is held by it) or standby; the active owner also gets the organization's clients. */
export async function vpnAssignmentsOf(tx: Tx, nodeId: string): Promise<VpnAssignment[]> {
  const out: VpnAssignment[] = [];
  for (const l of await leasesOfNode(tx, nodeId)) {
    const c = await getVpnConnection(tx, l.connectionId);
    if (c?.state !== "enabled") continue;
    const active = l.state === "held" && l.ownerNodeId === nodeId;
    if (!active && l.standbyNodeId !== nodeId) continue;
    const assignment: VpnAssignment = {
      connection_id: c.id,
      organization_id: c.organizationId,
      role: active ? "active" : "standby",
      epoch: l.epoch,
      ttl_seconds: l.ttlMs / 1000,
      secret_version: c.secretVersion,
      target: c.target,
      routing: routingOnWire(c.routing),
    };
    if (active) {
      const node = await getNode(tx, nodeId);
      const roles = node ? await clusterAssignments(tx, node.clusterId) : [];
      assignment.clients = vpnClientsOf(roles, c.organizationId);
      assignment.adapters = adaptersOf(roles, c.organizationId);
    }
    out.push(assignment);
  }
  return out;
}

/**
 * A `vpn-client` node's connections: every enabled connection of its organization that allows IP tunnels, with the
 * lease's current owner and epoch (null owner while nobody holds it). A client without a tunnel address in its role
 * assignment's policy gets nothing: it has no address to send from.
 */
export async function vpnClientAssignmentsOf(tx: Tx, clientRoles: readonly AssignmentRow[]): Promise<VpnClientAssignment[]> {
  const out: VpnClientAssignment[] = [];
  for (const a of clientRoles) {
    const address = typeof a.policy.tunnel_address === "string" ? a.policy.tunnel_address : null;
    if (a.role !== "vpn-client" || !a.organizationId || !address) continue;
    for (const c of await listVpnConnections(tx, a.organizationId)) {
      if (c.state !== "enabled" || !c.routing.services.includes("ip_tunnel")) continue;
      const l = await getVpnLease(tx, c.id);
      const held = l?.state === "held" && l.ownerNodeId !== null;
      out.push({
        connection_id: c.id,
        organization_id: c.organizationId,
        owner_node_id: held ? l.ownerNodeId : null,
        epoch: l?.epoch ?? 0,
        tunnel_address: address,
        routing: routingOnWire(c.routing),
      });
    }
  }
  return out;
}

/** The organization's active `vpn-client` nodes with a tunnel address, by node id. */
/** The adapter nodes serving the organization (or every organization): the ones whose sessions may dial through its connections. */
function adaptersOf(roles: readonly AssignmentRow[], organizationId: string): string[] {
  const adapters = roles.filter((a) => ADAPTER_ROLES.includes(a.role) && (a.organizationId === organizationId || a.organizationId === null));
  return [...new Set(adapters.map((a) => a.nodeId))].sort();
}
const ADAPTER_ROLES = ["ssh-worker", "rdp-worker"];

function vpnClientsOf(roles: readonly AssignmentRow[], organizationId: string): { node_id: string; address: string }[] {
  return roles
    .filter((a) => a.role === "vpn-client" && a.organizationId === organizationId && typeof a.policy.tunnel_address === "string")
    .map((a) => ({ node_id: a.nodeId, address: a.policy.tunnel_address as string }))
    .sort((x, y) => x.node_id.localeCompare(y.node_id));
}

export async function renewVpnLease(deps: Deps, nodeId: string, connectionId: string, epoch: number, change: ChangeContext): Promise<VpnRenewAnswer> {
  const at = deps.clock().toISOString();
  let context: VpnLeaseContext;
  try {
    context = (await deps.host.send(VPN_LEASE, connectionId, { type: "lease.renew", nodeId, epoch, at }, change)).context as VpnLeaseContext;
  } catch (err) {
    if (err instanceof ActorEventRejected || err instanceof ActorNotFound) return { status: "refused", reason: "not_owner" };
    throw err;
  }
  // Drain: the owner's node is draining and a standby is ready, so it should stop and hand over.
  const node = await deps.db.transaction((tx) => getNode(tx, nodeId));
  const releaseRequested = node?.status === "draining" && context.standbyNodeId !== null;
  return {
    status: "renewed",
    epoch: context.epoch,
    expires_at: context.expiresAt ?? at,
    ttl_seconds: context.ttlMs / 1000,
    release_requested: releaseRequested,
  };
}

export async function releaseVpnLease(deps: Deps, nodeId: string, connectionId: string, epoch: number, change: ChangeContext): Promise<{ released: boolean }> {
  try {
    await deps.host.send(VPN_LEASE, connectionId, { type: "lease.release", nodeId, epoch, at: deps.clock().toISOString() }, change);
    return { released: true };
  } catch (err) {
    if (err instanceof ActorEventRejected || err instanceof ActorNotFound) return { released: false };
    throw err;
  }
}

export async function vpnSecretFor(
  deps: Pick<ControlDeps, "db" | "identity">,
  nodeId: string,
  connectionId: string,
  change: ChangeContext,
): Promise<VpnSecretAnswer> {
  return deps.db.transaction(async (tx) => {
    const lease = await getVpnLease(tx, connectionId);
    const c = await getVpnConnection(tx, connectionId);
    if (!lease || !c || c.state !== "enabled" || lease.state !== "held" || lease.ownerNodeId !== nodeId) {
      throw new DomainError("vpn.not_owner", "this node does not hold the VPN connection's lease", { connection_id: connectionId });
    }
    const sealed = await getVpnSecret(tx, connectionId);
    if (!sealed) throw new DomainError("vpn.not_owner", "the VPN connection has no stored configuration", { connection_id: connectionId });
    const s = JSON.parse(new TextDecoder().decode(await deps.identity.keyring.open(sealed, vpnSecretAad(connectionId)))) as WireguardSecret;
    // Platform audit: it names the node, which the organization never sees.
    await appendAudit(tx, {
      change,
      organizationId: null,
      action: "vpn.secret_delivered",
      targetType: "vpn_connection",
      targetId: connectionId,
      outcome: "success",
      details: { node_id: nodeId, epoch: lease.epoch, secret_version: c.secretVersion },
    });
    return { connection_id: connectionId, epoch: lease.epoch, secret_version: c.secretVersion, wireguard: s };
  });
}
