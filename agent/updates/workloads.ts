/**
 * Workload artifacts installed from signed releases, versioned beside the
 * agent's slots so that a rollback finds the old workload where it left it:
 *
 *   workloads/<role>/<version>/   an unpacked workload artifact (artifact.json + an executable `run`)
 *
 * The agent that starts on a version runs that version's workloads instead of
 * the configured command for the role (main.ts merges `specsFor` into the
 * registry), so switching slots switches workloads and a rollback brings the
 * old ones back without touching disk. A directory is filled under a
 * temporary name and renamed into place, so a kill never leaves a
 * half-unpacked workload under a version's name.
 */
import { readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import * as v from "valibot";
import type { WorkloadSpec } from "../supervisor.ts";
import { ArtifactInfo, SlotError, unpackInto } from "./slots.ts";

export class Workloads {
  constructor(readonly dir: string) {}

  private root(): string {
    return join(this.dir, "workloads");
  }

  /** Unpacks a verified workload artifact for `role` at `version`, checking what it says about itself. */
  async install(file: string, expected: { role: string; version: string; os: string; arch: string }): Promise<void> {
    const final = join(this.root(), expected.role, expected.version);
    const tmp = join(this.root(), expected.role, `.${expected.version}.tmp`);
    await unpackInto(file, tmp, `the ${expected.role} workload`);
    const text = await readFile(join(tmp, "artifact.json"), "utf8").catch(() => "");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const info = v.safeParse(ArtifactInfo, parsed);
    const fail = async (why: string): Promise<never> => {
      await rm(tmp, { recursive: true, force: true });
      throw new SlotError(`the ${expected.role} workload of ${expected.version}: ${why}`);
    };
    if (!info.success) return fail("artifact.json is missing or malformed");
    const i = info.output;
    if (i.name !== `workload-${expected.role}`) await fail(`it says it is ${i.name}`);
    if (i.version !== expected.version) await fail(`it says version ${i.version}`);
    if (i.os !== expected.os || i.arch !== expected.arch) await fail(`it says ${i.os}-${i.arch}; this host is ${expected.os}-${expected.arch}`);
    const mode = (await stat(join(tmp, "run")).catch(() => undefined))?.mode ?? 0;
    if (i.entry !== "run" || (mode & 0o111) === 0) await fail('it has no executable "run"');
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
  }

  /** The roles with an installed workload at `version`. */
  async rolesAt(version: string): Promise<string[]> {
    const roles = await readdir(this.root()).catch(() => [] as string[]);
    const out: string[] = [];
    for (const role of roles) if (await stat(join(this.root(), role, version, "run")).catch(() => undefined)) out.push(role);
    return out.sort();
  }

  /**
   * What the supervisor runs for each role that `version` installed: the
   * release's `run`, told where to signal readiness (RAP_WORKLOAD_READY_FILE;
   * the update's health check waits for it).
   */
  async specsFor(version: string): Promise<Record<string, WorkloadSpec>> {
    const specs: Record<string, WorkloadSpec> = {};
    for (const role of await this.rolesAt(version)) {
      const dir = join(this.root(), role, version);
      specs[role] = { command: [join(dir, "run")], version, readyFile: join(this.root(), role, `.ready-${version}`), cwd: dir };
    }
    return specs;
  }

  /** Removes every installed version but `keep` (the running and the known-good version), and half-unpacked leftovers. */
  async prune(keep: string[]): Promise<void> {
    for (const role of await readdir(this.root()).catch(() => [] as string[])) {
      for (const entry of await readdir(join(this.root(), role)).catch(() => [] as string[])) {
        const version = entry.startsWith(".ready-") ? entry.slice(".ready-".length) : entry;
        if (!keep.includes(version)) await rm(join(this.root(), role, entry), { recursive: true, force: true });
      }
    }
  }
}
