/**
 * One node's heartbeat never fails another's. Heartbeats of every cluster
 * share a batch; a row the store cannot hold (a NUL or an unpaired surrogate
 * in telemetry, or anything else PostgreSQL refuses) is refused on its own
 * with a 400, and the rest of its batch is written. Over the batched writer
 * directly (1,000 heartbeats in one batch) and over the real API.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, makeHost, type TestApp } from "../../fixtures/control-plane.ts";
import { bootstrapOwner, enrollTotp, json, type Session } from "../../fixtures/identity.ts";
import { enrollNode } from "../../fixtures/nodes.ts";
import { HeartbeatWriter } from "./heartbeats.ts";
import { DomainError } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import { silentLogger } from "../../core/log.ts";
import { pgArray, type Db } from "../../sql/db.ts";
import type { Heartbeat } from "../../sql/heartbeats.ts";

setDefaultTimeout(60_000);
const stores = useStores();

const N = 1000;

/** The store, counting transactions. */
function counting(db: Db): { db: Db; transactions: () => number } {
  let n = 0;
  return {
    db: {
      ...db,
      kind: db.kind,
      query: db.query,
      exec: db.exec,
      close: db.close,
      transaction: (fn) => {
        n++;
        return db.transaction(fn);
      },
    },
    transactions: () => n,
  };
}

/** N heartbeats of fresh nodes in one batch, the one at `poisonAt` replaced by `poison`; what each submit answered. */
async function oneBatch(poison: (h: Heartbeat) => Heartbeat, poisonAt = 617) {
  const clusterId = newId();
  const beats = Array.from(
    { length: N },
    (_, i): Heartbeat => ({ nodeId: newId(), clusterId, receivedAt: new Date(), seq: 1, agentVersion: "0.1.0", telemetry: { cpu: i / N } }),
  );
  // Liveness timers need the nodes' actor rows; the node projections are not needed here.
  await stores.store.db.query(
    "insert into actors (kind, id, machine_version, version, state, snapshot) select 'node', id, 1, 1, 'active', '{}'::jsonb from unnest($1::text[]) as t(id)",
    [pgArray(beats.map((h) => h.nodeId))],
  );
  beats[poisonAt] = poison(beats[poisonAt]!);
  const counted = counting(stores.store.db);
  const { host } = makeHost(counted.db, stores.live);
  const writer = new HeartbeatWriter({ db: counted.db, live: stores.live, host, log: silentLogger, flushMs: 60_000, maxBatch: N + 1 });
  const answers = beats.map((h) =>
    writer.submit(h).then(
      () => null,
      (err: unknown) => err,
    ),
  );
  await writer.flush();
  const settled = await Promise.all(answers);
  const stored = await stores.store.db.query<{ n: number }>("select count(*)::int as n from node_heartbeats_latest where cluster_id = $1", [clusterId]);
  const timers = await stores.store.db.query<{ n: number }>("select count(*)::int as n from actor_timers where kind = 'node' and actor_id = any($1::text[])", [
    pgArray(beats.map((h) => h.nodeId)),
  ]);
  return { settled, stored: stored[0]!.n, timers: timers[0]!.n, transactions: counted.transactions(), batches: writer.batches };
}

function expectRefused(err: unknown, path?: string) {
  expect(err).toBeInstanceOf(DomainError);
  expect((err as DomainError).code).toBe("request.validation_failed");
  if (path) expect((err as DomainError).details.issues).toEqual([{ path, message: expect.any(String) }]);
}

describe("one poisoned heartbeat among 1,000", () => {
  test("a NUL in telemetry is refused before batching; the other 999 are stored in one transaction", async () => {
    const r = await oneBatch((h) => ({ ...h, telemetry: { k: "a\u0000b" } }));
    expectRefused(r.settled[617], "telemetry.k");
    expect(r.settled.filter((e) => e !== null)).toHaveLength(1);
    expect(r.stored).toBe(N - 1);
    expect(r.timers).toBe(N - 1);
    expect(r.transactions).toBe(1);
  });

  test("unpaired surrogates (in a key, a nested value) and a NUL in the agent version are refused the same way", async () => {
    for (const [poison, path] of [
      [(h: Heartbeat) => ({ ...h, telemetry: { "x\ud800": 1 } }), "telemetry.x\ud800"],
      [(h: Heartbeat) => ({ ...h, telemetry: { disks: [{ label: "\udc00" }] } }), "telemetry.disks.0.label"],
      [(h: Heartbeat) => ({ ...h, agentVersion: "1.0\u0000" }), "agent_version"],
    ] as const) {
      const r = await oneBatch(poison);
      expectRefused(r.settled[617], path);
      expect(r.stored).toBe(N - 1);
    }
  });

  test("a well-formed surrogate pair (an emoji) is stored", async () => {
    const r = await oneBatch((h) => ({ ...h, telemetry: { mood: "\ud83d\ude00" } }));
    expect(r.settled.every((e) => e === null)).toBe(true);
    expect(r.stored).toBe(N);
  });

  test("a row the store refuses that no check foresaw fails alone: the batch is split down to it, the other 999 are stored", async () => {
    // A node id that is not a uuid: PostgreSQL refuses the whole statement (22P02).
    const r = await oneBatch((h) => ({ ...h, nodeId: "not-a-uuid" }));
    expectRefused(r.settled[617]);
    expect(r.settled.filter((e) => e !== null)).toHaveLength(1);
    expect(r.stored).toBe(N - 1);
    expect(r.timers).toBe(N - 1);
    // Bisection: the failed batch, then two halves per level down to the row (2·⌈log2 1000⌉ = 20).
    expect(r.transactions).toBeLessThanOrEqual(1 + 2 * Math.ceil(Math.log2(N)));
    expect(r.batches).toBe(1);
  });

  test("a heartbeat of a node the store does not know (no actor row) fails alone with its own error; the other 999 are stored", async () => {
    const r = await oneBatch((h) => ({ ...h, nodeId: newId() }));
    expect(r.settled[617]).toBeInstanceOf(Error);
    expect(r.settled.filter((e) => e !== null)).toHaveLength(1);
    expect(r.stored).toBe(N - 1);
  });
});

describe("over the API", () => {
  let t: TestApp;
  let owner: Session;

  beforeAll(async () => {
    t = await makeApp(stores.store.db, stores.live);
    owner = await enrollTotp(t, await bootstrapOwner(t));
  });
  afterAll(() => t.fabric.heartbeats.stop());

  test("a node sending NUL telemetry gets a 400 while a node of another cluster, beating at the same time, gets 202 and is stored", async () => {
    const clusterA = (await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "A", slug: "poison-a" } }), 201)).id;
    const clusterB = (await json(await t.call("POST", "/api/v1/clusters", { token: owner.token, body: { name: "B", slug: "poison-b" } }), 201)).id;
    const bad = await enrollNode(t, owner, clusterA, { can_route_mesh: true }, "bad");
    const good = await enrollNode(t, owner, clusterB, { can_route_mesh: true }, "good");
    const beat = (n: { token: string }, seq: number, body: string) =>
      t.call("POST", "/api/v1/node-agents/heartbeat", { token: n.token, body: `{"seq":${seq},"telemetry":${body}}` });
    for (let seq = 1; seq <= 3; seq++) {
      const [b, g] = await Promise.all([beat(bad, seq, `{"k":"a\\u0000b"}`), beat(good, seq, `{"cpu":0.5}`)]);
      expect(b.status).toBe(400);
      expect(((await b.json()) as { error: { code: string } }).error.code).toBe("request.validation_failed");
      expect(g.status).toBe(202);
    }
    const detail = await json(await t.call("GET", `/api/v1/clusters/${clusterB}/nodes/${good.nodeId}`, { token: owner.token }), 200);
    expect(detail.last_heartbeat).toMatchObject({ seq: 3, telemetry: { cpu: 0.5 } });
    const other = await json(await t.call("GET", `/api/v1/clusters/${clusterA}/nodes/${bad.nodeId}`, { token: owner.token }), 200);
    expect(other.last_heartbeat).toBeNull();
  });
});
