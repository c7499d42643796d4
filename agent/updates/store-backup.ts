/**
 * Node-local migrations (spec "Data Structure and Migration Updates"): the
 * signed manifest of a release lists the migrations of the agent's own store
 * (agent/store.ts) that its agent applies. Before the new version touches the
 * store, the running agent backs it up here; if the update rolls back, the
 * backup is restored before the old version opens the store again, so the
 * node always ends on a version with a store that version can read.
 *
 *   backups/<target>/state.db      a consistent copy (`vacuum into`) taken before the migration
 *   backups/<target>/backup.json   written last: the backup is complete (from, to, at)
 *
 * A migration runs only after backup.json is in place, so a store with no
 * complete backup was never touched. Restoring is a copy renamed over the
 * store (its -wal and -shm removed first), done before anything opens it;
 * the backup is removed only after the rename, so a kill while restoring
 * restores again next time.
 */
import { copyFile, readFile, rename, rm, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { UpdateStatus } from "./machine.ts";

const backupDir = (updatesDir: string, target: string): string => join(updatesDir, "backups", target);

export async function hasBackup(updatesDir: string, target: string): Promise<boolean> {
  return readFile(join(backupDir(updatesDir, target), "backup.json"), "utf8").then(
    () => true,
    () => false,
  );
}

/** Takes the backup through the running store's own connection (`copy` writes a consistent copy to a file). */
export async function backupStore(
  updatesDir: string,
  copy: (file: string) => Promise<void>,
  versions: { from: string; to: string; at: string },
): Promise<void> {
  const dir = backupDir(updatesDir, versions.to);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await copy(join(dir, "state.db.tmp"));
  await rename(join(dir, "state.db.tmp"), join(dir, "state.db"));
  await writeFile(join(dir, ".backup.json.tmp"), `${JSON.stringify(versions)}\n`, { mode: 0o600 });
  await rename(join(dir, ".backup.json.tmp"), join(dir, "backup.json"));
}

/** States in which the store may hold the target's migrations while the target is not what runs. */
const MAY_BE_MIGRATED: readonly UpdateStatus["state"][] = ["migrating", "starting", "health_checking", "promoting", "rollback_required", "rolling_back"];

/**
 * Before the store is opened: if the last update migrated the store and the
 * version starting now is not that update's target (the watchdog or a
 * rollback went back), put the backup back. Returns what it did, for the log.
 */
export async function restoreStoreIfRolledBack(updatesDir: string, stateDir: string, runningVersion: string): Promise<string | undefined> {
  const status = await readFile(join(updatesDir, "status.json"), "utf8").then(
    (t) => JSON.parse(t) as UpdateStatus,
    () => undefined,
  );
  if (!status?.migration || !status.target || status.target === runningVersion || !MAY_BE_MIGRATED.includes(status.state)) return undefined;
  if (!(await hasBackup(updatesDir, status.target))) return undefined;
  const dir = backupDir(updatesDir, status.target);
  const store = join(stateDir, "state.db");
  await copyFile(join(dir, "state.db"), `${store}.restore`);
  await rm(`${store}-wal`, { force: true });
  await rm(`${store}-shm`, { force: true });
  await rename(`${store}.restore`, store);
  await rm(dir, { recursive: true, force: true });
  return `restored the store backed up before ${status.target}'s migrations; ${runningVersion} runs on the store it left`;
}

/** After a promotion the migrated store is the one to keep: backups are removed. */
export async function dropBackups(updatesDir: string): Promise<void> {
  await rm(join(updatesDir, "backups"), { recursive: true, force: true });
}
