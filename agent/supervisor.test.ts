/**
 * The supervisor with real child processes: start for a role, restart with
 * backoff, stop on removal, unsupported roles. Backoff and probe intervals
 * run on a manual clock: processes are real, waiting out timers is not.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Supervisor, type WorkloadReport } from "./supervisor.ts";
import { waitFor } from "../fixtures/wait.ts";
import { ManualClock } from "../fixtures/clock.ts";

setDefaultTimeout(30_000);

const dir = mkdtempSync(join(tmpdir(), "rap-sup-"));
const WORKLOAD = { command: [process.execPath, join(import.meta.dirname, "../fixtures/workload.ts")], env: { WORKLOAD_PID_DIR: dir } };
let sup: Supervisor | undefined;
let clock = new ManualClock();

afterEach(async () => {
  await sup?.stopAll();
  clock = new ManualClock();
  // A workload that crashed leaves its pid file behind: the next test must not read it.
  for (const f of ["relay-node.pid", "probes-relay-node", "sick-relay-node", "crash-relay-node"]) rmSync(join(dir, f), { force: true });
});

function make(reports: WorkloadReport[]) {
  sup = new Supervisor({ registry: { "relay-node": WORKLOAD }, report: async (r) => void reports.push(...r), log: () => {}, graceMs: 2000, clock });
  return sup;
}

const pidOf = (role: string) => (existsSync(join(dir, `${role}.pid`)) ? Number(readFileSync(join(dir, `${role}.pid`), "utf8")) : null);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("supervisor", () => {
  test("an assigned role runs as a child process; removing the role stops it", async () => {
    const reports: WorkloadReport[] = [];
    const s = make(reports);
    await s.reconcile(["relay-node"]);
    const pid = await waitFor(() => pidOf("relay-node"), { what: "workload pid" });
    expect(alive(pid)).toBe(true);
    expect(s.states()).toEqual({ "relay-node": "running" });
    await s.reconcile([]);
    expect(alive(pid)).toBe(false);
    expect(reports).toEqual([
      { service_type: "relay-node", reported_state: "running" },
      { service_type: "relay-node", reported_state: "stopped" },
    ]);
  });

  test("a workload that exits is restarted with backoff and reported failed in between", async () => {
    const reports: WorkloadReport[] = [];
    const s = make(reports);
    await s.reconcile(["relay-node"]);
    const first = await waitFor(() => pidOf("relay-node"), { what: "first pid" });
    writeFileSync(join(dir, "crash-relay-node"), "");
    await waitFor(() => reports.some((r) => r.reported_state === "failed"), { what: "failure report" });
    // The first restart waits 1 s, and not a millisecond less.
    await clock.advanceAsync(999);
    expect(s.states()).toEqual({ "relay-node": "failed" });
    await clock.advanceAsync(1);
    expect(s.states()).toEqual({ "relay-node": "running" });
    const second = await waitFor(
      () => {
        const p = pidOf("relay-node");
        return p && p !== first ? p : null;
      },
      { timeoutMs: 5000, what: "restarted pid" },
    );
    expect(alive(second)).toBe(true);
    expect(reports.map((r) => r.reported_state)).toEqual(["running", "failed", "running"]);
  });

  test("a role with no implementation is unsupported, never running", async () => {
    const reports: WorkloadReport[] = [];
    const s = make(reports);
    await s.reconcile(["rdp-worker", "relay-node"]);
    expect(s.states()).toEqual({ "rdp-worker": "unsupported", "relay-node": "running" });
    expect(reports).toContainEqual({ service_type: "rdp-worker", reported_state: "unsupported" });
  });

  test("a workload that fails its health probe three times is restarted", async () => {
    const reports: WorkloadReport[] = [];
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    sup = new Supervisor({
      registry: {
        "relay-node": {
          ...WORKLOAD,
          env: { ...WORKLOAD.env, WORKLOAD_HEALTH_PORT: String(port) },
          health: { url: `http://127.0.0.1:${port}/health`, interval_seconds: 0.1 },
        },
      },
      report: async (r) => void reports.push(...r),
      log: () => {},
      graceMs: 2000,
      clock,
    });
    await sup.reconcile(["relay-node"]);
    const first = await waitFor(() => pidOf("relay-node"), { what: "pid" });
    await waitFor(
      () =>
        fetch(`http://127.0.0.1:${port}/health`).then(
          (r) => r.ok,
          () => false,
        ),
      { what: "workload serving /health" },
    );
    const probes = () => (existsSync(join(dir, "probes-relay-node")) ? readFileSync(join(dir, "probes-relay-node"), "utf8").trim().split("\n") : []);
    /** One probe interval passes; resolves once that probe was answered. */
    const probe = async () => {
      const before = probes().length;
      await clock.advanceAsync(100);
      await waitFor(() => probes().length > before, { what: "a probe" });
    };
    for (let i = 0; i < 5; i++) await probe();
    expect(pidOf("relay-node")).toBe(first);
    writeFileSync(join(dir, "sick-relay-node"), "");
    for (let i = 0; i < 3; i++) await probe();
    await waitFor(() => reports.some((r) => r.reported_state === "failed"), { timeoutMs: 5000, what: "probe failure restart" });
    rmSync(join(dir, "sick-relay-node"), { force: true });
    await clock.advanceAsync(1000);
    const second = await waitFor(
      () => {
        const p = pidOf("relay-node");
        return p && p !== first && alive(p) ? p : null;
      },
      { timeoutMs: 5000, what: "restarted pid" },
    );
    expect(second).not.toBe(first);
  });

  test("stopAll stops every workload", async () => {
    const s = make([]);
    await s.reconcile(["relay-node"]);
    const pid = await waitFor(() => pidOf("relay-node"), { what: "pid" });
    await s.stopAll();
    expect(alive(pid)).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  test("an update's health check: healthy once the workload writes its ready file, failed once it exits, pending before", async () => {
    const own = mkdtempSync(join(tmpdir(), "rap-sup-ready-"));
    const ready = join(own, "ready-relay-node");
    const stale = join(own, "ready-entry-node");
    // A ready file left from an earlier run does not count: it is removed before each start.
    writeFileSync(stale, "");
    sup = new Supervisor({
      registry: {
        "relay-node": { command: ["sh", "-c", 'touch "$RAP_WORKLOAD_READY_FILE"; exec tail -f /dev/null'], version: "3.0.0", readyFile: ready },
        "entry-node": { command: ["sh", "-c", "exec tail -f /dev/null"], readyFile: stale },
        "vpn-exit": { command: ["sh", "-c", "exit 3"] },
      },
      report: async () => {},
      log: () => {},
      graceMs: 2000,
      clock,
    });
    await sup.reconcile(["relay-node", "entry-node", "vpn-exit", "rdp-worker"]);
    const byRole = () => Object.fromEntries(sup!.health().map((h) => [h.role, h]));
    await waitFor(() => byRole()["relay-node"]?.health === "healthy" && byRole()["vpn-exit"]?.health === "failed", { what: "ready and exited workloads" });
    expect(byRole()).toEqual({
      "relay-node": { role: "relay-node", version: "3.0.0", health: "healthy" },
      "entry-node": { role: "entry-node", health: "pending" },
      "vpn-exit": { role: "vpn-exit", health: "failed", detail: "exited with code 3" },
    });
    await sup.stopAll();
    rmSync(own, { recursive: true, force: true });
  });
});
