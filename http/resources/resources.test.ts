/** Resources, their policies and secrets over the real API: defaults, validation, production guards, encryption and key rotation. */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { useStores } from "../../fixtures/stores.ts";
import { makeApp, testIdentity, type TestApp } from "../../fixtures/control-plane.ts";
import { addMember, bootstrapOwner, createOrg, enrollTotp, json, stepUp, type Session } from "../../fixtures/identity.ts";
import { randomBytes } from "../../core/crypto/bytes.ts";
import { createKeyring } from "../../core/crypto/envelope.ts";
import { getResourceSecret } from "../../sql/resources.ts";
import { resourceSecretAad } from "../../control/secrets.ts";
import { credentialLikeKeys } from "../../control/resources/service.ts";

const stores = useStores();

setDefaultTimeout(30_000);

const K1 = randomBytes(32);
const K2 = randomBytes(32);
let t: TestApp;
let owner: Session;
let admin: Session;
let viewer: Session;
let orgId: string;

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live, { identity: await testIdentity({ secretKeys: [["k1", K1]] }) });
  owner = await bootstrapOwner(t);
  orgId = await createOrg(t, owner, "acme");
  admin = await enrollTotp(t, await addMember(t, owner, orgId, "admin@acme.example", "org_admin"));
  viewer = await addMember(t, owner, orgId, "viewer@acme.example", "org_viewer");
});

const rdp = (extra: Record<string, unknown> = {}) => ({
  organization_id: orgId,
  name: `desk-${crypto.randomUUID().slice(0, 8)}`,
  protocol: "rdp",
  target_host: "10.0.0.5",
  target_port: 3389,
  ...extra,
});
const errOf = async (res: Response) => ((await res.json()) as { error: { code: string; details: Record<string, unknown> } }).error;

describe("resources", () => {
  test("create applies the safe policy defaults", async () => {
    const r = await json(await t.call("POST", "/api/v1/resources", { token: admin.token, body: rdp({ egress_pool: "office-moscow" }) }), 201);
    expect(r).toMatchObject({
      organization_id: orgId,
      protocol: "rdp",
      certificate_verification_mode: "strict",
      clipboard_mode: "disabled",
      file_transfer_mode: "disabled",
      egress_pool: "office-moscow",
      secret_ref: null,
    });
  });

  test("policies are stored as given, and ignore must be explicit", async () => {
    const r = await json(
      await t.call("POST", "/api/v1/resources", {
        token: admin.token,
        body: rdp({ certificate_verification_mode: "ignore", clipboard_mode: "bidirectional", file_transfer_mode: "client_to_server" }),
      }),
      201,
    );
    expect(r).toMatchObject({ certificate_verification_mode: "ignore", clipboard_mode: "bidirectional", file_transfer_mode: "client_to_server" });
    const patched = await json(await t.call("PATCH", `/api/v1/resources/${r.id}`, { token: admin.token, body: { clipboard_mode: "server_to_client" } }), 200);
    expect(patched).toMatchObject({ clipboard_mode: "server_to_client", file_transfer_mode: "client_to_server", name: r.name });
  });

  test("desktop quality policy: balanced and adjustable by default, stored as given, bad values refused", async () => {
    const plain = await json(await t.call("POST", "/api/v1/resources", { token: admin.token, body: rdp() }), 201);
    expect(plain).toMatchObject({ quality_profile: "balanced", color_mode: null, quality_adjustable: true });
    const r = await json(
      await t.call("POST", "/api/v1/resources", {
        token: admin.token,
        body: rdp({ quality_profile: "text_priority", color_mode: "256", quality_adjustable: false }),
      }),
      201,
    );
    expect(r).toMatchObject({ quality_profile: "text_priority", color_mode: "256", quality_adjustable: false });
    const patched = await json(await t.call("PATCH", `/api/v1/resources/${r.id}`, { token: admin.token, body: { color_mode: null } }), 200);
    expect(patched).toMatchObject({ quality_profile: "text_priority", color_mode: null, quality_adjustable: false });
    for (const [body, path] of [
      [{ quality_profile: "ultra" }, "quality_profile"],
      [{ color_mode: "65536" }, "color_mode"],
      [{ quality_adjustable: "yes" }, "quality_adjustable"],
    ] as const) {
      const res = await t.call("PATCH", `/api/v1/resources/${r.id}`, { token: admin.token, body });
      expect(res.status).toBe(400);
      expect(JSON.stringify((await errOf(res)).details)).toContain(path);
    }
    expect(await json(await t.call("GET", `/api/v1/resources/${r.id}`, { token: admin.token }), 200)).toMatchObject({
      color_mode: null,
      quality_profile: "text_priority",
    });
  });

  test("an RDP certificate pin may be pasted as openssl's hex and is kept as SHA256:<base64>", async () => {
    const digest = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff));
    const hex = [...digest].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
    const r = await json(await t.call("POST", "/api/v1/resources", { token: admin.token, body: rdp({ host_key_fingerprint: hex }) }), 201);
    expect(r.host_key_fingerprint).toBe(`SHA256:${digest.toString("base64").replace(/=$/, "")}`);
    const bare = await json(
      await t.call("PATCH", `/api/v1/resources/${r.id}`, { token: admin.token, body: { host_key_fingerprint: digest.toString("hex") } }),
      200,
    );
    expect(bare.host_key_fingerprint).toBe(r.host_key_fingerprint);
    const bad = await t.call("PATCH", `/api/v1/resources/${r.id}`, { token: admin.token, body: { host_key_fingerprint: hex.slice(3) } });
    expect(bad.status).toBe(400);
  });

  test("bad input is a 400 with the field named, and writes nothing", async () => {
    const before = (await stores.store.db.query<{ n: number }>("select count(*)::int as n from resources"))[0]!.n;
    for (const [body, path] of [
      [rdp({ protocol: "telnet" }), "protocol"],
      [rdp({ target_port: 70000 }), "target_port"],
      [rdp({ clipboard_mode: "sometimes" }), "clipboard_mode"],
      [rdp({ target_host: "bad host; rm -rf" }), "target_host"],
      [rdp({ name: "x".repeat(201) }), "name"],
      [rdp({ metadata: { blob: "x".repeat(9000) } }), "metadata"],
    ] as const) {
      const res = await t.call("POST", "/api/v1/resources", { token: admin.token, body });
      expect(res.status).toBe(400);
      expect(((await errOf(res)).details.issues as { path: string }[]).map((i) => i.path)).toContain(path);
    }
    expect((await stores.store.db.query<{ n: number }>("select count(*)::int as n from resources"))[0]!.n).toBe(before);
  });

  test("a viewer reads but cannot change; a duplicate name is a 409", async () => {
    const r = await json(await t.call("POST", "/api/v1/resources", { token: admin.token, body: rdp({ name: "shared" }) }), 201);
    expect((await t.call("GET", `/api/v1/resources/${r.id}`, { token: viewer.token })).status).toBe(200);
    expect((await t.call("DELETE", `/api/v1/resources/${r.id}`, { token: viewer.token })).status).toBe(403);
    expect((await errOf(await t.call("POST", "/api/v1/resources", { token: admin.token, body: rdp({ name: "shared" }) }))).code).toBe("resource.name_taken");
    expect((await t.call("DELETE", `/api/v1/resources/${r.id}`, { token: admin.token })).status).toBe(204);
    expect((await t.call("GET", `/api/v1/resources/${r.id}`, { token: admin.token })).status).toBe(404);
  });
});

describe("secrets", () => {
  test("PUT secret needs step-up, stores only ciphertext and never returns plaintext", async () => {
    const r = await json(await t.call("POST", "/api/v1/resources", { token: admin.token, body: rdp() }), 201);
    t.clock.advance(6 * 60_000);
    const denied = await t.call("PUT", `/api/v1/resources/${r.id}/secret`, { token: admin.token, body: { username: "svc", password: "Sup3r-Secret-Pw!" } });
    expect((await errOf(denied)).code).toBe("auth.step_up_required");
    await stepUp(t, admin);
    const put = await t.call("PUT", `/api/v1/resources/${r.id}/secret`, { token: admin.token, body: { username: "svc", password: "Sup3r-Secret-Pw!" } });
    const text = await put.text();
    expect(put.status).toBe(200);
    expect(text).not.toContain("Sup3r");
    const { secret_ref, rotated } = JSON.parse(text);
    expect(rotated).toBe(false);
    const got = await json(await t.call("GET", `/api/v1/resources/${r.id}`, { token: admin.token }), 200);
    expect(got.secret_ref).toBe(secret_ref);
    expect(JSON.stringify(got)).not.toContain("Sup3r");

    const rotate = await json(await t.call("PUT", `/api/v1/resources/${r.id}/secret`, { token: admin.token, body: { password: "An0ther-Secret!" } }), 200);
    expect(rotate).toEqual({ secret_ref, rotated: true });

    const dump = await stores.store.db.query<{ t: string }>(
      "select row_to_json(x)::text as t from (select * from resource_secrets) x union all select row_to_json(a)::text from audit_events a union all select row_to_json(r)::text from resources r",
    );
    expect(dump.some((row) => row.t.includes("Sup3r") || row.t.includes("An0ther"))).toBe(false);
    expect(JSON.stringify(t.logs.lines)).not.toContain("An0ther");

    const sealed = await getResourceSecret(stores.store.db, secret_ref);
    const plain = new TextDecoder().decode(await t.identity.keyring.open(sealed!, resourceSecretAad(r.id)));
    expect(JSON.parse(plain)).toEqual({ password: "An0ther-Secret!" });
  });

  test("an empty or unknown-field secret is refused", async () => {
    const r = await json(await t.call("POST", "/api/v1/resources", { token: admin.token, body: rdp() }), 201);
    await stepUp(t, admin);
    expect((await t.call("PUT", `/api/v1/resources/${r.id}/secret`, { token: admin.token, body: {} })).status).toBe(400);
    expect((await t.call("PUT", `/api/v1/resources/${r.id}/secret`, { token: admin.token, body: { pin: "1" } })).status).toBe(400);
  });

  test("rotating the master key re-encrypts every secret; the old key is then not needed", async () => {
    const rotated = await makeApp(stores.store.db, stores.live, {
      identity: {
        ...(await testIdentity({
          secretKeys: [
            ["k2", K2],
            ["k1", K1],
          ],
        })),
        tokenKey: t.identity.tokenKey,
      },
      clock: t.clock,
    });
    const ownerMfa = await enrollTotp(rotated, owner);
    await stepUp(rotated, ownerMfa);
    const result = await json(await rotated.call("POST", "/api/v1/platform/secrets/rotate", { token: ownerMfa.token }), 200);
    expect(result.key_id).toBe("k2");
    expect(result.resource_secrets).toBeGreaterThan(0);
    expect(result.totp_seeds).toBeGreaterThan(0);
    const left = await stores.store.db.query<{ n: number }>("select count(*)::int as n from resource_secrets where key_id <> 'k2'");
    expect(left[0]!.n).toBe(0);
    const onlyNew = await createKeyring("k2", new Map([["k2", K2]]));
    const rows = await stores.store.db.query<{ id: string; resource_id: string }>("select id::text, resource_id::text from resource_secrets");
    for (const row of rows) {
      const sealed = await getResourceSecret(stores.store.db, row.id);
      const secret = JSON.parse(new TextDecoder().decode(await onlyNew.open(sealed!, resourceSecretAad(row.resource_id)))) as Record<string, string>;
      expect(Object.keys(secret).length).toBeGreaterThan(0);
    }
  });
});

describe("production guards", () => {
  test("credential-like metadata is refused and a secret is required at create", async () => {
    const prod = await makeApp(stores.store.db, stores.live, {
      identity: {
        ...(await testIdentity({
          production: true,
          secretKeys: [
            ["k2", K2],
            ["k1", K1],
          ],
        })),
        tokenKey: t.identity.tokenKey,
      },
      clock: t.clock,
    });
    const noSecret = await prod.call("POST", "/api/v1/resources", { token: admin.token, body: rdp() });
    expect((await errOf(noSecret)).code).toBe("resource.secret_required");
    const leaky = await prod.call("POST", "/api/v1/resources", { token: admin.token, body: rdp({ metadata: { login: { Password: "x" } } }) });
    const err = await errOf(leaky);
    expect(err.code).toBe("resource.plaintext_credentials");
    expect(err.details.fields).toEqual(["login.Password"]);
    await stepUp(prod, admin);
    const ok = await prod.call("POST", "/api/v1/resources", {
      token: admin.token,
      body: rdp({ secret: { username: "u", password: "p-secret-1" }, metadata: { owner: "it" } }),
    });
    expect(ok.status).toBe(201);
    expect((await json(ok)).secret_ref).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("credential-like key detection", () => {
    expect(credentialLikeKeys({ host: "a", nested: [{ api_key: 1 }], pwd: 2, note: { privateKey: "x" }, passwd: 1 })).toEqual([
      "nested[0].api_key",
      "pwd",
      "note.privateKey",
      "passwd",
    ]);
    expect(credentialLikeKeys({ owner: "it", port: 3389 })).toEqual([]);
  });
});
