/**
 * Self-update end to end with real processes and real artifacts: a control
 * plane process, an agent enrolled in it, running from A/B slots under the
 * launcher (agent/packaging/rap-agent-launcher), updating itself from a TUF
 * repository that `scripts/release` built and signed and a loopback server
 * serves (an update cache in front of it in one case).
 *
 * - a good v2: the agent switches, reaches the control plane on v2, promotes it;
 * - a v4 whose agent crashes on start: the launcher brings v2 back by itself;
 * - killed in each update state: the node ends on a known version, never half-updated;
 * - an unsigned (tampered) release: refused, nothing switched.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { AgentCluster } from "../../fixtures/agent-cluster.ts";
import { buildRelease, makeReleaseKeys, publish, type ReleaseKeys, type RepoServer, serveRepo } from "../../fixtures/releases.ts";
import { type ChildProcess, spawn } from "../../core/runtime/index.ts";
import { waitFor } from "../../fixtures/wait.ts";
import { freePort } from "../../fixtures/process.ts";
import type { UpdateStatus } from "./machine.ts";

setDefaultTimeout(180_000);

const LAUNCHER = join(import.meta.dirname, "../packaging/rap-agent-launcher");
let c: AgentCluster;
let keys: ReleaseKeys;
let repo: string;
let server: RepoServer;
let work: string;
let stateDir: string;
let updates: string;
let holdFile: string;
let launcher: ChildProcess | undefined;
let output = "";

async function buildAndPublish(version: string, extra: string[] = []): Promise<void> {
  const b = await buildRelease(version, extra);
  try {
    await publish(keys, b, repo);
  } finally {
    await rm(b, { recursive: true, force: true });
  }
}

async function status(): Promise<UpdateStatus | undefined> {
  return readFile(join(updates, "status.json"), "utf8").then(
    (t) => JSON.parse(t) as UpdateStatus,
    () => undefined,
  );
}

function startLauncher(sources: string[]): void {
  output = "";
  launcher = spawn(["sh", LAUNCHER, "run", "--state-dir", stateDir, "--heartbeat-interval", "0.3", "--mesh-listen", "127.0.0.1:0"], {
    env: {
      PATH: process.env.PATH,
      RAP_BUN: process.execPath,
      RAP_AGENT_UPDATES_DIR: updates,
      RAP_UPDATE_TRUSTED_ROOT: keys.rootFile,
      RAP_UPDATE_SOURCES: sources.join(","),
      RAP_UPDATE_HEALTH_TIMEOUT_SECONDS: "20",
      RAP_AGENT_TEST_HOLD_UPDATE_AT_FILE: holdFile,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  for (const stream of [launcher.stdout, launcher.stderr]) {
    void (async () => {
      const dec = new TextDecoder();
      const reader = (stream as ReadableStream<Uint8Array>).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        output += dec.decode(value);
      }
    })();
  }
}

async function stopLauncher(): Promise<void> {
  launcher?.kill("SIGTERM");
  await launcher?.exited;
  launcher = undefined;
}

/** The pid of the agent the launcher runs now (its child), from /proc. */
async function agentPid(): Promise<number> {
  const lpid = launcher?.pid as number;
  return waitFor(
    async () => {
      const children = (await readFile(`/proc/${lpid}/task/${lpid}/children`, "utf8").catch(() => "")).trim();
      return children ? Number(children.split(/\s+/)[0]) : undefined;
    },
    { timeoutMs: 20_000, what: "the launcher's agent process" },
  );
}

async function heartbeatVersion(clusterId: string, nodeId: string): Promise<string | undefined> {
  const node = await c.api<{ last_heartbeat?: { agent_version?: string } }>("GET", `/api/v1/clusters/${clusterId}/nodes/${nodeId}`);
  return node.last_heartbeat?.agent_version;
}

let clusterId: string;
let nodeId: string;

beforeAll(async () => {
  c = await AgentCluster.start("rap-self-update-");
  work = await mkdtemp(join(tmpdir(), "rap-self-update-work-"));
  stateDir = join(work, "agent");
  updates = join(work, "updates");
  holdFile = join(work, "hold");
  keys = await makeReleaseKeys();
  repo = join(work, "repo");
  const v1 = await buildRelease("1.0.0");
  await publish(keys, v1, repo);
  server = await serveRepo(repo);
  clusterId = await c.newCluster("updates");
  nodeId = await c.enrollApproved(clusterId, stateDir, "updating-node");
  const install = spawn(
    [
      process.execPath,
      join(import.meta.dirname, "../main.ts"),
      "update",
      "install",
      "--artifact",
      join(v1, "rap-node-agent-1.0.0-linux-x64.tar.gz"),
      "--updates-dir",
      updates,
    ],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  expect(await install.exited).toBe(0);
  await rm(v1, { recursive: true, force: true });
  startLauncher([server.url]);
});

afterAll(async () => {
  await stopLauncher();
  await server?.stop();
  await c?.stop();
  if (keys) await rm(keys.dir, { recursive: true, force: true });
  if (work) await rm(work, { recursive: true, force: true });
});

async function request(version: string): Promise<void> {
  await writeFile(join(updates, "desired"), `${version}\n`);
}

async function settledOn(pred: (s: UpdateStatus) => boolean, what: string): Promise<UpdateStatus> {
  try {
    return await waitFor(
      async () => {
        const s = await status();
        return s && pred(s) ? s : undefined;
      },
      { timeoutMs: 60_000, what },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nstatus: ${JSON.stringify(await status())}\nlauncher output:\n${output.slice(-4000)}`);
  }
}

describe("agent self-update through A/B slots", () => {
  test("v1 runs from slot a and reports its version to the control plane", async () => {
    await waitFor(async () => (await heartbeatVersion(clusterId, nodeId)) === "1.0.0", { timeoutMs: 30_000, what: "a heartbeat from 1.0.0" });
  });

  test("a good v2: switched, healthy against the control plane, promoted", async () => {
    await buildAndPublish("2.0.0");
    await request("2.0.0");
    const s = await settledOn((s) => s.state === "running" && s.current === "2.0.0", "running 2.0.0");
    expect(s.knownGood).toBe("2.0.0");
    await waitFor(async () => (await heartbeatVersion(clusterId, nodeId)) === "2.0.0", { timeoutMs: 30_000, what: "a heartbeat from 2.0.0" });
  });

  test("a v4 whose agent crashes on start: the launcher brings v2 back, which reports the rollback", async () => {
    const crash = join(work, "crash.ts");
    await writeFile(crash, 'throw new Error("v4 crashes on start");\n');
    // The same release tooling, with an entry point that dies at once.
    const { buildAgentArtifact, releaseManifest } = await import("../../scripts/release-lib/build.ts");
    const out = await mkdtemp(join(tmpdir(), "rap-build-4-"));
    const agent = await buildAgentArtifact({ version: "4.0.0", arch: "x64", outDir: out, entrySource: crash });
    const manifest = releaseManifest({ version: "4.0.0", channel: "candidate", now: new Date(), agent: [agent], workloads: {} });
    await writeFile(join(out, "release.json"), JSON.stringify({ manifest, files: [agent] }));
    await publish(keys, out, repo);
    await request("4.0.0");
    const s = await settledOn((s) => s.state === "rolled_back" && s.failed === "4.0.0", "rolled back from 4.0.0");
    expect(s).toMatchObject({ current: "2.0.0", knownGood: "2.0.0" });
    expect(await readFile(join(updates, "watchdog.log"), "utf8")).toContain("rollback");
    await waitFor(async () => (await heartbeatVersion(clusterId, nodeId)) === "2.0.0", { timeoutMs: 30_000, what: "2.0.0 heartbeating again" });
    // The control plane hears about it in the heartbeats.
    await waitFor(
      async () => {
        const node = await c.api<{ last_heartbeat?: { telemetry?: { update?: { state?: string; failed?: string } } } }>(
          "GET",
          `/api/v1/clusters/${clusterId}/nodes/${nodeId}`,
        );
        const u = node.last_heartbeat?.telemetry?.update;
        return u?.state === "rolled_back" && u.failed === "4.0.0";
      },
      { timeoutMs: 30_000, what: "the rollback in the node's heartbeat telemetry" },
    );
    await rm(out, { recursive: true, force: true });
  });

  test("a release whose signed manifest lists a node-local migration this agent cannot run is rolled back, never half-applied", async () => {
    const { buildAgentArtifact, releaseManifest } = await import("../../scripts/release-lib/build.ts");
    const out = await mkdtemp(join(tmpdir(), "rap-build-6-"));
    const agent = await buildAgentArtifact({ version: "6.0.0", arch: "x64", outDir: out });
    const manifest = releaseManifest({
      version: "6.0.0",
      channel: "candidate",
      now: new Date(),
      agent: [agent],
      workloads: {},
      migrations: [
        {
          id: "state-db-v2",
          kind: "node_local_state",
          from_version: "2.0.0",
          to_version: "6.0.0",
          preflight: ["free disk for a copy of state.db"],
          backup_required: true,
          rollback: "restore_backup",
          downgrade_possible: false,
        },
      ],
    });
    await writeFile(join(out, "release.json"), JSON.stringify({ manifest, files: [agent] }));
    await publish(keys, out, repo);
    await rm(out, { recursive: true, force: true });
    const before = await status();
    await request("6.0.0");
    const s = await settledOn((s) => s.state === "rolled_back" && s.failed === "6.0.0", "6.0.0 rolled back");
    expect(s).toMatchObject({ current: before?.current, knownGood: before?.knownGood, migration: true });
    expect(s.reason).toContain("migrations");
  });

  const killStates = ["checking", "downloading", "verifying", "staging", "starting", "health_checking", "promoting"] as const;
  let patch = 0;
  for (const state of killStates) {
    test(`killed in ${state}: the node ends on a known version and reaches the control plane`, async () => {
      patch += 1;
      const target = `2.0.${patch}`;
      await buildAndPublish(target);
      await writeFile(holdFile, state);
      await stopLauncher();
      startLauncher([server.url]);
      const before = await status();
      await request(target);
      await settledOn((s) => s.state === state && s.target === target, `held in ${state}`);
      const pid = await agentPid();
      await rm(holdFile, { force: true });
      process.kill(pid, "SIGKILL");
      // Settled, and nothing more asked for: an update interrupted before the switch is tried again (the request stands), so wait for that too.
      const end = await settledOn(
        (s) => ["running", "rolled_back", "failed"].includes(s.state) && s.at !== before?.at && !existsSync(join(updates, "desired")),
        `settled after the kill in ${state}`,
      );
      // Whatever happened, the node runs either the version it had or the target, and it is known good or the launcher is on it.
      expect([before?.current, target]).toContain(end.current);
      const slots = JSON.parse(
        await new Response(
          spawn([process.execPath, join(import.meta.dirname, "../main.ts"), "update", "status", "--updates-dir", updates], { stdout: "pipe" })
            .stdout as ReadableStream<Uint8Array<ArrayBuffer>>,
        ).text(),
      );
      expect(slots.slots.version).toBe(end.current);
      await waitFor(async () => (await heartbeatVersion(clusterId, nodeId)) === end.current, { timeoutMs: 30_000, what: `${end.current} heartbeating` });
    });
  }

  test("with an update-cache node in front, the agent fetches through it", async () => {
    const port = await freePort();
    const cacheProc = spawn([process.execPath, join(import.meta.dirname, "cache-main.ts")], {
      env: {
        PATH: process.env.PATH,
        RAP_UPDATE_CACHE_UPSTREAM: server.url,
        RAP_UPDATE_TRUSTED_ROOT: keys.rootFile,
        RAP_UPDATE_CACHE_DIR: join(work, "update-cache"),
        RAP_UPDATE_CACHE_LISTEN: `127.0.0.1:${port}`,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    const cacheUrl = `http://127.0.0.1:${port}`;
    try {
      await waitFor(
        () =>
          fetch(`${cacheUrl}/metadata/timestamp.json`).then(
            (r) => r.ok,
            () => false,
          ),
        { timeoutMs: 20_000, what: "the update cache" },
      );
      await buildAndPublish("5.0.0");
      await stopLauncher();
      // The origin listed second: the agent must not need it while the cache answers.
      startLauncher([cacheUrl, server.url]);
      const seen = server.requests.length;
      await request("5.0.0");
      await settledOn((s) => s.state === "running" && s.current === "5.0.0", "running 5.0.0 through the cache");
      const artifact = server.requests.slice(seen).filter((p) => p.startsWith("/targets/agent/5.0.0/"));
      expect(artifact).toHaveLength(1); // the cache's one fetch; the agent got its copy from the cache
      expect(existsSync(join(work, "update-cache/targets/agent/5.0.0"))).toBe(true);
    } finally {
      cacheProc.kill("SIGTERM");
      await cacheProc.exited;
      await stopLauncher();
      startLauncher([server.url]);
    }
  });

  test("a tampered release is refused and nothing is switched", async () => {
    const before = await status();
    await buildAndPublish("9.0.0");
    const tampered = await serveRepo(repo);
    const { readdir } = await import("node:fs/promises");
    const dir = join(repo, "targets/agent/9.0.0");
    const [name] = await readdir(dir);
    tampered.override.set(`targets/agent/9.0.0/${name}`, new TextEncoder().encode("not the signed bytes"));
    await stopLauncher();
    startLauncher([tampered.url]);
    await request("9.0.0");
    const s = await settledOn((s) => s.state === "failed" && s.failed === "9.0.0", "9.0.0 refused");
    expect(s.current).toBe(before?.current as string);
    expect(s.reason).toMatch(/length|hash|mismatch/i);
    await stopLauncher();
    await tampered.stop();
    startLauncher([server.url]);
  });
});
