/**
 * Channels and rollouts over HTTP, real stores and enrolled nodes that send
 * real heartbeats: what each heartbeat answers (`update`), how reported
 * update states move a rollout ring by ring, halt it (by failures, by hand,
 * by a blocklisted version) and send moved nodes back, and that every
 * change is audited and bad input changes nothing.
 */
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, testIdentity, type TestApp } from "../../fixtures/control-plane.ts";
import { bootstrapOwner, enrollTotp, json, stepUp, type Session } from "../../fixtures/identity.ts";
import { enrollNode, type EnrolledNode } from "../../fixtures/nodes.ts";
import { makeReleaseKeys, type ReleaseKeys } from "../../fixtures/releases.ts";
import { addRelease, newRepo, productRootPublic, pushTo } from "../../fixtures/version-repo.ts";

setDefaultTimeout(90_000);
const stores = useStores();

let t: TestApp;
let owner: Session;
let keys: ReleaseKeys;
let repo: string;
let cluster: string;
let canary: EnrolledNode;
let rest: EnrolledNode[];
let seq = 0;

type Update = { request_id: string; version: string; sources: string[] } | null;

/** One heartbeat of `node` reporting `update` (as agent/updates/updater.ts telemetry() does); the answer's update request. */
async function beat(node: EnrolledNode, update?: { state: string; current: string; target?: string; failed?: string }): Promise<Update> {
  const body = { seq: ++seq, agent_version: update?.current ?? "1.0.0", telemetry: update ? { update: { ...update, known_good: update.current } } : {} };
  const answer = await json(await t.call("POST", "/api/v1/node-agents/heartbeat", { token: node.token, body }), 202);
  return answer.update as Update;
}

const api = async (method: string, path: string, body?: unknown, status = 200) => {
  await stepUp(t, owner);
  return json(await t.call(method, `/api/v1/versions${path}`, { token: owner.token, body }), status);
};
const picture = () => api("GET", `/clusters/${cluster}`);
const auditActions = async () =>
  (await stores.store.db.query<{ action: string }>("select action from audit_events where action like 'version.%' order by at, id")).map((a) => a.action);

beforeAll(async () => {
  keys = await makeReleaseKeys();
  t = await makeApp(stores.store.db, stores.live, {
    identity: await testIdentity({ productRoot: { publicKeyB64: await productRootPublic(keys), privateKeyPkcs8B64: "" }, accessTtlSeconds: 24 * 3600 }),
  });
  owner = await enrollTotp(t, await bootstrapOwner(t));
  await stepUp(t, owner);
  repo = await newRepo(keys);
  for (const v of ["1.0.0", "2.0.0", "3.0.0"]) await addRelease(keys, repo, v);
  await pushTo(t, owner.token, repo);
  cluster = (await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "c", slug: "c" } }), 201)).id;
  canary = await enrollNode(t, owner, cluster, { can_route_mesh: true }, "canary-1");
  rest = [await enrollNode(t, owner, cluster, { can_route_mesh: true }, "edge-1"), await enrollNode(t, owner, cluster, { can_route_mesh: true }, "edge-2")];
  await api("PUT", `/clusters/${cluster}/nodes/${canary.nodeId}`, { channel: "stable", ring: "canary" });
}, 180_000);

afterAll(async () => {
  for (const d of [repo, keys?.dir]) if (d) await rm(d, { recursive: true, force: true });
});

describe("channels", () => {
  test("a channel pointed at a release asks every node of it that runs something else, with version storage as the source", async () => {
    expect(await beat(rest[0]!, { state: "idle", current: "0.9.0" })).toBeNull();
    await api("PUT", `/clusters/${cluster}/channels/stable`, { version: "1.0.0" });
    const asked = await beat(rest[0]!, { state: "idle", current: "0.9.0" });
    expect(asked).toMatchObject({ version: "1.0.0" });
    expect(asked!.sources).toEqual(["http://localhost/api/v1/versions/repository"]);
    for (const n of [canary, ...rest]) expect(await beat(n, { state: "running", current: "1.0.0" })).toBeNull();
    expect(await auditActions()).toContain("version.channel_set");
  });

  test("bad input changes nothing", async () => {
    const before = JSON.stringify(await picture());
    await stepUp(t, owner);
    const unknown = await t.call("PUT", `/api/v1/versions/clusters/${cluster}/channels/stable`, { token: owner.token, body: { version: "9.9.9" } });
    expect(unknown.status).toBe(404);
    const badRing = await t.call("POST", `/api/v1/versions/clusters/${cluster}/rollouts`, {
      token: owner.token,
      body: { channel: "stable", version: "2.0.0", rings: ["canary", "canary"] },
    });
    expect(badRing.status).toBe(400);
    const badChannel = await t.call("PUT", `/api/v1/versions/clusters/${cluster}/channels/nightly`, { token: owner.token, body: { version: "2.0.0" } });
    expect(badChannel.status).toBe(400);
    expect(JSON.stringify(await picture())).toBe(before);
  });
});

describe("a rollout", () => {
  let id: string;

  test("moves the canary first; the rest wait until the canary runs the version", async () => {
    const r = await api("POST", `/clusters/${cluster}/rollouts`, { channel: "stable", version: "2.0.0", rings: ["canary", "default"] }, 201);
    id = r.id;
    const conflict = await t.call("POST", `/api/v1/versions/clusters/${cluster}/rollouts`, {
      token: owner.token,
      body: { channel: "stable", version: "3.0.0", rings: ["canary"] },
    });
    expect((await conflict.json()).error.code).toBe("versions.rollout_open");
    const ask = await beat(canary, { state: "running", current: "1.0.0" });
    expect(ask).toMatchObject({ version: "2.0.0", request_id: `rollout:${id}:to:2.0.0` });
    for (const n of rest) expect(await beat(n, { state: "running", current: "1.0.0" })).toBeNull();
    // The canary updates: running on 2.0.0, the ring is done, the next one starts.
    expect(await beat(canary, { state: "running", current: "2.0.0", target: "2.0.0" })).toBeNull();
    const p = await picture();
    const shown = p.rollouts.find((x: { id: string }) => x.id === id);
    expect(shown.rings).toEqual([
      { ring: "canary", reached: true, nodes: 1, running: 1, failed: 0 },
      { ring: "default", reached: true, nodes: 2, running: 0, failed: 0 },
    ]);
    for (const n of rest) expect(await beat(n, { state: "running", current: "1.0.0" })).toMatchObject({ version: "2.0.0" });
  });

  test("completes when the last ring runs it, and the channel then points at it", async () => {
    for (const n of rest) await beat(n, { state: "running", current: "2.0.0", target: "2.0.0" });
    const p = await picture();
    expect(p.rollouts.find((x: { id: string }) => x.id === id).status).toBe("completed");
    expect(p.channels.find((c: { channel: string }) => c.channel === "stable").version).toBe("2.0.0");
    expect(p.nodes.map((n: { update: { current: string } }) => n.update.current)).toEqual(["2.0.0", "2.0.0", "2.0.0"]);
    expect(await auditActions()).toEqual(expect.arrayContaining(["version.rollout_start", "version.rollout_advance", "version.rollout_complete"]));
  });

  test("halts by itself when the canary rolls back, and the rest never get the version", async () => {
    const r = await api("POST", `/clusters/${cluster}/rollouts`, { channel: "stable", version: "3.0.0", rings: ["canary", "default"] }, 201);
    expect(await beat(canary, { state: "running", current: "2.0.0" })).toMatchObject({ version: "3.0.0" });
    // Its agent crashed on start; the launcher went back to the known-good slot.
    expect(await beat(canary, { state: "rolled_back", current: "2.0.0", target: "3.0.0" })).toBeNull();
    const p = await picture();
    const shown = p.rollouts.find((x: { id: string }) => x.id === r.id);
    expect(shown.status).toBe("halted");
    expect(shown.halted_reason).toContain("ring canary");
    for (const n of rest) expect(await beat(n, { state: "running", current: "2.0.0" })).toBeNull();
    expect(await auditActions()).toContain("version.rollout_halt");
  });

  test("pause holds it at a ring; resume moves on", async () => {
    await beat(canary, { state: "running", current: "2.0.0" });
    const r = await api("POST", `/clusters/${cluster}/rollouts`, { channel: "stable", version: "3.0.0", rings: ["canary", "default"] }, 201);
    await api("POST", `/clusters/${cluster}/rollouts/${r.id}/pause`);
    expect(await beat(canary, { state: "running", current: "3.0.0", target: "3.0.0" })).toBeNull();
    for (const n of rest) expect(await beat(n, { state: "running", current: "2.0.0" })).toBeNull();
    const resumed = await api("POST", `/clusters/${cluster}/rollouts/${r.id}/resume`);
    expect(resumed).toMatchObject({ status: "active", state: { ring_index: 1 } });
    const pauseTwice = await t.call("POST", `/api/v1/versions/clusters/${cluster}/rollouts/${r.id}/resume`, { token: owner.token });
    expect((await pauseTwice.json()).error.code).toBe("versions.rollout_state");
    expect(await beat(rest[0]!, { state: "running", current: "2.0.0" })).toMatchObject({ version: "3.0.0" });
  });

  test("blocklisting the version halts the rollout and asks moved nodes back to the previous version", async () => {
    const res = await api("POST", "/releases/3.0.0/blocklist", { reason: "crashes on start" });
    expect(res.halted).toHaveLength(1);
    const back = await beat(canary, { state: "running", current: "3.0.0", target: "3.0.0" });
    expect(back).toMatchObject({ version: "2.0.0" });
    expect(back!.request_id).toContain(":back:2.0.0");
    const again = await t.call("POST", `/api/v1/versions/clusters/${cluster}/rollouts`, {
      token: owner.token,
      body: { channel: "stable", version: "3.0.0", rings: ["canary"] },
    });
    expect((await again.json()).error.code).toBe("versions.release_blocked");
    expect(await auditActions()).toContain("version.blocklist");
    // Pointing the channel by hand ends what the halted rollout asked for.
    await api("PUT", `/clusters/${cluster}/channels/stable`, { version: "1.0.0" });
    expect(await beat(canary, { state: "running", current: "3.0.0", target: "3.0.0" })).toMatchObject({ version: "1.0.0" });
    await api("PUT", `/clusters/${cluster}/channels/stable`, { version: "2.0.0" });
  });

  test("an update-cache node of the cluster is named before version storage", async () => {
    const cache = await enrollNode(t, owner, cluster, { can_run_update_cache: true }, "cache-1");
    await stepUp(t, owner);
    await json(
      await t.call("POST", `/api/v1/clusters/${cluster}/nodes/${cache.nodeId}/roles`, {
        token: owner.token,
        body: { role: "update-cache", policy: { cache_url: "http://10.0.0.5:8088" } },
      }),
      201,
    );
    const asked = await beat(rest[1]!, { state: "running", current: "1.0.0" });
    expect(asked!.sources).toEqual(["http://10.0.0.5:8088", "http://localhost/api/v1/versions/repository"]);
  });
});
