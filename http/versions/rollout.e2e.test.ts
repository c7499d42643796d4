/**
 * A rollout end to end with real processes and real artifacts: a control
 * plane process that trusts a Product Root, releases built and signed by
 * `scripts/release` and pushed into its version storage with `scripts/release
 * push`, and two enrolled agents running from A/B slots under the launcher,
 * downloading from version storage itself.
 *
 * - v2 to the canary ring first; the other node is not asked until the canary
 *   runs it; then the rest; the API the console reads shows progress per ring;
 * - a release whose agent crashes on start (`failingRelease`; swap in another
 *   failing kind, such as a workload failing its health check, when there is one)
 *   rolls back on the canary and halts the rollout: the other node never gets it.
 *
 * The agent acting on the heartbeat's `update` by itself is the agent side of
 * the contract (core/contracts/node-agent-api.ts UpdateRequest), built apart
 * from this; until then `deliverUpdates` plays that part exactly as the contract
 * says: it reads what each node's heartbeats are answered (`asked`, the version
 * and the request id) and, once per request id, asks the node's agent for it
 * the way `rap-node-agent update request` does.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { AgentCluster } from "../../fixtures/agent-cluster.ts";
import { buildRelease, makeReleaseKeys, publish, type ReleaseKeys, runScript } from "../../fixtures/releases.ts";
import { type ChildProcess, sleep, spawn } from "../../core/runtime/index.ts";
import { waitFor } from "../../fixtures/wait.ts";
import type { UpdateStatus } from "../../agent/updates/machine.ts";

setDefaultTimeout(300_000);

const LAUNCHER = join(import.meta.dirname, "../../agent/packaging/rap-agent-launcher");

interface Node {
  name: string;
  id: string;
  stateDir: string;
  updates: string;
  launcher?: ChildProcess;
  output: string;
  lastRequest?: string;
}

let c: AgentCluster;
let keys: ReleaseKeys;
let work: string;
let repo: string;
let clusterId: string;
let canary: Node;
let other: Node;
let delivering = true;
let delivery: Promise<void> | undefined;

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
  n.output = "";
  const launcher = spawn(["sh", LAUNCHER, "run", "--state-dir", n.stateDir, "--heartbeat-interval", "0.3", "--mesh-listen", "127.0.0.1:0"], {
    env: {
      PATH: process.env.PATH,
      RAP_BUN: process.execPath,
      RAP_AGENT_UPDATES_DIR: n.updates,
      RAP_UPDATE_TRUSTED_ROOT: keys.rootFile,
      // Version storage of the control plane the agent enrolled in.
      RAP_UPDATE_SOURCES: `${c.cp.url}/api/v1/versions/repository`,
      RAP_UPDATE_HEALTH_TIMEOUT_SECONDS: "20",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  n.launcher = launcher;
  for (const stream of [launcher.stdout, launcher.stderr]) {
    void (async () => {
      const dec = new TextDecoder();
      const reader = (stream as ReadableStream<Uint8Array>).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        n.output += dec.decode(value);
      }
    })();
  }
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

/** The agent side of UpdateRequest, played from outside (see the file comment): each new request id once. */
async function deliverUpdates(nodes: Node[]): Promise<void> {
  while (delivering) {
    const p = await picture().catch(() => undefined);
    for (const n of nodes) {
      const asked = p && askedOf(p, n);
      if (asked && asked.request_id !== n.lastRequest) {
        n.lastRequest = asked.request_id;
        await writeFile(join(n.updates, "desired"), `${asked.version}\n`);
      }
    }
    // The pace of an agent's heartbeats, which is where the real agent reads its answer.
    await sleep(200);
  }
}

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
    throw new Error(`${(err as Error).message}\nstatus: ${JSON.stringify(await status(n))}\nlauncher output:\n${n.output.slice(-3000)}`);
  }
}

async function newNode(name: string, v1: string): Promise<Node> {
  const n: Node = { name, id: "", stateDir: join(work, name), updates: join(work, `${name}-updates`), output: "" };
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

beforeAll(async () => {
  keys = await makeReleaseKeys();
  c = await AgentCluster.start("rap-rollout-", { env: { INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY_FILE: join(keys.dir, "root/product-root.pub") } });
  work = await mkdtemp(join(tmpdir(), "rap-rollout-work-"));
  repo = join(work, "repo");
  const v1 = await buildRelease("1.0.0");
  await publish(keys, v1, repo);
  const v2 = await buildRelease("2.0.0");
  await publish(keys, v2, repo);
  await rm(v2, { recursive: true, force: true });
  await pushRepo();
  clusterId = await c.newCluster("rollouts");
  canary = await newNode("canary-1", v1);
  other = await newNode("edge-1", v1);
  await rm(v1, { recursive: true, force: true });
  await c.api("PUT", `/api/v1/versions/clusters/${clusterId}/nodes/${canary.id}`, { channel: "stable", ring: "canary" });
  await c.api("PUT", `/api/v1/versions/clusters/${clusterId}/channels/stable`, { version: "1.0.0" });
  delivery = deliverUpdates([canary, other]);
});

afterAll(async () => {
  delivering = false;
  await delivery;
  for (const n of [canary, other]) {
    n?.launcher?.kill("SIGTERM");
    await n?.launcher?.exited;
  }
  await c?.stop();
  if (keys) await rm(keys.dir, { recursive: true, force: true });
  if (work) await rm(work, { recursive: true, force: true });
});

describe("a rollout with real agents", () => {
  test("both nodes report 1.0.0 to version storage's picture", async () => {
    await waitFor(
      async () => {
        const p = await picture();
        return p.nodes.every((n) => n.update?.current === "1.0.0" && n.update.state !== undefined) && p.nodes.length === 2;
      },
      { timeoutMs: 60_000, what: "update states from both agents" },
    );
  });

  test("v2 reaches the canary first, then the rest; the console API shows each ring", async () => {
    const r = await c.api("POST", `/api/v1/versions/clusters/${clusterId}/rollouts`, { channel: "stable", version: "2.0.0", rings: ["canary", "default"] });
    // Until the canary runs 2.0.0, the other node is not asked.
    expect(askedOf(await picture(), other)).toBeNull();
    await settled(canary, (s) => s.state === "running" && s.current === "2.0.0", "running 2.0.0");
    await settled(other, (s) => s.state === "running" && s.current === "2.0.0", "running 2.0.0");
    const p = await waitFor(
      async () => {
        const p = await picture();
        return p.rollouts.find((x) => x.id === r.id)?.status === "completed" ? p : undefined;
      },
      { timeoutMs: 30_000, what: "the rollout completed" },
    );
    expect(p.rollouts.find((x) => x.id === r.id)!.rings).toEqual([
      { ring: "canary", reached: true, nodes: 1, running: 1, failed: 0 },
      { ring: "default", reached: true, nodes: 1, running: 1, failed: 0 },
    ]);
    expect(p.channels.find((x) => x.channel === "stable")!.version).toBe("2.0.0");
  });

  test("a release that fails on the canary rolls it back and halts the rollout: the rest never get it", async () => {
    await failingRelease("4.0.0");
    await pushRepo();
    const r = await c.api("POST", `/api/v1/versions/clusters/${clusterId}/rollouts`, { channel: "stable", version: "4.0.0", rings: ["canary", "default"] });
    await settled(canary, (s) => s.state === "rolled_back" && s.failed === "4.0.0", "rolled back from 4.0.0");
    const p = await waitFor(
      async () => {
        const p = await picture();
        return p.rollouts.find((x) => x.id === r.id)?.status === "halted" ? p : undefined;
      },
      { timeoutMs: 30_000, what: "the rollout halted" },
    );
    expect(p.rollouts.find((x) => x.id === r.id)!.halted_reason).toContain("ring canary");
    expect(askedOf(p, other)).toBeNull();
    expect(await status(other)).toMatchObject({ current: "2.0.0" });
    const audit = await c.api<{ items: { action: string }[] }>("GET", "/api/v1/audit?limit=100");
    expect(audit.items.map((a) => a.action)).toEqual(expect.arrayContaining(["version.publish", "version.rollout_start", "version.rollout_halt"]));
  });
});
