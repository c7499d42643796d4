/** Clusters API through app.request() over real stores: lifecycle, auth, conflicts, pagination, timers. */
import { beforeAll, describe, expect, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, type TestApp } from "../../fixtures/control-plane.ts";
import { addMember, bootstrapOwner, createOrg, type Session } from "../../fixtures/identity.ts";
import { ManualClock } from "../../fixtures/clock.ts";
import { readJournal } from "../../sql/actors.ts";

const stores = useStores();

let t: TestApp;
let owner: Session;
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live, { clock });
  owner = await bootstrapOwner(t);
});

const call = (method: string, path: string, body?: unknown) => t.call(method, path, { body, token: owner.token });

async function create(slug: string, extra: Record<string, unknown> = {}) {
  const res = await call("POST", "/api/v1/clusters", { name: `Cluster ${slug}`, slug, ...extra });
  expect(res.status).toBe(201);
  return (await res.json()) as Record<string, unknown> & { id: string };
}

describe("clusters API", () => {
  test("requires a platform role: no token 401, a bad token 401, an organization admin 403", async () => {
    const none = await t.call("GET", "/api/v1/clusters");
    expect(none.status).toBe(401);
    const wrong = await t.call("GET", "/api/v1/clusters", { headers: { authorization: "Bearer wrong" } });
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe("auth.token_invalid");
    const orgId = await createOrg(t, owner, "tenant");
    const admin = await addMember(t, owner, orgId, "admin@tenant.example", "org_admin");
    const denied = await t.call("GET", "/api/v1/clusters", { token: admin.token });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe("auth.forbidden");
  });

  test("create returns the projection and journals the author and trace", async () => {
    const res = await call("POST", "/api/v1/clusters", { name: "  Frankfurt ", slug: "fra", region: "eu-central", metadata: { tier: 1 } });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown> & { id: string };
    expect(body).toMatchObject({ name: "Frankfurt", slug: "fra", status: "active", region: "eu-central", metadata: { tier: 1 }, archive_due_at: null });
    const journal = await readJournal(stores.store.db, "cluster", body.id);
    expect(journal).toEqual([expect.objectContaining({ eventType: "cluster.create", authorId: owner.userId, traceId: res.headers.get("x-trace-id")! })]);
    const got = await call("GET", `/api/v1/clusters/${body.id}`);
    expect(await got.json()).toEqual(body);
  });

  test("a taken slug is a 409 and creates nothing", async () => {
    await create("dup");
    const res = await call("POST", "/api/v1/clusters", { name: "again", slug: "dup" });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { code: string; details: unknown } }).error).toMatchObject({ code: "cluster.slug_taken", details: { slug: "dup" } });
    const list = (await (await call("GET", "/api/v1/clusters?limit=200")).json()) as { items: { slug: string }[] };
    expect(list.items.filter((c) => c.slug === "dup")).toHaveLength(1);
  });

  test("invalid slugs and ids are 400s", async () => {
    const bad = await call("POST", "/api/v1/clusters", { name: "x", slug: "Not A Slug" });
    expect(bad.status).toBe(400);
    const badId = await call("GET", "/api/v1/clusters/123");
    expect(badId.status).toBe(400);
  });

  test("an unknown cluster is a 404", async () => {
    const res = await call("POST", "/api/v1/clusters/0190f5f0-0000-7000-8000-000000000000/resume");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("actor.not_found");
  });

  test("update, suspend, resume, and an action the state forbids", async () => {
    const c = await create("life");
    const patched = await call("PATCH", `/api/v1/clusters/${c.id}`, { region: "us-east" });
    expect(await patched.json()).toMatchObject({ region: "us-east", name: "Cluster life" });
    const empty = await call("PATCH", `/api/v1/clusters/${c.id}`, {});
    expect(empty.status).toBe(400);

    const suspended = await call("POST", `/api/v1/clusters/${c.id}/suspend`, { reason: "maintenance" });
    expect(await suspended.json()).toMatchObject({ status: "suspended" });
    const again = await call("POST", `/api/v1/clusters/${c.id}/suspend`, { reason: "again" });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string; details: unknown } }).error).toMatchObject({
      code: "actor.event_rejected",
      details: { state: "suspended", event: "cluster.suspend" },
    });
    const resumed = await call("POST", `/api/v1/clusters/${c.id}/resume`);
    expect(await resumed.json()).toMatchObject({ status: "active" });
  });

  test("archive waits out its grace period on a durable timer, and restore undoes it", async () => {
    const c = await create("arch");
    const res = await call("POST", `/api/v1/clusters/${c.id}/archive`, { grace_seconds: 60 });
    const archiving = (await res.json()) as { status: string; archive_due_at: string };
    expect(archiving.status).toBe("archiving");
    expect(archiving.archive_due_at).toBe(new Date(clock.now().getTime() + 60_000).toISOString());

    const restored = await call("POST", `/api/v1/clusters/${c.id}/restore`);
    expect(await restored.json()).toMatchObject({ status: "active", archive_due_at: null });

    await call("POST", `/api/v1/clusters/${c.id}/archive`, { grace_seconds: 60 });
    clock.advance(61_000);
    expect(await t.scheduler.tick()).toBe(1);
    const after = await call("GET", `/api/v1/clusters/${c.id}`);
    expect(await after.json()).toMatchObject({ status: "archived" });
    const restoreLate = await call("POST", `/api/v1/clusters/${c.id}/restore`);
    expect(restoreLate.status).toBe(409);
  });

  test("lists page by cursor and filter by status", async () => {
    const ids = [];
    for (const s of ["p1", "p2", "p3"]) ids.push((await create(s)).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&after=${cursor}` : "";
      const page = (await (await call("GET", `/api/v1/clusters?limit=2${q}`)).json()) as { items: { id: string }[]; next_cursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of ids) expect(seen).toContain(id);
    const archived = (await (await call("GET", "/api/v1/clusters?status=archived")).json()) as { items: { status: string }[] };
    expect(archived.items.every((i) => i.status === "archived")).toBe(true);
    expect((await call("GET", "/api/v1/clusters?limit=0")).status).toBe(400);
    expect((await call("GET", "/api/v1/clusters?sort=name")).status).toBe(400);
  });
});
