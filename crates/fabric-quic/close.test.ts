/**
 * Closing the mesh addon settles every call still waiting on it, so a
 * process that closed its endpoints exits by itself (before this, a pending
 * `recv()` or `nextEvent()` kept the process alive forever).
 */
import { expect, test } from "../../fixtures/test.ts";
import { spawn } from "node:child_process";
import { join } from "node:path";

const SCRIPT = join(import.meta.dirname, "../../fixtures/mesh-close-exit.ts");

/** Runs the script under this same runtime; its exit code and stdout, or "still running" after `limitMs`. */
function runScript(limitMs: number): Promise<{ code: number | null; stdout: string; stillRunning: boolean }> {
  const isDeno = "Deno" in globalThis;
  const args = isDeno ? ["run", "-A", SCRIPT] : [SCRIPT];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve({ code: null, stdout, stillRunning: true });
    }, limitMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stillRunning: false });
    });
  });
}

test("a process that closed its mesh endpoints exits by itself, every pending call settled", async () => {
  const run = await runScript(20_000);
  expect(run.stillRunning).toBe(false);
  expect(run.code).toBe(0);
  const settled = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}");
  expect(settled).toEqual({ recv: [], next_event: null, next_adapter_event: null, next_entry_event: null });
}, 30_000);
