/**
 * Two real replicas (processes) on one PostgreSQL and Redis, as behind a load
 * balancer: both route the balancer's Host-less health checks and API calls,
 * a token one issues is accepted by the other, a TOTP seed one seals opens on
 * the other, and a further replica whose token, secret or data-plane key
 * differs from the installation's refuses to start (exit code 2, one line
 * naming the key and the fix) and changes nothing in the database.
 * Needs PostgreSQL and Redis (scripts/test); skipped on the embedded stores.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { b64, randomBytes } from "../core/crypto/bytes.ts";
import { totpAt, totpStep } from "../core/crypto/totp.ts";
import { newEd25519Pkcs8 } from "../control/identity.ts";
import { rawHttp } from "../fixtures/raw-http.ts";
import { runControlPlaneToExit, spawnControlPlane, type ControlPlaneProcess } from "../fixtures/process.ts";
import { freshDatabase, storeKind, type TestDatabase } from "../fixtures/stores.ts";

// Real processes over real servers.
setDefaultTimeout(90_000);

const servers = storeKind === "postgres" && Boolean(process.env.TEST_REDIS_URL);
let root: string;
let store: TestDatabase;
let shared: Record<string, string>;
let replicas: ControlPlaneProcess[] = [];
let dirs = 0;

/** Each replica has its own DATA_DIR, as on its own machine. */
const replicaEnv = async (keys: Record<string, string>) => ({ ...shared, ...keys, DATA_DIR: await mkdtemp(join(root, `replica-${++dirs}-`)) });

beforeAll(async () => {
  if (!servers) return;
  root = await mkdtemp(join(tmpdir(), "rap-replicas-"));
  store = await freshDatabase({ migrated: false });
  shared = {
    DATABASE_URL: store.url!,
    REDIS_URL: process.env.TEST_REDIS_URL!,
    TRUST_PROXY: "true",
    INSTALLATION_INSECURE_BOOTSTRAP_ENABLED: "true",
    AUTH_TOKEN_KEY_B64: b64(randomBytes(32)),
    SECRET_ENCRYPTION_KEY_B64: b64(randomBytes(32)),
    DATA_PLANE_TOKEN_KEY_B64: await newEd25519Pkcs8(),
  };
  // Started together on an empty database: they race to migrate and to record the keys.
  replicas = await Promise.all([spawnControlPlane(await replicaEnv({})), spawnControlPlane(await replicaEnv({}))]);
});
afterAll(async () => {
  for (const r of replicas) expect(await r.stop()).toBe(0);
  await store?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Every row of every table, hashed per table: what a refused replica must leave as it was. */
async function databaseContents(): Promise<Record<string, string>> {
  const tables = await store.db.query<{ name: string }>(
    "select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
  );
  const out: Record<string, string> = {};
  for (const { name } of tables) {
    const [row] = await store.db.query<{ n: number; h: string }>(
      `select count(*)::int as n, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as h from "${name}" t`,
    );
    out[name] = `${row!.n}:${row!.h}`;
  }
  return out;
}

const json = { "content-type": "application/json" };
const owner = { email: "owner@example.com", password: "correct horse battery staple" };

describe.skipIf(!servers)("two replicas on one PostgreSQL and Redis", () => {
  test("the two started together recorded the keys once", async () => {
    const keys = await store.db.query<{ purpose: string; key_id: string; active: boolean }>(
      "select purpose, key_id, active from installation_keys order by purpose",
    );
    expect(keys).toEqual([
      { purpose: "auth_token", key_id: "", active: true },
      { purpose: "data_plane_token", key_id: "", active: true },
      { purpose: "secret_encryption", key_id: "k1", active: true },
    ]);
    const [audit] = await store.db.query<{ n: number }>("select count(*)::int as n from audit_events where action = 'installation.keys_recorded'");
    expect(audit!.n).toBe(1);
  });

  test("both route HTTP/1.0 requests without a Host header: /healthz, /readyz and an API route", async () => {
    for (const r of replicas) {
      expect((await rawHttp(r.url, ["GET /healthz HTTP/1.0"])).json).toEqual({ status: "ok" });
      const ready = await rawHttp(r.url, ["GET /readyz HTTP/1.0"]);
      expect([ready.status, ready.json.status]).toEqual([200, "ready"]);
      const info = await rawHttp(r.url, ["GET /api/v1/installation HTTP/1.0"]);
      expect([info.status, info.json.mode]).toEqual([200, "dev"]);
    }
  });

  test("a token issued by one replica is accepted by the other, and a TOTP seed sealed by one opens on the other", async () => {
    const [a, b] = replicas as [ControlPlaneProcess, ControlPlaneProcess];
    expect(
      (
        await fetch(`${a.url}/api/v1/installation/bootstrap-owner`, {
          method: "POST",
          headers: json,
          body: JSON.stringify({ ...owner, display_name: "Owner" }),
        })
      ).status,
    ).toBe(201);
    const login = async (url: string, extra: Record<string, string> = {}) => {
      const r = await fetch(`${url}/api/v1/auth/login`, { method: "POST", headers: json, body: JSON.stringify({ ...owner, ...extra }) });
      return { status: r.status, body: (await r.json()) as { access_token: string; error?: { code: string } } };
    };
    const fromA = await login(a.url);
    expect(fromA.status).toBe(200);
    const bearer = (t: string) => ({ ...json, authorization: `Bearer ${t}` });
    const me = await fetch(`${b.url}/api/v1/me`, { headers: bearer(fromA.body.access_token) });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { email: string }).email).toBe(owner.email);
    // The Host-less way too, as a balancer that drops Host would send it.
    expect((await rawHttp(b.url, ["GET /api/v1/me HTTP/1.0", `Authorization: Bearer ${fromA.body.access_token}`])).status).toBe(200);

    // A seals the TOTP seed, B opens it to confirm; then a TOTP login on A.
    const started = await fetch(`${a.url}/api/v1/auth/mfa/totp`, { method: "POST", headers: bearer(fromA.body.access_token) });
    expect(started.status).toBe(201);
    const { secret } = (await started.json()) as { secret: string };
    const confirmed = await fetch(`${b.url}/api/v1/auth/mfa/totp/confirm`, {
      method: "POST",
      headers: bearer(fromA.body.access_token),
      body: JSON.stringify({ code: await totpAt(secret, totpStep(new Date())) }),
    });
    expect(confirmed.status).toBeLessThan(300);
    expect((await login(a.url)).body.error?.code).toBe("auth.mfa_required");
    // The next step's code: the confirmation spent the current one (verifyTotp accepts now ± 1).
    const fromB = await login(b.url, { totp_code: await totpAt(secret, totpStep(new Date()) + 1) });
    expect(fromB.status).toBe(200);
    expect((await fetch(`${a.url}/api/v1/me`, { headers: bearer(fromB.body.access_token) })).status).toBe(200);
  });

  test("a replica with another token key, secret key or data-plane key refuses to start: exit code 2, one line, nothing written", async () => {
    const before = await databaseContents();
    const cases: [string, Record<string, string>][] = [
      ["AUTH_TOKEN_KEY", { AUTH_TOKEN_KEY_B64: b64(randomBytes(32)) }],
      ["SECRET_ENCRYPTION_KEY (key id k1)", { SECRET_ENCRYPTION_KEY_B64: b64(randomBytes(32)) }],
      ["DATA_PLANE_TOKEN_KEY", { DATA_PLANE_TOKEN_KEY_B64: await newEd25519Pkcs8() }],
    ];
    for (const [name, keys] of cases) {
      const run = await runControlPlaneToExit(await replicaEnv(keys));
      expect({ name, code: run.code }).toEqual({ name, code: 2 });
      const lines = run.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toStartWith(`rap control plane: ${name} differs from the installation's`);
      expect(lines[0]).toMatch(
        /\(fingerprint [0-9a-f]{16}, this replica [0-9a-f]{16}\): give every replica the same key.*; see docs\/operations\.md#replicas$/,
      );
      expect(run.stdout).not.toContain("serving");
    }
    expect(await databaseContents()).toEqual(before);
    // The running replicas did not notice.
    for (const r of replicas) expect((await rawHttp(r.url, ["GET /readyz HTTP/1.0"])).status).toBe(200);
  });
});
