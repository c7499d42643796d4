/**
 * Signed scoped snapshots: the configuration one node needs, built from
 * PostgreSQL, signed by its cluster authority, versioned per node (a new
 * version only when the content changes). Need-to-know by role:
 *
 * - every node: its id, roles, heartbeat interval, revocation list version;
 * - mesh roles: peers (active nodes with mesh roles) and route/QoS policy;
 * - entry roles: data-plane token validation keys and entry policy;
 * - service roles: their service configs and the resource references of the
 *   organization the role serves (no credentials, no other organization);
 * - VPN connector roles: the VPN connections the node runs or stands by for,
 *   with the lease's epoch and the routing policy (never the WireGuard secret).
 */
import type { Tx } from "../../sql/db.ts";
import type { ControlDeps } from "../deps.ts";
import { sha256Hex } from "../../core/crypto/bytes.ts";
import { ENTRY_ROLES, HEARTBEAT_INTERVAL_SECONDS, MESH_ROLES, ROLE_PROTOCOL, SERVICE_ROLES, type NodeRole } from "../../core/fabric.ts";
import { getNode, latestRevocationList } from "../../sql/nodes.ts";
import { activeAssignments, clusterAssignments, type AssignmentRow } from "../../sql/node-roles.ts";
import { listNodes } from "../../sql/nodes.ts";
import { listResources } from "../../sql/resources.ts";
import { getCluster } from "../../sql/clusters.ts";
import { insertSnapshot, latestSnapshot } from "../../sql/snapshots.ts";
import type { LoadedAuthority } from "../../actors/cluster/authority.ts";
import { meshEndpoints, reachableLinks, routeIntents, staleRelays } from "../../sql/mesh.ts";
import { findRoute } from "../../core/routing/routes.ts";
import { CLASS_POLICY } from "../../core/contracts/channel-classes.ts";
import { SNAPSHOT_TYPE, snapshotAudience, type SnapshotBody } from "../../core/contracts/snapshot.ts";
import { vpnAssignmentsOf, vpnClientAssignmentsOf } from "../vpn/node-calls.ts";

export { SNAPSHOT_TYPE, snapshotAudience, type SnapshotBody };

/** Route and QoS policy every mesh node gets: the channel classes, highest priority first. */
export const DEFAULT_QOS = { classes: [...CLASS_POLICY], max_relay_hops: 2 };

export interface SnapshotContext {
  dataPlaneKey: { kid: string; publicKeyB64: string };
  maxTokenTtlSeconds?: number;
}

/** Observations older than this no longer count as reachability. */
export const LINK_MAX_AGE_MS = 5 * 60_000;

/** Alternate paths per destination, besides the primary. */
export const ROUTE_ALTERNATES = 2;

type Hop = { from: string; to: string; latencyMs: number; loss: number; up: boolean };

async function meshLinks(tx: Tx, clusterId: string, now: Date): Promise<Hop[]> {
  return (await reachableLinks(tx, clusterId, now, LINK_MAX_AGE_MS)).map((l) => ({ from: l.from, to: l.to, latencyMs: 1, loss: 0, up: true }));
}

/**
 * Signed route path decisions: for each peer this node has not observed as
 * directly reachable, the fewest-hop path through relays over the links
 * nodes reported, and alternates that avoid the first relays already used.
 * Hop count only, so the snapshot changes when reachability does, not with
 * every latency sample.
 */
type RoutePath = { to: string; via: string[]; alternates: string[][]; pinned?: true };

/** An intent's path when every hop of it is reachable now. */
function viableIntent(hops: Hop[], self: string, peer: string, via: string[] | undefined): string[] | null {
  if (!via) return null;
  const path = [self, ...via, peer];
  return path.every((n, i) => i === 0 || hops.some((l) => l.from === path[i - 1] && l.to === n)) ? via : null;
}

function relayPaths(
  hops: Hop[],
  self: string,
  peers: string[],
  relays: string[],
  stale: Map<string, Set<string>>,
  intents: Map<string, string[]>,
): RoutePath[] {
  const direct = new Set(hops.filter((l) => l.from === self).map((l) => l.to));
  const out: RoutePath[] = [];
  for (const peer of peers) {
    if (peer === self) continue;
    // A route intent wins, even over a direct link, whenever its hops are up.
    const intended = viableIntent(hops, self, peer, intents.get(`${self}|${peer}`));
    if (intended) {
      out.push({ to: peer, via: intended, alternates: [], pinned: true });
      continue;
    }
    if (direct.has(peer)) continue;
    const paths: string[][] = [];
    const usedFirst = new Set<string>();
    // Relays this node reported as failing for this destination are left out until their mark expires,
    // unless nothing else reaches it: a suspect path beats none.
    const avoid = stale.get(`${self}|${peer}`);
    const candidates = avoid ? [new Set(relays.filter((r) => !avoid.has(r))), new Set(relays)] : [new Set(relays)];
    for (const usable of candidates) {
      while (paths.length <= ROUTE_ALTERNATES) {
        const dir = { relays: usable, links: hops.filter((l) => !(l.from === self && usedFirst.has(l.to))) };
        const route = findRoute(dir, self, peer, "fabric_control");
        if (!route || route.relays === 0) break;
        const via = route.path.slice(1, -1);
        paths.push(via);
        usedFirst.add(via[0]!);
      }
      if (paths.length) break;
    }
    if (paths.length) out.push({ to: peer, via: paths[0]!, alternates: paths.slice(1) });
  }
  return out;
}

/** Relay leases last to the end of the next full hour, so a relay's snapshot changes at most hourly for renewal. */
export function leaseExpiry(now: Date): Date {
  const hour = 3_600_000;
  return new Date(Math.floor(now.getTime() / hour) * hour + 2 * hour);
}

/**
 * Relay leases: the end-node pairs whose signed paths (primary or
 * alternate) go through this relay. The relay forwards for nobody else, and
 * for nobody once the lease expires without a newer snapshot.
 */
function relayLeases(
  hops: Hop[],
  self: string,
  meshNodes: string[],
  relays: string[],
  stale: Map<string, Set<string>>,
  intents: Map<string, string[]>,
): [string, string][] {
  const pairs = new Map<string, [string, string]>();
  for (const from of meshNodes) {
    if (from === self) continue;
    for (const p of relayPaths(hops, from, meshNodes, relays, stale, intents)) {
      if (![p.via, ...p.alternates].some((via) => via.includes(self))) continue;
      const pair: [string, string] = from < p.to ? [from, p.to] : [p.to, from];
      pairs.set(pair.join("|"), pair);
    }
  }
  return [...pairs.values()].sort((a, b) => a.join().localeCompare(b.join()));
}

export async function buildSnapshotBody(tx: Tx, nodeId: string, ctx: SnapshotContext, now: Date): Promise<{ clusterId: string; body: SnapshotBody }> {
  const node = await getNode(tx, nodeId);
  if (!node) throw new Error(`no node ${nodeId}`);
  const assignments = await activeAssignments(tx, nodeId);
  const roles = new Set(assignments.map((a) => a.role as NodeRole));
  const body: SnapshotBody = {
    node_id: nodeId,
    roles: assignments.map((a) => ({ role: a.role, organization_id: a.organizationId })),
    heartbeat_interval_seconds: HEARTBEAT_INTERVAL_SECONDS,
    revocation_list_version: (await latestRevocationList(tx, node.clusterId))?.version ?? 0,
  };
  if (MESH_ROLES.some((r) => roles.has(r))) {
    const peers = await meshPeers(tx, node.clusterId, nodeId);
    const relays = peers.filter((p) => p.roles.includes("relay-node")).map((p) => p.node_id);
    const hops = await meshLinks(tx, node.clusterId, now);
    const stale = await staleRelays(tx, node.clusterId, now);
    const intents = new Map((await routeIntents(tx, node.clusterId)).map((i) => [`${i.fromNode}|${i.toNode}`, i.via]));
    const peerIds = peers.map((p) => p.node_id);
    body.mesh = { peers, qos: DEFAULT_QOS, relays, route_paths: relayPaths(hops, nodeId, peerIds, relays, stale, intents) };
    if (roles.has("relay-node")) {
      body.mesh.relay_leases = {
        pairs: relayLeases(hops, nodeId, [nodeId, ...peerIds], [nodeId, ...relays], stale, intents),
        expires_at: leaseExpiry(now).toISOString(),
      };
    }
  }
  if (ENTRY_ROLES.some((r) => roles.has(r))) {
    body.entry = {
      token_validation_keys: [{ kid: ctx.dataPlaneKey.kid, alg: "EdDSA", public_key: ctx.dataPlaneKey.publicKeyB64 }],
      policy: { max_token_ttl_seconds: ctx.maxTokenTtlSeconds ?? 60 },
    };
  }
  const services = assignments.filter((a) => SERVICE_ROLES.includes(a.role as NodeRole));
  if (services.length) body.services = await Promise.all(services.map((a) => serviceConfig(tx, a)));
  if (roles.has("vpn-connector")) {
    const vpn = await vpnAssignmentsOf(tx, nodeId);
    if (vpn.length) body.vpn = vpn;
  }
  if (roles.has("vpn-client")) {
    const vpn = await vpnClientAssignmentsOf(tx, assignments);
    if (vpn.length) body.vpn_client = vpn;
  }
  return { clusterId: node.clusterId, body };
}

async function meshPeers(tx: Tx, clusterId: string, self: string) {
  const addresses = await meshEndpoints(tx, clusterId);
  const meshRoles = new Map<string, string[]>();
  for (const a of await clusterAssignments(tx, clusterId)) {
    if (a.nodeId === self || !MESH_ROLES.includes(a.role as NodeRole)) continue;
    meshRoles.set(a.nodeId, [...(meshRoles.get(a.nodeId) ?? []), a.role]);
  }
  const peers = [];
  for (const n of await listNodes(tx, { clusterId, status: "active", limit: 10_000 })) {
    const r = meshRoles.get(n.id);
    const address = addresses.get(n.id);
    if (r) peers.push({ node_id: n.id, name: n.name, roles: r, endpoints: address ? [{ transport: "quic" as const, address }] : [] });
  }
  return peers;
}

async function serviceConfig(tx: Tx, a: AssignmentRow) {
  const protocol = ROLE_PROTOCOL[a.role as NodeRole];
  const pool = typeof a.policy.egress_pool === "string" ? a.policy.egress_pool : null;
  const resources = a.organizationId && protocol ? await listResources(tx, { orgIds: [a.organizationId], limit: 10_000 }) : [];
  return {
    role: a.role,
    organization_id: a.organizationId,
    desired_state: "running" as const,
    egress_pool: pool,
    resources: resources
      .filter((r) => r.protocol === protocol && (pool === null || r.egressPool === pool))
      .map((r) => ({ id: r.id, protocol: r.protocol, target_host: r.targetHost, target_port: r.targetPort, egress_pool: r.egressPool })),
  };
}

/** The node's current signed snapshot: the stored one when nothing changed, a new signed version otherwise. */
export async function currentSnapshot(
  tx: Tx,
  authorityOf: (clusterId: string) => Promise<LoadedAuthority>,
  nodeId: string,
  ctx: SnapshotContext,
  now: Date,
): Promise<{ version: number; jws: string }> {
  const { clusterId, body } = await buildSnapshotBody(tx, nodeId, ctx, now);
  const hash = await sha256Hex(JSON.stringify(body));
  const latest = await latestSnapshot(tx, nodeId);
  if (latest?.contentHash === hash) return { version: latest.version, jws: latest.jws };
  const version = (latest?.version ?? 0) + 1;
  const cluster = await getCluster(tx, clusterId);
  const jws = await (await authorityOf(clusterId)).sign(SNAPSHOT_TYPE, snapshotAudience(nodeId), { version, term: cluster?.authorityTerm ?? 1, ...body }, now);
  if (await insertSnapshot(tx, nodeId, version, hash, jws)) return { version, jws };
  // Another replica wrote this version meanwhile; theirs is as good as ours.
  const again = await latestSnapshot(tx, nodeId);
  return { version: again!.version, jws: again!.jws };
}

/** A node's current signed snapshot (a new version only when its content changed). */
export const nodeSnapshot = (deps: Pick<ControlDeps, "identity" | "fabric">, tx: Tx, nodeId: string, now: Date) =>
  currentSnapshot(
    tx,
    (clusterId) => deps.fabric.authorities.load(tx, clusterId),
    nodeId,
    { dataPlaneKey: deps.identity.dataPlaneKey, maxTokenTtlSeconds: deps.identity.dataPlaneTokenTtlSeconds },
    now,
  );
