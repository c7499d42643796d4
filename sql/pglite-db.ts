/**
 * `Db` over embedded PGlite (the default when DATABASE_URL is unset).
 * PGlite is one session: its transaction() holds an exclusive lock, so
 * concurrent callers queue, which gives the same serialisation a row lock
 * would on a server. `dataDir` undefined means in-memory (tests).
 */
import { PGlite } from "@electric-sql/pglite";
import type { Db, Row, Tx } from "./db.ts";

export async function openPglite(dataDir?: string): Promise<Db> {
  const pg = dataDir ? new PGlite(dataDir) : new PGlite();
  await pg.waitReady;
  const wrap = (q: Pick<PGlite, "query" | "exec">): Tx => ({
    query: async <T extends Row>(text: string, params: readonly unknown[] = []) =>
      (await q.query<T>(text, params as unknown[])).rows,
    exec: async (script: string) => {
      await q.exec(script);
    },
  });
  return {
    kind: "pglite",
    ...wrap(pg),
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    close: () => pg.close(),
  };
}
