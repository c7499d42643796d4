import { describe, expect, test } from "../../fixtures/test.ts";
import {
  generateProductRoot,
  GRANT_TYPE,
  importPrivateKey,
  importPublicKey,
  keyFingerprint,
  newActivation,
  signDocument,
  SignatureInvalid,
  verifyActivation,
  verifyGrant,
} from "./product-root.ts";

const now = new Date("2026-06-01T00:00:00Z");
const installationId = "0190f5f0-0000-7000-8000-000000000001";

// Set up at module level: a describe body is synchronous on both runtimes.
const root = await generateProductRoot();
const priv = await importPrivateKey(root.privateKeyPkcs8B64);
const pub = await importPublicKey(root.publicKeyB64);

describe("product root", () => {
  test("an activation manifest signed by the root verifies and round-trips", async () => {
    const m = newActivation({ installationId, ownerEmail: "Owner@Example.com", now, validForMs: 3600_000 });
    const got = await verifyActivation(pub, await signDocument(priv, m), now);
    expect(got).toEqual({ ...m, owner_email: "owner@example.com" });
  });

  test("another key's signature, a tampered payload or an expired manifest is refused", async () => {
    const m = newActivation({ installationId, ownerEmail: "o@example.com", now, validForMs: 3600_000 });
    const other = await generateProductRoot();
    const forged = await signDocument(await importPrivateKey(other.privateKeyPkcs8B64), m);
    expect(await verifyActivation(pub, forged, now).catch((e) => e)).toBeInstanceOf(SignatureInvalid);

    const jws = await signDocument(priv, m);
    const [h, , s] = jws.split(".");
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...m, owner_email: "evil@example.com" })).toString("base64url")}.${s}`;
    expect(await verifyActivation(pub, tampered, now).catch((e) => e)).toBeInstanceOf(SignatureInvalid);

    const late = new Date(now.getTime() + 2 * 3600_000);
    expect(await verifyActivation(pub, jws, late).catch((e) => e)).toBeInstanceOf(SignatureInvalid);
  });

  test("a grant cannot pass as an activation and vice versa", async () => {
    const grant = {
      typ: GRANT_TYPE,
      grant_id: "0190f5f0-0000-7000-8000-000000000002",
      installation_id: installationId,
      subject_email: "a@example.com",
      role: "platform_admin",
      issued_at: now.toISOString(),
    } as const;
    const gj = await signDocument(priv, grant);
    expect((await verifyGrant(pub, gj, now)).role).toBe("platform_admin");
    expect(await verifyActivation(pub, gj, now).catch((e) => e)).toBeInstanceOf(SignatureInvalid);
  });

  test("fingerprints are stable and distinguish keys", async () => {
    expect(await keyFingerprint(root.publicKeyB64)).toBe(await keyFingerprint(root.publicKeyB64));
    expect(await keyFingerprint(root.publicKeyB64)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}=$/);
    expect(await keyFingerprint((await generateProductRoot()).publicKeyB64)).not.toBe(await keyFingerprint(root.publicKeyB64));
  });
});
