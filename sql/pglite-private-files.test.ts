/**
 * The embedded database's files are owner-only: directories 0700, files 0600,
 * including files PostgreSQL creates long after start (new WAL segments,
 * relation files, statistics written at shutdown), under a umask that would
 * let every local user read them; and a data directory left readable by an
 * older build is tightened at open.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { chmod, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPglite } from "./pglite-db.ts";
import { notPrivate } from "../fixtures/file-modes.ts";

setDefaultTimeout(60_000);

let root: string;
let umask: number;

beforeAll(async () => {
  // The worst case: with umask 000 anything not set explicitly shows up as 0666 or 0777.
  umask = process.umask(0);
  root = await mkdtemp(join(tmpdir(), "rap-pglite-modes-"));
});
afterAll(async () => {
  process.umask(umask);
  await rm(root, { recursive: true, force: true });
});

test("a new data directory, used until PostgreSQL creates new WAL segments and relation files, then closed, is owner-only", async () => {
  const dir = join(root, "new", "pglite");
  const db = await openPglite(dir);
  const walBefore = new Set(await readdir(join(dir, "pg_wal")));
  await db.exec("create table secrets (hash text)");
  for (let i = 0; i < 3; i++) {
    await db.query("insert into secrets select md5(random()::text) from generate_series(1, 5000)");
    await db.query("select pg_switch_wal()");
  }
  await db.exec("create index on secrets (hash); checkpoint");
  const walAfter = (await readdir(join(dir, "pg_wal"))).filter((f) => /^[0-9A-F]{24}$/.test(f) && !walBefore.has(f));
  expect(walAfter.length).toBeGreaterThan(0);
  expect(await notPrivate(dir)).toEqual([]);
  await db.close();
  expect(await notPrivate(dir)).toEqual([]);
  expect((await stat(join(root, "new"))).mode & 0o777).toBe(0o700);
});

test("a data directory left readable by others is tightened when it is opened", async () => {
  const dir = join(root, "old");
  await (await openPglite(dir)).close();
  await chmod(dir, 0o755);
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) await chmod(join(e.parentPath, e.name), e.isDirectory() ? 0o777 : 0o666);
  expect((await notPrivate(dir)).length).toBeGreaterThan(100);
  const db = await openPglite(dir);
  await db.exec("create table t (x int)");
  expect(await notPrivate(dir)).toEqual([]);
  await db.close();
  expect(await notPrivate(dir)).toEqual([]);
});
