/**
 * The batched heartbeat writer. Requests queue their heartbeat and wait; a
 * flush every `flushMs` (or when `maxBatch` is reached) writes the whole batch
 * in one transaction of three multi-row statements, refreshes the nodes' live
 * keys in one Redis round trip, and then answers every waiter. A node whose
 * health was not healthy gets one `node.health healthy` event after commit.
 * Several heartbeats of one node in a window collapse to the newest.
 */
import type { Db } from "../../sql/db.ts";
import type { LiveState } from "../../live/live-state.ts";
import type { ActorHost } from "../../actors/host/host.ts";
import type { Logger } from "../../core/log.ts";
import { systemChange } from "../../core/change.ts";
import { newTraceId } from "../../core/ids.ts";
import { DomainError } from "../../core/errors.ts";
import { writeHeartbeatBatch, type Heartbeat } from "../../sql/heartbeats.ts";
import { NODE } from "../../actors/node/kind.ts";
import { STALE_AFTER_MS } from "../../core/fabric.ts";

interface Pending { hb: Heartbeat; waiters: { resolve: () => void; reject: (e: unknown) => void }[] }

export const liveKey = (nodeId: string) => `node:live:${nodeId}`;

export class HeartbeatWriter {
  private pending = new Map<string, Pending>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private flushing: Promise<void> = Promise.resolve();
  batches = 0;

  constructor(private readonly deps: { db: Db; live: LiveState; host: ActorHost; log: Logger; flushMs?: number; maxBatch?: number }) {}

  submit(hb: Heartbeat): Promise<void> {
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
      this.flushing = this.flushing.then(() => this.flush());
    }, ms);
  }

  /** Writes everything queued now; resolves when it is durable. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const beats = [...batch.values()].map((p) => p.hb);
    try {
      const unhealthy = await this.deps.db.transaction((tx) => writeHeartbeatBatch(tx, beats));
      this.batches++;
      await this.deps.live.setMany(beats.map((h) => [liveKey(h.nodeId), h.receivedAt.toISOString()]), STALE_AFTER_MS).catch((err) => {
        this.deps.log.warn("live keys not refreshed", { err });
      });
      for (const p of batch.values()) for (const w of p.waiters) w.resolve();
      for (const u of unhealthy) {
        await this.deps.host.send(NODE, u.nodeId, { type: "node.health", health: "healthy" }, systemChange("agent", newTraceId())).catch((err) => {
          if (!(err instanceof DomainError)) this.deps.log.warn("health recovery not recorded", { err });
        });
      }
    } catch (err) {
      for (const p of batch.values()) for (const w of p.waiters) w.reject(err);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    await this.flush();
  }
}
