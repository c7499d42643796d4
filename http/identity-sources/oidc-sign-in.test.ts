/**
 * OIDC single sign-on against a real OpenID Provider (oidc-provider under
 * Node on loopback, fixtures/oidc-provider.ts) and the in-process app over
 * real stores: sign-in with just-in-time accounts and group mapping, role
 * changes at the next sign-in, refused and suspended members signed out,
 * the provider's answer checked (state, code expiry and replay, issuer,
 * audience, nonce, signature key, at_hash), claims that try to grant
 * platform roles, sources of other organizations, require-SSO, MFA policy.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { generateKeyPair } from "jose";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, testIdentity, type TestApp } from "../../fixtures/control-plane.ts";
import { addMember, bootstrapOwner, createOrg, enrollTotp, json, nextCode, PASSWORD, signIn, stepUp, type Session } from "../../fixtures/identity.ts";
import { claimsOf, startOidcProvider, type Account, type TestOidcProvider } from "../../fixtures/oidc-provider.ts";
import { b64url, randomBytes, sha256Hex } from "../../core/crypto/bytes.ts";

const stores = useStores();
setDefaultTimeout(60_000);

const REDIRECT = "http://rap.test/api/v1/auth/sso/oidc/callback";
const person = (email: string, groups: string[], extra: Record<string, unknown> = {}): Account => ({
  claims: { email, email_verified: true, name: email.split("@")[0], groups, ...extra },
});

let t: TestApp;
let idp: TestOidcProvider;
let owner: Session;
let acme: { org: string; owner: Session; source: string };
let other: { org: string; owner: Session };

async function createSource(by: Session, orgId: string, config: Record<string, unknown> = {}, name = "Acme IdP") {
  await stepUp(t, by);
  return json(
    await t.call("POST", `/api/v1/organizations/${orgId}/identity-sources`, {
      token: by.token,
      body: {
        kind: "oidc",
        name,
        client_secret: idp.clientSecret,
        config: { issuer: idp.issuer, client_id: idp.clientId, redirect_uri: REDIRECT, scopes: ["openid", "email", "profile", "groups"], ...config },
      },
    }),
    201,
  );
}

/** A browser's whole sign-in up to the callback's redirect: returns the fragment's fields and the binding it kept. */
async function throughProvider(sourceId: string, accountId: string, o: { amr?: string[] } = {}) {
  const binding = b64url(randomBytes(32));
  const start = await json(
    await t.call("POST", "/api/v1/auth/sso/oidc/start", { body: { source_id: sourceId, return_to: "/access/", binding_hash: await sha256Hex(binding) } }),
    200,
  );
  await idp.nextLogin(accountId, o);
  const callbackUrl = await idp.browse(start.authorization_url);
  const res = await t.call("GET", `/api/v1/auth/sso/oidc/callback${callbackUrl.search}`);
  expect(res.status).toBe(303);
  const location = res.headers.get("location")!;
  expect(location.startsWith("/access/#")).toBe(true);
  return { fragment: new URLSearchParams(location.split("#")[1]), binding, callbackUrl, start };
}

async function ssoSignIn(sourceId: string, accountId: string, o: { amr?: string[]; totpSecret?: string } = {}) {
  const { fragment, binding } = await throughProvider(sourceId, accountId, o);
  const grant = fragment.get("sso");
  if (!grant) return { error: fragment.get("sso_error") };
  const body: Record<string, string> = { grant, binding, device_id: `device-${crypto.randomUUID()}` };
  if (o.totpSecret) body.totp_code = await nextCode(t, o.totpSecret);
  const res = await t.call("POST", "/api/v1/auth/sso/redeem", { body });
  if (res.status !== 200) return { error: ((await res.json()) as { error: { code: string } }).error.code };
  return { tokens: (await res.json()) as { access_token: string; refresh_token: string; mfa_verified: boolean } };
}

const me = async (token: string) => t.call("GET", "/api/v1/me", { token });

async function lastAuditReason(action: string): Promise<string | null> {
  const [row] = await stores.store.db.query<{ reason: string | null }>("select reason from audit_events where action = $1 order by id desc limit 1", [action]);
  return row?.reason ?? null;
}

beforeAll(async () => {
  idp = await startOidcProvider({
    redirectUri: REDIRECT,
    accounts: initialAccounts(),
  });
  // Tests move the clock by TOTP steps; sessions stay usable.
  t = await makeApp(stores.store.db, stores.live, { identity: await testIdentity({ accessTtlSeconds: 24 * 3600 }) });
  owner = await enrollTotp(t, await bootstrapOwner(t));
  await stepUp(t, owner);
  const acmeOrg = await createOrg(t, owner, "acme");
  const otherOrg = await createOrg(t, owner, "other");
  const acmeOwner = await enrollTotp(t, await addMember(t, owner, acmeOrg, "owner@acme.example", "org_owner"));
  const otherOwner = await addMember(t, owner, otherOrg, "owner@other.example", "org_owner");
  const source = await createSource(acmeOwner, acmeOrg);
  await json(
    await t.call("PUT", `/api/v1/organizations/${acmeOrg}/identity-sources/${source.id}/mappings`, {
      token: acmeOwner.token,
      body: {
        mappings: [
          { group: "engineers", role: "org_operator" },
          { group: "admins", role: "org_admin" },
        ],
      },
    }),
    200,
  );
  acme = { org: acmeOrg, owner: acmeOwner, source: source.id };
  other = { org: otherOrg, owner: otherOwner };
});

afterAll(async () => {
  await idp?.stop();
});

describe("managing an OIDC source", () => {
  test("changes need a fresh step-up; the client secret is sealed and never answered or logged", async () => {
    const fresh = await enrollTotp(t, await addMember(t, owner, acme.org, "admin2@acme.example", "org_admin"));
    t.clock.advance(6 * 60_000); // past the step-up window of an unknown device
    const refused = await t.call("PATCH", `/api/v1/organizations/${acme.org}/identity-sources/${acme.source}`, {
      token: fresh.token,
      body: { name: "Renamed" },
    });
    expect(refused.status).toBe(403);
    expect((await json(refused)).error.code).toBe("auth.step_up_required");

    const list = await t.call("GET", `/api/v1/organizations/${acme.org}/identity-sources`, { token: acme.owner.token });
    const text = await list.text();
    expect(list.status).toBe(200);
    const item = JSON.parse(text).items[0];
    expect(item).toMatchObject({
      kind: "oidc",
      has_secret: true,
      mappings: [
        { group: "admins", role: "org_admin" },
        { group: "engineers", role: "org_operator" },
      ],
    });
    expect(text).not.toContain(idp.clientSecret);
    const [row] = await stores.store.db.query<{ secret_ciphertext: string; config: unknown }>(
      "select secret_ciphertext, config::text from identity_sources where id = $1",
      [acme.source],
    );
    expect(row!.secret_ciphertext).not.toContain(idp.clientSecret);
    expect(JSON.stringify(row!.config)).not.toContain(idp.clientSecret);
    const audit = await stores.store.db.query<{ t: string }>("select details::text as t from audit_events where target_type = 'identity_source'");
    expect(audit.length).toBeGreaterThan(0);
    expect(audit.some((a) => a.t.includes(idp.clientSecret))).toBe(false);
    expect(JSON.stringify(t.logs.lines)).not.toContain(idp.clientSecret);
  });

  test("test connection reaches the provider's discovery", async () => {
    await stepUp(t, acme.owner);
    const r = await json(await t.call("POST", `/api/v1/organizations/${acme.org}/identity-sources/${acme.source}/test`, { token: acme.owner.token }), 200);
    expect(r).toMatchObject({ ok: true, details: { issuer: idp.issuer, pkce_s256: true } });
  });

  test("a mapping can name organization roles only; bad config is a 400 that changes nothing", async () => {
    await stepUp(t, acme.owner);
    const before = await stores.store.db.query("select * from identity_mappings order by id");
    const platform = await t.call("PUT", `/api/v1/organizations/${acme.org}/identity-sources/${acme.source}/mappings`, {
      token: acme.owner.token,
      body: { mappings: [{ group: "platform_owner", role: "platform_owner" }] },
    });
    expect(platform.status).toBe(400);
    const badConfig = await t.call("PATCH", `/api/v1/organizations/${acme.org}/identity-sources/${acme.source}`, {
      token: acme.owner.token,
      body: { config: { issuer: "not a url", client_id: "x", redirect_uri: REDIRECT } },
    });
    expect(badConfig.status).toBe(400);
    expect((await json(badConfig)).error.code).toBe("request.validation_failed");
    expect(await stores.store.db.query("select * from identity_mappings order by id")).toEqual(before);
  });
});

describe("OIDC sign-in", () => {
  test("a first sign-in creates the account just in time with the mapped role, in the same session model", async () => {
    const r = await ssoSignIn(acme.source, "alice");
    expect(r.tokens).toBeDefined();
    const who = await json(await me(r.tokens!.access_token), 200);
    expect(who).toMatchObject({ email: "alice@acme.example", platform_roles: [], memberships: [{ organization_id: acme.org, role: "org_operator" }] });
    const [session] = await stores.store.db.query<{ identity_source_id: string }>("select identity_source_id::text from auth_sessions where id = $1", [
      who.session.id,
    ]);
    expect(session!.identity_source_id).toBe(acme.source);
    // The refresh-token family is the password sign-in's: rotation works, reuse revokes the family.
    const rotated = await json(await t.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: r.tokens!.refresh_token } }), 200);
    expect((await t.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: r.tokens!.refresh_token } })).status).toBe(401);
    expect((await me(rotated.access_token)).status).toBe(401);
    // No password signs into a just-in-time account.
    const local = await t.call("POST", "/api/v1/auth/login", { body: { email: "alice@acme.example", password: PASSWORD } });
    expect(local.status).toBe(401);
  });

  test("group changes at the provider change the role at the next sign-in; losing every group suspends and signs out", async () => {
    const first = await ssoSignIn(acme.source, "bob");
    expect((await json(await me(first.tokens!.access_token), 200)).memberships).toEqual([{ organization_id: acme.org, role: "org_operator" }]);
    await idp.setAccounts({ ...(await accounts()), bob: person("bob@acme.example", ["engineers", "admins"]) });
    const second = await ssoSignIn(acme.source, "bob");
    expect((await json(await me(second.tokens!.access_token), 200)).memberships).toEqual([{ organization_id: acme.org, role: "org_admin" }]);
    await idp.setAccounts({ ...(await accounts()), bob: person("bob@acme.example", ["sales"]) });
    expect(await ssoSignIn(acme.source, "bob")).toEqual({ error: "auth.sso_not_authorized" });
    expect((await me(second.tokens!.access_token)).status).toBe(401);
    const [m] = await stores.store.db.query<{ status: string }>(
      "select m.status from organization_memberships m join users u on u.id = m.user_id where u.email = 'bob@acme.example'",
    );
    expect(m!.status).toBe("suspended");
    // Back in a mapped group: the source lets them in again.
    await idp.setAccounts({ ...(await accounts()), bob: person("bob@acme.example", ["engineers"]) });
    expect((await ssoSignIn(acme.source, "bob")).tokens).toBeDefined();
  });

  test("a member an admin suspended is signed out and refused at the next sign-in", async () => {
    const r = await ssoSignIn(acme.source, "erin");
    const erin = (await json(await me(r.tokens!.access_token), 200)).id;
    await stepUp(t, acme.owner);
    await json(await t.call("PATCH", `/api/v1/organizations/${acme.org}/members/${erin}`, { token: acme.owner.token, body: { status: "suspended" } }), 200);
    expect((await me(r.tokens!.access_token)).status).toBe(401);
    expect(await ssoSignIn(acme.source, "erin")).toEqual({ error: "auth.account_disabled" });
  });

  test("a provider account that is disabled gets no sign-in", async () => {
    await idp.setAccounts({ ...(await accounts()), frank: { ...person("frank@acme.example", ["engineers"]), disabled: true } });
    expect(await ssoSignIn(acme.source, "frank")).toEqual({ error: "auth.sso_failed" });
  });

  test("an unknown or spent state is refused and changes nothing", async () => {
    const users = await stores.store.db.query("select id from users order by id");
    const unknown = await t.call("GET", "/api/v1/auth/sso/oidc/callback?code=abc&state=never-issued");
    expect(unknown.status).toBe(400);
    expect((await json(unknown)).error.code).toBe("auth.sso_state_invalid");
    const { callbackUrl, fragment } = await throughProvider(acme.source, "alice");
    expect(fragment.get("sso")).toBeTruthy();
    const again = await t.call("GET", `/api/v1/auth/sso/oidc/callback${callbackUrl.search}`);
    expect(again.status).toBe(400);
    expect((await json(again)).error.code).toBe("auth.sso_state_invalid");
    expect(await stores.store.db.query("select id from users order by id")).toEqual(users);
  });

  test("a replayed or expired authorization code is refused by the provider", async () => {
    const { callbackUrl } = await throughProvider(acme.source, "alice");
    // A new attempt (fresh state) presenting the old, already redeemed code.
    const binding = b64url(randomBytes(32));
    const start = await json(
      await t.call("POST", "/api/v1/auth/sso/oidc/start", { body: { source_id: acme.source, return_to: "/access/", binding_hash: await sha256Hex(binding) } }),
      200,
    );
    const replay = new URLSearchParams(callbackUrl.search);
    replay.set("state", new URL(start.authorization_url).searchParams.get("state")!);
    const res = await t.call("GET", `/api/v1/auth/sso/oidc/callback?${replay}`);
    expect(res.headers.get("location")).toBe("/access/#sso_error=auth.sso_failed");
    expect(await lastAuditReason("auth.login")).toContain("invalid_grant");

    await idp.expireCodes(true);
    try {
      expect(await ssoSignIn(acme.source, "alice")).toEqual({ error: "auth.sso_failed" });
      expect(await lastAuditReason("auth.login")).toContain("invalid_grant");
    } finally {
      await idp.expireCodes(false);
    }
  });

  describe("an ID token that does not check out is refused", () => {
    const resigned =
      (change: (claims: Record<string, unknown>) => Record<string, unknown>, key?: () => Promise<CryptoKey>) => async (answer: { id_token?: string }) => ({
        ...answer,
        id_token: await idp.sign(change(claimsOf(answer.id_token!)), key ? await key() : undefined),
      });
    const cases: [string, (a: { id_token?: string; access_token?: string }) => Promise<unknown>][] = [
      ["wrong issuer", resigned((c) => ({ ...c, iss: "http://127.0.0.1:1/evil" }))],
      ["wrong audience", resigned((c) => ({ ...c, aud: "another-client" }))],
      ["wrong nonce", resigned((c) => ({ ...c, nonce: "not-the-nonce" }))],
      ["expired", resigned((c) => ({ ...c, iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }))],
      [
        "signed by another key",
        resigned(
          (c) => c,
          async () => (await generateKeyPair("RS256")).privateKey,
        ),
      ],
      ["at_hash of another access token", resigned((c) => ({ ...c, at_hash: "AAAAAAAAAAAAAAAAAAAAAA" }))],
    ];
    for (const [name, tamper] of cases) {
      test(name, async () => {
        const users = await stores.store.db.query("select id from users order by id");
        idp.tamper = tamper as never;
        try {
          expect(await ssoSignIn(acme.source, "carol")).toEqual({ error: "auth.sso_failed" });
        } finally {
          idp.tamper = null;
        }
        expect(await stores.store.db.query("select id from users order by id")).toEqual(users);
      });
    }
  });

  test("an at_hash that matches the access token is accepted", async () => {
    idp.tamper = async (a) => {
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(a.access_token!)));
      return { ...a, id_token: await idp.sign({ ...claimsOf(a.id_token!), at_hash: b64url(digest.subarray(0, 16)) }) };
    };
    try {
      expect((await ssoSignIn(acme.source, "carol")).tokens).toBeDefined();
    } finally {
      idp.tamper = null;
    }
  });

  test("claims and groups that name platform roles grant nothing", async () => {
    const r = await ssoSignIn(acme.source, "mallory");
    const who = await json(await me(r.tokens!.access_token), 200);
    expect(who.platform_roles).toEqual([]);
    expect(who.memberships).toEqual([{ organization_id: acme.org, role: "org_admin" }]);
    expect((await t.call("GET", "/api/v1/platform/overview", { token: r.tokens!.access_token })).status).toBe(403);
    const [u] = await stores.store.db.query<{ platform_role: string | null }>("select platform_role from users where email = 'mallory@acme.example'");
    expect(u!.platform_role).toBeNull();
  });

  test("a provider that has not verified the email is refused when the source requires it", async () => {
    expect(await ssoSignIn(acme.source, "unverified")).toEqual({ error: "auth.sso_email_unverified" });
  });

  test("another organization's source signs no one into this one, and cannot take over its accounts", async () => {
    // Acme's provider asserts the email of the other organization's owner: no link, no change to that account.
    const before = await stores.store.db.query("select * from organization_memberships where organization_id = $1 order by user_id", [other.org]);
    expect(await ssoSignIn(acme.source, "hijack")).toEqual({ error: "auth.sso_account_conflict" });
    expect(await stores.store.db.query("select * from organization_memberships where organization_id = $1 order by user_id", [other.org])).toEqual(before);
    expect((await signIn(t, "owner@other.example")).token).toBeTruthy();
    // Acme's members get no membership in the other organization.
    const alice = await ssoSignIn(acme.source, "alice");
    expect((await t.call("GET", `/api/v1/organizations/${other.org}`, { token: alice.tokens!.access_token })).status).toBe(404);
    // The other organization does not see or manage acme's source.
    await stepUp(t, owner);
    const otherOwner = await enrollTotp(t, other.owner);
    await stepUp(t, otherOwner);
    expect((await t.call("GET", `/api/v1/organizations/${other.org}/identity-sources/${acme.source}`, { token: otherOwner.token })).status).toBe(404);
    expect(
      (await t.call("PATCH", `/api/v1/organizations/${other.org}/identity-sources/${acme.source}`, { token: otherOwner.token, body: { enabled: false } }))
        .status,
    ).toBe(404);
  });

  test("the grant is single-use and only for the browser that started the sign-in", async () => {
    const { fragment, binding } = await throughProvider(acme.source, "alice");
    const grant = fragment.get("sso")!;
    const wrong = await t.call("POST", "/api/v1/auth/sso/redeem", { body: { grant, binding: b64url(randomBytes(32)) } });
    expect((await json(wrong)).error.code).toBe("auth.sso_grant_invalid");
    await json(await t.call("POST", "/api/v1/auth/sso/redeem", { body: { grant, binding } }), 200);
    expect((await json(await t.call("POST", "/api/v1/auth/sso/redeem", { body: { grant, binding } }))).error.code).toBe("auth.sso_grant_invalid");
  });

  test("MFA: the provider's amr counts under policy idp; under policy totp a user with TOTP gives a code", async () => {
    const viaPassword = await ssoSignIn(acme.source, "carol");
    const carol = await enrollTotp(t, { userId: "", email: "carol@acme.example", token: viaPassword.tokens!.access_token, refresh: "", deviceId: "" });
    expect(await ssoSignIn(acme.source, "carol", { amr: ["pwd", "mfa"] })).toEqual({ error: "auth.mfa_required" });
    const withCode = await ssoSignIn(acme.source, "carol", { totpSecret: carol.totpSecret });
    expect(withCode.tokens!.mfa_verified).toBe(true);
    await stepUp(t, acme.owner);
    const cfg = { issuer: idp.issuer, client_id: idp.clientId, redirect_uri: REDIRECT, scopes: ["openid", "email", "profile", "groups"], mfa_policy: "idp" };
    await json(
      await t.call("PATCH", `/api/v1/organizations/${acme.org}/identity-sources/${acme.source}`, { token: acme.owner.token, body: { config: cfg } }),
      200,
    );
    const viaIdp = await ssoSignIn(acme.source, "carol", { amr: ["pwd", "mfa"] });
    expect(viaIdp.tokens!.mfa_verified).toBe(true);
    expect(await ssoSignIn(acme.source, "carol", { amr: ["pwd"] })).toEqual({ error: "auth.mfa_required" });
  });

  test("require SSO refuses members' passwords; the owner keeps theirs (break-glass)", async () => {
    const member = await addMember(t, acme.owner, acme.org, "local@acme.example", "org_member");
    expect(member.token).toBeTruthy();
    await stepUp(t, acme.owner);
    await json(await t.call("PUT", `/api/v1/organizations/${acme.org}/sso-policy`, { token: acme.owner.token, body: { require_sso: true } }), 200);
    const refused = await t.call("POST", "/api/v1/auth/login", { body: { email: "local@acme.example", password: PASSWORD } });
    expect(refused.status).toBe(403);
    expect((await json(refused)).error).toMatchObject({ code: "auth.sso_required", details: { organizations: ["acme"] } });
    expect((await signIn(t, "owner@acme.example", { totpSecret: acme.owner.totpSecret })).token).toBeTruthy();
    // The sign-in page lists the organization's choices (and nothing for an unknown slug).
    expect((await json(await t.call("GET", "/api/v1/auth/sso/sources?organization=acme"), 200)).items).toEqual([
      { id: acme.source, name: "Acme IdP", kind: "oidc" },
    ]);
    expect((await json(await t.call("GET", "/api/v1/auth/sso/sources?organization=nope"), 200)).items).toEqual([]);
  });
});

/** The provider's accounts as the test last set them (setAccounts replaces all). */
/** The provider's people at the start (tests change them with setAccounts). */
function initialAccounts(): Record<string, Account> {
  return {
    alice: person("alice@acme.example", ["engineers"]),
    bob: person("bob@acme.example", ["engineers"]),
    carol: person("carol@acme.example", ["admins"]),
    mallory: person("mallory@acme.example", ["platform_owner", "admins"], { platform_role: "platform_owner", role: "platform_owner" }),
    unverified: { claims: { email: "dan@acme.example", email_verified: false, groups: ["engineers"] } },
    hijack: person("owner@other.example", ["admins"]),
    erin: person("erin@acme.example", ["engineers"]),
    frank: person("frank@acme.example", ["engineers"]),
  };
}

let current: Record<string, Account> | undefined;
async function accounts(): Promise<Record<string, Account>> {
  current ??= initialAccounts();
  return current;
}
