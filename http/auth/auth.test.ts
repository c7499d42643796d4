/** Authentication over the real API and stores: login, throttling without lockout, refresh rotation and reuse, logout, TOTP, step-up, devices. */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, type TestApp } from "../../fixtures/control-plane.ts";
import { bootstrapOwner, enrollTotp, json, nextCode, PASSWORD, signIn, stepUp, type Session } from "../../fixtures/identity.ts";
import { SignJWT } from "jose";
import { THROTTLE } from "../../control/auth/throttle.ts";
import { listAudit } from "../../sql/audit.ts";

// Before useStores: its hooks get the longer timeout too (opening and migrating a store is slow on a busy machine).
setDefaultTimeout(30_000);
const stores = useStores();

let t: TestApp;
let owner: Session;

beforeAll(async () => {
  // Callers at different addresses send X-Forwarded-For; without it every caller is the same source.
  t = await makeApp(stores.store.db, stores.live, { trustProxy: true });
  owner = await bootstrapOwner(t);
});

const code = async (res: Response) => ((await res.json()) as { error: { code: string; details: Record<string, unknown> } }).error;
const login = (body: Record<string, unknown>) => t.call("POST", "/api/v1/auth/login", { body });
const loginFrom = (ip: string, body: Record<string, unknown>) => t.call("POST", "/api/v1/auth/login", { body, headers: { "x-forwarded-for": ip } });
/** The error envelope with its trace id replaced by its type, to compare two answers. */
const shape = async (res: Response): Promise<Record<string, unknown>> => {
  const { error } = (await res.json()) as { error: Record<string, unknown> };
  return { status: res.status, ...error, trace_id: typeof error.trace_id };
};
/** `n` wrong passwords for `email` from `ip`, each answered 401. */
async function failTimes(email: string, ip: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) expect((await loginFrom(ip, { email, password: "wrong password" })).status).toBe(401);
}
const refresh = (token: string) => t.call("POST", "/api/v1/auth/refresh", { body: { refresh_token: token } });
const me = (token: string) => t.call("GET", "/api/v1/me", { token });

/** Tests move the clock past token lifetimes, so the owner signs in afresh for each helper call. */
async function newUser(email: string): Promise<void> {
  const { token } = await signIn(t, owner.email);
  const orgs = await json(await t.call("GET", "/api/v1/organizations", { token }), 200);
  let orgId = orgs.items[0]?.id;
  if (!orgId) orgId = (await json(await t.call("POST", "/api/v1/organizations", { token, body: { name: "Users", slug: "users" } }), 201)).id;
  await json(
    await t.call("POST", `/api/v1/organizations/${orgId}/members`, { token, body: { email, display_name: email, password: PASSWORD, role: "org_member" } }),
    201,
  );
}

describe("login", () => {
  test("a good password gives an access token that works and a refresh token", async () => {
    const r = await json(await login({ email: "OWNER@example.com", password: PASSWORD }), 200);
    expect(r).toMatchObject({ token_type: "Bearer", expires_in: 600, mfa_verified: false, device_trusted: false });
    expect(r.refresh_token).toMatch(/^rap_rt_[a-z0-9]{12}_/);
    expect((await json(await me(r.access_token), 200)).platform_roles).toEqual(["platform_owner"]);
  });

  test("a wrong password and an unknown email fail the same way and are audited", async () => {
    const wrong = await login({ email: "owner@example.com", password: "not the password" });
    const unknown = await login({ email: "nobody@example.com", password: "not the password" });
    expect([wrong.status, unknown.status]).toEqual([401, 401]);
    expect((await code(wrong)).code).toBe("auth.invalid_credentials");
    expect((await code(unknown)).code).toBe("auth.invalid_credentials");
    const failures = await listAudit(stores.store.db, { action: "auth.login", outcome: "failure", limit: 10 });
    expect(failures.length).toBeGreaterThanOrEqual(2);
  });

  test("wrong passwords slow this account down from that source only, doubling each time; the owner elsewhere is never locked out", async () => {
    await newUser("slow@example.com");
    const free = THROTTLE.freeFailuresPerAccountAndSource;
    await failTimes("slow@example.com", "198.51.100.1", free + 1);
    // Held: refused before the password is checked, even the right one, with when to come back.
    const held = await loginFrom("198.51.100.1", { email: "slow@example.com", password: PASSWORD });
    expect(held.status).toBe(429);
    expect(await code(held)).toMatchObject({ code: "auth.rate_limited", details: { retry_after_seconds: 1 } });
    // The owner somewhere else is not held at all.
    expect((await loginFrom("203.0.113.9", { email: "slow@example.com", password: PASSWORD })).status).toBe(200);
    for (const wait of [1, 2, 4]) {
      t.clock.advance(wait * 1000);
      await failTimes("slow@example.com", "198.51.100.1", 1);
      expect((await code(await loginFrom("198.51.100.1", { email: "slow@example.com", password: PASSWORD }))).details.retry_after_seconds).toBe(wait * 2);
    }
    // After the wait the right password signs in from the held source too, and that pair starts afresh.
    t.clock.advance(8_000);
    expect((await loginFrom("198.51.100.1", { email: "slow@example.com", password: PASSWORD })).status).toBe(200);
    await failTimes("slow@example.com", "198.51.100.1", free);
  });

  test("existing and unknown emails get the same answers (401, then 429 with the same retry time) and the same work", async () => {
    await newUser("twin@example.com");
    const answers: Record<string, unknown>[][] = [[], []];
    for (const [i, [email, ip]] of [
      ["twin@example.com", "198.51.100.11"],
      ["ghost@example.com", "198.51.100.12"],
    ].entries()) {
      for (let n = 0; n <= THROTTLE.freeFailuresPerAccountAndSource + 1; n++)
        answers[i]!.push(await shape(await loginFrom(ip!, { email, password: "wrong password" })));
    }
    expect(answers[0]).toEqual(answers[1]!);
    expect(answers[0]!.at(0)).toMatchObject({ status: 401, code: "auth.invalid_credentials", details: {} });
    expect(answers[0]!.at(-1)).toMatchObject({ status: 429, code: "auth.rate_limited", details: { retry_after_seconds: 1 } });
    // Timing: the password hash runs for unknown emails too. Medians of alternating attempts from fresh sources.
    const times: number[][] = [[], []];
    for (let n = 0; n < 7; n++) {
      for (const [i, email] of ["twin@example.com", "ghost@example.com"].entries()) {
        const started = performance.now();
        expect((await loginFrom(`192.0.2.${n * 2 + i}`, { email, password: "wrong password" })).status).toBe(401);
        times[i]!.push(performance.now() - started);
      }
    }
    const [existing, unknown] = times.map((x) => x.sort((a, b) => a - b)[3]!);
    expect(unknown! / existing!).toBeGreaterThan(0.5);
    expect(unknown! / existing!).toBeLessThan(2);
  });

  test("held back, a correct password with a valid TOTP code still signs in; any other attempt gets the same 429", async () => {
    await newUser("owner2@example.com");
    const s = await enrollTotp(t, await signIn(t, "owner2@example.com"));
    const ip = "198.51.100.21";
    const valid = await nextCode(t, s.totpSecret!); // the clock stands still from here: the hold lasts
    await failTimes("owner2@example.com", ip, THROTTLE.freeFailuresPerAccountAndSource + 1);
    const attempts = [
      { email: "owner2@example.com", password: PASSWORD },
      { email: "owner2@example.com", password: PASSWORD, totp_code: valid === "000000" ? "111111" : "000000" },
      { email: "owner2@example.com", password: "wrong password", totp_code: valid },
    ];
    const refused = await Promise.all(attempts.map(async (body) => (await shape(await loginFrom(ip, body))).code));
    expect(refused).toEqual(attempts.map(() => "auth.rate_limited"));
    const ok = await json(await loginFrom(ip, { email: "owner2@example.com", password: PASSWORD, totp_code: valid }), 200);
    expect(ok.mfa_verified).toBe(true);
  });

  test("held back, guessed codes with a stolen password have a small budget: after it even the right code waits", async () => {
    await newUser("stolen@example.com");
    const s = await enrollTotp(t, await signIn(t, "stolen@example.com"));
    const ip = "198.51.100.41";
    const valid = await nextCode(t, s.totpSecret!); // the clock stands still from here: the hold lasts
    await failTimes("stolen@example.com", ip, THROTTLE.freeFailuresPerAccountAndSource + 1);
    const wrong = valid === "000000" ? "111111" : "000000";
    for (let n = 0; n < THROTTLE.heldWithCodePerAccountAndSource; n++) {
      expect((await shape(await loginFrom(ip, { email: "stolen@example.com", password: PASSWORD, totp_code: wrong }))).code).toBe("auth.rate_limited");
    }
    // The budget is spent before the password or code is looked at: the right pair is held too, until the wait ends.
    expect((await shape(await loginFrom(ip, { email: "stolen@example.com", password: PASSWORD, totp_code: valid }))).code).toBe("auth.rate_limited");
    // The owner elsewhere is not held by any of this.
    expect((await loginFrom("203.0.113.77", { email: "stolen@example.com", password: PASSWORD, totp_code: valid })).status).toBe(200);
  });

  test("an account under attack from many sources: sources that failed wait, a fresh source still gets its try, a trusted device needs the code", async () => {
    await newUser("target@example.com");
    const s = await enrollTotp(t, await signIn(t, "target@example.com", { deviceId: "target-device-000001" }));
    await json(await t.call("POST", "/api/v1/auth/devices", { token: s.token, body: { name: "laptop" } }), 201);
    const trusted = { email: "target@example.com", password: PASSWORD, device_id: s.deviceId };
    expect((await json(await loginFrom("203.0.113.50", trusted), 200)).device_trusted).toBe(true);
    // One wrong guess from each of many sources: none is held by its own count.
    const sources = Array.from({ length: THROTTLE.accountUnderAttackAfter + 2 }, (_, i) => `100.64.0.${i + 1}`);
    for (const ip of sources) await failTimes("target@example.com", ip, 1);
    // A source that failed now waits the account's delay; a fresh one is checked at once.
    expect((await code(await loginFrom(sources[0]!, { email: "target@example.com", password: "wrong password" }))).code).toBe("auth.rate_limited");
    expect((await loginFrom("100.64.1.1", { email: "target@example.com", password: "wrong password" })).status).toBe(401);
    // The owner: a trusted device alone is not enough while the account is under attack; with the code it is.
    expect((await code(await loginFrom("203.0.113.50", trusted))).code).toBe("auth.mfa_required");
    expect((await json(await loginFrom("203.0.113.50", { ...trusted, totp_code: await nextCode(t, s.totpSecret!) }), 200)).mfa_verified).toBe(true);
  });

  test("one source trying many accounts is slowed down too", async () => {
    const ip = "198.51.100.31";
    for (let i = 0; i <= THROTTLE.freeFailuresPerSource; i++) await failTimes(`spray${i}@example.com`, ip, 1);
    const held = await loginFrom(ip, { email: "spray-next@example.com", password: "wrong password" });
    expect(held.status).toBe(429);
    expect((await code(held)).details.retry_after_seconds).toBe(1);
    expect((await loginFrom("198.51.100.32", { email: "spray-next@example.com", password: "wrong password" })).status).toBe(401);
  });

  test("bad bodies are 4xx and sign nobody in", async () => {
    expect((await login({ email: "not-an-email", password: "x" })).status).toBe(400);
    expect((await login({ email: "owner@example.com", password: PASSWORD, admin: true })).status).toBe(400);
    expect((await login({ email: "owner@example.com", password: 12345 })).status).toBe(400);
    expect((await login({ email: "owner@example.com", password: "x".repeat(300) })).status).toBe(400);
    expect((await t.call("POST", "/api/v1/auth/login", { body: "{" })).status).toBe(400);
  });
});

describe("access tokens", () => {
  test("expired, tampered and foreign tokens are refused with distinct codes", async () => {
    const s = await signIn(t, "owner@example.com");
    const [h, p, sig] = s.token.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, "base64url").toString()), sub: "someone-else" })).toString("base64url")}.${sig}`;
    expect((await code(await me(forged))).code).toBe("auth.token_invalid");
    expect((await code(await me("not.a.jwt"))).code).toBe("auth.token_invalid");
    t.clock.advance(601_000);
    const expired = await me(s.token);
    expect(expired.status).toBe(401);
    expect((await code(expired)).code).toBe("auth.token_expired");
  });

  test("a correctly signed token is honoured only within the lifetime the server issues: a 10-year exp or a future iat is refused", async () => {
    const s = await signIn(t, "owner@example.com");
    const { id: sessionId } = (await json(await me(s.token), 200)).session;
    const now = Math.floor(t.clock.now().getTime() / 1000);
    const forge = (iat: number, exp: number) =>
      new SignJWT({ sid: sessionId, typ: "access" })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(s.userId)
        .setIssuer("rap-control-plane")
        .setAudience("rap-api")
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(t.identity.tokenKey);
    // The server's own shape is accepted, also from a replica whose clock runs a little ahead.
    expect((await me(await forge(now, now + 600))).status).toBe(200);
    expect((await me(await forge(now + 30, now + 630))).status).toBe(200);
    for (const token of [
      await forge(now, now + 10 * 365 * 24 * 3600),
      await forge(now, now + 601),
      await forge(now + 3600, now + 4200),
      await forge(now + 10 * 365 * 24 * 3600, now + 10 * 365 * 24 * 3600 + 600),
    ]) {
      const res = await me(token);
      expect(res.status).toBe(401);
      expect((await code(res)).code).toBe("auth.token_invalid");
    }
  });

  test("logout ends the session: its access token is refused at once (replay)", async () => {
    const s = await signIn(t, "owner@example.com");
    expect((await t.call("POST", "/api/v1/auth/logout", { token: s.token })).status).toBe(204);
    const replay = await me(s.token);
    expect(replay.status).toBe(401);
    expect((await code(replay)).code).toBe("auth.session_revoked");
    expect((await code(await refresh(s.refresh))).code).toBe("auth.session_revoked");
  });

  test("a user can list their sessions and revoke another one", async () => {
    const a = await signIn(t, "owner@example.com");
    const b = await signIn(t, "owner@example.com");
    const list = await json(await t.call("GET", "/api/v1/auth/sessions", { token: a.token }), 200);
    const other = list.items.find((x: { current: boolean; id: string }) => !x.current && x.id);
    expect(list.items.filter((x: { current: boolean }) => x.current)).toHaveLength(1);
    const bId = (await json(await me(b.token), 200)).session.id;
    expect(other).toBeDefined();
    expect((await t.call("DELETE", `/api/v1/auth/sessions/${bId}`, { token: a.token })).status).toBe(204);
    expect((await me(b.token)).status).toBe(401);
    expect((await t.call("DELETE", `/api/v1/auth/sessions/${bId}`, { token: a.token })).status).toBe(404);
  });
});

describe("refresh tokens", () => {
  test("each refresh rotates the token; the new pair works; the session is seen", async () => {
    const s = await signIn(t, "owner@example.com");
    t.clock.advance(60_000);
    const r1 = await json(await refresh(s.refresh), 200);
    const sessions = await json(await t.call("GET", "/api/v1/auth/sessions", { token: r1.access_token }), 200);
    const current = sessions.items.find((x: { current: boolean }) => x.current);
    expect(current.last_seen_at).toBe(t.clock.now().toISOString());
    expect(current.last_seen_at > current.created_at).toBe(true);
    expect(r1.refresh_token).not.toBe(s.refresh);
    expect((await me(r1.access_token)).status).toBe(200);
    const r2 = await json(await refresh(r1.refresh_token), 200);
    expect((await me(r2.access_token)).status).toBe(200);
  });

  test("reusing a spent refresh token revokes the whole family", async () => {
    const s = await signIn(t, "owner@example.com");
    const r1 = await json(await refresh(s.refresh), 200);
    const reuse = await refresh(s.refresh);
    expect(reuse.status).toBe(401);
    expect((await code(reuse)).code).toBe("auth.refresh_token_reused");
    // The legitimate holder's newer tokens die with the family.
    expect((await me(r1.access_token)).status).toBe(401);
    expect((await code(await refresh(r1.refresh_token))).code).toBe("auth.session_revoked");
    const audit = await listAudit(stores.store.db, { action: "auth.refresh_token_reuse", limit: 5 });
    expect(audit[0]).toMatchObject({ outcome: "denied", target_id: r1.session_id });
  });

  test("only one of two concurrent refreshes with the same token wins", async () => {
    const s = await signIn(t, "owner@example.com");
    const [a, b] = await Promise.all([refresh(s.refresh), refresh(s.refresh)]);
    expect([a.status, b.status].sort()).toEqual([200, 401]);
  });

  test("malformed, unknown and expired refresh tokens are refused", async () => {
    expect((await code(await refresh("garbage"))).code).toBe("auth.refresh_token_invalid");
    expect((await code(await refresh(`rap_rt_abcdefghijkl_${"A".repeat(43)}`))).code).toBe("auth.refresh_token_invalid");
    const s = await signIn(t, "owner@example.com");
    t.clock.advance(31 * 24 * 3600_000);
    expect((await code(await refresh(s.refresh))).code).toBe("auth.refresh_token_expired");
  });

  test("the database holds refresh tokens only as hashes", async () => {
    const s = await signIn(t, "owner@example.com");
    const secret = s.refresh.split("_").slice(3).join("_");
    const rows = await stores.store.db.query<{ t: string }>("select row_to_json(r)::text as t from refresh_tokens r");
    expect(rows.some((r) => r.t.includes(secret))).toBe(false);
  });
});

describe("TOTP, step-up and devices", () => {
  let admin: Session;
  beforeAll(async () => {
    await newUser("mfa@example.com");
    admin = await enrollTotp(t, await signIn(t, "mfa@example.com", { deviceId: "mfa-device-0000000001" }));
  });

  test("after enrolment an unknown device must give a code at login", async () => {
    const r = await login({ email: "mfa@example.com", password: PASSWORD, device_id: "unknown-device-000001" });
    expect(r.status).toBe(401);
    expect((await code(r)).code).toBe("auth.mfa_required");
    const ok = await json(
      await login({ email: "mfa@example.com", password: PASSWORD, device_id: "unknown-device-000001", totp_code: await nextCode(t, admin.totpSecret!) }),
      200,
    );
    expect(ok.mfa_verified).toBe(true);
  });

  test("a code works once: the same code again is refused", async () => {
    const c = await nextCode(t, admin.totpSecret!);
    expect((await t.call("POST", "/api/v1/auth/step-up", { token: admin.token, body: { code: c } })).status).toBe(200);
    const again = await t.call("POST", "/api/v1/auth/step-up", { token: admin.token, body: { code: c } });
    expect((await code(again)).code).toBe("auth.mfa_invalid");
  });

  /** Earlier tests moved the clock past the access token's life; refreshing keeps the same session. */
  async function renew(): Promise<void> {
    const r = await json(await refresh(admin.refresh), 200);
    admin = { ...admin, token: r.access_token, refresh: r.refresh_token };
  }

  test("trusting a device needs a fresh second factor; a trusted device then signs in without a code", async () => {
    await renew();
    t.clock.advance(6 * 60_000); // past the 5-minute step-up window of an unknown device, within the token's life
    const stale = await t.call("POST", "/api/v1/auth/devices", { token: admin.token, body: { name: "laptop" } });
    expect((await code(stale)).code).toBe("auth.step_up_required");
    await stepUp(t, admin);
    const { id } = await json(await t.call("POST", "/api/v1/auth/devices", { token: admin.token, body: { name: "laptop" } }), 201);
    const r = await json(await login({ email: "mfa@example.com", password: PASSWORD, device_id: admin.deviceId }), 200);
    expect(r).toMatchObject({ device_trusted: true, mfa_verified: false });
    expect((await t.call("DELETE", `/api/v1/auth/devices/${id}`, { token: admin.token })).status).toBe(204);
    expect((await login({ email: "mfa@example.com", password: PASSWORD, device_id: admin.deviceId })).status).toBe(401);
  });

  test("enrolling twice is refused; confirming without a pending enrolment is refused", async () => {
    await renew();
    expect((await code(await t.call("POST", "/api/v1/auth/mfa/totp", { token: admin.token }))).code).toBe("auth.mfa_already_enabled");
    const fresh = await signIn(t, "owner@example.com");
    expect((await code(await t.call("POST", "/api/v1/auth/mfa/totp/confirm", { token: fresh.token, body: { code: "123456" } }))).code).toBe(
      "auth.mfa_not_pending",
    );
  });

  test("the TOTP seed is stored encrypted", async () => {
    const rows = await stores.store.db.query<{ t: string }>("select row_to_json(u)::text as t from users u");
    expect(rows.some((r) => r.t.includes(admin.totpSecret!))).toBe(false);
  });
});
