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
 * - an unsigned (tampered) release: refused, nothing switched;
 * - the control plane's request (the heartbeat answer's `update`): its sources, each request id tried once
 *   (across restarts), the running version answered at once, a downgrade only as the signed rules allow;
 * - workloads from the release: a good one runs in place of the configured command, a v14 whose workload
 *   fails its health check rolls back by itself and the old workload runs again.
 *
 * The agent reaches the real control plane through fixtures/rollout-stand-in.ts, a proxy that adds exactly
 * the contract's `update` to the real heartbeat answers. The control plane answers `update` itself now
 * (http/versions/rollout.e2e.test.ts drives real rollouts), but these cases need requests a rollout never
 * makes on purpose: a version no repository signs, the same version under a new request id, the running
 * version asked again, sources that point at a plain file server (tampered, or with nothing), and ids
 * the test names so it can show each is tried once across restarts.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { AgentCluster } from "../../fixtures/agent-cluster.ts";
import { buildRelease, makeReleaseKeys, publish, type ReleaseKeys, type RepoServer, serveRepo } from "../../fixtures/releases.ts";
import { type ChildProcess, spawn } from "../../core/runtime/index.ts";
import { waitFor } from "../../fixtures/wait.ts";
import { collectOutput, freePort } from "../../fixtures/process.ts";
import { rolloutStandIn, type RolloutStandIn } from "../../fixtures/rollout-stand-in.ts";
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
let output: () => string = () => "";
let rollout: RolloutStandIn;
let workloadLog: string;

async function buildAndPublish(version: string, extra: string[] = []): Promise<void> {
  const b = await buildRelease(version, extra);
  try {
    await publish(keys, b, repo);
  } finally {
    await rm(b, { recursive: true, force: true });
  }
}

/** One migration bundle of a signed manifest: backed up first, restored on rollback, no downgrade. */
function migrationBundle(id: string, kind: "node_local_state" | "service_local_data", from: string, to: string) {
  return {
    id,
    kind,
    from_version: from,
    to_version: to,
    preflight: ["free disk for a copy of state.db"],
    backup_required: true,
    rollback: "restore_backup" as const,
    downgrade_possible: false,
  };
}

async function status(): Promise<UpdateStatus | undefined> {
  return readFile(join(updates, "status.json"), "utf8").then(
    (t) => JSON.parse(t) as UpdateStatus,
    () => undefined,
  );
}

function startLauncher(sources: string[]): void {
  launcher = spawn(["sh", LAUNCHER, "run", "--state-dir", stateDir, "--heartbeat-interval", "0.3", "--mesh-listen", "127.0.0.1:0"], {
    env: {
      PATH: process.env.PATH,
      RAP_BUN: process.execPath,
      RAP_AGENT_UPDATES_DIR: updates,
      RAP_UPDATE_TRUSTED_ROOT: keys.rootFile,
      RAP_UPDATE_SOURCES: sources.join(","),
      RAP_UPDATE_HEALTH_TIMEOUT_SECONDS: "20",
      RAP_AGENT_TEST_HOLD_UPDATE_AT_FILE: holdFile,
      TEST_WORKLOAD_LOG: workloadLog,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  output = collectOutput(launcher);
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
  workloadLog = join(work, "workloads.log");
  keys = await makeReleaseKeys();
  repo = join(work, "repo");
  const v1 = await buildRelease("1.0.0");
  await publish(keys, v1, repo);
  server = await serveRepo(repo);
  clusterId = await c.newCluster("updates");
  rollout = await rolloutStandIn(c.cp.url);
  nodeId = await c.enrollApproved(clusterId, stateDir, "updating-node", rollout.url);
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
  await rollout?.stop();
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
    throw new Error(
      `${(err as Error).message}\nheartbeats via stand-in: ${rollout.heartbeats} ${rollout.calls.slice(-10).join("; ")}\nstatus: ${JSON.stringify(await status())}\nlauncher output:\n${output().slice(-4000)}`,
    );
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

  test("a release whose signed manifest lists a migration this agent does not run (service-local data) is rolled back, never half-applied", async () => {
    const { buildAgentArtifact, releaseManifest } = await import("../../scripts/release-lib/build.ts");
    const out = await mkdtemp(join(tmpdir(), "rap-build-6-"));
    const agent = await buildAgentArtifact({ version: "6.0.0", arch: "x64", outDir: out });
    const manifest = releaseManifest({
      version: "6.0.0",
      channel: "candidate",
      now: new Date(),
      agent: [agent],
      workloads: {},
      migrations: [migrationBundle("state-db-v2", "service_local_data", "2.0.0", "6.0.0")],
    });
    await writeFile(join(out, "release.json"), JSON.stringify({ manifest, files: [agent] }));
    await publish(keys, out, repo);
    await rm(out, { recursive: true, force: true });
    const before = await status();
    await request("6.0.0");
    const s = await settledOn((s) => s.state === "rolled_back" && s.failed === "6.0.0", "6.0.0 rolled back");
    expect(s).toMatchObject({ current: before?.current, knownGood: before?.knownGood, migration: true });
    expect(s.reason).toContain("this agent runs node_local_state migrations only");
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

  /** The control-plane request ids this node answered (requests.json, beside the slots). */
  async function answered(): Promise<string[]> {
    return readFile(join(updates, "requests.json"), "utf8").then(
      (t) => (JSON.parse(t) as { answered: string[] }).answered,
      () => [],
    );
  }

  /** Waits until the control plane has answered `n` more heartbeats of this node. */
  async function heartbeatsLater(n: number): Promise<void> {
    const until = rollout.heartbeats + n;
    await waitFor(() => rollout.heartbeats >= until, { timeoutMs: 30_000, what: `${n} more heartbeats` });
  }

  test("the control plane's request: fetched from its sources, each request id tried once (also after a restart), the running version answered at once", async () => {
    await buildAndPublish("10.0.0");
    await stopLauncher();
    // The configured source answers nothing: only the request's own sources can bring the release.
    const nowhere = [`http://127.0.0.1:${await freePort()}`];
    startLauncher(nowhere);
    rollout.update = { request_id: "rollout-1", version: "10.0.0", sources: [server.url] };
    const s = await settledOn((s) => s.state === "running" && s.current === "10.0.0", "running 10.0.0 as the control plane asked");
    expect(s).toMatchObject({ knownGood: "10.0.0", requestId: "rollout-1" });
    expect(await answered()).toContain("rollout-1");

    // A request that fails (a version the repository does not sign) is answered once ...
    rollout.update = { request_id: "rollout-2", version: "10.9.9", sources: [server.url] };
    const refused = await settledOn((s) => s.state === "failed" && s.requestId === "rollout-2", "rollout-2 refused");
    expect(refused).toMatchObject({ current: "10.0.0", failed: "10.9.9" });
    expect(await answered()).toContain("rollout-2");
    // ... and not tried again while the control plane keeps asking, even after the agent restarts.
    await stopLauncher();
    startLauncher(nowhere);
    await heartbeatsLater(5);
    expect(output()).not.toContain('"state":"checking"');
    expect(await status()).toMatchObject({ state: "failed", requestId: "rollout-2", current: "10.0.0" });

    // A new request id for the same version is a new decision: tried again.
    rollout.update = { request_id: "rollout-3", version: "10.9.9", sources: [server.url] };
    await settledOn((s) => s.state === "failed" && s.requestId === "rollout-3", "rollout-3 tried and refused");
    expect(output()).toContain('"state":"checking"');

    // The version that runs: answered at once, nothing downloaded.
    const fetched = server.requests.length;
    rollout.update = { request_id: "rollout-4", version: "10.0.0", sources: [server.url] };
    const same = await settledOn((s) => s.requestId === "rollout-4", "rollout-4 answered");
    expect(same).toMatchObject({ state: "running", current: "10.0.0", target: "10.0.0" });
    expect(await answered()).toContain("rollout-4");
    expect(server.requests.length).toBe(fetched);
    // The control plane sees which request the state answers.
    await waitFor(
      async () => {
        const node = await c.api<{ last_heartbeat?: { telemetry?: { update?: { request_id?: string } } } }>(
          "GET",
          `/api/v1/clusters/${clusterId}/nodes/${nodeId}`,
        );
        return node.last_heartbeat?.telemetry?.update?.request_id === "rollout-4";
      },
      { timeoutMs: 30_000, what: "the request id in the node's heartbeat telemetry" },
    );
  });

  test("the control plane may ask for an older version only as the running release's signed rules allow", async () => {
    // 10.0.0 was signed with the default rules (downgrade allowed, no floor): going back to 2.0.0 is allowed.
    if (!existsSync(join(repo, "targets/releases/2.0.0"))) await buildAndPublish("2.0.0");
    rollout.update = { request_id: "rollout-5", version: "2.0.0", sources: [server.url] };
    await settledOn((s) => s.state === "running" && s.current === "2.0.0" && s.requestId === "rollout-5", "back on 2.0.0");
    // 12.0.0 forbids going back.
    await buildAndPublish("12.0.0", ["--no-downgrade"]);
    rollout.update = { request_id: "rollout-6", version: "12.0.0", sources: [server.url] };
    await settledOn((s) => s.state === "running" && s.current === "12.0.0", "running 12.0.0");
    rollout.update = { request_id: "rollout-7", version: "10.0.0", sources: [server.url] };
    const s = await settledOn((s) => s.state === "failed" && s.requestId === "rollout-7", "the downgrade refused");
    expect(s).toMatchObject({ current: "12.0.0", knownGood: "12.0.0", failed: "10.0.0" });
    expect(s.reason).toContain("12.0.0 does not allow a downgrade");
    rollout.update = null;
  });

  test("workloads from the release: a good one runs in place of the configured command; a v14 whose workload fails its health check rolls back and the old workload runs again", async () => {
    const role = "file-storage-cache";
    const dirs = await mkdtemp(join(tmpdir(), "rap-workloads-"));
    const script = async (name: string, body: string) => {
      await mkdir(join(dirs, name), { recursive: true });
      await writeFile(join(dirs, name, "run"), `#!/bin/sh\necho "start $RAP_WORKLOAD_VERSION" >>"$TEST_WORKLOAD_LOG"\n${body}\n`, { mode: 0o755 });
      return join(dirs, name);
    };
    // Healthy: says so through its ready file, then serves until stopped.
    const good = await script("good", 'touch "$RAP_WORKLOAD_READY_FILE"\nexec tail -f /dev/null');
    const bad = await script("bad", "exit 3");
    await buildAndPublish("13.0.0", ["--workload", `${role}=${good}`]);
    await buildAndPublish("14.0.0", ["--workload", `${role}=${bad}`]);
    await rm(dirs, { recursive: true, force: true });

    type Node = { services: { service_type: string; reported_state: string; version: string | null }[] };
    const service = async () => (await c.api<Node>("GET", `/api/v1/clusters/${clusterId}/nodes/${nodeId}`)).services.find((x) => x.service_type === role);
    await c.assignRole(clusterId, nodeId, role);
    // 12.0.0 carries no workload and none is configured: the role is reported unsupported.
    await waitFor(async () => (await service())?.reported_state === "unsupported", { timeoutMs: 30_000, what: "the role reported unsupported" });

    rollout.update = { request_id: "rollout-8", version: "13.0.0", sources: [server.url] };
    await settledOn((s) => s.state === "running" && s.current === "13.0.0", "running 13.0.0 with its workload");
    await waitFor(async () => (await service())?.reported_state === "running" && (await service())?.version === "13.0.0", {
      timeoutMs: 30_000,
      what: "the 13.0.0 workload reported running",
    });
    expect(await readFile(workloadLog, "utf8")).toContain("start 13.0.0");
    expect(existsSync(join(updates, "workloads", role, "13.0.0", "run"))).toBe(true);

    rollout.update = { request_id: "rollout-9", version: "14.0.0", sources: [server.url] };
    const s = await settledOn((s) => s.state === "rolled_back" && s.failed === "14.0.0", "14.0.0 rolled back by itself");
    expect(s).toMatchObject({ current: "13.0.0", knownGood: "13.0.0", requestId: "rollout-9" });
    expect(s.reason).toContain(`workload ${role} of 14.0.0 exited with code 3`);
    // The old workload runs again, and the control plane hears of the rollback and its reason.
    await waitFor(async () => (await readFile(workloadLog, "utf8")).trim().split("\n").at(-1) === "start 13.0.0", {
      timeoutMs: 30_000,
      what: "the 13.0.0 workload started again",
    });
    expect(await readFile(workloadLog, "utf8")).toContain("start 14.0.0");
    await waitFor(
      async () => {
        const node = await c.api<{ last_heartbeat?: { telemetry?: { update?: { state?: string; reason?: string } } } }>(
          "GET",
          `/api/v1/clusters/${clusterId}/nodes/${nodeId}`,
        );
        const u = node.last_heartbeat?.telemetry?.update;
        return u?.state === "rolled_back" && u.reason?.includes(role) === true;
      },
      { timeoutMs: 30_000, what: "the rollback and the workload in the node's telemetry" },
    );
    await waitFor(async () => (await service())?.reported_state === "running" && (await service())?.version === "13.0.0", {
      timeoutMs: 30_000,
      what: "the 13.0.0 workload reported running again",
    });
    rollout.update = null;
  });

  /**
   * Publishes an agent whose store carries `storeVersions` more migrations than this checkout's (tables
   * release_test_N), listed in the signed manifest as node-local migrations from `from`; `crashOnRun`: it
   * migrates when asked (`update migrate-store`) but dies when started.
   */
  async function publishMigratingAgent(version: string, opts: { from: string; storeVersions: number; crashOnRun?: boolean }): Promise<void> {
    const { buildAgentArtifact, releaseManifest } = await import("../../scripts/release-lib/build.ts");
    const { MIGRATIONS } = await import("../store.ts");
    const src = await mkdtemp(join(tmpdir(), "rap-migrating-agent-"));
    const repoRoot = join(import.meta.dirname, "../..");
    const first = Math.max(...MIGRATIONS.map((m) => m.version)) + 1;
    const extra = Array.from({ length: opts.storeVersions }, (_, i) => first + i).map(
      (n) => `MIGRATIONS.push({ version: ${n}, name: "test release table ${n}", sql: ["create table release_test_${n} (v text)"] });`,
    );
    await writeFile(join(src, "extra.ts"), `import { MIGRATIONS } from ${JSON.stringify(join(repoRoot, "agent/store.ts"))};\n${extra.join("\n")}\n`);
    await writeFile(
      join(src, "crash.ts"),
      opts.crashOnRun ? `if (process.argv[2] === "run") throw new Error("${version} crashes on start");\n` : "export {};\n",
    );
    await writeFile(join(src, "entry.ts"), `import "./extra.ts";\nimport "./crash.ts";\nimport ${JSON.stringify(join(repoRoot, "agent/main.ts"))};\n`);
    const out = await mkdtemp(join(tmpdir(), `rap-build-${version}-`));
    const agent = await buildAgentArtifact({ version, arch: "x64", outDir: out, entrySource: join(src, "entry.ts") });
    const manifest = releaseManifest({
      version,
      channel: "candidate",
      now: new Date(),
      agent: [agent],
      workloads: {},
      migrations: [migrationBundle(`store-${version.replaceAll(".", "-")}`, "node_local_state", opts.from, version)],
    });
    await writeFile(join(out, "release.json"), JSON.stringify({ manifest, files: [agent] }));
    await publish(keys, out, repo);
    await rm(out, { recursive: true, force: true });
    await rm(src, { recursive: true, force: true });
  }

  /** The newest schema version of the agent's store, read beside the running agent. */
  async function storeSchema(): Promise<number> {
    const { AgentStore } = await import("../store.ts");
    const { systemClock } = await import("../clock.ts");
    const store = await AgentStore.open(join(stateDir, "state.db"), systemClock);
    try {
      return await store.schemaVersion();
    } finally {
      store.close();
    }
  }

  let baseSchema = 0;

  test("a release with a signed node-local migration: the store is backed up, the new version migrates it, the backup goes on promotion", async () => {
    baseSchema = await storeSchema();
    const before = (await status())?.current as string;
    await publishMigratingAgent("15.0.0", { from: before, storeVersions: 1 });
    rollout.update = { request_id: "rollout-10", version: "15.0.0", sources: [server.url] };
    const s = await settledOn((s) => s.state === "running" && s.current === "15.0.0", "running 15.0.0 on its migrated store");
    expect(s).toMatchObject({ migration: true, knownGood: "15.0.0" });
    expect(output()).toContain("node-local migrations applied");
    expect(await storeSchema()).toBe(baseSchema + 1);
    expect(existsSync(join(updates, "backups"))).toBe(false);
    await waitFor(async () => (await heartbeatVersion(clusterId, nodeId)) === "15.0.0", { timeoutMs: 30_000, what: "15.0.0 heartbeating" });
  });

  test("a v16 that migrates the store and then crashes on start: back on 15.0.0 with the store 15.0.0 left (the backup restored)", async () => {
    await publishMigratingAgent("16.0.0", { from: "15.0.0", storeVersions: 2, crashOnRun: true });
    rollout.update = { request_id: "rollout-11", version: "16.0.0", sources: [server.url] };
    const s = await settledOn((s) => s.state === "rolled_back" && s.failed === "16.0.0", "16.0.0 rolled back");
    expect(s).toMatchObject({ current: "15.0.0", knownGood: "15.0.0", migration: true });
    expect(output()).toContain("restored the store backed up before 16.0.0");
    expect(await storeSchema()).toBe(baseSchema + 1);
    await waitFor(async () => (await heartbeatVersion(clusterId, nodeId)) === "15.0.0", { timeoutMs: 30_000, what: "15.0.0 heartbeating again" });
  });

  for (const [i, state] of (["migrating", "starting"] as const).entries()) {
    test(`killed in ${state} with a signed migration: back on 15.0.0 with a store it can read`, async () => {
      const target = `17.0.${i}`;
      await publishMigratingAgent(target, { from: "15.0.0", storeVersions: 2 });
      await writeFile(holdFile, state);
      await stopLauncher();
      startLauncher([server.url]);
      rollout.update = { request_id: `rollout-kill-${state}`, version: target, sources: [server.url] };
      await settledOn((s) => s.state === state && s.target === target, `held in ${state}`);
      // Held before the work of its state: in starting, the migrations have run.
      expect(await storeSchema()).toBe(state === "starting" ? baseSchema + 2 : baseSchema + 1);
      const pid = await agentPid();
      await rm(holdFile, { force: true });
      process.kill(pid, "SIGKILL");
      const end = await settledOn((s) => s.state === "rolled_back" && s.failed === target, `rolled back after the kill in ${state}`);
      expect(end).toMatchObject({ current: "15.0.0", knownGood: "15.0.0" });
      expect(await storeSchema()).toBe(baseSchema + 1);
      await waitFor(async () => (await heartbeatVersion(clusterId, nodeId)) === "15.0.0", { timeoutMs: 30_000, what: "15.0.0 heartbeating" });
    });
  }
});
