/**
 * Publishes a built release into a TUF repository directory (the layout the
 * control plane's version storage imports and serves, docs/updates.md):
 *
 *   metadata/N.root.json          root versions, signed by the Product Root
 *   metadata/N.targets.json       every published file with length, sha256 and custom (os, arch, kind, version)
 *   metadata/N.snapshot.json      the targets version
 *   metadata/timestamp.json       the snapshot version; short-lived, so a frozen feed expires
 *   targets/<dir>/<sha256>.<name> the files, content-addressed
 *
 * Each publish signs one new generation whose versions are the previous ones
 * plus one; a published version is immutable (publishing it again is refused).
 */
import { copyFile, mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Metadata, MetadataKind, type Root, type TargetFile } from "@tufjs/models";
import { manifestTarget, type ReleaseManifest } from "../../core/updates/manifest.ts";
import { metadataBytes, publishGeneration, roleKeyIds, type SigningKey, targetFile, timestampMetadata } from "../../core/updates/tuf.ts";
import type { BuiltFile } from "./build.ts";

export class PublishError extends Error {}

async function writeAtomic(file: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, bytes);
  await rename(tmp, file);
}

async function readJson(file: string): Promise<Record<string, unknown> | undefined> {
  const text = await readFile(file, "utf8").catch(() => undefined);
  return text === undefined ? undefined : JSON.parse(text);
}

/** The repository's current generation: versions and the targets it lists. */
export async function currentGeneration(
  repoDir: string,
): Promise<{ versions?: { targets: number; snapshot: number; timestamp: number }; targets: TargetFile[] }> {
  const ts = await readJson(join(repoDir, "metadata/timestamp.json"));
  if (!ts) return { targets: [] };
  const timestamp = Metadata.fromJSON(MetadataKind.Timestamp, ts as never);
  const snapVersion = timestamp.signed.snapshotMeta.version;
  const snap = Metadata.fromJSON(MetadataKind.Snapshot, (await readJson(join(repoDir, `metadata/${snapVersion}.snapshot.json`))) as never);
  const targetsVersion = snap.signed.meta["targets.json"]?.version;
  if (targetsVersion === undefined) throw new PublishError("the repository's snapshot names no targets.json");
  const targets = Metadata.fromJSON(MetadataKind.Targets, (await readJson(join(repoDir, `metadata/${targetsVersion}.targets.json`))) as never);
  return {
    versions: { targets: targetsVersion, snapshot: snapVersion, timestamp: timestamp.signed.version },
    targets: Object.values(targets.signed.targets),
  };
}

/** Where a target's bytes live in a consistent-snapshot repository. */
export function targetStoragePath(path: string, sha256: string): string {
  const dir = dirname(path);
  const name = `${sha256}.${basename(path)}`;
  return dir === "." ? name : `${dir}/${name}`;
}

/** Adds root metadata (a file from `rap root authorize-release-key`) to the repository. */
export async function addRoot(repoDir: string, rootJson: Uint8Array): Promise<number> {
  const root = Metadata.fromJSON(MetadataKind.Root, JSON.parse(new TextDecoder().decode(rootJson)));
  await writeAtomic(join(repoDir, `metadata/${root.signed.version}.root.json`), rootJson);
  return root.signed.version;
}

/** The repository's newest root metadata (N.root.json with the highest N), if it has one. */
export async function newestRoot(repoDir: string): Promise<Metadata<Root> | undefined> {
  const names = await readdir(join(repoDir, "metadata")).catch(() => [] as string[]);
  const versions = names
    .map((n) => /^(\d+)\.root\.json$/.exec(n)?.[1])
    .filter((x): x is string => x !== undefined)
    .map(Number);
  if (versions.length === 0) return undefined;
  const json = await readJson(join(repoDir, `metadata/${Math.max(...versions)}.root.json`));
  return Metadata.fromJSON(MetadataKind.Root, json as never);
}

/**
 * Refuses, before anything is written, to sign with keys the repository's
 * root does not name for those roles: agents would refuse the result, and
 * the feed would look broken rather than the operator's command.
 */
export async function checkSigningKeys(repoDir: string, keys: { release?: SigningKey; timestamp: SigningKey }): Promise<void> {
  const root = await newestRoot(repoDir);
  if (!root) return;
  const v = root.signed.version;
  if (keys.release && !roleKeyIds(root, "targets").includes(keys.release.key.keyID))
    throw new PublishError(
      `root version ${v} of ${repoDir} does not name this release key for targets; use the key it authorizes (rap root authorize-release-key)`,
    );
  if (!roleKeyIds(root, "timestamp").includes(keys.timestamp.key.keyID))
    throw new PublishError(
      `root version ${v} of ${repoDir} names another key for timestamps; pass the timestamp key it authorizes (--timestamp-key FILE --timestamp-pub FILE)`,
    );
}

export interface PublishOptions {
  repoDir: string;
  releaseKey: SigningKey;
  /** Signs the timestamp when the root names a separate timestamp key; otherwise the release key does. */
  timestampKey?: SigningKey;
  manifest: ReleaseManifest;
  /** Every file the manifest lists, as build.ts made them. */
  files: BuiltFile[];
  now: Date;
  /** How long the timestamp stays valid: a feed not refreshed in this time is refused as frozen. */
  timestampValidMs: number;
  targetsValidMs: number;
  /** Signed `custom` per file: what build.ts saw, unless a caller (a test of refusals) says otherwise. */
  customFor?: (f: BuiltFile, role: string | undefined) => Record<string, string>;
}

/** Signs and writes one new generation that adds the release; returns the new timestamp version. */
export async function publishRelease(opts: PublishOptions): Promise<number> {
  const gen = await currentGeneration(opts.repoDir);
  const target = manifestTarget(opts.manifest.version);
  if (gen.targets.some((t) => t.path === target)) throw new PublishError(`release ${opts.manifest.version} is already published; a version is immutable`);
  const roleOf = new Map<string, string | undefined>(opts.manifest.agent.map((a) => [a.target, undefined]));
  for (const [role, list] of Object.entries(opts.manifest.workloads)) for (const a of list ?? []) roleOf.set(a.target, role);
  const added: TargetFile[] = [];
  for (const f of opts.files) {
    if (!roleOf.has(f.target)) throw new PublishError(`${f.target} is not in the manifest`);
    const role = roleOf.get(f.target);
    const custom = opts.customFor?.(f, role) ?? {
      kind: role === undefined ? "agent" : "workload",
      ...(role ? { role } : {}),
      os: f.os,
      arch: f.arch,
      version: opts.manifest.version,
    };
    const bytes = new Uint8Array(await readFile(f.file));
    const tf = await targetFile({ path: f.target, bytes, custom });
    await mkdir(dirname(join(opts.repoDir, "targets", targetStoragePath(f.target, tf.hashes.sha256 as string))), { recursive: true });
    await copyFile(f.file, join(opts.repoDir, "targets", targetStoragePath(f.target, tf.hashes.sha256 as string)));
    added.push(tf);
  }
  const manifestBytes = new TextEncoder().encode(`${JSON.stringify(opts.manifest, null, 2)}\n`);
  const mf = await targetFile({ path: target, bytes: manifestBytes, custom: { kind: "manifest", version: opts.manifest.version } });
  await writeAtomic(join(opts.repoDir, "targets", targetStoragePath(target, mf.hashes.sha256 as string)), manifestBytes);
  added.push(mf);
  const published = await publishGeneration({
    previous: gen.versions,
    targets: [...gen.targets.filter((t) => !added.some((a) => a.path === t.path)), ...added],
    releaseKey: opts.releaseKey,
    timestampKey: opts.timestampKey,
    now: opts.now,
    targetsExpiry: new Date(opts.now.getTime() + opts.targetsValidMs),
    timestampExpiry: new Date(opts.now.getTime() + opts.timestampValidMs),
  });
  return writeGeneration(opts.repoDir, published);
}

/**
 * Signs a new timestamp for the same snapshot: what keeps a feed alive
 * between releases, since clients refuse a timestamp past its expiry (a
 * frozen feed). It needs only the timestamp key, so the timer that runs it
 * more often than --timestamp-days never holds the release key. Targets and
 * snapshot keep their own (long) expiry; publishing a release renews them.
 */
export async function refreshRepository(opts: { repoDir: string; timestampKey: SigningKey; now: Date; timestampValidMs: number }): Promise<number> {
  const gen = await currentGeneration(opts.repoDir);
  if (!gen.versions) throw new PublishError(`${opts.repoDir} has no published generation to refresh`);
  const timestamp = await timestampMetadata({
    version: gen.versions.timestamp + 1,
    snapshotVersion: gen.versions.snapshot,
    expires: new Date(opts.now.getTime() + opts.timestampValidMs),
    key: opts.timestampKey,
  });
  await writeAtomic(join(opts.repoDir, "metadata/timestamp.json"), metadataBytes(timestamp));
  return timestamp.signed.version;
}

/** Writes a signed generation's metadata; its timestamp version. */
async function writeGeneration(repoDir: string, published: Awaited<ReturnType<typeof publishGeneration>>): Promise<number> {
  await writeAtomic(join(repoDir, `metadata/${published.targets.signed.version}.targets.json`), metadataBytes(published.targets));
  await writeAtomic(join(repoDir, `metadata/${published.snapshot.signed.version}.snapshot.json`), metadataBytes(published.snapshot));
  // The timestamp last: until it is replaced, clients still see the previous, complete generation.
  await writeAtomic(join(repoDir, "metadata/timestamp.json"), metadataBytes(published.timestamp));
  return published.timestamp.signed.version;
}
