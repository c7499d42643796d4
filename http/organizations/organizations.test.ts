/** Organizations, memberships and the audit trail over the real API. */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, type TestApp } from "../../fixtures/control-plane.ts";
import { addMember, bootstrapOwner, createOrg, json, PASSWORD, signIn, type Session } from "../../fixtures/identity.ts";

// Before useStores: its hooks get the longer timeout too (opening and migrating a store is slow on a busy machine).
setDefaultTimeout(30_000);
const stores = useStores();

let t: TestApp;
let owner: Session;
let orgId: string;
let orgOwner: Session;
let orgAdmin: Session;

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live);
  owner = await bootstrapOwner(t);
  orgId = await createOrg(t, owner, "acme");
  orgOwner = await addMember(t, owner, orgId, "boss@acme.example", "org_owner");
  orgAdmin = await addMember(t, orgOwner, orgId, "admin@acme.example", "org_admin");
});

const errOf = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe("organizations", () => {
  test("only platform roles create organizations; slugs are unique", async () => {
    expect((await t.call("POST", "/api/v1/organizations", { token: orgAdmin.token, body: { name: "Mine", slug: "mine" } })).status).toBe(403);
    expect(await errOf(await t.call("POST", "/api/v1/organizations", { token: owner.token, body: { name: "Again", slug: "acme" } }))).toBe(
      "organization.slug_taken",
    );
  });

  test("members see their organizations only; the platform owner sees all", async () => {
    await createOrg(t, owner, "other");
    const mine = await json(await t.call("GET", "/api/v1/organizations", { token: orgAdmin.token }), 200);
    expect(mine.items.map((o: { id: string }) => o.id)).toEqual([orgId]);
    const all = await json(await t.call("GET", "/api/v1/organizations", { token: owner.token }), 200);
    expect(all.items.length).toBeGreaterThanOrEqual(2);
  });

  test("org_owner may rename; org_admin may not", async () => {
    expect((await t.call("PATCH", `/api/v1/organizations/${orgId}`, { token: orgAdmin.token, body: { name: "Nope" } })).status).toBe(403);
    expect((await json(await t.call("PATCH", `/api/v1/organizations/${orgId}`, { token: orgOwner.token, body: { name: "Acme Corp" } }), 200)).name).toBe(
      "Acme Corp",
    );
  });
});

describe("memberships", () => {
  test("an admin adds members but cannot create or touch owners", async () => {
    const m = await json(
      await t.call("POST", `/api/v1/organizations/${orgId}/members`, {
        token: orgAdmin.token,
        body: { email: "op@acme.example", display_name: "Op", password: PASSWORD, role: "org_operator" },
      }),
      201,
    );
    expect(m).toMatchObject({ email: "op@acme.example", role: "org_operator", status: "active" });
    expect(
      (
        await t.call("POST", `/api/v1/organizations/${orgId}/members`, {
          token: orgAdmin.token,
          body: { email: "o2@acme.example", display_name: "O2", password: PASSWORD, role: "org_owner" },
        })
      ).status,
    ).toBe(403);
    expect(
      (await t.call("PATCH", `/api/v1/organizations/${orgId}/members/${orgOwner.userId}`, { token: orgAdmin.token, body: { role: "org_viewer" } })).status,
    ).toBe(403);
    expect((await t.call("PATCH", `/api/v1/organizations/${orgId}/members/${m.user_id}`, { token: orgAdmin.token, body: { role: "org_owner" } })).status).toBe(
      403,
    );
  });

  test("the last owner can be neither demoted nor removed", async () => {
    expect(
      await errOf(await t.call("PATCH", `/api/v1/organizations/${orgId}/members/${orgOwner.userId}`, { token: orgOwner.token, body: { role: "org_admin" } })),
    ).toBe("member.last_owner");
    expect(await errOf(await t.call("DELETE", `/api/v1/organizations/${orgId}/members/${orgOwner.userId}`, { token: orgOwner.token }))).toBe(
      "member.last_owner",
    );
  });

  test("an email already a member here is a 409, and short passwords are refused", async () => {
    expect(
      await errOf(
        await t.call("POST", `/api/v1/organizations/${orgId}/members`, {
          token: orgAdmin.token,
          body: { email: "admin@acme.example", display_name: "Dup", password: PASSWORD, role: "org_member" },
        }),
      ),
    ).toBe("member.exists");
    expect(
      (
        await t.call("POST", `/api/v1/organizations/${orgId}/members`, {
          token: orgAdmin.token,
          body: { email: "x@acme.example", display_name: "X", password: "short", role: "org_member" },
        })
      ).status,
    ).toBe(400);
  });

  test("adding an email that has an account in another organization looks exactly like adding a new one, and leaves that account alone", async () => {
    const other = await createOrg(t, owner, "elsewhere");
    const outsider = await addMember(t, owner, other, "outsider@else.example", "org_admin");
    const add = (email: string) =>
      t.call("POST", `/api/v1/organizations/${orgId}/members`, {
        token: orgAdmin.token,
        body: { email, display_name: "Newcomer", password: "another initial password", role: "org_member" },
      });
    const [taken, fresh] = [await add("outsider@else.example"), await add("newcomer@acme.example")];
    expect([taken.status, fresh.status]).toEqual([201, 201]);
    const [a, b] = [await taken.json(), await fresh.json()] as Record<string, string>[];
    const sameShape = (m: Record<string, string>) => ({ ...m, user_id: typeof m.user_id, email: typeof m.email, created_at: typeof m.created_at });
    expect(sameShape(a!)).toEqual(sameShape(b!));
    expect(a).toMatchObject({ email: "outsider@else.example", display_name: "Newcomer", role: "org_member", status: "active" });
    // Nothing of the outsider's account shows: not its id (a fresh one, as ids carry their creation time), not its sessions.
    expect(a!.user_id).not.toBe(outsider.userId);
    const sessions = await json(await t.call("GET", `/api/v1/organizations/${orgId}/sessions`, { token: orgAdmin.token }), 200);
    expect(sessions.items.some((s: { email: string }) => s.email === "outsider@else.example")).toBe(false);
    const listed = await json(await t.call("GET", `/api/v1/organizations/${orgId}/members?limit=100`, { token: orgAdmin.token }), 200);
    expect(listed.items.find((m: { user_id: string }) => m.user_id === a!.user_id)).toEqual(a);
    // Adding it again is refused like any member's email; the organization's audit shows a plain member.create.
    expect(await errOf(await add("outsider@else.example"))).toBe("member.exists");
    const audit = await json(await t.call("GET", `/api/v1/organizations/${orgId}/audit?limit=200`, { token: orgAdmin.token }), 200);
    expect(audit.items.filter((e: { target: { id: string } }) => e.target.id === a!.user_id).map((e: { action: string }) => e.action)).toEqual([
      "member.create",
    ]);
    // The outsider's account is untouched: its own password signs it in, to its own organization only; the one given here signs in nobody.
    const again = await signIn(t, "outsider@else.example");
    expect(again.userId).toBe(outsider.userId);
    expect((await json(await t.call("GET", "/api/v1/organizations", { token: again.token }), 200)).items.map((o: { id: string }) => o.id)).toEqual([other]);
    expect((await t.call("POST", "/api/v1/auth/login", { body: { email: "outsider@else.example", password: "another initial password" } })).status).toBe(401);
    // The platform audit records the unclaimed account.
    const platform = await json(await t.call("GET", `/api/v1/audit?action=user.unclaimed_created`, { token: owner.token }), 200);
    expect(platform.items.map((e: { target: { id: string } }) => e.target.id)).toEqual([a!.user_id]);
  });

  test("a suspended member loses access to the organization", async () => {
    const m = await addMember(t, orgAdmin, orgId, "temp@acme.example", "org_viewer");
    expect((await t.call("GET", `/api/v1/organizations/${orgId}`, { token: m.token })).status).toBe(200);
    await json(await t.call("PATCH", `/api/v1/organizations/${orgId}/members/${m.userId}`, { token: orgAdmin.token, body: { status: "suspended" } }), 200);
    expect((await t.call("GET", `/api/v1/organizations/${orgId}`, { token: m.token })).status).toBe(404);
  });

  test("members list pages by cursor", async () => {
    const first = await json(await t.call("GET", `/api/v1/organizations/${orgId}/members?limit=2`, { token: orgAdmin.token }), 200);
    expect(first.items).toHaveLength(2);
    const second = await json(await t.call("GET", `/api/v1/organizations/${orgId}/members?limit=2&after=${first.next_cursor}`, { token: orgAdmin.token }), 200);
    expect(second.items.map((m: { user_id: string }) => m.user_id)).not.toContain(first.items[0].user_id);
  });
});

describe("audit", () => {
  test("every mutation above left an audit event with actor, organization, target and trace", async () => {
    const res = await t.call("GET", `/api/v1/organizations/${orgId}/audit?limit=200`, { token: orgOwner.token });
    const { items } = await json(res, 200);
    const actions = new Set(items.map((e: { action: string }) => e.action));
    for (const a of ["organization.create", "organization.update", "member.create", "member.update"]) expect(actions).toContain(a);
    const create = items.find((e: { action: string }) => e.action === "member.create");
    expect(create).toMatchObject({ organization_id: orgId, outcome: "success", actor: { type: "user" }, target: { type: "user" } });
    expect(create.trace_id).toMatch(/^[0-9a-f]{32}$/);
  });

  test("organization audit shows only that organization; platform audit needs a platform role", async () => {
    const { items } = await json(await t.call("GET", `/api/v1/organizations/${orgId}/audit?limit=200`, { token: orgAdmin.token }), 200);
    expect(items.every((e: { organization_id: string }) => e.organization_id === orgId)).toBe(true);
    expect((await t.call("GET", "/api/v1/audit", { token: orgAdmin.token })).status).toBe(403);
    const platform = await json(await t.call("GET", "/api/v1/audit?limit=200", { token: owner.token }), 200);
    expect(platform.items.some((e: { action: string }) => e.action === "auth.login")).toBe(true);
  });

  test("filters and cursor pagination, newest first", async () => {
    const filtered = await json(await t.call("GET", `/api/v1/audit?action=member.create&organization_id=${orgId}`, { token: owner.token }), 200);
    expect(filtered.items.length).toBeGreaterThan(0);
    expect(filtered.items.every((e: { action: string }) => e.action === "member.create")).toBe(true);
    const p1 = await json(await t.call("GET", "/api/v1/audit?limit=3", { token: owner.token }), 200);
    const p2 = await json(await t.call("GET", `/api/v1/audit?limit=3&before=${p1.next_cursor}`, { token: owner.token }), 200);
    expect(p1.items[0].id > p1.items[2].id).toBe(true);
    expect(p2.items[0].id < p1.items[2].id).toBe(true);
    expect((await t.call("GET", "/api/v1/audit?outcome=maybe", { token: owner.token })).status).toBe(400);
    expect((await t.call("GET", "/api/v1/audit?since=yesterday", { token: owner.token })).status).toBe(400);
  });

  test("the audit table has no update or delete path: rows only grow", async () => {
    const before = (await stores.store.db.query<{ n: number }>("select count(*)::int as n from audit_events"))[0]!.n;
    await t.call("PATCH", `/api/v1/organizations/${orgId}`, { token: orgOwner.token, body: { name: "Acme Again" } });
    const after = (await stores.store.db.query<{ n: number }>("select count(*)::int as n from audit_events"))[0]!.n;
    expect(after).toBe(before + 1);
  });
});
