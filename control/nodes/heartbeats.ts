/**
 * The batched heartbeat writer. Requests queue their heartbeat and wait; a
 * flush every `flushMs` (or when `maxBatch` is reached) writes the whole batch
 * in one transaction of three multi-row statements, refreshes the nodes'
 * presence with one Redis command per cluster, and then answers every waiter. Up to
 * `maxFlushes` batches commit at once. A node whose
 * health was not healthy gets one `node.health healthy` event after commit.
 * Several heartbeats of one node in a window collapse to the newest.
 *
 * One node's heartbeat never fails another's: a heartbeat the store could
 * not hold is refused at `submit`, before it joins a batch, and a batch that
 * fails anyway for a reason a row may cause is split in halves and retried,
 * down to single heartbeats, so only the offending one is refused.
 */
import type { Db } from "../../sql/db.ts";
import type { LiveState } from "../../live/live-state.ts";
import type { ActorHost } from "../../actors/host/host.ts";
import { F, type Logger } from "../../core/log.ts";
import { systemChange } from "../../core/change.ts";
import { newTraceId } from "../../core/ids.ts";
import { DomainError } from "../../core/errors.ts";
import { historyBucket, TIMER_SLACK_SECONDS, unstorableHeartbeatField, writeHeartbeatBatch, type Heartbeat } from "../../sql/heartbeats.ts";
import { refusedByStore, rowMayCause } from "../../sql/storable.ts";
import { NODE } from "../../actors/node/kind.ts";
import { STALE_AFTER_MS } from "../../core/fabric.ts";

interface Pending {
  hb: Heartbeat;
  waiters: { resolve: () => void; reject: (e: unknown) => void }[];
}
type Skip = { history: Set<string>; timer: Set<string> };
/** What a flush wrote: nodes to mark healthy, and the answer for each node whose heartbeat was not written. */
interface Written {
  unhealthy: { nodeId: string; health: string }[];
  failed: Map<string, unknown>;
}

/** The answer to a heartbeat the store cannot hold: a 400 naming the field, never a 500. */
const refusal = (path: string, message: string, cause?: unknown) =>
  new DomainError("request.validation_failed", "the store cannot keep this heartbeat", { target: "json", issues: [{ path, message }] }, { cause });

/** Presence: one hash per cluster, field = node id, value = last heartbeat time (ISO). */
export const liveHash = (clusterId: string) => `nodes:live:${clusterId}`;

export class HeartbeatWriter {
  private pending = new Map<string, Pending>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** What this replica last wrote per node: its history bucket and its liveness timer's due time. */
  private readonly historyWritten = new Map<string, number>();
  private readonly timerDue = new Map<string, number>();
  batches = 0;

  /** `maxFlushes`: batches committing at once (one builds while another commits). */
  constructor(private readonly deps: { db: Db; live: LiveState; host: ActorHost; log: Logger; flushMs?: number; maxBatch?: number; maxFlushes?: number }) {}

  submit(hb: Heartbeat): Promise<void> {
    const bad = unstorableHeartbeatField(hb);
    if (bad !== undefined) return Promise.reject(refusal(bad, "contains text that cannot be stored (NUL or an unpaired surrogate)"));
    return new Promise((resolve, reject) => {
      const existing = this.pending.get(hb.nodeId);
      if (existing) {
        if (hb.seq >= existing.hb.seq) existing.hb = hb;
        existing.waiters.push({ resolve, reject });
      } else {
        this.pending.set(hb.nodeId, { hb, waiters: [{ resolve, reject }] });
      }
      if (this.pending.size >= (this.deps.maxBatch ?? 2000)) this.flushSoon(0);
      else this.flushSoon(this.deps.flushMs ?? 20);
    });
  }

  private flushSoon(ms: number): void {
    if (this.timer && ms > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.startFlush();
    }, ms);
  }

  private async startFlush(): Promise<void> {
    // At the limit, wait for a batch to commit; what arrives meanwhile joins the next batch.
    while (this.inFlight.size >= (this.deps.maxFlushes ?? 2)) await Promise.race(this.inFlight);
    const run = this.flush().finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
    await run;
  }

  /** Writes everything queued now; resolves when it is durable. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const beats = [...batch.values()].map((p) => p.hb);
    // Presence is best-effort live state, written beside (not after) the durable commit.
    const presence = this.writePresence(beats).catch((err) => {
      this.deps.log.warn("live presence not refreshed", { err });
    });
    const skip = this.knownCurrent(beats);
    const out: Written = { unhealthy: [], failed: new Map() };
    await this.writeIsolated(beats, skip, out);
    await presence;
    this.remember(
      beats.filter((h) => !out.failed.has(h.nodeId)),
      skip,
    );
    if (out.failed.size < batch.size) this.batches++;
    for (const [nodeId, p] of batch) {
      const err = out.failed.get(nodeId);
      for (const w of p.waiters) err === undefined ? w.resolve() : w.reject(err);
    }
    for (const u of out.unhealthy) {
      await this.deps.host.send(NODE, u.nodeId, { type: "node.health", health: "healthy" }, systemChange("agent", newTraceId())).catch((err) => {
        if (!(err instanceof DomainError)) this.deps.log.warn("health recovery not recorded", { err });
      });
    }
  }

  /**
   * One transaction for `beats`; if the store refuses it for a reason a row
   * may cause, each half again on its own, down to single heartbeats. One bad
   * row among n then costs about 2·log2(n) extra transactions, and every
   * other row is written. A failing store (connection, resources) fails the
   * whole batch at once instead of row by row.
   */
  private async writeIsolated(beats: Heartbeat[], skip: Skip, out: Written): Promise<void> {
    try {
      out.unhealthy.push(...(await this.deps.db.transaction((tx) => writeHeartbeatBatch(tx, beats, skip))));
    } catch (err) {
      if (beats.length > 1 && rowMayCause(err)) {
        const mid = beats.length >> 1;
        await this.writeIsolated(beats.slice(0, mid), skip, out);
        await this.writeIsolated(beats.slice(mid), skip, out);
        return;
      }
      if (beats.length === 1) this.deps.log.warn("heartbeat refused by the store", { [F.actorKind]: NODE, [F.actorId]: beats[0]!.nodeId, err });
      const answer = beats.length === 1 && refusedByStore(err) ? refusal("telemetry", "the store refused this value", err) : err;
      for (const h of beats) out.failed.set(h.nodeId, answer);
    }
  }

  private async writePresence(beats: Heartbeat[]): Promise<void> {
    const byCluster = new Map<string, [string, string][]>();
    for (const h of beats) {
      const list = byCluster.get(h.clusterId) ?? [];
      list.push([h.nodeId, h.receivedAt.toISOString()]);
      byCluster.set(h.clusterId, list);
    }
    await Promise.all([...byCluster].map(([cluster, entries]) => this.deps.live.hset(liveHash(cluster), entries)));
  }

  /**
   * Rows this replica wrote recently enough that the batch would not change
   * them: a history slot already filled on this lap, a liveness timer still
   * due more than the slack ahead. Unknown nodes (new, or beating through
   * another replica) are always written; the SQL conditions keep that correct.
   * A remembered timer cannot have been replaced meanwhile: the only other
   * writers are its own firing (not before it is due) and health transitions,
   * which follow a firing or a heartbeat this writer sees.
   */
  private knownCurrent(beats: Heartbeat[]): Skip {
    const history = new Set<string>();
    const timer = new Set<string>();
    for (const h of beats) {
      if (this.historyWritten.get(h.nodeId) === historyBucket(h.receivedAt)) history.add(h.nodeId);
      const due = this.timerDue.get(h.nodeId);
      if (due !== undefined && due >= h.receivedAt.getTime() + STALE_AFTER_MS - TIMER_SLACK_SECONDS * 1000) timer.add(h.nodeId);
    }
    return { history, timer };
  }

  private remember(beats: Heartbeat[], skip: Skip): void {
    for (const h of beats) {
      this.historyWritten.set(h.nodeId, historyBucket(h.receivedAt));
      if (!skip.timer.has(h.nodeId)) this.timerDue.set(h.nodeId, h.receivedAt.getTime() + STALE_AFTER_MS);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all(this.inFlight);
    await this.flush();
  }
}
