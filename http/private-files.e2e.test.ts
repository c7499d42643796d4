/**
 * Every key and state file the control plane, the agent and `scripts/rap`
 * write is owner-only after real use: a control-plane process on embedded
 * PGlite (its DATA_DIR, the database, the development keys), an agent that
 * enrolls and sends heartbeats (its state directory, keys, state.db and
 * SQLite's side files), and a Product Root key pair. Run under umask 000, so
 * any file whose mode is left to the umask shows up as world-readable.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { scriptArgv, spawn } from "../core/runtime/index.ts";
import { mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentCluster } from "../fixtures/agent-cluster.ts";
import { spawnAgent } from "../fixtures/agent-process.ts";
import { waitFor } from "../fixtures/wait.ts";
import { notPrivate } from "../fixtures/file-modes.ts";
import { keyPath } from "../agent/keys.ts";

setDefaultTimeout(120_000);

let umask: number;
let c: AgentCluster;

beforeAll(async () => {
  umask = process.umask(0);
  c = await AgentCluster.start("rap-private-files-", { embedded: true });
});
afterAll(async () => {
  await c?.stop();
  process.umask(umask);
});

test("after a control plane on PGlite served an enrollment and heartbeats, its data directory and the agent's state are owner-only", async () => {
  const clusterId = await c.newCluster("private");
  // A state directory that already exists, as a package would make it: the agent tightens it.
  const stateDir = join(c.dir, "agent-state");
  await mkdir(stateDir, { mode: 0o755 });
  const nodeId = await c.enrollApproved(clusterId, stateDir, "private-host");
  const runner = spawnAgent(["run", "--heartbeat-interval", "0.3", "--state-dir", stateDir]);
  try {
    await waitFor(async () => (await c.api("GET", `/api/v1/clusters/${clusterId}/nodes/${nodeId}`)).last_heartbeat, { timeoutMs: 20_000, what: "a heartbeat" });
    // While both run: the agent's WAL is open, the database has written since start.
    expect(await readdir(stateDir)).toEqual(expect.arrayContaining(["state.db", "state.db-wal", "keys"]));
    expect(await notPrivate(stateDir)).toEqual([]);
    expect(await notPrivate(c.cpEnv.DATA_DIR!)).toEqual([]);
  } finally {
    runner.proc.kill("SIGTERM");
    await runner.exited;
  }
  expect(await c.cp.stop()).toBe(0);

  const dataDir = c.cpEnv.DATA_DIR!;
  expect(await readdir(dataDir)).toEqual(expect.arrayContaining(["pglite", "secret-key", "token-key", "data-plane-key"]));
  expect((await readdir(join(dataDir, "pglite", "pg_wal"))).length).toBeGreaterThan(0);
  expect(await notPrivate(dataDir)).toEqual([]);
  expect((await stat(keyPath(stateDir, clusterId))).mode & 0o777).toBe(0o600);
  expect(await notPrivate(stateDir)).toEqual([]);
});

test("rap root keygen: the key directory is 0700 and the private key 0600 (the public key stays readable)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rap-root-"));
  try {
    const out = join(dir, "root");
    const proc = spawn(scriptArgv(join(import.meta.dirname, "../scripts/rap.ts"), ["root", "keygen", "--out", out]), { stdout: "pipe", stderr: "pipe" });
    expect(await proc.exited).toBe(0);
    expect((await stat(out)).mode & 0o777).toBe(0o700);
    expect((await stat(join(out, "product-root.key"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(out, "product-root.pub"))).mode & 0o777).toBe(0o644);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
