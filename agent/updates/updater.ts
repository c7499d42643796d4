/**
 * Drives the update machine (machine.ts) with real effects: TUF fetch
 * (fetch.ts), the A/B slots (slots.ts), the restart through the launcher, the
 * health check (the control plane answered a heartbeat from the new version)
 * and promotion. The status is written to `status.json` before each piece of
 * work, so whichever process starts next (the new version, or the known-good
 * one the launcher went back to) finds out what happened with `recover`.
 *
 * The version to go to arrives as a file (`desired`, written by
 * `rap-node-agent update request --version V`); the agent looks at it on
 * every heartbeat tick and removes it when the update settles (running,
 * rolled back or refused), so each request is tried once.
 */
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readBytes } from "../../core/runtime/index.ts";
import { sha256Hex } from "../../core/crypto/bytes.ts";
import { type ReleaseManifest, transitionAllowed } from "../../core/updates/manifest.ts";
import { type FetchedRelease, fetchRelease, type HostTarget, UpdateFetchError } from "./fetch.ts";
import { initialStatus, isSettled, recover, step, type UpdateEvent, type UpdateStateName, type UpdateStatus, workOf } from "./machine.ts";
import { SlotError, Slots } from "./slots.ts";

/** Exit code that tells the launcher "slots switched: start the agent again now". */
export const EXIT_RESTART = 75;

export interface UpdaterOptions {
  /** The updates directory the launcher runs from (RAP_AGENT_UPDATES_DIR). */
  dir: string;
  trustedRootFile: string;
  /** Update cache(s) first, then version storage. */
  sources: string[];
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

  private constructor(
    private readonly o: UpdaterOptions,
    private readonly slots: Slots,
    private s: UpdateStatus,
  ) {}

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
    const u = new Updater(o, slots, s);
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

  /** What each heartbeat tells the control plane (spec: update state, versions, failed version, rollback reason, migration). */
  telemetry(): Record<string, unknown> {
    const s = this.s;
    return {
      update: {
        state: s.state,
        current: s.current,
        known_good: s.knownGood,
        ...(s.target ? { target: s.target } : {}),
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
    const desired = (await readFile(join(this.o.dir, "desired"), "utf8").catch(() => "")).trim();
    if (desired && isSettled(this.s)) await this.apply({ type: "desired", version: desired, at: this.at() });
    await this.drive();
  }

  /** Removes the request if it still asks for `version`. */
  private async consume(version: string | undefined): Promise<void> {
    const desired = (await readFile(join(this.o.dir, "desired"), "utf8").catch(() => "")).trim();
    if (desired && desired === version) await rm(join(this.o.dir, "desired"), { force: true });
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
            sources: this.o.sources,
            version: target,
            host: this.o.host,
            onManifest: async (m) => {
              manifest = m;
              const allowed = transitionAllowed(this.s.current, m);
              if (!allowed.ok) throw new UpdateFetchError("refused", allowed.reason);
              await this.apply({ type: "checked", migration: m.migrations.length > 0, at: this.at() });
              if (this.o.holdAt === "downloading") await new Promise<never>(() => {});
            },
          });
          if (!manifest) throw new UpdateFetchError("refused", "no manifest");
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
        case "stage":
          this.slot = await this.slots.stage((this.fetched as FetchedRelease).file, { version: target, ...this.o.host });
          return await this.apply({ type: "staged", at });
        case "migrate":
          // This agent knows no node-local migrations yet: a release that lists one is not installed here.
          return await this.apply({ type: "unhealthy", reason: `release ${target} lists migrations this agent cannot run`, at });
        case "restart_into_target":
          if (!this.slot) return await this.apply({ type: "unhealthy", reason: "the staged slot was lost in a restart", at });
          await this.slots.activate(this.slot);
          this.s = { ...this.s, switched: true };
          await this.persist();
          this.o.log("switching to the new version; the launcher starts it", { target });
          this.o.restart();
          return;
        case "health_check":
          if (this.reachedAt !== undefined) return await this.apply({ type: "healthy", at });
          if (this.healthDeadline !== undefined && Date.now() > this.healthDeadline)
            return await this.apply({ type: "unhealthy", reason: `${this.s.current} did not reach the control plane in time`, at });
          return;
        case "promote":
          await this.slots.promote();
          await this.consume(target);
          return await this.apply({ type: "promoted", at });
        case "roll_back": {
          if (this.s.state === "rollback_required") await this.apply({ type: "rollback_started", at });
          const view = await this.slots.view();
          await this.consume(target);
          if (view.slot !== view.knownGoodSlot || view.trial) {
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
