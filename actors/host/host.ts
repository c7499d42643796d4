/**
 * The actor host: `send(kind, id, event, change)` runs one transition of a
 * persisted xstate machine.
 *
 *   BEGIN
 *     lock the actor row (create it at version 0 if the initial state takes the event)
 *     restore the snapshot, reject the event if the state does not accept it
 *     pure transition() → next snapshot + actions
 *     write snapshot (version+1), journal row, projection rows, audit row, durable timers
 *   COMMIT
 *   run effects (live-state publish, kind effects)
 *
 * Actors are persisted, not resident: nothing is cached between calls, so any
 * replica can serve any actor and the row lock serialises them.
 */
import { initialTransition, transition, type AnyMachineSnapshot } from "xstate";
import { ActorEventRejected, ActorMachineVersionMismatch, ActorNotFound, DomainError, UnknownActorKind } from "../../core/errors.ts";
import type { ChangeContext } from "../../core/change.ts";
import { F, type Logger } from "../../core/log.ts";
import type { ControlPlaneMetrics } from "../../core/metrics.ts";
import type { Db, Tx } from "../../sql/db.ts";
import { appendJournal, lockActor, lockOrInsertActor, saveSnapshot, upsertTimer, cancelTimer } from "../../sql/actors.ts";
import type { LiveState } from "../../live/live-state.ts";
import { appendAudit } from "../../sql/audit.ts";
import {
  stateName,
  TIMER_CANCEL,
  TIMER_SCHEDULE,
  type ActorEvent,
  type ActorKind,
  type CancelTimerParams,
  type ScheduleTimerParams,
  type Transitioned,
} from "./kind.ts";

export interface ActorHostDeps {
  db: Db;
  live: LiveState;
  kinds: ActorKind[];
  clock?: () => Date;
  log: Logger;
  metrics: ControlPlaneMetrics;
}

export interface SendResult {
  id: string;
  version: number;
  state: string;
  context: unknown;
}

interface PendingEffect {
  type: string;
  params: unknown;
}
/** `cascaded`: transitions of other actors this one caused in the same commit, whose effects run after it too. */
export interface TransitionOutcome {
  done: Transitioned;
  effects: PendingEffect[];
  cascaded?: [string, TransitionOutcome][];
}

/** Channel on which every committed transition of a kind is announced. */
export const actorChannel = (kind: string) => `actor:${kind}`;

export class ActorHost {
  private readonly kinds: Map<string, ActorKind>;
  private readonly clock: () => Date;

  constructor(private readonly deps: ActorHostDeps) {
    this.kinds = new Map(deps.kinds.map((k) => [k.kind, k]));
    this.clock = deps.clock ?? (() => new Date());
  }

  now(): Date {
    return this.clock();
  }

  send(kind: string, id: string, event: ActorEvent, change: ChangeContext): Promise<SendResult> {
    return this.sendWith(kind, id, event, change, async () => {});
  }

  /**
   * A transition plus writes a command owns that are not the actor's
   * projection (a cluster's authority keys, a node's certificate), committed
   * together or not at all.
   */
  async sendWith(
    kind: string,
    id: string,
    event: ActorEvent,
    change: ChangeContext,
    alsoInTx: (tx: Tx, done: Transitioned) => Promise<void>,
  ): Promise<SendResult> {
    const started = performance.now();
    try {
      const outcome = await this.deps.db.transaction(async (tx) => {
        const o = await this.transitionInTx(tx, kind, id, event, change);
        await alsoInTx(tx, o.done);
        return o;
      });
      this.observe(kind, event.type, "accepted", started);
      await this.afterCommit(kind, outcome);
      return resultOf(outcome.done);
    } catch (err) {
      this.observe(kind, event.type, err instanceof DomainError ? "rejected" : "failed", started);
      throw err;
    }
  }

  /**
   * Several transitions (of one or more actors) and other writes in one
   * commit; effects of every transition run after it. `step` is the host's
   * transition inside that transaction.
   */
  async batch<T>(fn: (tx: Tx, step: (kind: string, id: string, event: ActorEvent, change: ChangeContext) => Promise<SendResult>) => Promise<T>): Promise<T> {
    const outcomes: [string, TransitionOutcome][] = [];
    const result = await this.deps.db.transaction((tx) =>
      fn(tx, async (kind, id, event, change) => {
        const started = performance.now();
        const o = await this.transitionInTx(tx, kind, id, event, change);
        this.observe(kind, event.type, "accepted", started);
        outcomes.push([kind, o]);
        return resultOf(o.done);
      }),
    );
    for (const [kind, o] of outcomes) await this.afterCommit(kind, o);
    return result;
  }

  /**
   * One transition inside the caller's transaction. The scheduler uses it to
   * deliver a timer and delete the timer row in the same commit.
   */
  async transitionInTx(tx: Tx, kind: string, id: string, event: ActorEvent, change: ChangeContext): Promise<TransitionOutcome> {
    const def = this.kindOf(kind);
    const now = this.clock();
    let row = await lockActor(tx, kind, id);
    if (!row) {
      const [initial] = initialTransition(def.machine);
      if (!initial.can(event)) throw new ActorNotFound(kind, id);
      row = await lockOrInsertActor(tx, {
        kind,
        id,
        machineVersion: def.machineVersion,
        state: stateName(initial),
        snapshot: def.machine.getPersistedSnapshot(initial),
      });
    }
    if (row.machineVersion !== def.machineVersion) throw new ActorMachineVersionMismatch(kind, id, row.machineVersion, def.machineVersion);

    const current = def.machine.resolveState(row.snapshot as never) as AnyMachineSnapshot;
    if (current.status !== "active" || !current.can(event)) throw new ActorEventRejected(kind, id, event.type, row.state);

    const [next, resolved] = transition(def.machine, current, event);
    const actions = resolved as unknown as { type: string; params?: unknown }[];
    const version = row.version + 1;
    const stateAfter = stateName(next);
    await saveSnapshot(
      tx,
      { kind, id, machineVersion: def.machineVersion, version, state: stateAfter, snapshot: def.machine.getPersistedSnapshot(next) },
      row.version,
    );
    await appendJournal(tx, { kind, actorId: id, version, event, change, stateBefore: row.state, stateAfter });

    const done: Transitioned = { id, version, snapshot: next, change, now };
    await def.project(tx, done);
    if (def.audited?.(event) ?? true) {
      await appendAudit(tx, {
        change,
        organizationId: def.organizationOf?.(next) ?? null,
        action: event.type,
        targetType: kind,
        targetId: id,
        outcome: "success",
        details: { ...def.auditDetails?.(next, event), state_before: row.state, state_after: stateAfter },
        at: now,
      });
    }

    const effects: PendingEffect[] = [];
    for (const action of actions) {
      if (action.type === TIMER_SCHEDULE) {
        const p = action.params as ScheduleTimerParams;
        const dueAt = "dueAt" in p ? new Date(p.dueAt) : new Date(now.getTime() + p.delayMs);
        await upsertTimer(tx, kind, id, p.name, p.event, dueAt);
      } else if (action.type === TIMER_CANCEL) {
        await cancelTimer(tx, kind, id, (action.params as CancelTimerParams).name);
      } else if (def.effects?.[action.type]) {
        effects.push({ type: action.type, params: action.params });
      }
    }
    const cascaded: [string, TransitionOutcome][] = [];
    for (const c of (await def.cascade?.(tx, done, current)) ?? []) {
      try {
        cascaded.push([c.kind, await this.transitionInTx(tx, c.kind, c.id, c.event, change)]);
      } catch (err) {
        // Refused before anything was written: that actor has moved on.
        if (!(err instanceof ActorEventRejected)) throw err;
      }
    }
    return { done, effects, cascaded };
  }

  /** Effects never roll back a committed transition; their failures are logged. */
  async afterCommit(kind: string, { done, effects, cascaded }: TransitionOutcome): Promise<void> {
    const def = this.kindOf(kind);
    const notice = JSON.stringify({ id: done.id, version: done.version, state: stateName(done.snapshot) });
    const runs = [
      this.deps.live.publish(actorChannel(kind), notice),
      ...effects.map((e) => def.effects![e.type]!(e.params, { db: this.deps.db, live: this.deps.live, log: this.deps.log }, done)),
    ];
    const results = await Promise.allSettled([...runs, ...(cascaded ?? []).map(([k, o]) => this.afterCommit(k, o))]);
    for (const r of results) {
      if (r.status === "rejected") {
        this.deps.log.warn("actor effect failed", {
          [F.actorKind]: kind,
          [F.actorId]: done.id,
          [F.version]: done.version,
          [F.traceId]: done.change.traceId,
          err: r.reason,
        });
      }
    }
  }

  private kindOf(kind: string): ActorKind {
    const def = this.kinds.get(kind);
    if (!def) throw new UnknownActorKind(kind);
    return def;
  }

  private observe(kind: string, event: string, outcome: string, started: number): void {
    this.deps.metrics.actorTransitions.inc({ kind, event, outcome });
    this.deps.metrics.actorTransitionDuration.observe({ kind }, (performance.now() - started) / 1000);
  }
}

function resultOf(done: Transitioned): SendResult {
  return { id: done.id, version: done.version, state: stateName(done.snapshot), context: done.snapshot.context };
}
