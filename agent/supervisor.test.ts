/** The supervisor with real child processes: start for a role, restart with backoff, stop on removal, unsupported roles. */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Supervisor, type WorkloadReport } from "./supervisor.ts";
import { waitFor } from "../fixtures/wait.ts";

setDefaultTimeout(30_000);

const dir = mkdtempSync(join(tmpdir(), "rap-sup-"));
const WORKLOAD = { command: [process.execPath, join(import.meta.dir, "../fixtures/workload.ts")], env: { WORKLOAD_PID_DIR: dir } };
let sup: Supervisor | undefined;

afterEach(async () => {
  await sup?.stopAll();
});

function make(reports: WorkloadReport[]) {
  sup = new Supervisor({ registry: { "relay-node": WORKLOAD }, report: async (r) => void reports.push(...r), log: () => {}, graceMs: 2000 });
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
    expect(reports).toEqual([{ service_type: "relay-node", reported_state: "running" }, { service_type: "relay-node", reported_state: "stopped" }]);
  });

  test("a workload that exits is restarted with backoff and reported failed in between", async () => {
    const reports: WorkloadReport[] = [];
    const s = make(reports);
    await s.reconcile(["relay-node"]);
    const first = await waitFor(() => pidOf("relay-node"), { what: "first pid" });
    writeFileSync(join(dir, "crash-relay-node"), "");
    await waitFor(() => reports.some((r) => r.reported_state === "failed"), { what: "failure report" });
    const second = await waitFor(() => {
      const p = pidOf("relay-node");
      return p && p !== first ? p : null;
    }, { timeoutMs: 5000, what: "restarted pid" });
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
      registry: { "relay-node": { ...WORKLOAD, env: { ...WORKLOAD.env, WORKLOAD_HEALTH_PORT: String(port) }, health: { url: `http://127.0.0.1:${port}/health`, interval_seconds: 0.1 } } },
      report: async (r) => void reports.push(...r),
      log: () => {},
      graceMs: 2000,
    });
    await sup.reconcile(["relay-node"]);
    const first = await waitFor(() => pidOf("relay-node"), { what: "pid" });
    await Bun.sleep(500);
    expect(pidOf("relay-node")).toBe(first);
    writeFileSync(join(dir, "sick-relay-node"), "");
    await waitFor(() => reports.some((r) => r.reported_state === "failed"), { timeoutMs: 5000, what: "probe failure restart" });
    rmSync(join(dir, "sick-relay-node"), { force: true });
    const second = await waitFor(() => {
      const p = pidOf("relay-node");
      return p && p !== first && alive(p) ? p : null;
    }, { timeoutMs: 5000, what: "restarted pid" });
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
});
