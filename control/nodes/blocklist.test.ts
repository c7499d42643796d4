/** The node blocklist: a change on one replica reaches the others over live state; a reload repairs a missed message. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { freshDatabase, freshLiveState, type TestDatabase } from "../../fixtures/stores.ts";
import type { LiveState } from "../../live/live-state.ts";
import { NodeBlocklist } from "./blocklist.ts";
import { waitFor } from "../../fixtures/wait.ts";
import { newId } from "../../core/ids.ts";

setDefaultTimeout(30_000);

let store: TestDatabase;
let live: LiveState;
beforeAll(async () => {
  store = await freshDatabase();
  live = await freshLiveState();
});
afterAll(async () => {
  await live.close();
  await store.close();
});

describe("node blocklist", () => {
  test("a node disabled on one replica is refused by another, and enabled again", async () => {
    const a = new NodeBlocklist(store.db, live, 60_000);
    const b = new NodeBlocklist(store.connect(), live, 60_000);
    await Promise.all([a.start(), b.start()]);
    const node = newId();
    await a.changed(node, "disabled");
    expect(a.isBlocked(node)).toBe(true);
    await waitFor(() => b.isBlocked(node), { what: "replica b to block" });
    await a.changed(node, "active");
    await waitFor(() => !b.isBlocked(node), { what: "replica b to unblock" });
    await Promise.all([a.stop(), b.stop()]);
  });

  test("reload reads disabled and revoked nodes from the store", async () => {
    const id = newId();
    await store.db.query("insert into nodes (id, cluster_id, name, status) values ($1, $2, 'n', 'revoked')", [id, newId()]);
    const c = new NodeBlocklist(store.db, live);
    expect(c.isBlocked(id)).toBe(false);
    await c.reload();
    expect(c.isBlocked(id)).toBe(true);
  });
});
