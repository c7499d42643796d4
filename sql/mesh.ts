/** Link observations between nodes of a cluster (latest per directed pair). */
import { pgArray, type Tx } from "./db.ts";

export interface LinkObservation { toNode: string; reachable: boolean; latencyMs: number | null; loss: number }

/** Records a node's observations; returns how many pairs changed reachability (those change routes). */
export async function recordLinks(tx: Tx, clusterId: string, fromNode: string, obs: LinkObservation[], now: Date): Promise<number> {
  if (obs.length === 0) return 0;
  const before = new Map(
    (await tx.query<{ to_node: string; reachable: boolean }>("select to_node::text, reachable from mesh_link_observations where from_node = $1 and to_node = any($2::uuid[])", [fromNode, pgArray(obs.map((o) => o.toNode))]))
      .map((r) => [r.to_node, r.reachable]),
  );
  await tx.query(
    `insert into mesh_link_observations (from_node, to_node, cluster_id, reachable, latency_ms, loss, observed_at)
     select $1, t.to_node, $2, t.reachable, t.latency, t.loss, $3::timestamptz
       from unnest($4::uuid[], $5::boolean[], $6::real[], $7::real[]) as t(to_node, reachable, latency, loss)
     on conflict (from_node, to_node) do update set reachable = excluded.reachable, latency_ms = excluded.latency_ms, loss = excluded.loss, observed_at = excluded.observed_at`,
    [fromNode, clusterId, now.toISOString(), pgArray(obs.map((o) => o.toNode)), pgArray(obs.map((o) => String(o.reachable))), pgArray(obs.map((o) => (o.latencyMs === null ? null : String(o.latencyMs)))), pgArray(obs.map((o) => String(o.loss)))],
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
