/**
 * `scripts/start --agents 2 --approve` with real processes: two local agents
 * enrolled, approved, given mesh roles and beating; the mesh forms (status,
 * found without flags, shows established channels); a killed agent is
 * restarted; SIGINT leaves no process behind; a second run on the same data
 * reuses the owner, the cluster and the agents without any approval.
 */
import { afterAll, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { type ChildProcess, scriptArgv, sleep, spawn } from "../core/runtime/index.ts";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runAgent } from "../fixtures/agent-process.ts";
import { collectOutput, freePort } from "../fixtures/process.ts";
import { waitFor } from "../fixtures/wait.ts";

setDefaultTimeout(240_000);

let dir: string;
const started: ChildProcess[] = [];
afterAll(async () => {
  for (const p of started) if (p.exitCode === null) p.kill("SIGKILL");
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Membership {
  status: string;
  node_id: string;
  roles: string[];
  last_heartbeat_at: string | null;
  state_dir: string;
  mesh: { peers?: { node_id: string; channel: string }[] } | null;
}

/** `rap-node-agent status --json` with no --state-dir: finds the dev cluster's agents through DATA_DIR. */
async function status(): Promise<Membership[]> {
  // Probes spawn a process each: pace them.
  await sleep(500);
  const { output } = await runAgent(["status", "--json"], { DATA_DIR: dir });
  return (JSON.parse(output.trim() || "{}").memberships ?? []) as Membership[];
}

/** Process ids whose command line mentions the test's data directory (the agents), plus the ones the script printed. */
async function leftovers(printed: number[]): Promise<number[]> {
  const p = spawn(["pgrep", "-f", dir], { stdout: "pipe" });
  const byDir = (await new Response(p.stdout).text()).split("\n").filter(Boolean).map(Number);
  const alive = printed.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  return [...new Set([...byDir, ...alive])];
}

async function startCluster(port: number) {
  const proc = spawn(scriptArgv(join(import.meta.dirname, "dev-cluster.ts"), ["--agents", "2", "--approve"]), {
    env: { PATH: process.env.PATH ?? "", DATA_DIR: dir, PORT: String(port) },
    stdout: "pipe",
    stderr: "pipe",
  });
  started.push(proc);
  const output = collectOutput(proc);
  const explain = (err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nthe script said:\n${output().slice(-4000)}`);
  };
  const pids = () => [proc.pid, ...[...output().matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]))];
  return { proc, output, explain, pids };
}

/** Both agents enrolled, beating after `since`, with their mesh roles and an established channel to each other. */
async function meshFormed(since: number) {
  return waitFor(
    async () => {
      const ms = await status();
      if (ms.length !== 2 || ms.some((m) => m.status !== "enrolled" || !m.last_heartbeat_at || Date.parse(m.last_heartbeat_at) < since)) return null;
      const [a, b] = ms as [Membership, Membership];
      const linked = (x: Membership, y: Membership) => x.mesh?.peers?.some((p) => p.node_id === y.node_id && p.channel === "established");
      return linked(a, b) && linked(b, a) ? ms : null;
    },
    { timeoutMs: 120_000, what: "two agents beating with an established mesh channel" },
  );
}

test("a dev cluster forms a live mesh, restarts a dead agent, stops cleanly and is reused by a second run", async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-dev-cluster-"));
  const port = await freePort();

  // First run: owner, cluster, two agents enrolled and approved, mesh roles, a mesh.
  const t0 = Date.now();
  const first = await startCluster(port);
  const ms = await meshFormed(t0).catch(first.explain);
  console.log(`dev cluster: mesh formed ${Math.round((Date.now() - t0) / 1000)} s after start`);
  expect(ms.map((m) => m.roles)).toEqual([["entry-node"], ["relay-node"]]);
  expect(ms.map((m) => m.state_dir)).toEqual([join(dir, "agents", "agent-1"), join(dir, "agents", "agent-2")]);
  expect(first.output()).toMatch(/\[agent-1\] .*enrolled in cluster/);
  expect(first.output()).toContain("[dev-cluster] ready:");
  expect((await stat(join(dir, "dev-owner.json"))).mode & 0o777).toBe(0o600);

  // A killed agent is restarted and beats again.
  const run1 = Number(/agent-1 run started \(pid (\d+)\)/.exec(first.output())![1]);
  process.kill(run1, "SIGKILL");
  const killedAt = Date.now();
  await waitFor(() => /agent-1 exited \(.*\); restarting/.test(first.output()) && first.output().split("agent-1 run started").length === 3, {
    timeoutMs: 30_000,
    what: "agent-1 restarted",
  }).catch(first.explain);
  await waitFor(async () => (await status()).every((m) => m.last_heartbeat_at && Date.parse(m.last_heartbeat_at) > killedAt), {
    timeoutMs: 60_000,
    what: "the restarted agent beating",
  }).catch(first.explain);

  // SIGINT (Ctrl-C) stops everything it started.
  first.proc.kill("SIGINT");
  expect(await first.proc.exited).toBe(0);
  await sleep(200);
  expect(await leftovers(first.pids())).toEqual([]);

  // Second run on the same data, at once: everything reused, nothing to approve, no TOTP code needed.
  const t1 = Date.now();
  const second = await startCluster(port);
  await meshFormed(t1).catch(second.explain);
  console.log(`dev cluster: second run's mesh formed ${Math.round((Date.now() - t1) / 1000)} s after start`);
  const out = second.output();
  expect(out).toContain("[dev-cluster] reusing");
  expect(out).toMatch(/agent-1: reusing node/);
  expect(out).toMatch(/agent-2: reusing node/);
  expect(out).not.toContain("join request");
  expect(out).not.toContain("approved");
  expect(out).not.toContain("waiting for the next TOTP step");
  expect(out).not.toContain("role entry-node assigned");
  second.proc.kill("SIGTERM");
  expect(await second.proc.exited).toBe(0);
  await sleep(200);
  expect(await leftovers(second.pids())).toEqual([]);
});
