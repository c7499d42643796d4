/**
 * The release manifest: what one release of the platform ships, as the
 * release tooling writes it and the agent reads it. It travels as a TUF
 * target (core/updates/tuf.ts), so its bytes are covered by the release key's
 * signature chain; this module only says what a well-formed one contains and
 * answers the pure questions the agent and the control plane ask of it
 * (which artifact fits this host, may this node move from A to B).
 */
import * as v from "valibot";
import { NODE_ROLES } from "../contracts/roles.ts";

export const MANIFEST_TYPE = "rap.release_manifest.v1";
export const RELEASE_CHANNELS = ["stable", "current", "candidate"] as const;
export type ReleaseChannel = (typeof RELEASE_CHANNELS)[number];
export const UPDATE_OSES = ["linux"] as const;
export const UPDATE_ARCHES = ["x64", "arm64"] as const;

/** MAJOR.MINOR.PATCH: ordered numerically; no pre-release tags (channels say how ready a version is). */
export const ReleaseVersion = v.pipe(v.string(), v.regex(/^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$/, "a version is MAJOR.MINOR.PATCH"));

/** A file inside the TUF repository's targets (relative, no `..`, no leading slash). */
const TargetPath = v.pipe(v.string(), v.maxLength(300), v.regex(/^(?!.*\.\.)[a-z0-9][a-z0-9._/-]*$/, "a target path is lower-case, relative and has no .."));
const Sha256Hex = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/));

/** One runnable file for one OS/architecture: the agent itself or a workload. */
export const ArtifactRef = v.strictObject({
  target: TargetPath,
  os: v.picklist(UPDATE_OSES),
  arch: v.picklist(UPDATE_ARCHES),
  sha256: Sha256Hex,
  length: v.pipe(v.number(), v.integer(), v.minValue(1)),
});
export type ArtifactRef = v.InferOutput<typeof ArtifactRef>;

/**
 * A migration of node-local or service-local state, run by the agent only
 * because the signed manifest lists it (spec: "Data Structure and Migration
 * Updates"). PostgreSQL migrations are never here: the control plane's own
 * release process runs those.
 */
export const MigrationBundle = v.strictObject({
  id: v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9_-]{0,62}$/)),
  kind: v.picklist(["node_local_state", "service_local_data", "cache_format", "protocol_config"]),
  from_version: ReleaseVersion,
  to_version: ReleaseVersion,
  preflight: v.array(v.pipe(v.string(), v.maxLength(200)), "preflight checks, as operators read them"),
  backup_required: v.boolean(),
  rollback: v.picklist(["restore_backup", "reverse_migration", "none"]),
  downgrade_possible: v.boolean(),
});
export type MigrationBundle = v.InferOutput<typeof MigrationBundle>;

export const ReleaseManifest = v.strictObject({
  typ: v.literal(MANIFEST_TYPE),
  version: ReleaseVersion,
  /** The channel the publisher proposed; the control plane decides which channel really points at it. */
  channel: v.picklist(RELEASE_CHANNELS),
  created_at: v.pipe(v.string(), v.isoTimestamp()),
  agent: v.pipe(v.array(ArtifactRef), v.minLength(1), v.maxLength(16)),
  workloads: v.record(v.picklist(NODE_ROLES), v.pipe(v.array(ArtifactRef), v.maxLength(16))),
  compatibility: v.strictObject({
    /** The oldest agent version that may update to this one directly. */
    min_agent_version: ReleaseVersion,
    /** The control-plane API the agent speaks (docs/api.md), checked before staging. */
    control_plane_api: v.literal("v1"),
  }),
  migrations: v.pipe(v.array(MigrationBundle), v.maxLength(32)),
  preflight: v.pipe(v.array(v.pipe(v.string(), v.maxLength(200))), v.maxLength(32)),
  rollback: v.strictObject({
    /** Whether a node may go back to the previous version after promoting this one. */
    downgrade_allowed: v.boolean(),
    /** Versions a node must never be rolled back to from this one (for example, before a one-way migration). */
    min_rollback_version: ReleaseVersion,
  }),
});
export type ReleaseManifest = v.InferOutput<typeof ReleaseManifest>;

/** Negative, zero or positive as `a` is older than, equal to or newer than `b`. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The target path of a release's manifest in the TUF repository. */
export const manifestTarget = (version: string): string => `releases/${version}/manifest.json`;

/** Which artifact of a release this host runs: the agent (`role` undefined) or a role's workload. */
export function pickArtifact(m: ReleaseManifest, host: { os: string; arch: string }, role?: string): ArtifactRef | undefined {
  const list = role === undefined ? m.agent : (m.workloads[role as keyof typeof m.workloads] ?? []);
  return list.find((a) => a.os === host.os && a.arch === host.arch);
}

/**
 * Whether a node on `from` may install `to` as the manifest `m` (of `to`)
 * rules it: an upgrade needs `from` ≥ min_agent_version; a downgrade (going
 * back to an older signed release) must not pass below the newer release's
 * own floor, which the caller passes as `newerManifest`.
 */
export function transitionAllowed(from: string, to: ReleaseManifest, newerManifest?: ReleaseManifest): { ok: true } | { ok: false; reason: string } {
  const order = compareVersions(to.version, from);
  if (order === 0) return { ok: true };
  if (order > 0) {
    if (compareVersions(from, to.compatibility.min_agent_version) < 0)
      return { ok: false, reason: `${to.version} needs at least ${to.compatibility.min_agent_version} first; this node runs ${from}` };
    return { ok: true };
  }
  if (!newerManifest) return { ok: false, reason: `${to.version} is older than ${from} and no signed rule allows going back` };
  if (!newerManifest.rollback.downgrade_allowed) return { ok: false, reason: `${newerManifest.version} does not allow a downgrade` };
  if (compareVersions(to.version, newerManifest.rollback.min_rollback_version) < 0)
    return { ok: false, reason: `${newerManifest.version} forbids going back below ${newerManifest.rollback.min_rollback_version}` };
  return { ok: true };
}

/**
 * Why this agent cannot run the migrations a release lists (undefined: it
 * can). The agent runs only migrations of its own store (`node_local_state`),
 * each ending at this release and starting at or below the version the node
 * runs; anything else is for another runner and the release is not installed.
 */
export function nodeMigrationProblem(m: ReleaseManifest, from: string): string | undefined {
  for (const mig of m.migrations) {
    if (mig.kind !== "node_local_state")
      return `release ${m.version} lists a ${mig.kind} migration (${mig.id}); this agent runs node_local_state migrations only`;
    if (mig.to_version !== m.version) return `migration ${mig.id} ends at ${mig.to_version}, not at release ${m.version}`;
    if (compareVersions(from, mig.from_version) < 0) return `migration ${mig.id} starts from ${mig.from_version}; this node runs ${from}`;
  }
  return undefined;
}
