/**
 * The updater's handling of the control plane's requests over real files
 * (slots laid out as `update install` leaves them, no network): what is
 * answered stays answered across a restart, a request for what runs is
 * answered at once, and a damaged requests.json does not stop the agent.
 */
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "../../fixtures/test.ts";
import { Updater } from "./updater.ts";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** An updates directory with 1.0.0 in slot a, current and known good. */
async function installed(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "rap-updater-"));
  dirs.push(dir);
  await mkdir(join(dir, "slots/a"), { recursive: true });
  const info = { typ: "rap.artifact.v1", name: "rap-node-agent", version: "1.0.0", os: "linux", arch: "x64", entry: "bin/rap-node-agent" };
  await writeFile(join(dir, "slots/a/artifact.json"), JSON.stringify(info));
  await symlink("slots/a", join(dir, "current"));
  await symlink("slots/a", join(dir, "known-good"));
  return dir;
}

async function open(dir: string, logs: string[] = []): Promise<Updater> {
  return Updater.open({
    dir,
    trustedRootFile: join(dir, "no-root.json"),
    sources: [],
    host: { os: "linux", arch: "x64" },
    now: () => new Date("2026-11-30T00:00:00.000Z"),
    log: (msg) => void logs.push(msg),
    restart: () => {
      throw new Error("no restart expected");
    },
    healthTimeoutMs: 1000,
  });
}

const desired = (dir: string) => readFile(join(dir, "desired"), "utf8").catch(() => undefined);

describe("updater: the control plane's requests", () => {
  test("a new request becomes desired with its sources; the running version is answered at once and stays answered after a restart", async () => {
    const dir = await installed();
    const u = await open(dir);
    await u.offer({ request_id: "r-1", version: "2.0.0", sources: ["http://cache.example:8088"] });
    expect(JSON.parse((await desired(dir)) as string)).toEqual({ version: "2.0.0", request_id: "r-1", sources: ["http://cache.example:8088"] });
    await rm(join(dir, "desired"));

    await u.offer({ request_id: "r-2", version: "1.0.0", sources: [] });
    expect(u.status()).toMatchObject({ state: "running", current: "1.0.0", requestId: "r-2" });
    expect(await desired(dir)).toBeUndefined();
    expect(u.telemetry()).toMatchObject({ update: { state: "running", request_id: "r-2" } });

    // Another process (after a restart or a slot switch) knows r-2 was answered: asking for 2.0.0 under it does nothing.
    const again = await open(dir);
    await again.offer({ request_id: "r-2", version: "2.0.0", sources: [] });
    expect(await desired(dir)).toBeUndefined();
  });

  test("a damaged requests.json is logged and read as none: the agent starts and takes requests", async () => {
    const dir = await installed();
    await writeFile(join(dir, "requests.json"), "{ not json");
    const logs: string[] = [];
    const u = await open(dir, logs);
    expect(logs.some((l) => l.includes("requests.json is unreadable"))).toBe(true);
    await u.offer({ request_id: "r-3", version: "2.0.0", sources: [] });
    expect(await desired(dir)).toContain('"request_id":"r-3"');
  });
});
