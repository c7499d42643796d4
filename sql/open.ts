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
    // The first query is the connection check: a refusal stops start-up with the driver's error.
    await db.query("select 1").catch(async (err) => {
      await db.close().catch(() => {});
      throw err;
    });
    return { db, describe: `postgresql ${redactUrl(cfg.databaseUrl)}` };
  }
  const dir = join(cfg.dataDir, "pglite");
  return { db: await openPglite(dir), describe: `embedded pglite at ${dir}` };
}
