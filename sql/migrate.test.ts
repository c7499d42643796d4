/** Migrations over a real store: once each, checksummed, transactional, safe under concurrent replicas. */
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshDatabase, storeKind, type TestDatabase } from "../fixtures/stores.ts";
import { loadMigrations, migrate, MigrationChecksumMismatch, MigrationFileInvalid, MIGRATIONS_DIR } from "./migrate.ts";

setDefaultTimeout(30_000);

let store: TestDatabase;
let dir: string;
beforeEach(async () => {
  store = await freshDatabase({ migrated: false });
  dir = await mkdtemp(join(tmpdir(), "rap-migrations-"));
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

// Deliberately not idempotent: applying either twice would fail or double the rows.
async function writeFixtureMigrations() {
  await writeFile(join(dir, "0001_create.sql"), "create table widgets (id int primary key);");
  await writeFile(join(dir, "0002_seed.sql"), "insert into widgets values (1); insert into widgets values (2);");
}

describe(`migrations (${storeKind})`, () => {
  test("the project's migrations apply once; a second run applies nothing", async () => {
    const first = await migrate(store.db);
    expect(first.applied).toEqual((await loadMigrations(MIGRATIONS_DIR)).map((m) => `${String(m.version).padStart(4, "0")}_${m.name}`));
    const second = await migrate(store.db);
    expect(second).toEqual({ applied: [], alreadyApplied: first.applied.length });
  });

  test("two replicas migrating together apply each migration exactly once", async () => {
    await writeFixtureMigrations();
    const migrations = await loadMigrations(dir);
    const results = await Promise.all([migrate(store.db, migrations), migrate(store.connect(), migrations), migrate(store.connect(), migrations)]);
    expect(results.flatMap((r) => r.applied).sort()).toEqual(["0001_create", "0002_seed"]);
    expect(await store.db.query("select id from widgets order by id")).toEqual([{ id: 1 }, { id: 2 }]);
  });

  test("an applied migration that was edited is an error and changes nothing", async () => {
    await writeFixtureMigrations();
    await migrate(store.db, await loadMigrations(dir));
    await writeFile(join(dir, "0002_seed.sql"), "insert into widgets values (3);");
    await writeFile(join(dir, "0003_more.sql"), "insert into widgets values (4);");
    const err = await migrate(store.db, await loadMigrations(dir)).catch((e) => e);
    expect(err).toBeInstanceOf(MigrationChecksumMismatch);
    expect(err.details).toEqual({ version: 2, name: "seed" });
    expect(await store.db.query("select id from widgets order by id")).toEqual([{ id: 1 }, { id: 2 }]);
  });

  test("a failing migration rolls back whole and is not recorded", async () => {
    await writeFixtureMigrations();
    await writeFile(join(dir, "0003_broken.sql"), "insert into widgets values (3); insert into nowhere values (1);");
    const err = await migrate(store.db, await loadMigrations(dir)).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(await store.db.query("select id from widgets order by id")).toEqual([{ id: 1 }, { id: 2 }]);
    expect(await store.db.query("select version from schema_migrations order by version")).toEqual([{ version: 1 }, { version: 2 }]);
  });

  test("badly named or duplicate migration files are refused", async () => {
    await writeFile(join(dir, "1_create.sql"), "select 1;");
    expect(await loadMigrations(dir).catch((e) => e)).toBeInstanceOf(MigrationFileInvalid);
    await rm(join(dir, "1_create.sql"));
    await writeFile(join(dir, "0001_a.sql"), "select 1;");
    await writeFile(join(dir, "0001_b.sql"), "select 1;");
    expect((await loadMigrations(dir).catch((e) => e)).message).toContain("duplicate version 1");
  });
});
