/**
 * Heartbeat ingest benchmark (run by `scripts/bench heartbeats`).
 *
 * 1. A real control plane process over the throw-away PostgreSQL (durable
 *    commits) and Redis that scripts/bench started.
 * 2. One cluster, and N simulated nodes seeded straight into the store (the
 *    enrollment path is not what is measured); each gets a node token signed
 *    with the server's key, as /node-agents/session would issue.
 * 3. Writer comparison, in the same run against the same database: the
 *    batched writer vs one transaction per heartbeat, same concurrency.
 * 4. Load: for growing N, every simulated agent sends one heartbeat each 30 s
 *    (evenly spread) for one full interval; latency is measured at the client.
 *    A step is sustained when p99 < 50 ms with no errors and ≥ 95 % of the
 *    target rate achieved.
 *
 * Writes docs/bench/heartbeats.json and docs/bench/heartbeats.md.
 *
 * `--runtime deno` compares the runtimes instead: the same load steps, in
 * the same run, against the same database and tokens, each step first with the
 * control plane on Bun, then on Deno (with its own permission set, as
 * `scripts/start --runtime deno` runs it); the load generator runs on the runtime running this script (Bun, from scripts/bench).
 * The writer comparison (in-process, runtime-independent) is left out. Writes
 * docs/bench/heartbeats-runtimes.json and docs/bench/heartbeats-runtimes.md.
 */
import { type RuntimeName, runtimeName, runtimeVersion, scriptArgv, sleep, spawn } from "../../core/runtime/index.ts";
import { controlPlanePermissions } from "../../core/runtime/deno-permissions.ts";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir, cpus, totalmem } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { initialTransition, transition } from "xstate";
import { openPostgres } from "../../sql/postgres-db.ts";
import { migrate } from "../../sql/migrate.ts";
import { writeHeartbeatNaive, type Heartbeat } from "../../sql/heartbeats.ts";
import { pgArray } from "../../sql/db.ts";
import { ActorHost } from "../../actors/host/host.ts";
import { actorKinds } from "../../actors/kinds.ts";
import { createCluster } from "../../actors/cluster/commands.ts";
import { nodeMachine } from "../../actors/node/machine.ts";
import { nodeKind } from "../../actors/node/kind.ts";
import { stateName } from "../../actors/host/kind.ts";
import { createKeyring } from "../../core/crypto/envelope.ts";
import { b64, randomBytes } from "../../core/crypto/bytes.ts";
import { createLogger, silentLogger } from "../../core/log.ts";
import { controlPlaneMetrics } from "../../core/metrics.ts";
import { newId } from "../../core/ids.ts";
import { systemChange } from "../../core/change.ts";
import { redisLiveState } from "../../live/redis.ts";
import { HeartbeatWriter } from "../../control/nodes/heartbeats.ts";
import { newEd25519Pkcs8 } from "../../control/identity.ts";
import { NODE_TOKEN_TTL_SECONDS } from "../../control/nodes/node-auth.ts";
import { spawnControlPlane } from "../../fixtures/process.ts";

const ROOT = join(import.meta.dirname, "../..");
const quick = process.argv.includes("--quick");
const runtimeOption = process.argv[process.argv.indexOf("--runtime") + 1];
/** `--runtime deno`: Bun and Deno side by side (the default, Bun, is the plain report). */
const compareRuntimes = process.argv.includes("--runtime") && runtimeOption === "deno";
if (process.argv.includes("--runtime") && runtimeOption !== "deno" && runtimeOption !== "bun") throw new Error("--runtime takes bun or deno");
const INTERVAL_S = 30;
const STEP_SECONDS = quick ? 6 : INTERVAL_S;
const STEPS = quick ? [2_000, 5_000] : [10_000, 25_000, 50_000, 75_000, 100_000, 125_000, 150_000];
const P99_LIMIT_MS = 50;
const WRITER_HEARTBEATS = quick ? 3_000 : 20_000;
// Open enough that neither writer waits for arrivals (two full batches in flight): the naive one is then bound by its pool, the batched by its commits.
const WRITER_CONCURRENCY = 4000;

const log = createLogger({ base: { component: "bench" } });
const adminUrl = process.env.TEST_DATABASE_URL;
const redisUrl = process.env.TEST_REDIS_URL;
if (!adminUrl || !redisUrl) throw new Error("run through scripts/bench, which starts PostgreSQL and Redis");

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function main() {
  const admin = openPostgres(adminUrl!, { max: 1 });
  const dbName = `rap_bench_${newId().replace(/-/g, "")}`;
  await admin.exec(`create database ${dbName}`);
  const url = new URL(adminUrl!);
  url.pathname = `/${dbName}`;
  const db = openPostgres(url.toString(), { max: 16 });
  await migrate(db);

  const secretKey = randomBytes(32);
  const tokenKey = randomBytes(32);
  const dataDir = await mkdtemp(join(tmpdir(), "rap-bench-"));
  const live = await redisLiveState(redisUrl!, "bench:");
  const keyring = await createKeyring("k1", new Map([["k1", secretKey]]));
  const host = new ActorHost({ db, live, kinds: actorKinds, log: silentLogger, metrics: controlPlaneMetrics() });
  const { id: clusterId } = await createCluster(host, keyring, { name: "Bench", slug: "bench" }, systemChange("cli", `${"0".repeat(31)}1`));

  const maxNodes = STEPS.at(-1)!;
  log.info("seeding nodes", { nodes: maxNodes });
  const nodeIds = await seedNodes(db, clusterId, maxNodes);

  const env = {
    DATABASE_URL: url.toString(),
    REDIS_URL: redisUrl!,
    DATA_DIR: dataDir,
    LOG_LEVEL: "warn",
    SECRET_ENCRYPTION_KEY_B64: b64(secretKey),
    AUTH_TOKEN_KEY_B64: b64(tokenKey),
    DATA_PLANE_TOKEN_KEY_B64: await newEd25519Pkcs8(),
  };
  /** The load steps against one control plane on `runtime`, growing until one is not sustained. */
  const measure = async (runtime: RuntimeName) => {
    const server = await spawnControlPlane(env, 60_000, { runtime, permissions: controlPlanePermissions(dataDir) });
    const steps = [];
    try {
      for (const n of STEPS) {
        // Minted per step: the server honours a node token only for the 10 minutes it issues them for.
        const tokens = await Promise.all(nodeIds.slice(0, n).map((id) => nodeToken(tokenKey, id, clusterId)));
        const step = await loadStep(server.url, tokens, n);
        steps.push(step);
        log.info("load step", { runtime, ...step });
        if (!step.sustained) break;
      }
    } finally {
      await server.stop();
    }
    return steps;
  };
  /**
   * Both control planes up at once (the idle one costs next to nothing), each step measured on Bun
   * then on Deno, so a machine whose load drifts (other work on it) weighs on both alike. Steps
   * grow until neither runtime sustains one.
   */
  const measureSideBySide = async () => {
    const runtimes = ["bun", "deno"] as const;
    const servers = await Promise.all(runtimes.map((runtime) => spawnControlPlane(env, 60_000, { runtime, permissions: controlPlanePermissions(dataDir) })));
    const byRuntime: Record<RuntimeName, Step[]> = { bun: [], deno: [] };
    try {
      for (const n of STEPS) {
        let anySustained = false;
        for (const [i, runtime] of runtimes.entries()) {
          const tokens = await Promise.all(nodeIds.slice(0, n).map((id) => nodeToken(tokenKey, id, clusterId)));
          const step = await loadStep(servers[i]!.url, tokens, n);
          byRuntime[runtime].push(step);
          log.info("load step", { runtime, ...step });
          anySustained ||= step.sustained;
        }
        if (!anySustained) break;
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
    return byRuntime;
  };
  const finish = async () => {
    await live.close();
    await db.close();
    await admin.exec(`drop database if exists ${dbName} with (force)`);
    await admin.close();
    await rm(dataDir, { recursive: true, force: true });
  };

  if (compareRuntimes) {
    const versions = { bun: await runtimeVersionOf("bun"), deno: await runtimeVersionOf("deno") };
    const byRuntime = await measureSideBySide();
    await writeRuntimeReport(versions, byRuntime);
    await finish();
    return;
  }

  log.info("comparing writers", { heartbeats: WRITER_HEARTBEATS, concurrency: WRITER_CONCURRENCY });
  const writers = await compareWriters(db, live, host, clusterId, nodeIds);
  log.info("writers", writers);

  const steps = await measure(runtimeName);
  const best = steps.filter((s) => s.sustained).at(-1);
  const report = {
    benchmark: "heartbeats",
    date: new Date().toISOString(),
    quick,
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? "unknown", memory_gib: Math.round(totalmem() / 2 ** 30) },
    setup: {
      interval_seconds: INTERVAL_S,
      step_seconds: STEP_SECONDS,
      p99_limit_ms: P99_LIMIT_MS,
      postgres: "throw-away server, durable commits (fsync on)",
      redis: "throw-away server",
      client: "one Bun process, keep-alive fetch",
    },
    agents_sustained: best?.agents ?? 0,
    p99_ingest_ms: best?.p99_ms ?? null,
    batched_vs_naive: writers.ratio,
    writers,
    steps,
  };
  await writeFile(join(ROOT, "docs/bench/heartbeats.json"), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(ROOT, "docs/bench/heartbeats.md"), markdown(report));
  log.info("report written", { agents_sustained: report.agents_sustained, p99_ingest_ms: report.p99_ingest_ms, batched_vs_naive: report.batched_vs_naive });
  await finish();
}

/** `bun --version` / `deno --version`, as the control plane child will run. */
async function runtimeVersionOf(runtime: RuntimeName): Promise<string> {
  if (runtime === runtimeName) return runtimeVersion;
  const [binary] = scriptArgv("x.ts", [], [], runtime);
  const proc = spawn([binary!, "--version"], { stdout: "pipe", stderr: "ignore" });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  // "deno 2.9.6 (stable, release, …)" → "2.9.6"
  return out
    .split("\n")[0]!
    .replace(/^deno /, "")
    .split(" ")[0]!
    .trim();
}

type Step = Awaited<ReturnType<typeof loadStep>>;

/** docs/bench/heartbeats-runtimes.{json,md}: the same steps on each runtime. */
async function writeRuntimeReport(versions: Record<RuntimeName, string>, byRuntime: Record<RuntimeName, Step[]>) {
  const best = (steps: Step[]) => steps.filter((s) => s.sustained).at(-1) ?? null;
  const report = {
    benchmark: "heartbeats-runtimes",
    date: new Date().toISOString(),
    quick,
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? "unknown", memory_gib: Math.round(totalmem() / 2 ** 30) },
    setup: {
      interval_seconds: INTERVAL_S,
      step_seconds: STEP_SECONDS,
      p99_limit_ms: P99_LIMIT_MS,
      client: `one ${runtimeName} ${runtimeVersion} process, keep-alive fetch`,
    },
    runtimes: (["bun", "deno"] as const).map((r) => ({
      runtime: r,
      version: versions[r],
      agents_sustained: best(byRuntime[r])?.agents ?? 0,
      p99_ingest_ms: best(byRuntime[r])?.p99_ms ?? null,
      steps: byRuntime[r],
    })),
  };
  await writeFile(join(ROOT, "docs/bench/heartbeats-runtimes.json"), `${JSON.stringify(report, null, 2)}\n`);
  const rows = report.runtimes
    .flatMap((r) =>
      r.steps.map(
        (s) =>
          `| ${r.runtime} ${r.version} | ${s.agents.toLocaleString("en")} | ${s.target_per_second} | ${s.achieved_per_second} | ${s.p50_ms} | ${s.p99_ms} | ${s.max_ms} | ${s.errors} | ${s.sustained ? "yes" : "no"} |`,
      ),
    )
    .join("\n");
  const summary = report.runtimes
    .map((r) => {
      // No step sustained: below the smallest, with the p99 that step had.
      const first = r.steps[0];
      if (r.p99_ingest_ms === null)
        return `| ${r.runtime} ${r.version} | **< ${STEPS[0]!.toLocaleString("en")}** | ${first ? `${first.p99_ms} ms at ${first.agents.toLocaleString("en")}` : "–"} |`;
      return `| ${r.runtime} ${r.version} | **${r.agents_sustained.toLocaleString("en")}** | ${r.p99_ingest_ms} ms |`;
    })
    .join("\n");
  await writeFile(
    join(ROOT, "docs/bench/heartbeats-runtimes.md"),
    `# Heartbeat ingest on Bun and on Deno

Generated by \`scripts/bench heartbeats --runtime deno${quick ? " --quick" : ""}\` on ${report.date}; the figures are in
[heartbeats-runtimes.json](heartbeats-runtimes.json). Same run, same PostgreSQL (durable commits) and Redis, same
simulated agents and load steps as [heartbeats.md](heartbeats.md) (${STEP_SECONDS} s per step). Both control planes run at
once; each step is measured on Bun, then on Deno (its own permission set, as \`scripts/start --runtime deno\` runs
it), so load from elsewhere on the machine weighs on both alike; steps grow until neither sustains one. The load
generator is one ${runtimeName} process either way. Machine: ${report.machine.cpus} CPU cores (${report.machine.cpu_model}), ${report.machine.memory_gib} GiB, shared by
everything.

| control plane on | agents sustained (30 s interval, p99 < ${P99_LIMIT_MS} ms, no errors) | p99 at that load |
| --- | --- | --- |
${summary}

| runtime | agents | target req/s | achieved req/s | p50 ms | p99 ms | max ms | errors | sustained |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows}
`,
  );
  const fmt = spawn([join(ROOT, "node_modules/.bin/biome"), "format", "--write", join(ROOT, "docs/bench/heartbeats-runtimes.md")], {
    cwd: ROOT,
    stdout: "ignore",
    stderr: "inherit",
  });
  if ((await fmt.exited) !== 0) log.warn("biome could not format the report");
  log.info("runtime report written", { bun: report.runtimes[0]!.agents_sustained, deno: report.runtimes[1]!.agents_sustained });
}

/**
 * Nodes as approval leaves them: the actor rows in bulk (going through the
 * host for 100,000 nodes would take longer than the benchmark), and the
 * `nodes` / `cluster_memberships` rows written by the node actor's own
 * projection, so no table is written by anyone but its owner.
 */
async function seedNodes(db: ReturnType<typeof openPostgres>, clusterId: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  const now = new Date();
  for (let start = 0; start < count; start += 2000) {
    const chunk = Array.from({ length: Math.min(2000, count - start) }, () => newId());
    const snapshots = chunk.map((id, i) => {
      let [s] = initialTransition(nodeMachine);
      [s] = transition(nodeMachine, s, {
        type: "node.enroll",
        clusterId,
        name: `sim-${start + i}`,
        capabilities: { can_route_mesh: true },
        facts: {},
        joinRequestId: id,
      });
      [s] = transition(nodeMachine, s, { type: "node.activate" });
      return s;
    });
    await db.transaction(async (tx) => {
      await tx.query(
        `insert into actors (kind, id, machine_version, version, state, snapshot)
         select 'node', id, $4, 2, st, snap from unnest($1::text[], $2::text[], $3::jsonb[]) as t(id, st, snap)`,
        [
          pgArray(chunk),
          pgArray(snapshots.map((s) => stateName(s))),
          pgArray(snapshots.map((s) => JSON.stringify(nodeMachine.getPersistedSnapshot(s)))),
          nodeKind.machineVersion,
        ],
      );
      for (const [i, id] of chunk.entries())
        await nodeKind.project(tx, { id, version: 2, snapshot: snapshots[i]!, change: systemChange("cli", "bench-seed"), now });
    });
    ids.push(...chunk);
  }
  return ids;
}

/** The token /node-agents/session would issue after a proof, signed with the server's key. */
function nodeToken(key: Uint8Array, nodeId: string, clusterId: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ typ: "node", cid: clusterId, fp: `SHA256:bench-${nodeId}` })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(nodeId)
    .setAudience("rap-node-api")
    .setIssuedAt(now)
    .setExpirationTime(now + NODE_TOKEN_TTL_SECONDS)
    .sign(key);
}

/**
 * Same heartbeats, same concurrency, same statements: the batched writer
 * against one transaction per heartbeat. Measured in the steady state that
 * matters (every node has beaten before, so its rows exist): a warm-up pass
 * writes one heartbeat per node first and is not timed.
 */
async function compareWriters(
  db: ReturnType<typeof openPostgres>,
  live: Awaited<ReturnType<typeof redisLiveState>>,
  host: ActorHost,
  clusterId: string,
  nodeIds: string[],
) {
  const nodes = nodeIds.slice(0, WRITER_HEARTBEATS);
  let seq = 0;
  const beat = (i: number): Heartbeat => ({
    nodeId: nodes[i]!,
    clusterId,
    receivedAt: new Date(),
    seq: seq++,
    agentVersion: "bench",
    telemetry: { cpu: 0.25, mem: 0.5 },
  });
  const run = async (write: (h: Heartbeat) => Promise<void>) => {
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: WRITER_CONCURRENCY }, async () => {
        while (next < nodes.length) await write(beat(next++));
      }),
    );
    return nodes.length / ((performance.now() - started) / 1000);
  };
  const warm = new HeartbeatWriter({ db, live, host, log: silentLogger, flushMs: 20 });
  await run((h) => warm.submit(h));
  await warm.stop();
  const naive = await run((h) => db.transaction((tx) => writeHeartbeatNaive(tx, h)));
  const writer = new HeartbeatWriter({ db, live, host, log: silentLogger, flushMs: 20 });
  const batched = await run((h) => writer.submit(h));
  await writer.stop();
  return {
    naive_per_second: Math.round(naive),
    batched_per_second: Math.round(batched),
    ratio: Math.round((batched / naive) * 10) / 10,
    batches: writer.batches,
  };
}

/** Every agent beats once per interval, spread evenly; latencies measured at the client. */
async function loadStep(baseUrl: string, tokens: string[], agents: number) {
  const rate = agents / INTERVAL_S;
  const total = Math.round(rate * STEP_SECONDS);
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  const inflight = new Set<Promise<void>>();
  const started = performance.now();
  const body = (seq: number) => JSON.stringify({ seq, agent_version: "bench", telemetry: { cpu: 0.25, mem: 0.5, sessions: 3 } });
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    for (; sent < due; sent++) {
      const token = tokens[sent % tokens.length]!;
      const t0 = performance.now();
      const p = fetch(`${baseUrl}/api/v1/node-agents/heartbeat`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body(sent),
      })
        .then(async (r) => {
          await r.arrayBuffer();
          if (r.status !== 202) errors++;
          latencies.push(performance.now() - t0);
        })
        .catch(() => {
          errors++;
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await sleep(2);
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const p99 = percentile(latencies, 99);
  const achieved = latencies.length / elapsed;
  return {
    agents,
    target_per_second: Math.round(rate),
    achieved_per_second: Math.round(achieved),
    requests: latencies.length,
    errors,
    p50_ms: Math.round(percentile(latencies, 50) * 10) / 10,
    p99_ms: Math.round(p99 * 10) / 10,
    max_ms: Math.round((latencies.at(-1) ?? 0) * 10) / 10,
    sustained: errors === 0 && p99 < P99_LIMIT_MS && achieved >= rate * 0.95,
  };
}

type Report = Record<string, unknown> & {
  steps: Awaited<ReturnType<typeof loadStep>>[];
  writers: Awaited<ReturnType<typeof compareWriters>>;
  machine: { cpus: number; cpu_model: string; memory_gib: number };
};

function markdown(r: Report): string {
  const rows = r.steps
    .map(
      (s) =>
        `| ${s.agents.toLocaleString("en")} | ${s.target_per_second} | ${s.achieved_per_second} | ${s.p50_ms} | ${s.p99_ms} | ${s.max_ms} | ${s.errors} | ${s.sustained ? "yes" : "no"} |`,
    )
    .join("\n");
  return `# Heartbeat ingest benchmark

Generated by \`scripts/bench heartbeats${r.quick ? " --quick" : ""}\` on ${r.date}; the figures are in
[heartbeats.json](heartbeats.json). Re-run it to refresh both files. The control plane on Bun and on Deno,
side by side: [heartbeats-runtimes.md](heartbeats-runtimes.md) (\`scripts/bench heartbeats --runtime deno\`).

## Result

| figure | value | target |
| --- | --- | --- |
| agents sustained (30 s interval, p99 < ${P99_LIMIT_MS} ms, no errors) | **${(r.agents_sustained as number).toLocaleString("en")}** | floor 10,000, aim 50,000 |
| p99 ingest latency at that load | **${r.p99_ingest_ms} ms** | < ${P99_LIMIT_MS} ms |
| batched writer ÷ one transaction per heartbeat | **${r.batched_vs_naive}×** | floor 10× |

## How it was measured

- Machine: ${r.machine.cpus} CPU cores (${r.machine.cpu_model}), ${r.machine.memory_gib} GiB. The control
  plane, PostgreSQL, Redis and the load generator all share it.
- PostgreSQL and Redis are throw-away servers started by the script on loopback; PostgreSQL
  commits durably (fsync on).
- The control plane runs as its own process (\`http/main.ts\`, \`LOG_LEVEL=warn\`) against them.
- Nodes are seeded straight into the store as approval leaves them; each simulated agent holds a
  node token like the one \`POST /api/v1/node-agents/session\` issues. Each agent sends
  \`POST /api/v1/node-agents/heartbeat\` once per 30 s, spread evenly; each load step lasts
  ${r.steps.length ? (r.setup as { step_seconds: number }).step_seconds : 0} s. Latency is measured at the client, from request to the 202 that
  follows the durable write.
- A step is sustained when p99 < ${P99_LIMIT_MS} ms, no request failed, and at least 95 % of the
  target rate was achieved. Steps grow until one is not sustained.

## Load steps

| agents | target req/s | achieved req/s | p50 ms | p99 ms | max ms | errors | sustained |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows}

## Writers

Same ${WRITER_HEARTBEATS.toLocaleString("en")} heartbeats (one per node, each node having beaten once before, so rows exist as in
steady operation), ${WRITER_CONCURRENCY} in flight, same database, before the load run. The naive writer runs the three
statements for every heartbeat in its own transaction; the batched one runs them once per batch as multi-row
statements and leaves out history slots and liveness timers it knows are already current.

| writer | heartbeats/s |
| --- | --- |
| one transaction per heartbeat (latest state, history slot, liveness timer) | ${r.writers.naive_per_second} |
| batched (\`control/nodes/heartbeats.ts\`: 20 ms window, three multi-row statements per batch) | ${r.writers.batched_per_second} |

The batched writer made ${r.writers.batches} commits for ${WRITER_HEARTBEATS.toLocaleString("en")} heartbeats.
`;
}

await main();
