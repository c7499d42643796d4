/** `scripts/start --agents 2 --approve` gives a live cluster: two local agents enrolled, approved and beating. */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runAgent } from "../fixtures/agent-process.ts";
import { collectOutput, freePort } from "../fixtures/process.ts";
import { waitFor } from "../fixtures/wait.ts";

setDefaultTimeout(120_000);

let dir: string;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("a dev cluster of two agents comes up in one command", async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-dev-cluster-"));
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "dev-cluster.ts"), "--agents", "2", "--approve"], {
    env: { PATH: process.env.PATH ?? "", DATA_DIR: dir, PORT: String(await freePort()) },
    stdout: "pipe",
    stderr: "pipe",
  });
  // Kept so a failure shows what the script said.
  const output = collectOutput(proc);
  try {
    for (const i of [1, 2]) {
      const stateDir = join(dir, "agents", `agent-${i}`);
      await waitFor(
        async () => {
          const out = (await runAgent(["status", "--json", "--state-dir", stateDir])).output;
          const m = JSON.parse(out.trim() || "{}").memberships?.[0];
          return m?.status === "enrolled" && m.last_heartbeat_at ? m : null;
        },
        { timeoutMs: 90_000, what: `agent ${i} enrolled and beating` },
      ).catch((err) => {
        throw new Error(`${err instanceof Error ? err.message : String(err)}\nthe script said:\n${output().slice(-3000)}`);
      });
    }
    expect((await stat(join(dir, "dev-owner.json"))).mode & 0o777).toBe(0o600);
  } finally {
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }
});
