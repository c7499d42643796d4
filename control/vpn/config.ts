/**
 * Checks a VPN connection's configuration against the rest of the
 * organization before anything is written: every CIDR canonical, no allowed
 * range overlapping another connection's of the same organization (two exits
 * for one range would make routing ambiguous), every node of an explicit
 * allowed-node list known, every DNS route a canonical suffix with servers the
 * connection reaches. Each refusal is a stable code (core/error-catalog.ts).
 */
import { DomainError } from "../../core/errors.ts";
import { cidrsOverlap, parseCidr, type Cidr } from "../../core/vpn/cidr.ts";
import { isDnsServer, isDnsSuffix } from "../../core/vpn/dns.ts";
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

/**
 * Each DNS route: a canonical suffix, given once; servers that are addresses the connection carries (in an allowed
 * range, or anywhere with internet egress, and in no denied range), since the client sends them through its adapter.
 */
export function checkDnsRoutes(routing: VpnRoutingPolicy, allowed: Cidr[], denied: Cidr[]): void {
  const seen = new Set<string>();
  for (const route of routing.dnsRoutes) {
    if (!isDnsSuffix(route.suffix) || seen.has(route.suffix)) {
      throw new DomainError("vpn.dns_suffix_invalid", `dns_routes: ${JSON.stringify(route.suffix)} is not a lower-case DNS name given once`, {
        suffix: route.suffix,
      });
    }
    seen.add(route.suffix);
    for (const server of route.servers) {
      const address = isDnsServer(server) ? parseCidr(`${server}/${server.includes(":") ? 128 : 32}`) : null;
      const reason = !address
        ? "is not an IP address"
        : !routing.internetEgress && !allowed.some((c) => cidrsOverlap(c, address))
          ? "is outside the allowed ranges"
          : denied.some((c) => cidrsOverlap(c, address))
            ? "is in a denied range"
            : null;
      if (reason) {
        throw new DomainError("vpn.dns_server_invalid", `dns_routes ${route.suffix}: server ${JSON.stringify(server)} ${reason}`, {
          suffix: route.suffix,
          server,
        });
      }
    }
  }
}

/** Throws the first problem; `selfId` is the connection being updated (its own ranges do not count). */
export async function checkVpnConfig(tx: Tx, organizationId: string, config: VpnConfig, selfId: string | null): Promise<void> {
  const allowed = parseAll(config.routing.allowedCidrs, "allowed_cidrs");
  const denied = parseAll(config.routing.deniedCidrs, "denied_cidrs");
  checkDnsRoutes(config.routing, allowed, denied);
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
