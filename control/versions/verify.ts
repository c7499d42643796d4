/**
 * Verifies an uploaded repository generation the way an agent would, with
 * tuf-js itself rather than a check of our own: the control plane is a TUF
 * client of the upload. Its trusted state is what version storage already
 * holds (the newest root, timestamp, snapshot and targets); the very first
 * root must name the Product Root this installation trusts as its root key
 * and be signed by it. tuf-js then refuses what an agent would refuse: a
 * missing or wrong signature, an older or equal version (a replay), an
 * expired document, a file whose length or hash differs from the signed
 * targets. Only what passes is returned to be stored; nothing is written here.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata, MetadataKind, type Root, type TargetFile } from "@tufjs/models";
import { BaseFetcher, Updater } from "tuf-js";
import { DownloadHTTPError } from "tuf-js/dist/error.js";
import * as v from "valibot";
import { DomainError } from "../../core/errors.ts";
import { tufKey } from "../../core/updates/tuf.ts";
import { manifestTarget, ReleaseManifest } from "../../core/updates/manifest.ts";

const BASE = "http://upload.invalid";

/** The signed documents of one generation, as `scripts/release push` sends them. */
export interface UploadedGeneration {
  /** Root versions the store does not have yet (N.root.json), any order. */
  roots: unknown[];
  timestamp: unknown;
  snapshot: unknown;
  targets: unknown;
}

/** What version storage already trusts: the bodies it serves. */
export interface TrustedState {
  /** The newest root body, or undefined before the first publish. */
  root?: string;
  timestamp?: string;
  snapshot?: string;
  targets?: string;
}

export interface VerifiedRelease {
  version: string;
  manifest: ReleaseManifest;
  files: { target: string; sha256: string; length: number; custom: Record<string, unknown> }[];
}

export interface VerifiedGeneration {
  /** New metadata bodies to store, with their versions (roots newer than the trusted one included). */
  documents: { role: "root" | "targets" | "snapshot" | "timestamp"; version: number; body: string }[];
  /** Files the store does not hold yet, verified against the signed targets. */
  blobs: Map<string, Uint8Array>;
  /** Releases whose manifest is new in this generation. */
  releases: VerifiedRelease[];
  timestampVersion: number;
}

const refused = (code: "versions.signature_invalid" | "versions.replayed" | "versions.expired" | "versions.refused", reason: string) =>
  new DomainError(code, reason, { reason });

/** Maps a tuf-js refusal to a stable code; the message names versions and roles, never content. */
function classify(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  const name = (err as Error)?.constructor?.name ?? "";
  const message = err instanceof Error ? err.message : String(err);
  // tuf-js wraps some of its errors (RuntimeError "Unable to load … error …"), so the message decides as much as the class.
  if (name === "UnsignedMetadataError" || /signature|signed by \d+\/\d+ keys/i.test(message)) return refused("versions.signature_invalid", message);
  if (name === "ExpiredMetadataError" || /is expired/i.test(message)) return refused("versions.expired", message);
  if (name === "BadVersionError" || name === "EqualVersionError" || /is (less than|equal to) current version|Expected version \d+/i.test(message))
    return refused("versions.replayed", message);
  return refused("versions.refused", `${name || "error"}: ${message}`);
}

/** Serves the upload to tuf-js: metadata from the request, targets from the staged blobs. */
class UploadFetcher extends BaseFetcher {
  constructor(
    private readonly files: Map<string, Uint8Array>,
    private readonly staged: (sha256: string) => Promise<Uint8Array | undefined>,
  ) {
    super();
  }

  async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const path = url.startsWith(BASE) ? url.slice(BASE.length) : url;
    let bytes = this.files.get(path);
    const target = /^\/targets\/(?:.*\/)?([0-9a-f]{64})\.[^/]+$/.exec(path);
    if (!bytes && target) bytes = await this.staged(target[1] as string);
    if (!bytes) throw new DownloadHTTPError(`${path} is not in the upload`, 404);
    const copy = new Uint8Array(bytes);
    return new ReadableStream({
      start(c) {
        c.enqueue(copy);
        c.close();
      },
    });
  }
}

const json = (doc: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(doc, null, 1));

function versionOf(doc: unknown, role: string): number {
  const version = (doc as { signed?: { version?: unknown; _type?: unknown } })?.signed?.version;
  const type = (doc as { signed?: { _type?: unknown } })?.signed?._type;
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1 || type !== role)
    throw new DomainError("request.validation_failed", `the ${role} document is not TUF ${role} metadata`, {
      target: "json",
      issues: [{ path: role, message: "not TUF metadata of this role" }],
    });
  return version;
}

/** The first root must make the Product Root its root key and be signed by it. */
async function checkFirstRoot(body: Uint8Array, productRootB64: string): Promise<void> {
  let root: Metadata<Root>;
  try {
    root = Metadata.fromJSON(MetadataKind.Root, JSON.parse(new TextDecoder().decode(body)));
  } catch (err) {
    throw refused("versions.refused", `the first root is not TUF root metadata: ${err instanceof Error ? err.message : String(err)}`);
  }
  const expected = (await tufKey(productRootB64)).keyID;
  const role = root.signed.roles.root;
  if (root.signed.version !== 1 || !role || role.threshold !== 1 || role.keyIDs.length !== 1 || role.keyIDs[0] !== expected)
    throw refused("versions.signature_invalid", "the first root does not make this installation's Product Root its root key");
  try {
    root.verifyDelegate("root", root);
  } catch (err) {
    throw classify(err);
  }
}

/**
 * Verifies `upload` against `trusted`. `staged` gives uploaded files by
 * sha256; `stored` says whether the store already holds one.
 */
export async function verifyGeneration(opts: {
  productRootB64: string;
  trusted: TrustedState;
  upload: UploadedGeneration;
  staged: (sha256: string) => Promise<Uint8Array | undefined>;
  stored: (sha256: string) => Promise<boolean>;
  knownReleases: Map<string, Map<string, string>>;
}): Promise<VerifiedGeneration> {
  const files = new Map<string, Uint8Array>();
  const roots = opts.upload.roots.map((r) => ({ version: versionOf(r, "root"), bytes: json(r) }));
  for (const r of roots) files.set(`/metadata/${r.version}.root.json`, r.bytes);
  const timestampVersion = versionOf(opts.upload.timestamp, "timestamp");
  files.set("/metadata/timestamp.json", json(opts.upload.timestamp));
  files.set(`/metadata/${versionOf(opts.upload.snapshot, "snapshot")}.snapshot.json`, json(opts.upload.snapshot));
  files.set(`/metadata/${versionOf(opts.upload.targets, "targets")}.targets.json`, json(opts.upload.targets));

  let trustedRoot: Uint8Array;
  if (opts.trusted.root) trustedRoot = new TextEncoder().encode(opts.trusted.root);
  else {
    const first = roots.find((r) => r.version === 1);
    if (!first) throw refused("versions.signature_invalid", "the first publish must carry root version 1 (from rap root authorize-release-key)");
    await checkFirstRoot(first.bytes, opts.productRootB64);
    trustedRoot = first.bytes;
  }

  const dir = await mkdtemp(join(tmpdir(), "rap-publish-"));
  try {
    const metadataDir = join(dir, "metadata");
    const targetDir = join(dir, "targets");
    await mkdir(metadataDir, { mode: 0o700 });
    await mkdir(targetDir, { mode: 0o700 });
    await writeFile(join(metadataDir, "root.json"), trustedRoot);
    if (opts.trusted.timestamp) await writeFile(join(metadataDir, "timestamp.json"), opts.trusted.timestamp);
    if (opts.trusted.snapshot) await writeFile(join(metadataDir, "snapshot.json"), opts.trusted.snapshot);
    if (opts.trusted.targets) await writeFile(join(metadataDir, "targets.json"), opts.trusted.targets);
    const trustedTimestamp = opts.trusted.timestamp ? (JSON.parse(opts.trusted.timestamp).signed.version as number) : 0;
    if (timestampVersion <= trustedTimestamp)
      throw refused("versions.replayed", `timestamp version ${timestampVersion} is not newer than the stored ${trustedTimestamp}`);

    const updater = new Updater({
      metadataDir,
      metadataBaseUrl: `${BASE}/metadata/`,
      targetDir,
      targetBaseUrl: `${BASE}/targets/`,
      fetcher: new UploadFetcher(files, opts.staged),
    });
    try {
      await updater.refresh();
    } catch (err) {
      throw classify(err);
    }
    const read = (name: string) => readFile(join(metadataDir, name), "utf8");
    const verifiedTimestamp = await read("timestamp.json");
    if ((JSON.parse(verifiedTimestamp).signed.version as number) !== timestampVersion)
      throw refused("versions.replayed", "the uploaded timestamp was not taken: it is not newer than the stored one");
    const verifiedTargets = Metadata.fromJSON(MetadataKind.Targets, JSON.parse(await read("targets.json")));
    // Roots tuf-js walked through: newer than the trusted one (all of them on the first publish), up to the one it ended on.
    const rootVersion = (body: Uint8Array | string) => JSON.parse(typeof body === "string" ? body : new TextDecoder().decode(body)).signed.version as number;
    const fromRoot = opts.trusted.root ? rootVersion(opts.trusted.root) : 0;
    const toRoot = rootVersion(await read("root.json"));
    // Targets and snapshot only when newer than the stored ones: a refresh (`scripts/release refresh`) signs a
    // new timestamp over the same snapshot, and storing that snapshot again would collide with itself.
    const storedVersion = (body: string | undefined) => (body ? (JSON.parse(body).signed.version as number) : 0);
    const snapshotVersion = versionOf(JSON.parse(await read("snapshot.json")), "snapshot");
    const documents: VerifiedGeneration["documents"] = [
      ...roots
        .filter((r) => r.version > fromRoot && r.version <= toRoot)
        .map((r) => ({ role: "root" as const, version: r.version, body: new TextDecoder().decode(r.bytes) })),
      ...(verifiedTargets.signed.version > storedVersion(opts.trusted.targets)
        ? [{ role: "targets" as const, version: verifiedTargets.signed.version, body: await read("targets.json") }]
        : []),
      ...(snapshotVersion > storedVersion(opts.trusted.snapshot)
        ? [{ role: "snapshot" as const, version: snapshotVersion, body: await read("snapshot.json") }]
        : []),
      { role: "timestamp", version: timestampVersion, body: verifiedTimestamp },
    ];

    const blobs = new Map<string, Uint8Array>();
    const all = Object.values(verifiedTargets.signed.targets) as TargetFile[];
    for (const t of all) {
      const sha = t.hashes.sha256;
      if (!sha) throw refused("versions.refused", `${t.path} has no sha256 in the signed targets`);
      if (blobs.has(sha) || (await opts.stored(sha))) continue;
      if (!(await opts.staged(sha))) throw new DomainError("versions.publish_incomplete", `${t.path} was not uploaded`, { target: t.path, sha256: sha });
      const info = await updater.getTargetInfo(t.path);
      if (!info) throw refused("versions.refused", `${t.path} is not in the verified targets`);
      try {
        const file = await updater.downloadTarget(info, join(targetDir, sha));
        blobs.set(sha, new Uint8Array(await readFile(file)));
      } catch (err) {
        throw refused("versions.refused", `${t.path}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }

    const releases = await newReleases(all, opts.knownReleases, async (t) => {
      const bytes = blobs.get(t.hashes.sha256 as string);
      return bytes;
    });
    return { documents, blobs, releases, timestampVersion };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Releases whose manifest is new in this generation, their manifests
 * checked against the signed targets; a release stored before must keep
 * every file it had, byte for byte (published versions are immutable).
 */
async function newReleases(
  all: TargetFile[],
  known: Map<string, Map<string, string>>,
  newBytes: (t: TargetFile) => Promise<Uint8Array | undefined>,
): Promise<VerifiedRelease[]> {
  const byPath = new Map(all.map((t) => [t.path, t]));
  for (const [version, files] of known)
    for (const [target, sha] of files)
      if (byPath.get(target)?.hashes.sha256 !== sha)
        throw new DomainError("versions.release_changed", `release ${version} is stored; its file ${target} may not change or go away`, { version, target });
  const out: VerifiedRelease[] = [];
  for (const t of all) {
    const custom = (t.custom ?? {}) as Record<string, unknown>;
    if (custom.kind !== "manifest" || typeof custom.version !== "string" || known.has(custom.version)) continue;
    if (t.path !== manifestTarget(custom.version)) throw refused("versions.refused", `${t.path} is signed as a manifest but is not where one lives`);
    const bytes = await newBytes(t);
    if (!bytes) throw refused("versions.refused", `the manifest ${t.path} was not verified`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw refused("versions.refused", `${t.path} is not JSON`);
    }
    const m = v.safeParse(ReleaseManifest, parsed);
    if (!m.success || m.output.version !== custom.version) throw refused("versions.refused", `${t.path} is not a release manifest of ${custom.version}`);
    const files = [{ target: t.path, sha256: t.hashes.sha256 as string, length: t.length, custom }];
    const refs = [...m.output.agent, ...Object.values(m.output.workloads).flatMap((l) => l ?? [])];
    for (const a of refs) {
      const signed = byPath.get(a.target);
      if (!signed || signed.hashes.sha256 !== a.sha256 || signed.length !== a.length)
        throw refused("versions.refused", `${a.target}: the manifest of ${custom.version} and the signed targets disagree`);
      files.push({ target: a.target, sha256: a.sha256, length: a.length, custom: (signed.custom ?? {}) as Record<string, unknown> });
    }
    out.push({ version: m.output.version, manifest: m.output, files });
  }
  return out;
}
