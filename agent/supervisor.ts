/**
 * The workload supervisor: runs exactly the workloads of the roles assigned
 * to this node in this cluster, each as a child process (with an optional
 * HTTP health probe), restarts one that exits or fails its probe with
 * exponential backoff (1 s doubling to 60 s, reset after a minute
 * of uptime), stops one whose role is gone, and stops everything when the
 * node is refused or the agent shuts down (SIGTERM, then SIGKILL after the
 * grace period). A role with no workload implementation here is reported
 * `unsupported`, never `running`. Every state change is reported.
 */
import { existsSync, rmSync } from "node:fs";
import { type ChildProcess, spawn } from "../core/runtime/index.ts";
import { every, type Clock, type Timer } from "./clock.ts";

export interface WorkloadSpec {
  command: string[];
  /** Reported with the workload's state. */
  version?: string;
  env?: Record<string, string>;
  /** Probed every `interval_seconds` (default 10); three failures in a row restart the workload. */
  health?: { url: string; interval_seconds?: number };
  /**
   * A workload from a release says it is ready by creating this file (passed
   * as RAP_WORKLOAD_READY_FILE, removed before each start); an update's
   * health check waits for it (agent/updates/workloads.ts).
   */
  readyFile?: string;
  /** The working directory (a release's workload runs in its own directory). */
  cwd?: string;
}

/**
 * One workload as an update's health check sees it: `healthy` once it said
 * so (its ready file, a passing probe, or, with neither, simply running),
 * `failed` once it exited since this agent started it.
 */
export interface WorkloadHealth {
  role: string;
  version?: string;
  health: "pending" | "healthy" | "failed";
  detail?: string;
}
export type ReportedState = "starting" | "running" | "stopping" | "stopped" | "failed" | "unsupported";
export interface WorkloadReport {
  service_type: string;
  reported_state: ReportedState;
  version?: string;
}

interface Running {
  role: string;
  spec: WorkloadSpec;
  proc: ChildProcess | null;
  state: ReportedState;
  restarts: number;
  startedAt: number;
  timer: Timer | undefined;
  /** Stops the health probe. */
  probe: (() => void) | undefined;
  wanted: boolean;
  /** Exits since this agent first started it, and the last exit code. */
  exits: number;
  lastExit?: number;
  /** Whether a health probe has passed since the last start. */
  probedOk: boolean;
}

export interface SupervisorDeps {
  /** Workload implementations by role; a role missing here is unsupported. */
  registry: Record<string, WorkloadSpec>;
  report: (reports: WorkloadReport[]) => Promise<void>;
  log: (msg: string, fields?: Record<string, unknown>) => void;
  graceMs?: number;
  /** Backoff, probe intervals and the stop grace period run on it. */
  clock: Clock;
}

const MAX_BACKOFF_MS = 60_000;
const STABLE_MS = 60_000;

export class Supervisor {
  private readonly workloads = new Map<string, Running>();

  constructor(private readonly deps: SupervisorDeps) {}

  states(): Record<string, ReportedState> {
    return Object.fromEntries([...this.workloads].map(([role, w]) => [role, w.state]));
  }

  /** Each supervised workload's health (unsupported roles run nothing and are left out). */
  health(): WorkloadHealth[] {
    const out: WorkloadHealth[] = [];
    for (const w of this.workloads.values()) {
      if (w.state === "unsupported" || !w.wanted) continue;
      const base = { role: w.role, ...(w.spec.version ? { version: w.spec.version } : {}) };
      if (w.exits > 0) out.push({ ...base, health: "failed", detail: `exited with code ${w.lastExit ?? "unknown"}` });
      else if (w.spec.readyFile) out.push({ ...base, health: existsSync(w.spec.readyFile) ? "healthy" : "pending" });
      else if (w.spec.health) out.push({ ...base, health: w.probedOk ? "healthy" : "pending" });
      else out.push({ ...base, health: w.state === "running" ? "healthy" : "pending" });
    }
    return out;
  }

  /** Makes the running set match the assigned roles. */
  async reconcile(roles: string[]): Promise<void> {
    const wanted = new Set(roles);
    const changes: WorkloadReport[] = [];
    for (const [role, w] of this.workloads) {
      if (!wanted.has(role)) {
        await this.stopOne(w);
        this.workloads.delete(role);
        changes.push({ service_type: role, reported_state: "stopped" });
      }
    }
    for (const role of wanted) {
      if (this.workloads.has(role)) continue;
      const spec = this.deps.registry[role];
      if (!spec) {
        this.workloads.set(role, {
          role,
          spec: { command: [] },
          proc: null,
          state: "unsupported",
          restarts: 0,
          startedAt: 0,
          timer: undefined,
          probe: undefined,
          wanted: true,
          exits: 0,
          probedOk: false,
        });
        changes.push({ service_type: role, reported_state: "unsupported" });
        continue;
      }
      const w: Running = {
        role,
        spec,
        proc: null,
        state: "starting",
        restarts: 0,
        startedAt: 0,
        timer: undefined,
        probe: undefined,
        wanted: true,
        exits: 0,
        probedOk: false,
      };
      this.workloads.set(role, w);
      this.start(w);
      changes.push(this.report(w, "running"));
    }
    if (changes.length) await this.deps.report(changes).catch((err) => this.deps.log("service report failed", { error: String(err) }));
  }

  /** Stops every workload (node refused, or agent shutting down). */
  async stopAll(): Promise<void> {
    const reports: WorkloadReport[] = [];
    for (const w of this.workloads.values()) {
      await this.stopOne(w);
      reports.push({ service_type: w.role, reported_state: w.state === "unsupported" ? "unsupported" : "stopped" });
    }
    this.workloads.clear();
    if (reports.length) await this.deps.report(reports).catch(() => {});
  }

  private start(w: Running): void {
    w.startedAt = this.deps.clock.now().getTime();
    w.probedOk = false;
    if (w.spec.readyFile) rmSync(w.spec.readyFile, { force: true });
    w.proc = spawn(w.spec.command, {
      env: {
        ...process.env,
        ...w.spec.env,
        RAP_WORKLOAD_ROLE: w.role,
        ...(w.spec.version ? { RAP_WORKLOAD_VERSION: w.spec.version } : {}),
        ...(w.spec.readyFile ? { RAP_WORKLOAD_READY_FILE: w.spec.readyFile } : {}),
      },
      ...(w.spec.cwd ? { cwd: w.spec.cwd } : {}),
      stdin: "ignore",
      stdout: "inherit",
      stderr: "inherit",
    });
    w.state = "running";
    this.deps.log("workload started", { role: w.role, pid: w.proc.pid, restarts: w.restarts });
    const proc = w.proc;
    this.watchHealth(w, proc);
    void proc.exited.then((code) => {
      w.probe?.();
      if (!w.wanted || w.proc !== proc) return;
      w.state = "failed";
      w.exits++;
      w.lastExit = code;
      if (this.deps.clock.now().getTime() - w.startedAt > STABLE_MS) w.restarts = 0;
      const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** w.restarts);
      w.restarts++;
      this.deps.log("workload exited; restarting", { role: w.role, code, backoff_ms: backoff });
      void this.deps.report([this.report(w, "failed")]).catch(() => {});
      w.timer = this.deps.clock.setTimeout(() => {
        if (w.wanted) {
          this.start(w);
          void this.deps.report([this.report(w, "running")]).catch(() => {});
        }
      }, backoff);
    });
  }

  private report(w: Running, state: ReportedState): WorkloadReport {
    return w.spec.version ? { service_type: w.role, reported_state: state, version: w.spec.version } : { service_type: w.role, reported_state: state };
  }

  /** An unhealthy workload is killed; the exit handler then restarts it with backoff. */
  private watchHealth(w: Running, proc: ChildProcess): void {
    const health = w.spec.health;
    if (!health) return;
    let failures = 0;
    w.probe = every(this.deps.clock, (health.interval_seconds ?? 10) * 1000, async () => {
      const ok = await fetch(health.url, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
      failures = ok ? 0 : failures + 1;
      if (ok && w.proc === proc) w.probedOk = true;
      if (failures >= 3 && w.proc === proc && proc.exitCode === null) {
        this.deps.log("workload unhealthy; restarting", { role: w.role, url: health.url });
        failures = 0;
        proc.kill("SIGKILL");
      }
    });
  }

  private async stopOne(w: Running): Promise<void> {
    w.wanted = false;
    if (w.timer) this.deps.clock.clearTimeout(w.timer);
    w.probe?.();
    const proc = w.proc;
    if (!proc || proc.exitCode !== null) {
      if (w.state !== "unsupported") w.state = "stopped";
      return;
    }
    w.state = "stopping";
    proc.kill("SIGTERM");
    const graceful = await Promise.race([proc.exited.then(() => true), this.deps.clock.sleep(this.deps.graceMs ?? 10_000).then(() => false)]);
    if (!graceful) proc.kill("SIGKILL");
    await proc.exited;
    w.state = "stopped";
    this.deps.log("workload stopped", { role: w.role, graceful });
  }
}
