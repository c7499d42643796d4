/**
 * The trust chain end to end with real artifacts: keys from the operator
 * commands, a real agent artifact from `scripts/release build`, a TUF
 * repository from `scripts/release publish`, served over loopback, fetched by
 * the agent's tuf-js client. A good release is fetched, unpacked and runs; a
 * tampered artifact, unsigned metadata, a replayed older generation, a frozen
 * feed, a wrong-architecture artifact and a root not from the Product Root
 * are refused, and nothing is left to run.
 */
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "../../fixtures/test.ts";
import { buildRelease, makeReleaseKeys, publish, type ReleaseKeys, type RepoServer, runScript, serveRepo } from "../../fixtures/releases.ts";
import { spawn } from "../../core/runtime/index.ts";
import { metadataBytes, signingKey, timestampMetadata } from "../../core/updates/tuf.ts";
import { publishRelease } from "../../scripts/release-lib/publish.ts";
import { fetchRelease, UpdateFetchError } from "./fetch.ts";
import { untarGz } from "../../scripts/release-lib/build.ts";
import type { BuiltFile } from "../../scripts/release-lib/build.ts";
import type { ReleaseManifest } from "../../core/updates/manifest.ts";

const HOST = { os: "linux", arch: "x64" };
let keys: ReleaseKeys;
let build2: string;
let repo: string;
let server: RepoServer;
const dirs: string[] = [];

async function tmp(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

async function refusal(p: Promise<unknown>): Promise<UpdateFetchError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpdateFetchError);
  return err as UpdateFetchError;
}

beforeAll(async () => {
  keys = await makeReleaseKeys();
  build2 = await buildRelease("2.0.0");
  repo = await tmp("rap-repo-");
  await publish(keys, build2, repo);
  server = await serveRepo(repo);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  for (const d of [...dirs, keys?.dir, build2]) if (d) await rm(d, { recursive: true, force: true });
});

/** Publishes build v2 into a new repository of its own (prefix), signed by the release key, with these times and targets. */
async function publishV2By(
  prefix: string,
  options: Pick<Parameters<typeof publishRelease>[0], "now" | "timestampValidMs" | "targetsValidMs" | "customFor">,
): Promise<string> {
  const own = await tmp(prefix);
  const record = JSON.parse(await readFile(join(build2, "release.json"), "utf8")) as { manifest: ReleaseManifest; files: BuiltFile[] };
  const key = await signingKey(await readFile(keys.releaseKey, "utf8"), await readFile(keys.releasePub, "utf8"));
  await cp(keys.rootFile, join(own, "metadata/1.root.json"));
  await publishRelease({ repoDir: own, releaseKey: key, manifest: record.manifest, files: record.files, ...options });
  return own;
}

describe("fetching a signed release", () => {
  test("a good release is fetched through TUF, unpacks to the declared version and runs", async () => {
    const state = await tmp("rap-agent-updates-");
    const got = await fetchRelease({ stateDir: state, trustedRootFile: keys.rootFile, sources: [server.url], version: "2.0.0", host: HOST });
    expect(got.manifest.version).toBe("2.0.0");
    expect(got.artifact.arch).toBe("x64");
    const slot = await tmp("rap-slot-");
    await untarGz(got.file, slot);
    const info = JSON.parse(await readFile(join(slot, "artifact.json"), "utf8"));
    expect(info).toMatchObject({ name: "rap-node-agent", version: "2.0.0", os: "linux", arch: "x64" });
    // The unpacked agent runs from outside the repository, on the host's Bun.
    const child = spawn([join(slot, "bin/rap-node-agent"), "status", "--state-dir", join(slot, "no-state")], {
      cwd: slot,
      env: { PATH: process.env.PATH, RAP_BUN: process.execPath },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, , code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect(code).toBe(0);
    expect(out).toContain("not enrolled");
  }, 60_000);

  test("the artifact build is reproducible: the same sources give the same hash", async () => {
    const again = await buildRelease("2.0.0");
    dirs.push(again);
    const first = JSON.parse(await readFile(join(build2, "release.json"), "utf8")) as { files: BuiltFile[] };
    const second = JSON.parse(await readFile(join(again, "release.json"), "utf8")) as { files: BuiltFile[] };
    expect(second.files[0]?.sha256).toBe(first.files[0]?.sha256 as string);
  }, 60_000);

  test("a tampered artifact is refused by its signed hash", async () => {
    const copy = await tmp("rap-repo-tampered-");
    await cp(repo, copy, { recursive: true });
    const dir = join(copy, "targets/agent/2.0.0");
    const [name] = await readdir(dir);
    const bytes = new Uint8Array(await readFile(join(dir, name as string)));
    const mid = bytes.length >> 1;
    bytes[mid] = (bytes[mid] as number) ^ 0xff;
    await writeFile(join(dir, name as string), bytes);
    const s = await serveRepo(copy);
    try {
      const state = await tmp("rap-agent-updates-");
      const err = await refusal(fetchRelease({ stateDir: state, trustedRootFile: keys.rootFile, sources: [s.url], version: "2.0.0", host: HOST }));
      expect(err.kind).toBe("refused");
      expect(await readdir(join(state, "downloads"))).not.toContain(expect.stringContaining("tar.gz"));
    } finally {
      await s.stop();
    }
  });

  test("unsigned metadata is refused", async () => {
    const s = await serveRepo(repo);
    try {
      const ts = JSON.parse(await readFile(join(repo, "metadata/timestamp.json"), "utf8"));
      s.override.set("metadata/timestamp.json", new TextEncoder().encode(JSON.stringify({ ...ts, signatures: [] })));
      const err = await refusal(
        fetchRelease({ stateDir: await tmp("rap-agent-updates-"), trustedRootFile: keys.rootFile, sources: [s.url], version: "2.0.0", host: HOST }),
      );
      expect(err.kind).toBe("refused");
      expect(err.message).toMatch(/sign/i);
    } finally {
      await s.stop();
    }
  });

  test("metadata signed by a release key the installed root does not authorize is refused", async () => {
    const other = await makeReleaseKeys();
    try {
      const err = await refusal(
        fetchRelease({ stateDir: await tmp("rap-agent-updates-"), trustedRootFile: other.rootFile, sources: [server.url], version: "2.0.0", host: HOST }),
      );
      expect(err.kind).toBe("refused");
    } finally {
      await rm(other.dir, { recursive: true, force: true });
    }
  }, 60_000);

  test("a replayed older generation (rollback attack) is refused once a newer one was seen", async () => {
    const own = await tmp("rap-repo-replay-");
    await publish(keys, build2, own);
    const oldTimestamp = await readFile(join(own, "metadata/timestamp.json"));
    const build3 = await buildRelease("3.0.0");
    dirs.push(build3);
    await publish(keys, build3, own);
    const s = await serveRepo(own);
    try {
      const state = await tmp("rap-agent-updates-");
      await fetchRelease({ stateDir: state, trustedRootFile: keys.rootFile, sources: [s.url], version: "3.0.0", host: HOST });
      s.override.set("metadata/timestamp.json", new Uint8Array(oldTimestamp));
      const err = await refusal(fetchRelease({ stateDir: state, trustedRootFile: keys.rootFile, sources: [s.url], version: "2.0.0", host: HOST }));
      expect(err.kind).toBe("refused");
      expect(err.message).toMatch(/version/i);
    } finally {
      await s.stop();
    }
  }, 60_000);

  test("a frozen feed (an expired timestamp) is refused until the release operator refreshes it", async () => {
    // Published ten days ago with a one-day timestamp: nobody refreshed the feed since.
    const own = await publishV2By("rap-repo-frozen-", {
      now: new Date(Date.now() - 10 * 86_400_000),
      timestampValidMs: 86_400_000,
      targetsValidMs: 365 * 86_400_000,
    });
    const s = await serveRepo(own);
    try {
      const err = await refusal(
        fetchRelease({ stateDir: await tmp("rap-agent-updates-"), trustedRootFile: keys.rootFile, sources: [s.url], version: "2.0.0", host: HOST }),
      );
      expect(err.kind).toBe("refused");
      expect(err.message).toMatch(/expired/i);
      // The release operator refreshes the feed (same files, a new generation): accepted again.
      const r = await runScript("release", ["refresh", "--repo", own, "--key", keys.releaseKey, "--pub", keys.releasePub, "--timestamp-days", "1"]);
      expect(r.code).toBe(0);
      const got = await fetchRelease({
        stateDir: await tmp("rap-agent-updates-"),
        trustedRootFile: keys.rootFile,
        sources: [s.url],
        version: "2.0.0",
        host: HOST,
      });
      expect(got.manifest.version).toBe("2.0.0");
    } finally {
      await s.stop();
    }
  });

  test("an artifact signed for another architecture is refused, and so is a release without one for this host", async () => {
    // The manifest lists the file as x64, but the signed targets say it is an arm64 build.
    const own = await publishV2By("rap-repo-arch-", {
      now: new Date(),
      timestampValidMs: 86_400_000,
      targetsValidMs: 86_400_000,
      customFor: () => ({ kind: "agent", os: "linux", arch: "arm64", version: "2.0.0" }),
    });
    const s = await serveRepo(own);
    try {
      const state = await tmp("rap-agent-updates-");
      const err = await refusal(fetchRelease({ stateDir: state, trustedRootFile: keys.rootFile, sources: [s.url], version: "2.0.0", host: HOST }));
      expect(err.message).toContain("linux-arm64");
      const none = await refusal(
        fetchRelease({ stateDir: state, trustedRootFile: keys.rootFile, sources: [s.url], version: "2.0.0", host: { os: "linux", arch: "arm64" } }),
      );
      expect(none.message).toContain("no agent for linux-arm64");
    } finally {
      await s.stop();
    }
  });

  test("an unreachable first source falls through to the next", async () => {
    const state = await tmp("rap-agent-updates-");
    const got = await fetchRelease({
      stateDir: state,
      trustedRootFile: keys.rootFile,
      sources: ["http://127.0.0.1:9", server.url],
      version: "2.0.0",
      host: HOST,
    });
    expect(got.source).toBe(server.url);
  });

  test("a separate online timestamp key: it alone refreshes the feed; a timestamp signed by another key is refused", async () => {
    const split = await makeReleaseKeys({ timestampKey: true });
    dirs.push(split.dir);
    const own = await tmp("rap-repo-split-");
    await publish(split, build2, own);
    const s = await serveRepo(own);
    const fetchV2 = async () =>
      fetchRelease({ stateDir: await tmp("rap-agent-updates-"), trustedRootFile: split.rootFile, sources: [s.url], version: "2.0.0", host: HOST });
    try {
      expect((await fetchV2()).manifest.version).toBe("2.0.0");
      // The refresh timer holds only the timestamp key: a new timestamp for the same snapshot, accepted.
      const before = JSON.parse(await readFile(join(own, "metadata/timestamp.json"), "utf8"));
      const r = await runScript("release", [
        "refresh",
        "--repo",
        own,
        "--timestamp-key",
        split.timestampKey as string,
        "--timestamp-pub",
        split.timestampPub as string,
      ]);
      expect(r.code).toBe(0);
      const after = JSON.parse(await readFile(join(own, "metadata/timestamp.json"), "utf8"));
      expect(after.signed.version).toBe(before.signed.version + 1);
      expect(after.signed.meta).toEqual(before.signed.meta);
      expect((await fetchV2()).manifest.version).toBe("2.0.0");

      // The release key is not the timestamp key of this root: the commands refuse it and write nothing ...
      const refresh = await runScript("release", ["refresh", "--repo", own, "--key", split.releaseKey, "--pub", split.releasePub]);
      expect(refresh.code).toBe(1);
      expect(refresh.stderr).toContain("names another key for timestamps");
      const build3 = await buildRelease("3.0.0");
      dirs.push(build3);
      const pub = await runScript("release", ["publish", "--build", build3, "--repo", own, "--key", split.releaseKey, "--pub", split.releasePub]);
      expect(pub.code).toBe(1);
      expect(pub.stderr).toContain("names another key for timestamps");
      expect(JSON.parse(await readFile(join(own, "metadata/timestamp.json"), "utf8"))).toEqual(after);

      // ... and a timestamp it signs anyway (a mirror, or a release machine that skipped the check) is refused by the agent.
      const releaseKey = await signingKey(await readFile(split.releaseKey, "utf8"), await readFile(split.releasePub, "utf8"));
      const forged = await timestampMetadata({
        version: after.signed.version + 1,
        snapshotVersion: after.signed.meta["snapshot.json"].version,
        expires: new Date(Date.now() + 86_400_000),
        key: releaseKey,
      });
      s.override.set("metadata/timestamp.json", metadataBytes(forged) as Uint8Array<ArrayBuffer>);
      const err = await refusal(fetchV2());
      expect(err.kind).toBe("refused");
      expect(err.message).toContain("timestamp was signed by 0/1 keys");
    } finally {
      await s.stop();
    }
  }, 120_000);
});
