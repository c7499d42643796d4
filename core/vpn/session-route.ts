/**
 * Whether a resource may route its managed sessions (SSH, RDP) through a VPN
 * connection (spec §9.1 "Routing Usage", "Routing Policy Layer"; docs/vpn.md):
 * the connection belongs to the resource's organization, its routing policy
 * names the resource's protocol among `services` and, when it lists
 * `resource_ids`, the resource; and a target given as an address lies inside
 * an allowed range and outside every denied one. A target given as a name is
 * checked by the owner when it dials (it resolves the name in its own
 * network, where the answer may differ from the control plane's).
 *
 * Pure: the control plane applies it when a resource is written and again
 * when it hands a session to an adapter (the policy may have changed since);
 * the owner still enforces the service and the ranges on every dial.
 */
import { cidrContains, parseAddress, parseCidr } from "./cidr.ts";

export interface RoutedResource {
  id: string;
  organizationId: string;
  protocol: string;
  targetHost: string;
}

export interface RoutingConnection {
  organizationId: string;
  state: string;
  routing: { allowedCidrs: string[]; deniedCidrs: string[]; services: string[]; resourceIds: string[] };
}

/** Why the route is refused (`not_found`: no such connection for this organization), or null when it is allowed. */
export type RouteRefusal = { kind: "not_found" } | { kind: "not_allowed"; reason: string };

export function vpnRouteRefusal(resource: RoutedResource, connection: RoutingConnection | undefined): RouteRefusal | null {
  if (!connection || connection.state === "deleted" || connection.organizationId !== resource.organizationId) return { kind: "not_found" };
  const { routing } = connection;
  if (!routing.services.includes(resource.protocol)) {
    return {
      kind: "not_allowed",
      reason: `the connection's routing policy does not allow ${resource.protocol} (services: ${routing.services.join(", ") || "none"})`,
    };
  }
  if (routing.resourceIds.length > 0 && !routing.resourceIds.includes(resource.id)) {
    return { kind: "not_allowed", reason: "the connection's routing policy lists the resources that may use it, and this one is not among them" };
  }
  const address = parseAddress(resource.targetHost);
  if (address) {
    const ranges = (texts: string[]) => texts.map(parseCidr).filter((c) => c !== null);
    if (!ranges(routing.allowedCidrs).some((c) => cidrContains(c, address))) {
      return { kind: "not_allowed", reason: `the target ${resource.targetHost} is outside the connection's allowed ranges` };
    }
    if (ranges(routing.deniedCidrs).some((c) => cidrContains(c, address))) {
      return { kind: "not_allowed", reason: `the target ${resource.targetHost} is inside a range the connection denies` };
    }
  }
  return null;
}
