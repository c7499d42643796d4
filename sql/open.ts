/**
 * Chooses the store: PostgreSQL when a URL is given, PGlite under `dataDir`
 * otherwise (the embedded default).
 */
import { join } from "node:path";
import { redactUrl } from "../core/urls.ts";
import type { Db } from "./db.ts";
import { openPglite } from "./pglite-db.ts";
import { openPostgres } from "./postgres-db.ts";

export interface StoreConfig {
  databaseUrl?: string;
  dataDir: string;
}

export async function openDb(cfg: StoreConfig): Promise<{ db: Db; describe: string }> {
  if (cfg.databaseUrl) {
    const db = openPostgres(cfg.databaseUrl);
    await db.query("select 1");
    return { db, describe: `postgresql ${redactUrl(cfg.databaseUrl)}` };
  }
  const dir = join(cfg.dataDir, "pglite");
  return { db: await openPglite(dir), describe: `embedded pglite at ${dir}` };
}
