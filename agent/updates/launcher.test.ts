/**
 * The launcher (agent/packaging/rap-agent-launcher) on its own, with slots
 * whose "agent" is a small shell script, so each watchdog rule is checked in
 * milliseconds: help, a missing install, a trial slot that dies before it
 * promotes itself (back to known good), and a known-good agent that refuses
 * its configuration (no restart loop).
 */
import { chmod, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "../../fixtures/test.ts";
import { spawn } from "../../core/runtime/index.ts";

const LAUNCHER = join(import.meta.dirname, "../packaging/rap-agent-launcher");
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-launcher-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(updates: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(["sh", LAUNCHER, ...args], { env: { PATH: process.env.PATH, RAP_AGENT_UPDATES_DIR: updates }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

/** A slot whose agent is `script` (sh). */
async function slot(updates: string, name: string, version: string, script: string): Promise<void> {
  const bin = join(updates, "slots", name, "bin");
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, "rap-node-agent"), `#!/bin/sh\n${script}\n`);
  await chmod(join(bin, "rap-node-agent"), 0o755);
  await writeFile(
    join(updates, "slots", name, "artifact.json"),
    JSON.stringify({ typ: "rap.artifact.v1", name: "rap-node-agent", version, os: "linux", arch: "x64", entry: "bin/rap-node-agent" }),
  );
}

describe("rap-agent-launcher", () => {
  test("--help prints the usage and starts nothing", async () => {
    const r = await run(join(dir, "none"), ["run", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("A/B slots");
  });

  test("without an installed agent: one line with the fix, exit 2", async () => {
    const r = await run(join(dir, "none"), ["run"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("fix: rap-node-agent update install");
  });

  test("a trial slot that dies before promoting itself: back to known good on the next start", async () => {
    const updates = join(dir, "trial");
    const marker = join(dir, "trial-ran");
    await slot(updates, "a", "1.0.0", `echo "1.0.0 ran" >> ${marker}; exit 2`);
    await slot(updates, "b", "2.0.0", `echo "2.0.0 ran" >> ${marker}; exit 1`);
    await symlink("slots/a", join(updates, "known-good"));
    await symlink("slots/b", join(updates, "current"));
    await writeFile(join(updates, "trial"), "0");
    // 2.0.0 (trial) crashes; the launcher goes back to 1.0.0, which here exits 2 (a refused configuration) and stops the launcher.
    const r = await run(updates, ["run"]);
    expect(r.code).toBe(2);
    expect(await readFile(marker, "utf8")).toBe("2.0.0 ran\n1.0.0 ran\n");
    expect(await readlink(join(updates, "current"))).toBe("slots/a");
    const log = await readFile(join(updates, "watchdog.log"), "utf8");
    expect(log).toContain("rollback: slots/b did not promote itself");
    expect(log).toContain("not restarting");
  });
});
