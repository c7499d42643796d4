/**
 * Heartbeat writes, the control plane's hottest path. `writeHeartbeatBatch`
 * writes a whole batch in three multi-row statements (latest state, the
 * bounded history ring, and the nodes' liveness timers); `writeHeartbeatNaive`
 * is the one-heartbeat-per-transaction baseline the benchmark compares
 * against, with the very same statements and semantics.
 */
import { pgArray, type Tx } from "./db.ts";
import { storableText, unstorablePath } from "./storable.ts";
import { LIVENESS_TIMER, STALE_AFTER_MS } from "../core/fabric.ts";

export interface Heartbeat {
  nodeId: string;
  clusterId: string;
  receivedAt: Date;
  seq: number;
  agentVersion: string | null;
  telemetry: Record<string, unknown>;
}

/**
 * The field of `h` the store cannot hold (a NUL or an unpaired surrogate in
 * the agent version or anywhere in the telemetry), or undefined. Checked
 * before a heartbeat joins a batch: one such row fails the whole statement.
 */
export function unstorableHeartbeatField(h: Heartbeat): string | undefined {
  if (h.agentVersion !== null && !storableText(h.agentVersion)) return "agent_version";
  const bad = unstorablePath(h.telemetry);
  return bad === undefined ? undefined : bad ? `telemetry.${bad}` : "telemetry";
}

/**
 * 24 five-minute slots: two hours of history per node. A slot is written by
 * the first heartbeat that lands in it on each lap of the ring; later
 * heartbeats in the same slot leave it alone, so history costs one write per
 * node per five minutes, not one per heartbeat.
 */
const HISTORY_SLOT_MS = 5 * 60_000;
const HISTORY_SLOTS = 24;
/** The slot on the absolute timeline (which lap of the ring, too). */
export const historyBucket = (at: Date) => Math.floor(at.getTime() / HISTORY_SLOT_MS);
export const historySlot = (at: Date) => historyBucket(at) % HISTORY_SLOTS;

const STALE_EVENT = JSON.stringify({ type: "node.health", health: "stale" });
/** A liveness timer still due further ahead than this is not pushed again. */
export const TIMER_SLACK_SECONDS = 30;

/**
 * Writes a batch (at most one heartbeat per node: the caller keeps the
 * newest). `skip` names nodes whose history slot or liveness timer the caller
 * knows to be current already, so those rows are not touched at all (the
 * statements' own conditions would leave them unchanged, but still lock
 * them). Returns the nodes whose health was not healthy.
 */
export async function writeHeartbeatBatch(
  tx: Tx,
  batch: Heartbeat[],
  skip?: { history: Set<string>; timer: Set<string> },
): Promise<{ nodeId: string; health: string }[]> {
  if (batch.length === 0) return [];
  const ids = batch.map((h) => h.nodeId);
  const at = batch.map((h) => h.receivedAt.toISOString());
  const telemetry = batch.map((h) => JSON.stringify(h.telemetry));
  const historyIndex = batch.flatMap((h, i) => (skip?.history.has(h.nodeId) ? [] : [i]));
  const timers = skip ? batch.filter((h) => !skip.timer.has(h.nodeId)) : batch;
  await tx.query(
    `insert into node_heartbeats_latest (node_id, cluster_id, received_at, seq, agent_version, telemetry)
     select * from unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::bigint[], $5::text[], $6::jsonb[])
     on conflict (node_id) do update set received_at = excluded.received_at, seq = excluded.seq, agent_version = excluded.agent_version, telemetry = excluded.telemetry
       where node_heartbeats_latest.seq < excluded.seq or node_heartbeats_latest.received_at < excluded.received_at`,
    [
      pgArray(ids),
      pgArray(batch.map((h) => h.clusterId)),
      pgArray(at),
      pgArray(batch.map((h) => String(h.seq))),
      pgArray(batch.map((h) => h.agentVersion)),
      pgArray(telemetry),
    ],
  );
  if (historyIndex.length) {
    await tx.query(
      `insert into node_heartbeat_history (node_id, slot, received_at, telemetry)
       select * from unnest($1::uuid[], $2::smallint[], $3::timestamptz[], $4::jsonb[])
       on conflict (node_id, slot) do update set received_at = excluded.received_at, telemetry = excluded.telemetry
         where node_heartbeat_history.received_at < excluded.received_at - interval '1 hour'`,
      [
        pgArray(historyIndex.map((i) => ids[i]!)),
        pgArray(historyIndex.map((i) => String(historySlot(batch[i]!.receivedAt)))),
        pgArray(historyIndex.map((i) => at[i]!)),
        pgArray(historyIndex.map((i) => telemetry[i]!)),
      ],
    );
  }
  // Push each node's liveness timer forward; a node that stops beating is then found by the scheduler.
  // A timer still due more than the slack ahead is left alone: that halves the writes, and a silent
  // node is still found between STALE_AFTER_MS - slack and STALE_AFTER_MS after its last beat.
  if (timers.length) {
    await tx.query(
      `insert into actor_timers (kind, actor_id, name, event, due_at)
       select 'node', id, $2, $3::jsonb, due from unnest($1::text[], $4::timestamptz[]) as t(id, due)
       on conflict (kind, actor_id, name) do update set due_at = excluded.due_at, event = excluded.event, attempts = 0, last_error = null
         where actor_timers.due_at < excluded.due_at - $5::interval or actor_timers.event <> excluded.event`,
      [
        pgArray(timers.map((h) => h.nodeId)),
        LIVENESS_TIMER,
        STALE_EVENT,
        pgArray(timers.map((h) => new Date(h.receivedAt.getTime() + STALE_AFTER_MS).toISOString())),
        `${TIMER_SLACK_SECONDS} seconds`,
      ],
    );
  }
  return tx.query<{ nodeId: string; health: string }>(`select id::text as "nodeId", health from nodes where id = any($1::uuid[]) and health <> 'healthy'`, [
    pgArray(ids),
  ]);
}

/** The baseline: one statement per heartbeat, each in its own transaction by the caller. */
export async function writeHeartbeatNaive(tx: Tx, h: Heartbeat): Promise<void> {
  await tx.query(
    `insert into node_heartbeats_latest (node_id, cluster_id, received_at, seq, agent_version, telemetry) values ($1, $2, $3::timestamptz, $4, $5, $6::jsonb)
     on conflict (node_id) do update set received_at = excluded.received_at, seq = excluded.seq, agent_version = excluded.agent_version, telemetry = excluded.telemetry`,
    [h.nodeId, h.clusterId, h.receivedAt.toISOString(), h.seq, h.agentVersion, JSON.stringify(h.telemetry)],
  );
  await tx.query(
    `insert into node_heartbeat_history (node_id, slot, received_at, telemetry) values ($1, $2, $3::timestamptz, $4::jsonb)
     on conflict (node_id, slot) do update set received_at = excluded.received_at, telemetry = excluded.telemetry
       where node_heartbeat_history.received_at < excluded.received_at - interval '1 hour'`,
    [h.nodeId, historySlot(h.receivedAt), h.receivedAt.toISOString(), JSON.stringify(h.telemetry)],
  );
  await tx.query(
    `insert into actor_timers (kind, actor_id, name, event, due_at) values ('node', $1, $2, $3::jsonb, $4::timestamptz)
     on conflict (kind, actor_id, name) do update set due_at = excluded.due_at, event = excluded.event, attempts = 0, last_error = null
       where actor_timers.due_at < excluded.due_at - $5::interval or actor_timers.event <> excluded.event`,
    [h.nodeId, LIVENESS_TIMER, STALE_EVENT, new Date(h.receivedAt.getTime() + STALE_AFTER_MS).toISOString(), `${TIMER_SLACK_SECONDS} seconds`],
  );
}

export async function latestHeartbeat(
  tx: Tx,
  nodeId: string,
): Promise<{ receivedAt: string; seq: number; agentVersion: string | null; telemetry: Record<string, unknown> } | undefined> {
  const rows = await tx.query<{ received_at: Date; seq: number; agent_version: string | null; telemetry: Record<string, unknown> }>(
    "select received_at, seq, agent_version, telemetry from node_heartbeats_latest where node_id = $1",
    [nodeId],
  );
  const r = rows[0];
  return r && { receivedAt: new Date(r.received_at).toISOString(), seq: r.seq, agentVersion: r.agent_version, telemetry: r.telemetry };
}

export async function heartbeatHistory(tx: Tx, nodeId: string): Promise<{ receivedAt: string; telemetry: Record<string, unknown> }[]> {
  const rows = await tx.query<{ received_at: Date; telemetry: Record<string, unknown> }>(
    "select received_at, telemetry from node_heartbeat_history where node_id = $1 order by received_at desc",
    [nodeId],
  );
  return rows.map((r) => ({ receivedAt: new Date(r.received_at).toISOString(), telemetry: r.telemetry }));
}
