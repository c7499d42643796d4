/**
 * The update cache with real artifacts: agents fetch a release through it
 * (the upstream is asked for each file once), it serves nothing that is not a
 * signed target, and bytes that do not match their signed hash upstream never
 * leave it.
 */
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "../../fixtures/test.ts";
import { buildRelease, makeReleaseKeys, publish, type ReleaseKeys, type RepoServer, serveRepo } from "../../fixtures/releases.ts";
import { UpdateCache } from "./cache.ts";
import { fetchRelease, UpdateFetchError } from "./fetch.ts";

const HOST = { os: "linux", arch: "x64" };
let keys: ReleaseKeys;
let work: string;
let repo: string;
let origin: RepoServer;
let cache: UpdateCache;

beforeAll(async () => {
  keys = await makeReleaseKeys();
  work = await mkdtemp(join(tmpdir(), "rap-update-cache-"));
  repo = join(work, "repo");
  const b = await buildRelease("2.0.0");
  await publish(keys, b, repo);
  await rm(b, { recursive: true, force: true });
  origin = await serveRepo(repo);
  cache = await UpdateCache.start({
    upstream: origin.url,
    trustedRootFile: keys.rootFile,
    dir: join(work, "cache"),
    hostname: "127.0.0.1",
    port: 0,
    log: () => {},
  });
}, 120_000);

afterAll(async () => {
  await cache?.stop();
  await origin?.stop();
  if (keys) await rm(keys.dir, { recursive: true, force: true });
  if (work) await rm(work, { recursive: true, force: true });
});

const agentState = () => mkdtemp(join(work, "agent-"));

describe("update cache", () => {
  test("two agents fetch through the cache; the upstream serves each artifact once", async () => {
    for (let i = 0; i < 2; i++) {
      const got = await fetchRelease({
        stateDir: await agentState(),
        trustedRootFile: keys.rootFile,
        sources: [cache.url, origin.url],
        version: "2.0.0",
        host: HOST,
      });
      expect(got.source).toBe(cache.url);
    }
    const artifactFetches = origin.requests.filter((p) => p.startsWith("/targets/agent/"));
    expect(artifactFetches).toHaveLength(1);
  });

  test("a file placed upstream that is not a signed target is not served", async () => {
    const dir = join(repo, "targets/agent/2.0.0");
    const fake = `${"0".repeat(64)}.rap-node-agent-6.6.6-linux-x64.tar.gz`;
    await writeFile(join(dir, fake), "unsigned");
    const r = await fetch(`${cache.url}/targets/agent/2.0.0/${fake}`);
    expect(r.status).toBe(404);
    await r.body?.cancel();
  });

  test("upstream bytes that do not match the signed hash never leave the cache", async () => {
    const fresh = await UpdateCache.start({
      upstream: origin.url,
      trustedRootFile: keys.rootFile,
      dir: join(work, "cache2"),
      hostname: "127.0.0.1",
      port: 0,
      log: () => {},
    });
    try {
      const [name] = (await readdir(join(repo, "targets/agent/2.0.0"))).filter((n) => !n.startsWith("0000"));
      origin.override.set(`targets/agent/2.0.0/${name}`, new TextEncoder().encode("tampered upstream"));
      const r = await fetch(`${fresh.url}/targets/agent/2.0.0/${name}`);
      expect(r.status).toBe(502);
      await r.body?.cancel();
      // The agent, asked to use only this cache, refuses rather than running anything.
      const err = await fetchRelease({ stateDir: await agentState(), trustedRootFile: keys.rootFile, sources: [fresh.url], version: "2.0.0", host: HOST }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UpdateFetchError);
    } finally {
      origin.override.clear();
      await fresh.stop();
    }
  });
});
