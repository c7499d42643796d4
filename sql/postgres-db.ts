/**
 * `Db` over a PostgreSQL server with porsager `postgres`. One pool per Db;
 * a transaction holds one pooled connection for its whole duration.
 */
import postgres from "postgres";
import type { Db, Row, Tx } from "./db.ts";

// biome-ignore lint/suspicious/noExplicitAny: the custom int8/json types widen the client type; queries here are untyped SQL text anyway.
type Sql = postgres.Sql<any>;

export function openPostgres(url: string, opts: { max?: number; applicationName?: string } = {}): Db {
  const sql: Sql = postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    connection: { application_name: opts.applicationName ?? "rap-control-plane" },
    // int8 (counts, bigserial ids) as JS numbers, as PGlite returns them.
    types: {
      int8: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) },
      // JSON parameters arrive already encoded (`$1::jsonb` with a JSON text), as PGlite takes them.
      json: { to: 114, from: [114, 3802], serialize: (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v)), parse: (v: string) => JSON.parse(v) },
    },
    transform: { undefined: null },
  });
  return {
    kind: "postgres",
    query: (text, params) => queryOn(sql, text, params),
    exec: async (script) => {
      await sql.unsafe(script);
    },
    transaction: async (fn) => {
      let result: unknown;
      await sql.begin(async (tx) => {
        result = await fn(wrapTx(tx as unknown as Sql));
      });
      return result as Awaited<ReturnType<typeof fn>>;
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

function wrapTx(sql: Sql): Tx {
  return {
    query: (text, params) => queryOn(sql, text, params),
    exec: async (script) => {
      await sql.unsafe(script);
    },
  };
}

async function queryOn<T extends Row>(sql: Sql, text: string, params: readonly unknown[] = []): Promise<T[]> {
  const rows = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[]);
  return rows as unknown as T[];
}
