/**
 * LDAP identity sources against a real OpenLDAP (`slapd` with a throw-away
 * database, fixtures/slapd.ts): bind-and-search sign-in over StartTLS and
 * LDAPS, plain LDAP refused in production, and the periodic directory sync
 * driven by its durable timer: members created with their mapped roles,
 * roles changed, members who leave the directory (or every mapped group)
 * suspended with their sessions revoked.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, testIdentity, type TestApp } from "../../fixtures/control-plane.ts";
import { addMember, bootstrapOwner, createOrg, enrollTotp, json, stepUp, type Session } from "../../fixtures/identity.ts";
import { GROUPS_DN, groupDn, PEOPLE_DN, personDn, READER_DN, startSlapd, type TestSlapd } from "../../fixtures/slapd.ts";
import { escapeFilterValue, withDirectory } from "../../control/identity-sources/ldap-directory.ts";
import * as v from "valibot";
import { Attribute, Change } from "ldapts";
import { LdapConfig } from "../../core/contracts/identity-sources.ts";
import { DomainError } from "../../core/errors.ts";

const stores = useStores();
setDefaultTimeout(60_000);

let t: TestApp;
let ldap: TestSlapd;
let corp: { org: string; owner: Session; source: string };

const config = (o: Partial<Record<keyof LdapConfig, unknown>> = {}) => ({
  url: ldap.ldapUrl,
  security: "starttls",
  tls_ca_pem: ldap.caPem,
  bind_dn: READER_DN,
  user_base_dn: PEOPLE_DN,
  group_base_dn: GROUPS_DN,
  sync_interval_seconds: 60,
  ...o,
});

async function ldapLogin(username: string, password: string, sourceId = corp.source) {
  const res = await t.call("POST", "/api/v1/auth/sso/ldap/login", { body: { source_id: sourceId, username, password } });
  const body = await res.json();
  return res.status === 200
    ? { token: (body as { access_token: string }).access_token }
    : { status: res.status, error: (body as { error: { code: string } }).error.code };
}

async function member(email: string) {
  const [m] = await stores.store.db.query<{ role: string; status: string }>(
    "select m.role, m.status from organization_memberships m join users u on u.id = m.user_id where u.email = $1 and m.organization_id = $2",
    [email, corp.org],
  );
  return m ?? null;
}

/** Moves the clock past the sync interval and lets the timer fire and the sync run. */
async function nextScheduledSync() {
  t.clock.advance(61_000);
  expect(await t.scheduler.tick()).toBeGreaterThan(0);
  await t.syncRunner.idle();
  return (await json(await t.call("GET", `/api/v1/organizations/${corp.org}/identity-sources/${corp.source}`, { token: corp.owner.token }), 200)).last_sync;
}

beforeAll(async () => {
  ldap = await startSlapd(
    [
      { uid: "alice", mail: "alice@corp.example", password: "alice-pass-1" },
      { uid: "bob", mail: "bob@corp.example", password: "bob-pass-1" },
      { uid: "carol", mail: "carol@corp.example", password: "carol-pass-1" },
      { uid: "mallory", mail: "mallory@corp.example", password: "mallory-pass-1" },
    ],
    { dev: ["alice", "bob", "mallory"], admins: ["bob"], platform_owner: ["mallory"] },
  );
  t = await makeApp(stores.store.db, stores.live, { identity: await testIdentity({ accessTtlSeconds: 24 * 3600 }) });
  const owner = await enrollTotp(t, await bootstrapOwner(t));
  await stepUp(t, owner);
  const org = await createOrg(t, owner, "corp");
  const corpOwner = await enrollTotp(t, await addMember(t, owner, org, "owner@corp.example", "org_owner"));
  await stepUp(t, corpOwner);
  const source = await json(
    await t.call("POST", `/api/v1/organizations/${org}/identity-sources`, {
      token: corpOwner.token,
      body: { kind: "ldap", name: "Corp directory", bind_password: ldap.readerPassword, config: config() },
    }),
    201,
  );
  await json(
    await t.call("PUT", `/api/v1/organizations/${org}/identity-sources/${source.id}/mappings`, {
      token: corpOwner.token,
      body: {
        mappings: [
          { group: groupDn("dev"), role: "org_member" },
          { group: groupDn("admins"), role: "org_admin" },
        ],
      },
    }),
    200,
  );
  corp = { org, owner: corpOwner, source: source.id };
});

afterAll(async () => {
  await ldap?.stop();
});

describe("LDAP sign-in", () => {
  test("bind-and-search over StartTLS creates the member with the mapped role", async () => {
    const r = await ldapLogin("alice", "alice-pass-1");
    expect(r.token).toBeTruthy();
    const me = await json(await t.call("GET", "/api/v1/me", { token: r.token }), 200);
    expect(me).toMatchObject({ email: "alice@corp.example", platform_roles: [], memberships: [{ organization_id: corp.org, role: "org_member" }] });
  });

  test("a wrong password, an empty or wildcard login, and a person in no mapped group are refused", async () => {
    expect(await ldapLogin("alice", "wrong-password")).toEqual({ status: 401, error: "auth.invalid_credentials" });
    expect(await ldapLogin("*", "alice-pass-1")).toEqual({ status: 401, error: "auth.invalid_credentials" });
    expect(await ldapLogin("nobody", "x")).toEqual({ status: 401, error: "auth.invalid_credentials" });
    expect(await ldapLogin("carol", "carol-pass-1")).toEqual({ status: 403, error: "auth.sso_not_authorized" });
    expect(await member("carol@corp.example")).toBeNull();
  });

  test("a directory group named platform_owner grants no platform role", async () => {
    const r = await ldapLogin("mallory", "mallory-pass-1");
    const me = await json(await t.call("GET", "/api/v1/me", { token: r.token }), 200);
    expect(me.platform_roles).toEqual([]);
    expect((await t.call("GET", "/api/v1/platform/overview", { token: r.token })).status).toBe(403);
  });

  test("LDAPS works too; a wrong bind password or an untrusted certificate is a clear 409 from test connection", async () => {
    await stepUp(t, corp.owner);
    const ldaps = await json(
      await t.call("POST", `/api/v1/organizations/${corp.org}/identity-sources`, {
        token: corp.owner.token,
        body: {
          kind: "ldap",
          name: "Corp LDAPS",
          enabled: false,
          bind_password: ldap.readerPassword,
          config: config({ url: ldap.ldapsUrl, security: "ldaps" }),
        },
      }),
      201,
    );
    const ok = await json(await t.call("POST", `/api/v1/organizations/${corp.org}/identity-sources/${ldaps.id}/test`, { token: corp.owner.token }), 200);
    expect(ok).toEqual({ ok: true, details: { users: 4, groups: 3 } });
    await json(
      await t.call("PATCH", `/api/v1/organizations/${corp.org}/identity-sources/${ldaps.id}`, { token: corp.owner.token, body: { bind_password: "wrong" } }),
      200,
    );
    const badBind = await json(await t.call("POST", `/api/v1/organizations/${corp.org}/identity-sources/${ldaps.id}/test`, { token: corp.owner.token }), 200);
    expect(badBind).toMatchObject({ ok: false, error: "identity_source.unreachable" });
    await json(
      await t.call("PATCH", `/api/v1/organizations/${corp.org}/identity-sources/${ldaps.id}`, {
        token: corp.owner.token,
        body: { bind_password: ldap.readerPassword, config: config({ url: ldap.ldapsUrl, security: "ldaps", tls_ca_pem: null }) },
      }),
      200,
    );
    const untrusted = await json(await t.call("POST", `/api/v1/organizations/${corp.org}/identity-sources/${ldaps.id}/test`, { token: corp.owner.token }), 200);
    expect(untrusted).toMatchObject({ ok: false, error: "identity_source.unreachable" });
    // A disabled source signs no one in.
    expect(await ldapLogin("alice", "alice-pass-1", ldaps.id)).toEqual({ status: 403, error: "identity_source.disabled" });
    expect(JSON.stringify(t.logs.lines)).not.toContain(ldap.readerPassword);
  });

  test("plain LDAP is refused in production, and a URL that does not match its security setting anywhere", async () => {
    const cfg = v.parse(LdapConfig, { ...config({ url: ldap.ldapUrl, security: "none" }), tls_ca_pem: null });
    const refusal = (p: Promise<unknown>) =>
      p.then(
        () => null,
        (e: unknown) => (e instanceof DomainError ? e.code : String(e)),
      );
    expect(await refusal(withDirectory(cfg, ldap.readerPassword, true, (d) => d.census()))).toBe("identity_source.insecure_transport");
    expect(await refusal(withDirectory({ ...cfg, security: "ldaps" }, ldap.readerPassword, false, (d) => d.census()))).toBe(
      "identity_source.insecure_transport",
    );
    expect(await withDirectory(cfg, ldap.readerPassword, false, (d) => d.census())).toEqual({ users: 4, groups: 3 });
  });

  test("filter values are escaped (RFC 4515)", () => {
    expect(escapeFilterValue("a*)(uid=*")).toBe("a\\2a\\29\\28uid=\\2a");
    expect(escapeFilterValue("back\\slash")).toBe("back\\5cslash");
  });
});

describe("directory sync on its durable timer", () => {
  test("creates everyone in a mapped group with their role", async () => {
    const sync = await nextScheduledSync();
    expect(sync).toMatchObject({ outcome: "success", details: { people: 4, refused: 1 } });
    expect(await member("bob@corp.example")).toEqual({ role: "org_admin", status: "active" });
    expect(await member("alice@corp.example")).toEqual({ role: "org_member", status: "active" });
  });

  test("group changes take effect at the next sync; leavers are suspended and their sessions revoked", async () => {
    const alice = await ldapLogin("alice", "alice-pass-1");
    const bob = await ldapLogin("bob", "bob-pass-1");
    const admin = await ldap.admin();
    try {
      const member = (operation: "add" | "delete", uid: string) =>
        new Change({ operation, modification: new Attribute({ type: "member", values: [personDn(uid)] }) });
      await admin.modify(groupDn("dev"), [member("delete", "alice")]);
      await admin.modify(groupDn("admins"), [member("add", "carol")]);
      await admin.del(personDn("bob"));
    } finally {
      await admin.unbind();
    }
    const sync = await nextScheduledSync();
    expect(sync).toMatchObject({ outcome: "success", details: { people: 3 } });
    expect(await member("carol@corp.example")).toEqual({ role: "org_admin", status: "active" });
    expect(await member("alice@corp.example")).toEqual({ role: "org_member", status: "suspended" });
    expect(await member("bob@corp.example")).toEqual({ role: "org_admin", status: "suspended" });
    expect((await t.call("GET", "/api/v1/me", { token: alice.token })).status).toBe(401);
    expect((await t.call("GET", "/api/v1/me", { token: bob.token })).status).toBe(401);
    expect(await ldapLogin("alice", "alice-pass-1")).toEqual({ status: 403, error: "auth.sso_not_authorized" });
    expect(await ldapLogin("bob", "bob-pass-1")).toEqual({ status: 401, error: "auth.invalid_credentials" });
    const [audit] = await stores.store.db.query<{ outcome: string; organization_id: string }>(
      "select outcome, organization_id::text from audit_events where action = 'identity_source.sync' order by id desc limit 1",
    );
    expect(audit).toEqual({ outcome: "success", organization_id: corp.org });
  });

  test("a directory that cannot be reached is a failed sync on record, and changes no member", async () => {
    await stepUp(t, corp.owner);
    await json(
      await t.call("PATCH", `/api/v1/organizations/${corp.org}/identity-sources/${corp.source}`, { token: corp.owner.token, body: { bind_password: "wrong" } }),
      200,
    );
    const before = await stores.store.db.query("select * from organization_memberships where organization_id = $1 order by user_id", [corp.org]);
    const sync = await json(await t.call("POST", `/api/v1/organizations/${corp.org}/identity-sources/${corp.source}/sync`, { token: corp.owner.token }), 200);
    expect(sync).toMatchObject({ outcome: "failure", error: "identity_source.unreachable" });
    expect(await stores.store.db.query("select * from organization_memberships where organization_id = $1 order by user_id", [corp.org])).toEqual(before);
  });
});
