/**
 * What an actor kind hands the host: its pure machine, the machine version
 * stored beside each snapshot, the projection it writes in the transition's
 * transaction, and the effects it runs after commit.
 *
 * Machines ask for durable timers through two named actions the host
 * interprets (`timer.schedule`, `timer.cancel`); declare them with
 * `timerActions` in `setup({ actions })`. xstate `after` delays are not used
 * for anything that must survive a restart.
 */
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from "xstate";
import type { Db, Tx } from "../../sql/db.ts";
import type { ChangeContext } from "../../core/change.ts";
import type { Logger } from "../../core/log.ts";
import type { LiveState } from "../../live/live-state.ts";

/** A timer fires `delayMs` after the transition, or at `dueAt` (ISO time) when the event carried one. */
export type ScheduleTimerParams = { name: string; event: EventObject } & ({ delayMs: number } | { dueAt: string });
export interface CancelTimerParams {
  name: string;
}

export const TIMER_SCHEDULE = "timer.schedule";
export const TIMER_CANCEL = "timer.cancel";

/** No-op implementations: `transition()` returns these actions and the host writes timer rows. */
export const timerActions = {
  [TIMER_SCHEDULE]: (_: unknown, _params: ScheduleTimerParams) => {},
  [TIMER_CANCEL]: (_: unknown, _params: CancelTimerParams) => {},
};

export interface Transitioned {
  id: string;
  version: number;
  snapshot: AnyMachineSnapshot;
  change: ChangeContext;
  now: Date;
}

/** Any event an actor is sent: a type plus its fields. */
export type ActorEvent = { type: string } & Record<string, unknown>;

/** What an effect may touch after commit. */
export interface EffectDeps {
  db: Db;
  live: LiveState;
  log: Logger;
}

export type Effect = (params: unknown, deps: EffectDeps, done: Transitioned) => Promise<void>;

export interface ActorKind {
  kind: string;
  machine: AnyStateMachine;
  /** Bump when a persisted snapshot of the old machine can no longer be restored as is. */
  machineVersion: number;
  /** Writes projection rows inside the transition's transaction. */
  project(tx: Tx, done: Transitioned): Promise<void>;
  /** The organization an actor belongs to, for its audit rows; platform-scoped kinds omit it. */
  organizationOf?(snapshot: AnyMachineSnapshot): string | null;
  /** Extra audit details of a transition (the destination of a session: resource and pool), beside the states. Never node ids for tenant-visible kinds. */
  auditDetails?(snapshot: AnyMachineSnapshot, event: ActorEvent): Record<string, unknown>;
  /**
   * Whether a transition gets an audit row (default: every one). A kind leaves out only routine repeats whose every
   * occurrence is kept elsewhere: a VPN lease renewal (several a second per connection) is in the journal and in
   * `vpn_lease_history`, while the term it extends is audited at its grant and at its end.
   */
  audited?(event: ActorEvent): boolean;
  /**
   * Transitions of other actors this one causes, run in the same transaction
   * (a node lost fails the sessions it served). Each is a normal transition;
   * one its actor no longer accepts is skipped.
   */
  cascade?(tx: Tx, done: Transitioned, before: AnyMachineSnapshot): Promise<{ kind: string; id: string; event: ActorEvent }[]>;
  /** Named effects run after commit; a failure is logged, never rolls back. */
  effects?: Record<string, Effect>;
}

/** The state value as one string (`"active"`, `"archiving"`, `"a.b"` for nested states). */
export function stateName(snapshot: AnyMachineSnapshot): string {
  const flatten = (v: unknown): string =>
    typeof v === "string"
      ? v
      : Object.entries(v as Record<string, unknown>)
          .map(([k, sub]) => `${k}.${flatten(sub)}`)
          .join(",");
  return flatten(snapshot.value);
}
