/** Link observations between nodes of a cluster (latest per directed pair). */
import { one, pgArray, type Tx } from "./db.ts";

export interface LinkObservation {
  toNode: string;
  reachable: boolean;
  latencyMs: number | null;
  loss: number;
}

/** Records a node's observations; returns how many pairs changed reachability (those change routes). */
export async function recordLinks(tx: Tx, clusterId: string, fromNode: string, obs: LinkObservation[], now: Date): Promise<number> {
  if (obs.length === 0) return 0;
  const before = new Map(
    (
      await tx.query<{ to_node: string; reachable: boolean }>(
        "select to_node::text, reachable from mesh_link_observations where from_node = $1 and to_node = any($2::uuid[])",
        [fromNode, pgArray(obs.map((o) => o.toNode))],
      )
    ).map((r) => [r.to_node, r.reachable]),
  );
  await tx.query(
    `insert into mesh_link_observations (from_node, to_node, cluster_id, reachable, latency_ms, loss, observed_at)
     select $1, t.to_node, $2, t.reachable, t.latency, t.loss, $3::timestamptz
       from unnest($4::uuid[], $5::boolean[], $6::real[], $7::real[]) as t(to_node, reachable, latency, loss)
     on conflict (from_node, to_node) do update set reachable = excluded.reachable, latency_ms = excluded.latency_ms, loss = excluded.loss, observed_at = excluded.observed_at`,
    [
      fromNode,
      clusterId,
      now.toISOString(),
      pgArray(obs.map((o) => o.toNode)),
      pgArray(obs.map((o) => String(o.reachable))),
      pgArray(obs.map((o) => (o.latencyMs === null ? null : String(o.latencyMs)))),
      pgArray(obs.map((o) => String(o.loss))),
    ],
  );
  return obs.filter((o) => before.get(o.toNode) !== o.reachable).length;
}

/** Pairs observed reachable within `maxAgeMs`. */
export async function reachableLinks(tx: Tx, clusterId: string, now: Date, maxAgeMs: number): Promise<{ from: string; to: string }[]> {
  const rows = await tx.query<{ from_node: string; to_node: string }>(
    "select from_node::text, to_node::text from mesh_link_observations where cluster_id = $1 and reachable and observed_at >= $2::timestamptz",
    [clusterId, new Date(now.getTime() - maxAgeMs).toISOString()],
  );
  return rows.map((r) => ({ from: r.from_node, to: r.to_node }));
}

/** Records where a node's mesh endpoint listens; true when it changed. */
export async function advertiseEndpoint(tx: Tx, clusterId: string, nodeId: string, address: string, now: Date): Promise<boolean> {
  const rows = await tx.query<{ changed: boolean }>(
    `insert into mesh_endpoints (node_id, cluster_id, address, updated_at) values ($1, $2, $3, $4::timestamptz)
     on conflict (node_id) do update set address = excluded.address, cluster_id = excluded.cluster_id, updated_at = excluded.updated_at
       where mesh_endpoints.address is distinct from excluded.address or mesh_endpoints.cluster_id is distinct from excluded.cluster_id
     returning true as changed`,
    [nodeId, clusterId, address, now.toISOString()],
  );
  return rows.length > 0;
}

/** Advertised mesh addresses of a cluster's nodes, by node id. */
export async function meshEndpoints(tx: Tx, clusterId: string): Promise<Map<string, string>> {
  const rows = await tx.query<{ node_id: string; address: string }>("select node_id::text, address from mesh_endpoints where cluster_id = $1", [clusterId]);
  return new Map(rows.map((r) => [r.node_id, r.address]));
}

/** Marks `relays` stale for traffic from → to until `until` (unhealthy), or clears them (healthy); true when anything changed. */
export async function recordRouteHealth(
  tx: Tx,
  clusterId: string,
  from: string,
  to: string,
  relays: string[],
  healthy: boolean,
  until: Date,
): Promise<boolean> {
  if (healthy) {
    const rows = await tx.query("delete from mesh_route_feedback where from_node = $1 and to_node = $2 and relay = any($3::uuid[]) returning relay", [
      from,
      to,
      pgArray(relays),
    ]);
    return rows.length > 0;
  }
  const rows = await tx.query(
    `insert into mesh_route_feedback (from_node, to_node, relay, cluster_id, stale_until)
     select $1, $2, r, $3, $4::timestamptz from unnest($5::uuid[]) as r
     on conflict (from_node, to_node, relay) do update set stale_until = excluded.stale_until
     returning relay`,
    [from, to, clusterId, until.toISOString(), pgArray(relays)],
  );
  return rows.length > 0;
}

/** Relays currently stale per "from|to" pair of a cluster. */
export async function staleRelays(tx: Tx, clusterId: string, now: Date): Promise<Map<string, Set<string>>> {
  const rows = await tx.query<{ from_node: string; to_node: string; relay: string }>(
    "select from_node::text, to_node::text, relay::text from mesh_route_feedback where cluster_id = $1 and stale_until > $2::timestamptz",
    [clusterId, now.toISOString()],
  );
  const out = new Map<string, Set<string>>();
  for (const r of rows) {
    const key = `${r.from_node}|${r.to_node}`;
    out.set(key, (out.get(key) ?? new Set()).add(r.relay));
  }
  return out;
}

export interface RouteIntentRow {
  id: string;
  clusterId: string;
  fromNode: string;
  toNode: string;
  via: string[];
  reason: string;
  createdBy: string | null;
  createdAt: Date;
}

/** Inserts an intent; false when that pair already has one. */
export async function insertRouteIntent(tx: Tx, r: Omit<RouteIntentRow, "createdAt">, now: Date): Promise<boolean> {
  const rows = await tx.query(
    `insert into mesh_route_intents (id, cluster_id, from_node, to_node, via, reason, created_by, created_at)
     values ($1, $2, $3, $4, $5::uuid[], $6, $7, $8::timestamptz) on conflict (from_node, to_node) do nothing returning id`,
    [r.id, r.clusterId, r.fromNode, r.toNode, pgArray(r.via), r.reason, r.createdBy, now.toISOString()],
  );
  return rows.length > 0;
}

export async function routeIntents(tx: Tx, clusterId: string): Promise<RouteIntentRow[]> {
  const rows = await tx.query<{
    id: string;
    from_node: string;
    to_node: string;
    via: string[];
    reason: string;
    created_by: string | null;
    created_at: Date | string;
  }>(
    "select id::text, from_node::text, to_node::text, via::text[] as via, reason, created_by::text, created_at from mesh_route_intents where cluster_id = $1 order by created_at, id",
    [clusterId],
  );
  return rows.map((r) => ({
    id: r.id,
    clusterId,
    fromNode: r.from_node,
    toNode: r.to_node,
    via: r.via,
    reason: r.reason,
    createdBy: r.created_by,
    createdAt: new Date(r.created_at),
  }));
}

/** Deletes an intent; what it said, or undefined when there was none. */
export async function deleteRouteIntent(tx: Tx, clusterId: string, id: string): Promise<Pick<RouteIntentRow, "fromNode" | "toNode" | "via"> | undefined> {
  const r = await one<{ from_node: string; to_node: string; via: string[] }>(
    tx,
    "delete from mesh_route_intents where cluster_id = $1 and id = $2 returning from_node::text, to_node::text, via::text[] as via",
    [clusterId, id],
  );
  return r && { fromNode: r.from_node, toNode: r.to_node, via: r.via };
}

/** Records where an entry node takes client connections; true when it changed. */
export async function publishEntryEndpoint(
  tx: Tx,
  clusterId: string,
  nodeId: string,
  e: { urls: string[]; certificateHashes: string[] },
  now: Date,
): Promise<boolean> {
  const rows = await tx.query<{ changed: boolean }>(
    `insert into entry_endpoints (node_id, cluster_id, urls, certificate_hashes, updated_at) values ($1, $2, $3::text[], $4::text[], $5::timestamptz)
     on conflict (node_id) do update set cluster_id = excluded.cluster_id, urls = excluded.urls, certificate_hashes = excluded.certificate_hashes,
       updated_at = excluded.updated_at
       where entry_endpoints.urls is distinct from excluded.urls or entry_endpoints.certificate_hashes is distinct from excluded.certificate_hashes
         or entry_endpoints.cluster_id is distinct from excluded.cluster_id
     returning true as changed`,
    [nodeId, clusterId, pgArray(e.urls), pgArray(e.certificateHashes), now.toISOString()],
  );
  return rows.length > 0;
}

/** The published endpoints of `nodeIds`, in that order (nodes that published none are left out). */
export async function entryEndpoints(tx: Tx, nodeIds: string[]): Promise<{ nodeId: string; urls: string[]; certificateHashes: string[] }[]> {
  if (!nodeIds.length) return [];
  const rows = await tx.query<{ node_id: string; urls: string[]; certificate_hashes: string[] }>(
    "select node_id::text, urls, certificate_hashes from entry_endpoints where node_id = any($1::uuid[])",
    [pgArray(nodeIds)],
  );
  const byId = new Map(rows.map((r) => [r.node_id, r]));
  return nodeIds.flatMap((id) => {
    const r = byId.get(id);
    return r ? [{ nodeId: id, urls: r.urls, certificateHashes: r.certificate_hashes }] : [];
  });
}

/** Every URL entry nodes published (the access portal's page may connect to these origins only). */
export async function publishedEntryUrls(tx: Tx): Promise<string[]> {
  const rows = await tx.query<{ url: string }>("select distinct unnest(urls) as url from entry_endpoints order by 1");
  return rows.map((r) => r.url);
}
