/**
 * Publishing into version storage over HTTP, real stores: a repository
 * signed by `scripts/release` code is pushed (files, then the signed
 * generation); the control plane verifies it with tuf-js against the Product
 * Root it trusts and serves it back read-only, and the agent's own fetch
 * (agent/updates/fetch.ts) reads a release from it unchanged. Tampered,
 * unsigned, replayed, foreign-root and incomplete uploads are refused with a
 * stable code and store nothing.
 */
import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, serveApp, testIdentity, type TestApp } from "../../fixtures/control-plane.ts";
import { bootstrapOwner, enrollTotp, json, signIn, stepUp, type Session } from "../../fixtures/identity.ts";
import { makeReleaseKeys, type ReleaseKeys, runScript } from "../../fixtures/releases.ts";
import { addRelease, appCall, newRepo, productRootPublic, pushTo } from "../../fixtures/version-repo.ts";
import { generationBody, PushError, pushRepository } from "../../scripts/release-lib/push.ts";
import { fetchRelease } from "../../agent/updates/fetch.ts";
import { addRoot, refreshRepository } from "../../scripts/release-lib/publish.ts";
import { signingKey } from "../../core/updates/tuf.ts";

setDefaultTimeout(60_000);
const stores = useStores();

let t: TestApp;
let owner: Session;
let keys: ReleaseKeys;
let repo: string;
const dirs: string[] = [];

async function tmp(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** What version storage holds: metadata rows and releases, to show a refusal changed nothing. */
async function stored(): Promise<string> {
  const meta = await stores.store.db.query("select role, version, body from version_metadata order by role, version");
  const rel = await stores.store.db.query("select version, blocked_at from releases order by version");
  return JSON.stringify([meta, rel]);
}

/** Runs an operator command of this repository to success (its output on failure). */
async function must(script: string, args: string[]): Promise<void> {
  const r = await runScript(script, args);
  if (r.code !== 0) throw new Error(`${script} ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
}

async function refusedCode(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PushError);
  return /"code":"([a-z_.]+)"/.exec((err as Error).message)?.[1] ?? (err as Error).message;
}

beforeAll(async () => {
  keys = await makeReleaseKeys();
  const identity = await testIdentity({ productRoot: { publicKeyB64: await productRootPublic(keys), privateKeyPkcs8B64: "" } });
  t = await makeApp(stores.store.db, stores.live, { identity });
  owner = await enrollTotp(t, await bootstrapOwner(t));
  await stepUp(t, owner);
  repo = await newRepo(keys);
  dirs.push(repo, keys.dir);
  await addRelease(keys, repo, "1.0.0");
}, 120_000);

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("publishing a signed generation", () => {
  test("an upload whose metadata the release key did not sign is refused and stores nothing", async () => {
    const body = await generationBody(repo);
    (body.targets as { signed: { expires: string } }).signed.expires = "2099-01-01T00:00:00Z";
    const before = await stored();
    const res = await appCall(t, owner.token)("POST", "/api/v1/versions/generations", { json: body });
    expect(res.status).toBe(422);
    const error = (await res.json()).error;
    expect(error.code).toBe("versions.signature_invalid");
    expect(await stored()).toBe(before);
  });

  test("unsigned metadata (no signatures) is refused", async () => {
    const body = await generationBody(repo);
    (body.timestamp as { signatures: unknown[] }).signatures = [];
    const before = await stored();
    const res = await appCall(t, owner.token)("POST", "/api/v1/versions/generations", { json: body });
    expect((await res.json()).error.code).toBe("versions.signature_invalid");
    expect(await stored()).toBe(before);
  });

  test("a repository whose root is not this installation's Product Root is refused", async () => {
    const other = await makeReleaseKeys();
    dirs.push(other.dir);
    const foreign = await newRepo(other);
    dirs.push(foreign);
    await addRelease(other, foreign, "1.0.0");
    const before = await stored();
    expect(await refusedCode(pushTo(t, owner.token, foreign))).toBe("versions.signature_invalid");
    expect(await stored()).toBe(before);
  });

  test("a generation whose files were not uploaded is refused", async () => {
    const before = await stored();
    const res = await appCall(t, owner.token)("POST", "/api/v1/versions/generations", { json: await generationBody(repo) });
    expect(res.status).toBe(422);
    expect((await res.json()).error.code).toBe("versions.publish_incomplete");
    expect(await stored()).toBe(before);
  });

  test("an uploaded file must hash to the sha256 it is sent under", async () => {
    const res = await appCall(t, owner.token)("PUT", `/api/v1/versions/blobs/${"ab".repeat(32)}`, { bytes: new TextEncoder().encode("not that") });
    expect(res.status).toBe(422);
    expect((await res.json()).error.code).toBe("versions.blob_hash_mismatch");
  });

  test("a good generation is stored, listed and audited", async () => {
    const answer = await pushTo(t, owner.token, repo);
    expect(answer).toMatchObject({ releases: ["1.0.0"] });
    // Moved from staging into the store.
    const sha = (await stores.store.db.query<{ sha256: string }>("select sha256 from release_artifacts where version = '1.0.0' and kind = 'agent'"))[0]!.sha256;
    expect(await t.fabric.versions.store.has(sha)).toBe(true);
    expect(await t.fabric.versions.staging.has(sha)).toBe(false);
    const list = await json(await t.call("GET", "/api/v1/versions/releases", { token: owner.token }), 200);
    expect(list.items.map((r: { version: string }) => r.version)).toEqual(["1.0.0"]);
    const one = await json(await t.call("GET", "/api/v1/versions/releases/1.0.0", { token: owner.token }), 200);
    expect(one.artifacts.map((a: { kind: string }) => a.kind).sort()).toEqual(["agent", "manifest"]);
    const audit = await stores.store.db.query<{ action: string; outcome: string }>(
      "select action, outcome from audit_events where action = 'version.publish' order by at",
    );
    expect(audit.map((a) => a.outcome)).toContain("success");
    expect(audit.map((a) => a.outcome)).toContain("failure");
  });

  test("the same generation again, or an older one, is a replay", async () => {
    const old = await tmp("rap-vrepo-old-");
    await cp(repo, old, { recursive: true });
    await addRelease(keys, repo, "2.0.0");
    expect(await pushTo(t, owner.token, repo)).toMatchObject({ releases: ["2.0.0"] });
    const before = await stored();
    expect(await refusedCode(pushTo(t, owner.token, repo))).toBe("versions.replayed");
    expect(await refusedCode(pushTo(t, owner.token, old))).toBe("versions.replayed");
    expect(await stored()).toBe(before);
  });

  test("a generation whose timestamp has already expired (a frozen feed) is refused", async () => {
    const stale = await tmp("rap-vrepo-stale-");
    await cp(repo, stale, { recursive: true });
    await addRelease(keys, stale, "3.0.0", { now: new Date(Date.now() - 10 * 86_400_000), timestampValidMs: 86_400_000 });
    const before = await stored();
    expect(await refusedCode(pushTo(t, owner.token, stale))).toBe("versions.expired");
    expect(await stored()).toBe(before);
  });

  test("the stored repository serves the agent's own TUF fetch, unchanged", async () => {
    const served = serveApp(t);
    try {
      const state = await tmp("rap-agent-updates-");
      const got = await fetchRelease({
        stateDir: state,
        trustedRootFile: keys.rootFile,
        sources: [`${served.url}/api/v1/versions/repository`],
        version: "2.0.0",
        host: { os: "linux", arch: "x64" },
      });
      expect(got.manifest.version).toBe("2.0.0");
      expect(new TextDecoder().decode(await readFile(got.file))).toStartWith("stand-in agent 2.0.0");
    } finally {
      await served.stop();
    }
  });

  test("a tampered file is never served: the store only holds what verified", async () => {
    const res = await t.call("GET", `/api/v1/versions/repository/targets/agent/9.9.9/${"cd".repeat(32)}.x.tar.gz`);
    expect(res.status).toBe(404);
    const meta = await t.call("GET", "/api/v1/versions/repository/metadata/..%2Fsecret");
    expect(meta.status).toBe(404);
  });

  test("a root that names a separate timestamp key: a refresh signed by that key alone is accepted; a timestamp signed by another key is refused and stores nothing", async () => {
    // The Product Root authorizes root version 2, naming an online timestamp key beside the release key.
    const online = await tmp("rap-vrepo-online-");
    await must("release", ["keygen", "--timestamp", "--out", online]);
    const tsKeys: ReleaseKeys = { ...keys, timestampKey: join(online, "timestamp.key"), timestampPub: join(online, "timestamp.pub") };
    const root2 = join(online, "2.root.json");
    await must("rap", [
      "root",
      "authorize-release-key",
      "--key",
      keys.productRootKey,
      "--release-key",
      keys.releasePub,
      "--timestamp-key",
      tsKeys.timestampPub as string,
      "--version",
      "2",
      "--out",
      root2,
    ]);
    await addRoot(repo, new Uint8Array(await readFile(root2)));
    await addRelease(tsKeys, repo, "4.0.0");
    expect(await pushTo(t, owner.token, repo)).toMatchObject({ releases: ["4.0.0"] });

    // `scripts/release refresh` with the timestamp key only: a new timestamp over the same snapshot.
    const timestampBefore = await readFile(join(repo, "metadata/timestamp.json"), "utf8");
    await must("release", ["refresh", "--repo", repo, "--timestamp-key", tsKeys.timestampKey as string, "--timestamp-pub", tsKeys.timestampPub as string]);
    expect(await readFile(join(repo, "metadata/timestamp.json"), "utf8")).not.toBe(timestampBefore);
    await pushTo(t, owner.token, repo);
    const served = JSON.parse(new TextDecoder().decode(await (await t.call("GET", "/api/v1/versions/repository/metadata/timestamp.json")).arrayBuffer()));
    expect(served).toEqual(JSON.parse(await readFile(join(repo, "metadata/timestamp.json"), "utf8")));

    // The CLI refuses to sign with a key the root does not name; a timestamp signed so anyway is refused by version storage.
    const refused = await runScript("release", ["refresh", "--repo", repo, "--key", keys.releaseKey, "--pub", keys.releasePub]);
    expect(refused.code).not.toBe(0);
    const wrong = await tmp("rap-vrepo-wrong-ts-");
    await cp(repo, wrong, { recursive: true });
    await refreshRepository({
      repoDir: wrong,
      timestampKey: await signingKey(await readFile(keys.releaseKey, "utf8"), await readFile(keys.releasePub, "utf8")),
      now: new Date(),
      timestampValidMs: 86_400_000,
    });
    const before = await stored();
    expect(await refusedCode(pushTo(t, owner.token, wrong))).toBe("versions.signature_invalid");
    expect(await stored()).toBe(before);
  });

  test("a push without step-up is refused", async () => {
    t.clock.advance(60 * 60_000);
    const call = appCall(t, owner.token);
    const res = await call("POST", "/api/v1/versions/generations", { json: await generationBody(repo) });
    expect([401, 403]).toContain(res.status);
  });
});

describe("without a Product Root", () => {
  test("publishing is refused: there is nothing to verify releases against", async () => {
    // The same keys, so the owner's session holds; only the Product Root is missing.
    const bare = await makeApp(stores.store.db, stores.live, { identity: { ...t.identity, productRoot: null }, clock: t.clock });
    t.clock.advance(60_000);
    const again = await signIn(bare, owner.email, { totpSecret: owner.totpSecret });
    t.clock.advance(60_000);
    await stepUp(bare, again);
    const res = await pushRepository(repo, appCall(bare, again.token)).catch((e: Error) => e.message);
    expect(String(res)).toContain("versions.no_product_root");
  });
});
