/**
 * Which channel classes two mesh nodes may exchange, from their roles in the
 * signed snapshot. Both sides compute the same answer, so a hello either
 * matches or names a real policy difference.
 *
 * - every mesh pair: control, routing, health and telemetry;
 * - a relay-node carries anything for the nodes it serves;
 * - entry nodes exchange the session classes with each other;
 * - a video-relay takes only the interactive desktop classes;
 * - an adapter node (ssh/rdp/vnc worker) takes the remote-session classes
 *   from the nodes that carry sessions (entry nodes, relays), never from
 *   another adapter: adapters do not talk sessions to each other.
 */
import { CHANNEL_CLASSES, type ChannelClassName } from "./channel.ts";

const BASE: ChannelClassName[] = ["fabric_control", "route_control", "health", "telemetry"];
const SESSION: ChannelClassName[] = ["input", "render", "clipboard", "file_transfer", "storage_fetch", "update_fetch", "vpn_packet"];
const VIDEO: ChannelClassName[] = ["input", "render", "clipboard"];
const ADAPTER: ChannelClassName[] = ["input", "render", "clipboard", "file_transfer"];
const ADAPTER_ROLES = ["ssh-worker", "rdp-worker", "vnc-worker"];
const CARRIERS = ["entry-node", "relay-node", "video-relay"];

function offered(roles: readonly string[]): Set<ChannelClassName> {
  const out = new Set<ChannelClassName>();
  if (roles.includes("relay-node") || roles.includes("entry-node")) for (const c of [...BASE, ...SESSION]) out.add(c);
  if (roles.includes("video-relay")) for (const c of [...BASE, ...VIDEO]) out.add(c);
  if (roles.some((r) => ADAPTER_ROLES.includes(r))) for (const c of [...BASE, ...ADAPTER]) out.add(c);
  return out;
}

/** Classes allowed between a node with `a` roles and one with `b` roles, in the spec's order. */
export function classesBetween(a: readonly string[], b: readonly string[]): ChannelClassName[] {
  const x = offered(a);
  const y = offered(b);
  const carries = (roles: readonly string[]) => roles.some((r) => CARRIERS.includes(r));
  // Two nodes of which neither carries sessions (adapters only) share the base classes alone.
  if (!carries(a) && !carries(b)) return BASE.filter((c) => x.has(c) && y.has(c));
  return CHANNEL_CLASSES.filter((c) => x.has(c) && y.has(c));
}
