/**
 * Version storage's reads: releases and their files, and one cluster's
 * update picture (channels, rollouts with progress per ring, each node's
 * channel, ring and reported update state) for the console and the API.
 */
import type { ControlDeps } from "../deps.ts";
import { DomainError } from "../../core/errors.ts";
import { RELEASE_CHANNELS } from "../../core/updates/manifest.ts";
import type { RolloutState } from "../../core/updates/rollout.ts";
import { type ClusterPlan, loadPlan, requestFor } from "./update-answer.ts";
import { getCluster } from "../../sql/clusters.ts";
import {
  clusterNodeUpdates,
  getRelease,
  listChannels,
  listReleases,
  listRollouts,
  metadataAt,
  newestMetadata,
  type ReleaseRow,
  releaseArtifacts,
} from "../../sql/versions.ts";

type Deps = Pick<ControlDeps, "db">;

const releaseWire = (r: ReleaseRow) => ({
  version: r.version,
  proposed_channel: r.proposedChannel,
  published_at: r.publishedAt,
  published_by: r.publishedBy,
  targets_version: r.targetsVersion,
  blocked: r.blockedAt !== null,
  blocked_at: r.blockedAt,
  blocked_reason: r.blockedReason,
});

export async function releases(deps: Deps) {
  return { items: (await listReleases(deps.db)).map(releaseWire) };
}

export async function release(deps: Deps, version: string) {
  const r = await getRelease(deps.db, version);
  if (!r) throw new DomainError("versions.release_not_found", "no such release", { version });
  return { ...releaseWire(r), manifest: r.manifest, artifacts: await releaseArtifacts(deps.db, version) };
}

export async function clusterUpdates(deps: Deps, clusterId: string) {
  if (!(await getCluster(deps.db, clusterId))) throw new DomainError("cluster.not_found", "no such cluster", { id: clusterId });
  const [channels, rollouts, nodes, plan] = await Promise.all([
    listChannels(deps.db, clusterId),
    listRollouts(deps.db, clusterId),
    clusterNodeUpdates(deps.db, clusterId),
    loadPlan(deps.db, clusterId),
  ]);
  return {
    channels: RELEASE_CHANNELS.map((ch) => {
      const c = channels.find((x) => x.channel === ch);
      return { channel: ch, version: c?.version ?? null, updated_at: c?.updatedAt ?? null };
    }),
    rollouts: rollouts.map((r) => {
      const s = r.state as RolloutState;
      return {
        id: r.id,
        channel: r.channel,
        from_version: r.fromVersion,
        to_version: r.toVersion,
        status: r.status,
        ring_index: s.ring_index,
        advance_share: s.advance_share,
        halt_share: s.halt_share,
        halted_reason: s.halted_reason,
        created_at: r.createdAt,
        updated_at: r.updatedAt,
        rings: s.rings.map((ring, i) => {
          const members = nodes.filter((n) => n.channel === r.channel && n.ring === ring && n.status === "active");
          return {
            ring,
            reached: r.status === "completed" || i <= s.ring_index,
            nodes: members.length,
            running: members.filter((n) => n.current === r.toVersion && (n.state === "running" || n.state === "idle")).length,
            failed: members.filter((n) => (n.state === "rolled_back" || n.state === "failed") && (n.target === r.toVersion || n.failed === r.toVersion)).length,
          };
        }),
      };
    }),
    nodes: nodes.map((n) => ({
      node_id: n.nodeId,
      name: n.name,
      status: n.status,
      channel: n.channel,
      ring: n.ring,
      update: n.state === null ? null : { state: n.state, current: n.current, target: n.target, failed: n.failed, reason: n.reason, reported_at: n.reportedAt },
      // What its heartbeats are answered now: the version asked for and the request's id (null: nothing asked).
      asked: asked(plan, clusterId, n.nodeId, n.current),
    })),
  };
}

function asked(plan: ClusterPlan, clusterId: string, nodeId: string, current: string | null) {
  const r = requestFor(plan, clusterId, nodeId, current, "");
  return r && { version: r.version, request_id: r.request_id };
}

const META = /^(?:(\d{1,9})\.(root|targets|snapshot)|timestamp)\.json$/;

/** A metadata document as stored (what tuf-js verified), by its file name; undefined when there is none. */
export async function repositoryMetadata(deps: Deps, file: string): Promise<string | undefined> {
  const m = META.exec(file);
  if (!m) return undefined;
  if (!m[1]) return (await newestMetadata(deps.db, "timestamp"))?.body;
  return metadataAt(deps.db, m[2] as "root" | "targets" | "snapshot", Number(m[1]));
}
