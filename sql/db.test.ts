/** The Db adapter contract: the same answers from PostgreSQL and PGlite. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { freshDatabase, storeKind, type TestDatabase } from "../fixtures/stores.ts";
import { pgError, UNIQUE_VIOLATION } from "./db.ts";

setDefaultTimeout(30_000);

let store: TestDatabase;
beforeAll(async () => {
  store = await freshDatabase({ migrated: false });
  await store.db.exec("create table t (id int primary key, doc jsonb, n bigint, at timestamptz); create table u (k text unique)");
});
afterAll(() => store.close());

describe(`Db adapter (${storeKind})`, () => {
  test("parameters, jsonb, int8 and timestamps come back the same way", async () => {
    const at = new Date("2026-01-02T03:04:05.678Z");
    await store.db.query("insert into t values ($1, $2::jsonb, $3, $4::timestamptz)", [
      1,
      JSON.stringify({ a: [1, "x"] }),
      9_007_199_254_740_991,
      at.toISOString(),
    ]);
    const [row] = await store.db.query<{ id: number; doc: unknown; n: number; at: Date }>("select * from t where id = $1", [1]);
    expect(row).toEqual({ id: 1, doc: { a: [1, "x"] }, n: 9_007_199_254_740_991, at });
  });

  test("a transaction commits on return and rolls back on throw", async () => {
    await store.db.transaction((tx) => tx.query("insert into t (id) values (10)"));
    await store.db
      .transaction(async (tx) => {
        await tx.query("insert into t (id) values (11)");
        throw new Error("abort");
      })
      .catch(() => {});
    const ids = await store.db.query<{ id: number }>("select id from t where id >= 10 order by id");
    expect(ids).toEqual([{ id: 10 }]);
  });

  test("exec runs several statements", async () => {
    await store.db.exec("insert into u values ('a'); insert into u values ('b');");
    expect(await store.db.query("select k from u order by k")).toEqual([{ k: "a" }, { k: "b" }]);
  });

  test("a unique violation names its constraint", async () => {
    const err = await store.db.query("insert into u values ('a')").catch((e) => e);
    expect(pgError(err)).toEqual({ code: UNIQUE_VIOLATION, constraint: "u_k_key" });
  });
});
