/**
 * Version storage's tables (migration 0017): the signed TUF metadata as
 * uploaded, releases and their files, channels, node rings, rollouts and
 * each node's reported update state. The bytes of files are not here: the
 * ArtifactStore (control/versions/artifact-store.ts) keeps them by sha256.
 */
import { one, type Tx } from "./db.ts";

export type MetadataRole = "root" | "targets" | "snapshot" | "timestamp";

/** The newest document of a role (timestamp: the one served as timestamp.json). */
export async function newestMetadata(tx: Tx, role: MetadataRole): Promise<{ version: number; body: string } | undefined> {
  return one<{ version: number; body: string }>(tx, "select version, body from version_metadata where role = $1 order by version desc limit 1", [role]);
}

export async function metadataAt(tx: Tx, role: MetadataRole, version: number): Promise<string | undefined> {
  return (await one<{ body: string }>(tx, "select body from version_metadata where role = $1 and version = $2", [role, version]))?.body;
}

/** Inserts documents; a version stored already (a concurrent publish) is a unique violation. */
export async function insertMetadata(tx: Tx, docs: { role: MetadataRole; version: number; body: string }[]): Promise<void> {
  for (const d of docs) await tx.query("insert into version_metadata (role, version, body) values ($1, $2, $3)", [d.role, d.version, d.body]);
}

export interface ReleaseRow {
  version: string;
  proposedChannel: string;
  manifest: Record<string, unknown>;
  targetsVersion: number;
  publishedAt: string;
  publishedBy: string;
  blockedAt: string | null;
  blockedReason: string | null;
}
type RawRelease = {
  version: string;
  proposed_channel: string;
  manifest: Record<string, unknown>;
  targets_version: number;
  published_at: Date;
  published_by: string;
  blocked_at: Date | null;
  blocked_reason: string | null;
};
const R_COLS = "version, proposed_channel, manifest, targets_version, published_at, published_by, blocked_at, blocked_reason";
const toRelease = (r: RawRelease): ReleaseRow => ({
  version: r.version,
  proposedChannel: r.proposed_channel,
  manifest: r.manifest,
  targetsVersion: r.targets_version,
  publishedAt: new Date(r.published_at).toISOString(),
  publishedBy: r.published_by,
  blockedAt: r.blocked_at ? new Date(r.blocked_at).toISOString() : null,
  blockedReason: r.blocked_reason,
});

export async function insertRelease(
  tx: Tx,
  r: {
    version: string;
    proposedChannel: string;
    manifest: unknown;
    targetsVersion: number;
    publishedBy: string;
    files: { target: string; sha256: string; length: number; custom: Record<string, unknown> }[];
  },
): Promise<void> {
  await tx.query("insert into releases (version, proposed_channel, manifest, targets_version, published_by) values ($1, $2, $3::jsonb, $4, $5)", [
    r.version,
    r.proposedChannel,
    JSON.stringify(r.manifest),
    r.targetsVersion,
    r.publishedBy,
  ]);
  const str = (x: unknown) => (typeof x === "string" ? x : null);
  for (const f of r.files)
    await tx.query("insert into release_artifacts (version, target, sha256, length, kind, role, os, arch) values ($1, $2, $3, $4, $5, $6, $7, $8)", [
      r.version,
      f.target,
      f.sha256,
      f.length,
      str(f.custom.kind) ?? "file",
      str(f.custom.role),
      str(f.custom.os),
      str(f.custom.arch),
    ]);
}

export async function listReleases(tx: Tx): Promise<ReleaseRow[]> {
  return (await tx.query<RawRelease>(`select ${R_COLS} from releases order by published_at desc, version desc`)).map(toRelease);
}

export async function getRelease(tx: Tx, version: string, lock = false): Promise<ReleaseRow | undefined> {
  const r = await one<RawRelease>(tx, `select ${R_COLS} from releases where version = $1${lock ? " for update" : ""}`, [version]);
  return r && toRelease(r);
}

export async function releaseArtifacts(
  tx: Tx,
  version: string,
): Promise<{ target: string; sha256: string; length: number; kind: string; role: string | null; os: string | null; arch: string | null }[]> {
  return (
    await tx.query<{ target: string; sha256: string; length: string | number; kind: string; role: string | null; os: string | null; arch: string | null }>(
      "select target, sha256, length, kind, role, os, arch from release_artifacts where version = $1 order by target",
      [version],
    )
  ).map((r) => ({ ...r, length: Number(r.length) }));
}

/** Every stored release's files (target → sha256): a published release may not change. */
export async function storedReleaseFiles(tx: Tx): Promise<Map<string, Map<string, string>>> {
  const rows = await tx.query<{ version: string; target: string; sha256: string }>("select version, target, sha256 from release_artifacts");
  const out = new Map<string, Map<string, string>>();
  for (const r of rows) {
    const m = out.get(r.version) ?? new Map<string, string>();
    m.set(r.target, r.sha256);
    out.set(r.version, m);
  }
  return out;
}

export async function blockRelease(tx: Tx, version: string, reason: string): Promise<boolean> {
  const r = await tx.query("update releases set blocked_at = now(), blocked_reason = $2 where version = $1 and blocked_at is null returning version", [
    version,
    reason,
  ]);
  return r.length > 0;
}

export interface ChannelRow {
  channel: string;
  version: string | null;
  updatedAt: string;
}

export async function listChannels(tx: Tx, clusterId: string): Promise<ChannelRow[]> {
  return (
    await tx.query<{ channel: string; version: string | null; updated_at: Date }>(
      "select channel, version, updated_at from release_channels where cluster_id = $1 order by channel",
      [clusterId],
    )
  ).map((r) => ({ channel: r.channel, version: r.version, updatedAt: new Date(r.updated_at).toISOString() }));
}

export async function setChannel(tx: Tx, clusterId: string, channel: string, version: string | null): Promise<string | null> {
  const before = await one<{ version: string | null }>(tx, "select version from release_channels where cluster_id = $1 and channel = $2 for update", [
    clusterId,
    channel,
  ]);
  await tx.query(
    `insert into release_channels (cluster_id, channel, version) values ($1, $2, $3)
     on conflict (cluster_id, channel) do update set version = excluded.version, updated_at = now()`,
    [clusterId, channel, version],
  );
  return before?.version ?? null;
}

export async function setNodeUpdateSettings(tx: Tx, s: { nodeId: string; clusterId: string; channel: string; ring: string }): Promise<void> {
  await tx.query(
    `insert into node_update_settings (node_id, cluster_id, channel, ring) values ($1, $2, $3, $4)
     on conflict (node_id) do update set channel = excluded.channel, ring = excluded.ring, updated_at = now()`,
    [s.nodeId, s.clusterId, s.channel, s.ring],
  );
}

export interface RolloutRow {
  id: string;
  clusterId: string;
  channel: string;
  fromVersion: string | null;
  toVersion: string;
  status: string;
  state: unknown;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}
type RawRollout = {
  id: string;
  cluster_id: string;
  channel: string;
  from_version: string | null;
  to_version: string;
  status: string;
  state: unknown;
  created_by: string;
  created_at: Date;
  updated_at: Date;
};
const RO_COLS = "id::text, cluster_id::text, channel, from_version, to_version, status, state, created_by, created_at, updated_at";
const toRollout = (r: RawRollout): RolloutRow => ({
  id: r.id,
  clusterId: r.cluster_id,
  channel: r.channel,
  fromVersion: r.from_version,
  toVersion: r.to_version,
  status: r.status,
  state: r.state,
  createdBy: r.created_by,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

export async function insertRollout(
  tx: Tx,
  r: { id: string; clusterId: string; channel: string; fromVersion: string | null; toVersion: string; status: string; state: unknown; createdBy: string },
): Promise<void> {
  await tx.query(
    "insert into rollouts (id, cluster_id, channel, from_version, to_version, status, state, created_by) values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)",
    [r.id, r.clusterId, r.channel, r.fromVersion, r.toVersion, r.status, JSON.stringify(r.state), r.createdBy],
  );
}

export async function getRollout(tx: Tx, id: string, lock = false): Promise<RolloutRow | undefined> {
  const r = await one<RawRollout>(tx, `select ${RO_COLS} from rollouts where id = $1${lock ? " for update" : ""}`, [id]);
  return r && toRollout(r);
}

export async function updateRollout(tx: Tx, id: string, status: string, state: unknown): Promise<void> {
  await tx.query("update rollouts set status = $2, state = $3::jsonb, updated_at = now() where id = $1", [id, status, JSON.stringify(state)]);
}

/** Open (active or paused) rollouts, optionally of one cluster or of one target version. */
export async function openRollouts(tx: Tx, filter: { clusterId?: string; toVersion?: string } = {}): Promise<RolloutRow[]> {
  return (
    await tx.query<RawRollout>(
      `select ${RO_COLS} from rollouts where status in ('active', 'paused')
         and ($1::uuid is null or cluster_id = $1::uuid) and ($2::text is null or to_version = $2) order by created_at`,
      [filter.clusterId ?? null, filter.toVersion ?? null],
    )
  ).map(toRollout);
}

/** The rollout that decides each channel of a cluster: the newest one per channel that is open or halted (halted: back to the previous version). */
export async function governingRollouts(tx: Tx, clusterId: string): Promise<RolloutRow[]> {
  return (
    await tx.query<RawRollout>(`select distinct on (channel) ${RO_COLS} from rollouts where cluster_id = $1 order by channel, created_at desc, id desc`, [
      clusterId,
    ])
  )
    .map(toRollout)
    .filter((r) => r.status !== "completed");
}

export async function listRollouts(tx: Tx, clusterId: string): Promise<RolloutRow[]> {
  return (await tx.query<RawRollout>(`select ${RO_COLS} from rollouts where cluster_id = $1 order by created_at desc limit 100`, [clusterId])).map(toRollout);
}

export interface NodeUpdateRow {
  nodeId: string;
  name: string;
  status: string;
  channel: string;
  ring: string;
  state: string | null;
  current: string | null;
  target: string | null;
  failed: string | null;
  reason: string | null;
  reportedAt: string | null;
}

/** Every node of a cluster with its channel, ring and last reported update state. */
export async function clusterNodeUpdates(tx: Tx, clusterId: string): Promise<NodeUpdateRow[]> {
  return (
    await tx.query<{
      node_id: string;
      name: string;
      status: string;
      channel: string | null;
      ring: string | null;
      state: string | null;
      current: string | null;
      target: string | null;
      failed: string | null;
      reason: string | null;
      reported_at: Date | null;
    }>(
      `select n.id::text as node_id, n.name, n.status, s.channel, s.ring, u.state, u.current, u.target, u.failed, u.reason, u.reported_at
         from nodes n
         left join node_update_settings s on s.node_id = n.id
         left join node_update_state u on u.node_id = n.id
        where n.cluster_id = $1 and n.status <> 'revoked'
        order by n.name, n.id`,
      [clusterId],
    )
  ).map((r) => ({
    nodeId: r.node_id,
    name: r.name,
    status: r.status,
    channel: r.channel ?? "stable",
    ring: r.ring ?? "default",
    state: r.state,
    current: r.current,
    target: r.target,
    failed: r.failed,
    reason: r.reason,
    reportedAt: r.reported_at ? new Date(r.reported_at).toISOString() : null,
  }));
}

export async function upsertNodeUpdateState(
  tx: Tx,
  s: {
    nodeId: string;
    clusterId: string;
    state: string;
    current: string | null;
    target: string | null;
    failed: string | null;
    reason: string | null;
    at: Date;
  },
): Promise<void> {
  await tx.query(
    `insert into node_update_state (node_id, cluster_id, state, current, target, failed, reason, reported_at) values ($1, $2, $3, $4, $5, $6, $7, $8)
     on conflict (node_id) do update set state = excluded.state, current = excluded.current, target = excluded.target,
       failed = excluded.failed, reason = excluded.reason, reported_at = excluded.reported_at`,
    [s.nodeId, s.clusterId, s.state, s.current, s.target, s.failed, s.reason, s.at.toISOString()],
  );
}

/** Active update-cache role assignments of a cluster with the cache URL their policy names. */
export async function updateCacheUrls(tx: Tx, clusterId: string): Promise<string[]> {
  return (
    await tx.query<{ url: string }>(
      `select policy->>'cache_url' as url from node_role_assignments a join nodes n on n.id = a.node_id
        where a.cluster_id = $1 and a.role = 'update-cache' and a.status = 'active' and n.status = 'active' and policy ? 'cache_url'
        order by a.assigned_at, a.id`,
      [clusterId],
    )
  ).map((r) => r.url);
}
