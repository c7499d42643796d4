/**
 * The agent never dies of a transient refusal: its own enrollment waits out
 * the real control plane's 429 (Retry-After) and enrols; its heartbeats keep
 * going through a 503, a network outage and a 429, with one log line per
 * change, and recover; a definitive refusal ends enrollment at once with the
 * reason and the fix. The real in-process control plane over HTTP, on a
 * manual clock; a small proxy in front of it makes the 503s, the 429s and the
 * outage the real one would not make on demand.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { serve, type RunningServer } from "../core/runtime/index.ts";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useStores } from "../fixtures/stores.ts";
import { makeApp, serveApp, testIdentity, type TestApp } from "../fixtures/control-plane.ts";
import { bootstrapOwner, enrollTotp, json, stepUp, type Session } from "../fixtures/identity.ts";
import { createJoinToken, joinBody, nodeKeys } from "../fixtures/nodes.ts";
import { ManualClock } from "../fixtures/clock.ts";
import { waitFor } from "../fixtures/wait.ts";
import { JOIN_RATE } from "../control/enrollment/service.ts";
import { AgentStore, type Membership } from "./store.ts";
import { enroll } from "./enroll.ts";
import { Agent } from "./agent.ts";
import { AgentError } from "./client.ts";

setDefaultTimeout(120_000);

const stores = useStores();
const clock = new ManualClock(Date.now());
let t: TestApp;
let server: { url: string; stop: () => Promise<void> };
let owner: Session;
let clusterId: string;
let dir: string;

/** What the proxy does with the next request, and the heartbeats it saw (simulated ms, answer). */
let mode: "pass" | "503" | "429" = "pass";
const heartbeats: { at: number; status: number }[] = [];
let proxy: RunningServer;
let proxyPort = 0;
const startProxy = async () => {
  proxy = await serve({
    hostname: "127.0.0.1",
    port: proxyPort,
    fetch: async (req) => {
      const path = new URL(req.url).pathname;
      let res: Response;
      if (mode === "503") res = Response.json({ error: { code: "internal.error", fallback_message: "down for maintenance", details: {} } }, { status: 503 });
      else if (mode === "429")
        res = Response.json(
          { error: { code: "node.rate_limited", fallback_message: "slow down", details: { retry_after_seconds: 20 } } },
          { status: 429, headers: { "retry-after": "20" } },
        );
      else
        res = await fetch(`${server.url}${path}${new URL(req.url).search}`, {
          method: req.method,
          headers: req.headers,
          body: req.body ? await req.text() : undefined,
        });
      if (path.endsWith("/heartbeat")) heartbeats.push({ at: clock.now().getTime(), status: res.status });
      return res;
    },
  });
  proxyPort = proxy.port;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-transient-"));
  t = await makeApp(stores.store.db, stores.live, { clock, identity: await testIdentity({ accessTtlSeconds: 7 * 24 * 3600 }) });
  server = serveApp(t);
  await startProxy();
  owner = await enrollTotp(t, await bootstrapOwner(t));
  clusterId = (await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "Frankfurt", slug: "fra" } }), 201)).id;
});

afterAll(async () => {
  await proxy?.stop({ force: true });
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function openStore(name: string): Promise<{ store: AgentStore; stateDir: string }> {
  const stateDir = join(dir, name);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  return { store: await AgentStore.open(join(stateDir, "state.db"), clock), stateDir };
}

function startEnroll(store: AgentStore, stateDir: string, name: string, url: string, token: string, progress: string[]) {
  let done: Membership | undefined;
  let failed: unknown;
  const running = enroll(store, {
    controlPlaneUrl: url,
    clusterId,
    token,
    authorityFingerprint: null,
    nodeName: name,
    stateDir,
    requestedRoles: [],
    pollIntervalMs: 1000,
    timeoutMs: 10 * 60_000,
    progress: (line) => progress.push(line),
    clock,
    random: () => 0.5,
  }).then(
    (m) => {
      done = m;
    },
    (e) => {
      failed = e;
    },
  );
  return { running, done: () => done, failed: () => failed };
}

async function approve(name: string): Promise<string> {
  const pending = async () =>
    (await json(await t.call("GET", `/api/v1/clusters/${clusterId}/join-requests?status=pending`, { token: owner.token }), 200)).items.find(
      (r: { node_name: string }) => r.node_name === name,
    );
  const request = await waitFor(pending, { clock, what: `${name}'s join request`, timeoutMs: 20_000, stepMs: 500 });
  await stepUp(t, owner);
  return (await json(await t.call("POST", `/api/v1/clusters/${clusterId}/join-requests/${request.id}/approve`, { token: owner.token, body: {} }), 200)).node_id;
}

describe("transient refusals", () => {
  test("enrollment waits out the control plane's 429 and its Retry-After, then enrols", async () => {
    // Made first: the step-up moves the clock 30 s.
    const { token } = await createJoinToken(t, owner, clusterId);
    // The agent's address has used up its budget of wrong guesses for this window.
    for (let i = 0; i < JOIN_RATE.refusalsPerSource; i++)
      await fetch(`${server.url}/api/v1/node-agents/enrollments`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(joinBody(await nodeKeys(), clusterId, `rap_jt_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}_${"A".repeat(43)}`)),
      });
    const { store, stateDir } = await openStore("a");
    const progress: string[] = [];
    const window = Math.floor(clock.now().getTime() / JOIN_RATE.windowMs);
    const e = startEnroll(store, stateDir, "a", server.url, token, progress);
    await waitFor(() => progress.find((l) => l.includes("rate limiting")), { clock, what: "the 429", stepMs: 200 });
    await approve("a");
    await waitFor(() => e.done(), { clock, what: "enrolled", timeoutMs: 20_000, stepMs: 500 });
    expect(e.failed()).toBeUndefined();
    // Held back until the window ended, not longer than the window and its jitter.
    const joinedAfter = progress.findIndex((l) => l.startsWith("join request"));
    expect(joinedAfter).toBeGreaterThan(0);
    expect(progress.filter((l) => l.includes("rate limiting"))).toHaveLength(1);
    expect(progress).toContain("the control plane answers again; continuing");
    const request = (await json(await t.call("GET", `/api/v1/clusters/${clusterId}/join-requests?status=approved`, { token: owner.token }), 200)).items.find(
      (r: { node_name: string }) => r.node_name === "a",
    );
    expect(Math.floor(Date.parse(request.created_at) / JOIN_RATE.windowMs)).toBe(window + 1);
    store.close();
  });

  test("heartbeats keep going through a 503, a network outage and a 429, one log line per change, and recover", async () => {
    const { store, stateDir } = await openStore("b");
    const { token } = await createJoinToken(t, owner, clusterId);
    const e = startEnroll(store, stateDir, "b", `http://127.0.0.1:${proxyPort}`, token, []);
    const nodeId = await approve("b");
    await waitFor(() => e.done(), { clock, what: "enrolled", timeoutMs: 20_000 });
    const logs: string[] = [];
    const agent = await Agent.start({
      store,
      stateDir,
      heartbeatIntervalMs: 5000,
      registry: {},
      mesh: { listen: "127.0.0.1:0", tickMs: 200 },
      log: (msg) => logs.push(msg),
      clock,
      random: () => 0.5,
    });
    const lines = (text: string) => logs.filter((l) => l.includes(text)).length;
    const accepted = () => heartbeats.filter((h) => h.status === 202).length;
    try {
      await waitFor(() => accepted() > 0, { clock, what: "a heartbeat" });

      mode = "503";
      const before = heartbeats.length;
      await waitFor(() => lines("running degraded") === 1, { clock, what: "degraded" });
      await waitFor(() => heartbeats.length - before >= 5, { clock, what: "heartbeats through the 503", timeoutMs: 20_000, stepMs: 500 });
      expect(lines("running degraded")).toBe(1);
      mode = "pass";
      await waitFor(() => lines("leaving degraded mode") === 1, { clock, what: "recovered from the 503", timeoutMs: 20_000, stepMs: 500 });

      await proxy.stop({ force: true });
      await waitFor(() => lines("running degraded") === 2, { clock, what: "degraded by the outage", timeoutMs: 20_000, stepMs: 500 });
      // Nothing answers for a simulated minute and more; the agent is still trying.
      await clock.advanceAsync(90_000);
      expect(lines("running degraded")).toBe(2);
      await startProxy();
      const afterOutage = accepted();
      await waitFor(() => lines("leaving degraded mode") === 2, { clock, what: "recovered from the outage", timeoutMs: 20_000, stepMs: 500 });
      expect(accepted()).toBeGreaterThan(afterOutage);

      mode = "429";
      const limitedFrom = heartbeats.length;
      await waitFor(() => heartbeats.length - limitedFrom >= 3, { clock, what: "heartbeats through the 429", timeoutMs: 20_000, stepMs: 1000 });
      const limited = heartbeats.slice(limitedFrom).filter((h) => h.status === 429);
      // Retry-After 20 s is honoured: no two attempts closer than that.
      for (let i = 1; i < limited.length; i++) expect(limited[i]!.at - limited[i - 1]!.at).toBeGreaterThanOrEqual(20_000);
      expect(lines("rate limiting this node")).toBe(1);
      expect(lines("running degraded")).toBe(2);
      mode = "pass";
      await waitFor(() => lines("accepts heartbeats again") === 1, { clock, what: "recovered from the 429", timeoutMs: 20_000, stepMs: 1000 });

      // The control plane has it: the node's last heartbeat is recent.
      const recent = async () => {
        const node = await json(await t.call("GET", `/api/v1/clusters/${clusterId}/nodes/${nodeId}`, { token: owner.token }), 200);
        return Date.parse(node.last_heartbeat?.received_at) > clock.now().getTime() - 30_000;
      };
      await waitFor(recent, { what: "the heartbeat recorded" });
    } finally {
      mode = "pass";
      await agent.stop();
      store.close();
    }
  });

  test("a definitive refusal ends enrollment at once, with the reason and the fix", async () => {
    const { token } = await createJoinToken(t, owner, clusterId, { max_uses: 1 });
    await json(await t.call("POST", "/api/v1/node-agents/enrollments", { body: joinBody(await nodeKeys(), clusterId, token) }), 202);
    const { store, stateDir } = await openStore("c");
    const joinsBefore = heartbeats.length;
    const err = await enroll(store, {
      controlPlaneUrl: `http://127.0.0.1:${proxyPort}`,
      clusterId,
      token,
      authorityFingerprint: null,
      nodeName: "c",
      stateDir,
      requestedRoles: [],
      pollIntervalMs: 1000,
      timeoutMs: 60_000,
      progress: () => {},
      clock,
      random: () => 0.5,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe("enrollment.refused");
    expect((err as AgentError).message).toMatch(/^The enrollment was refused: .*used up.*; fix: ask a platform admin for a new join token/);
    expect(heartbeats.length).toBe(joinsBefore);
    store.close();
  });
});
