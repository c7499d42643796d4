/**
 * Routes over the scoped peer directory, pure. A route is the cheapest path
 * from this node to a destination through at most `maxRelays` relay nodes,
 * costed for the channel class (latency and loss for interactive classes,
 * fewer hops for bulk ones). Routes are cached per destination and class
 * until the route epoch changes, a link on them fails, or they age out.
 * Shortcuts (a direct link replacing a multi-hop route) are created only when
 * every condition of the spec holds, and are reversible.
 */
import type { ChannelClass } from "./peers.ts";

export interface Link {
  from: string;
  to: string;
  latencyMs: number;
  loss: number;
  up: boolean;
}

export interface Directory {
  /** Nodes allowed to forward traffic for others (assigned relay-node). */
  relays: ReadonlySet<string>;
  links: Link[];
}

export interface Route {
  path: string[];
  latencyMs: number;
  loss: number;
  relays: number;
}

const INTERACTIVE: ReadonlySet<ChannelClass> = new Set(["fabric_control", "route_control", "health", "input", "clipboard"]);

function linkCost(l: Link, cls: ChannelClass): number {
  // Interactive traffic pays heavily for loss (retransmits are latency); bulk pays a fixed cost per hop.
  return INTERACTIVE.has(cls) ? l.latencyMs * (1 + l.loss * 20) : l.latencyMs * (1 + l.loss * 5) + 5;
}

/** Dijkstra bounded by hop count; intermediate nodes must be relays. Null when unreachable. */
export function findRoute(dir: Directory, from: string, to: string, cls: ChannelClass, maxRelays = 2): Route | null {
  if (from === to) return { path: [from], latencyMs: 0, loss: 0, relays: 0 };
  const out = new Map<string, Link[]>();
  for (const l of dir.links) if (l.up) out.set(l.from, [...(out.get(l.from) ?? []), l]);
  type State = { node: string; cost: number; path: string[]; latency: number; delivery: number };
  const best = new Map<string, number>();
  const queue: State[] = [{ node: from, cost: 0, path: [from], latency: 0, delivery: 1 }];
  while (queue.length) {
    queue.sort((a, b) => a.cost - b.cost || a.path.length - b.path.length);
    const s = queue.shift()!;
    if (s.node === to) return { path: s.path, latencyMs: s.latency, loss: 1 - s.delivery, relays: s.path.length - 2 };
    const key = `${s.node}|${s.path.length}`;
    if ((best.get(key) ?? Infinity) <= s.cost) continue;
    best.set(key, s.cost);
    for (const l of out.get(s.node) ?? []) {
      if (s.path.includes(l.to)) continue;
      const relaysSoFar = s.path.length - 1;
      if (l.to !== to && (!dir.relays.has(l.to) || relaysSoFar >= maxRelays)) continue;
      queue.push({
        node: l.to,
        cost: s.cost + linkCost(l, cls),
        path: [...s.path, l.to],
        latency: s.latency + l.latencyMs,
        delivery: s.delivery * (1 - l.loss),
      });
    }
  }
  return null;
}

interface Cached {
  route: Route;
  epoch: number;
  expiresAt: number;
}

export class RouteCache {
  private readonly entries = new Map<string, Cached>();
  constructor(private readonly ttlMs = 60_000) {}

  get(destination: string, cls: ChannelClass, epoch: number, now: number): Route | undefined {
    const c = this.entries.get(`${destination}|${cls}`);
    if (!c || c.epoch !== epoch || c.expiresAt <= now) return undefined;
    return c.route;
  }

  put(destination: string, cls: ChannelClass, route: Route, epoch: number, now: number): void {
    this.entries.set(`${destination}|${cls}`, { route, epoch, expiresAt: now + this.ttlMs });
  }

  /** Drops every cached route that uses the link `a → b` (either direction). */
  linkFailed(a: string, b: string): number {
    let dropped = 0;
    for (const [k, c] of this.entries) {
      const p = c.route.path;
      if (p.some((n, i) => i > 0 && ((p[i - 1] === a && n === b) || (p[i - 1] === b && n === a)))) {
        this.entries.delete(k);
        dropped++;
      }
    }
    return dropped;
  }
}

export interface ShortcutInput {
  route: Route;
  /** A direct link's measured quality, if one could be probed. */
  direct: { latencyMs: number; loss: number } | null;
  flowAgeMs: number;
  policy: { allowShortcut: boolean; allowDirectPeer: boolean };
  peerTrusted: boolean;
}

export type ShortcutBlocker =
  | "not_multi_hop"
  | "flow_too_young"
  | "route_latency_low"
  | "direct_unreachable"
  | "no_improvement"
  | "policy_forbids_shortcut"
  | "policy_forbids_direct_peer"
  | "peer_not_trusted";

export const SHORTCUT_MIN_FLOW_MS = 60_000;
export const SHORTCUT_MIN_ROUTE_LATENCY_MS = 20;
/** A shortcut must cut latency by at least this fraction, or cut loss. */
export const SHORTCUT_MIN_GAIN = 0.2;

export interface ShortcutThresholds {
  minFlowMs: number;
  minRouteLatencyMs: number;
  minGain: number;
}
export const SHORTCUT_DEFAULTS: ShortcutThresholds = {
  minFlowMs: SHORTCUT_MIN_FLOW_MS,
  minRouteLatencyMs: SHORTCUT_MIN_ROUTE_LATENCY_MS,
  minGain: SHORTCUT_MIN_GAIN,
};

/** Every condition, with the ones that fail; a shortcut is made only when none does. */
export function shortcutBlockers(i: ShortcutInput, t: ShortcutThresholds = SHORTCUT_DEFAULTS): ShortcutBlocker[] {
  const b: ShortcutBlocker[] = [];
  if (i.route.relays === 0) b.push("not_multi_hop");
  if (i.flowAgeMs < t.minFlowMs) b.push("flow_too_young");
  if (i.route.latencyMs < t.minRouteLatencyMs) b.push("route_latency_low");
  if (!i.direct) b.push("direct_unreachable");
  else if (i.direct.latencyMs > i.route.latencyMs * (1 - t.minGain) && i.direct.loss >= i.route.loss) b.push("no_improvement");
  if (!i.policy.allowShortcut) b.push("policy_forbids_shortcut");
  if (!i.policy.allowDirectPeer) b.push("policy_forbids_direct_peer");
  if (!i.peerTrusted) b.push("peer_not_trusted");
  return b;
}

/** The path in use: the shortcut while it is healthy, the prior known-good route when it fails. */
export function activePath(prior: Route, shortcut: { path: string[]; healthy: boolean } | null): string[] {
  return shortcut?.healthy ? shortcut.path : prior.path;
}
