/**
 * Migrations: `sql/migrations/NNNN_name.sql`, applied in order, once each,
 * each in its own transaction, recorded in `schema_migrations` with a SHA-256
 * checksum. Every transaction first takes one advisory lock, so replicas that
 * start together apply each migration exactly once: the second waits, then
 * sees it recorded. A recorded migration whose file changed is an error.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { DomainError } from "../core/errors.ts";
import { toHex } from "../core/ids.ts";
import type { Db, Tx } from "./db.ts";

export const MIGRATIONS_DIR = join(import.meta.dirname, "migrations");
/** Arbitrary constant that names "schema migration" among advisory locks. */
const MIGRATION_LOCK_KEY = 7_305_128_441;
const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationChecksumMismatch extends DomainError {
  constructor(version: number, name: string) {
    super("migration.checksum_mismatch", `migration ${version}_${name} was edited after it was applied; add a new migration instead`, { version, name });
  }
}

export class MigrationFileInvalid extends DomainError {
  constructor(file: string, why: string) {
    super("migration.file_invalid", `migration file ${file}: ${why}`, { file });
  }
}

export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const out: Migration[] = [];
  for (const file of files) {
    const m = FILE_NAME.exec(file);
    if (!m) throw new MigrationFileInvalid(file, "name must look like 0001_snake_name.sql");
    const version = Number(m[1]);
    if (out.some((x) => x.version === version)) throw new MigrationFileInvalid(file, `duplicate version ${version}`);
    const sql = await readFile(join(dir, file), "utf8");
    out.push({ version, name: m[2]!, sql, checksum: await sha256(sql) });
  }
  return out;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
}

export async function migrate(db: Db, migrations?: Migration[]): Promise<MigrateResult> {
  const all = migrations ?? (await loadMigrations());
  const recorded = await db.transaction(async (tx) => {
    await lockAndEnsureTable(tx);
    return readRecorded(tx);
  });
  for (const m of all) {
    const r = recorded.get(m.version);
    if (r && r !== m.checksum) throw new MigrationChecksumMismatch(m.version, m.name);
  }
  const applied: string[] = [];
  for (const m of all) {
    if (recorded.has(m.version)) continue;
    const didApply = await db.transaction(async (tx) => {
      await lockAndEnsureTable(tx);
      const now = await readRecorded(tx);
      const existing = now.get(m.version);
      if (existing !== undefined) {
        if (existing !== m.checksum) throw new MigrationChecksumMismatch(m.version, m.name);
        return false;
      }
      await tx.exec(m.sql);
      await tx.query("insert into schema_migrations (version, name, checksum) values ($1, $2, $3)", [m.version, m.name, m.checksum]);
      return true;
    });
    if (didApply) applied.push(`${String(m.version).padStart(4, "0")}_${m.name}`);
  }
  return { applied, alreadyApplied: all.length - applied.length };
}

async function lockAndEnsureTable(tx: Tx): Promise<void> {
  await tx.query("select pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
  await tx.exec(`create table if not exists schema_migrations (
    version int primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
  )`);
}

async function readRecorded(tx: Tx): Promise<Map<number, string>> {
  const rows = await tx.query<{ version: number; checksum: string }>("select version, checksum from schema_migrations");
  return new Map(rows.map((r) => [Number(r.version), r.checksum]));
}

async function sha256(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))));
}
