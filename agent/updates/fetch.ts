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
  /** Called with the verified manifest before the artifact is downloaded; throwing stops the fetch. */
  onManifest?: (m: ReleaseManifest) => Promise<void>;
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
  opts: { version: string; host: HostTarget; role?: string; onManifest?: (m: ReleaseManifest) => Promise<void> },
): Promise<FetchedRelease> {
  const updater = new Updater({
    metadataDir,
    metadataBaseUrl: `${base}/metadata/`,
    targetDir,
    targetBaseUrl: `${base}/targets/`,
    config: { fetchRetries: 0, fetchRetry: 0, fetchTimeout: 30_000 },
  });
  await updater.refresh();
  const manifestInfo = await updater.getTargetInfo(manifestTarget(opts.version));
  if (!manifestInfo) throw new UpdateFetchError("refused", `release ${opts.version} is not in the signed repository`, base);
  const manifestFile = await updater.downloadTarget(manifestInfo, join(targetDir, `manifest-${opts.version}.json`));
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(manifestFile, "utf8"));
  } catch {
    throw new UpdateFetchError("refused", `the manifest of ${opts.version} is not JSON`, base);
  }
  const m = v.safeParse(ReleaseManifest, parsed);
  if (!m.success) throw new UpdateFetchError("refused", `the manifest of ${opts.version} is malformed: ${m.issues[0]?.message}`, base);
  const manifest = m.output;
  if (manifest.version !== opts.version) throw new UpdateFetchError("refused", `the manifest at ${opts.version} says version ${manifest.version}`, base);
  await opts.onManifest?.(manifest);
  const what = opts.role === undefined ? "agent" : `${opts.role} workload`;
  const artifact = pickArtifact(manifest, opts.host, opts.role);
  if (!artifact) throw new UpdateFetchError("refused", `release ${opts.version} has no ${what} for ${opts.host.os}-${opts.host.arch}`, base);
  const info = await updater.getTargetInfo(artifact.target);
  if (!info) throw new UpdateFetchError("refused", `${artifact.target} is listed in the manifest but not signed in the repository`, base);
  const custom = (info.custom ?? {}) as Record<string, unknown>;
  if (info.hashes.sha256 !== artifact.sha256 || info.length !== artifact.length)
    throw new UpdateFetchError("refused", `${artifact.target}: the manifest's hash differs from the signed targets`, base);
  if (custom.os !== opts.host.os || custom.arch !== opts.host.arch)
    throw new UpdateFetchError(
      "refused",
      `${artifact.target} is signed as ${String(custom.os)}-${String(custom.arch)}, this host is ${opts.host.os}-${opts.host.arch}`,
      base,
    );
  const file = await updater.downloadTarget(info, join(targetDir, `${artifact.sha256}.tar.gz`));
  return { manifest, artifact, file, source: base };
}
