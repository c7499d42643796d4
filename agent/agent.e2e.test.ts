/**
 * rap-node-agent end to end: a real control plane process and real agent
 * processes. Enrollment with the agent killed mid-way, approval, bootstrap,
 * pinning, heartbeats, a role reaching the agent's snapshot, revocation; and
 * one host enrolled in two clusters without their state mixing.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { spawnControlPlane } from "../fixtures/process.ts";
import { AgentCluster } from "../fixtures/agent-cluster.ts";
import { storeKind } from "../fixtures/stores.ts";
import { runAgent, spawnAgent } from "../fixtures/agent-process.ts";
import { waitFor } from "../fixtures/wait.ts";
import { keyPath } from "./keys.ts";

setDefaultTimeout(120_000);

let c: AgentCluster;
let dir: string;
let workloadsFile: string;
let pidDir: string;

const api = <T = Record<string, any>>(method: string, path: string, body?: unknown) => c.api<T>(method, path, body);
const newCluster = (slug: string) => c.newCluster(slug);
const enrollApproved = (clusterId: string, stateDir: string, name: string) => c.enrollApproved(clusterId, stateDir, name);
const stateArgs = (stateDir: string) => ["--state-dir", stateDir];

beforeAll(async () => {
  // A fixed port, so the control plane can be stopped and started again where the agents expect it.
  c = await AgentCluster.start("rap-agent-e2e-");
  dir = c.dir;
  pidDir = join(dir, "pids");
  await mkdir(pidDir);
  workloadsFile = join(dir, "workloads.json");
  await writeFile(
    workloadsFile,
    JSON.stringify({ "relay-node": { command: [process.execPath, join(import.meta.dirname, "../fixtures/workload.ts")], env: { WORKLOAD_PID_DIR: pidDir } } }),
  );
});

afterAll(async () => {
  await c?.stop();
});

describe("rap-node-agent", () => {
  test("enroll survives a kill while pending, then approve → bootstrap → pin → heartbeats → roles → revocation", async () => {
    const clusterId = await newCluster("agents");
    const jt = await api("POST", `/api/v1/clusters/${clusterId}/join-tokens`, { requested_roles: [] });
    const stateDir = join(dir, "host-a");
    const enrollArgs = [
      "enroll",
      "--control-plane",
      c.cp.url,
      "--cluster",
      clusterId,
      "--token",
      jt.token,
      "--authority-fingerprint",
      jt.authority_fingerprint,
      "--name",
      "edge-a",
      "--poll-interval",
      "0.2",
      ...stateArgs(stateDir),
    ];

    const first = spawnAgent(enrollArgs);
    await first.waitFor(/join request (\S+) sent/);
    const requestId = /join request (\S+) sent/.exec(first.output())![1]!;
    first.proc.kill("SIGKILL");
    await first.exited;
    expect((await stat(keyPath(stateDir, clusterId))).mode & 0o777).toBe(0o600);

    const second = spawnAgent(enrollArgs);
    await second.waitFor(`resuming enrollment: join request ${requestId}`);
    const pending = await api("GET", `/api/v1/clusters/${clusterId}/join-requests?status=pending`);
    expect(pending.items.map((r: { id: string }) => r.id)).toEqual([requestId]);
    const approved = await api("POST", `/api/v1/clusters/${clusterId}/join-requests/${requestId}/approve`, {});
    expect(await second.exited).toBe(0);
    expect(second.output()).toContain(`enrolled in cluster ${clusterId} as node ${approved.node_id}`);

    const status = JSON.parse((await runAgent(["status", "--json", ...stateArgs(stateDir)])).output);
    expect(status.memberships).toEqual([
      expect.objectContaining({
        cluster_id: clusterId,
        status: "enrolled",
        node_id: approved.node_id,
        authority_fingerprint: jt.authority_fingerprint,
        snapshot_version: 1,
      }),
    ]);

    const runner = spawnAgent(["run", "--heartbeat-interval", "0.3", "--workloads", workloadsFile, ...stateArgs(stateDir)]);
    try {
      await waitFor(async () => (await api("GET", `/api/v1/clusters/${clusterId}/nodes/${approved.node_id}`)).last_heartbeat, {
        timeoutMs: 20_000,
        what: "first heartbeat",
      });
      const node = await api("GET", `/api/v1/clusters/${clusterId}/nodes/${approved.node_id}`);
      expect(node).toMatchObject({ status: "active", health: "healthy" });
      expect(node.last_heartbeat.telemetry).toMatchObject({ memory_total_bytes: expect.any(Number), snapshot_version: 1 });

      const { id: assignment } = await api("POST", `/api/v1/clusters/${clusterId}/nodes/${approved.node_id}/roles`, { role: "relay-node" });
      await runner.waitFor(/"msg":"snapshot applied".*"relay-node"/, 20_000);
      const after = JSON.parse((await runAgent(["status", "--json", ...stateArgs(stateDir)])).output).memberships[0];
      expect(after.roles).toEqual(["relay-node"]);
      expect(after.snapshot_version).toBe(2);
      // The role's workload runs as a supervised child and is reported running.
      await waitFor(() => existsSync(join(pidDir, "relay-node.pid")), { timeoutMs: 10_000, what: "relay workload" });
      await waitFor(
        async () =>
          (await api("GET", `/api/v1/clusters/${clusterId}/nodes/${approved.node_id}`)).services.find(
            (x: { reported_state: string }) => x.reported_state === "running",
          ),
        { timeoutMs: 10_000, what: "running report" },
      );

      await api("DELETE", `/api/v1/clusters/${clusterId}/nodes/${approved.node_id}/roles/${assignment}`);
      await waitFor(() => !existsSync(join(pidDir, "relay-node.pid")), { timeoutMs: 20_000, what: "relay workload stopped" });
      await api("POST", `/api/v1/clusters/${clusterId}/nodes/${approved.node_id}/roles`, { role: "relay-node" });
      await waitFor(() => existsSync(join(pidDir, "relay-node.pid")), { timeoutMs: 20_000, what: "relay workload again" });

      await api("POST", `/api/v1/clusters/${clusterId}/nodes/${approved.node_id}/revoke`, { reason: "decommissioned" });
      await runner.waitFor("the control plane refuses this node", 20_000);
      await waitFor(() => !existsSync(join(pidDir, "relay-node.pid")), { timeoutMs: 10_000, what: "everything stopped on revocation" });
    } finally {
      runner.proc.kill("SIGTERM");
      expect(await runner.exited).toBe(0);
    }
  });

  test("one host in two clusters: separate memberships, keys and certificates", async () => {
    const stateDir = join(dir, "host-b");
    const nodes: Record<string, string> = {};
    for (const slug of ["north", "south"]) {
      const clusterId = await newCluster(slug);
      nodes[clusterId] = await enrollApproved(clusterId, stateDir, "shared-host");
    }
    const { memberships } = JSON.parse((await runAgent(["status", "--json", ...stateArgs(stateDir)])).output);
    expect(memberships).toHaveLength(2);
    const [a, b] = memberships;
    expect(a.cluster_id).not.toBe(b.cluster_id);
    expect(a.node_id).not.toBe(b.node_id);
    expect(a.fingerprint).not.toBe(b.fingerprint);
    expect(a.authority_fingerprint).not.toBe(b.authority_fingerprint);
    for (const m of memberships) expect(m.node_id).toBe(nodes[m.cluster_id]);
    // One agent runs both memberships; each cluster sees its own node, key and certificate.
    const runner = spawnAgent(["run", "--heartbeat-interval", "0.3", ...stateArgs(stateDir)]);
    try {
      for (const m of memberships) {
        const node = await waitFor(
          async () => {
            const n = await api("GET", `/api/v1/clusters/${m.cluster_id}/nodes/${m.node_id}`);
            return n.last_heartbeat ? n : null;
          },
          { timeoutMs: 20_000, what: `heartbeat in ${m.cluster_id}` },
        );
        expect(node.identities.map((i: { fingerprint: string }) => i.fingerprint)).toEqual([m.fingerprint]);
      }
    } finally {
      runner.proc.kill("SIGTERM");
      await runner.exited;
    }
    expect((await stat(keyPath(stateDir, a.cluster_id))).ino).not.toBe((await stat(keyPath(stateDir, b.cluster_id))).ino);
    const left = await runAgent(["leave", "--cluster", a.cluster_id, ...stateArgs(stateDir)]);
    expect(left.code).toBe(0);
    const rest = JSON.parse((await runAgent(["status", "--json", ...stateArgs(stateDir)])).output).memberships;
    expect(rest.map((m: { cluster_id: string }) => m.cluster_id)).toEqual([b.cluster_id]);
  });

  test("control plane stopped → the agent runs degraded on its last snapshot → restarted → recovered", async () => {
    const clusterId = await newCluster("outage");
    const stateDir = join(dir, "host-e");
    const nodeId = await enrollApproved(clusterId, stateDir, "survivor");
    const runner = spawnAgent(["run", "--heartbeat-interval", "0.3", ...stateArgs(stateDir)]);
    try {
      await waitFor(async () => (await api("GET", `/api/v1/clusters/${clusterId}/nodes/${nodeId}`)).last_heartbeat, { timeoutMs: 20_000, what: "heartbeat" });
      await c.cp.stop();
      await runner.waitFor("running degraded from the last valid snapshot", 20_000);
      const degraded = JSON.parse((await runAgent(["status", "--json", ...stateArgs(stateDir)])).output).memberships[0];
      expect(degraded).toMatchObject({ degraded: true, snapshot_version: 1, node_id: nodeId });
      c.cp = await spawnControlPlane(c.cpEnv);
      await runner.waitFor("leaving degraded mode", 30_000);
      const recovered = JSON.parse((await runAgent(["status", "--json", ...stateArgs(stateDir)])).output).memberships[0];
      expect(recovered.degraded).toBe(false);
    } finally {
      runner.proc.kill("SIGTERM");
      await runner.exited;
    }
  });

  // Needs a second connection to the control plane's database, which only a PostgreSQL server allows.
  test.skipIf(storeKind !== "postgres")("a tampered snapshot is rejected, reported, and never applied", async () => {
    const clusterId = await newCluster("tamper");
    const stateDir = join(dir, "host-t");
    const nodeId = await enrollApproved(clusterId, stateDir, "target");
    // A new version exists (a role), then someone with database access rewrites it to add another role.
    await api("POST", `/api/v1/clusters/${clusterId}/nodes/${nodeId}/roles`, { role: "relay-node" });
    const v2 = await api("GET", `/api/v1/clusters/${clusterId}/nodes/${nodeId}/snapshot`);
    expect(v2.version).toBe(2);
    const [h, p, sig] = (v2.jws as string).split(".");
    const doc = JSON.parse(Buffer.from(p!, "base64url").toString());
    doc.roles.push({ role: "entry-node", organization_id: null });
    const tampered = `${h}.${Buffer.from(JSON.stringify(doc)).toString("base64url")}.${sig}`;
    await c.store!.db.query("update node_snapshots set snapshot_jws = $1 where node_id = $2 and version = 2", [tampered, nodeId]);

    const runner = spawnAgent(["run", "--heartbeat-interval", "0.3", ...stateArgs(stateDir)]);
    try {
      await runner.waitFor('"msg":"snapshot rejected"', 20_000);
      await waitFor(
        async () => ((await api("GET", `/api/v1/clusters/${clusterId}/nodes/${nodeId}`)).last_heartbeat?.telemetry?.snapshot_rejections ?? 0) >= 1,
        { timeoutMs: 20_000, what: "rejection reported" },
      );
      const status = JSON.parse((await runAgent(["status", "--json", ...stateArgs(stateDir)])).output).memberships[0];
      expect(status).toMatchObject({ snapshot_version: 1, roles: [] });
    } finally {
      runner.proc.kill("SIGTERM");
      await runner.exited;
    }
  });

  test("errors are one line with a cause and a fix; no control plane is waited out until --timeout", async () => {
    const r = await runAgent([
      "enroll",
      "--control-plane",
      c.cp.url,
      "--cluster",
      crypto.randomUUID(),
      "--token",
      `rap_jt_abcdefghijkl_${"A".repeat(43)}`,
      ...stateArgs(join(dir, "host-c")),
    ]);
    expect(r.code).toBe(1);
    expect(r.output.trim().split("\n")).toHaveLength(1);
    expect(r.output).toContain("(enrollment.refused)");
    const usage = await runAgent(["enroll"]);
    expect(usage.code).toBe(2);
    // No control plane is transient: the agent says so once and waits, here until its --timeout.
    const down = await runAgent([
      "enroll",
      "--control-plane",
      "http://127.0.0.1:9",
      "--cluster",
      crypto.randomUUID(),
      "--token",
      "x",
      "--timeout",
      "3",
      ...stateArgs(join(dir, "host-d")),
    ]);
    expect(down.code).toBe(1);
    const lines = down.output.trim().split("\n");
    expect(lines.filter((l) => l.includes("unreachable") && l.includes("retrying with backoff"))).toHaveLength(1);
    expect(lines.at(-1)).toMatch(/gave up after 3 s: control plane http:\/\/127\.0\.0\.1:9 unreachable.*\(timeout\)$/);
  });
});
