/**
 * Rows of the actor host: snapshots (`actors`), the journal and durable
 * timers. Every function takes the transaction first so the host composes
 * one transition as one commit.
 */
import { one, type Tx } from "./db.ts";
import type { ChangeContext } from "../core/change.ts";

export interface ActorRow {
  kind: string;
  id: string;
  machineVersion: number;
  version: number;
  state: string;
  snapshot: unknown;
}

/** Locks the actor row for the rest of the transaction; undefined when absent. */
export function lockActor(tx: Tx, kind: string, id: string): Promise<ActorRow | undefined> {
  return readActor(tx, kind, id, true);
}

/**
 * Creates the row at version 0 if nobody has, then locks it. Two creators race
 * on the primary key: the loser waits for the winner's commit and then sees
 * and locks its row. A rolled-back transaction leaves no row behind.
 */
export async function lockOrInsertActor(tx: Tx, row: Omit<ActorRow, "version">): Promise<ActorRow> {
  await tx.query(
    `insert into actors (kind, id, machine_version, version, state, snapshot)
     values ($1, $2, $3, 0, $4, $5::jsonb) on conflict (kind, id) do nothing`,
    [row.kind, row.id, row.machineVersion, row.state, JSON.stringify(row.snapshot)],
  );
  const locked = await lockActor(tx, row.kind, row.id);
  if (!locked) throw new Error(`actor row ${row.kind}/${row.id} vanished after insert`);
  return locked;
}

export async function readActor(tx: Tx, kind: string, id: string, lock = false): Promise<ActorRow | undefined> {
  const r = await one<{ machine_version: number; version: number; state: string; snapshot: unknown }>(
    tx,
    `select machine_version, version, state, snapshot from actors where kind = $1 and id = $2${lock ? " for update" : ""}`,
    [kind, id],
  );
  return r && { kind, id, machineVersion: r.machine_version, version: r.version, state: r.state, snapshot: r.snapshot };
}

/** Writes the next snapshot; `expectedVersion` guards against a write without the lock. */
export async function saveSnapshot(tx: Tx, row: ActorRow, expectedVersion: number): Promise<void> {
  const updated = await tx.query(
    `update actors set version = $3, state = $4, snapshot = $5::jsonb, machine_version = $6, updated_at = now()
     where kind = $1 and id = $2 and version = $7 returning version`,
    [row.kind, row.id, row.version, row.state, JSON.stringify(row.snapshot), row.machineVersion, expectedVersion],
  );
  if (updated.length !== 1) throw new Error(`actor ${row.kind}/${row.id} was not at version ${expectedVersion}`);
}

export interface JournalEntry {
  kind: string;
  actorId: string;
  version: number;
  event: { type: string };
  change: ChangeContext;
  stateBefore: string;
  stateAfter: string;
}

export async function appendJournal(tx: Tx, e: JournalEntry): Promise<void> {
  await tx.query(
    `insert into actor_journal (kind, actor_id, version, event_type, event, author_type, author_id, source, trace_id, state_before, state_after)
     values ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11)`,
    [
      e.kind,
      e.actorId,
      e.version,
      e.event.type,
      JSON.stringify(e.event),
      e.change.author.type,
      e.change.author.id,
      e.change.source.type,
      e.change.traceId,
      e.stateBefore,
      e.stateAfter,
    ],
  );
}

export interface JournalRow {
  version: number;
  eventType: string;
  stateBefore: string;
  stateAfter: string;
  authorId: string;
  traceId: string;
}

export async function readJournal(tx: Tx, kind: string, actorId: string): Promise<JournalRow[]> {
  const rows = await tx.query<{ version: number; event_type: string; state_before: string; state_after: string; author_id: string; trace_id: string }>(
    "select version, event_type, state_before, state_after, author_id, trace_id from actor_journal where kind = $1 and actor_id = $2 order by version",
    [kind, actorId],
  );
  return rows.map((r) => ({
    version: r.version,
    eventType: r.event_type,
    stateBefore: r.state_before,
    stateAfter: r.state_after,
    authorId: r.author_id,
    traceId: r.trace_id,
  }));
}

export async function upsertTimer(tx: Tx, kind: string, actorId: string, name: string, event: { type: string }, dueAt: Date): Promise<void> {
  await tx.query(
    `insert into actor_timers (kind, actor_id, name, event, due_at) values ($1, $2, $3, $4::jsonb, $5::timestamptz)
     on conflict (kind, actor_id, name) do update set event = excluded.event, due_at = excluded.due_at, attempts = 0, last_error = null`,
    [kind, actorId, name, JSON.stringify(event), dueAt.toISOString()],
  );
}

export async function cancelTimer(tx: Tx, kind: string, actorId: string, name: string): Promise<void> {
  await tx.query("delete from actor_timers where kind = $1 and actor_id = $2 and name = $3", [kind, actorId, name]);
}

export interface DueTimer {
  id: number;
  kind: string;
  actorId: string;
  name: string;
  event: { type: string };
  dueAt: Date;
  attempts: number;
}

/**
 * Claims one due timer and locks its actor row in the same statement. SKIP
 * LOCKED on both means the scheduler never waits on a lock: a timer whose
 * actor is mid-transition on another replica is simply left for the next tick,
 * so the timer→actor and actor→timer lock orders can never deadlock.
 */
export async function claimDueTimer(tx: Tx, now: Date): Promise<DueTimer | undefined> {
  const r = await one<{ id: number; kind: string; actor_id: string; name: string; event: { type: string }; due_at: Date; attempts: number }>(
    tx,
    `select t.id, t.kind, t.actor_id, t.name, t.event, t.due_at, t.attempts
       from actor_timers t join actors a on a.kind = t.kind and a.id = t.actor_id
      where t.due_at <= $1::timestamptz
      order by t.due_at
      limit 1
      for update of t, a skip locked`,
    [now.toISOString()],
  );
  return r && { id: r.id, kind: r.kind, actorId: r.actor_id, name: r.name, event: r.event, dueAt: new Date(r.due_at), attempts: r.attempts };
}

export async function deleteTimerById(tx: Tx, id: number): Promise<void> {
  await tx.query("delete from actor_timers where id = $1", [id]);
}

export async function deferTimer(tx: Tx, id: number, dueAt: Date, error: string): Promise<void> {
  await tx.query("update actor_timers set due_at = $2::timestamptz, attempts = attempts + 1, last_error = $3 where id = $1", [id, dueAt.toISOString(), error]);
}

export async function listTimers(tx: Tx, kind: string, actorId: string): Promise<{ name: string; dueAt: Date }[]> {
  const rows = await tx.query<{ name: string; due_at: Date }>("select name, due_at from actor_timers where kind = $1 and actor_id = $2 order by name", [
    kind,
    actorId,
  ]);
  return rows.map((r) => ({ name: r.name, dueAt: new Date(r.due_at) }));
}
