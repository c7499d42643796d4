/**
 * Version storage's commands: publish a verified repository generation,
 * blocklist a release, point a channel, put a node in a channel and ring,
 * and start, pause, resume and halt rollouts (core/updates/rollout.ts is
 * the machine; its state is stored in `rollouts`). Each appends an audit row
 * in its own transaction.
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import { appendAudit } from "../../sql/audit.ts";
import { isUniqueViolation, type Tx } from "../../sql/db.ts";
import { getCluster } from "../../sql/clusters.ts";
import {
  blockRelease,
  getRelease,
  getRollout,
  insertMetadata,
  insertRelease,
  insertRollout,
  listChannels,
  newestMetadata,
  openRollouts,
  type RolloutRow,
  setChannel,
  setNodeUpdateSettings,
  storedReleaseFiles,
} from "../../sql/versions.ts";
import { type RolloutEvent, startRollout } from "../../core/updates/rollout.ts";
import { applyRolloutEvent, tallyRollout } from "./rollout-events.ts";
import { type UploadedGeneration, verifyGeneration } from "./verify.ts";

type Deps = Pick<ControlDeps, "db" | "identity" | "fabric" | "clock" | "log">;

/** Verifies an uploaded generation against the Product Root and what is stored, then stores it and records its releases. */
export async function publishGeneration(
  deps: Deps,
  upload: UploadedGeneration,
  change: ChangeContext,
): Promise<{ timestamp_version: number; releases: string[] }> {
  const productRootB64 = deps.identity.productRoot?.publicKeyB64;
  if (!productRootB64)
    throw new DomainError("versions.no_product_root", "set INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY_B64 or _FILE: releases are verified against the Product Root");
  const vs = deps.fabric.versions;
  const [root, timestamp, snapshot, targets, known] = await Promise.all([
    newestMetadata(deps.db, "root"),
    newestMetadata(deps.db, "timestamp"),
    newestMetadata(deps.db, "snapshot"),
    newestMetadata(deps.db, "targets"),
    storedReleaseFiles(deps.db),
  ]);
  let verified: Awaited<ReturnType<typeof verifyGeneration>>;
  try {
    verified = await verifyGeneration({
      productRootB64,
      trusted: { root: root?.body, timestamp: timestamp?.body, snapshot: snapshot?.body, targets: targets?.body },
      upload,
      staged: (sha) => vs.staging.get(sha),
      stored: (sha) => vs.store.has(sha),
      knownReleases: known,
    });
  } catch (err) {
    if (err instanceof DomainError) await auditRefusal(deps, change, err);
    throw err;
  }
  // Files first: a generation is recorded only once every file it lists is in the store.
  for (const bytes of verified.blobs.values()) await vs.store.put(bytes);
  const targetsVersion = verified.documents.find((d) => d.role === "targets")?.version ?? 0;
  await deps.db
    .transaction(async (tx) => {
      await insertMetadata(tx, verified.documents);
      for (const r of verified.releases)
        await insertRelease(tx, {
          version: r.version,
          proposedChannel: r.manifest.channel,
          manifest: r.manifest,
          targetsVersion,
          publishedBy: change.author.id,
          files: r.files,
        });
      await appendAudit(tx, {
        change,
        action: "version.publish",
        targetType: "version_storage",
        targetId: String(verified.timestampVersion),
        outcome: "success",
        details: { timestamp_version: verified.timestampVersion, targets_version: targetsVersion, releases: verified.releases.map((r) => r.version) },
      });
    })
    .catch((err) => {
      if (isUniqueViolation(err)) throw new DomainError("versions.publish_conflict", "another publish stored this generation's versions first");
      throw err;
    });
  // Stored now: the staged copies are no longer needed (a refused upload's stay until pushed again or removed by hand).
  for (const sha of verified.blobs.keys()) await vs.staging.remove(sha);
  return { timestamp_version: verified.timestampVersion, releases: verified.releases.map((r) => r.version) };
}

async function auditRefusal(deps: Deps, change: ChangeContext, err: DomainError): Promise<void> {
  await deps.db
    .transaction((tx) =>
      appendAudit(tx, {
        change,
        action: "version.publish",
        targetType: "version_storage",
        outcome: "failure",
        reason: err.code,
        details: { code: err.code },
      }),
    )
    .catch((e) => deps.log.warn("refused publish not audited", { err: e }));
}

async function requireCluster(tx: Tx, clusterId: string): Promise<void> {
  if (!(await getCluster(tx, clusterId))) throw new DomainError("cluster.not_found", "no such cluster", { id: clusterId });
}

async function requireRelease(tx: Tx, version: string): Promise<void> {
  const r = await getRelease(tx, version);
  if (!r) throw new DomainError("versions.release_not_found", "no such release", { version });
  if (r.blockedAt) throw new DomainError("versions.release_blocked", "that release is blocklisted", { version });
}

/** Never offered again: no heartbeat asks for it, no channel or rollout can take it, and open rollouts to it halt. */
export async function blocklistRelease(deps: Deps, version: string, reason: string, change: ChangeContext): Promise<{ halted: string[] }> {
  const now = deps.clock();
  const halted = await deps.db.transaction(async (tx) => {
    if (!(await getRelease(tx, version, true))) throw new DomainError("versions.release_not_found", "no such release", { version });
    if (!(await blockRelease(tx, version, reason))) throw new DomainError("versions.release_already_blocked", "already blocklisted", { version });
    await appendAudit(tx, { change, action: "version.blocklist", targetType: "release", targetId: version, outcome: "success", details: { reason } });
    const out: string[] = [];
    for (const r of await openRollouts(tx, { toVersion: version })) {
      await applyRolloutEvent(tx, r, { type: "halt", at: now.toISOString(), reason: `release ${version} was blocklisted` }, change);
      out.push(r.id);
    }
    return out;
  });
  deps.fabric.versions.policy.invalidate();
  return { halted };
}

/** Points a channel at a version at once (no rings): for a first version or a manual fix; a rollout is the staged way. */
export async function pointChannel(
  deps: Deps,
  clusterId: string,
  channel: string,
  version: string,
  change: ChangeContext,
): Promise<{ previous: string | null }> {
  const previous = await deps.db.transaction(async (tx) => {
    await requireCluster(tx, clusterId);
    await requireRelease(tx, version);
    if ((await openRollouts(tx, { clusterId })).some((r) => r.channel === channel))
      throw new DomainError("versions.rollout_open", "finish or halt the channel's rollout first", { channel });
    const before = await setChannel(tx, clusterId, channel, version);
    await appendAudit(tx, {
      change,
      action: "version.channel_set",
      targetType: "cluster",
      targetId: clusterId,
      outcome: "success",
      details: { channel, version, previous: before },
    });
    return before;
  });
  deps.fabric.versions.policy.invalidate();
  return { previous };
}

export async function setNodeUpdate(deps: Deps, clusterId: string, nodeId: string, s: { channel: string; ring: string }, change: ChangeContext): Promise<void> {
  await deps.db.transaction(async (tx) => {
    const node = (await tx.query<{ cluster_id: string }>("select cluster_id::text from nodes where id = $1", [nodeId]))[0];
    if (!node || node.cluster_id !== clusterId) throw new DomainError("node.not_found", "no such node in this cluster", { id: nodeId });
    await setNodeUpdateSettings(tx, { nodeId, clusterId, channel: s.channel, ring: s.ring });
    await appendAudit(tx, { change, action: "version.node_ring_set", targetType: "node", targetId: nodeId, outcome: "success", details: { ...s } });
  });
  deps.fabric.versions.policy.invalidate();
}

export interface StartRollout {
  channel: string;
  version: string;
  rings: string[];
  advance_share: number;
  halt_share: number;
}

export async function beginRollout(deps: Deps, clusterId: string, input: StartRollout, change: ChangeContext): Promise<RolloutRow> {
  const now = deps.clock();
  const row = await deps.db.transaction(async (tx) => {
    await requireCluster(tx, clusterId);
    await requireRelease(tx, input.version);
    const channels = await listChannels(tx, clusterId);
    const from = channels.find((c) => c.channel === input.channel)?.version ?? null;
    if (from === input.version) throw new DomainError("versions.same_version", "the channel already points at that version", { version: input.version });
    const id = newId(now.getTime());
    const state = startRollout({ rings: input.rings, advance_share: input.advance_share, halt_share: input.halt_share, at: now.toISOString() });
    await insertRollout(tx, {
      id,
      clusterId,
      channel: input.channel,
      fromVersion: from,
      toVersion: input.version,
      status: state.status,
      state,
      createdBy: change.author.id,
    }).catch((err) => {
      if (isUniqueViolation(err)) throw new DomainError("versions.rollout_open", "this channel already has an open rollout", { channel: input.channel });
      throw err;
    });
    await appendAudit(tx, {
      change,
      action: "version.rollout_start",
      targetType: "rollout",
      targetId: id,
      outcome: "success",
      details: { cluster_id: clusterId, channel: input.channel, from, to: input.version, rings: input.rings },
    });
    // Rings with no nodes are passed at once.
    await tallyRollout(tx, id, now, change);
    return (await getRollout(tx, id)) as RolloutRow;
  });
  deps.fabric.versions.policy.invalidate();
  return row;
}

/** An operator's pause, resume or halt. */
export async function commandRollout(
  deps: Deps,
  clusterId: string,
  rolloutId: string,
  command: { type: "pause" } | { type: "resume" } | { type: "halt"; reason: string },
  change: ChangeContext,
): Promise<RolloutRow> {
  const at = deps.clock().toISOString();
  const row = await deps.db.transaction(async (tx) => {
    const r = await getRollout(tx, rolloutId, true);
    if (!r || r.clusterId !== clusterId) throw new DomainError("versions.rollout_not_found", "no such rollout", { id: rolloutId });
    await applyRolloutEvent(tx, r, { ...command, at } as RolloutEvent, change);
    if (command.type === "resume") await tallyRollout(tx, rolloutId, new Date(at), change);
    return (await getRollout(tx, rolloutId)) as RolloutRow;
  });
  deps.fabric.versions.policy.invalidate();
  return row;
}
