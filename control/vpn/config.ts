/**
 * Checks a VPN connection's configuration against the rest of the
 * organization before anything is written: every CIDR canonical, no allowed
 * range overlapping another connection's of the same organization (two exits
 * for one range would make routing ambiguous), every node of an explicit
 * allowed-node list known. Each refusal is a stable code (core/error-catalog.ts).
 */
import { DomainError } from "../../core/errors.ts";
import { cidrsOverlap, parseCidr, type Cidr } from "../../core/vpn/cidr.ts";
import type { Tx } from "../../sql/db.ts";
import { existingNodeIds, listVpnConnections } from "../../sql/vpn.ts";
import type { VpnConfig, VpnRoutingPolicy } from "../../actors/vpn-connection/machine.ts";
import type { VpnRouting } from "../../core/contracts/vpn.ts";

/** The routing policy as the API and the node snapshot spell it. */
export function routingOnWire(r: VpnRoutingPolicy): VpnRouting {
  return {
    allowed_cidrs: r.allowedCidrs,
    denied_cidrs: r.deniedCidrs,
    dns_routes: r.dnsRoutes,
    services: r.services,
    resource_ids: r.resourceIds,
    internet_egress: r.internetEgress,
  };
}

function parseAll(list: string[], field: string): Cidr[] {
  return list.map((text) => {
    const c = parseCidr(text);
    if (!c) throw new DomainError("vpn.cidr_invalid", `${field}: ${JSON.stringify(text)} is not a canonical CIDR`, { field, cidr: text });
    return c;
  });
}

/** Throws the first problem; `selfId` is the connection being updated (its own ranges do not count). */
export async function checkVpnConfig(tx: Tx, organizationId: string, config: VpnConfig, selfId: string | null): Promise<void> {
  const allowed = parseAll(config.routing.allowedCidrs, "allowed_cidrs");
  parseAll(config.routing.deniedCidrs, "denied_cidrs");
  for (const other of await listVpnConnections(tx, organizationId)) {
    if (other.id === selfId) continue;
    for (const text of other.routing.allowedCidrs) {
      const theirs = parseCidr(text);
      const i = theirs ? allowed.findIndex((mine) => cidrsOverlap(mine, theirs)) : -1;
      if (i >= 0) {
        throw new DomainError("vpn.cidr_overlap", `${config.routing.allowedCidrs[i]} overlaps ${text} of VPN connection ${other.name}`, {
          cidr: config.routing.allowedCidrs[i],
          overlaps: text,
          connection_id: other.id,
        });
      }
    }
  }
  if (config.allowedNodes.mode === "list") {
    const known = await existingNodeIds(tx, config.allowedNodes.nodeIds);
    const unknown = config.allowedNodes.nodeIds.filter((id) => !known.has(id));
    if (unknown.length) throw new DomainError("vpn.unknown_nodes", "the allowed-node list names unknown nodes", { node_ids: unknown });
  }
}
