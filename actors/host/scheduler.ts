/**
 * Durable timer scheduler. Every replica runs one; each tick claims due timers
 * one per transaction (FOR UPDATE SKIP LOCKED, see sql/actors.ts) and delivers
 * each as an ordinary event through the host, deleting the timer row in the
 * same commit. A timer whose event the actor no longer accepts is dropped; a
 * delivery that fails for another reason is retried with backoff.
 */
import { ActorEventRejected } from "../../core/errors.ts";
import { systemChange } from "../../core/change.ts";
import { newTraceId } from "../../core/ids.ts";
import { F, type Logger } from "../../core/log.ts";
import type { ControlPlaneMetrics } from "../../core/metrics.ts";
import type { Db } from "../../sql/db.ts";
import { claimDueTimer, deferTimer, deleteTimerById, type DueTimer } from "../../sql/actors.ts";
import type { ActorHost, TransitionOutcome } from "./host.ts";

export interface SchedulerDeps {
  db: Db;
  host: ActorHost;
  log: Logger;
  metrics: ControlPlaneMetrics;
  pollMs?: number;
  /** Most timers delivered per tick, so one tick cannot starve the process. */
  maxPerTick?: number;
}

const MAX_BACKOFF_MS = 5 * 60_000;

export class TimerScheduler {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private ticking: Promise<number> | undefined;

  constructor(private readonly deps: SchedulerDeps) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    const loop = async () => {
      if (!this.running) return;
      await this.tick();
      if (this.running) this.timer = setTimeout(loop, this.deps.pollMs ?? 250);
    };
    this.timer = setTimeout(loop, 0);
  }

  /** Stops polling and waits for a tick in flight. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
  }

  /** Delivers what is due now; returns how many timers were handled. */
  tick(): Promise<number> {
    this.ticking ??= this.deliverDue().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async deliverDue(): Promise<number> {
    const max = this.deps.maxPerTick ?? 100;
    let handled = 0;
    while (handled < max) {
      const delivered = await this.deliverOne().catch((err) => {
        this.deps.log.error("timer tick failed", { [F.component]: "scheduler", err });
        return false;
      });
      if (!delivered) break;
      handled++;
    }
    return handled;
  }

  private async deliverOne(): Promise<boolean> {
    const { db, host } = this.deps;
    let claimed: DueTimer | undefined;
    let outcome: TransitionOutcome | undefined;
    try {
      await db.transaction(async (tx) => {
        claimed = await claimDueTimer(tx, host.now());
        if (!claimed) return;
        // Delete first: the transition may schedule a timer of the same name again, and that one must stay.
        await deleteTimerById(tx, claimed.id);
        try {
          outcome = await host.transitionInTx(tx, claimed.kind, claimed.actorId, claimed.event, systemChange("timer", newTraceId()));
        } catch (err) {
          // Rejected before anything was written: the actor moved on, the timer is stale.
          if (!(err instanceof ActorEventRejected)) throw err;
          this.deps.log.info("stale timer dropped", this.fields(claimed));
        }
      });
    } catch (err) {
      if (!claimed) throw err;
      await this.defer(claimed, err);
      return true;
    }
    if (!claimed) return false;
    const lag = (host.now().getTime() - claimed.dueAt.getTime()) / 1000;
    this.deps.metrics.timerLag.observe({ kind: claimed.kind }, Math.max(0, lag));
    this.deps.metrics.timersFired.inc({ kind: claimed.kind, outcome: outcome ? "delivered" : "stale" });
    if (outcome) await host.afterCommit(claimed.kind, outcome);
    return true;
  }

  private async defer(t: DueTimer, err: unknown): Promise<void> {
    const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** t.attempts);
    this.deps.metrics.timersFired.inc({ kind: t.kind, outcome: "failed" });
    this.deps.log.error("timer delivery failed; retrying", { ...this.fields(t), attempts: t.attempts + 1, backoff_ms: backoff, err });
    const message = err instanceof Error ? err.message : String(err);
    await this.deps.db.transaction((tx) => deferTimer(tx, t.id, new Date(this.deps.host.now().getTime() + backoff), message.slice(0, 500)));
  }

  private fields(t: DueTimer) {
    return { [F.component]: "scheduler", [F.timerId]: t.id, [F.actorKind]: t.kind, [F.actorId]: t.actorId, timer: t.name, [F.event]: t.event.type };
  }
}
