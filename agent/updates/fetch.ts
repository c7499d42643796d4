/**
 * Fetches one release for this host through TUF (tuf-js): the signed
 * metadata from the first source that answers (the assigned update cache,
 * then version storage), the release manifest as a signed target, and the
 * one artifact that fits this host's OS, architecture and role. Nothing here
 * runs anything: the caller unpacks and starts only what this returned.
 *
 * All sources share one metadata directory, so what one source has shown
 * (versions, the current root) binds the others: an update cache that
 * replays older metadata is refused like any other rollback.
 */
import { access, copyFile, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Updater } from "tuf-js";
import * as v from "valibot";
import { manifestTarget, pickArtifact, type ArtifactRef, ReleaseManifest } from "../../core/updates/manifest.ts";

/** Why an update did not happen: `refused` (a security check failed: never retried into running it) or `unreachable`. */
export class UpdateFetchError extends Error {
  constructor(
    readonly kind: "refused" | "unreachable",
    message: string,
    readonly source?: string,
  ) {
    super(message);
  }
}

export interface HostTarget {
  os: string;
  arch: string;
}

export interface FetchedRelease {
  manifest: ReleaseManifest;
  artifact: ArtifactRef;
  /** The verified file on disk (hash and length checked against signed targets). */
  file: string;
  /** The base URL it came from. */
  source: string;
  /** The workloads of the asked roles that the release carries, verified like the agent. */
  workloads: FetchedWorkload[];
}

export interface FetchedWorkload {
  role: string;
  artifact: ArtifactRef;
  file: string;
}

/** Network-level failures (no answer, HTTP errors) move on to the next source; every other failure is a refusal. */
function classify(err: unknown, source: string): UpdateFetchError {
  if (err instanceof UpdateFetchError) return err;
  const name = (err as Error)?.constructor?.name ?? "";
  const message = err instanceof Error ? err.message : String(err);
  if (name === "DownloadHTTPError" || name === "TypeError" || /ECONNREFUSED|fetch failed|Unable to connect|socket/i.test(message))
    return new UpdateFetchError("unreachable", `${source}: ${message}`, source);
  return new UpdateFetchError("refused", `${name || "error"}: ${message}`, source);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * The agent's TUF state: `stateDir/metadata` holds the trusted root (seeded
 * from `trustedRootFile`, the root.json installed with the agent, on first use)
 * and the newest metadata seen; `stateDir/downloads` the verified files.
 */
export async function fetchRelease(opts: {
  stateDir: string;
  trustedRootFile: string;
  sources: string[];
  version: string;
  host: HostTarget;
  /** A role's workload; undefined for the agent itself. */
  role?: string;
  /** With the agent, also fetch the workloads of these roles (this node's) that the release carries. */
  workloadRoles?: string[];
  /** The version this node runs: its signed manifest is passed to `onManifest` too (a downgrade needs its rules). */
  runningVersion?: string;
  /** Called with the verified manifest (and the running version's, when signed) before the artifact is downloaded; throwing stops the fetch. */
  onManifest?: (m: ReleaseManifest, running?: ReleaseManifest) => Promise<void>;
}): Promise<FetchedRelease> {
  const metadataDir = join(opts.stateDir, "metadata");
  const targetDir = join(opts.stateDir, "downloads");
  await mkdir(metadataDir, { recursive: true, mode: 0o700 });
  await mkdir(targetDir, { recursive: true, mode: 0o700 });
  if (!(await exists(join(metadataDir, "root.json")))) await copyFile(opts.trustedRootFile, join(metadataDir, "root.json"));
  if (opts.sources.length === 0) throw new UpdateFetchError("unreachable", "no update source is configured");
  const failures: UpdateFetchError[] = [];
  for (const source of opts.sources) {
    const base = source.replace(/\/+$/, "");
    try {
      return await fetchFrom(base, metadataDir, targetDir, opts);
    } catch (err) {
      const failure = classify(err, base);
      failures.push(failure);
      // A refusal is final for this release: another source cannot make a bad signature good,
      // and trying on would let a hostile first source hide behind a good second one in the report.
      if (failure.kind === "refused") throw failure;
    }
  }
  throw failures.at(-1) as UpdateFetchError;
}

async function fetchFrom(
  base: string,
  metadataDir: string,
  targetDir: string,
  opts: {
    version: string;
    host: HostTarget;
    role?: string;
    runningVersion?: string;
    workloadRoles?: string[];
    onManifest?: (m: ReleaseManifest, running?: ReleaseManifest) => Promise<void>;
  },
): Promise<FetchedRelease> {
  const updater = new Updater({
    metadataDir,
    metadataBaseUrl: `${base}/metadata/`,
    targetDir,
    targetBaseUrl: `${base}/targets/`,
    config: { fetchRetries: 0, fetchRetry: 0, fetchTimeout: 30_000 },
  });
  await updater.refresh();
  const manifest = await signedManifest(updater, targetDir, opts.version, base);
  if (!manifest) throw new UpdateFetchError("refused", `release ${opts.version} is not in the signed repository`, base);
  // Going back needs the running release's own signed rules (downgrade_allowed, min_rollback_version).
  const running = opts.runningVersion && opts.runningVersion !== opts.version ? await signedManifest(updater, targetDir, opts.runningVersion, base) : undefined;
  await opts.onManifest?.(manifest, running);
  const what = opts.role === undefined ? "agent" : `${opts.role} workload`;
  const artifact = pickArtifact(manifest, opts.host, opts.role);
  if (!artifact) throw new UpdateFetchError("refused", `release ${opts.version} has no ${what} for ${opts.host.os}-${opts.host.arch}`, base);
  const file = await downloadArtifact(updater, targetDir, artifact, opts.host, base);
  // The workloads of this node's roles that the release carries; a role without one keeps its configured command.
  const workloads: FetchedWorkload[] = [];
  for (const role of opts.workloadRoles ?? []) {
    const w = pickArtifact(manifest, opts.host, role);
    if (w) workloads.push({ role, artifact: w, file: await downloadArtifact(updater, targetDir, w, opts.host, base) });
  }
  return { manifest, artifact, file, source: base, workloads };
}

/** Downloads one artifact the manifest lists, after checking the signed targets say the same hash, length, OS and architecture. */
async function downloadArtifact(updater: Updater, targetDir: string, artifact: ArtifactRef, host: HostTarget, base: string): Promise<string> {
  const info = await updater.getTargetInfo(artifact.target);
  if (!info) throw new UpdateFetchError("refused", `${artifact.target} is listed in the manifest but not signed in the repository`, base);
  const custom = (info.custom ?? {}) as Record<string, unknown>;
  if (info.hashes.sha256 !== artifact.sha256 || info.length !== artifact.length)
    throw new UpdateFetchError("refused", `${artifact.target}: the manifest's hash differs from the signed targets`, base);
  if (custom.os !== host.os || custom.arch !== host.arch)
    throw new UpdateFetchError(
      "refused",
      `${artifact.target} is signed as ${String(custom.os)}-${String(custom.arch)}, this host is ${host.os}-${host.arch}`,
      base,
    );
  return updater.downloadTarget(info, join(targetDir, `${artifact.sha256}.tar.gz`));
}

/** A release's manifest as a signed target, checked against the contract; undefined when the repository does not list it. */
async function signedManifest(updater: Updater, targetDir: string, version: string, base: string): Promise<ReleaseManifest | undefined> {
  const info = await updater.getTargetInfo(manifestTarget(version));
  if (!info) return undefined;
  const file = await updater.downloadTarget(info, join(targetDir, `manifest-${version}.json`));
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch {
    throw new UpdateFetchError("refused", `the manifest of ${version} is not JSON`, base);
  }
  const m = v.safeParse(ReleaseManifest, parsed);
  if (!m.success) throw new UpdateFetchError("refused", `the manifest of ${version} is malformed: ${m.issues[0]?.message}`, base);
  if (m.output.version !== version) throw new UpdateFetchError("refused", `the manifest at ${version} says version ${m.output.version}`, base);
  return m.output;
}
