/**
 * Certificate renewal across expiry, with real agents (the agent's own
 * enroll, runners, renewal, supervisor and mesh, in this process) against
 * the in-process control plane over HTTP, on one manual clock, and the real
 * QUIC mesh between them.
 *
 * The clock starts about 30 days before now, so the first certificates
 * expire (in real time, which is what the QUIC layer checks) seconds after
 * the test has set up. The test then moves the clock: to just before each
 * node's renewal time (nothing happens), past it (the node renews and its
 * mesh connection moves to the new certificate), and past the old
 * certificates' expiry, which it also waits out in real time so the
 * transport would have closed anything still riding an old certificate. A
 * third node, in a cluster that has lost its authority (a minority
 * partition, which issues no certificates), fails to renew and says so.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { sleep } from "../core/runtime/index.ts";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useStores } from "../fixtures/stores.ts";
import { makeApp, serveApp, testIdentity, type TestApp } from "../fixtures/control-plane.ts";
import { bootstrapOwner, enrollTotp, json, signIn, stepUp, type Session } from "../fixtures/identity.ts";
import { createJoinToken } from "../fixtures/nodes.ts";
import { ManualClock } from "../fixtures/clock.ts";
import { waitFor } from "../fixtures/wait.ts";
import { runAgent } from "../fixtures/agent-process.ts";
import { CERTIFICATE_VALIDITY_MS } from "../control/nodes/service.ts";
import { AgentStore, type Membership } from "./store.ts";
import { enroll } from "./enroll.ts";
import { Agent } from "./agent.ts";
import { certificateFacts, RENEW_AT_FRACTION, RENEW_JITTER_FRACTION } from "./renew.ts";
import type { Random } from "./clock.ts";

setDefaultTimeout(120_000);

const stores = useStores();
const DAY = 86_400_000;
/** Real time left on the first certificates once they are issued: time to set up (generous: CI machines are busy). */
const SETUP_MARGIN_MS = 45_000;
/** What setup costs in clock time before the approvals (five TOTP codes move the clock 30 s each). */
const SETUP_CLOCK_MS = 150_000;

/** Set when setup starts (after the stores are up), so the margin is not spent opening them. */
let clock: ManualClock;
let t: TestApp;
let server: { url: string; stop: () => Promise<void> };
let owner: Session;
let dir: string;
const logs: string[] = [];

interface Host {
  name: string;
  clusterId: string;
  stateDir: string;
  store: AgentStore;
  nodeId: string;
  agent?: Agent;
}
const hosts: Host[] = [];

const admin = (method: string, path: string, body?: unknown) => t.call(method, `/api/v1${path}`, { token: owner.token, body });
const membershipOf = async (h: Host): Promise<Membership> => (await h.store.membership(h.clusterId))!;
/** The serial of the certificate in force, once its renewal state is recorded too. */
const serialOf = async (h: Host) => (await h.store.certificateRenewal(h.clusterId))?.serial ?? certificateFacts((await membershipOf(h)).certificatePem!).serial;
const meshOf = (h: Host) => h.agent!.members.get(h.clusterId)!.running;
const logged = (h: Host, text: string) => logs.filter((l) => l.startsWith(`${h.name} `) && l.includes(text));

/** The agent's own enrollment, approved by the owner as soon as every request is pending. */
async function enrollAll(wanted: { name: string; clusterId: string }[]): Promise<void> {
  const started = [];
  for (const w of wanted) {
    const stateDir = join(dir, w.name);
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const store = await AgentStore.open(join(stateDir, "state.db"), clock);
    const jt = await createJoinToken(t, owner, w.clusterId);
    let done: Membership | undefined;
    const enrolling = enroll(store, {
      controlPlaneUrl: server.url,
      clusterId: w.clusterId,
      token: jt.token,
      authorityFingerprint: jt.authority_fingerprint,
      nodeName: w.name,
      stateDir,
      requestedRoles: [],
      pollIntervalMs: 100,
      timeoutMs: 10 * 60_000,
      progress: () => {},
      clock,
      random: () => 0.5,
    }).then((m) => {
      done = m;
    });
    started.push({ ...w, stateDir, store, enrolling, done: () => done });
  }
  const pending = async (clusterId: string, name: string) =>
    (await json(await admin("GET", `/clusters/${clusterId}/join-requests?status=pending`), 200)).items.find((r: { node_name: string }) => r.node_name === name);
  const requests = [];
  for (const s of started) requests.push(await waitFor(() => pending(s.clusterId, s.name), { clock, what: `${s.name}'s join request` }));
  await stepUp(t, owner);
  for (const [i, s] of started.entries()) {
    const { node_id } = await json(await admin("POST", `/clusters/${s.clusterId}/join-requests/${requests[i].id}/approve`, {}), 200);
    hosts.push({ name: s.name, clusterId: s.clusterId, stateDir: s.stateDir, store: s.store, nodeId: node_id });
  }
  for (const s of started) await waitFor(() => s.done(), { clock, what: `${s.name} enrolled` });
}

async function startAgent(h: Host, random: Random): Promise<void> {
  h.agent = await Agent.start({
    store: h.store,
    stateDir: h.stateDir,
    heartbeatIntervalMs: 5000,
    registry: {},
    mesh: { listen: "127.0.0.1:0", tickMs: 200 },
    log: (msg, f) => logs.push(`${h.name} ${msg} ${JSON.stringify(f ?? {})}`),
    clock,
    random,
  });
}

beforeAll(async () => {
  clock = new ManualClock(Date.now() - CERTIFICATE_VALIDITY_MS + SETUP_MARGIN_MS - SETUP_CLOCK_MS);
  dir = await mkdtemp(join(tmpdir(), "rap-renewal-"));
  t = await makeApp(stores.store.db, stores.live, { clock, identity: await testIdentity({ accessTtlSeconds: 60 * 24 * 3600 }) });
  server = serveApp(t);
  owner = await enrollTotp(t, await bootstrapOwner(t));
  const fra = (await json(await admin("POST", "/clusters", { name: "Frankfurt", slug: "fra" }), 201)).id;
  const cut = (await json(await admin("POST", "/clusters", { name: "Cut off", slug: "cut" }), 201)).id;
  await enrollAll([
    { name: "a", clusterId: fra },
    { name: "b", clusterId: fra },
    { name: "c", clusterId: cut },
  ]);
  // The second cluster loses its authority: it issues no certificates until promoted.
  await stepUp(t, owner);
  await json(await admin("POST", `/clusters/${cut}/partition/minority`, { reason: "lost its quorum" }), 200);
  for (const h of hosts.filter((x) => x.clusterId === fra))
    await json(await admin("POST", `/clusters/${fra}/nodes/${h.nodeId}/roles`, { role: "entry-node" }), 201);
  // A renews at exactly 2/3 of its lifetime, B 0.8 day later, C 0.8 day earlier (the jitter is ±1/30 of the lifetime).
  const [a, b, c] = hosts;
  await startAgent(a!, () => 0.5);
  await startAgent(b!, () => 0.9);
  await startAgent(c!, () => 0.1);
});

afterAll(async () => {
  for (const h of hosts) await h.agent?.stop();
  for (const h of hosts) h.store.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("certificate renewal across expiry", () => {
  test("nodes renew at 2/3 of the lifetime with jitter; the mesh channel stays up across the renewals and carries messages after the old certificates expired; a node that cannot renew reports it", async () => {
    const [a, b, c] = hosts as [Host, Host, Host];
    const first = await Promise.all(hosts.map(async (h) => certificateFacts((await membershipOf(h)).certificatePem!)));
    const lifetime = first[0]!.notAfter.getTime() - first[0]!.notBefore.getTime();
    expect(lifetime).toBeGreaterThanOrEqual(30 * DAY);
    expect(first.every((f) => f.notAfter.getTime() > Date.now())).toBe(true);

    // The two entry nodes hold a direct channel; B receives what A sends.
    const channel = (from: Host, to: Host) =>
      meshOf(from)
        ?.status()
        .peers.find((p) => p.node_id === to.nodeId);
    await waitFor(() => channel(a, b)?.channel === "established" && channel(a, b)?.route === "direct" && channel(b, a)?.channel === "established", {
      clock,
      stepMs: 200,
      timeoutMs: 30_000,
      what: `A–B channel; logs:\n${logs.join("\n")}`,
    });
    const received: string[] = [];
    meshOf(b)!.onMessage((m) => received.push(new TextDecoder().decode(m.data)));
    const say = async (text: string) => {
      expect(await meshOf(a)!.send(b.nodeId, "input", new TextEncoder().encode(text))).toBe(true);
      await waitFor(() => received.includes(text), { clock, stepMs: 200, what: `"${text}" at B` });
    };
    await say("before renewal");

    // Each node drew its renewal time: 2/3 of the lifetime, within ±1/30 of it.
    const renewAt = async (h: Host) =>
      (await waitFor(() => h.store.certificateRenewal(h.clusterId), { clock, what: `${h.name}'s renewal state` })).renewAt.getTime();
    for (const [i, h] of hosts.entries()) {
      const offset = (await renewAt(h)) - first[i]!.notBefore.getTime();
      expect(Math.abs(offset - RENEW_AT_FRACTION * lifetime)).toBeLessThanOrEqual(RENEW_JITTER_FRACTION * lifetime);
    }
    expect(await renewAt(a)).toBe(first[0]!.notBefore.getTime() + Math.round(lifetime * RENEW_AT_FRACTION));
    expect(await renewAt(c)).toBeLessThan(await renewAt(a));
    expect(await renewAt(b)).toBeGreaterThan((await renewAt(a)) + 12 * 3_600_000);

    if (Date.now() > first[0]!.notAfter.getTime() - 5000)
      throw new Error(`setup took longer than the ${SETUP_MARGIN_MS} ms the first certificates had left in real time; raise SETUP_MARGIN_MS`);

    // A minute before A's renewal time nothing renews (C, whose time came earlier, tries and fails).
    const firstSerials = await Promise.all(hosts.map(serialOf));
    await clock.jump((await renewAt(a)) - clock.now().getTime() - 60_000);
    await waitFor(async () => (await c.store.certificateRenewal(c.clusterId))?.failures, { clock, what: "C's first failed attempt" });
    expect(await serialOf(a)).toBe(firstSerials[0]!);

    // Past it, A renews: a new certificate for the same key, in its state, and its mesh moves to it.
    await clock.jump(2 * 60_000);
    await waitFor(async () => (await serialOf(a)) !== firstSerials[0], { clock, what: `A renewed; logs:\n${logs.join("\n")}` });
    const renewedA = certificateFacts((await membershipOf(a)).certificatePem!);
    expect(renewedA.notAfter.getTime()).toBeGreaterThan(first[0]!.notAfter.getTime());
    expect(renewedA.spki).toEqual(first[0]!.spki);
    const identities = (await json(await admin("GET", `/clusters/${a.clusterId}/nodes/${a.nodeId}`), 200)).identities as {
      status: string;
      fingerprint: string;
    }[];
    expect(identities.map((i) => i.status).sort()).toEqual(["active", "rotated"]);
    expect(new Set(identities.map((i) => i.fingerprint)).size).toBe(1);
    const stateA = (await a.store.certificateRenewal(a.clusterId))!;
    expect(stateA).toMatchObject({ serial: renewedA.serial, failures: 0, lastError: null });
    expect(stateA.renewedAt!.getTime()).toBeLessThan(first[0]!.notAfter.getTime());
    await waitFor(
      () =>
        meshOf(b)!
          .mesh.stats()
          .peers.find((p) => p.node_id === a.nodeId)?.serial === renewedA.serial,
      { clock, stepMs: 200, what: `B sees A's renewed certificate; logs:\n${logs.join("\n")}` },
    );
    await say("after A renewed");

    // B's turn, 0.8 day later: its connection moves the other way.
    await clock.jump((await renewAt(b)) - clock.now().getTime() + 60_000);
    await waitFor(async () => (await serialOf(b)) !== firstSerials[1], { clock, what: "B renewed" });
    const renewedB = certificateFacts((await membershipOf(b)).certificatePem!);
    await waitFor(
      () =>
        meshOf(a)!
          .mesh.stats()
          .peers.find((p) => p.node_id === b.nodeId)?.serial === renewedB.serial,
      { clock, stepMs: 200, what: "A sees B's renewed certificate" },
    );
    await say("after B renewed");

    // The old certificates expire: in clock time and in real time (the transport's), plus the second it allows.
    await clock.jump(Math.max(...first.map((f) => f.notAfter.getTime())) - clock.now().getTime() + 60_000);
    const lastOld = Math.max(first[0]!.notAfter.getTime(), first[1]!.notAfter.getTime());
    await sleep(Math.max(0, lastOld + 2500 - Date.now()));
    await say("after the old certificates expired");
    expect(channel(a, b)?.channel).toBe("established");
    expect(channel(b, a)?.channel).toBe("established");
    // Up all along: no channel closed on either side; each side saw its channel move once.
    expect([...logged(a, "mesh channel closed"), ...logged(b, "mesh channel closed")]).toEqual([]);
    // Each renewal moved the channel once, seen on both sides.
    expect(logged(a, "mesh channel moved to a new connection")).toHaveLength(2);
    expect(logged(b, "mesh channel moved to a new connection")).toHaveLength(2);

    // C could not renew before its certificate expired, and says so: in its state…
    const stateC = (await c.store.certificateRenewal(c.clusterId))!;
    expect(stateC.serial).toBe(firstSerials[2]!);
    expect(stateC.failures).toBeGreaterThanOrEqual(3);
    expect(stateC.lastError).toContain("cluster.partition_minority");
    expect(logged(c, "certificate expired and renewal failed; retrying").length).toBeGreaterThanOrEqual(1);
    // …in `rap-node-agent status --json` (a real process, on real time: the certificate has expired there too)…
    const status = JSON.parse((await runAgent(["status", "--json", "--state-dir", c.stateDir])).output).memberships[0];
    expect(status.certificate).toMatchObject({ state: "expired", serial: firstSerials[2], last_error: expect.stringContaining("cluster.partition_minority") });
    expect(status.certificate.renewal_failures).toBeGreaterThanOrEqual(3);
    const statusA = JSON.parse((await runAgent(["status", "--json", "--state-dir", a.stateDir])).output).memberships[0];
    expect(statusA.certificate).toMatchObject({ state: "valid", serial: renewedA.serial, renewal_failures: 0, last_error: null });
    // …and in its heartbeats, which the control plane shows with the node. (A month has passed: the owner signs in again.)
    owner = await signIn(t, owner.email, { totpSecret: owner.totpSecret });
    const telemetry = await waitFor(
      async () => {
        const tm = (await json(await admin("GET", `/clusters/${c.clusterId}/nodes/${c.nodeId}`), 200)).last_heartbeat?.telemetry;
        return tm?.certificate_expired === true ? tm : null;
      },
      { clock, stepMs: 1000, what: "C's heartbeat with the expired certificate" },
    );
    expect(telemetry).toMatchObject({
      certificate_not_after: first[2]!.notAfter.toISOString(),
      certificate_renewal_failures: expect.any(Number),
      certificate_renewal_error: expect.stringContaining("cluster.partition_minority"),
    });
    const telemetryA = (await json(await admin("GET", `/clusters/${a.clusterId}/nodes/${a.nodeId}`), 200)).last_heartbeat?.telemetry;
    expect(telemetryA).toMatchObject({ certificate_expired: false, certificate_renewal_failures: 0, certificate_not_after: renewedA.notAfter.toISOString() });

    // Once the cluster is promoted, C renews on its next attempt, although its certificate has expired.
    await stepUp(t, owner);
    await json(await admin("POST", `/clusters/${c.clusterId}/partition/promote`), 200);
    await clock.jump(60 * 60_000);
    await waitFor(async () => (await serialOf(c)) !== firstSerials[2], {
      clock,
      stepMs: 1000,
      what: `C renewed after the promotion; state ${JSON.stringify(await c.store.certificateRenewal(c.clusterId))}; logs:\n${logged(c, "").slice(-8).join("\n")}`,
    });
    expect(await c.store.certificateRenewal(c.clusterId)).toMatchObject({ failures: 0, lastError: null });
  });
});
