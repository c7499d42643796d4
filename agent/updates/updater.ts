/**
 * Drives the update machine (machine.ts) with real effects: TUF fetch
 * (fetch.ts), the A/B slots (slots.ts), the restart through the launcher, the
 * health check (the control plane answered a heartbeat from the new version)
 * and promotion. The status is written to `status.json` before each piece of
 * work, so whichever process starts next (the new version, or the known-good
 * one the launcher went back to) finds out what happened with `recover`.
 *
 * The version to go to arrives as a file (`desired`): written by `offer`
 * from the control plane's request in a heartbeat answer (request.ts decides),
 * or by `rap-node-agent update request --version V` on the node. The agent
 * looks at it on every heartbeat tick and removes it when the update settles
 * (running, rolled back or refused), recording the control plane's request id
 * as answered (`requests.json`), so each request is tried once.
 *
 * A release's workloads for this node's roles are fetched and verified with
 * the agent, installed beside the slots (workloads.ts), and part of the
 * health check: every workload the new version runs must report healthy
 * within the health window, or the update is rolled back.
 */
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readBytes } from "../../core/runtime/index.ts";
import { sha256Hex } from "../../core/crypto/bytes.ts";
import { compareVersions, nodeMigrationProblem, type ReleaseManifest, transitionAllowed } from "../../core/updates/manifest.ts";
import { spawn } from "../../core/runtime/index.ts";
import type { WorkloadHealth, WorkloadSpec } from "../supervisor.ts";
import { type FetchedRelease, fetchRelease, type HostTarget, UpdateFetchError } from "./fetch.ts";
import { initialStatus, isSettled, recover, step, type UpdateEvent, type UpdateStateName, type UpdateStatus, workOf } from "./machine.ts";
import { decideOffer, type DesiredUpdate, formatDesired, type OfferedUpdate, parseDesired, withAnswered } from "./request.ts";
import { SlotError, Slots } from "./slots.ts";
import { Workloads } from "./workloads.ts";
import { backupStore, dropBackups, hasBackup } from "./store-backup.ts";

/** Exit code that tells the launcher "slots switched: start the agent again now". */
export const EXIT_RESTART = 75;

export interface UpdaterOptions {
  /** The updates directory the launcher runs from (RAP_AGENT_UPDATES_DIR). */
  dir: string;
  trustedRootFile: string;
  /** Update cache(s) first, then version storage (RAP_UPDATE_SOURCES): used when a request brings no sources of its own. */
  sources: string[];
  /** This node's roles (from the stored snapshots): the release's workloads for them are installed with the agent. */
  roles?: () => Promise<string[]>;
  /**
   * The agent's state directory and a consistent copy of its store into a
   * file: with both, a release's signed node-local migrations are run
   * (backup first, store-backup.ts); without, a release that lists one is not installed.
   */
  store?: { stateDir: string; backupTo: (file: string) => Promise<void> };
  host: HostTarget;
  now: () => Date;
  log: (msg: string, fields?: Record<string, unknown>) => void;
  /** Ends this process so the launcher starts the slot `current` points at (main: exit 75). */
  restart: () => void;
  /** How long a new version has to reach the control plane before it is rolled back. */
  healthTimeoutMs: number;
  /**
   * Test only (RAP_AGENT_TEST_HOLD_UPDATE_AT): stop before the work of this
   * state, after persisting it, so a test can kill the process there.
   */
  holdAt?: UpdateStateName;
}

export class Updater {
  private fetched?: FetchedRelease;
  private slot?: string;
  private driving = false;
  private reachedAt?: number;
  private healthDeadline?: number;
  /** The sources of the request being worked on (the control plane's), when it brought any. */
  private requestSources?: string[];
  private workloadHealth?: () => WorkloadHealth[];
  private readonly workloads: Workloads;

  private constructor(
    private readonly o: UpdaterOptions,
    private readonly slots: Slots,
    private s: UpdateStatus,
    /** Control-plane request ids already answered, oldest first (requests.json). */
    private answered: string[],
  ) {
    this.workloads = new Workloads(o.dir);
  }

  /** Reads what the last process left and reconciles it with what actually runs. */
  static async open(o: UpdaterOptions): Promise<Updater> {
    const slots = new Slots(o.dir);
    await slots.tidy();
    const view = await slots.view();
    const at = o.now().toISOString();
    const persisted = await readFile(join(o.dir, "status.json"), "utf8").then(
      (t) => JSON.parse(t) as UpdateStatus,
      () => undefined,
    );
    const s = persisted
      ? recover(persisted, { version: view.version, knownGood: view.knownGoodVersion, trial: view.trial }, at)
      : initialStatus(view.version, at);
    const u = new Updater(o, slots, s, await readAnswered(o));
    if (persisted && (persisted.state !== s.state || persisted.current !== s.current))
      o.log("update state recovered after a restart", { from: persisted.state, to: s.state, current: s.current, target: s.target, reason: s.reason });
    await u.persist();
    // A request that this recovery ended in a rollback is answered: it is not tried again by itself.
    // (Only that request: one written since, for another version or again, stands.)
    if (persisted && !isSettled(persisted) && (s.state === "rolled_back" || s.state === "failed")) await u.consume(s.target);
    if (s.state === "health_checking") u.healthDeadline = Date.now() + o.healthTimeoutMs;
    return u;
  }

  status(): UpdateStatus {
    return this.s;
  }

  /** What the supervisor runs for the workloads the running version installed from its release (by role). */
  async workloadSpecs(): Promise<Record<string, WorkloadSpec>> {
    return this.workloads.specsFor(this.s.current);
  }

  /** Where the health check reads the workloads' health (the agent's supervisors, once they exist). */
  watchWorkloads(health: () => WorkloadHealth[]): void {
    this.workloadHealth = health;
  }

  /**
   * The `update` of a heartbeat answer: a new request becomes `desired`
   * (started on the next tick), a request for the running version is
   * answered at once, and an answered one is ignored (request.ts).
   */
  async offer(update: OfferedUpdate | null | undefined): Promise<void> {
    if (!update) return;
    const decision = decideOffer({
      offer: update,
      answered: new Set(this.answered),
      current: this.s.current,
      busy: !isSettled(this.s),
      pending: parseDesired(await readFile(join(this.o.dir, "desired"), "utf8").catch(() => "")),
    });
    if (decision.kind === "ignore") return;
    if (decision.kind === "answer_now") {
      await this.answer(update.request_id);
      await this.apply({ type: "already_running", requestId: update.request_id, at: this.at() });
      this.o.log("the control plane asks for the version that runs; answered", { version: update.version, request_id: update.request_id });
      return;
    }
    await writeFile(join(this.o.dir, ".desired.tmp"), formatDesired(decision.desired));
    await rename(join(this.o.dir, ".desired.tmp"), join(this.o.dir, "desired"));
    this.o.log("the control plane asks for a version", { version: update.version, request_id: update.request_id });
  }

  /** Records a control-plane request id as answered, before anything else forgets it (a kill then leaves it answered, never retried). */
  private async answer(id: string | undefined): Promise<void> {
    if (!id || this.answered.includes(id)) return;
    this.answered = withAnswered(this.answered, id);
    const tmp = join(this.o.dir, ".requests.json.tmp");
    await writeFile(tmp, `${JSON.stringify({ answered: this.answered })}\n`);
    await rename(tmp, join(this.o.dir, "requests.json"));
  }

  /** What each heartbeat tells the control plane (spec: update state, versions, failed version, rollback reason, migration). */
  telemetry(): Record<string, unknown> {
    const s = this.s;
    return {
      update: {
        state: s.state,
        current: s.current,
        known_good: s.knownGood,
        ...(s.target ? { target: s.target } : {}),
        ...(s.requestId ? { request_id: s.requestId } : {}),
        ...(s.failed ? { failed: s.failed } : {}),
        ...(s.reason ? { reason: s.reason.slice(0, 300) } : {}),
        migration: s.migration,
        at: s.at,
      },
    };
  }

  /** The control plane answered this agent (a heartbeat went through). */
  controlPlaneReached(): void {
    this.reachedAt = Date.now();
    void this.drive();
  }

  /** Called on every heartbeat tick: picks up a new desired version, or checks a trial's deadline. */
  async tick(): Promise<void> {
    const desired = await this.desired();
    if (desired && isSettled(this.s)) {
      // Asking for what already runs is answered at once.
      if (desired.version === this.s.current) await this.consume(desired.version);
      else {
        this.requestSources = desired.sources;
        await this.apply({ type: "desired", version: desired.version, requestId: desired.requestId, at: this.at() });
      }
    }
    await this.drive();
  }

  private async desired(): Promise<DesiredUpdate | undefined> {
    return parseDesired(await readFile(join(this.o.dir, "desired"), "utf8").catch(() => ""));
  }

  /** Answers the request if it still asks for `version`: its id is recorded, then the file removed. */
  private async consume(version: string | undefined): Promise<void> {
    const desired = await this.desired();
    if (this.s.target === version) await this.answer(this.s.requestId);
    if (desired && desired.version === version) {
      await this.answer(desired.requestId);
      await rm(join(this.o.dir, "desired"), { force: true });
    }
  }

  private at(): string {
    return this.o.now().toISOString();
  }

  private async persist(): Promise<void> {
    const tmp = join(this.o.dir, ".status.json.tmp");
    await writeFile(tmp, `${JSON.stringify(this.s)}\n`);
    await rename(tmp, join(this.o.dir, "status.json"));
  }

  private async apply(e: UpdateEvent): Promise<void> {
    const next = step(this.s, e);
    if (next === this.s) return;
    this.s = next;
    await this.persist();
    this.o.log("update", { state: next.state, current: next.current, target: next.target, known_good: next.knownGood, reason: next.reason });
  }

  /** Performs the work of each state until a settled state, a wait, or a restart. */
  async drive(): Promise<void> {
    if (this.driving) return;
    this.driving = true;
    try {
      for (;;) {
        const work = workOf(this.s);
        if (work === "none") return;
        if (this.o.holdAt === this.s.state) return;
        const before = this.s;
        await this.perform(work);
        if (this.s === before) return;
      }
    } finally {
      this.driving = false;
    }
  }

  private async perform(work: ReturnType<typeof workOf>): Promise<void> {
    const at = this.at();
    const target = this.s.target as string;
    try {
      switch (work) {
        case "check": {
          let manifest: ReleaseManifest | undefined;
          this.fetched = await fetchRelease({
            stateDir: join(this.o.dir, "tuf"),
            trustedRootFile: this.o.trustedRootFile,
            sources: this.requestSources ?? this.o.sources,
            version: target,
            host: this.o.host,
            runningVersion: compareVersions(target, this.s.current) < 0 ? this.s.current : undefined,
            workloadRoles: (await this.o.roles?.()) ?? [],
            onManifest: async (m, running) => {
              manifest = m;
              const allowed = transitionAllowed(this.s.current, m, running);
              if (!allowed.ok) throw new UpdateFetchError("refused", allowed.reason);
              await this.apply({ type: "checked", migration: m.migrations.length > 0, at: this.at() });
              if (this.o.holdAt === "downloading") await new Promise<never>(() => {});
            },
          });
          if (!manifest) throw new UpdateFetchError("refused", "no manifest");
          // Which source answered: an operator sees whether the node's update cache is used.
          this.o.log("release fetched", { target, source: this.fetched.source });
          return await this.apply({ type: "downloaded", at: this.at() });
        }
        case "download":
          // Reached only when a restart lost the download in memory: start over from checking.
          return await this.apply({ type: "unreachable", reason: "download interrupted", at });
        case "verify": {
          const f = this.fetched as FetchedRelease;
          const bytes = await readBytes(f.file);
          if (bytes.length !== f.artifact.length || (await sha256Hex(bytes)) !== f.artifact.sha256)
            return await this.apply({ type: "refused", reason: "the downloaded file no longer matches its signed hash", at });
          return await this.apply({ type: "verified", at });
        }
        case "stage": {
          const f = this.fetched as FetchedRelease;
          this.slot = await this.slots.stage(f.file, { version: target, ...this.o.host });
          for (const w of f.workloads) await this.workloads.install(w.file, { role: w.role, version: target, ...this.o.host });
          return await this.apply({ type: "staged", at });
        }
        case "migrate": {
          const f = this.fetched as FetchedRelease | undefined;
          const problem = f ? nodeMigrationProblem(f.manifest, this.s.current) : "the release was lost in a restart";
          if (problem) return await this.apply({ type: "unhealthy", reason: problem, at });
          if (!this.o.store || !this.slot)
            return await this.apply({ type: "unhealthy", reason: `release ${target} lists migrations this agent cannot run here`, at });
          await backupStore(this.o.dir, this.o.store.backupTo, { from: this.s.current, to: target, at });
          // The new version applies its own migrations (it knows them), each in one transaction, to the store backed up above.
          const child = spawn([join(this.o.dir, "slots", this.slot, "bin/rap-node-agent"), "update", "migrate-store", "--state-dir", this.o.store.stateDir], {
            stdout: "pipe",
            stderr: "pipe",
          });
          const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
          if (code !== 0)
            return await this.apply({
              type: "unhealthy",
              reason: `the migrations of ${target} failed (exit ${code}): ${err.trim().slice(-200)}`,
              at: this.at(),
            });
          this.o.log("node-local migrations applied", { target, schema: out.trim() });
          return await this.apply({ type: "migrated", at: this.at() });
        }
        case "restart_into_target":
          if (!this.slot) return await this.apply({ type: "unhealthy", reason: "the staged slot was lost in a restart", at });
          await this.slots.activate(this.slot);
          this.s = { ...this.s, switched: true };
          await this.persist();
          this.o.log("switching to the new version; the launcher starts it", { target });
          this.o.restart();
          return;
        case "health_check": {
          const verdict = healthVerdict(this.s.current, this.reachedAt !== undefined, this.workloadHealth?.() ?? [], this.healthDeadline, Date.now());
          if (verdict === "wait") return;
          if (verdict === "healthy") return await this.apply({ type: "healthy", at });
          return await this.apply({ type: "unhealthy", reason: verdict.reason, at });
        }
        case "promote":
          await this.slots.promote();
          await dropBackups(this.o.dir);
          await this.workloads.prune([target, this.s.knownGood]);
          await this.consume(target);
          return await this.apply({ type: "promoted", at });
        case "roll_back": {
          if (this.s.state === "rollback_required") await this.apply({ type: "rollback_started", at });
          const view = await this.slots.view();
          await this.consume(target);
          // A migrated store goes back to its backup before the old version opens it again (main.ts, at start): a restart.
          if (view.slot !== view.knownGoodSlot || view.trial || (this.s.migration && (await hasBackup(this.o.dir, target)))) {
            await this.slots.rollBack();
            this.o.log("rolling back; the launcher starts the known-good version", { to: view.knownGoodVersion });
            this.o.restart();
            return;
          }
          return await this.apply({ type: "rolled_back", at });
        }
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof UpdateFetchError) {
        if (err.kind === "refused") await this.consume(target);
        return await this.apply({ type: err.kind === "refused" ? "refused" : "unreachable", reason: message, at: this.at() });
      }
      if (err instanceof SlotError) return await this.apply({ type: "unhealthy", reason: message, at: this.at() });
      throw err;
    }
  }
}

/**
 * The answered request ids (requests.json). An unreadable file (a disk fault;
 * it is only ever replaced by rename) is logged and read as none: at worst a
 * request the control plane still sends is tried once more.
 */
async function readAnswered(o: UpdaterOptions): Promise<string[]> {
  const text = await readFile(join(o.dir, "requests.json"), "utf8").catch(() => undefined);
  if (text === undefined) return [];
  try {
    const parsed = JSON.parse(text) as { answered?: unknown };
    if (Array.isArray(parsed.answered)) return parsed.answered.filter((x): x is string => typeof x === "string");
  } catch {
    // Falls through to the log below.
  }
  o.log("requests.json is unreadable; answered update requests start over", { file: join(o.dir, "requests.json") });
  return [];
}

/**
 * The health check of a version on trial: healthy when it reached the control
 * plane and every workload it runs reported healthy; unhealthy at once when a
 * workload exited, or at the deadline with what is still missing named.
 */
export function healthVerdict(
  version: string,
  reached: boolean,
  workloads: WorkloadHealth[],
  deadline: number | undefined,
  now: number,
): "healthy" | "wait" | { reason: string } {
  const failed = workloads.find((w) => w.health === "failed");
  if (failed) return { reason: `workload ${failed.role} of ${version} ${failed.detail ?? "failed"} during the health check` };
  const pending = workloads.filter((w) => w.health !== "healthy").map((w) => w.role);
  if (reached && pending.length === 0) return "healthy";
  if (deadline === undefined || now <= deadline) return "wait";
  if (!reached) return { reason: `${version} did not reach the control plane in time` };
  return { reason: `workload ${pending.join(", ")} of ${version} did not report healthy within the health window` };
}
