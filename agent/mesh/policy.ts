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
 *   another adapter: adapters do not talk sessions to each other;
 * - a vpn-client and a vpn-connector exchange `vpn_packet` (the connector
 *   ends the tunnel at the egress), and so does either with a relay;
 *   two clients, or two connectors, never do;
 * - an adapter node and a vpn-connector exchange `vpn_packet` too: the
 *   adapter's dial streams (sessions whose resource routes through a VPN
 *   connection, crates/fabric-quic/src/vpn_dial.rs) go to the owner as
 *   `vpn_packet` session streams; nothing else moves between them.
 */
import { CHANNEL_CLASSES, type ChannelClassName } from "./channel.ts";

const BASE: ChannelClassName[] = ["fabric_control", "route_control", "health", "telemetry"];
const SESSION: ChannelClassName[] = ["input", "render", "clipboard", "file_transfer", "storage_fetch", "update_fetch", "vpn_packet"];
const VIDEO: ChannelClassName[] = ["input", "render", "clipboard"];
const ADAPTER: ChannelClassName[] = ["input", "render", "clipboard", "file_transfer"];
const ADAPTER_ROLES = ["ssh-worker", "rdp-worker", "vnc-worker"];
const CARRIERS = ["entry-node", "relay-node", "video-relay"];
const VPN_CLIENT = "vpn-client";
const VPN_CONNECTOR = "vpn-connector";

function offered(roles: readonly string[]): Set<ChannelClassName> {
  const out = new Set<ChannelClassName>();
  if (roles.includes("relay-node") || roles.includes("entry-node")) for (const c of [...BASE, ...SESSION]) out.add(c);
  if (roles.includes("video-relay")) for (const c of [...BASE, ...VIDEO]) out.add(c);
  if (roles.some((r) => ADAPTER_ROLES.includes(r))) for (const c of [...BASE, ...ADAPTER]) out.add(c);
  if (roles.includes(VPN_CLIENT) || roles.includes(VPN_CONNECTOR)) for (const c of [...BASE, "vpn_packet" as const]) out.add(c);
  return out;
}

/** Classes allowed between a node with `a` roles and one with `b` roles, in the spec's order. */
export function classesBetween(a: readonly string[], b: readonly string[]): ChannelClassName[] {
  const x = offered(a);
  const y = offered(b);
  const carries = (roles: readonly string[]) => roles.some((r) => CARRIERS.includes(r));
  // VPN packets go between a client and a connector (one end of the tunnel each), never client to client.
  const vpnPair = (x: readonly string[], y: readonly string[]) => x.includes(VPN_CLIENT) && y.includes(VPN_CONNECTOR);
  if (!carries(a) && !carries(b) && (vpnPair(a, b) || vpnPair(b, a))) {
    return CHANNEL_CLASSES.filter((c) => (BASE.includes(c) || c === "vpn_packet") && x.has(c) && y.has(c));
  }
  // An adapter dials its VPN-routed targets through the connection's owner (vpn_packet dial streams).
  const dialPair = (x: readonly string[], y: readonly string[]) => x.some((r) => ADAPTER_ROLES.includes(r)) && y.includes(VPN_CONNECTOR);
  if (!carries(a) && !carries(b) && (dialPair(a, b) || dialPair(b, a))) {
    return CHANNEL_CLASSES.filter((c) => (BASE.includes(c) && x.has(c) && y.has(c)) || c === "vpn_packet");
  }
  // Two nodes of which neither carries sessions (adapters only) share the base classes alone.
  if (!carries(a) && !carries(b)) return BASE.filter((c) => x.has(c) && y.has(c));
  return CHANNEL_CLASSES.filter((c) => x.has(c) && y.has(c));
}
