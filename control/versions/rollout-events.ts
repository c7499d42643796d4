/**
 * One rollout event through the machine (core/updates/rollout.ts), inside
 * the caller's transaction: the new state stored, its effects applied (a
 * completed rollout moves its channel) and audited. A tally counts the
 * rollout's rings from the nodes' stored update states.
 */
import type { ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import { type RingTally, type RolloutEffect, type RolloutEvent, RolloutRefused, type RolloutState, stepRollout } from "../../core/updates/rollout.ts";
import { appendAudit } from "../../sql/audit.ts";
import type { Tx } from "../../sql/db.ts";
import { clusterNodeUpdates, getRollout, type RolloutRow, setChannel, updateRollout } from "../../sql/versions.ts";

const AUDIT_ACTION: Record<RolloutEffect["kind"], string> = {
  advanced: "version.rollout_advance",
  completed: "version.rollout_complete",
  halted: "version.rollout_halt",
  paused: "version.rollout_pause",
  resumed: "version.rollout_resume",
};

/** Runs one event through the machine, stores the state, applies and audits its effects. Returns whether anything changed. */
export async function applyRolloutEvent(tx: Tx, r: RolloutRow, event: RolloutEvent, change: ChangeContext): Promise<boolean> {
  let next: ReturnType<typeof stepRollout>;
  try {
    next = stepRollout(r.state as RolloutState, event);
  } catch (err) {
    if (err instanceof RolloutRefused) throw new DomainError("versions.rollout_state", err.message, { status: r.status });
    throw err;
  }
  if (next.effects.length === 0) return false;
  await updateRollout(tx, r.id, next.state.status, next.state);
  for (const e of next.effects) {
    // A completed rollout leaves its channel on the new version.
    if (e.kind === "completed") await setChannel(tx, r.clusterId, r.channel, r.toVersion);
    await appendAudit(tx, {
      change,
      action: AUDIT_ACTION[e.kind],
      targetType: "rollout",
      targetId: r.id,
      outcome: "success",
      reason: e.kind === "halted" ? e.reason : null,
      details: { cluster_id: r.clusterId, channel: r.channel, from: r.fromVersion, to: r.toVersion, ...e },
    });
  }
  return true;
}

/** Counts the rollout's rings from the nodes' stored update states and runs a tally through the machine. */
export async function tallyRollout(tx: Tx, rolloutId: string, now: Date, change: ChangeContext): Promise<boolean> {
  const r = await getRollout(tx, rolloutId, true);
  if (!r || (r.status !== "active" && r.status !== "paused")) return false;
  const rings: Record<string, RingTally> = {};
  for (const n of await clusterNodeUpdates(tx, r.clusterId)) {
    if (n.channel !== r.channel || n.status !== "active") continue;
    const t = rings[n.ring] ?? { total: 0, running: 0, failed: 0 };
    rings[n.ring] = t;
    t.total++;
    if (n.current === r.toVersion && (n.state === "running" || n.state === "idle")) t.running++;
    else if ((n.state === "rolled_back" || n.state === "failed") && (n.target === r.toVersion || n.failed === r.toVersion)) t.failed++;
  }
  return applyRolloutEvent(tx, r, { type: "tally", at: now.toISOString(), rings }, change);
}
