/**
 * The actor host over a real store (PostgreSQL under scripts/test, PGlite
 * otherwise or with TEST_STORE=pglite). These tests pin the three promises the
 * host makes: row locking loses no event, timers survive a restart, and a
 * transition commits whole or not at all.
 */
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { freshDatabase, freshLiveState, storeKind, type TestDatabase } from "../../fixtures/stores.ts";
import { makeHost } from "../../fixtures/control-plane.ts";
import { ManualClock } from "../../fixtures/clock.ts";
import { archiveCluster, createCluster, restoreCluster, resumeCluster, updateCluster } from "../cluster/commands.ts";
import { CLUSTER } from "../cluster/kind.ts";
import { readActor, readJournal, listTimers } from "../../sql/actors.ts";
import { getCluster } from "../../sql/clusters.ts";
import { listAudit } from "../../sql/audit.ts";
import type { ChangeContext } from "../../core/change.ts";
import { ActorEventRejected, ActorNotFound, Conflict } from "../../core/errors.ts";
import type { LiveState } from "../../live/live-state.ts";
import { actorChannel } from "./host.ts";
import { waitFor } from "../../fixtures/wait.ts";
import { newId } from "../../core/ids.ts";
import { createKeyring, type Keyring } from "../../core/crypto/envelope.ts";
import { randomBytes } from "../../core/crypto/bytes.ts";

// Real stores and processes: PGlite alone takes seconds to start.
setDefaultTimeout(30_000);

const admin: ChangeContext = { author: { type: "user", id: "u-1" }, source: { type: "http" }, traceId: "a".repeat(32) };

describe(`actor host (${storeKind})`, () => {
  let store: TestDatabase;
  let live: LiveState;
  let keyring: Keyring;
  beforeEach(async () => {
    keyring = await createKeyring("k1", new Map([["k1", randomBytes(32)]]));
    store = await freshDatabase();
    live = await freshLiveState();
  });
  afterEach(async () => {
    await live.close();
    await store.close();
  });

  test("two host instances sending 200 concurrent events to one actor lose none", async () => {
    const a = makeHost(store.db, live);
    const b = makeHost(store.connect(), live);
    const { id } = await createCluster(a.host, keyring, { name: "c", slug: "c" }, admin);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => updateCluster(i % 2 ? a.host : b.host, id, { metadata: { n: i } }, admin)));
    const versions = results.map((r) => r.version).sort((x, y) => x - y);
    expect(versions).toEqual(Array.from({ length: 200 }, (_, i) => i + 2));
    const journal = await readJournal(store.db, CLUSTER, id);
    expect(journal.map((j) => j.version)).toEqual(Array.from({ length: 201 }, (_, i) => i + 1));
    expect((await readActor(store.db, CLUSTER, id))?.version).toBe(201);
    const last = results.find((r) => r.version === 201)!;
    expect((await getCluster(store.db, id))?.metadata).toEqual((last.context as { metadata: unknown }).metadata as Record<string, unknown>);
  });

  test("a timer set before a restart fires after it", async () => {
    const clock = new ManualClock();
    const before = makeHost(store.db, live, clock.now);
    const { id } = await createCluster(before.host, keyring, { name: "c", slug: "c" }, admin);
    await archiveCluster(before.host, id, 60_000, admin);
    expect(await listTimers(store.db, CLUSTER, id)).toEqual([{ name: "archive", dueAt: new Date(clock.now().getTime() + 60_000) }]);

    const db = await store.reopen();
    clock.advance(59_000);
    const after = makeHost(db, live, clock.now);
    expect(await after.scheduler.tick()).toBe(0);
    clock.advance(1_000);
    expect(await after.scheduler.tick()).toBe(1);

    expect((await getCluster(db, id))?.status).toBe("archived");
    expect(await listTimers(db, CLUSTER, id)).toEqual([]);
    const journal = await readJournal(db, CLUSTER, id);
    expect(journal.at(-1)).toMatchObject({ eventType: "cluster.archive_due", stateBefore: "archiving", stateAfter: "archived" });
    expect(after.metrics.registry.render()).toContain('rap_timers_fired_total{kind="cluster",outcome="delivered"} 1');
  });

  test("restoring cancels the timer, so nothing fires", async () => {
    const clock = new ManualClock();
    const { host, scheduler } = makeHost(store.db, live, clock.now);
    const { id } = await createCluster(host, keyring, { name: "c", slug: "c" }, admin);
    await archiveCluster(host, id, 1_000, admin);
    await restoreCluster(host, id, admin);
    clock.advance(5_000);
    expect(await scheduler.tick()).toBe(0);
    expect((await getCluster(store.db, id))?.status).toBe("active");
  });

  test("two schedulers deliver a due timer exactly once", async () => {
    const clock = new ManualClock();
    const a = makeHost(store.db, live, clock.now);
    const b = makeHost(store.connect(), live, clock.now);
    const ids = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const { id } = await createCluster(a.host, keyring, { name: `c${i}`, slug: `c${i}` }, admin);
        await archiveCluster(a.host, id, 1_000, admin);
        return id;
      }),
    );
    clock.advance(2_000);
    const [na, nb] = await Promise.all([a.scheduler.tick(), b.scheduler.tick()]);
    expect(na + nb).toBe(10);
    for (const id of ids) {
      const journal = await readJournal(store.db, CLUSTER, id);
      expect(journal.filter((j) => j.eventType === "cluster.archive_due")).toHaveLength(1);
    }
  });

  test("a transition whose projection write fails leaves snapshot, journal and projection unchanged", async () => {
    const { host } = makeHost(store.db, live);
    await createCluster(host, keyring, { name: "x", slug: "taken" }, admin);
    const { id } = await createCluster(host, keyring, { name: "y", slug: "mine" }, admin);
    const snapshotBefore = await readActor(store.db, CLUSTER, id);
    const projectionBefore = await getCluster(store.db, id);

    const err = await updateCluster(host, id, { slug: "taken", name: "renamed" }, admin).catch((e) => e);
    expect(err).toBeInstanceOf(Conflict);
    expect(err.code).toBe("cluster.slug_taken");

    expect(await readActor(store.db, CLUSTER, id)).toEqual(snapshotBefore);
    expect(await readJournal(store.db, CLUSTER, id)).toHaveLength(1);
    expect(await getCluster(store.db, id)).toEqual(projectionBefore);
  });

  test("a create whose projection fails leaves no actor behind", async () => {
    const { host } = makeHost(store.db, live);
    await createCluster(host, keyring, { name: "x", slug: "taken" }, admin);
    const err = await createCluster(host, keyring, { name: "z", slug: "taken" }, admin).catch((e) => e);
    expect(err).toBeInstanceOf(Conflict);
    const actors = await store.db.query<{ n: number }>("select count(*)::int as n from actors");
    const journal = await store.db.query<{ n: number }>("select count(*)::int as n from actor_journal");
    expect([actors[0]!.n, journal[0]!.n]).toEqual([1, 1]);
  });

  test("an event the current state does not accept is rejected and changes nothing", async () => {
    const { host } = makeHost(store.db, live);
    const { id } = await createCluster(host, keyring, { name: "c", slug: "c" }, admin);
    const before = await readActor(store.db, CLUSTER, id);
    const err = await resumeCluster(host, id, admin).catch((e) => e);
    expect(err).toBeInstanceOf(ActorEventRejected);
    expect(err.details).toEqual({ kind: CLUSTER, id, event: "cluster.resume", state: "active" });
    expect(await readActor(store.db, CLUSTER, id)).toEqual(before);
    expect(await readJournal(store.db, CLUSTER, id)).toHaveLength(1);
  });

  test("an event for an actor that does not exist is refused without creating it", async () => {
    const { host } = makeHost(store.db, live);
    const id = newId();
    const err = await updateCluster(host, id, { name: "ghost" }, admin).catch((e) => e);
    expect(err).toBeInstanceOf(ActorNotFound);
    expect(await readActor(store.db, CLUSTER, id)).toBeUndefined();
  });

  test("the journal and the audit trail record who, how and under which trace, in the same commit", async () => {
    const { host } = makeHost(store.db, live);
    const { id } = await createCluster(host, keyring, { name: "c", slug: "c" }, admin);
    expect(await readJournal(store.db, CLUSTER, id)).toEqual([
      { version: 1, eventType: "cluster.create", stateBefore: "new", stateAfter: "active", authorId: "u-1", traceId: admin.traceId },
    ]);
    expect(await listAudit(store.db, { targetId: id, limit: 5 })).toEqual([
      expect.objectContaining({ action: "cluster.create", target_type: CLUSTER, actor_id: "u-1", trace_id: admin.traceId, outcome: "success" }),
    ]);
    await resumeCluster(host, id, admin).catch(() => {});
    expect(await listAudit(store.db, { targetId: id, limit: 5 })).toHaveLength(1);
  });

  test("a committed transition is announced on live state after commit", async () => {
    const { host } = makeHost(store.db, live);
    const seen: string[] = [];
    const unsubscribe = await live.subscribe(actorChannel(CLUSTER), (m) => seen.push(m));
    const { id } = await createCluster(host, keyring, { name: "c", slug: "c" }, admin);
    await waitFor(() => seen.length === 1, { what: "announcement" });
    expect(JSON.parse(seen[0]!)).toEqual({ id, version: 1, state: "active" });
    await unsubscribe();
  });
});
