/**
 * The mesh with real processes: one control plane, two entry nodes (A, C)
 * and two relays (R1, R2), each a real `rap-node-agent run` with its own
 * fabric-quic endpoint. Direct paths are blocked by agent-level refusal
 * (each agent's refuse file), so the control plane's signed relay paths and
 * the agents' local failover and shortcut decisions are what carries the
 * route-health pings that `status` reports.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AgentCluster } from "../../fixtures/agent-cluster.ts";
import { runAgent, spawnAgent, type AgentProcess } from "../../fixtures/agent-process.ts";
import { waitFor } from "../../fixtures/wait.ts";

setDefaultTimeout(180_000);

interface MeshAgent {
  name: string;
  nodeId: string;
  stateDir: string;
  refuseFile: string;
  proc: AgentProcess;
}
interface PeerView {
  node_id: string;
  channel: string;
  failure: string | null;
  route: "direct" | string[] | null;
  shortcut: boolean;
  rtt_ms: number | null;
  reached_via: string | null;
  reached_at: string | null;
}

let c: AgentCluster;
let clusterId: string;
const agents: Record<string, MeshAgent> = {};

async function startAgent(name: string, role: string): Promise<MeshAgent> {
  const stateDir = join(c.dir, name);
  const nodeId = await c.enrollApproved(clusterId, stateDir, name);
  await c.assignRole(clusterId, nodeId, role);
  const refuseFile = join(c.dir, `${name}.refuse.json`);
  await writeFile(refuseFile, "[]");
  const proc = spawnAgent(["run", "--state-dir", stateDir, "--heartbeat-interval", "1", "--mesh-listen", "127.0.0.1:0"], {
    RAP_MESH_REFUSE_FILE: refuseFile,
    RAP_MESH_TICK_MS: "200",
    RAP_MESH_LINK_REPORT_MS: "1000",
    // Loopback has no latency to save: let a shortcut qualify as soon as the direct path works.
    RAP_MESH_SHORTCUT_MIN_FLOW_MS: "500",
    RAP_MESH_SHORTCUT_MIN_ROUTE_LATENCY_MS: "0",
    RAP_MESH_SHORTCUT_MIN_GAIN: "-10",
    // Recovered direct links are reported after 10 s as shortcuts instead of 30 s, so reconfigured topologies settle quickly.
    RAP_MESH_SHORTCUT_PROBATION_MS: "10000",
  });
  return { name, nodeId, stateDir, refuseFile, proc };
}

async function refuse(a: MeshAgent, ...others: MeshAgent[]) {
  await writeFile(a.refuseFile, JSON.stringify(others.map((o) => o.nodeId)));
}

/** The last view each test read, named in a timeout's message so a failure says where the mesh stood. */
let lastView: PeerView | string | undefined;

async function view(from: MeshAgent, to: MeshAgent): Promise<PeerView | undefined> {
  const { code, output } = await runAgent(["status", "--json", "--state-dir", from.stateDir]);
  if (code !== 0) {
    lastView = `status exited ${code}: ${output.slice(0, 300)}`;
    return undefined;
  }
  const mesh = JSON.parse(output).memberships[0].mesh as { peers?: PeerView[] } | null;
  const peer = mesh?.peers?.find((p) => p.node_id === to.nodeId);
  lastView = peer ?? `${from.name} lists no peer ${to.name}`;
  return peer;
}

/** waitFor over `view`, whose timeout names the last view seen. */
async function waitForView<T>(probe: () => Promise<T | null>, what: string): Promise<NonNullable<T>> {
  try {
    return await waitFor(probe, { timeoutMs: 45_000, what });
  } catch (e) {
    throw new Error(`${(e as Error).message}; last view: ${JSON.stringify(lastView)}`);
  }
}

/** Waits until `from` reaches `to` over `route` (node ids of relays, or "direct") with a fresh ping answer. */
async function reaches(from: MeshAgent, to: MeshAgent, route: "direct" | MeshAgent[], since = Date.now()) {
  const want = route === "direct" ? "direct" : route.map((r) => r.nodeId);
  return waitForView(
    async () => {
      const v = await view(from, to);
      if (!v || JSON.stringify(v.route) !== JSON.stringify(want) || !v.reached_at || Date.parse(v.reached_at) < since) return null;
      const expectedVia = route === "direct" ? null : route[0]!.nodeId;
      return v.reached_via === expectedVia ? v : null;
    },
    `${from.name} → ${to.name} over ${route === "direct" ? "direct" : route.map((r) => r.name).join(" → ")}`,
  );
}

beforeAll(async () => {
  c = await AgentCluster.start("rap-mesh-e2e-");
  clusterId = await c.newCluster("mesh");
  agents.a = await startAgent("a", "entry-node");
  agents.c = await startAgent("c", "entry-node");
  agents.r1 = await startAgent("r1", "relay-node");
  agents.r2 = await startAgent("r2", "relay-node");
});

afterAll(async () => {
  if (process.env.MESH_E2E_LOGS)
    for (const a of Object.values(agents))
      console.log(`=== status ${a.name}`, (await runAgent(["status", "--json", "--state-dir", a.stateDir])).output.slice(0, 5000));
  if (process.env.MESH_E2E_LOGS) for (const a of Object.values(agents)) console.log(`--- ${a.name} ${a.nodeId}\n${a.proc.output().slice(-6000)}`);
  for (const a of Object.values(agents)) {
    a.proc.proc.kill("SIGTERM");
    await a.proc.exited;
  }
  await c?.stop();
});

describe("mesh with real agent processes", () => {
  test("direct: every pair of mesh nodes holds an authenticated channel and pings answer directly", async () => {
    const { a, c: cc, r1 } = agents;
    const ac = await reaches(a!, cc!, "direct");
    expect(ac.channel).toBe("established");
    // A heartbeat round trip on loopback.
    expect(ac.rtt_ms!).toBeLessThan(1000);
    await reaches(cc!, a!, "direct");
    expect((await reaches(r1!, a!, "direct")).channel).toBe("established");
  });

  test("one relay: A and C refuse each other, the signed path goes through a relay and back", async () => {
    const { a, c: cc, r1, r2 } = agents;
    await refuse(a!, cc!);
    await refuse(cc!, a!);
    const v = await waitForView(async () => {
      const x = await view(a!, cc!);
      return x && Array.isArray(x.route) && x.route.length === 1 && x.reached_via === x.route[0] && x.channel !== "established" ? x : null;
    }, "a one-relay route from a to c");
    expect([r1!.nodeId, r2!.nodeId]).toContain((v.route as string[])[0]!);
    const back = await waitForView(async () => {
      const x = await view(cc!, a!);
      return x && Array.isArray(x.route) && x.route.length === 1 && x.reached_via === x.route[0] ? x : null;
    }, "an answer over one relay");
    expect(back.route).toHaveLength(1);
  });

  test("two relays: A talks only to R1 and C only to R2, so A reaches C over R1 → R2", async () => {
    const { a, c: cc, r1, r2 } = agents;
    await refuse(a!, cc!, r2!);
    await refuse(cc!, a!, r1!);
    await refuse(r1!, cc!);
    await refuse(r2!, a!);
    const v = await reaches(a!, cc!, [r1!, r2!]);
    expect(v.channel).not.toBe("established");
    await reaches(cc!, a!, [r2!, r1!]);
  });

  test("failover: the relay in use is killed, A moves to the other relay without waiting for the control plane", async () => {
    const { a, c: cc } = agents;
    for (const x of Object.values(agents)) await refuse(x);
    await refuse(a!, cc!);
    await refuse(cc!, a!);
    const before = await waitForView(async () => {
      const x = await view(a!, cc!);
      return x && Array.isArray(x.route) && x.route.length === 1 && x.reached_via === x.route[0] ? x : null;
    }, "an answer over one relay");
    const used = Object.values(agents).find((x) => x.nodeId === (before.route as string[])[0])!;
    const spare = used === agents.r1 ? agents.r2! : agents.r1!;
    // The spare must be up on both sides before the kill.
    await reaches(a!, spare, "direct");
    await reaches(cc!, spare, "direct");
    const killedAt = Date.now();
    used.proc.proc.kill("SIGKILL");
    await used.proc.exited;
    const after = await reaches(a!, cc!, [spare], killedAt);
    const failoverMs = Date.parse(after.reached_at!) - killedAt;
    console.log(`failover: first answer over the spare relay ${failoverMs} ms after the kill`);
    expect(failoverMs).toBeLessThan(30_000);
    expect(a!.proc.output()).toContain('"msg":"mesh route"');
    delete agents[used === agents.r1 ? "r1" : "r2"];
  });

  test("shortcut: a direct path that becomes usable replaces the relay path, and the relay path returns when it fails", async () => {
    const { a, c: cc } = agents;
    const relay = agents.r1 ?? agents.r2!;
    await reaches(a!, cc!, [relay]);
    await refuse(a!);
    await refuse(cc!);
    await waitForView(async () => {
      const x = await view(a!, cc!);
      return x?.shortcut && x.route === "direct" && x.channel === "established" ? x : null;
    }, "a shortcut from a to c");
    expect(a!.proc.output()).toContain('"msg":"mesh shortcut created"');
    await refuse(a!, cc!);
    await refuse(cc!, a!);
    const reverted = await reaches(a!, cc!, [relay]);
    expect(reverted.shortcut).toBe(false);
    expect(a!.proc.output()).toContain('"msg":"mesh shortcut removed; back on the relay path"');
  });
});
