/**
 * The node's update state machine (spec §10 "Update Safety States") as a pure
 * reducer: no clock, no IO. The driver (updater.ts) persists the status after
 * every step and performs the work each state names (`workOf`); after a crash
 * or kill, `recover` turns whatever was persisted plus what is really running
 * into a consistent status, so the node never reports or stays half-updated.
 *
 *   idle, running, rolled_back, failed ─already_running─▶ running   (the control plane asked for what runs)
 *   idle ─desired─▶ checking ─checked─▶ downloading ─downloaded─▶ verifying ─verified─▶ staging
 *   staging ─staged─▶ migrating (when the signed manifest lists migrations) ─migrated─▶ starting
 *   staging ─staged─▶ starting ─started─▶ health_checking ─healthy─▶ promoting ─promoted─▶ running
 *   checking … verifying ─refused─▶ failed        (nothing was changed)
 *   checking, downloading ─unreachable─▶ idle     (tried again on the next desired)
 *   staging … health_checking ─unhealthy─▶ rollback_required ─rollback_started─▶ rolling_back ─rolled_back─▶ rolled_back
 *   rolling_back ─rollback_failed─▶ failed
 */

export const UPDATE_STATES = [
  "idle",
  "checking",
  "downloading",
  "verifying",
  "staging",
  "migrating",
  "starting",
  "health_checking",
  "promoting",
  "running",
  "rollback_required",
  "rolling_back",
  "rolled_back",
  "failed",
] as const;
export type UpdateStateName = (typeof UPDATE_STATES)[number];

export interface UpdateStatus {
  state: UpdateStateName;
  /** The version running now. */
  current: string;
  /** The last version promoted after its health checks (what a rollback returns to). */
  knownGood: string;
  /** The version being installed, while an update is under way or just ended. */
  target?: string;
  /** The control plane's request this update answers (absent for an operator's request on the node). */
  requestId?: string;
  /** The last version that failed here (refused, unhealthy or crashed). */
  failed?: string;
  reason?: string;
  /** Whether the target's signed manifest carries migrations for this node. */
  migration: boolean;
  /** Set once `current` points at the target's slot (written by the driver right after the switch). */
  switched?: boolean;
  /** When the state was entered (from the event). */
  at: string;
}

export type UpdateEvent =
  | { type: "desired"; version: string; requestId?: string; at: string }
  | { type: "already_running"; requestId: string; at: string }
  | { type: "checked"; migration: boolean; at: string }
  | { type: "downloaded"; at: string }
  | { type: "verified"; at: string }
  | { type: "staged"; at: string }
  | { type: "migrated"; at: string }
  | { type: "started"; at: string }
  | { type: "healthy"; at: string }
  | { type: "promoted"; at: string }
  | { type: "refused"; reason: string; at: string }
  | { type: "unreachable"; reason: string; at: string }
  | { type: "unhealthy"; reason: string; at: string }
  | { type: "rollback_started"; at: string }
  | { type: "rolled_back"; at: string }
  | { type: "rollback_failed"; reason: string; at: string };

/** The work the driver does in a state; `none` waits for the next event from outside. */
export type UpdateWork = "none" | "check" | "download" | "verify" | "stage" | "migrate" | "restart_into_target" | "health_check" | "promote" | "roll_back";

export function initialStatus(version: string, at: string): UpdateStatus {
  return { state: "idle", current: version, knownGood: version, migration: false, at };
}

const SETTLED: readonly UpdateStateName[] = ["idle", "running", "rolled_back", "failed"];
const BEFORE_SWITCH: readonly UpdateStateName[] = ["checking", "downloading", "verifying", "staging"];

export const isSettled = (s: UpdateStatus): boolean => SETTLED.includes(s.state);

/** The next status, or the same object when the event does not apply in this state (the caller logs and ignores it). */
export function step(s: UpdateStatus, e: UpdateEvent): UpdateStatus {
  const to = (state: UpdateStateName, extra: Partial<UpdateStatus> = {}): UpdateStatus => ({ ...s, state, at: e.at, ...extra });
  switch (e.type) {
    case "desired":
      // A request is consumed when its update settles (updater.ts removes it), so a failed version
      // asked for again is a new decision by the operator or the control plane, and is tried.
      if (!isSettled(s) || e.version === s.current) return s;
      return to("checking", { target: e.version, requestId: e.requestId, reason: undefined, migration: false, switched: false });
    case "already_running":
      // The control plane asks for the version that runs: answered without an update (settled states only).
      return isSettled(s) ? to("running", { target: s.current, requestId: e.requestId, reason: undefined }) : s;
    case "checked":
      return s.state === "checking" ? to("downloading", { migration: e.migration }) : s;
    case "downloaded":
      return s.state === "downloading" ? to("verifying") : s;
    case "verified":
      return s.state === "verifying" ? to("staging") : s;
    case "staged":
      return s.state === "staging" ? to(s.migration ? "migrating" : "starting") : s;
    case "migrated":
      return s.state === "migrating" ? to("starting") : s;
    case "started":
      return s.state === "starting" ? to("health_checking", { current: s.target as string }) : s;
    case "healthy":
      return s.state === "health_checking" ? to("promoting") : s;
    case "promoted":
      return s.state === "promoting" ? to("running", { knownGood: s.current }) : s;
    case "refused":
      return ["checking", "downloading", "verifying"].includes(s.state) ? to("failed", { failed: s.target, reason: e.reason }) : s;
    case "unreachable":
      return s.state === "checking" || s.state === "downloading" ? to("idle", { target: undefined, reason: e.reason }) : s;
    case "unhealthy":
      return ["staging", "migrating", "starting", "health_checking"].includes(s.state) ? to("rollback_required", { reason: e.reason }) : s;
    case "rollback_started":
      return s.state === "rollback_required" ? to("rolling_back") : s;
    case "rolled_back":
      return s.state === "rolling_back" ? to("rolled_back", { current: s.knownGood, failed: s.target }) : s;
    case "rollback_failed":
      return s.state === "rolling_back" ? to("failed", { failed: s.target, reason: e.reason }) : s;
  }
}

export function workOf(s: UpdateStatus): UpdateWork {
  switch (s.state) {
    case "checking":
      return "check";
    case "downloading":
      return "download";
    case "verifying":
      return "verify";
    case "staging":
      return "stage";
    case "migrating":
      return "migrate";
    case "starting":
      return "restart_into_target";
    case "health_checking":
      return "health_check";
    case "promoting":
      return "promote";
    case "rollback_required":
    case "rolling_back":
      return "roll_back";
    default:
      return "none";
  }
}

/**
 * After a start (a crash, a kill, the launcher's restart): what the persisted
 * status means, given the version actually running and the slot the launcher
 * keeps as known good.
 *
 * - Interrupted before the slot switch: nothing changed on the node; idle on
 *   what runs, with the interruption as the reason (a half-written staging
 *   slot is discarded by the driver).
 * - Interrupted in migrating: the migration may be half done, so it must be
 *   undone: rollback_required.
 * - Interrupted in starting before the slot switch (`switched` unset, no
 *   trial): idle, like the states before it, unless migrations ran
 *   (rollback_required: the store goes back to its backup).
 * - Running the target after the switch: the trial goes on (health_checking),
 *   or, past promotion, running.
 * - Running the known-good version although the target was switched to: the
 *   launcher rolled the node back (the target crashed or was killed before
 *   promotion): rolled_back, the target marked failed.
 */
export function recover(persisted: UpdateStatus, running: { version: string; knownGood: string; trial: boolean }, at: string): UpdateStatus {
  const s = persisted;
  const base = { ...s, at, current: running.version, knownGood: running.knownGood };
  if (BEFORE_SWITCH.includes(s.state))
    return { ...base, state: "idle", target: undefined, reason: `update to ${s.target} interrupted in ${s.state}; still on ${running.version}` };
  if (s.state === "migrating") return { ...base, state: "rollback_required", reason: `update to ${s.target} interrupted while migrating` };
  // Killed in starting before the switch: nothing changed either (the request stands and is tried again).
  if (s.state === "starting" && !s.switched && !running.trial && running.version !== s.target) {
    // After signed migrations ran, the store is the target's: it must go back to the backup (a rollback).
    if (s.migration) return { ...base, state: "rollback_required", reason: `update to ${s.target} interrupted after its migrations, before the switch` };
    return { ...base, state: "idle", target: undefined, reason: `update to ${s.target} interrupted before the switch; still on ${running.version}` };
  }
  if (["starting", "health_checking", "promoting"].includes(s.state)) {
    if (running.version === s.target && running.trial) return { ...base, state: "health_checking" };
    if (running.version === s.target) return { ...base, state: "running" };
    return { ...base, state: "rolled_back", failed: s.target, reason: `${s.target} did not come up healthy; the watchdog went back to ${running.version}` };
  }
  if (s.state === "rollback_required" || s.state === "rolling_back") {
    return running.version === running.knownGood && !running.trial
      ? { ...base, state: "rolled_back", failed: s.target }
      : { ...base, state: "rollback_required" };
  }
  return base;
}
