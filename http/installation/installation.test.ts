/**
 * Installation authority over the real API: strict-mode bootstrap with a
 * Product Root signed activation made by the real `rap` CLI, signed platform
 * role grants, and proof that the users.platform_role column alone grants
 * nothing in strict mode. Dev mode: explicit insecure bootstrap only.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { scriptArgv, spawn } from "../../core/runtime/index.ts";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshDatabase, freshLiveState, type TestDatabase } from "../../fixtures/stores.ts";
import { makeApp, testIdentity, type TestApp } from "../../fixtures/control-plane.ts";
import { addMember, createOrg, enrollTotp, json, PASSWORD, signIn, stepUp, type Session } from "../../fixtures/identity.ts";
import type { LiveState } from "../../live/live-state.ts";
import { generateProductRoot, GRANT_TYPE, importPrivateKey, newActivation, signDocument } from "../../core/crypto/product-root.ts";
import { newId } from "../../core/ids.ts";
import { listAudit } from "../../sql/audit.ts";

setDefaultTimeout(30_000);

const ROOT = join(import.meta.dirname, "../..");

async function rap(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = spawn(scriptArgv(join(ROOT, "scripts/rap.ts"), args), { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out: out.trim(), err: err.trim() };
}

const errCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe("strict mode", () => {
  let keyDir: string;
  let store: TestDatabase;
  let live: LiveState;
  let t: TestApp;
  let owner: Session;
  let installationId: string;
  let privateKey: CryptoKey;
  let ownerTotp: string;

  beforeAll(async () => {
    keyDir = await mkdtemp(join(tmpdir(), "rap-root-"));
    const gen = await rap("root", "keygen", "--out", keyDir);
    expect(gen.code).toBe(0);
    expect((await stat(join(keyDir, "product-root.key"))).mode & 0o777).toBe(0o600);
    const publicKeyB64 = (await readFile(join(keyDir, "product-root.pub"), "utf8")).trim();
    privateKey = await importPrivateKey(await readFile(join(keyDir, "product-root.key"), "utf8"));
    store = await freshDatabase();
    live = await freshLiveState();
    t = await makeApp(store.db, live, { identity: await testIdentity({ mode: "strict", productRoot: { publicKeyB64, privateKeyPkcs8B64: "" } }) });
  });
  afterAll(async () => {
    await live.close();
    await store.close();
    await rm(keyDir, { recursive: true, force: true });
  });

  test("the CLI refuses to put a private key inside the repository", async () => {
    const r = await rap("root", "keygen", "--out", join(ROOT, "fixtures/should-not-exist"));
    expect(r.code).toBe(2);
    expect(r.err).toContain("refusing to write a private key inside the repository");
  });

  test("without a signed activation the owner cannot be bootstrapped", async () => {
    const insecure = await t.call("POST", "/api/v1/installation/bootstrap-owner", { body: { email: "o@example.com", password: PASSWORD, display_name: "O" } });
    expect(await errCode(insecure)).toBe("installation.activation_required");
    const forgedKey = await importPrivateKey((await generateProductRoot()).privateKeyPkcs8B64);
    const forged = await signDocument(
      forgedKey,
      newActivation({ installationId: newId(), ownerEmail: "o@example.com", now: t.clock.now(), validForMs: 3600_000 }),
    );
    const bad = await t.call("POST", "/api/v1/installation/bootstrap-owner", { body: { activation: forged, password: PASSWORD } });
    expect(bad.status).toBe(400);
    expect(await errCode(bad)).toBe("installation.signature_invalid");
    expect((await json(await t.call("GET", "/api/v1/installation"), 200)).activated).toBe(false);
  });

  test("an activation signed by the CLI bootstraps the owner once", async () => {
    const signed = await rap("root", "sign-activation", "--key", join(keyDir, "product-root.key"), "--email", "owner@example.com", "--name", "Owner");
    expect(signed.code).toBe(0);
    const res = await json(await t.call("POST", "/api/v1/installation/bootstrap-owner", { body: { activation: signed.out, password: PASSWORD } }), 201);
    installationId = res.installation_id;
    expect(res.mode).toBe("strict");
    const status = await json(await t.call("GET", "/api/v1/installation"), 200);
    expect(status).toMatchObject({ activated: true, mode: "strict", insecure_bootstrap_enabled: false });
    expect(status.product_root_fingerprint).toMatch(/^SHA256:/);
    owner = await signIn(t, "owner@example.com");
    expect((await json(await t.call("GET", "/api/v1/me", { token: owner.token }), 200)).platform_roles).toEqual(["platform_owner"]);
    const again = await t.call("POST", "/api/v1/installation/bootstrap-owner", { body: { activation: signed.out, password: PASSWORD } });
    expect(await errCode(again)).toBe("installation.already_activated");
  });

  test("editing users.platform_role in the database grants nothing", async () => {
    const orgId = await createOrg(t, owner, "acme");
    const member = await addMember(t, owner, orgId, "sneaky@example.com", "org_admin");
    await store.db.query("update users set platform_role = 'platform_owner' where email = 'sneaky@example.com'");
    const again = await signIn(t, "sneaky@example.com");
    expect((await json(await t.call("GET", "/api/v1/me", { token: again.token }), 200)).platform_roles).toEqual([]);
    expect((await t.call("GET", "/api/v1/clusters", { token: again.token })).status).toBe(403);
    expect((await t.call("GET", "/api/v1/audit", { token: member.token })).status).toBe(403);
  });

  test("a Product Root signed grant gives platform power; revoking it takes it away", async () => {
    const grant = async (email: string, installation = installationId) =>
      signDocument(privateKey, {
        typ: GRANT_TYPE,
        grant_id: newId(),
        installation_id: installation,
        subject_email: email,
        role: "platform_admin",
        issued_at: t.clock.now().toISOString(),
      });

    const signedOwner = await enrollTotp(t, owner);
    ownerTotp = signedOwner.totpSecret!;
    const withoutStepUp = await t.call("POST", "/api/v1/platform/role-grants", {
      token: signedOwner.token,
      body: { grant: await grant("sneaky@example.com") },
    });
    // Enrolment proved MFA moments ago, so step-up is fresh; move past the window to see the refusal.
    t.clock.advance(16 * 60_000);
    const fresh = await signIn(t, "owner@example.com", { totpSecret: signedOwner.totpSecret });
    const stale = { ...fresh, totpSecret: signedOwner.totpSecret };
    t.clock.advance(6 * 60_000);
    const denied = await t.call("POST", "/api/v1/platform/role-grants", { token: stale.token, body: { grant: await grant("sneaky@example.com") } });
    expect(await errCode(denied)).toBe("auth.step_up_required");
    expect((await listAudit(store.db, { action: "platform_role.grant", outcome: "denied", limit: 5 })).length).toBeGreaterThan(0);
    expect(withoutStepUp.status).toBe(201);

    const sneaky = await signIn(t, "sneaky@example.com");
    expect((await json(await t.call("GET", "/api/v1/me", { token: sneaky.token }), 200)).platform_roles).toEqual(["platform_admin"]);
    expect((await t.call("GET", "/api/v1/clusters", { token: sneaky.token })).status).toBe(200);

    await stepUp(t, stale);
    const wrongInstallation = await t.call("POST", "/api/v1/platform/role-grants", {
      token: stale.token,
      body: { grant: await grant("sneaky@example.com", newId()) },
    });
    expect(await errCode(wrongInstallation)).toBe("installation.wrong_installation");
    const unknownUser = await t.call("POST", "/api/v1/platform/role-grants", { token: stale.token, body: { grant: await grant("nobody@example.com") } });
    expect(await errCode(unknownUser)).toBe("user.not_found");

    const grants = await json(await t.call("GET", "/api/v1/platform/role-grants", { token: stale.token }), 200);
    const adminGrant = grants.items.find((g: { role: string; revoked_at: string | null }) => g.role === "platform_admin" && !g.revoked_at);
    expect((await t.call("DELETE", `/api/v1/platform/role-grants/${adminGrant.id}`, { token: stale.token })).status).toBe(204);
    expect((await t.call("GET", "/api/v1/clusters", { token: sneaky.token })).status).toBe(403);
  });

  test("a grant row whose signature was tampered with in the database grants nothing", async () => {
    // Flip one character well inside the signature (the last base64url character may hold only padding bits).
    await store.db.query(
      "update platform_role_grants set jws = overlay(jws placing (case when substr(jws, length(jws) - 10, 1) = 'A' then 'B' else 'A' end) from length(jws) - 10 for 1) where role = 'platform_owner'",
    );
    const s = await signIn(t, "owner@example.com", { totpSecret: ownerTotp });
    expect((await json(await t.call("GET", "/api/v1/me", { token: s.token }), 200)).platform_roles).toEqual([]);
    expect((await t.call("GET", "/api/v1/clusters", { token: s.token })).status).toBe(403);
  });

  test("the dev-only role column endpoint is refused in strict mode", async () => {
    const s = await signIn(t, "sneaky@example.com");
    const r = await t.call("PUT", `/api/v1/platform/users/${s.userId}/platform-role`, { token: s.token, body: { role: "platform_owner" } });
    expect(r.status).toBe(403);
  });
});

describe("dev mode", () => {
  test("bootstrap is refused unless insecure bootstrap was enabled explicitly", async () => {
    const store = await freshDatabase();
    const live = await freshLiveState();
    try {
      const closed = await makeApp(store.db, live, { identity: await testIdentity({ mode: "dev", insecureBootstrap: false }) });
      const r = await closed.call("POST", "/api/v1/installation/bootstrap-owner", { body: { email: "o@example.com", password: PASSWORD, display_name: "O" } });
      expect(r.status).toBe(403);
      expect(await errCode(r)).toBe("installation.insecure_bootstrap_disabled");

      const open = await makeApp(store.db, live, { identity: await testIdentity({ mode: "dev", insecureBootstrap: true }) });
      await json(
        await open.call("POST", "/api/v1/installation/bootstrap-owner", { body: { email: "o@example.com", password: PASSWORD, display_name: "O" } }),
        201,
      );
      expect(open.logs.lines.some((l) => l.msg === "insecure first-owner bootstrap")).toBe(true);
      const audit = await listAudit(store.db, { action: "installation.insecure_bootstrap_owner", limit: 1 });
      expect(audit).toHaveLength(1);
      const weak = await open.call("POST", "/api/v1/installation/bootstrap-owner", { body: { email: "p@example.com", password: "short", display_name: "P" } });
      expect(weak.status).toBe(400);
    } finally {
      await live.close();
      await store.close();
    }
  });
});
