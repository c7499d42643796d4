/**
 * Which channel classes two mesh nodes may exchange, from their roles in the
 * signed snapshot. Both sides compute the same answer, so a hello either
 * matches or names a real policy difference.
 *
 * - every mesh pair: control, routing, health and telemetry;
 * - a relay-node carries anything for the nodes it serves;
 * - entry nodes exchange the session classes with each other;
 * - a video-relay takes only the interactive desktop classes.
 */
import { CHANNEL_CLASSES, type ChannelClassName } from "./channel.ts";

const BASE: ChannelClassName[] = ["fabric_control", "route_control", "health", "telemetry"];
const SESSION: ChannelClassName[] = ["input", "render", "clipboard", "file_transfer", "storage_fetch", "update_fetch", "vpn_packet"];
const VIDEO: ChannelClassName[] = ["input", "render", "clipboard"];

function offered(roles: readonly string[]): Set<ChannelClassName> {
  const out = new Set<ChannelClassName>();
  if (roles.includes("relay-node") || roles.includes("entry-node")) for (const c of [...BASE, ...SESSION]) out.add(c);
  if (roles.includes("video-relay")) for (const c of [...BASE, ...VIDEO]) out.add(c);
  return out;
}

/** Classes allowed between a node with `a` roles and one with `b` roles, in the spec's order. */
export function classesBetween(a: readonly string[], b: readonly string[]): ChannelClassName[] {
  const x = offered(a);
  const y = offered(b);
  return CHANNEL_CLASSES.filter((c) => x.has(c) && y.has(c));
}
