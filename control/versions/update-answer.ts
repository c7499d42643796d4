/**
 * The heartbeat's side of rollouts, kept cheap because heartbeats are the
 * hottest path (docs/bench/heartbeats.md): what a node is asked to run comes
 * from a per-cluster plan cached in memory for `PLAN_TTL_MS` (and dropped at
 * once when this replica changes a channel, ring or rollout), and a node's
 * reported update state (`telemetry.update`) reaches the database, and the
 * rollout's tally, only when it differs from the last one this replica saw.
 */
import * as v from "valibot";
import { systemChange } from "../../core/change.ts";
import { newTraceId } from "../../core/ids.ts";
import { desiredVersion, type RolloutState } from "../../core/updates/rollout.ts";
import type { Db } from "../../sql/db.ts";
import { governingRollouts, listChannels, type RolloutRow, updateCacheUrls, upsertNodeUpdateState } from "../../sql/versions.ts";
import type { Logger } from "../../core/log.ts";
import { tallyRollout } from "./rollout-events.ts";

/** How long a replica answers from a cached plan; another replica's change is seen within this. */
export const PLAN_TTL_MS = 2_000;

/** Update states that end an attempt (agent/updates/machine.ts); a rollout is tallied only when a node reaches one. */
const SETTLED = new Set(["idle", "running", "rolled_back", "failed"]);

export interface ClusterPlan {
  loadedAt: number;
  channels: Map<string, { version: string | null; updatedAt: string }>;
  rollouts: Map<string, RolloutRow>;
  settings: Map<string, { channel: string; ring: string }>;
  cacheUrls: string[];
  blocked: Set<string>;
}

/** What an agent reports as `telemetry.update` (agent/updates/updater.ts telemetry()); read leniently, it is the agent's word. */
const Reported = v.object({
  state: v.pipe(v.string(), v.maxLength(32)),
  current: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(64)))),
  target: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(64)))),
  failed: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(64)))),
  reason: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(300)))),
});
type Reported = v.InferOutput<typeof Reported>;

export interface UpdateRequestAnswer {
  request_id: string;
  version: string;
  sources: string[];
}

export class UpdatePolicyCache {
  private readonly plans = new Map<string, Promise<ClusterPlan>>();
  private readonly lastReported = new Map<string, string>();

  invalidate(): void {
    this.plans.clear();
  }

  async plan(db: Db, clusterId: string): Promise<ClusterPlan> {
    const cached = this.plans.get(clusterId);
    if (cached) {
      const p = await cached.catch(() => undefined);
      if (p && Date.now() - p.loadedAt < PLAN_TTL_MS) return p;
      if (this.plans.get(clusterId) !== cached) return this.plan(db, clusterId);
    }
    const loading = loadPlan(db, clusterId);
    this.plans.set(clusterId, loading);
    loading.catch(() => this.plans.delete(clusterId));
    return loading;
  }

  /** True when `report` differs from the last one this replica saw for the node (and remembers it). */
  changed(nodeId: string, report: Reported): boolean {
    const key = JSON.stringify([report.state, report.current ?? null, report.target ?? null, report.failed ?? null, report.reason ?? null]);
    if (this.lastReported.get(nodeId) === key) return false;
    this.lastReported.set(nodeId, key);
    return true;
  }

  forget(nodeId: string): void {
    this.lastReported.delete(nodeId);
  }
}

/** A cluster's update policy as heartbeats answer from it (the cache holds it for PLAN_TTL_MS). */
export async function loadPlan(db: Db, clusterId: string): Promise<ClusterPlan> {
  const [channels, rollouts, settings, cacheUrls, blocked] = await Promise.all([
    listChannels(db, clusterId),
    governingRollouts(db, clusterId),
    db.query<{ node_id: string; channel: string; ring: string }>("select node_id::text, channel, ring from node_update_settings where cluster_id = $1", [
      clusterId,
    ]),
    updateCacheUrls(db, clusterId),
    db.query<{ version: string }>("select version from releases where blocked_at is not null"),
  ]);
  const channelMap = new Map(channels.map((c) => [c.channel, { version: c.version, updatedAt: c.updatedAt }]));
  return {
    loadedAt: Date.now(),
    channels: channelMap,
    // A halted rollout keeps its nodes on the previous version until the channel is pointed again by hand.
    rollouts: new Map(
      rollouts
        .filter((r) => r.status !== "halted" || Date.parse(channelMap.get(r.channel)?.updatedAt ?? "") <= Date.parse(r.updatedAt) || !channelMap.has(r.channel))
        .map((r) => [r.channel, r]),
    ),
    settings: new Map(settings.map((s) => [s.node_id, { channel: s.channel, ring: s.ring }])),
    cacheUrls,
    blocked: new Set(blocked.map((b) => b.version)),
  };
}

/** The version `nodeId` is asked to run and the request's id, from the plan; null: nothing to ask. */
export function requestFor(plan: ClusterPlan, clusterId: string, nodeId: string, running: string | null, storageUrl: string): UpdateRequestAnswer | null {
  const s = plan.settings.get(nodeId) ?? { channel: "stable", ring: "default" };
  const channel = plan.channels.get(s.channel);
  const rollout = plan.rollouts.get(s.channel);
  const version = desiredVersion(
    channel?.version ?? null,
    rollout ? { state: rollout.state as RolloutState, from: rollout.fromVersion, to: rollout.toVersion } : null,
    s.ring,
  );
  if (!version || version === running || plan.blocked.has(version)) return null;
  // One id per decision: the agent tries an id once, so a new decision (a new rollout, a halt, a re-pointed channel) is a new id.
  const request_id = rollout
    ? `rollout:${rollout.id}:${rollout.status === "halted" ? "back" : "to"}:${version}`
    : `channel:${clusterId}:${s.channel}:${channel?.updatedAt ?? ""}:${version}`;
  return { request_id, version, sources: [...plan.cacheUrls, storageUrl] };
}

/**
 * Answers a heartbeat's `update` and records the node's reported update
 * state when it changed; a change also tallies the open rollout of the
 * node's channel, which may advance or halt it.
 */
export async function heartbeatUpdate(
  deps: { db: Db; log: Logger; cache: UpdatePolicyCache; now: Date },
  node: { nodeId: string; clusterId: string },
  telemetry: Record<string, unknown>,
  agentVersion: string | null,
  storageUrl: string,
): Promise<UpdateRequestAnswer | null> {
  const parsed = v.safeParse(Reported, telemetry.update);
  const report = parsed.success ? parsed.output : undefined;
  let plan: ClusterPlan;
  try {
    plan = await deps.cache.plan(deps.db, node.clusterId);
  } catch (err) {
    // The heartbeat is already durable: without the policy it is answered with no update, never refused.
    deps.log.warn("update policy not loaded", { err });
    return null;
  }
  if (report && deps.cache.changed(node.nodeId, report)) {
    try {
      if (await recordReport(deps, node, report, plan)) {
        deps.cache.invalidate();
        plan = await deps.cache.plan(deps.db, node.clusterId);
      }
    } catch (err) {
      // Not recorded now: forgotten, so the next heartbeat tries again; the heartbeat itself is already durable.
      deps.cache.forget(node.nodeId);
      deps.log.warn("update state not recorded", { err });
    }
  }
  return requestFor(plan, node.clusterId, node.nodeId, report?.current ?? agentVersion, storageUrl);
}

/** Stores the report; tallies the node's channel's open rollout. True when the rollout moved. */
async function recordReport(deps: { db: Db; now: Date }, node: { nodeId: string; clusterId: string }, report: Reported, plan: ClusterPlan): Promise<boolean> {
  const channel = plan.settings.get(node.nodeId)?.channel ?? "stable";
  const open = plan.rollouts.get(channel);
  return deps.db.transaction(async (tx) => {
    await upsertNodeUpdateState(tx, {
      nodeId: node.nodeId,
      clusterId: node.clusterId,
      state: report.state,
      current: report.current ?? null,
      target: report.target ?? null,
      failed: report.failed ?? null,
      reason: report.reason ?? null,
      at: deps.now,
    });
    // Only a settled state moves a ring's counts (running on the version, rolled back, failed); the steps between do not.
    if (!open || (open.status !== "active" && open.status !== "paused") || !SETTLED.has(report.state)) return false;
    return tallyRollout(tx, open.id, deps.now, systemChange("agent", newTraceId()));
  });
}
