/**
 * Peer selection, pure: hard constraints first (cluster, trust, certificate,
 * role, partition), then a score from latency, loss, reliability, region,
 * load, bandwidth, role suitability, trust and failure history, weighted for
 * the channel class the choice is for. The node keeps active, warm and cold
 * peers with role-dependent targets (normal 3-5, relay 8-20, thin 1-3).
 * Takes `now`; no IO, no control plane.
 */
import { MESH_ROLES } from "../fabric.ts";
import type { ChannelClass } from "../contracts/channel-classes.ts";

export type { ChannelClass };
export type Profile = "normal" | "relay" | "thin";

export interface PeerObservation {
  latencyMs: number | null;
  /** 0..1 */
  loss: number;
  /** 0..1, from successful vs failed exchanges over time */
  reliability: number;
  /** 0..1 */
  load: number;
  bandwidthMbps: number | null;
  /** Failures in the recent window (each costs score, decaying is the caller's job). */
  recentFailures: number;
  lastSuccessAt: number | null;
}

export interface Peer {
  nodeId: string;
  clusterId: string;
  roles: string[];
  region: string | null;
  /** Certificate validity of the peer as last verified (ms since epoch). */
  certNotAfter: number;
  revoked: boolean;
  /** A stable discovery peer: kept as cold/bootstrap even when it scores low. */
  bootstrap: boolean;
  observed: PeerObservation;
}

export interface SelfContext {
  nodeId: string;
  clusterId: string;
  region: string | null;
  profile: Profile;
  /** In a minority partition only already-trusted peers are kept; none is newly admitted. */
  minority: boolean;
  /** Peers this node was already connected to (kept through a minority partition). */
  connected: ReadonlySet<string>;
}

export type Rejection = "self" | "other_cluster" | "revoked" | "certificate_expired" | "no_mesh_role" | "partition";

const MESH = new Set<string>(MESH_ROLES);

export function hardConstraint(peer: Peer, self: SelfContext, now: number): Rejection | null {
  if (peer.nodeId === self.nodeId) return "self";
  if (peer.clusterId !== self.clusterId) return "other_cluster";
  if (peer.revoked) return "revoked";
  if (peer.certNotAfter <= now) return "certificate_expired";
  if (!peer.roles.some((r) => MESH.has(r))) return "no_mesh_role";
  if (self.minority && !self.connected.has(peer.nodeId)) return "partition";
  return null;
}

/** Weights per channel class: what matters most for that traffic. */
const WEIGHTS: Record<ChannelClass, { latency: number; loss: number; reliability: number; bandwidth: number; load: number; region: number }> = {
  fabric_control: { latency: 3, loss: 3, reliability: 3, bandwidth: 0.2, load: 1, region: 1 },
  route_control: { latency: 3, loss: 3, reliability: 3, bandwidth: 0.2, load: 1, region: 1 },
  health: { latency: 2, loss: 2, reliability: 3, bandwidth: 0.2, load: 1, region: 0.5 },
  input: { latency: 4, loss: 3, reliability: 3, bandwidth: 0.2, load: 1, region: 1 },
  clipboard: { latency: 1.5, loss: 2, reliability: 3, bandwidth: 0.3, load: 1, region: 0.5 },
  render: { latency: 2, loss: 1.5, reliability: 1.5, bandwidth: 3, load: 1.5, region: 1 },
  file_transfer: { latency: 0.5, loss: 2, reliability: 2, bandwidth: 3, load: 1.5, region: 0.5 },
  storage_fetch: { latency: 0.5, loss: 2, reliability: 2, bandwidth: 3, load: 1.5, region: 0.5 },
  update_fetch: { latency: 0.2, loss: 2, reliability: 2, bandwidth: 2, load: 2, region: 0.2 },
  vpn_packet: { latency: 1, loss: 1.5, reliability: 1.5, bandwidth: 2.5, load: 2, region: 0.5 },
  telemetry: { latency: 0.2, loss: 0.5, reliability: 1, bandwidth: 0.2, load: 2, region: 0.2 },
};

/**
 * Higher is better, roughly 0..100 per weight unit. Unknown latency and
 * bandwidth count as mediocre, not as perfect, so an untested peer does not
 * beat a proven one.
 */
export function score(peer: Peer, self: SelfContext, cls: ChannelClass): number {
  const w = WEIGHTS[cls];
  const o = peer.observed;
  const latency = o.latencyMs === null ? 0.4 : 1 / (1 + o.latencyMs / 20);
  const bandwidth = o.bandwidthMbps === null ? 0.4 : Math.min(1, o.bandwidthMbps / 1000);
  const region = self.region && peer.region ? (self.region === peer.region ? 1 : 0.3) : 0.5;
  const roleFit = peer.roles.includes("relay-node") ? 1 : 0.7;
  const failures = 0.7 ** o.recentFailures;
  const parts =
    w.latency * latency +
    w.loss * (1 - Math.min(1, o.loss * 10)) +
    w.reliability * o.reliability +
    w.bandwidth * bandwidth +
    w.load * (1 - o.load) +
    w.region * region;
  return 100 * parts * roleFit * failures;
}

export const TARGETS: Record<Profile, { min: number; target: number; max: number; warm: number }> = {
  normal: { min: 3, target: 4, max: 5, warm: 4 },
  relay: { min: 8, target: 12, max: 20, warm: 8 },
  thin: { min: 1, target: 2, max: 3, warm: 2 },
};

export interface PeerSets {
  active: string[];
  warm: string[];
  cold: string[];
  rejected: Record<string, Rejection>;
}

/**
 * Ranks valid peers for control traffic (connection choice is about staying
 * reachable): the best `target` are active, the next `warm` are warm, and
 * bootstrap peers not already chosen are cold. A currently connected peer
 * keeps its place over a newcomer unless the newcomer is clearly better
 * (20 %), so the set does not flap on noise.
 */
export function selectPeers(peers: Peer[], self: SelfContext, now: number): PeerSets {
  const rejected: Record<string, Rejection> = {};
  const valid: { peer: Peer; score: number }[] = [];
  for (const p of peers) {
    const r = hardConstraint(p, self, now);
    if (r) rejected[p.nodeId] = r;
    else valid.push({ peer: p, score: score(p, self, "fabric_control") * (self.connected.has(p.nodeId) ? 1.2 : 1) });
  }
  valid.sort((a, b) => b.score - a.score || a.peer.nodeId.localeCompare(b.peer.nodeId));
  const t = TARGETS[self.profile];
  const active = valid.slice(0, t.target).map((v) => v.peer.nodeId);
  const warm = valid.slice(t.target, t.target + t.warm).map((v) => v.peer.nodeId);
  const chosen = new Set([...active, ...warm]);
  const cold = peers.filter((p) => p.bootstrap && !chosen.has(p.nodeId) && !rejected[p.nodeId]).map((p) => p.nodeId);
  return { active, warm, cold, rejected };
}

/** Where to look when every active link is down, in the spec's order. */
export function recoveryOrder(
  sets: PeerSets,
  degradedAllowed: boolean,
): { step: "active" | "warm" | "bootstrap" | "config_service" | "last_snapshot"; peers: string[] }[] {
  const steps: { step: "active" | "warm" | "bootstrap" | "config_service" | "last_snapshot"; peers: string[] }[] = [
    { step: "active", peers: sets.active },
    { step: "warm", peers: sets.warm },
    { step: "bootstrap", peers: sets.cold },
    { step: "config_service", peers: [] },
  ];
  if (degradedAllowed) steps.push({ step: "last_snapshot", peers: [] });
  return steps;
}
