/**
 * The A/B slots on disk that the launcher (agent/packaging/rap-agent-launcher)
 * starts the agent from. Every change is a rename (a symlink replaced
 * atomically, a file renamed into place), so a kill at any point leaves a
 * layout the launcher can start: `current` and `known-good` always point at a
 * complete slot, and a slot is filled only while nothing points at it.
 *
 *   slots/a, slots/b   unpacked agent artifacts (artifact.json + bin/rap-node-agent)
 *   current            the slot the launcher starts
 *   known-good         the last slot that promoted itself
 *   trial              present while `current` is on trial (its boot count)
 */
import { mkdir, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as v from "valibot";
import { spawn } from "../../core/runtime/index.ts";

export const ArtifactInfo = v.object({
  typ: v.literal("rap.artifact.v1"),
  name: v.string(),
  version: v.string(),
  os: v.string(),
  arch: v.string(),
  entry: v.string(),
});

export class SlotError extends Error {}

export interface SlotView {
  /** The slot `current` points at, its version, and whether it is on trial. */
  slot: string;
  version: string;
  knownGoodSlot: string;
  knownGoodVersion: string;
  trial: boolean;
}

/** Empties `into` and unpacks a verified `.tar.gz` there (never as root's owners: --no-same-owner). */
export async function unpackInto(file: string, into: string, what: string): Promise<void> {
  await rm(into, { recursive: true, force: true });
  await mkdir(into, { recursive: true });
  const child = spawn(["tar", "--no-same-owner", "-xzf", file, "-C", into], { stdout: "ignore", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new SlotError(`unpacking into ${what} failed: ${err.trim().slice(0, 200)}`);
}

const other = (slot: string): string => (slot === "a" ? "b" : "a");

export class Slots {
  constructor(readonly dir: string) {}

  private async point(name: "current" | "known-good", slot: string): Promise<void> {
    const tmp = join(this.dir, `.${name}.tmp`);
    await rm(tmp, { force: true });
    await symlink(`slots/${slot}`, tmp);
    await rename(tmp, join(this.dir, name));
  }

  private async slotOf(name: "current" | "known-good"): Promise<string> {
    const target = await readlink(join(this.dir, name)).catch(() => {
      throw new SlotError(`${join(this.dir, name)} is missing; install an agent first (rap-node-agent update install)`);
    });
    const slot = target.split("/").at(-1) as string;
    if (slot !== "a" && slot !== "b") throw new SlotError(`${name} points at ${target}, not a slot`);
    return slot;
  }

  async info(slot: string): Promise<v.InferOutput<typeof ArtifactInfo>> {
    const text = await readFile(join(this.dir, "slots", slot, "artifact.json"), "utf8").catch(() => {
      throw new SlotError(`slot ${slot} holds no artifact`);
    });
    const r = v.safeParse(ArtifactInfo, JSON.parse(text));
    if (!r.success) throw new SlotError(`slot ${slot}: artifact.json is malformed`);
    return r.output;
  }

  async view(): Promise<SlotView> {
    const [slot, knownGoodSlot] = [await this.slotOf("current"), await this.slotOf("known-good")];
    const trial = await readFile(join(this.dir, "trial"), "utf8").then(
      () => true,
      () => false,
    );
    return { slot, version: (await this.info(slot)).version, knownGoodSlot, knownGoodVersion: (await this.info(knownGoodSlot)).version, trial };
  }

  /**
   * Unpacks a verified artifact into `slot` (emptied first) and checks what
   * it says about itself against what was signed for this host.
   */
  private async unpack(file: string, slot: string, expected: { version?: string; os: string; arch: string }): Promise<string> {
    const into = join(this.dir, "slots", slot);
    await unpackInto(file, into, `slot ${slot}`);
    const info = await this.info(slot);
    if (info.name !== "rap-node-agent") throw new SlotError(`the artifact is ${info.name}, not rap-node-agent`);
    if (info.os !== expected.os || info.arch !== expected.arch)
      throw new SlotError(`the artifact says it is for ${info.os}-${info.arch}; this host is ${expected.os}-${expected.arch}`);
    if (expected.version !== undefined && info.version !== expected.version)
      throw new SlotError(`the artifact says version ${info.version}, the signed manifest ${expected.version}`);
    return info.version;
  }

  /** The first agent: into slot a, which becomes current and known good. */
  async install(file: string, host: { os: string; arch: string }): Promise<string> {
    await mkdir(join(this.dir, "slots"), { recursive: true, mode: 0o700 });
    const version = await this.unpack(file, "a", host);
    await rm(join(this.dir, "trial"), { force: true });
    await this.point("known-good", "a");
    await this.point("current", "a");
    return version;
  }

  /** Unpacks the target into the slot nothing points at; returns that slot. */
  async stage(file: string, expected: { version: string; os: string; arch: string }): Promise<string> {
    const view = await this.view();
    if (view.trial) throw new SlotError("a trial is under way; promote or roll back first");
    const slot = other(view.knownGoodSlot);
    await this.unpack(file, slot, expected);
    return slot;
  }

  /** Marks `slot` for one trial boot and points `current` at it; the caller then exits 75 for the launcher. */
  async activate(slot: string): Promise<void> {
    await writeFile(join(this.dir, ".trial.tmp"), "0");
    await rename(join(this.dir, ".trial.tmp"), join(this.dir, "trial"));
    await this.point("current", slot);
  }

  /** The running slot passed its health checks: it becomes known good, and the trial ends. */
  async promote(): Promise<void> {
    await this.point("known-good", await this.slotOf("current"));
    await rm(join(this.dir, "trial"), { force: true });
  }

  /** Back to known good (the caller exits 75 so the launcher starts it). */
  async rollBack(): Promise<void> {
    await this.point("current", await this.slotOf("known-good"));
    await rm(join(this.dir, "trial"), { force: true });
  }

  /**
   * A kill between `activate`'s two renames leaves `trial` beside a `current`
   * that is still known good: no trial is really under way, so it is removed.
   */
  async tidy(): Promise<void> {
    const view = await this.view();
    if (view.trial && view.slot === view.knownGoodSlot) await rm(join(this.dir, "trial"), { force: true });
  }
}
