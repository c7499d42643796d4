/**
 * A rollout end to end with real processes and real artifacts: a control
 * plane process that trusts a Product Root, releases built and signed by
 * `scripts/release` and pushed into its version storage with `scripts/release
 * push`, and two enrolled agents running from A/B slots under the launcher.
 * The agents act on their heartbeat answers' `update` themselves (each
 * request id once); nothing in the test asks them for a version.
 *
 * - the edge node has the `update-cache` role: its agent runs
 *   agent/updates/cache-main.ts as the role's workload, the role's
 *   `policy.cache_url` names it, and the canary's heartbeat answer lists it
 *   before version storage: the canary fetches through it;
 * - v2 to the canary ring first; the other node is not asked until the canary
 *   runs it; then the rest; the API the console reads shows progress per ring;
 * - a v3 whose workload fails its health check halts the rollout, the canary
 *   comes back to v2 by itself and the rest never get v3;
 * - a v4 whose agent crashes on start (`failingRelease`) does the same.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { AgentCluster } from "../../fixtures/agent-cluster.ts";
import { buildRelease, makeReleaseKeys, publish, type ReleaseKeys, runScript } from "../../fixtures/releases.ts";
import { type ChildProcess, spawn } from "../../core/runtime/index.ts";
import { collectOutput, freePort } from "../../fixtures/process.ts";
import { waitFor } from "../../fixtures/wait.ts";
import type { UpdateStatus } from "../../agent/updates/machine.ts";

setDefaultTimeout(300_000);

const LAUNCHER = join(import.meta.dirname, "../../agent/packaging/rap-agent-launcher");
/** The role whose release workload v2 carries healthy and v3 carries failing. */
const ROLE = "file-storage-cache";

interface Node {
  name: string;
  id: string;
  stateDir: string;
  updates: string;
  /** The agent's workloads file (what it runs per role), when it has one. */
  workloadsFile?: string;
  launcher?: ChildProcess;
  output: () => string;
}

let c: AgentCluster;
let keys: ReleaseKeys;
let work: string;
let repo: string;
let clusterId: string;
let canary: Node;
let other: Node;
let cacheUrl: string;
let cacheDir: string;
let workloadLog: string;

/** A release whose agent dies at start: the launcher's watchdog must bring the known-good slot back. */
async function failingRelease(version: string): Promise<void> {
  const crash = join(work, `crash-${version}.ts`);
  await writeFile(crash, `throw new Error("${version} crashes on start");\n`);
  const { buildAgentArtifact, releaseManifest } = await import("../../scripts/release-lib/build.ts");
  const out = await mkdtemp(join(tmpdir(), `rap-build-${version}-`));
  const agent = await buildAgentArtifact({ version, arch: "x64", outDir: out, entrySource: crash });
  const manifest = releaseManifest({ version, channel: "candidate", now: new Date(), agent: [agent], workloads: {} });
  await writeFile(join(out, "release.json"), JSON.stringify({ manifest, files: [agent] }));
  await publish(keys, out, repo);
  await rm(out, { recursive: true, force: true });
}

/** A workload directory for `scripts/release build --workload ROLE=DIR`: logs its start, then runs `body`. */
async function workloadDir(name: string, body: string): Promise<string> {
  const dir = join(work, "workload-src", name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "run"), `#!/bin/sh\necho "start $RAP_WORKLOAD_VERSION" >>"$TEST_WORKLOAD_LOG"\n${body}\n`, { mode: 0o755 });
  return dir;
}

async function buildAndPublish(version: string, extra: string[] = []): Promise<void> {
  const b = await buildRelease(version, extra);
  try {
    await publish(keys, b, repo);
  } finally {
    await rm(b, { recursive: true, force: true });
  }
}

async function pushRepo(): Promise<void> {
  const r = await runScript("release", ["push", "--repo", repo, "--control-plane", c.cp.url], { ...process.env, RAP_ACCESS_TOKEN: c.token });
  if (r.code !== 0) throw new Error(`release push exited ${r.code}: ${r.stderr}${r.stdout}`);
}

async function status(n: Node): Promise<UpdateStatus | undefined> {
  return readFile(join(n.updates, "status.json"), "utf8").then(
    (t) => JSON.parse(t) as UpdateStatus,
    () => undefined,
  );
}

function startLauncher(n: Node): void {
  const launcher = spawn(["sh", LAUNCHER, "run", "--state-dir", n.stateDir, "--heartbeat-interval", "0.3", "--mesh-listen", "127.0.0.1:0"], {
    env: {
      PATH: process.env.PATH,
      RAP_BUN: process.execPath,
      RAP_AGENT_UPDATES_DIR: n.updates,
      RAP_UPDATE_TRUSTED_ROOT: keys.rootFile,
      // No configured source: the heartbeat answer's own sources (the cache, then version storage) are all there is.
      RAP_UPDATE_HEALTH_TIMEOUT_SECONDS: "20",
      TEST_WORKLOAD_LOG: workloadLog,
      ...(n.workloadsFile ? { RAP_AGENT_WORKLOADS_FILE: n.workloadsFile } : {}),
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  n.launcher = launcher;
  n.output = collectOutput(launcher);
}

type Picture = {
  channels: { channel: string; version: string | null }[];
  rollouts: {
    id: string;
    status: string;
    halted_reason: string | null;
    rings: { ring: string; reached: boolean; nodes: number; running: number; failed: number }[];
  }[];
  nodes: { node_id: string; asked: { version: string; request_id: string } | null; update: { state: string; current: string | null } | null }[];
};
const picture = () => c.api<Picture>("GET", `/api/v1/versions/clusters/${clusterId}`);
const askedOf = (p: Picture, n: Node) => p.nodes.find((x) => x.node_id === n.id)?.asked ?? null;

async function settled(n: Node, pred: (s: UpdateStatus) => boolean, what: string): Promise<UpdateStatus> {
  try {
    return await waitFor(
      async () => {
        const s = await status(n);
        return s && pred(s) ? s : undefined;
      },
      { timeoutMs: 90_000, what: `${n.name}: ${what}` },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nstatus: ${JSON.stringify(await status(n))}\nlauncher output:\n${n.output().slice(-3000)}`);
  }
}

async function newNode(name: string, v1: string, workloads?: Record<string, unknown>): Promise<Node> {
  const n: Node = { name, id: "", stateDir: join(work, name), updates: join(work, `${name}-updates`), output: () => "" };
  if (workloads) {
    n.workloadsFile = join(work, `${name}-workloads.json`);
    await writeFile(n.workloadsFile, JSON.stringify(workloads));
  }
  n.id = await c.enrollApproved(clusterId, n.stateDir, name);
  const install = spawn(
    [
      process.execPath,
      join(import.meta.dirname, "../../agent/main.ts"),
      "update",
      "install",
      "--artifact",
      join(v1, "rap-node-agent-1.0.0-linux-x64.tar.gz"),
      "--updates-dir",
      n.updates,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  expect(await install.exited).toBe(0);
  startLauncher(n);
  return n;
}

async function rolloutStatus(id: string, want: string): Promise<Picture> {
  return waitFor(
    async () => {
      const p = await picture();
      return p.rollouts.find((x) => x.id === id)?.status === want ? p : undefined;
    },
    { timeoutMs: 30_000, what: `the rollout ${want}` },
  );
}

beforeAll(async () => {
  keys = await makeReleaseKeys();
  c = await AgentCluster.start("rap-rollout-", { env: { INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY_FILE: join(keys.dir, "root/product-root.pub") } });
  work = await mkdtemp(join(tmpdir(), "rap-rollout-work-"));
  repo = join(work, "repo");
  workloadLog = join(work, "workloads.log");
  cacheDir = join(work, "update-cache");
  cacheUrl = `http://127.0.0.1:${await freePort()}`;
  const v1 = await buildRelease("1.0.0");
  await publish(keys, v1, repo);
  // v2 carries a healthy workload for ROLE: it says so through its ready file, then serves until stopped.
  await buildAndPublish("2.0.0", ["--workload", `${ROLE}=${await workloadDir("good", 'touch "$RAP_WORKLOAD_READY_FILE"\nexec tail -f /dev/null')}`]);
  await pushRepo();
  clusterId = await c.newCluster("rollouts");
  canary = await newNode("canary-1", v1);
  // The edge node runs the update cache as its update-cache role's workload, in front of version storage.
  other = await newNode("edge-1", v1, {
    "update-cache": {
      command: [process.execPath, join(import.meta.dirname, "../../agent/updates/cache-main.ts")],
      env: {
        RAP_UPDATE_CACHE_UPSTREAM: `${c.cp.url}/api/v1/versions/repository`,
        RAP_UPDATE_TRUSTED_ROOT: keys.rootFile,
        RAP_UPDATE_CACHE_DIR: cacheDir,
        RAP_UPDATE_CACHE_LISTEN: cacheUrl.replace("http://", ""),
      },
    },
  });
  await rm(v1, { recursive: true, force: true });
  await c.api("PUT", `/api/v1/versions/clusters/${clusterId}/nodes/${canary.id}`, { channel: "stable", ring: "canary" });
  await c.api("PUT", `/api/v1/versions/clusters/${clusterId}/channels/stable`, { version: "1.0.0" });
  await c.assignRole(clusterId, canary.id, ROLE);
  await c.api("POST", `/api/v1/clusters/${clusterId}/nodes/${other.id}/roles`, { role: "update-cache", policy: { cache_url: cacheUrl } });
});

afterAll(async () => {
  for (const n of [canary, other]) {
    n?.launcher?.kill("SIGTERM");
    await n?.launcher?.exited;
  }
  await c?.stop();
  if (keys) await rm(keys.dir, { recursive: true, force: true });
  if (work) await rm(work, { recursive: true, force: true });
});

describe("a rollout with real agents", () => {
  test("both nodes report 1.0.0 to version storage's picture; the edge node's update cache serves", async () => {
    await waitFor(
      async () => {
        const p = await picture();
        return p.nodes.every((n) => n.update?.current === "1.0.0" && n.update.state !== undefined) && p.nodes.length === 2;
      },
      { timeoutMs: 60_000, what: "update states from both agents" },
    );
    await waitFor(
      () =>
        fetch(`${cacheUrl}/metadata/timestamp.json`).then(
          (r) => r.ok,
          () => false,
        ),
      { timeoutMs: 30_000, what: "the update cache the edge agent runs as its role's workload" },
    );
  });

  test("v2 reaches the canary first, fetched through the update cache, then the rest; the console API shows each ring", async () => {
    const r = await c.api("POST", `/api/v1/versions/clusters/${clusterId}/rollouts`, { channel: "stable", version: "2.0.0", rings: ["canary", "default"] });
    // Until the canary runs 2.0.0, the other node is not asked.
    expect(askedOf(await picture(), other)).toBeNull();
    await settled(canary, (s) => s.state === "running" && s.current === "2.0.0", "running 2.0.0");
    // The canary's answer listed the cache first: the canary's agent fetched from it, and the cache fetched,
    // verified and keeps v2's agent and workload.
    expect(canary.output()).toMatch(new RegExp(`"msg":"release fetched".*"target":"2\\.0\\.0".*"source":"${cacheUrl}"`));
    expect(canary.output()).not.toMatch(/"msg":"release fetched".*"source":"[^"]*versions\/repository"/);
    expect(existsSync(join(cacheDir, "targets/agent/2.0.0"))).toBe(true);
    expect(existsSync(join(cacheDir, `targets/workloads/${ROLE}/2.0.0`))).toBe(true);
    await settled(other, (s) => s.state === "running" && s.current === "2.0.0", "running 2.0.0");
    const p = await rolloutStatus(r.id, "completed");
    expect(p.rollouts.find((x) => x.id === r.id)!.rings).toEqual([
      { ring: "canary", reached: true, nodes: 1, running: 1, failed: 0 },
      { ring: "default", reached: true, nodes: 1, running: 1, failed: 0 },
    ]);
    expect(p.channels.find((x) => x.channel === "stable")!.version).toBe("2.0.0");
    expect(await readFile(workloadLog, "utf8")).toContain("start 2.0.0");
  });

  test("a v3 whose workload fails its health check halts the rollout; the canary comes back to v2 by itself; the rest never get v3", async () => {
    await buildAndPublish("3.0.0", ["--workload", `${ROLE}=${await workloadDir("bad", "exit 3")}`]);
    await pushRepo();
    const r = await c.api("POST", `/api/v1/versions/clusters/${clusterId}/rollouts`, { channel: "stable", version: "3.0.0", rings: ["canary", "default"] });
    const s = await settled(canary, (s) => s.state === "rolled_back" && s.failed === "3.0.0", "rolled back from 3.0.0");
    expect(s).toMatchObject({ current: "2.0.0", knownGood: "2.0.0" });
    expect(s.reason).toContain(`workload ${ROLE} of 3.0.0 exited with code 3`);
    const p = await rolloutStatus(r.id, "halted");
    expect(p.rollouts.find((x) => x.id === r.id)!.halted_reason).toContain("ring canary");
    expect(askedOf(p, other)).toBeNull();
    expect(await status(other)).toMatchObject({ current: "2.0.0" });
    expect(existsSync(join(other.updates, "workloads", ROLE, "3.0.0"))).toBe(false);
    // v2's workload runs again on the canary.
    await waitFor(async () => (await readFile(workloadLog, "utf8")).trim().split("\n").at(-1) === "start 2.0.0", {
      timeoutMs: 30_000,
      what: "the 2.0.0 workload started again",
    });
  });

  test("a v4 whose agent crashes on start rolls the canary back and halts the rollout: the rest never get it", async () => {
    await failingRelease("4.0.0");
    await pushRepo();
    const r = await c.api("POST", `/api/v1/versions/clusters/${clusterId}/rollouts`, { channel: "stable", version: "4.0.0", rings: ["canary", "default"] });
    await settled(canary, (s) => s.state === "rolled_back" && s.failed === "4.0.0", "rolled back from 4.0.0");
    const p = await rolloutStatus(r.id, "halted");
    expect(p.rollouts.find((x) => x.id === r.id)!.halted_reason).toContain("ring canary");
    expect(askedOf(p, other)).toBeNull();
    expect(await status(other)).toMatchObject({ current: "2.0.0" });
    const audit = await c.api<{ items: { action: string }[] }>("GET", "/api/v1/audit?limit=100");
    expect(audit.items.map((a) => a.action)).toEqual(expect.arrayContaining(["version.publish", "version.rollout_start", "version.rollout_halt"]));
  });
});
